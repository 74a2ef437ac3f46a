"""The GradientTape train step: it learns, it counts, it checkpoints what a resume needs."""

import numpy as np
import pytest
import tensorflow as tf

from helpers import copy_weights, fresh_models, random_pair_batch, relative_difference, smooth_photo, without_dropout
from pix2pix import Options, Pix2Pix
from pix2pix.models.loss_averages import LossAverages
from pix2pix.models.losses import discriminator_loss, generator_losses


def _tiny_options(**kw):
    base = dict(mode="train", output_dir="unused", crop_size=32, scale_size=32, ngf=8, ndf=8, seed=1)
    base.update(kw)
    return Options(**base)


def test_step_overfits_one_batch():
    tf.keras.utils.set_random_seed(0)
    model = Pix2Pix(_tiny_options(lr=0.001))
    image = smooth_photo(np.random.default_rng(0), 32, 32).astype(np.float32) / 127.5 - 1
    x = tf.constant(image[None])
    y = tf.constant(-image[None, :, :, ::-1].copy())  # inverted, channels swapped: learnable
    l1 = [float(model.train_step(x, y)["gen_loss_L1"]) for _ in range(60)]
    assert np.mean(l1[-5:]) < 0.4 * l1[0], l1
    assert int(model.global_step.numpy()) == 60


def _count_generator_calls(model):
    """A list that grows by one each time the step's graph calls the generator (counted while
    tracing: each call there is one generator forward pass in every step)."""
    calls, call = [], model.generator.call

    def counted(*args, **kwargs):
        calls.append(1)
        return call(*args, **kwargs)

    model.generator.call = counted
    return calls


def _stamp_updates(model):
    """{network: variable} that each optimiser's apply_gradients sets, when it has run, to the
    value of one shared counter: the order the updates ran in, read from the executed step."""
    clock = tf.Variable(0, dtype=tf.int64)
    stamps = {}
    for network in ("discriminator", "generator"):
        optimizer = getattr(model, network + "_optimizer")
        stamps[network] = tf.Variable(-1, dtype=tf.int64)

        def stamped(grads_and_vars, apply=optimizer.apply_gradients, stamp=stamps[network]):
            result = apply(grads_and_vars)
            # tf.function runs stateful ops in program order: this runs after the update.
            stamp.assign(clock.assign_add(1))
            return result

        optimizer.apply_gradients = stamped
    return stamps


def test_discriminator_is_updated_before_generator_from_one_forward_pass():
    tf.keras.utils.set_random_seed(0)
    model, by_hand = Pix2Pix(_tiny_options()), Pix2Pix(_tiny_options())
    for network in (model, by_hand):
        without_dropout(network)  # so the by-hand pass below is the step's pass exactly
    copy_weights(model, by_hand)
    generator_calls, stamps = _count_generator_calls(model), _stamp_updates(model)
    x, y = random_pair_batch()

    result = model.train_step(x, y)
    assert bool(result["applied"])
    assert len(generator_calls) == 1  # one generator forward pass per step
    assert (int(stamps["discriminator"].numpy()), int(stamps["generator"].numpy())) == (1, 2)

    # Both gradients are those of that one pass, through D's weights from before its update.
    d_vars, g_vars = by_hand.discriminator.trainable_variables, by_hand.generator.trainable_variables
    with tf.GradientTape(persistent=True) as tape:
        outputs = by_hand.generator(x, training=True)
        fake = by_hand.discriminator([x, outputs], training=True)
        d_loss = discriminator_loss(by_hand.discriminator([x, y], training=True), fake)
        g_loss, _, _ = generator_losses(fake, y, outputs)
    np.testing.assert_allclose(result["outputs"].numpy(), outputs.numpy(), atol=1e-5, rtol=0)
    np.testing.assert_allclose(float(result["discrim_loss"]), float(d_loss), rtol=1e-5)
    for got, expected in ((result["discriminator_gradients"], tape.gradient(d_loss, d_vars)),
                          (result["generator_gradients"], tape.gradient(g_loss, g_vars))):
        assert max(relative_difference(a, b) for a, b in zip(got, expected)) < 1e-4
    # Both networks moved.
    for network in ("discriminator", "generator"):
        assert any(not np.array_equal(a.numpy(), b.numpy()) for a, b in zip(
            getattr(model, network).trainable_variables, getattr(by_hand, network).trainable_variables))


def test_optimisers_use_the_reference_adam_settings():
    model = Pix2Pix(_tiny_options(lr=0.0003, beta1=0.4))
    for opt in (model.generator_optimizer, model.discriminator_optimizer):
        assert np.isclose(float(opt.learning_rate), 0.0003)
        assert opt.beta_1 == 0.4 and opt.beta_2 == 0.999 and opt.epsilon == 1e-8


def test_loss_averages_are_zero_debiased_ema():
    averages = LossAverages()
    values = [1.0, 3.0, 2.0]
    for v in values:
        averages.update([tf.constant(v)] * 3)
    biased = 0.0
    for v in values:
        biased = 0.99 * biased + 0.01 * v
    expected = biased / (1 - 0.99 ** 3)
    assert np.isclose(averages.read()["gen_loss_L1"], expected, rtol=1e-5)


@pytest.fixture(scope="module")
def fresh_model():
    """FRESH(): a model of _tiny_options() as Pix2Pix built it, untrained, shared by the tests that only
    train it (one model and traced step, not one per test): each gets it put back exactly as it was
    built (helpers.fresh_models: every variable restored), so it sees what a new model would."""
    fresh = fresh_models()
    return lambda: fresh("default", lambda: Pix2Pix(_tiny_options()))


