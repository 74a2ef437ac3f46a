"""Videos in `--mode infer`: each frame translated, the predicted colour steadied over time.

    pix2pix --mode infer --checkpoint MODEL --input_dir IN --output_dir OUT
            [--temporal_smoothing 0.8] [--scene_cut 0.25] [--video_codec h264]

Every video IN/NAME.EXT (.mp4 .avi .mov .mkv .webm, whatever OpenCV's FFmpeg reads) becomes
OUT/NAME.mp4 (the extension follows --video_codec: .webm for VP80/VP90, .avi for MJPG/XVID;
NAME.EXT.mp4 when another input shares the stem), with the input's frame rate and frame count.
Its size is the input's, except that 4:2:0 video needs even sides: an odd last row or column is
dropped (said in the output).

The default codec, h264, is H.264 MP4 written through an ffmpeg (io/video_codecs.py says which
one is used and how it is found): it plays in every browser, so the <video> of infer's
index.html plays. (The reference wrote no video; mp4v, the default before, does not play in
Chromium.) With an ffmpeg the input's audio track is carried over, re-encoded for the container
(AAC in .mp4, Opus in .webm, MP3 in .avi); without one, audio is dropped and h264 cannot be
written (both said: --video_codec VP90 writes browser-playable WebM with OpenCV alone).

How a frame is made (export.py's `frame_colour` and `frame_picture` signatures, so a training
directory and an export give the same video):
- the generator sees the frame alone (a batch of one: with batch statistics a batched frame
  would not get the result it gets alone) at crop_size x crop_size, or with --render_size at
  its own aspect ratio, with dropout OFF: the reference's test-time dropout draws a new random
  mask for every frame, which is flicker by construction;
- for a colorization model (task lab or rgb, AtoB) its output, the predicted colour at the
  generator's resolution, is smoothed over time, s_t = A s_(t-1) + (1 - A) p_t with
  A = --temporal_smoothing (0 = off), and reset (s_t = p_t) at each scene cut, so colour never
  bleeds from one shot into the next. A cut is a frame whose grey histogram (64 bins,
  normalised) differs from the previous frame's by more than --scene_cut, measured as half
  the L1 distance (0 = same histogram, 1 = no overlap). The cuts found are listed;
- the frame keeps its own full-resolution lightness; only the (smoothed) colour is resized
  onto it. A pair model's video is translated frame by frame (no smoothing; asking is an error).

Decoding (a reader thread), the generator (this thread) and encoding (a writer thread) overlap.
The video is written as NAME.partial.mp4 and renamed to NAME.mp4 only when every frame the
container announced was decoded, translated and written. A video that cannot be opened, a frame
that does not decode, or fewer frames than announced: the file and frame (counted from 0) are
named, what was written is kept as NAME.partial.mp4, and infer goes on with the other inputs
and exits with status 1.
"""

import dataclasses
import fractions
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
from typing import Callable, List, Optional, Sequence

import cv2
import numpy as np

from pix2pix.errors import Pix2PixError, error_line
from pix2pix.io.progress import ProgressBar
from pix2pix.io.video_codecs import (AUDIO_ENCODERS, CODEC_EXTENSIONS, EVEN_SIDE_CODECS, FFMPEG_CODECS,
                                     NO_FFMPEG_HINT, find_ffmpeg, has_audio, has_encoder)

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm")
HISTOGRAM_BINS = 64
_QUEUE_FRAMES = 8  # frames the reader may decode ahead (and the writer lag behind)


def is_video(path: str) -> bool:
    return path.lower().endswith(VIDEO_EXTENSIONS)


# ------------------------------------------------------------------------ the model
@dataclasses.dataclass
class FrameModel:
    """The two calls a video needs, on uint8 RGB frames (numpy in, numpy out)."""

    colour: Callable[[np.ndarray], np.ndarray]  # frame [H, W, 3] -> generator output [h, w, Co]
    picture: Callable[[np.ndarray, np.ndarray], np.ndarray]  # frame, colour -> picture [H, W, 3]


