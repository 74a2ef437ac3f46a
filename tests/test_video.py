"""Videos in --mode infer (pix2pix/inference/video.py): tiny clips made here with OpenCV, tiny models.

Each clip: 12 frames of 48x36 at 12 fps, a shape moving over a still background, and one hard
cut at frame 6 to another background and shape.
"""

import os

import cv2
import numpy as np
import pytest
import tensorflow as tf

from helpers import export_options, run_cli
from pix2pix.inference import video
from pix2pix.errors import Pix2PixError
from pix2pix.inference.translator import load_translator
from pix2pix.modes.infer import infer_mode
from pix2pix.reporting.metrics import srgb_to_lab
from pix2pix.modes.preparation import prepare
from pix2pix.options.record import Options
from pix2pix.options.stored import save_options

# Its module-scoped fixtures are built once: all its tests run on one xdist worker (pytest.ini).
pytestmark = pytest.mark.xdist_group("video")

WIDTH, HEIGHT, FRAMES, FPS, CUT = 48, 36, 12, 12.0, 6


def clip_frame(index, width=WIDTH, height=HEIGHT):
    """Frame INDEX of the test clip, BGR uint8: a moving disc (a moving square after the cut)."""
    frame = np.empty((height, width, 3), np.uint8)
    y, x = np.mgrid[0:height, 0:width]
    if index < CUT:
        frame[:] = np.stack([40 + x * 2, 120 + y, np.full_like(x, 200)], -1).clip(0, 255)
        cv2.circle(frame, (8 + 4 * index, height // 2), 6, (0, 220, 40), -1)
    else:
        frame[:] = np.stack([np.full_like(x, 230), 40 + y * 3, 30 + x], -1).clip(0, 255)
        left = 4 * (index - CUT)
        cv2.rectangle(frame, (left, 5), (left + 10, 15), (250, 250, 250), -1)
    return frame


def make_clip(path, codec="mp4v", frames=FRAMES, width=WIDTH, height=HEIGHT, fps=FPS):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*codec), fps, (width, height))
    assert writer.isOpened(), path
    for i in range(frames):
        writer.write(clip_frame(i, width, height))
    writer.release()
    return path


def write_mjpeg_avi(path, frames_bgr, fps=FPS):
    """An MJPEG .avi written by hand, for sizes OpenCV's writer will not keep (odd sides)."""
    import struct

    def chunk(fourcc, data):
        return fourcc + struct.pack("<I", len(data)) + data + (b"\0" if len(data) % 2 else b"")

    def riff_list(kind, fourcc, body):
        return kind + struct.pack("<I", len(body) + 4) + fourcc + body

    height, width = frames_bgr[0].shape[:2]
    jpegs = [cv2.imencode(".jpg", f, [cv2.IMWRITE_JPEG_QUALITY, 95])[1].tobytes() for f in frames_bgr]
    n = len(jpegs)
    avih = struct.pack("<14I", int(1e6 / fps), 0, 0, 0x10, n, 0, 1, 0, width, height, 0, 0, 0, 0)
    strh = b"vidsMJPG" + struct.pack("<IHHIIIIIIII4h", 0, 0, 0, 0, 1, int(fps), 0, n, 0, 0xFFFFFFFF, 0,
                                      0, 0, width, height)
    strf = struct.pack("<IiiHH4sIiiII", 40, width, height, 1, 24, b"MJPG", width * height * 3, 0, 0, 0, 0)
    header = riff_list(b"LIST", b"hdrl", chunk(b"avih", avih)
                       + riff_list(b"LIST", b"strl", chunk(b"strh", strh) + chunk(b"strf", strf)))
    movi, index, offset = b"", b"", 4
    for data in jpegs:
        index += b"00dc" + struct.pack("<III", 0x10, offset, len(data))
        piece = chunk(b"00dc", data)
        movi, offset = movi + piece, offset + len(piece)
    body = header + riff_list(b"LIST", b"movi", movi) + chunk(b"idx1", index)
    with open(path, "wb") as f:
        f.write(riff_list(b"RIFF", b"AVI ", body))
    return path