@pytest.mark.xdist_group("train_fresh_model")  # one worker: fresh_model's trace is paid once
def test_checkpoint_holds_a_scalar_step_and_optimizer_state(tmp_path, fresh_model):
    model = fresh_model()
    x = tf.zeros([1, 32, 32, 3])
    model.train_step(x, x)
    model.train_step(x, x)
    path = model.checkpoint().save(str(tmp_path / "ckpt"))
    variables = dict(tf.train.list_variables(path))
    step_names = [name for name, shape in variables.items() if "step" in name and shape == []]
    assert step_names, variables.keys()
    assert tf.train.load_variable(path, step_names[0]) == 2
    assert any("optimizer" in name for name in variables)

    restored = Pix2Pix(_tiny_options())
    restored.checkpoint().restore(path).assert_existing_objects_matched()
    assert int(restored.global_step.numpy()) == 2
    assert int(restored.generator_optimizer.iterations.numpy()) == 2
    for a, b in zip(model.generator.trainable_variables, restored.generator.trainable_variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert restored.loss_averages.read() == model.loss_averages.read()


@pytest.mark.xdist_group("train_fresh_model")  # one worker: fresh_model's trace is paid once
def test_non_finite_loss_changes_nothing(fresh_model):
    model = fresh_model()
    x = tf.zeros([1, 32, 32, 3])
    model.train_step(x, x)
    def state():  # weights and optimiser slots (the dropout RNG state may move on)
        return [v.numpy() for v in model.generator.trainable_variables + model.discriminator.trainable_variables
                + model.generator_optimizer.variables + model.discriminator_optimizer.variables]

    before = state()
    averages = model.loss_averages.read()
    bad = tf.fill([1, 32, 32, 3], float("nan"))
    result = model.train_step(x, bad)
    assert not bool(result["applied"])
    assert int(model.global_step.numpy()) == 1
    for a, b in zip(before, state()):
        np.testing.assert_array_equal(a, b)
    assert model.loss_averages.read() == averages
    assert bool(model.train_step(x, x)["applied"]) and int(model.global_step.numpy()) == 2


@pytest.mark.parametrize("precision", ["bfloat16", "float16"])
def test_mixed_precision_keeps_float32_variables_losses_and_outputs(precision):
    model = Pix2Pix(_tiny_options(mixed_precision=precision))
    x = tf.random.uniform([1, 32, 32, 3], -1, 1, seed=5)
    result = model.train_step(x, x)
    assert bool(result["applied"]) and int(model.global_step.numpy()) == 1
    assert all(np.isfinite(float(result[k])) for k in ("discrim_loss", "gen_loss_GAN", "gen_loss_L1"))
    assert result["outputs"].dtype == tf.float32
    assert all(v.dtype == tf.float32 for v in model.generator.trainable_variables)
    assert model.generator.get_layer("encoder_2_conv").compute_dtype == precision
    assert (type(model.generator_optimizer).__name__ == "LossScaleOptimizer") == (precision == "float16")
    # The policy is restored: models built afterwards are plain float32.
    assert Pix2Pix(_tiny_options()).generator.get_layer("encoder_2_conv").compute_dtype == "float32"


@pytest.mark.parametrize("batch_size", [1, 3])  # 1: the stacked discriminator pass; 3: two calls
def test_step_is_traced_once_however_many_batches(batch_size):
    """New batches of the same shape reuse the traced step, which always returns the summaries'
    details: one trace per training run."""
    model = Pix2Pix(_tiny_options(batch_size=batch_size))
    rng = np.random.default_rng(0)
    for _ in range(3):
        x, y = (tf.constant(rng.uniform(-1, 1, (batch_size, 32, 32, 3)).astype(np.float32)) for _ in range(2))
        result = model.train_step(x, y)
        assert bool(result["applied"]) and result["outputs"].shape == (batch_size, 32, 32, 3)
    assert model._step_fn.experimental_get_tracing_count() == 1
    assert int(model.global_step.numpy()) == 3


def test_the_reference_table_of_the_step_names_what_the_code_has():
    """docs/reference.md maps the original's create_model to the step: every statement it quotes is in
    Pix2Pix._train_step (a quoted `f(...)` stands for any arguments) and every named module and function
    (module:name) exists."""
    import importlib
    import inspect
    import os
    import re

    from helpers import REPO

    with open(os.path.join(REPO, "docs", "reference.md"), encoding="utf-8") as f:
        text = f.read()
    section = text.split("### The step beside the original", 1)[1].split("\n#", 1)[0]
    rows = [line.split(" | ") for line in section.splitlines() if re.match(r"\| \d", line)]
    assert len(rows) >= 12
    step = inspect.getsource(Pix2Pix._train_step)
    checked = 0
    for row in rows:
        for quoted in re.findall(r"`([^`]+)`", row[-1]):
            named = re.fullmatch(r"(\w+(?:/\w+)?)\.py:(\w+)(?:\.(\w+))?", quoted)
            if named:
                package = "pix2pix." + ("" if "/" in named.group(1) else "models.") + named.group(1).replace("/", ".")
                found = getattr(importlib.import_module(package), named.group(2))
                if named.group(3):
                    found = getattr(found, named.group(3))
                assert callable(found), quoted
            elif "=" in quoted or "(" in quoted:
                assert quoted.split("...")[0] in step, quoted
            checked += 1
    assert checked >= 20
