"""Every data_prep operation run through the CLI (``python -m data_prep``) on real files."""

import os
import re

import cv2
import numpy as np
import pytest

from helpers import assert_clean_failure, read_rgb, run_prep, synthetic_photo, tree_hashes, write_image


@pytest.fixture
def photos(tmp_path):
    """A folder with three small photos of different shapes and formats."""
    folder = tmp_path / "photos"
    folder.mkdir()
    write_image(str(folder / "wide.jpg"), synthetic_photo(48, 64, seed=1))
    write_image(str(folder / "tall.PNG"), synthetic_photo(64, 48, seed=2))
    write_image(str(folder / "square.bmp"), synthetic_photo(50, 50, seed=3))
    (folder / "notes.txt").write_text("not an image, not listed")
    return folder


def decoded_inputs(folder):
    """{base name: RGB array} as OpenCV decodes the input files."""
    images = {}
    for path in folder.iterdir():
        if path.suffix.lower() in (".jpg", ".png", ".bmp"):
            images[path.stem] = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
    return images


def assert_success(result):
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr


def test_grayscale(photos, tmp_path):
    out = tmp_path / "out"
    result = run_prep("--operation", "grayscale", "--input_dir", photos, "--output_dir", out)
    assert_success(result)
    assert "written 3, skipped 0, failed 0" in result.stdout
    assert sorted(os.listdir(out)) == ["square.png", "tall.png", "wide.png"]
    for name, image in decoded_inputs(photos).items():
        grey = read_rgb(out / (name + ".png"), exact=True)
        assert grey.shape == image.shape
        assert np.array_equal(grey[..., 0], grey[..., 1]) and np.array_equal(grey[..., 0], grey[..., 2])
        assert np.array_equal(grey[..., 0], cv2.cvtColor(image, cv2.COLOR_RGB2GRAY))


def test_resize_crop_and_pad(photos, tmp_path):
    result = run_prep("--operation", "resize", "--input_dir", photos, "--output_dir", tmp_path / "crop",
                        "--size", 32)
    assert_success(result)
    inputs = decoded_inputs(photos)
    wide = read_rgb(tmp_path / "crop" / "wide.png", exact=True)
    assert wide.shape == (32, 32, 3)
    assert np.array_equal(wide, cv2.resize(inputs["wide"][:, 8:56], (32, 32), interpolation=cv2.INTER_AREA))

    result = run_prep("--operation", "resize", "--input_dir", photos, "--output_dir", tmp_path / "pad",
                        "--size", 64, "--pad")
    assert_success(result)
    tall = read_rgb(tmp_path / "pad" / "tall.png", exact=True)
    assert tall.shape == (64, 64, 3)
    assert (tall[:, :8] == 0).all() and (tall[:, 56:] == 0).all()  # black bars left and right
    assert np.array_equal(tall[:, 8:56], inputs["tall"])           # 64 tall already: no scaling


def test_blank(tmp_path):
    folder = tmp_path / "squares"
    folder.mkdir()
    image = synthetic_photo(40, 40, seed=4)
    write_image(str(folder / "face.png"), image)
    result = run_prep("--operation", "blank", "--input_dir", folder, "--output_dir", tmp_path / "out")
    assert_success(result)
    blanked = read_rgb(tmp_path / "out" / "face.png", exact=True)
    side, offset = int(40 * 0.3), int(20 - int(40 * 0.3) / 2)  # 12 and 14
    assert (blanked[offset:offset + side, offset:offset + side] == 255).all()
    outside = np.ones((40, 40), bool)
    outside[offset:offset + side, offset:offset + side] = False
    assert np.array_equal(blanked[outside], image[outside])


