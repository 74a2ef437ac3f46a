"""What a newcomer meets in the first hour: one set of image files for every command, one time
format, the same colours twice, quiet output, the TF1 original's own .pict files, early progress."""

import os
import re

import cv2
import numpy as np

from helpers import smooth_photo, write_ab_pairs
from pix2pix.options.record import Options


def _tiny_train(input_dir, output_dir, **flags):
    base = dict(mode="train", input_dir=str(input_dir), output_dir=str(output_dir), crop_size=32, scale_size=32,
                ngf=8, ndf=8, seed=1, max_steps=2, summary_freq=0, save_freq=0)
    base.update(flags)
    return Options(**base)


# ------------------------------------------------------------------------- progress from the first minute
def test_first_progress_line_comes_early_whatever_progress_freq_says(tmp_path, monkeypatch, capsys):
    from pix2pix.modes import train as train_mode

    monkeypatch.setattr(train_mode, "FIRST_PROGRESS_SECONDS", 0.0)  # "about 20 s after the first step", now
    write_ab_pairs(tmp_path / "pairs", count=3)
    assert train_mode.run(_tiny_train(tmp_path / "pairs", tmp_path / "run", max_steps=4, progress_freq=1000)) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("progress")]
    # the first estimate right after the second step (the first one traces), then the last step's line
    assert re.fullmatch(r"progress  step 2/4  epoch [\d.]+  image/sec [\d.]+  s/step [\d.]+  remaining \d+:\d\d:\d\d"
                        r"  \(first estimate; then every 1000 steps\)", lines[0]), lines
    assert lines[1].startswith("progress  step 4/4 ") and len(lines) == 2, lines
    with open(tmp_path / "run" / "losses.csv") as f:  # the file keeps its --progress_freq rows only
        assert [row.split(",")[0] for row in f.read().splitlines()[1:]] == ["4"]


def test_no_progress_line_at_all_with_progress_freq_0(tmp_path, monkeypatch, capsys):
    from pix2pix.modes import train as train_mode

    monkeypatch.setattr(train_mode, "FIRST_PROGRESS_SECONDS", 0.0)
    write_ab_pairs(tmp_path / "pairs", count=3)
    assert train_mode.run(_tiny_train(tmp_path / "pairs", tmp_path / "run", max_steps=3, progress_freq=0)) == 0
    assert not re.search(r"^progress", capsys.readouterr().out, re.M)


def test_every_time_left_is_h_mm_ss():
    from pix2pix.io.progress import format_duration

    assert [format_duration(s) for s in (0, 0.2, 36, 59.5, 3600 * 4 + 17 * 60 + 5, 26 * 3600 + 189)] == [
        "0:00:00", "0:00:01", "0:00:36", "0:01:00", "4:17:05", "26:03:09"]


# ------------------------------------------------------------------------- the original exporter's .pict files
def test_a_pict_holding_batch_norm_moving_statistics_imports_and_says_so(tmp_path, capsys):
    """The TF1 original's own exporter keeps moving_mean / moving_variance (its filter looks for
    "_moving_"): the import reads them, leaves them out, says so, and gives the same generator."""
    from test_pict_import import tf1_names, trained_looking_weights, write_pict
    from pix2pix.models.checkpoints import restore_generator
    from pix2pix.models.networks import define_generator
    from pix2pix.modes.importing import import_mode
    from pix2pix.modes.preparation import prepare_test_options

    weights = trained_looking_weights()
    statistics = {}
    for name, value in weights.items():
        if name.endswith("/batch_normalization/gamma"):
            layer = name[:-len("gamma")]
            statistics[layer + "moving_mean"] = np.zeros_like(value)  # as the original leaves them:
            statistics[layer + "moving_variance"] = np.ones_like(value)  # never updated
    assert "generator/decoder_2/batch_normalization/moving_mean" in statistics
    _, decoded = write_pict(tmp_path / "original.pict", {**weights, **statistics})
    import_mode(Options(mode="import", checkpoint=str(tmp_path / "original.pict"), output_dir=str(tmp_path / "run")))
    out = capsys.readouterr().out
    assert f"ignored {tmp_path / 'original.pict'}'s {len(statistics)} batch-norm moving statistics" in out
    options = prepare_test_options(Options(mode="test", checkpoint=str(tmp_path / "run"), output_dir=str(tmp_path)))
    generator = define_generator(options)
    restore_generator(generator, str(tmp_path / "run"))
    for name, variable in tf1_names(generator).items():
        np.testing.assert_array_equal(variable.numpy(), decoded[name])


