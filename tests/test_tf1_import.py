"""Importing checkpoints of the TF1 reference (`--mode import`).

No real TF1 checkpoint can be downloaded here, so `write_tf1_checkpoint` builds the
reference's graph with tf.compat.v1 -- its variable names and shapes and its math written
out with tf.nn ops -- and saves it with
tf.compat.v1.train.Saver, as the reference's training did.
"""

import json
import os
import shutil

import numpy as np
import pytest
import tensorflow as tf

from helpers import run_cli
from tf1_reference import (DEPTH, NDF, NGF, STEP, Tf1Reference, reference_options_json,  # noqa: F401
                           tf1_batch, write_tf1_checkpoint)
from pix2pix.errors import Pix2PixError
from pix2pix.models.networks import define_generator
from pix2pix.models.checkpoints import latest_checkpoint, restore_generator
from pix2pix.models.pix2pix_model import Pix2Pix
from pix2pix.models.networks import build_discriminator
from pix2pix.modes.preparation import prepare_test_options
from pix2pix.options.record import Options
from pix2pix.modes.import_tf1 import _adam_slots
from pix2pix.modes.importing import import_mode

# Its module-scoped fixtures are built once: all its tests run on one xdist worker (pytest.ini).
pytestmark = pytest.mark.xdist_group("tf1_import")

@pytest.fixture(scope="module")
def tf1_with_adam(tmp_path_factory):
    """(a TF1 checkpoint of default convs with Adam's slots and options.json as the reference wrote it,
    its outputs on tf1_batch(1) and tf1_batch(2)): written once for the two tests that import it
    (read-only to them; they only compare against it)."""
    directory = tmp_path_factory.mktemp("tf1_adam") / "tf1"
    expected = write_tf1_checkpoint(directory, tf1_batch(1), tf1_batch(2), adam=True,
                                    options_json=reference_options_json())
    return directory, expected


# ------------------------------------------------------------------------------ tests
@pytest.mark.parametrize("separable", [False, True], ids=["default", "separable_conv"])
def test_imported_model_reproduces_the_tf1_graph(tmp_path, separable, tf1_with_adam):
    inputs, targets = tf1_batch(1), tf1_batch(2)
    out = tmp_path / "imported"
    if separable:  # no options.json: the model options come from the flags (in-process, faster)
        tf1_dir = tmp_path / "tf1"
        expected = write_tf1_checkpoint(tf1_dir, inputs, targets, separable=True)
        import_mode(Options(mode="import", checkpoint=str(tf1_dir), output_dir=str(out), ngf=NGF,
                            ndf=NDF, separable_conv=True), {"ngf", "ndf", "separable_conv"})
    else:  # options.json as the reference wrote it, and Adam's slots; through the CLI
        tf1_dir, expected = tf1_with_adam
        result = run_cli("--mode", "import", "--checkpoint", tf1_dir, "--output_dir", out)
        assert "imported" in result.stdout and "Adam state carried over" in result.stdout

    # What test mode does: model options from OUT/options.json, the generator from OUT.
    options = prepare_test_options(Options(mode="test", checkpoint=str(out), output_dir=str(tmp_path)))
    assert (options.ngf, options.ndf, options.separable_conv, options.crop_size) == (NGF, NDF, separable, 256)
    generator = define_generator(options)
    assert restore_generator(generator, str(out)).endswith(f"model-{STEP}")
    outputs = generator(inputs, training=False).numpy()
    np.testing.assert_allclose(outputs, expected["outputs"], atol=1e-4, rtol=0)
    assert np.abs(outputs).mean() > 0.05  # a real picture, not a collapsed one

    discriminator = build_discriminator(3, 3, NDF)
    tf.train.Checkpoint(discriminator=discriminator).restore(latest_checkpoint(str(out))).expect_partial()
    np.testing.assert_allclose(discriminator([inputs, targets], training=False).numpy(),
                               expected["predict_real"], atol=1e-4, rtol=0)


