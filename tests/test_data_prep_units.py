"""In-process tests of data_prep's building blocks (ops, reading/writing, split rules, edges)."""

import os
import pathlib
import random

import cv2
import numpy as np
import pytest

from helpers import bomb_png_bytes, exif_jpeg, palette_png_bytes, read_rgb, synthetic_photo, write_image

import data_prep
from data_prep import edges, ops, split
from pix2pix.io import images as image_io


# --- ops ---------------------------------------------------------------------

def test_grayscale_has_three_equal_channels_with_opencv_luma():
    image = synthetic_photo(48, 64, seed=1)
    grey = data_prep.to_grayscale(image)
    assert grey.shape == image.shape and grey.dtype == np.uint8
    assert np.array_equal(grey[..., 0], grey[..., 1]) and np.array_equal(grey[..., 1], grey[..., 2])
    expected = cv2.cvtColor(cv2.cvtColor(image, cv2.COLOR_RGB2BGR), cv2.COLOR_BGR2GRAY)
    assert np.array_equal(grey[..., 0], expected)


def test_resize_centre_crops_then_uses_area_when_shrinking():
    image = synthetic_photo(48, 64, seed=2)
    result = data_prep.resize_square(image, 24)
    expected = cv2.resize(image[:, 8:56], (24, 24), interpolation=cv2.INTER_AREA)
    assert np.array_equal(result, expected)


def test_resize_uses_bicubic_when_enlarging_and_copies_at_same_size():
    image = synthetic_photo(20, 30, seed=3)
    assert np.array_equal(data_prep.resize_square(image, 40),
                          cv2.resize(image[:, 5:25], (40, 40), interpolation=cv2.INTER_CUBIC))
    square = image[:, :20].copy()
    same = data_prep.resize_square(square, 20)
    assert np.array_equal(same, square) and same is not square


def test_resize_pad_centres_image_on_black():
    image = np.full((20, 40, 3), 200, np.uint8)
    padded = data_prep.resize_square(image, 40, pad=True)
    assert padded.shape == (40, 40, 3)
    assert (padded[:10] == 0).all() and (padded[30:] == 0).all()
    assert (padded[10:30] == 200).all()


def test_blank_square_matches_reference_geometry():
    assert ops.blank_square_box(256, 256) == (90, 90, 76)  # side int(0.3*256), offset int(128-38)
    assert ops.blank_square_box(255, 255) == (89, 89, 76)
    image = synthetic_photo(40, 60, seed=4)
    top, left, side = ops.blank_square_box(40, 60)
    assert side == 12 and (top, left) == (14, 24)  # centred in both directions
    blanked = data_prep.blank_center(image)
    assert (blanked[top:top + side, left:left + side] == 255).all()
    outside = np.ones((40, 60), bool)
    outside[top:top + side, left:left + side] = False
    assert np.array_equal(blanked[outside], image[outside])


def test_combine_puts_a_left_and_refuses_size_mismatch():
    a, b = synthetic_photo(10, 12, seed=5), synthetic_photo(10, 12, seed=6)
    ab = data_prep.combine_ab(a, b)
    assert np.array_equal(ab[:, :12], a) and np.array_equal(ab[:, 12:], b)
    with pytest.raises(ValueError, match="sizes must match"):
        data_prep.combine_ab(a, b[:, :11])


def test_colorize_pair_left_is_luma_of_right():
    pair = data_prep.colorize_pair(synthetic_photo(48, 64, seed=7), 32)
    assert pair.shape == (32, 64, 3)
    assert np.array_equal(pair[:, :32], data_prep.to_grayscale(pair[:, 32:]))