def test_combine_matches_base_names_across_extensions(tmp_path):
    a_dir, b_dir = tmp_path / "a", tmp_path / "b"
    a_dir.mkdir()
    b_dir.mkdir()
    a_colour, b_colour = synthetic_photo(30, 40, seed=5), synthetic_photo(30, 40, seed=6)
    a_grey = np.full((30, 40), 90, np.uint8)
    b_rgba = np.dstack([synthetic_photo(30, 40, seed=7), np.full((30, 40), 10, np.uint8)])
    write_image(str(a_dir / "one.png"), a_colour)
    write_image(str(b_dir / "one.png"), b_colour)
    write_image(str(a_dir / "two.png"), a_grey)   # grey A -> RGB
    write_image(str(b_dir / "two.tif"), b_rgba)   # other extension, alpha dropped
    result = run_prep("--operation", "combine", "--input_dir", a_dir, "--b_dir", b_dir,
                        "--output_dir", tmp_path / "ab")
    assert_success(result)
    one = read_rgb(tmp_path / "ab" / "one.png", exact=True)
    assert one.shape == (30, 80, 3)
    assert np.array_equal(one[:, :40], a_colour) and np.array_equal(one[:, 40:], b_colour)
    two = read_rgb(tmp_path / "ab" / "two.png", exact=True)
    assert (two[:, :40] == 90).all() and np.array_equal(two[:, 40:], b_rgba[..., :3])


def test_edges_draws_dark_lines_on_white_where_the_photo_has_edges(tmp_path):
    folder = tmp_path / "shapes"
    folder.mkdir()
    image = np.full((96, 96, 3), 235, np.uint8)
    cv2.rectangle(image, (24, 20), (70, 76), (30, 80, 160), -1)
    noise = np.random.default_rng(0).normal(0, 3, image.shape)
    write_image(str(folder / "box.png"), np.clip(image + noise, 0, 255).astype(np.uint8))
    result = run_prep("--operation", "edges", "--input_dir", folder, "--output_dir", tmp_path / "out")
    assert_success(result)
    drawing = read_rgb(tmp_path / "out" / "box.png", exact=True)
    assert drawing.shape == (96, 96, 3)
    assert np.array_equal(drawing[..., 0], drawing[..., 1]) and np.array_equal(drawing[..., 0], drawing[..., 2])
    dark = drawing[..., 0] < 128
    assert (drawing[..., 0] > 250).mean() > 0.9  # mostly white
    outline = np.zeros((96, 96), np.uint8)
    cv2.rectangle(outline, (24, 20), (70, 76), 1, 1)
    near_outline = cv2.dilate(outline, np.ones((7, 7), np.uint8)) > 0
    assert near_outline[dark].all()  # lines only along the rectangle's outline...
    near_line = cv2.dilate(dark.astype(np.uint8), np.ones((7, 7), np.uint8)) > 0
    assert near_line[outline > 0].mean() > 0.9  # ...and along nearly all of it


def test_edges_hed_needs_its_files(photos, tmp_path):
    result = run_prep("--operation", "edges", "--input_dir", photos, "--output_dir", tmp_path / "out",
                        "--hed_prototxt", tmp_path / "missing.prototxt",
                        "--hed_caffemodel", tmp_path / "missing.caffemodel")
    assert_clean_failure(result)
    assert result.returncode == 2
    assert "--hed_prototxt: no such file" in result.stderr
    assert not (tmp_path / "out").exists()


def check_colorize_pair(path, size):
    pair = read_rgb(path, exact=True)
    assert pair.shape == (size, 2 * size, 3)
    grey, colour = pair[:, :size], pair[:, size:]
    assert np.array_equal(grey[..., 0], grey[..., 1]) and np.array_equal(grey[..., 0], grey[..., 2])
    assert np.array_equal(grey[..., 0], cv2.cvtColor(colour, cv2.COLOR_RGB2GRAY))
    return colour


def test_colorize_writes_flat_folder_of_trainable_ab_pngs(photos, tmp_path):
    out = tmp_path / "out"
    result = run_prep("--operation", "colorize", "--input_dir", photos, "--output_dir", out, "--size", 32)
    assert_success(result)
    assert sorted(os.listdir(out)) == ["square.png", "tall.png", "wide.png"]
    inputs = decoded_inputs(photos)
    for name in inputs:
        colour = check_colorize_pair(out / (name + ".png"), 32)
        height, width = inputs[name].shape[:2]
        side = min(height, width)
        top, left = (height - side) // 2, (width - side) // 2
        expected = cv2.resize(inputs[name][top:top + side, left:left + side], (32, 32), interpolation=cv2.INTER_AREA)
        assert np.array_equal(colour, expected)


