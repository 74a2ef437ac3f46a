"""Infer mode: a folder of photos of any size through a training directory or a SavedModel."""

import os
import shutil

import numpy as np
import pytest

from helpers import bomb_png_bytes, exif_jpeg, read_rgb, run_cli, smooth_photo, write_image
from pix2pix.errors import Pix2PixError
from pix2pix.modes.infer import InferredImage, ProgressBar, infer_mode, list_photos
from pix2pix.options.record import Options

# Its module-scoped fixtures are built once: all its tests run on one xdist worker (pytest.ini).
pytestmark = pytest.mark.xdist_group("infer")

SIZES = {"10": (48, 40), "2": (70, 90), "3": (33, 33), "1": (100, 64)}  # name: (height, width)


@pytest.fixture(scope="module")
def models(served_models):
    """An (untrained) Lab colorization run and its --deterministic export (conftest's served_models)."""
    run, base = served_models
    return run, base / "1"


@pytest.fixture
def photos(tmp_path):
    """Four photos of different sizes and kinds: JPEG, grey PNG, RGBA PNG, upper-case .JPG."""
    directory = tmp_path / "photos"
    directory.mkdir()
    rng = np.random.default_rng(2)
    write_image(directory / "10.jpg", smooth_photo(rng, *SIZES["10"]))
    write_image(directory / "2.png", smooth_photo(rng, *SIZES["2"])[..., 0])
    rgba = np.concatenate([smooth_photo(rng, *SIZES["3"]), np.full(SIZES["3"] + (1,), 200, np.uint8)], -1)
    write_image(directory / "3.png", rgba)
    write_image(directory / "1.JPG", smooth_photo(rng, *SIZES["1"]))
    (directory / "notes.txt").write_text("not a photo, not listed")
    return directory


def infer_options(checkpoint, input_dir, output_dir, **flags):
    return Options(mode="infer", checkpoint=str(checkpoint), input_dir=str(input_dir),
                   output_dir=str(output_dir), **flags)


def test_infer_from_a_training_dir_writes_results_at_each_photos_size(tmp_path, models, photos):
    run, _ = models
    out = tmp_path / "out"
    result = run_cli("--mode", "infer", "--checkpoint", run, "--input_dir", photos, "--output_dir", out,
                     "--batch_size", 3, "--deterministic")
    assert "infer [" in result.stderr and "4/4 photos" in result.stderr  # the progress bar
    for name, size in SIZES.items():
        assert read_rgb(out / f"{name}.png").shape == size + (3,)
    page = (out / "index.html").read_text()
    assert "<th>name</th><th>input</th><th>output</th>" in page
    # numeric names in numeric order; inputs linked where they are, results next to the page
    assert page.index("../photos/1.JPG") < page.index("../photos/2.png") < page.index("../photos/10.jpg")
    assert "src='3.png'" in page
    assert sorted(os.listdir(out)) == ["1.png", "10.png", "2.png", "3.png", "index.html", "options.json"]


def test_saved_model_and_training_dir_give_the_same_pictures_whatever_the_batch(tmp_path, models, photos):
    run, exported = models
    from_run = infer_mode(infer_options(run, photos, tmp_path / "a", deterministic=True, batch_size=4))
    from_export = infer_mode(infer_options(exported, photos, tmp_path / "b", batch_size=1))
    assert [row.name for row in from_run] == ["1", "2", "3", "10"]
    assert isinstance(from_run[0], InferredImage)
    assert from_run[0].input_path == os.path.join(str(photos), "1.JPG")
    assert from_run[0].output_path == os.path.join(str(tmp_path / "a"), "1.png")
    for a, b in zip(from_run, from_export):
        # The exported model remembered --deterministic; each photo runs on its own.
        np.testing.assert_array_equal(read_rgb(a.output_path), read_rgb(b.output_path))


def test_infer_writes_jpeg_when_asked(tmp_path, models, photos):
    run, exported = models
    rows = infer_mode(infer_options(run, photos, tmp_path / "out", output_filetype="jpeg"))
    assert [os.path.basename(row.output_path) for row in rows] == ["1.jpg", "2.jpg", "3.jpg", "10.jpg"]
    with open(rows[0].output_path, "rb") as f:
        assert f.read(3) == b"\xff\xd8\xff"
    # A SavedModel is fixed at export time: asking it for another file type is an error.
    with pytest.raises(Pix2PixError, match="--output_filetype: the SavedModel .* exported with"):
        infer_mode(infer_options(exported, photos, tmp_path / "other", output_filetype="jpeg"),
                   explicit_flag_names={"output_filetype"})