def test_random_crops_are_in_bounds_in_range_and_seeded_by_name():
    boxes = ops.random_square_boxes(300, 400, 200, data_prep.crop_rng(0, "a.jpg"))
    sides = [side for _, _, side in boxes]
    assert min(sides) >= 150 and max(sides) <= 300
    assert max(sides) - min(sides) > 100  # really spread over [0.5, 1.0] * 300
    for top, left, side in boxes:
        assert 0 <= top <= 300 - side and 0 <= left <= 400 - side
    again = ops.random_square_boxes(300, 400, 200, data_prep.crop_rng(0, "a.jpg"))
    other_name = ops.random_square_boxes(300, 400, 200, data_prep.crop_rng(0, "b.jpg"))
    other_seed = ops.random_square_boxes(300, 400, 200, data_prep.crop_rng(1, "a.jpg"))
    assert boxes == again and boxes != other_name and boxes != other_seed
    crops = data_prep.random_square_crops(synthetic_photo(30, 40), 3, 16, data_prep.crop_rng(0, "x"))
    assert [crop.shape for crop in crops] == [(16, 16, 3)] * 3


# --- edges ---------------------------------------------------------------------

def test_thinning_reduces_a_thick_bar_to_a_one_pixel_line():
    mask = np.zeros((30, 60), bool)
    mask[10:17, 5:55] = True
    thin = edges.thin(mask)
    assert thin.sum() > 30
    assert (thin.sum(axis=0)[10:50] == 1).all()  # one pixel per column along the bar


def test_small_components_are_removed():
    mask = np.zeros((20, 20), bool)
    mask[2, 2:4] = True      # 2 pixels
    mask[10, 2:18] = True    # 16 pixels
    kept = edges.remove_small_components(mask, 5)
    assert not kept[2].any() and kept[10, 2:18].all()


