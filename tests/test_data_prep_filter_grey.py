"""filter_grey, and colorize's --min_colourfulness / --min_hue_spread, on real photos through the CLI.

The photos are scikit-image's samples, reduced to about 120 pixels: chelsea (a colour photo), camera
(a grey photo stored as RGB) and astronaut toned with the standard sepia matrix.
"""

import math
import os
import re

import cv2
import numpy as np
import pytest

from helpers import read_rgb, run_cli, write_image
from data_prep import colour_filter, ops
from pix2pix.io import images as image_io

skimage_data = pytest.importorskip("skimage.data")

SEPIA_MATRIX = np.array([[0.393, 0.769, 0.189], [0.349, 0.686, 0.168], [0.272, 0.534, 0.131]])
LEFT_OUT_LINE = re.compile(r"^pix2pix-prep: left out (\S+): (grey|toned): (.*)$")


def small(image, width=120):
    height = int(round(image.shape[0] * width / image.shape[1]))
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)


def sepia(image):
    return np.clip(image.astype(np.float64) @ SEPIA_MATRIX.T, 0, 255).round().astype(np.uint8)


@pytest.fixture
def photos(tmp_path):
    """colour.png, grey.png (camera as three equal channels) and sepia.jpg (a toned photo saved as JPEG)."""
    folder = tmp_path / "photos"
    folder.mkdir()
    write_image(folder / "colour.png", small(skimage_data.chelsea()))
    camera = small(skimage_data.camera())
    write_image(folder / "grey.png", np.dstack([camera, camera, camera]))
    write_image(folder / "sepia.jpg", sepia(small(skimage_data.astronaut())))
    return folder


def left_out_lines(stderr):
    """{file name: (kind, rest of the line)} of the report's 'left out' lines."""
    found = {}
    for line in stderr.splitlines():
        match = LEFT_OUT_LINE.match(line)
        if match:
            found[os.path.basename(match.group(1))] = (match.group(2), match.group(3))
    return found


def figures_of(path):
    return colour_filter.colour_figures(image_io.read_image(str(path)))


def test_filter_grey_copies_colour_photos_and_names_the_grey_and_toned_ones(photos, tmp_path):
    out = tmp_path / "out"
    result = run_cli("--operation", "filter_grey", "--input_dir", photos, "--output_dir", out, module="data_prep")
    assert "Traceback" not in result.stderr
    assert "pix2pix-prep: filter_grey: copied 1, skipped 0, failed 0, left out 2" in result.stdout
    assert sorted(os.listdir(out)) == ["colour.png"]
    assert (out / "colour.png").read_bytes() == (photos / "colour.png").read_bytes()  # a copy, not a re-encode

    lines = left_out_lines(result.stderr)
    assert sorted(lines) == ["grey.png", "sepia.jpg"], result.stderr
    grey_kind, grey_text = lines["grey.png"]
    assert grey_kind == "grey" and "colourfulness 0.0 < 5 (--min_colourfulness)" in grey_text
    sepia_kind, sepia_text = lines["sepia.jpg"]
    assert sepia_kind == "toned" and "< 10 (--min_hue_spread)" in sepia_text
    # the figures in the report are the photo's own
    sepia_figures = figures_of(photos / "sepia.jpg")
    assert "hue spread %.1f deg" % sepia_figures.hue_spread in sepia_text
    assert "colourfulness %.1f" % sepia_figures.colourfulness in sepia_text
    assert sepia_figures.colourfulness > 5  # sepia is not grey: only the hue spread catches it
    colour_figures = figures_of(photos / "colour.png")
    assert colour_figures.colourfulness > 5 and colour_figures.hue_spread > 10

    again = run_cli("--operation", "filter_grey", "--input_dir", photos, "--output_dir", out, module="data_prep")
    assert "copied 0, skipped 1, failed 0, left out 2" in again.stdout


def test_thresholds_are_flags_and_zero_switches_a_test_off(photos, tmp_path):
    keep_toned = run_cli("--operation", "filter_grey", "--input_dir", photos, "--output_dir", tmp_path / "a",
                         "--min_hue_spread", 0, module="data_prep")
    assert "copied 2, skipped 0, failed 0, left out 1" in keep_toned.stdout
    assert sorted(os.listdir(tmp_path / "a")) == ["colour.png", "sepia.jpg"]
    keep_all = run_cli("--operation", "filter_grey", "--input_dir", photos, "--output_dir", tmp_path / "b",
                       "--min_colourfulness", 0, "--min_hue_spread", 0, "--workers", 2, module="data_prep")
    assert "copied 3, skipped 0, failed 0, left out 0" in keep_all.stdout
    strict = run_cli("--operation", "filter_grey", "--input_dir", photos, "--output_dir", tmp_path / "c",
                     "--min_colourfulness", 1000, module="data_prep")
    assert "copied 0, skipped 0, failed 0, left out 3" in strict.stdout
    assert os.listdir(tmp_path / "c") == []


