"""Infer's videos play where people look: in a browser, with their sound.

A clip with a sine tone is made with the ffmpeg infer uses (io/video_codecs.find_ffmpeg), translated
by `pix2pix --mode infer` with its default codec, and infer's own index.html is opened in headless
Chromium from a local http.server: its <video> must reach readyState >= 2 (HAVE_CURRENT_DATA) and
its currentTime must advance. The old default, mp4v, is checked to fail the same way (the check can
fail). Without any ffmpeg, the default codec is refused with what to do, VP90 still writes a WebM
that plays, and the output says the audio is dropped.
"""

import os
import subprocess

import cv2
import numpy as np
import pytest

from helpers import BROWSER_WAIT, cli_env, require_chromium, run_cli, serve_directory
from pix2pix.io import video_codecs

require_chromium()
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

FFMPEG = video_codecs.find_ffmpeg()
needs_ffmpeg = pytest.mark.skipif(FFMPEG is None, reason=f"no ffmpeg ({video_codecs.NO_FFMPEG_HINT})")


# Its module-scoped fixtures are built once: all its tests run on one xdist worker (pytest.ini).
pytestmark = pytest.mark.xdist_group("video_playback")


@pytest.fixture(scope="module")
def lab_run(served_models):
    """An untrained Lab colorization run (conftest's served_models)."""
    return served_models[0]


def make_clip_with_tone(path, seconds=2, size="64x48", rate=12):
    """A synthetic moving test pattern with a 440 Hz sine tone, MPEG-4 part 2 video and AAC audio."""
    subprocess.run([FFMPEG.path, "-hide_banner", "-loglevel", "error", "-y",
                    "-f", "lavfi", "-i", f"testsrc=size={size}:rate={rate}:duration={seconds}",
                    "-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}",
                    "-c:v", "mpeg4", "-c:a", "aac", "-shortest", str(path)], check=True, timeout=120)
    assert video_codecs.has_audio(FFMPEG.path, str(path))
    return path


def playback(driver, url, name):
    """Open URL (infer's index.html), start its <video> of NAME (the output; the input's is there
    too) muted; (readyState, currentTime, error code, video frames decoded) once it has played a
    little or failed. Frames decoded, not only time: with an undecodable video track and a good
    audio track, Chromium plays the sound alone and currentTime advances."""
    driver.get(url)
    find = f"const v = document.querySelector(\"video[src='{name}']\");"
    driver.execute_script(find + " v.muted = true; v.play().catch(() => {});")
    state = find + (" return [v.readyState, v.currentTime, v.error ? v.error.code : null, "
                    "v.getVideoPlaybackQuality().totalVideoFrames];")
    WebDriverWait(driver, BROWSER_WAIT).until(
        lambda d: (lambda s: s[2] is not None or (s[0] >= 2 and s[1] > 0.2))(d.execute_script(state)))
    return driver.execute_script(state)


def play_served(driver, folder, name):
    """playback() of infer's page in FOLDER, served on 127.0.0.1 for the time it takes."""
    url, server = serve_directory(folder)
    try:
        return playback(driver, url + "/index.html", name)
    finally:
        server.shutdown()


def infer_videos(lab_run, clips, out, *flags):
    return run_cli("--mode", "infer", "--checkpoint", lab_run, "--input_dir", clips, "--output_dir", out,
                   *flags, check=False)


@needs_ffmpeg
def test_the_default_video_plays_in_chromium_and_keeps_its_audio(tmp_path, lab_run, chromium):
    clips = tmp_path / "clips"
    clips.mkdir()
    make_clip_with_tone(clips / "street.mp4")
    out = tmp_path / "out"
    result = infer_videos(lab_run, clips, out)
    assert result.returncode == 0, result.stderr
    assert f"audio is carried over ({FFMPEG.describe()})" in result.stdout
    assert "audio carried over (aac)" in result.stdout
    assert sorted(os.listdir(out)) == ["index.html", "options.json", "street.mp4"]
    listing = subprocess.run([FFMPEG.path, "-hide_banner", "-i", str(out / "street.mp4")],
                             capture_output=True, text=True, timeout=60).stderr
    assert "Video: h264" in listing and "Audio: aac" in listing, listing

    ready, time, error, frames = play_served(chromium, out, "street.mp4")
    assert error is None and ready >= 2 and time > 0 and frames > 0, (ready, time, error, frames)


@needs_ffmpeg
def test_the_old_default_mp4v_does_not_play_in_chromium(tmp_path, lab_run, chromium):
    clips = tmp_path / "clips"
    clips.mkdir()
    make_clip_with_tone(clips / "street.mp4", seconds=1)
    out = tmp_path / "out"
    result = infer_videos(lab_run, clips, out, "--video_codec", "mp4v")
    assert result.returncode == 0, result.stderr
    assert "audio carried over (aac)" in result.stdout  # the OpenCV codecs keep the sound too
    ready, time, error, frames = play_served(chromium, out, "street.mp4")
    # the sound plays (time advances), the picture never does
    assert error is None and time > 0 and frames == 0, (ready, time, error, frames)


def test_without_ffmpeg_h264_is_refused_with_what_to_do_and_vp90_plays(tmp_path, lab_run, chromium):
    clips = tmp_path / "clips"
    clips.mkdir()
    writer = cv2.VideoWriter(str(clips / "walk.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 12.0, (48, 32))
    for i in range(24):
        frame = np.full((32, 48, 3), 90, np.uint8)
        cv2.circle(frame, (4 + 2 * i, 16), 5, (20, 200, 60), -1)
        writer.write(frame)
    writer.release()
    # no ffmpeg anywhere: imageio-ffmpeg pointed at a missing file, a PATH without one
    env = cli_env(IMAGEIO_FFMPEG_EXE=str(tmp_path / "no-ffmpeg"), PATH=str(tmp_path))

    def infer_without_ffmpeg(out, *flags):  # forked from the CLI fork server: ffmpeg is looked for at run time
        return run_cli("--mode", "infer", "--checkpoint", lab_run, "--input_dir", clips, "--output_dir", out,
                       *flags, env=env, check=False, timeout=600)

    refused = infer_without_ffmpeg(tmp_path / "h264")
    assert refused.returncode == 1
    assert "--video_codec h264 is written with ffmpeg, and none was found" in refused.stderr
    assert "pip install imageio-ffmpeg" in refused.stderr and "--video_codec VP90" in refused.stderr
    assert "Traceback" not in refused.stderr

    out = tmp_path / "vp90"
    made = infer_without_ffmpeg(out, "--video_codec", "VP90")
    assert made.returncode == 0, made.stderr
    assert "audio is dropped: no ffmpeg was found" in made.stdout
    ready, time, error, frames = play_served(chromium, out, "walk.webm")
    assert error is None and ready >= 2 and time > 0 and frames > 0, (ready, time, error, frames)