def test_the_pict_rounding_is_up_to_0_5054_bins_as_documented():
    """Plain-distance rounding to mu-law bin centres: a value just short of the (linear) middle between
    two centres is more than half a bin from the chosen one in the mu-law domain."""
    mu, bins = 255, 256
    edges = np.linspace(-1, 1, bins + 1)
    width = edges[1] - edges[0]
    centres = (edges[:-1] + edges[1:]) / 2
    values = np.sign(centres) * ((1 + mu) ** np.abs(centres) - 1) / mu
    middles = (values[:-1] + values[1:]) / 2  # every value up to here is rounded down
    companded = np.sign(middles) * np.log1p(mu * np.abs(middles)) / np.log1p(mu)
    worst = np.max(np.maximum(companded - centres[:-1], centres[1:] - companded)) / width
    bound = np.log((1 + (1 + mu) ** width) / 2) / np.log(1 + mu) / width
    assert 0.5 < worst and abs(worst - bound) < 1e-9 and bound < 0.5055, (worst, bound)


# ------------------------------------------------------------------------- one set of image files
def _camera_folder(directory, pairs=False):
    """A camera's folder: .JPG and .jpeg photos, a lossless .webp, a .tif, and a file that is none.
    With PAIRS, each picture is an A|B pair (B the colour-inverted A)."""
    rng = np.random.default_rng(5)
    os.makedirs(directory, exist_ok=True)
    pictures = {}
    for name in ("IMG_0001.JPG", "IMG_0002.jpeg", "scan.TIF", "web.webp", "plain.png"):
        photo = smooth_photo(rng, 40, 40)
        if pairs:
            photo = np.concatenate([photo, 255 - photo], axis=1)
        params = [cv2.IMWRITE_WEBP_QUALITY, 101] if name.endswith(".webp") else []  # 101: lossless
        assert cv2.imwrite(str(directory / name), np.ascontiguousarray(photo[:, :, ::-1]), params)
        pictures[name] = photo
    (directory / "notes.txt").write_text("taken on holiday\n")
    return pictures


def test_a_camera_folder_of_jpg_jpeg_tif_and_webp_trains_and_names_the_file_it_skips(tmp_path, capsys):
    from pix2pix.modes import train as train_mode

    _camera_folder(tmp_path / "camera", pairs=True)
    assert train_mode.run(_tiny_train(tmp_path / "camera", tmp_path / "run")) == 0
    captured = capsys.readouterr()
    assert "examples count = 5" in captured.out
    assert captured.err.count("notes.txt") == 1  # named once (the pair check lists quietly)
    assert re.search(rf"skipping 1 of its 6 files:\n  {re.escape(str(tmp_path / 'camera' / 'notes.txt'))}: "
                     r"not one of \.jpg \.jpeg \.png \.bmp \.webp \.tif \.tiff \.gif \(any case\)", captured.err)


