"""Export mode: the SavedModel's three signatures, any-size photos, colour at full resolution, errors."""

import base64
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from helpers import cli_env, export_options, make_run, smooth_photo
from pix2pix.data.color import rgb_to_lab
from pix2pix.errors import Pix2PixError
from pix2pix.inference.translator import ImageTranslator, load_translator
from pix2pix.modes.export import export_mode, prepare_export_options
from pix2pix.models.networks import define_generator
from pix2pix.models.checkpoints import restore_generator
from pix2pix.modes.preparation import prepare_test_options
from pix2pix.options.record import Options
from pix2pix.options.stored import save_options

# conftest's exported_pairs (trained_pairs' CLI export, --format tflite) is shared with test_export_tflite.
# Its tests run on one xdist worker (pytest.ini).
pytestmark = pytest.mark.xdist_group("export")

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def encode_jpeg(rgb, quality=95):
    return tf.io.encode_jpeg(rgb, quality=quality).numpy()


def _signature_sections(text):
    """saved_model_cli's `show --all` output -> {signature name: its block of text}."""
    sections = {}
    for block in text.split("signature_def['")[1:]:
        name, _, rest = block.partition("']")
        sections[name] = rest
    return sections


def test_saved_model_cli_lists_the_three_signatures(exported_pairs):
    # The command itself, in a process of its own: importing saved_model_cli here would define its absl
    # flags (--output_dir, ...) in this worker, where the tests that run pix2pix's main() define theirs.
    cli = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
    result = subprocess.run([cli, "show", "--dir", str(exported_pairs), "--all"], capture_output=True,
                            text=True, check=True, env=cli_env(), timeout=300)
    sections = _signature_sections(result.stdout)
    assert {"serving_default", "base64", "tensors"} <= set(sections)
    serving = sections["serving_default"]
    assert "inputs['images']" in serving and "outputs['outputs']" in serving
    assert serving.count("DT_STRING") == 2
    b64 = sections["base64"]
    for name in ("inputs['input']", "inputs['key']", "outputs['output']", "outputs['key']"):
        assert name in b64
    tensors = sections["tensors"]
    assert "inputs['inputs']" in tensors and "outputs['outputs']" in tensors
    assert tensors.count("DT_FLOAT") == 2 and tensors.count("shape: (-1, -1, -1, 3)") == 2
    with open(exported_pairs / "assets" / "options.json") as f:
        stored = json.load(f)
    assert stored["deterministic"] is True and stored["crop_size"] == 32 and stored["ngf"] == 8


_FRESH_PROCESS = r"""
import base64, json, sys
import numpy as np, tensorflow as tf

model = tf.saved_model.load(sys.argv[1])
rng = np.random.default_rng(0)
photo = rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)        # 640 wide, 480 high
grey = photo[:50, :70, :1]
rgba = np.concatenate([photo[:33, :45], np.full((33, 45, 1), 128, np.uint8)], axis=-1)
images = [tf.io.encode_jpeg(photo).numpy(), tf.io.encode_png(grey).numpy(), tf.io.encode_png(rgba).numpy()]
outputs = model.signatures["serving_default"](images=tf.constant(images))["outputs"].numpy()
reply = model.signatures["base64"](
    input=tf.constant([base64.b64encode(images[0]),                   # standard alphabet, padded
                       base64.urlsafe_b64encode(images[1]).rstrip(b"=")]),  # URL-safe, unpadded
    key=tf.constant(["first", "second"]))
decoded = [base64.urlsafe_b64decode(text) for text in reply["output"].numpy()]
print(json.dumps({
    "shapes": [list(tf.io.decode_image(o).shape) for o in outputs],
    "png": [o[:8] == b"\x89PNG\r\n\x1a\n" for o in outputs],
    "keys": [k.decode() for k in reply["key"].numpy()],
    "base64_equals_bytes": [decoded[0] == outputs[0], decoded[1] == outputs[1]],
}))
"""


def test_exported_model_serves_any_size_in_a_fresh_process(exported_pairs):
    result = subprocess.run([sys.executable, "-c", _FRESH_PROCESS, str(exported_pairs)],
                            capture_output=True, text=True, timeout=300,
                            env=cli_env())
    assert result.returncode == 0, result.stderr
    reply = json.loads(result.stdout.strip().splitlines()[-1])
    assert reply["shapes"] == [[480, 640, 3], [50, 70, 3], [33, 45, 3]]
    assert reply["png"] == [True, True, True]
    assert reply["keys"] == ["first", "second"]
    assert reply["base64_equals_bytes"] == [True, True]  # deterministic: same picture both ways