def read_video(path):
    """(frames [N, H, W, 3] BGR, fps, announced frame count) as OpenCV decodes PATH."""
    capture = cv2.VideoCapture(str(path))
    assert capture.isOpened(), path
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    fps, announced = capture.get(cv2.CAP_PROP_FPS), capture.get(cv2.CAP_PROP_FRAME_COUNT)
    capture.release()
    return np.stack(frames), fps, int(announced)


def lab(frames_bgr):
    return srgb_to_lab(frames_bgr[..., ::-1])


@pytest.fixture(scope="module")
def models(served_models, untrained_pairs):
    """An untrained Lab colorization run (ngf = ndf = 8, crop 32) and an untrained pair run (conftest's
    served_models and untrained_pairs)."""
    return served_models[0], untrained_pairs


@pytest.fixture
def clips(tmp_path):
    directory = tmp_path / "clips"
    directory.mkdir()
    make_clip(directory / "clip.mp4")
    return directory


def infer(checkpoint, input_dir, output_dir, **flags):
    return infer_mode(Options(mode="infer", checkpoint=str(checkpoint), input_dir=str(input_dir),
                              output_dir=str(output_dir), **flags))


class Recording(video.FrameModel):
    """The real FrameModel of a run, noting each frame's predicted and smoothed colour."""

    def __init__(self, run, translator=None, **flags):
        """TRANSLATOR: the run's loaded ImageTranslator, if there is one already (its frame signatures
        do not depend on FLAGS, which only tell translate_video how to smooth)."""
        options = prepare(Options(mode="infer", checkpoint=str(run), output_dir="unused", **flags))
        model = video.frame_model(translator or load_translator(options), str(run))
        self.options, self.predicted, self.used = options, [], []

        def colour(frame):
            self.predicted.append(model.colour(frame))
            return self.predicted[-1]

        def picture(frame, colour):
            self.used.append(np.array(colour))
            return model.picture(frame, colour)

        super().__init__(colour=colour, picture=picture)


def flicker(colours, frames_bgr, skip=()):
    """Mean frame-to-frame change of the colour [h, w, C] over the pixels that stay still in the
    input (grey change <= 2, taken at the colour's resolution), leaving out the steps into SKIP."""
    changes = []
    for t in range(1, len(colours)):
        if t in skip:
            continue
        grey = [cv2.cvtColor(frames_bgr[i], cv2.COLOR_BGR2GRAY).astype(np.float32) for i in (t - 1, t)]
        moving = (np.abs(grey[1] - grey[0]) > 2).astype(np.float32)
        h, w = colours[t].shape[:2]
        still = cv2.resize(moving, (w, h), interpolation=cv2.INTER_AREA) == 0
        assert still.mean() > 0.3
        changes.append(np.abs(colours[t] - colours[t - 1])[still].mean())
    return float(np.mean(changes))


# --------------------------------------------------------------- frames, size, fps, L
def test_a_video_keeps_frame_count_size_fps_and_lightness(tmp_path, models, clips, capsys):
    lab_run, _ = models
    out = tmp_path / "out"
    rows = infer(lab_run, clips, out)
    assert [os.path.basename(r.output_path) for r in rows] == ["clip.mp4"]
    frames, fps, announced = read_video(out / "clip.mp4")
    inputs, input_fps, _ = read_video(clips / "clip.mp4")
    assert frames.shape == (FRAMES, HEIGHT, WIDTH, 3) and announced == FRAMES
    assert fps == pytest.approx(input_fps) == pytest.approx(FPS)
    # each frame keeps its own lightness, within the codec's loss
    lightness_change = np.abs(lab(frames)[..., 0] - lab(inputs)[..., 0]) * 255 / 100
    assert lightness_change.mean() < 3, lightness_change.mean()
    # ... and gets colour: the output is not the input
    assert np.abs(lab(frames)[..., 1:] - lab(inputs)[..., 1:]).mean() > 1
    page = (out / "index.html").read_text()
    assert "<video src='clip.mp4' controls" in page
    captured = capsys.readouterr()
    assert "12/12 frames" in captured.err and "frames/s" in captured.err and "left" in captured.err
    assert "audio is carried over (ffmpeg: " in captured.out and "scene cuts at frames 6" in captured.out
    assert "no audio in the input" in captured.out
    assert not os.path.exists(out / "clip.partial.mp4")