def frame_model(loaded, checkpoint: str) -> FrameModel:
    """The FrameModel of LOADED: an export.ImageTranslator, or a SavedModel object loaded from
    CHECKPOINT (which must have been exported with the video signatures)."""
    import tensorflow as tf
    from pix2pix.inference.translator import FRAME_COLOUR_SIGNATURE, FRAME_PICTURE_SIGNATURE, ImageTranslator

    if isinstance(loaded, ImageTranslator):
        colour_fn, picture_fn = loaded.frame_colour, loaded.frame_picture
    else:
        signatures = loaded.signatures
        if FRAME_COLOUR_SIGNATURE not in signatures or FRAME_PICTURE_SIGNATURE not in signatures:
            raise Pix2PixError(f"--checkpoint: the SavedModel in {checkpoint} was exported without the "
                               f"{FRAME_COLOUR_SIGNATURE}/{FRAME_PICTURE_SIGNATURE} signatures videos need; "
                               "export it again with this version (pix2pix --mode export)")
        colour_fn, picture_fn = signatures[FRAME_COLOUR_SIGNATURE], signatures[FRAME_PICTURE_SIGNATURE]
    return FrameModel(
        colour=lambda frame: colour_fn(frame=tf.constant(frame))["colour"].numpy(),
        picture=lambda frame, colour: picture_fn(frame=tf.constant(frame),
                                                 colour=tf.constant(colour, tf.float32))["picture"].numpy())


# ------------------------------------------------------------- cuts and smoothing
def grey_histogram(frame_bgr: np.ndarray) -> np.ndarray:
    """The frame's grey levels as a normalised HISTOGRAM_BINS-bin histogram (sums to 1)."""
    grey = cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2GRAY)
    counts = cv2.calcHist([grey], [0], None, [HISTOGRAM_BINS], [0, 256]).ravel()
    return counts / max(counts.sum(), 1.0)


def histogram_change(previous: np.ndarray, current: np.ndarray) -> float:
    """Half the L1 distance of two normalised histograms: 0 = the same, 1 = no overlap."""
    return float(0.5 * np.abs(previous - current).sum())


class TemporalSmoother:
    """s_t = A s_(t-1) + (1 - A) p_t on the predicted colour; s_t = p_t at the first frame and at cuts."""

    def __init__(self, alpha: float):
        self.alpha, self.state = alpha, None

    def __call__(self, colour: np.ndarray, reset: bool) -> np.ndarray:
        if self.state is None or reset or self.alpha == 0:
            self.state = colour
        else:
            self.state = self.alpha * self.state + (1.0 - self.alpha) * colour
        return self.state


# ------------------------------------------------------------------------ outputs
def output_extension(codec: str) -> str:
    return CODEC_EXTENSIONS[codec]


def partial_path(final_path: str) -> str:
    """OUT/NAME.mp4 -> OUT/NAME.partial.mp4 (where the video is written until it is complete)."""
    base, extension = os.path.splitext(final_path)
    return base + ".partial" + extension


def output_names(videos: Sequence[str], all_inputs: Sequence[str], extension: str) -> List[str]:
    """The output file name of each of VIDEOS: NAME + EXTENSION, or NAME.EXT + EXTENSION when
    another of ALL_INPUTS (photos or videos) has the same stem NAME."""
    stems = {}
    for path in all_inputs:
        stem = os.path.splitext(os.path.basename(path))[0]
        stems[stem] = stems.get(stem, 0) + 1
    names = []
    for path in videos:
        base = os.path.basename(path)
        stem = os.path.splitext(base)[0]
        names.append((base if stems[stem] > 1 else stem) + extension)
    return names


# ------------------------------------------------------------------ writers and audio
_FFMPEG_SECONDS = 600  # an ffmpeg finishing a file or muxing audio; it never waits on input then


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "no message"