@pytest.fixture
def eight_photos(tmp_path):
    folder = tmp_path / "eight"
    folder.mkdir()
    for index in range(8):
        write_image(str(folder / ("p%d.jpg" % index)), synthetic_photo(40, 56, seed=10 + index))
    return folder


def subset_listing(out):
    return {subset: sorted(os.listdir(out / subset)) for subset in ("train", "val", "test")
            if (out / subset).is_dir()}


def test_colorize_split_is_deterministic_per_seed(eight_photos, tmp_path):
    listings = []
    for run in ("a", "b"):
        out = tmp_path / run
        result = run_prep("--operation", "colorize", "--input_dir", eight_photos, "--output_dir", out,
                            "--size", 16, "--val_frac", 0.25, "--test_frac", 0.125, "--seed", 5)
        assert_success(result)
        listings.append(subset_listing(out))
    assert listings[0] == listings[1]
    assert [len(listings[0][s]) for s in ("train", "val", "test")] == [5, 2, 1]  # floor(2), floor(1), rest
    assert sorted(sum(listings[0].values(), [])) == ["p%d.png" % i for i in range(8)]
    assert not [name for name in os.listdir(tmp_path / "a") if name.endswith(".png")]  # nothing at top level
    check_colorize_pair(tmp_path / "a" / "val" / listings[0]["val"][0], 16)


def test_colorize_random_crops_and_singles(eight_photos, tmp_path):
    out = tmp_path / "crops"
    result = run_prep("--operation", "colorize", "--input_dir", eight_photos, "--output_dir", out,
                        "--size", 16, "--crops_per_image", 3)
    assert_success(result)
    assert "written 8 (24 files)" in result.stdout
    assert sorted(os.listdir(out)) == sorted("p%d_c%d.png" % (i, k) for i in range(8) for k in range(3))
    crops = [check_colorize_pair(out / ("p0_c%d.png" % k), 16) for k in range(3)]
    assert not np.array_equal(crops[0], crops[1])

    singles = tmp_path / "singles"
    result = run_prep("--operation", "colorize", "--input_dir", eight_photos, "--output_dir", singles,
                        "--size", 16, "--singles")
    assert_success(result)
    assert sorted(os.listdir(singles)) == ["p%d.png" % i for i in range(8)]
    photo = cv2.cvtColor(cv2.imread(str(eight_photos / "p0.jpg")), cv2.COLOR_BGR2RGB)  # 40 x 56
    expected = cv2.resize(photo[:, 8:48], (16, 16), interpolation=cv2.INTER_AREA)
    assert np.array_equal(read_rgb(singles / "p0.png", exact=True), expected)


@pytest.fixture
def ten_files(tmp_path):
    folder = tmp_path / "pairs"
    folder.mkdir()
    for index in range(10):
        write_image(str(folder / ("f%d.png" % index)), synthetic_photo(16, 32, seed=index))
    return folder


def test_split_moves_files_by_fraction(ten_files):
    before = tree_hashes(ten_files)
    result = run_prep("--operation", "split", "--input_dir", ten_files)
    assert_success(result)
    assert "moved 10, skipped 0, failed 0" in result.stdout
    listing = subset_listing(ten_files)
    assert [len(listing.get(s, [])) for s in ("train", "val", "test")] == [8, 2, 0]
    assert not (ten_files / "test").exists()
    after = tree_hashes(ten_files)
    assert sorted(os.path.basename(p) for p in after) == sorted(before)
    assert sorted(after.values()) == sorted(before.values())  # moved, not re-encoded