def test_photos_and_videos_together_same_stems_odd_sizes_and_webm(tmp_path, models, clips, capsys):
    lab_run, _ = models
    write_mjpeg_avi(clips / "clip.avi", [clip_frame(i, 47, 35) for i in range(FRAMES)])
    assert read_video(clips / "clip.avi")[0].shape == (FRAMES, 35, 47, 3)
    cv2.imwrite(str(clips / "photo.png"), clip_frame(0))
    out = tmp_path / "out"
    rows = infer(lab_run, clips, out, video_codec="VP80")
    assert sorted(os.path.basename(r.output_path) for r in rows) == ["clip.avi.webm", "clip.mp4.webm",
                                                                      "photo.png"]
    odd, _, _ = read_video(out / "clip.avi.webm")
    assert odd.shape == (FRAMES, 34, 46, 3)  # one pixel less on each odd side
    assert "needs even sides" in capsys.readouterr().err
    even, _, _ = read_video(out / "clip.mp4.webm")
    assert even.shape == (FRAMES, HEIGHT, WIDTH, 3)
    assert cv2.imread(str(out / "photo.png")).shape == (HEIGHT, WIDTH, 3)


# ---------------------------------------------------------------- smoothing and cuts
def test_histogram_change_finds_the_cut_only():
    histograms = [video.grey_histogram(clip_frame(i)) for i in range(FRAMES)]
    changes = [video.histogram_change(a, b) for a, b in zip(histograms, histograms[1:])]
    cut_step = CUT - 1
    assert changes[cut_step] > Options.scene_cut
    assert max(c for i, c in enumerate(changes) if i != cut_step) < Options.scene_cut / 2


def test_smoothing_lowers_flicker_and_never_crosses_the_cut(tmp_path, models, clips):
    lab_run, _ = models
    inputs, _, _ = read_video(clips / "clip.mp4")
    runs = {}
    # One loaded model for the three runs (loading and tracing it is most of their cost): each run still
    # predicts every frame itself, so the predictions' agreement below is a real check.
    translator = load_translator(prepare(Options(mode="infer", checkpoint=str(lab_run), output_dir="unused")))
    for name, alpha, cut in (("off", 0.0, Options.scene_cut), ("on", 0.8, Options.scene_cut),
                             ("no_cut", 0.8, 1.0)):
        model = Recording(lab_run, translator, temporal_smoothing=alpha, scene_cut=cut)
        result = video.translate_video(str(clips / "clip.mp4"), str(tmp_path / f"{name}.mp4"), model,
                                       model.options, colorization=True)
        assert result.ok, result.error
        runs[name] = (model, result)
    off, on, no_cut = (runs[k][0] for k in ("off", "on", "no_cut"))
    assert runs["off"][1].cuts == runs["on"][1].cuts == [CUT]
    assert runs["no_cut"][1].cuts == []
    # the generator's predictions do not depend on smoothing; smoothing follows the formula
    for t in range(FRAMES):
        np.testing.assert_allclose(on.predicted[t], off.predicted[t], atol=1e-5)
    p, s = off.predicted, on.used
    np.testing.assert_allclose(s[0], p[0], atol=1e-6)
    for t in range(1, FRAMES):
        expected = p[t] if t == CUT else 0.8 * s[t - 1] + 0.2 * p[t]
        np.testing.assert_allclose(s[t], expected, atol=1e-5)
    # at the cut the colour is the new shot's own; without the cut it would carry the old one
    assert np.abs(no_cut.used[CUT] - p[CUT]).mean() > 10 * np.abs(s[CUT] - p[CUT]).mean() + 1e-3
    # flicker over still regions (the steps into the cut left out)
    figure_off, figure_on = flicker(off.used, inputs, skip={CUT}), flicker(on.used, inputs, skip={CUT})
    assert figure_on < 0.6 * figure_off, (figure_on, figure_off)


