"""--update_order: sequential (G's gradient through the updated D) against a by-hand sequence,
its non-finite guard in either half, and both orders through the CLI (train, resume)."""

import json
import shutil

import numpy as np
import pytest
import tensorflow as tf

from helpers import (TINY, copy_weights, fresh_models, random_pair_batch, relative_difference, run_cli,
                     saved_step, without_dropout)
from pix2pix import Options, Pix2Pix
from pix2pix.models.kernels import plain_kernels
from pix2pix.models.losses import discriminator_loss, generator_losses
from pix2pix.models.update_orders import set_learning_rate


def _options(**extra):
    return Options(mode="train", output_dir="unused", crop_size=32, ngf=8, ndf=8, seed=1, **extra)


def _by_hand_sequential(model, x, y):
    """D step with the Keras Adam, then a fresh D(x, G(x)) through the new D and the G step.

    Returns G's gradients. G's forward pass is the one D's loss saw (as the step reuses it)."""
    d_vars, g_vars = model.discriminator.trainable_variables, model.generator.trainable_variables
    with tf.GradientTape(persistent=True) as tape:
        outputs = model.generator(x, training=True)
        real = model.discriminator([x, y], training=True)
        fake = model.discriminator([x, outputs], training=True)
        d_loss = discriminator_loss(real, fake)
    model.discriminator_optimizer.apply_gradients(zip(tape.gradient(d_loss, d_vars), d_vars))
    with tape:
        fake_after = model.discriminator([x, outputs], training=True)
        g_loss, _, _ = generator_losses(fake_after, y, outputs)
    g_grads = tape.gradient(g_loss, g_vars)
    model.generator_optimizer.apply_gradients(zip(g_grads, g_vars))
    return g_grads, float(d_loss)


def test_sequential_step_equals_d_step_then_fresh_d_pass_then_g_step():
    tf.keras.utils.set_random_seed(1)
    sequential = Pix2Pix(_options(update_order="sequential"))  # the fast kernels, as users run it
    simultaneous = Pix2Pix(_options())
    with plain_kernels():  # Keras' own layers and Adam
        by_hand = Pix2Pix(_options())
    for model in (sequential, simultaneous, by_hand):
        without_dropout(model)
    copy_weights(sequential, simultaneous)
    copy_weights(sequential, by_hand)
    x, y = random_pair_batch()

    result = sequential.train_step(x, y)
    other = simultaneous.train_step(x, y)
    expected_g_grads, expected_d_loss = _by_hand_sequential(by_hand, x, y)
    assert bool(result["applied"]) and int(sequential.global_step.numpy()) == 1
    np.testing.assert_allclose(float(result["discrim_loss"]), expected_d_loss, rtol=1e-5)

    g_worst = max(relative_difference(a, b) for a, b in zip(result["generator_gradients"], expected_g_grads))
    assert g_worst < 1e-4, g_worst
    # The test can tell the orders apart: the simultaneous step's G gradient (through the old D)
    # is far further from the by-hand sequence than the rounding allowed above.
    old_worst = max(relative_difference(a, b) for a, b in zip(other["generator_gradients"], expected_g_grads))
    assert old_worst > 50 * max(g_worst, 1e-6), (old_worst, g_worst)

    # Weights after the step. Adam's first step moves a weight by about lr * sign(gradient), so a
    # gradient within rounding of zero may step either way; all others agree to 1e-6 (lr is 2e-4).
    pairs = list(zip(sequential.generator.trainable_variables + sequential.discriminator.trainable_variables,
                     by_hand.generator.trainable_variables + by_hand.discriminator.trainable_variables))
    differences = np.concatenate([np.abs(a.numpy() - b.numpy()).ravel() for a, b in pairs])
    assert np.mean(differences > 1e-6) < 1e-3, np.mean(differences > 1e-6)
    assert float(np.max(differences)) <= 2 * 2.1e-4
    for model in (sequential, by_hand):
        assert int(model.discriminator_optimizer.iterations.numpy()) == 1
        assert int(model.generator_optimizer.iterations.numpy()) == 1