def test_split_copy_same_seed_same_assignment_other_seed_other_and_test_fraction(ten_files, tmp_path):
    listings = []
    for run in ("a", "b", "c"):
        seed = 7 if run != "c" else 8
        result = run_prep("--operation", "split", "--input_dir", ten_files, "--output_dir", tmp_path / run,
                            "--copy", "--train_frac", 0.6, "--test_frac", 0.2, "--seed", seed)
        assert_success(result)
        assert "copied 10" in result.stdout
        listings.append(subset_listing(tmp_path / run))
    assert listings[0] == listings[1]
    assert [len(listings[0][s]) for s in ("train", "val", "test")] == [6, 2, 2]
    # Another seed, another assignment of the same names, with the same counts.
    assert listings[2] != listings[0]
    assert [len(listings[2][s]) for s in ("train", "val", "test")] == [6, 2, 2]
    assert len(os.listdir(ten_files)) == 10  # --copy leaves the inputs in place


def test_split_sort_keeps_name_order(ten_files, tmp_path):
    result = run_prep("--operation", "split", "--input_dir", ten_files, "--output_dir", tmp_path / "sorted",
                        "--copy", "--sort", "--train_frac", 0.5, "--test_frac", 0.2)
    assert_success(result)
    assert subset_listing(tmp_path / "sorted") == {
        "train": ["f0.png", "f1.png", "f2.png", "f3.png", "f4.png"],
        "val": ["f5.png", "f6.png", "f7.png"],
        "test": ["f8.png", "f9.png"]}


def test_samples_writes_bundled_colour_photos(tmp_path):
    pytest.importorskip("skimage")
    result = run_prep("--operation", "samples", "--output_dir", tmp_path / "samples")
    assert_success(result)
    names = sorted(os.listdir(tmp_path / "samples"))
    assert {"astronaut.png", "chelsea.png", "coffee.png"} <= set(names)
    for name in names:
        image = read_rgb(tmp_path / "samples" / name, exact=True)  # asserts 8-bit, 3 channels
        assert min(image.shape[:2]) >= 256
        assert not np.array_equal(image[..., 0], image[..., 1])  # colour, not grey


def test_samples_without_scikit_image_says_to_install_demo_extra(tmp_path):
    shadow = tmp_path / "shadow" / "skimage"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('scikit-image hidden for this test')\n")
    result = run_prep("--operation", "samples", "--output_dir", tmp_path / "samples",
                        extra_paths=[str(tmp_path / "shadow")])
    assert_clean_failure(result)
    assert result.returncode == 2
    assert "demo" in result.stderr and "scikit-image" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "samples").exists()


@pytest.mark.parametrize("args, flag", [
    (["--input_dir", "{photos}"], "--operation"),  # (no arguments at all prints the help, exit 0)
    (["--operation", "sharpen"], "--operation"),
    (["--operation", "resize", "--output_dir", "{out}"], "--input_dir"),
    (["--operation", "resize", "--input_dir", "{photos}"], "--output_dir"),
    (["--operation", "resize", "--input_dir", "{photos}", "--output_dir", "{photos}"], "--output_dir"),
    (["--operation", "resize", "--input_dir", "{photos}/missing", "--output_dir", "{out}"], "--input_dir"),
    (["--operation", "combine", "--input_dir", "{photos}", "--output_dir", "{out}"], "--b_dir"),
    (["--operation", "resize", "--input_dir", "{photos}", "--output_dir", "{out}", "--size", "0"], "--size"),
    (["--operation", "resize", "--input_dir", "{photos}", "--output_dir", "{out}", "--size", "x"], "--size"),
    (["--operation", "split", "--input_dir", "{photos}", "--train_frac", "1.2"], "--train_frac"),
    (["--operation", "split", "--input_dir", "{photos}", "--test_frac", "-0.1"], "--test_frac"),
    (["--operation", "colorize", "--input_dir", "{photos}", "--output_dir", "{out}", "--val_frac", "0.7",
      "--test_frac", "0.5"], "--val_frac"),
    (["--operation", "resize", "--input_dir", "{photos}", "--output_dir", "{out}", "--val_frac", "0.1"],
     "--val_frac"),
    (["--operation", "resize", "--input_dir", "{photos}", "--output_dir", "{out}", "--no_such_flag"],
     "no_such_flag"),
    (["--operation", "resize", "--input_dir", "{photos}", "--output_dir", "{out}", "--workers", "-1"],
     "--workers"),
])
def test_bad_flags_fail_with_one_line_naming_the_flag(photos, tmp_path, args, flag):
    out = tmp_path / "out"
    before = tree_hashes(photos)
    result = run_prep(*[arg.format(photos=photos, out=out) for arg in args])
    assert_clean_failure(result)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and flag in lines[0], result.stderr
    assert not out.exists()
    assert tree_hashes(photos) == before