def test_tif_and_webp_photos_infer_like_the_same_pixels_in_png_and_skipped_files_are_counted(tmp_path, capsys,
                                                                                            served_models):
    from pix2pix.modes.infer import infer_mode

    pictures = _camera_folder(tmp_path / "camera")
    for name in ("scan.TIF", "web.webp"):  # the same pixels as PNG, for comparison
        cv2.imwrite(str(tmp_path / "camera" / f"{name.split('.')[0]}_as_png.png"),
                    np.ascontiguousarray(pictures[name][:, :, ::-1]))
    (tmp_path / "camera" / ".hidden.png").write_bytes(b"")
    run, _ = served_models  # untrained Lab weights (helpers.make_run), shared by the test run: only read here
    rows = infer_mode(Options(mode="infer", checkpoint=str(run), input_dir=str(tmp_path / "camera"),
                              output_dir=str(tmp_path / "out")))
    assert sorted(os.path.basename(row.output_path) for row in rows) == [
        "IMG_0001.png", "IMG_0002.png", "plain.png", "scan.png", "scan_as_png.png", "web.png", "web_as_png.png"]
    for name in ("scan", "web"):
        out = tmp_path / "out"
        assert (out / f"{name}.png").read_bytes() == (out / f"{name}_as_png.png").read_bytes(), name
    captured = capsys.readouterr()
    assert f"{tmp_path / 'camera' / '.hidden.png'}: hidden file" in captured.err
    assert f"{tmp_path / 'camera' / 'notes.txt'}: not one of" in captured.err
    assert re.search(r"^wrote results for 7 photos, skipped 2 files \(named above\); .*index\.html$",
                     captured.out, re.M)


def test_the_same_photo_inferred_twice_gives_byte_identical_files(tmp_path, capsys, served_models):
    """Dropout is off by default in infer (and export, serve): one photo, one answer."""
    from pix2pix.modes.infer import infer_mode

    _camera_folder(tmp_path / "camera")
    run, _ = served_models  # untrained Lab weights (helpers.make_run), shared by the test run: only read here
    for out in ("first", "second"):
        infer_mode(Options(mode="infer", checkpoint=str(run), input_dir=str(tmp_path / "camera"),
                           output_dir=str(tmp_path / out)))
    for name in ("IMG_0001.png", "scan.png", "web.png"):
        assert (tmp_path / "first" / name).read_bytes() == (tmp_path / "second" / name).read_bytes(), name
    with open(tmp_path / "first" / "options.json") as f:
        assert '"deterministic": true' in f.read()
    # --nodeterministic keeps dropout on: another answer each time
    for out in ("third", "fourth"):
        infer_mode(Options(mode="infer", checkpoint=str(run), input_dir=str(tmp_path / "camera"),
                           output_dir=str(tmp_path / out), deterministic=False))
    assert (tmp_path / "third" / "plain.png").read_bytes() != (tmp_path / "fourth" / "plain.png").read_bytes()


def test_score_and_prep_take_the_same_files_and_name_the_others(tmp_path, capsys):
    import data_prep
    from pix2pix.modes.score import score_mode

    pictures = _camera_folder(tmp_path / "camera")
    summary = data_prep.process_directory("grayscale", str(tmp_path / "camera"), str(tmp_path / "grey"))
    assert (summary.written, summary.not_images) == (5, 1) and "not images 1" in summary.line()
    assert f"left alone {tmp_path / 'camera' / 'notes.txt'}: not one of" in capsys.readouterr().err
    assert sorted(os.listdir(tmp_path / "grey")) == sorted(name.split(".")[0] + ".png" for name in pictures)

    score_mode(Options(mode="score", input_dir=str(tmp_path / "camera"), target_dir=str(tmp_path / "camera"),
                       output_dir=str(tmp_path / "score")))
    with open(tmp_path / "score" / "metrics.csv") as f:
        assert len(f.read().strip().splitlines()) == 1 + 5  # a header, then the five pictures
    assert re.search(r"warning: --input_dir .*camera: skipping 1 of its 6 files:\n  .*notes\.txt: not one of",
                     capsys.readouterr().err)


def test_infer_summary_counts_photos_and_videos():
    from pix2pix.modes.infer import summary_line

    assert summary_line(3, 0, 0, "out/index.html") == "wrote results for 3 photos; out/index.html"
    assert summary_line(1, 2, 1, "out/index.html") == (
        "wrote results for 1 photo and 2 videos, skipped 1 file (named above); out/index.html")