def test_tensors_signature_equals_the_training_checkpoints_generator(trained_pairs, exported_pairs):
    loaded = tf.saved_model.load(str(exported_pairs))
    options = prepare_test_options(Options(mode="test", checkpoint=str(trained_pairs), output_dir="x"))
    generator = define_generator(options)
    restore_generator(generator, str(trained_pairs))
    inputs = tf.random.uniform([2, 32, 64, 3], -1, 1, seed=3)  # multiples of 2**5
    exported = loaded.signatures["tensors"](inputs=inputs)["outputs"].numpy()
    np.testing.assert_allclose(exported, generator(inputs, training=False).numpy(), atol=1e-5, rtol=0)

    # An image of exactly crop_size goes through unresized: the same picture, to 8 bits.
    photo = smooth_photo(np.random.default_rng(4), 32, 32)
    png = loaded.signatures["serving_default"](images=tf.constant([tf.io.encode_png(photo).numpy()]))
    served = tf.io.decode_png(png["outputs"][0]).numpy().astype(int)
    network = generator(tf.constant(photo[None] / 255.0 * 2 - 1, tf.float32), training=False)[0]
    expected = np.round((network.numpy() + 1) / 2 * 255)
    assert np.abs(served - expected).max() <= 1


@pytest.mark.filterwarnings("ignore::UserWarning")  # tf.lite.Interpreter's deprecation notice
def test_tensors_signature_converts_to_tflite(exported_pairs):
    # conftest's exported_pairs is the CLI export with --format tflite: its model.tflite is TFLiteConverter's
    # conversion of the tensors signature (inference/tflite_export.convert), made once for this test and
    # test_export_tflite's rather than converted again here.
    interpreter = tf.lite.Interpreter(model_content=(exported_pairs / "model.tflite").read_bytes())
    inputs = np.random.default_rng(6).uniform(-1, 1, [1, 64, 32, 3]).astype(np.float32)
    lite = interpreter.get_signature_runner("tensors")(inputs=inputs)["outputs"]
    expected = tf.saved_model.load(str(exported_pairs)).signatures["tensors"](inputs=inputs)["outputs"]
    np.testing.assert_allclose(lite, expected.numpy(), atol=1e-4, rtol=0)


def test_undecodable_bytes_and_wrong_sizes_fail_clearly(exported_pairs):
    loaded = tf.saved_model.load(str(exported_pairs))
    good = tf.io.encode_png(np.zeros([8, 8, 3], np.uint8)).numpy()
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"images: could not decode image\] \[1\]"):
        loaded.signatures["serving_default"](images=tf.constant([good, b"not an image at all"]))
    with pytest.raises(tf.errors.InvalidArgumentError, match="this is base64 text"):
        loaded.signatures["serving_default"](images=tf.constant([base64.b64encode(good)]))
    with pytest.raises(tf.errors.InvalidArgumentError, match="input: could not decode image"):
        loaded.signatures["base64"](input=tf.constant([base64.b64encode(b"GIF? no")]),
                                    key=tf.constant(["k"]))
    with pytest.raises(tf.errors.InvalidArgumentError, match="multiples of 32"):
        loaded.signatures["tensors"](inputs=tf.zeros([1, 48, 32, 3]))


def test_export_remembers_dropout_and_replaces_an_earlier_export(trained_pairs, exported_pairs, tmp_path):
    inputs = tf.random.uniform([1, 32, 32, 3], -1, 1, seed=5)
    tensors = tf.saved_model.load(str(exported_pairs)).signatures["tensors"]  # --deterministic
    first, second = (tensors(inputs=inputs)["outputs"].numpy() for _ in range(2))
    np.testing.assert_array_equal(first, second)

    out = tmp_path / "model"
    shutil.copytree(exported_pairs, out)  # an earlier export, to be replaced
    export_mode(export_options(trained_pairs, out, output_filetype="jpeg", deterministic=False))  # dropout on
    loaded = tf.saved_model.load(str(out))
    first, second = (loaded.signatures["tensors"](inputs=inputs)["outputs"].numpy() for _ in range(2))
    assert np.abs(first - second).max() > 1e-3
    black = encode_jpeg(np.zeros([9, 7, 3], np.uint8))
    jpeg = loaded.signatures["serving_default"](images=tf.constant([black]))
    assert jpeg["outputs"].numpy()[0][:3] == b"\xff\xd8\xff"
    assert sorted(os.listdir(tmp_path)) == ["model"]  # no staging or old copy left behind