def test_jpeg_output_format_and_quality(photos, tmp_path):
    sizes = {}
    for quality in (30, 95):
        out = tmp_path / ("q%d" % quality)
        result = run_prep("--operation", "resize", "--input_dir", photos, "--output_dir", out, "--size", 64,
                            "--format", "jpg", "--quality", quality)
        assert_success(result)
        assert sorted(os.listdir(out)) == ["square.jpg", "tall.jpg", "wide.jpg"]
        assert cv2.imread(str(out / "wide.jpg")).shape == (64, 64, 3)
        sizes[quality] = sum(os.path.getsize(out / name) for name in os.listdir(out))
    assert sizes[30] < sizes[95]


def test_help_lists_the_flags():
    result = run_prep("--helpshort")
    assert result.returncode == 0 and "Traceback" not in result.stderr
    for flag in ("--operation", "--input_dir", "--crops_per_image", "--val_frac", "--b_dir"):
        assert flag in result.stdout


def test_colorize_val_region_holds_out_the_same_end_of_every_photo(tmp_path):
    """Training crops come only from the kept part of each photo, val crops only from its held-out
    end (right of a landscape photo, bottom of a portrait one), at the same scale."""
    photos = tmp_path / "photos"
    photos.mkdir()
    landscape = np.zeros((40, 60, 3), np.uint8)
    landscape[:, :42] = (0, 200, 0)   # kept: green
    landscape[:, 42:] = (200, 0, 0)   # the last 0.3 of the width (18 columns): red
    portrait = np.transpose(landscape, (1, 0, 2)).copy()  # bottom 18 rows red
    write_image(str(photos / "wide.png"), landscape)
    write_image(str(photos / "tall.png"), portrait)
    out = tmp_path / "out"
    result = run_prep("--operation", "colorize", "--singles", "--input_dir", photos, "--output_dir", out,
                        "--size", 8, "--crops_per_image", 7, "--val_region", 0.3)
    assert_success(result)
    assert sorted(os.listdir(out)) == ["train", "val"]
    for name in ("wide", "tall"):
        train = [read_rgb(out / "train" / ("%s_c%d.png" % (name, k)), exact=True) for k in range(7)]
        val = [read_rgb(out / "val" / ("%s_v%d.png" % (name, k)), exact=True) for k in range(3)]  # 7 * 0.3 / 0.7
        assert all((crop == (0, 200, 0)).all() for crop in train)
        assert all((crop == (200, 0, 0)).all() for crop in val)
    assert len(os.listdir(out / "val")) == 6 and len(os.listdir(out / "train")) == 14

    for flags, message in (([], "--val_region needs --crops_per_image"),
                           (["--crops_per_image", 2, "--val_frac", 0.2], "cannot be combined with --val_frac"),
                           (["--crops_per_image", 2, "--val_region", 0.6], r"must be in \(0, 0.5\]")):
        args = ["--val_region", 0.3] + flags if "--val_region" not in flags else flags
        result = run_prep("--operation", "colorize", "--input_dir", photos, "--output_dir", tmp_path / "bad",
                            "--size", 8, *args)
        assert result.returncode != 0 and re.search(message, result.stderr), result.stderr
        assert not (tmp_path / "bad").exists()
