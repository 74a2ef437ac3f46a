"""The checkpoint layout: weights named by network, layer and weight; checkpoints of the earlier
layout (tests/fixtures/checkpoint_old_layout, written by tests/scripts/make_old_checkpoint_fixture.py)
still resume, test and export; restores stay strict."""

import os
import shutil

import numpy as np
import pytest
import tensorflow as tf

from helpers import REPO, run_cli, saved_step
from pix2pix import Options, Pix2Pix, prepare_test_options
from pix2pix.errors import Pix2PixError
from pix2pix.models.checkpoints import latest_checkpoint, restore_generator
from pix2pix.models.networks import define_generator

FIXTURE = os.path.join(REPO, "tests", "fixtures", "checkpoint_old_layout")
FIXTURE_STEP = 3
VALUE = "/.ATTRIBUTES/VARIABLE_VALUE"


def _tiny(**extra):
    return Options(**{**dict(mode="train", output_dir="unused", crop_size=32, ngf=8, ndf=8, seed=1), **extra})


def _fixture_options():
    """The model options of the fixture (crop 32, ngf 2, ndf 2), as test mode reads them."""
    return prepare_test_options(Options(mode="test", checkpoint=FIXTURE, output_dir="unused"))


def _old_layout(model):
    """The objects the earlier code checkpointed: the networks as plain Keras models."""
    return tf.train.Checkpoint(
        generator=model.generator, discriminator=model.discriminator,
        generator_optimizer=model.generator_optimizer, discriminator_optimizer=model.discriminator_optimizer,
        global_step=model.global_step, loss_averages=model.loss_averages)


def _everything(model):
    """Every value a resume restores: weights, optimiser state, step, loss averages."""
    return [v.numpy() for v in model.generator.weights + model.discriminator.weights
            + model.generator_optimizer.variables + model.discriminator_optimizer.variables
            + [model.global_step, model.loss_averages.biased, model.loss_averages.updates]]


@pytest.fixture
def fixture_copy(tmp_path):
    """A copy of the old-layout checkpoint (a resume writes next to it when it is the output_dir)."""
    return shutil.copytree(FIXTURE, tmp_path / "old_layout")


@pytest.fixture(scope="module")
def stepped(tmp_path_factory):
    """(a tiny model after one training step, its checkpoint in the new layout): shared by the tests
    below, which only read them (or save them elsewhere), so the model is built and its step traced once."""
    model = Pix2Pix(_tiny())
    x = tf.random.uniform([1, 32, 32, 3], -1, 1, seed=1)
    model.train_step(x, x)
    return model, model.checkpoint().save(str(tmp_path_factory.mktemp("stepped") / "ckpt"))


def test_a_new_checkpoint_names_every_weight_by_network_layer_and_weight(stepped):
    model, path = stepped
    shapes = dict(tf.train.list_variables(path))
    for network in ("generator", "discriminator"):
        weights = getattr(model, network).weights
        assert weights
        for weight in weights:  # e.g. generator/encoder_2_conv/kernel/.ATTRIBUTES/VARIABLE_VALUE
            name = f"{network}/{weight.path}{VALUE}"
            assert shapes.get(name) == list(weight.shape), (name, sorted(shapes))
            np.testing.assert_array_equal(tf.train.load_variable(path, name), weight.numpy())
        # No weight is stored only under the optimiser that updates it (the earlier names).
        assert not [n for n in shapes if n.startswith(f"{network}_optimizer/_trainable_variables/")]
    assert "generator/encoder_1_conv/kernel" + VALUE in shapes
    assert shapes["global_step" + VALUE] == []


def test_both_layouts_hold_the_same_values(tmp_path, stepped):
    """The names changed, not the contents: the same shapes (one entry per variable) either way."""
    model, _ = stepped
    new = model.checkpoint().save(str(tmp_path / "new" / "ckpt"))
    old = _old_layout(model).save(str(tmp_path / "old" / "ckpt"))
    assert any(n.startswith("generator_optimizer/_trainable_variables/") for n, _ in tf.train.list_variables(old))
    def shapes(path):
        return sorted(map(tuple, (shape for _, shape in tf.train.list_variables(path))))
    assert shapes(new) == shapes(old)


