"""--preprocess (the PyTorch pix2pix's modes): training at the photos' own resolution and shape."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

from helpers import REPO, TINY, read_rgb, run_cli, run_mode, run_script, smooth_photo, write_image
from pix2pix.data import color
from pix2pix.data.pipeline import load_example, paired_dataset
from pix2pix.errors import Pix2PixError
from pix2pix.inference.translator import load_translator
from pix2pix.models.networks import side_multiple
from pix2pix.modes.preparation import prepare
from pix2pix.options.record import Options

SEED = tf.constant([7, 0], tf.int64)


def options_for(input_dir, preprocess, mode="train", **fields):
    fields = {"crop_size": 32, "scale_size": 36, "ngf": 8, "ndf": 8, **fields}
    return Options(mode=mode, input_dir=str(input_dir), output_dir="unused", preprocess=preprocess,
                   **fields).validate()


def example(path, preprocess, index=0, training=True, **fields):
    options = options_for(os.path.dirname(path), preprocess, "train" if training else "test", **fields)
    element = load_example(tf.constant(str(path)), tf.constant(index, tf.int64), SEED, options, training,
                           side_multiple(options))
    return {k: v.numpy() for k, v in element.items()}


@pytest.fixture
def inverted_pair(tmp_path):
    """One 48x160 A|B file: A a 48x80 photo, B = 255 - A (so B = -A in network values)."""
    a = np.random.default_rng(2).integers(0, 256, (48, 80, 3), dtype=np.uint8)
    return write_image(tmp_path / "1.png", np.concatenate([a, 255 - a], axis=1)), a


@pytest.fixture
def colour_photo(tmp_path):
    """One 48x80 colour photo (PNG: exact pixels)."""
    rgb = smooth_photo(np.random.default_rng(5), 48, 80)
    return write_image(tmp_path / "photo.png", rgb), rgb


@pytest.mark.parametrize("preprocess, training, shape, size", [
    ("resize_and_crop", True, (32, 32), (32, 32)),
    ("resize_and_crop", False, (32, 32), (32, 32)),
    ("crop", True, (32, 32), (32, 32)),
    ("crop", False, (32, 32), (32, 32)),  # test: the centre crop
    ("scale_width_and_crop", True, (32, 32), (32, 32)),
    # 48x80 at width 36: height 36 * 48 // 80 = 21, at least crop_size 32; padded to 32 x 64
    ("scale_width", True, (32, 64), (32, 36)),
    ("none", True, (64, 96), (48, 80)),  # 48x80 padded up to multiples of 32 (U-Net depth 5)
    ("none", False, (64, 96), (48, 80)),
])
def test_each_mode_gives_its_shape(colour_photo, preprocess, training, shape, size):
    path, _ = colour_photo
    got = example(path, preprocess, training=training, task="lab")
    assert got["inputs"].shape == shape + (1,)
    assert got["targets"].shape == shape + (2,)
    assert tuple(got["sizes"]) == size


def window_of(picture, crop):
    """(row, column, flipped) where CROP [32, 32, C] sits in PICTURE, or None."""
    for flipped in (False, True):
        source = picture[:, ::-1] if flipped else picture
        for row in range(source.shape[0] - crop.shape[0] + 1):
            for column in range(source.shape[1] - crop.shape[1] + 1):
                window = source[row:row + crop.shape[0], column:column + crop.shape[1]]
                if np.allclose(window, crop, atol=1e-6):
                    return row, column, flipped
    return None


def test_both_halves_of_a_pair_get_the_same_crop_and_flip(inverted_pair):
    path, a = inverted_pair
    a_network = a.astype(np.float32) / 255 * 2 - 1
    places = set()
    for index in range(12):
        got = example(path, "crop", index=index)
        np.testing.assert_allclose(got["targets"], -got["inputs"], atol=1e-6)  # B = -A, pixel for pixel
        place = window_of(a_network, got["inputs"])
        assert place is not None, f"example {index} is no window of A at its own resolution"
        places.add(place)
    assert len({p[:2] for p in places}) > 6 and {p[2] for p in places} == {False, True}


@pytest.mark.parametrize("preprocess", ["scale_width_and_crop", "scale_width", "none"])
def test_the_other_modes_keep_the_pair_together(inverted_pair, preprocess):
    path, _ = inverted_pair
    for index in range(4):
        got = example(path, preprocess, index=index)
        np.testing.assert_allclose(got["targets"], -got["inputs"], atol=1e-5)


def test_colorization_is_cropped_once_from_the_photo(colour_photo):
    path, rgb = colour_photo
    lab = color.lab_to_network(color.rgb_to_lab(tf.constant(rgb.astype(np.float32) / 255)))
    lightness, ab = (side.numpy() for side in lab)
    for index in range(4):
        got = example(path, "crop", index=index, task="lab")
        row, column, flipped = window_of(lightness, got["inputs"])
        expected_ab = (ab[:, ::-1] if flipped else ab)[row:row + 32, column:column + 32]
        np.testing.assert_allclose(got["targets"], expected_ab, atol=1e-5)


def test_scale_width_keeps_the_aspect_ratio(tmp_path):
    path = write_image(tmp_path / "wide.png", smooth_photo(np.random.default_rng(1), 60, 120))
    got = example(path, "scale_width", training=False, task="lab", scale_size=64)
    assert tuple(got["sizes"]) == (32, 64)  # 60x120 -> 32x64: 1:2 as the photo
    assert got["inputs"].shape == (32, 64, 1)  # already multiples of 32: no padding
    tall = write_image(tmp_path / "tall.png", smooth_photo(np.random.default_rng(1), 120, 50))
    got = example(tall, "scale_width", training=False, task="lab", scale_size=40)
    assert tuple(got["sizes"]) == (96, 40) and got["inputs"].shape == (96, 64, 1)


def test_a_photo_smaller_than_the_crop_is_mirrored_not_refused(tmp_path):
    rgb = smooth_photo(np.random.default_rng(3), 20, 12)
    path = write_image(tmp_path / "small.png", rgb)
    got = example(path, "crop", task="rgb", flip=False)
    assert got["targets"].shape == (32, 32, 3)
    picture = (got["targets"] + 1) / 2 * 255
    # the photo sits whole inside the mirrored square
    rows = [np.allclose(picture[r:r + 20, c:c + 12], rgb, atol=1e-3) for r in range(13) for c in range(21)]
    assert any(rows)


def test_a_resumed_stream_is_the_uninterrupted_one(tmp_path, colour_photo):
    options = options_for(os.path.dirname(colour_photo[0]), "crop", task="lab", batch_size=1)
    whole = [b["inputs"].numpy() for b in paired_dataset(options, True, seed=3).dataset.take(5)]
    resumed = [b["inputs"].numpy() for b in paired_dataset(options, True, seed=3, start=2).dataset.take(3)]
    for a, b in zip(whole[2:], resumed):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(whole[0], whole[1])  # different crops per example


def test_validation(tmp_path):
    with pytest.raises(Pix2PixError, match="--batch_size: must be 1 with --preprocess none"):
        options_for(tmp_path, "none", batch_size=4)
    with pytest.raises(Pix2PixError, match="--preprocess: must be one of"):
        options_for(tmp_path, "squash")
    with pytest.raises(Pix2PixError, match="--scale_size: must be >= --crop_size"):
        options_for(tmp_path, "scale_width_and_crop", scale_size=16)
    assert options_for(tmp_path, "crop", scale_size=16, batch_size=4).scale_size == 16  # unused by crop


def test_load_size_is_scale_size_by_another_name(tmp_path):
    result = run_cli("--mode", "train", "--input_dir", tmp_path, "--output_dir", tmp_path / "out",
                     "--load_size", "40", "--scale_size", "36", check=False, timeout=120)
    assert result.returncode == 2  # a usage error
    assert "pix2pix: error: --load_size: is --scale_size by another name" in result.stderr


def test_a_non_square_run_trains_resumes_tests_and_exports(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    rng = np.random.default_rng(8)
    for i in range(3):
        write_image(photos / f"{i}.png", smooth_photo(rng, 48, 80))
    train = ["--input_dir", photos, "--lab_colorization", "--preprocess", "crop", "--seed", "4",
             "--progress_freq", "1", "--summary_freq", "0", *TINY]
    run_cli("--mode", "train", "--output_dir", tmp_path / "run", "--max_steps", "2", *train, timeout=300)
    with open(tmp_path / "run" / "options.json") as f:
        assert json.load(f)["preprocess"] == "crop"
    resumed = run_cli("--mode", "train", "--output_dir", tmp_path / "run", "--checkpoint", tmp_path / "run",
                      "--max_steps", "4", *train, timeout=300)
    # on from the saved step 2 to step 4, and the loss history runs on from step 2
    assert "at step 2" in resumed.stdout and "done: step 4" in resumed.stdout
    steps = [row.split(",")[0] for row in (tmp_path / "run" / "losses.csv").read_text().splitlines()[1:]]
    assert steps == ["1", "2", "3", "4"]

    # Test follows the training: crops at the photo's resolution -> whole photos at their own shape.
    tested = run_cli("--mode", "test", "--input_dir", photos, "--output_dir", tmp_path / "test",
                     "--checkpoint", tmp_path / "run", timeout=300)
    for i in range(3):
        for kind in ("inputs", "outputs", "targets"):
            assert read_rgb(tmp_path / "test" / "images" / f"{i}-{kind}.png").shape == (48, 80, 3)
    with open(tmp_path / "test" / "options.json") as f:
        assert json.load(f)["preprocess"] == "none"
    with open(tmp_path / "test" / "metrics.json") as f:
        metrics = json.dumps(json.load(f)).lower()
    assert "psnr" in metrics and "delta_e2000" in metrics
    assert "test [" in tested.stderr and "] 3/3 images" in tested.stderr and "evaluated image" not in tested.stdout

    exported = run_cli("--mode", "export", "--output_dir", tmp_path / "export", "--checkpoint", tmp_path / "run",
                       "--deterministic", timeout=300)
    assert "generator at the photo's shape (--preprocess none)" in exported.stdout
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    write_image(inbox / "wide.png", smooth_photo(rng, 50, 90))
    # In process (helpers.run_mode): the export's command line is what is tested, not infer's.
    run_mode(mode="infer", checkpoint=tmp_path / "export", input_dir=inbox, output_dir=tmp_path / "out")
    outputs = [name for name in os.listdir(tmp_path / "out") if name.startswith("wide")]
    assert len(outputs) == 1 and read_rgb(tmp_path / "out" / outputs[0]).shape == (50, 90, 3)

    # What the generator is given: the 50x90 photo itself, padded to 64x96 (not squashed to 32x32).
    options = prepare(Options(mode="infer", checkpoint=str(tmp_path / "run"), output_dir="unused",
                              deterministic=True))
    assert options.preprocess == "none"
    translator = load_translator(options)
    seen, generate = [], translator._keras_generator
    translator._keras_generator = lambda inputs, training: (seen.append(tuple(inputs.shape)),
                                                            generate(inputs, training))[1]
    picture = translator.translate(tf.fill([50, 90, 3], 0.5))
    assert seen == [(1, 64, 96, 1)] and tuple(picture.shape) == (50, 90, 3)


def test_the_large_photo_benchmark_prints_its_table():
    # Forked from the CLI fork server (helpers.run_script): the script's start-up is not what is tested.
    result = run_script(os.path.join(REPO, "benchmarks", "large_photos.py"), "--images", "2", "--width", "120",
                        "--height", "90", "--size", "32", "--scale_size", "36", "--rounds", "1",
                        "--batches", "2", "--warmup_batches", "1", timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    rows = {line.split()[1]: line for line in result.stdout.splitlines() if line.startswith("--preprocess ")}
    assert set(rows) == {"resize_and_crop", "crop"} and "decoding alone" in result.stdout


@pytest.mark.parametrize("trained, scale_size, given, expected", [
    ("crop", 36, None, ("none", 36)),
    ("scale_width_and_crop", 48, None, ("scale_width", 48)),
    ("resize_and_crop", 36, None, ("resize_and_crop", 32)),  # the reference's test: resized to crop_size
    ("resize_and_crop", 36, "none", ("none", 36)),  # the whole photo at its own shape, on request
    ("crop", 36, "crop", ("crop", 36)),  # the centre crop, on request
])
def test_test_mode_follows_the_training(tmp_path, trained, scale_size, given, expected):
    stored = dict(Options(task="lab", crop_size=32, scale_size=scale_size, preprocess=trained).to_dict())
    (tmp_path / "options.json").write_text(json.dumps(stored))
    explicit = {"preprocess": given} if given else {}
    options = prepare(Options(mode="test", checkpoint=str(tmp_path), output_dir="unused", **explicit),
                      explicit=set(explicit))
    assert (options.preprocess, options.scale_size) == expected and options.task == "lab"
