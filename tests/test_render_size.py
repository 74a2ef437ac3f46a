"""--render_size (infer, export): the generator sees the photo at its own aspect ratio."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

from helpers import make_run, read_rgb, run_cli, smooth_photo, write_image
from pix2pix.data import color
from pix2pix.errors import Pix2PixError
from pix2pix.inference.translator import load_translator, padded_shape, render_shape
from pix2pix.data.imaging import resize
from pix2pix.modes.infer import infer_mode
from pix2pix.reporting.metrics import srgb_to_lab
from pix2pix.modes.preparation import prepare
from pix2pix.options.record import Options

# Its module-scoped fixtures are built once: all its tests run on one xdist worker (pytest.ini).
pytestmark = pytest.mark.xdist_group("render_size")


def translator_for(run, **flags):
    options = prepare(Options(mode="infer", checkpoint=str(run), output_dir="unused", deterministic=True,
                              **flags))
    return load_translator(options)


def recording(translator):
    """Note the shape of every input the generator is given (the real generator still runs)."""
    seen, generate = [], translator._keras_generator

    def noting(inputs, training):
        seen.append(tuple(inputs.shape))
        return generate(inputs, training)

    translator._keras_generator = noting
    return seen


@pytest.fixture(scope="module")
def lab_run(served_models):
    """conftest's untrained Lab colorization run (crop 32, ngf = ndf = 8), made once for the test run and
    read (never written) by the tests here rather than made again by each."""
    return served_models[0]


@pytest.fixture(scope="module")
def lab256(tmp_path_factory):
    # An untrained Lab model at --crop_size 256 (U-Net depth 8, sides multiples of 256), ngf 8.
    return make_run(tmp_path_factory.mktemp("lab256") / "run", crop_size=256, lab_colorization=True)


def test_geometry():
    assert render_shape(360, 640, 256) == (256, 455)
    assert render_shape(640, 360, 256) == (455, 256)
    assert render_shape(300, 300, 64) == (64, 64)
    assert padded_shape(360, 640, 256, 256) == (256, 512)
    assert padded_shape(300, 451, 64, 64) == (64, 128)


def test_a_640x360_photo_reaches_the_generator_256x455_padded_to_512_and_comes_back(lab256):
    translator = translator_for(lab256, render_size=256)
    seen = recording(translator)
    rgb = smooth_photo(np.random.default_rng(3), 360, 640)
    picture = translator.translate(tf.image.convert_image_dtype(rgb, tf.float32)).numpy()
    assert seen == [(1, 256, 512, 1)]  # not squashed to 256x256
    assert picture.shape == (360, 640, 3)
    output = np.round(np.clip(picture, 0, 1) * 255).astype(np.uint8)
    lightness_change = np.abs(srgb_to_lab(output)[..., 0] - srgb_to_lab(rgb)[..., 0])
    assert lightness_change.mean() < 1.0
    # the same model without the flag: today's square
    square = translator_for(lab256)
    seen = recording(square)
    square.translate(tf.image.convert_image_dtype(rgb, tf.float32))
    assert seen == [(1, 256, 256, 1)]


def test_the_colour_is_the_generator_on_the_padded_resized_photo_cropped(tmp_path, lab_run):
    run = lab_run  # crop 32: multiples of 32
    translator = translator_for(run, render_size=40)
    rgb = smooth_photo(np.random.default_rng(4), 45, 70)  # -> 40 x 62, padded to 64 x 64
    colour = translator.frame_colour(tf.constant(rgb))["colour"].numpy()
    assert colour.shape == (40, 62, 2)
    # by hand: L of the photo, resized, reflection-padded (0 + 0 rows, 1 + 1 columns), generator, crop
    _, lightness = color.luminance_and_lightness(tf.image.convert_image_dtype(rgb, tf.float32))
    inputs = resize(lightness / 50.0 - 1.0, 40, 62)
    padded = tf.pad(inputs, [[12, 12], [1, 1], [0, 0]], mode="REFLECT")
    assert padded.shape[:2] == (64, 64)
    by_hand = translator._keras_generator(padded[tf.newaxis], False)[0][12:52, 1:63].numpy()
    np.testing.assert_allclose(colour, by_hand, atol=1e-5)
    # and not the same as ignoring the padding's place (a check that can fail)
    shifted = translator._keras_generator(padded[tf.newaxis], False)[0][:40, :62].numpy()
    assert np.abs(colour - shifted).mean() > 1e-3


def test_pair_models_come_back_at_the_input_size(untrained_pairs):
    run = untrained_pairs  # conftest's untrained pair run (crop 32), read only
    translator = translator_for(run, render_size=32)
    seen = recording(translator)
    rgb = smooth_photo(np.random.default_rng(5), 30, 50)
    picture = translator.translate(tf.image.convert_image_dtype(rgb, tf.float32))
    assert seen == [(1, 32, 64, 3)] and picture.shape == (30, 50, 3)


def test_export_fixes_render_size_and_infer_matches_the_training_dir(tmp_path, lab_run, rendered_lab_export):
    run = lab_run
    photos = tmp_path / "photos"
    photos.mkdir()
    write_image(photos / "wide.png", smooth_photo(np.random.default_rng(6), 36, 90))
    # conftest's rendered_lab_export: lab_run exported with --render_size 32 (dropout off), shared with test_video.
    exported = str(rendered_lab_export)
    with open(os.path.join(exported, "assets", "options.json")) as f:
        stored = json.load(f)
    assert stored["render_size"] == 32 and stored["deterministic"] is True
    common = dict(mode="infer", input_dir=str(photos), deterministic=True)
    infer_mode(Options(checkpoint=exported, output_dir=str(tmp_path / "a"), **common))
    infer_mode(Options(checkpoint=str(run), output_dir=str(tmp_path / "b"), render_size=32, **common))
    a, b = read_rgb(tmp_path / "a" / "wide.png"), read_rgb(tmp_path / "b" / "wide.png")
    assert a.shape == (36, 90, 3)
    assert np.abs(a.astype(int) - b.astype(int)).max() <= 1
    infer_mode(Options(checkpoint=str(run), output_dir=str(tmp_path / "c"), **common))  # square
    assert np.abs(read_rgb(tmp_path / "c" / "wide.png").astype(int) - a).mean() > 0.5
    with pytest.raises(Pix2PixError, match="--render_size: the SavedModel .* was exported with render_size=32"):
        infer_mode(Options(checkpoint=exported, output_dir=str(tmp_path / "d"), render_size=64, **common))


def test_errors_name_the_flag_and_the_photo(tmp_path, lab_run):
    run = lab_run
    with pytest.raises(Pix2PixError, match=r"--render_size: must be >= 32 .*got 16"):
        prepare(Options(mode="infer", checkpoint=str(run), output_dir="x", render_size=16))
    with pytest.raises(Pix2PixError, match="--render_size: must be 0"):
        prepare(Options(mode="export", checkpoint=str(run), output_dir="x", render_size=-1))
    photos = tmp_path / "photos"
    photos.mkdir()
    write_image(photos / "long.png", smooth_photo(np.random.default_rng(7), 40, 400))
    result = run_cli("--mode", "infer", "--checkpoint", run, "--input_dir", photos, "--output_dir",
                     tmp_path / "out", "--render_size", 64, "--max_render_pixels", 20000, check=False)
    assert result.returncode == 1
    assert "long.png: 400x40 at --render_size 64 gives the generator 640x64 = 40,960 pixels, over the " \
           "limit of 20,000 (--max_render_pixels)" in result.stderr
    assert "Traceback" not in result.stderr