def test_smoothing_is_refused_for_a_pair_model(tmp_path, models, clips):
    _, pairs_run = models
    with pytest.raises(Pix2PixError, match="--temporal_smoothing: only applies to colorization"):
        infer(pairs_run, clips, tmp_path / "out", temporal_smoothing=0.5)
    result = run_cli("--mode", "infer", "--checkpoint", pairs_run, "--input_dir", clips, "--output_dir",
                     tmp_path / "cli", "--temporal_smoothing", 0.5, check=False)
    assert result.returncode == 2 and "--temporal_smoothing: only applies to colorization" in result.stderr
    assert "Traceback" not in result.stderr
    # without it, a pair model's video is translated frame by frame
    infer(pairs_run, clips, tmp_path / "out")
    frames, _, _ = read_video(tmp_path / "out" / "clip.mp4")
    assert frames.shape == (FRAMES, HEIGHT, WIDTH, 3)


# ------------------------------------------------------------------------ failures
def test_broken_videos_are_named_kept_partial_and_the_others_still_made(tmp_path, models, clips):
    lab_run, _ = models
    make_clip(clips / "short.avi", codec="MJPG")
    data = (clips / "short.avi").read_bytes()
    (clips / "short.avi").write_bytes(data[:int(len(data) * 0.8)])  # the index says 12 frames
    (clips / "junk.mp4").write_bytes(b"not a video at all" * 10)
    cv2.imwrite(str(clips / "photo.png"), clip_frame(3))
    out = tmp_path / "out"
    result = run_cli("--mode", "infer", "--checkpoint", lab_run, "--input_dir", clips, "--output_dir", out,
                     check=False)
    assert result.returncode == 1, result.stderr
    assert "junk.mp4: cannot open" in result.stderr
    assert "short.avi: frame " in result.stderr and "announced 12" in result.stderr
    assert sorted(os.listdir(out)) == ["clip.mp4", "index.html", "options.json", "photo.png",
                                       "short.partial.mp4"]
    partial, _, _ = read_video(out / "short.partial.mp4")
    frames_read = len(read_video(clips / "short.avi")[0])
    assert 0 < len(partial) == frames_read < FRAMES
    assert f"frame {frames_read}:" in result.stderr
    assert len(read_video(out / "clip.mp4")[0]) == FRAMES
    page = (out / "index.html").read_text()
    assert "short.partial.mp4" in page and "junk" not in page


# ------------------------------------------------------------------------- exports
def test_an_export_makes_the_same_video_and_an_old_export_is_refused(tmp_path, models, served_models, clips):
    lab_run, _ = models
    # lab_run's export as export mode makes it by default (dropout off): conftest's served_models holds it
    # (read only here), made once for the test run rather than exported again.
    exported = served_models[1] / "1"
    infer(exported, clips, tmp_path / "from_export")
    infer(lab_run, clips, tmp_path / "from_run")
    a, _, _ = read_video(tmp_path / "from_export" / "clip.mp4")
    b, _, _ = read_video(tmp_path / "from_run" / "clip.mp4")
    assert np.abs(a.astype(int) - b.astype(int)).max() <= 1

    # an export made before videos: serving signatures only
    options = prepare(export_options(lab_run, tmp_path / "old"))
    old = tmp_path / "old"
    translator = load_translator(options, save_options(options, str(tmp_path)))
    signatures = {k: v for k, v in translator.signatures().items() if not k.startswith("frame_")}
    tf.saved_model.save(translator, str(old), signatures=signatures)
    with pytest.raises(Pix2PixError, match="export it again"):
        infer(old, clips, tmp_path / "from_old")


def test_an_export_with_render_size_makes_the_video_at_the_frames_aspect_ratio(tmp_path, rendered_lab_export, clips):
    exported = str(rendered_lab_export)  # conftest's: the Lab run of models exported with --render_size 32
    colour = tf.saved_model.load(exported).signatures["frame_colour"](
        frame=tf.constant(clip_frame(0)[..., ::-1].copy()))["colour"]
    assert colour.shape == (32, 43, 2)  # 48x36 -> 43x32 (padded to 64x32 for the generator, cropped)
    infer(exported, clips, tmp_path / "out")
    frames, fps, _ = read_video(tmp_path / "out" / "clip.mp4")
    assert frames.shape == (FRAMES, HEIGHT, WIDTH, 3) and fps == pytest.approx(FPS)