def test_detect_edges_outlines_a_rectangle():
    image = np.full((64, 64, 3), 230, np.uint8)
    image[16:48, 20:44] = (40, 60, 90)
    drawing = data_prep.detect_edges(image)
    dark = drawing[..., 0] < 128
    assert set(np.unique(drawing)) <= {0, 255}
    assert dark.mean() < 0.15 and dark.sum() > 60
    border = np.zeros((64, 64), bool)
    border[16:48, 20:44] = True
    border = cv2.dilate(border.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    border &= ~(cv2.erode(border.astype(np.uint8), np.ones((9, 9), np.uint8)) > 0)
    assert border[dark].all()  # every line pixel is close to the rectangle's outline


def test_detect_edges_of_a_flat_image_is_blank_white():
    noisy = np.clip(np.random.default_rng(0).normal(128, 3, (64, 64, 3)), 0, 255).astype(np.uint8)
    assert (data_prep.detect_edges(noisy) == 255).all()


# --- split rules ----------------------------------------------------------------

@pytest.mark.parametrize("total, fraction, expected", [(10, 0.8, 8), (100, 0.29, 29), (7, 0.5, 3), (3, 1.0, 3),
                                                       (0, 0.8, 0)])
def test_counts_use_floor_with_tolerance(total, fraction, expected):
    counts = split.subset_counts(total, {"train": fraction}, remainder="val")
    assert counts["train"] == expected and counts["val"] == total - expected and counts["test"] == 0


def test_assignment_is_a_seeded_shuffle_of_sorted_names():
    names = ["f%02d.png" % i for i in range(20)]
    counts = split.subset_counts(20, {"train": 0.6, "test": 0.2}, remainder="val")
    first = split.assign_subsets(reversed(names), counts, seed=3)
    assert first == split.assign_subsets(names, counts, seed=3)  # input order does not matter
    labels = ["train"] * 12 + ["val"] * 4 + ["test"] * 4
    random.Random(3).shuffle(labels)
    assert [first[name] for name in names] == labels
    ordered = split.assign_subsets(names, counts, shuffle=False)
    assert [ordered[name] for name in names] == ["train"] * 12 + ["val"] * 4 + ["test"] * 4


# --- reading ----------------------------------------------------------------------

def test_header_dimensions_for_every_written_format(tmp_path):
    image = synthetic_photo(37, 53)
    for extension in (".png", ".jpg", ".bmp", ".webp", ".tif"):
        path = write_image(str(tmp_path / ("x" + extension)), image)
        data = pathlib.Path(path).read_bytes()
        assert image_io.image_dimensions(data) == (53, 37), extension
        assert data_prep.read_image(path).shape == (37, 53, 3), extension


def test_webp_lossless_header(tmp_path):
    path = str(tmp_path / "lossless.webp")
    cv2.imwrite(path, np.zeros((21, 34, 3), np.uint8), [cv2.IMWRITE_WEBP_QUALITY, 101])
    assert image_io.image_dimensions(pathlib.Path(path).read_bytes()) == (34, 21)


def test_exif_orientation_is_applied(tmp_path):
    image = np.zeros((40, 60, 3), np.uint8)
    image[:10, :20] = (255, 0, 0)  # red block top-left
    path = tmp_path / "rotated.jpg"
    path.write_bytes(exif_jpeg(image, 6))  # 6 = rotate 90 degrees clockwise to display
    upright = data_prep.read_image(str(path))
    assert upright.shape == (60, 40, 3)
    assert upright[2, 35, 0] > 200 and upright[2, 35, 2] < 60  # now top-right
    assert upright[2, 2].max() < 60


def test_sixteen_bit_and_palette_and_grey_and_alpha_become_rgb8(tmp_path):
    values = np.arange(0, 256, dtype=np.uint16).reshape(16, 16)
    deep = np.dstack([values * 257, values * 257, np.full_like(values, 65535)])  # RGB order
    write_image(str(tmp_path / "deep.png"), deep)
    assert cv2.imread(str(tmp_path / "deep.png"), cv2.IMREAD_UNCHANGED).dtype == np.uint16
    read = data_prep.read_image(str(tmp_path / "deep.png"))
    assert read.dtype == np.uint8
    assert np.array_equal(read[..., 0], values.astype(np.uint8)) and (read[..., 2] == 255).all()

    palette = [(255, 0, 0), (0, 128, 0), (10, 20, 30)]
    indices = np.array([[0, 1, 2, 1]] * 20, np.uint8).repeat(5, axis=1)
    (tmp_path / "palette.png").write_bytes(palette_png_bytes(indices, palette))
    read = data_prep.read_image(str(tmp_path / "palette.png"))
    assert read.shape == (20, 20, 3) and tuple(read[0, 0]) == (255, 0, 0) and tuple(read[0, 12]) == (10, 20, 30)

    write_image(str(tmp_path / "grey.png"), np.full((16, 16), 77, np.uint8))
    assert (data_prep.read_image(str(tmp_path / "grey.png")) == 77).all()

    rgba = np.dstack([synthetic_photo(16, 16), np.zeros((16, 16), np.uint8)])
    write_image(str(tmp_path / "rgba.png"), rgba)
    assert np.array_equal(data_prep.read_image(str(tmp_path / "rgba.png")), rgba[..., :3])


def test_sixteen_bit_scaling_rounds_to_nearest():
    samples = np.array([0, 128, 129, 257, 32767, 65534, 65535], np.uint16)
    assert image_io.to_uint8(samples).tolist() == [0, 0, 1, 1, 127, 255, 255]


@pytest.mark.parametrize("content, reason", [
    (b"", "empty file"),
    (b"this is text, not a picture\n", "not a decodable image"),
])
def test_unreadable_bytes_give_one_line_reasons(tmp_path, content, reason):
    path = tmp_path / "bad.png"
    path.write_bytes(content)
    with pytest.raises(data_prep.ImageError, match=reason) as caught:
        data_prep.read_image(str(path))
    assert "\n" not in str(caught.value)


def test_truncated_files_are_recognised(tmp_path):
    image = synthetic_photo(64, 64)
    for extension in (".jpg", ".png"):
        ok, encoded = cv2.imencode(extension, image)
        data = encoded.tobytes()[: len(encoded) * 2 // 3]
        with pytest.raises(data_prep.ImageError, match="truncated"):
            image_io.decode_image(data)


def test_bomb_refused_from_header_before_decoding():
    data = bomb_png_bytes(100_000, 100_000)
    with pytest.raises(data_prep.ImageError, match=r"claims 100000x100000 pixels"):
        image_io.decode_image(data)
    ok, encoded = cv2.imencode(".png", synthetic_photo(48, 64))
    with pytest.raises(data_prep.ImageError, match="max_pixels"):
        image_io.decode_image(encoded.tobytes(), max_pixels=1000)
    with pytest.raises(data_prep.ImageError, match="min_side"):
        image_io.decode_image(encoded.tobytes(), min_side=50)


# --- writing ----------------------------------------------------------------------

def test_write_image_roundtrip_and_no_temporary_left(tmp_path):
    image = synthetic_photo(20, 30)
    data_prep.write_image(str(tmp_path / "out.png"), image)
    assert np.array_equal(read_rgb(tmp_path / "out.png", exact=True), image)
    assert os.listdir(tmp_path) == ["out.png"]
    umask = os.umask(0)
    os.umask(umask)
    # the permissions open() would give, not mkstemp's private 0600
    assert os.stat(tmp_path / "out.png").st_mode & 0o777 == 0o666 & ~umask


def test_interrupted_write_keeps_old_file_and_leaves_no_temporary(tmp_path, monkeypatch):
    target = tmp_path / "out.png"
    data_prep.write_image(str(target), np.zeros((8, 8, 3), np.uint8))
    before = target.read_bytes()

    def crash(_descriptor):
        raise KeyboardInterrupt  # as if the process were interrupted mid-write

    monkeypatch.setattr(os, "fsync", crash)
    with pytest.raises(KeyboardInterrupt):
        data_prep.write_image(str(target), np.full((8, 8, 3), 255, np.uint8))
    assert target.read_bytes() == before
    assert os.listdir(tmp_path) == ["out.png"]


# --- Python API -------------------------------------------------------------------

def test_process_directory_api_returns_a_summary(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    write_image(str(photos / "a.jpg"), synthetic_photo(40, 60))
    (photos / "b.png").write_bytes(b"junk")
    messages = []

    class Collect(data_prep.report.Reporter):
        def file_failed(self, label, reason):
            messages.append((label, reason))

    summary = data_prep.process_directory("colorize", str(photos), str(tmp_path / "out"),
                                          data_prep.Options(size=16), reporter=Collect())
    assert (summary.written, summary.skipped, summary.failed) == (1, 0, 1)
    assert messages == summary.failures == [(str(photos / "b.png"), "not a decodable image")]
    assert summary.line().startswith("pix2pix-prep: colorize: written 1, skipped 0, failed 1")
    assert read_rgb(tmp_path / "out" / "a.png", exact=True).shape == (16, 32, 3)


@pytest.mark.parametrize("options, flag", [
    (dict(size=-1), "--size"), (dict(quality=0), "--quality"), (dict(val_frac=1.5), "--val_frac"),
    (dict(crops_per_image=2, pad=True), "--pad"), (dict(canny_low=10.0), "--canny_high"),
    (dict(image_format="gif"), "--format"),
])
def test_options_validation_names_the_flag(tmp_path, options, flag):
    with pytest.raises(data_prep.UsageError, match=flag):
        data_prep.process_directory("resize", str(tmp_path), str(tmp_path / "out"), data_prep.Options(**options))
    assert not (tmp_path / "out").exists()


@pytest.mark.skipif(edges.caffe_support_problem() is None, reason="this OpenCV can read Caffe models")
def test_hed_with_an_opencv_without_caffe_is_a_clear_usage_error(tmp_path):
    (tmp_path / "hed.prototxt").write_text("")
    (tmp_path / "hed.caffemodel").write_bytes(b"")
    options = data_prep.Options(hed_prototxt=str(tmp_path / "hed.prototxt"),
                                hed_caffemodel=str(tmp_path / "hed.caffemodel"))
    with pytest.raises(data_prep.UsageError, match="--hed_caffemodel: .*Caffe"):
        options.validate()