def test_infer_errors_name_the_flag_or_file(tmp_path, models, photos):
    run, _ = models
    out = tmp_path / "out"

    def error_of(options, match):
        with pytest.raises(Pix2PixError, match=match):
            infer_mode(options)

    error_of(Options(mode="infer", input_dir=str(photos), output_dir=str(out)), "--checkpoint: is required")
    error_of(infer_options(run, tmp_path / "missing", out), "--input_dir: .*missing")
    (tmp_path / "empty").mkdir()
    error_of(infer_options(run, tmp_path / "empty", out), "--input_dir: .* contains no photos")
    error_of(infer_options(run, photos, photos), "--output_dir: writing .* would overwrite")
    (photos / "10.png").write_bytes((photos / "2.png").read_bytes())
    error_of(infer_options(run, photos, out), "10.jpg and .*10.png would both be written")
    (photos / "10.png").unlink()
    (photos / "broken.jpg").write_bytes(b"\xff\xd8\xff not really a JPEG")
    error_of(infer_options(run, photos, out), r"1 of 5 photos cannot be used:\n  .*broken.jpg")
    assert not out.exists()  # nothing written by any of these

    # Without the pre-flight check the bad photo is found mid-run, still named: its size cannot be
    # read from its header, so it is refused before any decoder sees it.
    error_of(infer_options(run, photos, out, skip_preflight=True, batch_size=5),
             r"\S*broken.jpg: not a decodable image")


def test_list_photos_and_progress_bar(tmp_path, photos):
    assert [os.path.basename(p) for p in list_photos(str(photos))] == ["1.JPG", "2.png", "3.png", "10.jpg"]

    class Log:
        text = ""

        def write(self, text):
            self.text += text

        def flush(self):
            pass

    log = Log()
    bar = ProgressBar(4, stream=log, width=8)
    bar.update(2)
    bar.update(4)
    bar.close()
    lines = log.text.splitlines()
    assert lines[0].startswith("infer [####----] 2/4 photos") and lines[1].startswith("infer [########] 4/4")


@pytest.mark.parametrize("little_endian", [False, True])
def test_jpeg_orientation_reads_the_exif_tag(little_endian):
    from pix2pix.modes.infer import jpeg_orientation

    rgb = smooth_photo(np.random.default_rng(0), 16, 24)
    for orientation in range(1, 9):
        assert jpeg_orientation(exif_jpeg(rgb, orientation, little_endian, make_tag=True)) == orientation
    import cv2

    assert jpeg_orientation(cv2.imencode(".jpg", rgb)[1].tobytes()) == 1  # no EXIF at all
    assert jpeg_orientation(b"\x89PNG\r\n\x1a\n") == 1 and jpeg_orientation(b"") == 1


def test_infer_turns_photos_the_way_their_exif_says(tmp_path, models):
    """A phone photo stored sideways (EXIF 6: turn 90 degrees clockwise) comes out upright."""
    run, _ = models
    photos = tmp_path / "photos"
    photos.mkdir()
    stored = smooth_photo(np.random.default_rng(3), 40, 64)  # as stored: 40 high, 64 wide
    stored[:8, :8] = 255  # a white corner, top left as stored
    (photos / "phone.jpg").write_bytes(exif_jpeg(stored, 6, make_tag=True))
    original = (photos / "phone.jpg").read_bytes()
    infer_mode(infer_options(run, photos, tmp_path / "out", deterministic=True))
    result = read_rgb(tmp_path / "out" / "phone.png")
    assert result.shape == (64, 40, 3)  # as displayed: 64 high, 40 wide
    # Turned clockwise, the stored top-left corner is at the top right; the photo's own
    # lightness is kept, so the white corner stays white there.
    assert result[:6, -6:].min() > 200 and result[:6, :6].max() < 250
    assert (photos / "phone.jpg").read_bytes() == original  # the input is never modified


def test_a_bad_photo_is_named_before_the_model_is_loaded(tmp_path, models, photos):
    """The pre-flight check comes before the model loads: with a --checkpoint holding a run's
    options.json but no weights, the broken photo is what the error names (in a moment, where
    loading a model takes seconds)."""
    run, _ = models
    (photos / "broken.jpg").write_bytes(b"\xff\xd8\xff not really a JPEG")
    (tmp_path / "no_model").mkdir()
    shutil.copy(run / "options.json", tmp_path / "no_model")
    with pytest.raises(Pix2PixError, match=r"1 of 5 photos cannot be used:\n  .*broken.jpg"):
        infer_mode(infer_options(tmp_path / "no_model", photos, tmp_path / "out"))
    (photos / "broken.jpg").unlink()
    with pytest.raises(Pix2PixError, match="--checkpoint"):  # the photos pass: the model is what is missing
        infer_mode(infer_options(tmp_path / "no_model", photos, tmp_path / "out"))
    assert not (tmp_path / "out").exists()


def test_infer_refuses_a_photo_over_max_pixels_before_decoding_it(tmp_path, models, photos):
    """A PNG whose header claims 40000x40000 (a decompression bomb in 100 bytes) is named with the
    limit, with and without the pre-flight check; the real photos' sizes pass the default."""
    run, _ = models
    (photos / "bomb.png").write_bytes(bomb_png_bytes(40000, 40000, pixel_data=False, end=False))
    for skip in (False, True):
        with pytest.raises(Pix2PixError, match=r"bomb\.png: the image claims 40000x40000 = "
                                               r"1,600,000,000 pixels, over the limit of "
                                               r"100,000,000 \(--max_pixels\)"):
            infer_mode(infer_options(run, photos, tmp_path / "out", skip_preflight=skip))
    (photos / "bomb.png").unlink()
    result = run_cli("--mode", "infer", "--checkpoint", run, "--input_dir", photos,
                     "--output_dir", tmp_path / "small", "--max_pixels", 3000, check=False)
    assert result.returncode != 0
    assert "over the limit of 3,000 (--max_pixels)" in result.stderr
    assert "Traceback" not in result.stderr