def test_export_errors_name_the_flag_or_file(tmp_path, trained_pairs):
    def error_of(options):
        with pytest.raises(Pix2PixError) as error:
            export_mode(options)
        return str(error.value)

    assert "--checkpoint: is required for --mode export" in error_of(export_options(None, tmp_path / "a"))
    (tmp_path / "no_options").mkdir()
    message = error_of(export_options(tmp_path / "no_options", tmp_path / "a"))
    assert "holds no options.json" in message and "--mode train" in message
    (tmp_path / "only_options").mkdir()
    save_options(Options(crop_size=32, ngf=8, ndf=8), str(tmp_path / "only_options"))
    assert "no checkpoint found" in error_of(export_options(tmp_path / "only_options", tmp_path / "a"))
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    assert "--output_dir" in error_of(export_options(trained_pairs, tmp_path / "busy"))
    assert (tmp_path / "busy" / "notes.txt").read_text() == "mine"
    assert not (tmp_path / "a").exists()


# ------------------------------------------------------------------ colorization models
_to_lab = tf.function(lambda rgb: rgb_to_lab(tf.image.convert_image_dtype(rgb, tf.float32)))


def detailed_photo(rng, height, width):
    """A colourful photo with detail only full resolution has: grain and 1-pixel dark lines."""
    y = np.linspace(0, 1, height, dtype=np.float32)[:, None, None]
    x = np.linspace(0, 1, width, dtype=np.float32)[None, :, None]
    phases = rng.random(3).astype(np.float32) * 6.28
    photo = 128 + 90 * np.sin(5 * x + 3 * y + phases)  # [height, width, 3]
    photo = photo + rng.integers(-25, 26, (height, width, 1))
    photo[::9] = 10
    return np.clip(photo, 0, 255).astype(np.uint8)


def test_lab_model_colorizes_a_large_photo_keeping_its_lightness(served_models):
    """A 3000x2000 photo comes back at full size, with the input's own L (its detail)."""
    # conftest's served_models: make_run's untrained Lab colorization model exported --deterministic, shared
    # (read only) with the serving tests rather than made and exported again here.
    out = served_models[1] / "1"
    jpeg = encode_jpeg(detailed_photo(np.random.default_rng(7), 2000, 3000))

    served = tf.saved_model.load(str(out)).signatures["serving_default"](images=tf.constant([jpeg]))
    png = served["outputs"].numpy()[0]
    assert png[:8] == PNG_MAGIC
    result = tf.io.decode_png(png)
    assert result.shape == (2000, 3000, 3)
    lab = _to_lab(result).numpy()
    difference = np.abs(lab[..., 0] - _to_lab(tf.io.decode_jpeg(jpeg)).numpy()[..., 0])
    assert difference.max() < 1.0, difference.max()  # 8-bit rounding only
    assert difference.mean() < 0.2
    assert np.abs(lab[..., 1:]).mean() > 3  # and it is in colour


@pytest.mark.parametrize("mode, direction", [
    ("rgb_colorization", "AtoB"), ("rgb_colorization", "BtoA"), ("lab_colorization", "BtoA")])
def test_other_colorization_models_translate_photos_of_any_size(tmp_path, mode, direction):
    run = make_run(tmp_path / "run", which_direction=direction, **{mode: True})
    options = prepare_export_options(export_options(run, tmp_path / "unused", deterministic=True))
    translator = load_translator(options)
    assert isinstance(translator, ImageTranslator)
    photo = smooth_photo(np.random.default_rng(8), 90, 120)
    result = translator.serve(tf.constant([encode_jpeg(photo)]))["outputs"].numpy()[0]
    rgb = tf.io.decode_png(result).numpy().astype(int)
    assert rgb.shape == (90, 120, 3)
    if direction == "AtoB":  # luma in, RGB out: the photo's own luma, in colour
        luma = tf.image.rgb_to_grayscale(rgb.astype(np.float32)).numpy()
        expected = tf.image.rgb_to_grayscale(tf.io.decode_jpeg(encode_jpeg(photo)).numpy().astype(np.float32))
        assert np.abs(luma - expected.numpy()).max() < 1.5  # 8-bit rounding only
        assert np.abs(rgb[..., 0] - rgb[..., 2]).mean() > 3
    else:  # colour in, lightness out: shown grey, as test mode does
        assert np.abs(rgb[..., 0] - rgb[..., 1]).max() <= 1 and np.abs(rgb[..., 1] - rgb[..., 2]).max() <= 1