def test_colorize_with_the_flags_leaves_out_grey_and_toned_photos(photos, tmp_path):
    out = tmp_path / "pairs"
    result = run_cli("--operation", "colorize", "--input_dir", photos, "--output_dir", out, "--size", 32,
                     "--min_colourfulness", colour_filter.DEFAULT_MIN_COLOURFULNESS,
                     "--min_hue_spread", colour_filter.DEFAULT_MIN_HUE_SPREAD, module="data_prep")
    assert "pix2pix-prep: colorize: written 1, skipped 0, failed 0, left out 2" in result.stdout
    assert sorted(os.listdir(out)) == ["colour.png"]
    assert sorted(left_out_lines(result.stderr)) == ["grey.png", "sepia.jpg"]


def test_colorize_without_the_flags_is_unchanged(photos, tmp_path):
    out = tmp_path / "pairs"
    result = run_cli("--operation", "colorize", "--input_dir", photos, "--output_dir", out, "--size", 32,
                     module="data_prep")
    assert re.match(r"^pix2pix-prep: colorize: written 3, skipped 0, failed 0 \(\d+\.\d s\)$", result.stdout.strip())
    assert "left out" not in result.stderr
    assert sorted(os.listdir(out)) == ["colour.png", "grey.png", "sepia.png"]
    for name in ("colour.png", "grey.png", "sepia.jpg"):
        expected = ops.colorize_pair(image_io.read_image(str(photos / name)), 32)
        assert np.array_equal(read_rgb(out / (os.path.splitext(name)[0] + ".png")), expected)


@pytest.mark.parametrize("args, words", [
    (["--operation", "filter_grey", "--min_hue_spread", "-1"], "--min_hue_spread must be a number >= 0"),
    (["--operation", "resize", "--min_colourfulness", "3"], "--min_colourfulness does not apply to --operation resize"),
    (["--operation", "filter_grey", "--format", "jpg"], "--format does not apply to --operation filter_grey"),
])
def test_bad_filter_flags_fail_with_one_line(photos, tmp_path, args, words):
    out = tmp_path / "out"
    result = run_cli(*args, "--input_dir", photos, "--output_dir", out, module="data_prep", check=False)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("pix2pix-prep: error: " + words), result.stderr
    assert not out.exists()


def test_hue_spread_is_the_circular_standard_deviation_of_lab_hue():
    scipy_stats = pytest.importorskip("scipy.stats")
    image = small(skimage_data.astronaut())
    hue, chroma = colour_filter.lab_hue_and_chroma(image)
    counted = (chroma > colour_filter.MIN_CHROMA) & (image.reshape(-1, 3).max(axis=1) < colour_filter.CLIPPED_LEVEL)
    figures = colour_filter.colour_figures(image)
    assert figures.hue_spread == pytest.approx(math.degrees(scipy_stats.circstd(hue[counted])), rel=1e-9)
    assert figures.hue_fraction == pytest.approx(counted.mean())
    # two hues 2*theta apart: R = cos(theta)
    theta = math.radians(20)
    assert colour_filter.circular_std_degrees(np.array([theta, -theta])) == pytest.approx(
        math.degrees(math.sqrt(-2 * math.log(math.cos(theta)))))
    assert colour_filter.circular_std_degrees(np.array([])) == 0.0


def test_figures_of_grey_sepia_and_colour():
    grey = np.dstack([small(skimage_data.camera())] * 3)
    assert colour_filter.colour_figures(grey) == colour_filter.ColourFigures(0.0, 0.0, 0.0)
    colour = colour_filter.colour_figures(small(skimage_data.coffee()))
    toned = colour_filter.colour_figures(sepia(small(skimage_data.coffee())))
    assert toned.hue_spread < colour_filter.DEFAULT_MIN_HUE_SPREAD < colour.hue_spread
    assert toned.colourfulness > colour_filter.DEFAULT_MIN_COLOURFULNESS
    # a big photo is measured on a reduction of at most ANALYSIS_PIXELS: nearly the same figures
    big = cv2.resize(skimage_data.coffee(), (1800, 1200), interpolation=cv2.INTER_CUBIC)
    assert colour_filter.reduce_for_analysis(big).size <= 3 * colour_filter.ANALYSIS_PIXELS * 1.01
    assert colour_filter.colour_figures(big).colourfulness == pytest.approx(
        colour_filter.colour_figures(skimage_data.coffee()).colourfulness, rel=0.05)