def test_the_old_layout_restores_everything_the_earlier_code_restored():
    prefix = latest_checkpoint(FIXTURE)
    assert not [n for n, _ in tf.train.list_variables(prefix) if n.startswith("generator/")]  # really old
    options = _fixture_options()
    assert (options.crop_size, options.ngf, options.ndf) == (32, 2, 2)
    as_before, now = Pix2Pix(options), Pix2Pix(options)
    fresh = _everything(now)
    _old_layout(as_before).restore(prefix).assert_existing_objects_matched()
    now.checkpoint().restore(prefix).assert_existing_objects_matched()
    assert int(now.global_step.numpy()) == FIXTURE_STEP
    assert int(now.generator_optimizer.iterations.numpy()) == FIXTURE_STEP
    restored = _everything(now)
    for a, b in zip(_everything(as_before), restored):
        np.testing.assert_array_equal(a, b)
    changed = sum(not np.array_equal(a, b) for a, b in zip(fresh, restored))
    assert changed > len(restored) // 2  # weights, Adam's moments, step, averages: not the fresh values

    generator = define_generator(options)
    assert restore_generator(generator, FIXTURE) == prefix
    for a, b in zip(generator.weights, as_before.generator.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_a_plain_keras_model_still_restores_from_a_new_checkpoint(stepped):
    """Readers written for the earlier layout (the networks as plain Keras models) read new ones."""
    model, path = stepped
    reader = Pix2Pix(_tiny())
    _old_layout(reader).restore(path).assert_existing_objects_matched()
    for a, b in zip(_everything(model), _everything(reader)):
        np.testing.assert_array_equal(a, b)


def test_restores_stay_strict(tmp_path, stepped):
    """A checkpoint of another model is refused, in either layout, not half loaded."""
    other = _tiny(ngf=4)
    with pytest.raises(Pix2PixError, match="does not match the generator"):
        restore_generator(define_generator(other), FIXTURE)
    model, _ = stepped
    (tmp_path / "new").mkdir()
    model.checkpoint().save(str(tmp_path / "new" / "model"))
    with pytest.raises(Pix2PixError, match="does not match the generator"):
        restore_generator(define_generator(other), str(tmp_path / "new"))
    with pytest.raises((AssertionError, ValueError)):
        Pix2Pix(other).checkpoint().restore(latest_checkpoint(FIXTURE)).assert_existing_objects_matched()
    # A checkpoint without the discriminator's weights does not pass for a whole model.
    generator_only = tf.train.Checkpoint(generator=model.checkpoint().generator).save(str(tmp_path / "g" / "c"))
    with pytest.raises(AssertionError):
        Pix2Pix(_tiny()).checkpoint().restore(generator_only).assert_existing_objects_matched()


def test_the_old_layout_resumes_through_the_cli_and_then_resumes_in_the_new(tmp_path, ab_dir, fixture_copy):
    out = tmp_path / "train"
    flags = ["--input_dir", ab_dir, "--output_dir", out, "--summary_freq", 0, "--progress_freq", 1]
    result = run_cli("--mode", "train", "--checkpoint", fixture_copy, "--max_steps", FIXTURE_STEP + 2, *flags)
    assert f"at step {FIXTURE_STEP}" in result.stdout and "resumed from" in result.stdout
    assert saved_step(out) == FIXTURE_STEP + 2
    names = [n for n, _ in tf.train.list_variables(tf.train.latest_checkpoint(str(out)))]
    assert "generator/encoder_1_conv/kernel" + VALUE in names  # written in the new layout

    again = run_cli("--mode", "train", "--checkpoint", out, "--max_steps", FIXTURE_STEP + 3, *flags)
    assert f"at step {FIXTURE_STEP + 2}" in again.stdout
    assert saved_step(out) == FIXTURE_STEP + 3
    # The old checkpoint is only read.
    assert sorted(os.listdir(fixture_copy)) == sorted(os.listdir(FIXTURE))


def test_test_mode_and_export_read_the_old_layout(tmp_path, ab_dir, fixture_copy):
    run_cli("--mode", "test", "--input_dir", ab_dir, "--output_dir", tmp_path / "test", "--checkpoint",
            fixture_copy)
    assert len(list((tmp_path / "test" / "images").glob("*-outputs.png"))) == 5

    exported = tmp_path / "export"
    assert "exported" in run_cli("--mode", "export", "--checkpoint", fixture_copy, "--output_dir", exported,
                                 "--deterministic").stdout
    options = _fixture_options()
    model = Pix2Pix(options)
    _old_layout(model).restore(latest_checkpoint(FIXTURE)).assert_existing_objects_matched()
    inputs = tf.random.uniform([1, 32, 32, 3], -1, 1, seed=3)
    outputs = tf.saved_model.load(str(exported)).signatures["tensors"](inputs=inputs)["outputs"]
    np.testing.assert_allclose(outputs.numpy(), model.generator(inputs, training=False).numpy(), atol=1e-5, rtol=0)