def _set_learning_rates(model, rate):
    for optimizer in (model.discriminator_optimizer, model.generator_optimizer):
        set_learning_rate(optimizer, rate)


def _state(model):
    return [v.numpy() for v in model.generator.trainable_variables + model.discriminator.trainable_variables
            + model.generator_optimizer.variables + model.discriminator_optimizer.variables]


@pytest.fixture(scope="module")
def fresh_sequential_model():
    """FRESH(precision): a sequential model of that precision as Pix2Pix built it, untrained.

    Shared by the non-finite tests of one precision (a model and its traced step per precision,
    not per test): each test gets the model put back exactly as it was built (helpers.fresh_models:
    every variable restored), so it sees what a new model would, and the trace is paid once."""
    fresh = fresh_models()
    return lambda precision: fresh(precision, lambda: Pix2Pix(_options(update_order="sequential",
                                                                       mixed_precision=precision)))


@pytest.mark.xdist_group("update_order_non_finite")  # one worker: fresh_sequential_model's traces are paid once
@pytest.mark.parametrize("half", ["discriminator", "generator"])
@pytest.mark.parametrize("precision", ["float32", "float16", "bfloat16"])
def test_a_non_finite_loss_in_either_half_leaves_both_networks_unchanged(half, precision, fresh_sequential_model):
    """discriminator: NaN targets make D's loss NaN before anything is applied. generator: a
    learning rate of 1e38 gives D's loss a finite value, but D's update then overflows D's
    weights, so D(x, G(x)) through the updated D (G's loss) is not finite: D's update must be undone."""
    model = fresh_sequential_model(precision)
    assert int(model.global_step.numpy()) == 0 and int(model.generator_optimizer.iterations.numpy()) == 0
    x, y = random_pair_batch()
    # generator: a first good step (so there is optimiser state to keep) at the normal rate (2e-4)
    assert bool(model.train_step(x, y)["applied"])
    if half == "generator":
        _set_learning_rates(model, 1e38)
    before, averages = _state(model), model.loss_averages.read()

    targets = tf.fill([1, 32, 32, 3], float("nan")) if half == "discriminator" else y
    result = model.train_step(x, targets)
    assert not bool(result["applied"])
    if half == "generator":  # D's half was finite: it is G's half that failed
        assert np.isfinite(float(result["discrim_loss"])) and not np.isfinite(float(result["gen_loss_GAN"]))
    assert int(model.global_step.numpy()) == 1
    after = _state(model)
    assert len(before) == len(after)
    for a, b in zip(before, after):
        np.testing.assert_array_equal(a, b)
    assert model.loss_averages.read() == averages
    if half == "discriminator":  # and training goes on
        assert bool(model.train_step(x, y)["applied"]) and int(model.global_step.numpy()) == 2


@pytest.mark.parametrize("gan_mode,netD", [("vanilla", "pixel"), ("lsgan", "n_layers"), ("wgangp", "basic")])
def test_sequential_trains_with_every_gan_loss_and_discriminator(gan_mode, netD):
    model = Pix2Pix(_options(update_order="sequential", gan_mode=gan_mode, netD=netD, batch_size=2))
    rng = np.random.default_rng(3)
    x, y = (tf.constant(rng.uniform(-1, 1, (2, 32, 32, 3)).astype(np.float32)) for _ in range(2))
    d_before = [v.numpy() for v in model.discriminator.trainable_variables]
    for _ in range(2):
        result = model.train_step(x, y)
        assert bool(result["applied"])
    assert int(model.global_step.numpy()) == 2
    assert set(model.loss_names) <= set(result)
    assert any(not np.array_equal(a, b.numpy()) for a, b in zip(d_before, model.discriminator.trainable_variables))


def _train(ab_dir, out, steps, *extra):
    return run_cli("--mode", "train", "--input_dir", ab_dir, "--output_dir", out, "--max_steps", steps,
                   "--summary_freq", 0, "--progress_freq", 1, "--seed", 3, *TINY, *extra)