class FfmpegVideoWriter:
    """cv2.VideoWriter's write/release/isOpened over an ffmpeg that encodes raw BGR frames from a pipe
    (H.264, yuv420p, the index moved to the front so a browser starts playing before the end)."""

    def __init__(self, ffmpeg_path: str, path: str, encoder: str, fps: float, size: tuple):
        rate = fractions.Fraction(fps).limit_denominator(1001)  # 29.97 -> 30000/1001, as containers say
        self.error, self._log = None, tempfile.TemporaryFile()
        command = [ffmpeg_path, "-hide_banner", "-loglevel", "error", "-y", "-f", "rawvideo",
                   "-pix_fmt", "bgr24", "-s", f"{size[0]}x{size[1]}", "-framerate", str(rate), "-i", "-",
                   "-an", "-c:v", encoder, "-pix_fmt", "yuv420p", "-preset", "veryfast", "-crf", "18",
                   "-movflags", "+faststart", "-f", "mp4", path]
        self._process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                         stderr=self._log)

    def isOpened(self) -> bool:  # noqa: N802 (cv2.VideoWriter's name)
        return self._process.poll() is None

    def write(self, frame: np.ndarray) -> None:
        try:
            self._process.stdin.write(np.ascontiguousarray(frame).tobytes())
        except BrokenPipeError:
            raise RuntimeError(f"ffmpeg stopped: {self._message()}") from None

    def release(self) -> None:
        try:
            self._process.stdin.close()
        except BrokenPipeError:
            pass
        try:
            code = self._process.wait(timeout=_FFMPEG_SECONDS)
        except subprocess.TimeoutExpired:
            self._process.kill()
            code = self._process.wait()
        if code != 0:
            self.error = f"ffmpeg exited with status {code}: {self._message()}"
        self._log.close()

    def _message(self) -> str:
        self._log.seek(0)
        return _last_line(self._log.read().decode("utf-8", "replace"))


def open_writer(path: str, codec: str, fps: float, size: tuple):
    """(writer, None) for CODEC at PATH, or (None, why it cannot be written here)."""
    if codec in FFMPEG_CODECS:
        ffmpeg = find_ffmpeg()
        if ffmpeg is None:
            return None, (f"{path}: --video_codec {codec} is written with ffmpeg, and none was found "
                          f"({NO_FFMPEG_HINT}); or choose --video_codec VP90 (WebM, plays in browsers)")
        if not has_encoder(ffmpeg.path, FFMPEG_CODECS[codec]):
            return None, (f"{path}: {ffmpeg.describe()} has no {FFMPEG_CODECS[codec]} encoder; "
                          f"{NO_FFMPEG_HINT}, or choose --video_codec VP90")
        return FfmpegVideoWriter(ffmpeg.path, path, FFMPEG_CODECS[codec], fps, size), None
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*codec), fps, size)
    if not writer.isOpened():
        return None, f"{path}: OpenCV cannot write {codec} video here (try --video_codec VP90)"
    return writer, None


def audio_plan() -> str:
    """What happens to the inputs' audio tracks, for infer's output."""
    ffmpeg = find_ffmpeg()
    if ffmpeg is None:
        return f"audio is dropped: no ffmpeg was found ({NO_FFMPEG_HINT})"
    return f"audio is carried over ({ffmpeg.describe()})"


def carry_audio(source: str, video_path: str) -> str:
    """Put SOURCE's first audio track into VIDEO_PATH (re-encoded for its container; the video stream
    copied as is, cut to the shorter of the two). Returns what happened, for describe()."""
    ffmpeg = find_ffmpeg()
    if ffmpeg is None:
        return "audio dropped (no ffmpeg)"
    if not has_audio(ffmpeg.path, source):
        return "no audio in the input"
    base, extension = os.path.splitext(video_path)
    encoder = AUDIO_ENCODERS[extension.lower()]
    muxed = base + ".audio" + extension
    command = [ffmpeg.path, "-hide_banner", "-loglevel", "error", "-y", "-i", video_path, "-i", source,
               "-map", "0:v:0", "-map", "1:a:0", "-c:v", "copy", "-c:a", encoder, "-shortest"]
    if extension.lower() == ".mp4":
        command += ["-movflags", "+faststart"]
    try:
        done = subprocess.run(command + [muxed], capture_output=True, text=True, timeout=_FFMPEG_SECONDS)
    except subprocess.TimeoutExpired:
        done = None
    if done is None or done.returncode != 0:
        if os.path.exists(muxed):
            os.remove(muxed)
        why = "timed out" if done is None else _last_line(done.stderr)
        return f"audio dropped (ffmpeg could not mux it: {why})"
    os.replace(muxed, video_path)
    return f"audio carried over ({encoder})"


# --------------------------------------------------------------------- one video
@dataclasses.dataclass
class VideoResult:
    """What became of one video: the file written (final or partial), and what was found."""

    input_path: str
    output_path: str  # the final name, or NAME.partial.mp4 after a failure
    frames: int = 0
    announced: int = 0
    fps: float = 0.0
    size: tuple = (0, 0)  # (width, height) written
    cuts: List[int] = dataclasses.field(default_factory=list)
    seconds: float = 0.0
    error: Optional[str] = None
    audio: str = "audio dropped (no ffmpeg)"  # what carry_audio did

    @property
    def ok(self) -> bool:
        return self.error is None