def test_import_carries_adam_state_and_step_so_training_resumes(tmp_path, tf1_with_adam):
    tf1_dir, _ = tf1_with_adam
    out = tmp_path / "imported"
    import_mode(Options(mode="import", checkpoint=str(tf1_dir), output_dir=str(out)))

    stored = json.loads((out / "options.json").read_text())
    model = Pix2Pix(Options(ngf=stored["ngf"], ndf=stored["ndf"]))
    # The same check training's resume makes: every object of the checkpoint is there.
    model.checkpoint().restore(latest_checkpoint(str(out))).assert_existing_objects_matched()
    assert int(model.global_step.numpy()) == STEP
    assert int(model.generator_optimizer.iterations.numpy()) == STEP
    prefix = tf.train.latest_checkpoint(str(tf1_dir))
    kernel = model.generator.get_layer("decoder_3_deconv").kernel
    momentum, velocity = _adam_slots(model.generator_optimizer, kernel)
    name = "generator/decoder_3/conv2d_transpose/kernel"
    np.testing.assert_array_equal(momentum.numpy(), tf.train.load_variable(prefix, name + "/Adam"))
    np.testing.assert_array_equal(velocity.numpy(), tf.train.load_variable(prefix, name + "/Adam_1"))


@pytest.fixture(scope="module")
def tf1_dirs(tmp_path_factory):
    """Two small TF1 checkpoints: default convs with options.json, separable ones without."""
    base = tmp_path_factory.mktemp("tf1")
    inputs, targets = tf1_batch(1, count=1), tf1_batch(2, count=1)
    write_tf1_checkpoint(base / "plain", inputs, targets, options_json=reference_options_json())
    write_tf1_checkpoint(base / "separable", inputs, targets, separable=True)
    return base


def _import_error(tmp_path, checkpoint, explicit=(), **flags):
    options = Options(mode="import", checkpoint=str(checkpoint), output_dir=str(tmp_path / "out"), **flags)
    with pytest.raises(Pix2PixError) as error:
        import_mode(options, explicit)
    assert not (tmp_path / "out").exists()  # nothing written
    return str(error.value)


def test_import_errors_name_the_variable_or_flag(tmp_path, tf1_dirs):
    # Flags that do not match the weights: the variable is named with both shapes.
    message = _import_error(tmp_path, tf1_dirs / "separable", ngf=8, ndf=NDF, separable_conv=True)
    assert "generator/encoder_1/separable_conv2d/pointwise_kernel" in message
    assert "[1, 1, 3, 4]" in message and "[1, 1, 3, 8]" in message and "ngf=4" in message
    # A separable checkpoint read as a plain one: the plain variables are missing.
    message = _import_error(tmp_path, tf1_dirs / "separable", ngf=NGF, ndf=NDF)
    assert "generator/encoder_1/conv2d/kernel is missing" in message
    assert "separable_conv=True" in message  # the hint of what the checkpoint holds
    # A smaller U-Net than the checkpoint's: its deeper layers are left over.
    message = _import_error(tmp_path, tf1_dirs / "separable", ngf=NGF, ndf=NDF, separable_conv=True,
                            crop_size=128)
    assert "no place" in message and "8 U-Net levels" in message
    # An explicit flag contradicting the reference's options.json.
    message = _import_error(tmp_path, tf1_dirs / "plain", explicit={"ngf"}, ngf=64)
    assert "--ngf" in message and "options.json" in message
    # Not a checkpoint at all.
    (tmp_path / "empty").mkdir()
    assert "no checkpoint found" in _import_error(tmp_path, tmp_path / "empty")


def test_import_refuses_a_tf2_checkpoint_and_a_used_output_dir(tmp_path, tf1_dirs):
    out = tmp_path / "imported"
    import_mode(Options(mode="import", checkpoint=str(tf1_dirs / "plain"), output_dir=str(out)))
    assert tf.train.latest_checkpoint(str(out)).endswith(f"model-{STEP}")
    assert "already a TF2 checkpoint" in _import_error(tmp_path, out)

    with pytest.raises(Pix2PixError, match="--output_dir: .* not an empty directory"):
        import_mode(Options(mode="import", checkpoint=str(tf1_dirs / "plain"), output_dir=str(out)))
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".")]  # no staging left behind


def test_import_finds_a_downloaded_checkpoint_whose_state_file_points_elsewhere(tmp_path, tf1_dirs):
    moved = tmp_path / "downloaded"
    shutil.copytree(tf1_dirs / "plain", moved)
    (moved / "checkpoint").write_text('model_checkpoint_path: "/home/someone/facades_train/model-7"\n'
                                      'all_model_checkpoint_paths: "/home/someone/facades_train/model-7"\n')
    path = import_mode(Options(mode="import", checkpoint=str(moved), output_dir=str(tmp_path / "out")))
    assert path == tf.train.latest_checkpoint(str(tmp_path / "out"))
