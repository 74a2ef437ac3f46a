"""The video codecs infer can write, and the ffmpeg it uses; TF- and OpenCV-free so options can ask.

fourcc -> the file extension its container takes.
- h264 (the default): H.264 in .mp4, written by an ffmpeg (libx264, yuv420p, faststart), the one
  format every browser plays. OpenCV's wheels cannot write H.264 themselves.
- OpenCV's own writers: mp4v (MPEG-4 part 2) in .mp4, which Chromium does not play
  (DEMUXER_ERROR_NO_SUPPORTED_STREAMS); VP80/VP90 in .webm, which browsers play; MJPG and XVID
  in .avi.
All of them are written as 4:2:0 video, which needs even sides: OpenCV silently drops a last odd
row or column, and libx264 refuses odd sides, so video.py does it itself and says so.

The ffmpeg (find_ffmpeg): the binary the imageio-ffmpeg wheel ships (an install requirement:
found through its API, which also honours $IMAGEIO_FFMPEG_EXE and an ffmpeg on PATH), else an
ffmpeg on PATH. With one, the input's audio is carried over into every codec's file; without one,
h264 cannot be written and audio is dropped (both said).
"""

import dataclasses
import functools
import os
import shutil
import subprocess
from typing import Optional

CODEC_EXTENSIONS = {"h264": ".mp4", "mp4v": ".mp4", "VP80": ".webm", "VP90": ".webm", "MJPG": ".avi",
                    "XVID": ".avi"}
EVEN_SIDE_CODECS = frozenset(CODEC_EXTENSIONS)  # measured: 47x35 comes back 46x34 from each
FFMPEG_CODECS = {"h264": "libx264"}  # written through an ffmpeg pipe, not OpenCV
AUDIO_ENCODERS = {".mp4": "aac", ".webm": "libopus", ".avi": "libmp3lame"}  # what each container plays
NO_FFMPEG_HINT = "pip install imageio-ffmpeg, or put an ffmpeg on PATH"
_PROBE_SECONDS = 20


@dataclasses.dataclass(frozen=True)
class Ffmpeg:
    """An ffmpeg that runs, and how it was found (said in infer's output)."""

    path: str
    found: str  # "the imageio-ffmpeg wheel's binary", "$IMAGEIO_FFMPEG_EXE" or "PATH"

    def describe(self) -> str:
        return f"ffmpeg: {self.found} ({self.path})"


def _runs(path: Optional[str]) -> bool:
    if not path:
        return False
    try:
        return subprocess.run([path, "-hide_banner", "-version"], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, timeout=_PROBE_SECONDS).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


@functools.lru_cache(maxsize=None)
def find_ffmpeg() -> Optional[Ffmpeg]:
    """The ffmpeg infer uses, or None: imageio-ffmpeg's choice (its $IMAGEIO_FFMPEG_EXE, its own
    binary, then PATH), else PATH's. Each candidate must run (`-version`)."""
    try:
        import imageio_ffmpeg
        wheel_path = imageio_ffmpeg.get_ffmpeg_exe()
    except (ImportError, RuntimeError):
        wheel_path = None
    if _runs(wheel_path):
        if os.environ.get("IMAGEIO_FFMPEG_EXE") == wheel_path:
            return Ffmpeg(wheel_path, "$IMAGEIO_FFMPEG_EXE")
        inside_wheel = os.path.dirname(os.path.abspath(wheel_path)).endswith(os.path.join("imageio_ffmpeg",
                                                                                          "binaries"))
        return Ffmpeg(wheel_path, "the imageio-ffmpeg wheel's binary" if inside_wheel else "PATH")
    on_path = shutil.which("ffmpeg")
    return Ffmpeg(on_path, "PATH") if _runs(on_path) else None


@functools.lru_cache(maxsize=None)
def has_encoder(ffmpeg_path: str, encoder: str) -> bool:
    """Whether the ffmpeg at FFMPEG_PATH was built with ENCODER (`ffmpeg -encoders`)."""
    try:
        listing = subprocess.run([ffmpeg_path, "-hide_banner", "-encoders"], capture_output=True, text=True,
                                 timeout=_PROBE_SECONDS).stdout
    except (OSError, subprocess.SubprocessError):
        return False
    return any(line.split()[1:2] == [encoder] for line in listing.splitlines() if line.strip())


def has_audio(ffmpeg_path: str, video_path: str) -> bool:
    """Whether VIDEO_PATH has an audio stream, as `ffmpeg -i` lists its streams."""
    try:
        listing = subprocess.run([ffmpeg_path, "-hide_banner", "-i", video_path], capture_output=True,
                                 text=True, timeout=_PROBE_SECONDS).stderr
    except (OSError, subprocess.SubprocessError):
        return False
    return any("Stream #" in line and ": Audio:" in line for line in listing.splitlines())