class _Failure(Exception):
    pass


_END = object()


def _read_frames(capture, frames: "queue.Queue", stop: threading.Event, source: str, announced: int) -> None:
    """The reader thread: (index, BGR frame) items, then _END or a _Failure."""
    index = 0
    try:
        while not stop.is_set():
            if not capture.grab():
                if announced > 0 and index < announced:
                    frames.put(_Failure(f"{source}: frame {index}: no more frames could be read, but "
                                        f"the container announced {announced} (truncated or damaged)"))
                else:
                    frames.put(_END)
                return
            ok, frame = capture.retrieve()
            if not ok or frame is None:
                frames.put(_Failure(f"{source}: frame {index}: does not decode"))
                return
            frames.put((index, frame))
            index += 1
    except Exception as err:  # noqa: BLE001 (handed to the main thread, which names it)
        frames.put(_Failure(f"{source}: frame {index}: {err}"))


def _write_frames(writer, frames: "queue.Queue", errors: list) -> None:
    """The writer thread: writes each BGR frame until None."""
    while True:
        frame = frames.get()
        if frame is None:
            return
        if errors:
            continue  # keep draining so the producer never blocks
        try:
            writer.write(frame)
        except Exception as err:  # noqa: BLE001
            errors.append(err)


def translate_video(input_path: str, final_path: str, model: FrameModel, options,
                    colorization: bool, stream=None) -> VideoResult:
    """Translate the video INPUT_PATH into FINAL_PATH (written as its .partial first); never raises
    for a bad video: the VideoResult's `error` says what went wrong and `output_path` is then
    the partial file kept (or the final path if nothing could be written)."""
    job = _VideoJob(input_path, final_path, model, options, colorization,
                    stream if stream is not None else sys.stderr)
    capture = cv2.VideoCapture(input_path)
    if not capture.isOpened():
        job.result.error = f"{input_path}: cannot open this video (OpenCV's FFmpeg does not read it)"
        return job.result
    try:
        return job.run(capture)
    finally:
        capture.release()