def _trained(order, trained_pairs, out, ab_dir):
    """OUT: a 2-step CLI training run in ORDER. simultaneous, the default, is the session's
    trained_pairs (a CLI run without --update_order, shared with other modules, copied here as the
    tests resume it); sequential is trained here with the flag."""
    if order == "simultaneous":
        shutil.copytree(trained_pairs, out)
    else:
        _train(ab_dir, out, 2, "--update_order", order)


@pytest.mark.parametrize("order", ["simultaneous", "sequential"])
def test_both_orders_train_and_resume_through_the_cli(tmp_path, ab_dir, trained_pairs, order):
    out = tmp_path / "train"
    _trained(order, trained_pairs, out, ab_dir)
    assert json.loads((out / "options.json").read_text())["update_order"] == order
    assert saved_step(out) == 2
    resumed = _train(ab_dir, out, 3, "--checkpoint", out)  # the order comes from options.json
    assert "resumed from" in resumed.stdout and saved_step(out) == 3
    assert json.loads((out / "options.json").read_text())["update_order"] == order
    other = "sequential" if order == "simultaneous" else "simultaneous"
    refused = run_cli("--mode", "train", "--input_dir", ab_dir, "--output_dir", out, "--max_steps", 4,
                      "--checkpoint", out, "--update_order", other, *TINY, check=False)
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert "--update_order: " in refused.stderr and f"update_order='{order}'" in refused.stderr


def test_an_options_json_without_update_order_means_simultaneous(tmp_path, ab_dir, trained_pairs):
    out = tmp_path / "train"
    _trained("simultaneous", trained_pairs, out, ab_dir)
    stored = json.loads((out / "options.json").read_text())
    del stored["update_order"]  # as written before the option existed
    (out / "options.json").write_text(json.dumps(stored))
    refused = run_cli("--mode", "train", "--input_dir", ab_dir, "--output_dir", out, "--max_steps", 3,
                      "--checkpoint", out, "--update_order", "sequential", *TINY, check=False)
    assert refused.returncode == 2 and "update_order='simultaneous'" in refused.stderr
    _train(ab_dir, out, 3, "--checkpoint", out)
    assert json.loads((out / "options.json").read_text())["update_order"] == "simultaneous"


def test_a_bad_update_order_is_a_one_line_error(tmp_path, ab_dir):
    result = run_cli("--mode", "train", "--input_dir", ab_dir, "--output_dir", tmp_path / "x",
                     "--update_order", "backwards", check=False)
    assert result.returncode != 0 and "Traceback" not in result.stderr and "update_order" in result.stderr
    with pytest.raises(Exception, match="--update_order"):
        Options(mode="train", output_dir="x", update_order="backwards").validate()


def test_sequential_on_two_mirrored_replicas_matches_the_sequence_by_hand(mirrored_checks):
    """MirroredStrategy on 2 logical CPUs against examples by hand (D averaged and applied, then
    D(x, G(x)) again, G averaged and applied), and a NaN on one replica leaving both networks
    unchanged (tests/scripts/mirrored_checks.py's sequential check: its measured numbers)."""
    check = mirrored_checks["sequential"]
    assert "error" not in check, check.get("error")
    assert check["applied"] is True
    np.testing.assert_allclose(check["losses"], check["losses_by_hand"], rtol=1e-5, atol=1e-6)
    assert check["weights_differing"] < 1e-2, check  # a gradient within rounding of 0 may step either way
    assert check["global_step"] == 1
    # The second replica's targets NaN: not applied, no weight or optimiser state changed.
    assert check["nan_applied"] is False and check["nan_changed"] == [] and check["nan_global_step"] == 1, check


def test_sequential_follows_the_learning_rate_schedule():
    model = Pix2Pix(_options(update_order="sequential", lr=0.001, lr_policy="step", lr_decay_iters=2,
                             max_steps=6))
    model.follow_schedule(6, 3)
    x, y = random_pair_batch()
    rates = []
    for _ in range(5):
        assert bool(model.train_step(x, y)["applied"])
        rates.append([float(o.learning_rate) for o in (model.generator_optimizer, model.discriminator_optimizer)])
    expected = [0.001, 0.001, 0.0001, 0.0001, 0.00001]
    np.testing.assert_allclose(rates, [[r, r] for r in expected], rtol=1e-5)