class _VideoJob:
    """One video, in the order it happens: its size checked, the output opened, the frames
    decoded, translated and encoded on three threads, then the file renamed into place (or kept
    as NAME.partial with the error)."""

    def __init__(self, input_path, final_path, model: FrameModel, options, colorization: bool, stream):
        self.input_path, self.final_path, self.model, self.options = input_path, final_path, model, options
        self.colorization, self.stream = colorization, stream
        self.result = VideoResult(input_path, final_path)
        self.start = time.time()

    def run(self, capture) -> VideoResult:
        result = self.result
        width = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH))
        height = int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
        result.fps = float(capture.get(cv2.CAP_PROP_FPS)) or 25.0
        result.announced = max(int(capture.get(cv2.CAP_PROP_FRAME_COUNT)), 0)
        result.error = self._size_problem(width, height)
        if result.error:
            return result
        self.frame_size, self.partial = (height, width), partial_path(self.final_path)
        os.makedirs(os.path.dirname(os.path.abspath(self.partial)), exist_ok=True)
        writer, why_not = open_writer(self.partial, self.options.video_codec, result.fps, result.size)
        if writer is None:
            result.error = why_not
            return result
        write_errors = self._translate_frames(capture, writer)
        return self._finish(write_errors)

    def _size_problem(self, width, height):
        """Why frames of WIDTH x HEIGHT cannot be translated (None if they can); sets result.size to
        what is written (even sides where the codec needs them, said on the stream)."""
        from pix2pix.inference.translator import check_render_pixels  # TensorFlow: only once a video is open

        options, source = self.options, self.input_path
        try:
            if width * height > options.max_pixels:
                raise Pix2PixError(f"{source}: frames of {width}x{height} = {width * height:,} pixels, "
                                   f"over the limit of {options.max_pixels:,} (--max_pixels)")
            check_render_pixels(height, width, options, source)
        except Pix2PixError as err:
            return str(err)
        out_width, out_height = width, height
        if options.video_codec in EVEN_SIDE_CODECS:
            out_width, out_height = width - width % 2, height - height % 2
        self.result.size = (out_width, out_height)
        if (out_width, out_height) != (width, height):
            print(f"note: {source} is {width}x{height}; {options.video_codec} needs even sides, so "
                  f"{os.path.basename(self.final_path)} is {out_width}x{out_height} (the last odd row/column "
                  "dropped)", file=self.stream, flush=True)
        if out_width < 2 or out_height < 2:
            return f"{source}: frames of {width}x{height} are too small to encode"
        return None

    def _translate_frames(self, capture, writer) -> list:
        """Decode (a reader thread), translate (here), encode (a writer thread); returns the write errors."""
        result = self.result
        decoded, encoded = queue.Queue(maxsize=_QUEUE_FRAMES), queue.Queue(maxsize=_QUEUE_FRAMES)
        stop, write_errors = threading.Event(), []
        reader = threading.Thread(target=_read_frames, daemon=True,
                                  args=(capture, decoded, stop, self.input_path, result.announced))
        writer_thread = threading.Thread(target=_write_frames, args=(writer, encoded, write_errors), daemon=True)
        reader.start()
        writer_thread.start()
        progress = ProgressBar(result.announced, self.stream, label=f"video {os.path.basename(self.input_path)}",
                               unit="frame", per_second=True, every=1.0)
        try:
            self._frame_loop(decoded, encoded, write_errors, progress)
        except _Failure as failure:
            result.error = str(failure)
        finally:
            stop.set()
            while reader.is_alive():  # unblock a reader waiting on a full queue
                try:
                    decoded.get(timeout=0.1)
                except queue.Empty:
                    pass
            encoded.put(None)
            writer_thread.join()
            writer.release()
            progress.update(result.frames, force=True)
            progress.close()
        return write_errors + ([writer.error] if getattr(writer, "error", None) else [])

    def _frame_loop(self, decoded, encoded, write_errors, progress) -> None:
        """Each decoded frame: a scene cut?, the (smoothed) colour, the picture, to the writer."""
        result, source, (height, width) = self.result, self.input_path, self.frame_size
        out_width, out_height = result.size
        smoother = TemporalSmoother(self.options.temporal_smoothing if self.colorization else 0.0)
        previous_histogram = None
        while True:
            item = decoded.get()
            if item is _END:
                return
            if isinstance(item, _Failure):
                raise item
            index, frame = item
            if frame.shape[:2] != (height, width):
                raise _Failure(f"{source}: frame {index}: is {frame.shape[1]}x{frame.shape[0]}, "
                               f"not the video's {width}x{height}")
            histogram = grey_histogram(frame)
            cut = (previous_histogram is not None
                   and histogram_change(previous_histogram, histogram) > self.options.scene_cut)
            if cut:
                result.cuts.append(index)
            previous_histogram = histogram
            rgb = np.ascontiguousarray(frame[:, :, ::-1])
            try:
                colour = smoother(self.model.colour(rgb), reset=cut)
                picture = self.model.picture(rgb, colour)
            except Exception as err:  # noqa: BLE001 (a TF error: name the frame)
                raise _Failure(f"{source}: frame {index}: the model failed: {error_line(err)}") from None
            encoded.put(np.ascontiguousarray(picture[:out_height, :out_width, ::-1]))
            result.frames = index + 1
            progress.update(result.frames)
            if write_errors:
                raise _Failure(f"{self.partial}: writing frame {index} failed: {write_errors[0]}")

    def _finish(self, write_errors) -> VideoResult:
        """The audio carried over and the file renamed into place, or the partial file kept."""
        result = self.result
        if result.error is None and write_errors:
            result.error = f"{self.partial}: writing failed: {write_errors[0]}"
        if result.error is None:
            result.audio = carry_audio(self.input_path, self.partial)
        result.seconds = time.time() - self.start
        if result.error is None:
            os.replace(self.partial, self.final_path)
        else:
            result.output_path = self.partial
        return result


def describe(result: VideoResult) -> str:
    """One line about a finished video (cuts listed, what became of its audio)."""
    rate = result.frames / max(result.seconds, 1e-9)
    cuts = ", ".join(str(c) for c in result.cuts) if result.cuts else "none"
    return (f"wrote {result.output_path}: {result.frames} frames at {result.fps:g} fps, "
            f"{result.size[0]}x{result.size[1]}, {rate:.1f} frames/s; scene cuts at frames {cuts} "
            f"(counted from 0); {result.audio}")
