"""MirroredStrategy on 2 logical CPUs (batch 2, one example per replica): the three checks' measured
numbers, written as JSON to OUTPUT (argv[1]) as {check: {name: value}} ({"error": traceback} for a
check that raised), for the tests to assert on:

- simultaneous (tests/test_distribute.py): one mirrored step against the same data as two batch-1
  passes by hand (losses, the first replica's gradients, Adam's first moments, the weights);
- bfloat16 (tests/test_bfloat16.py): the first step in bfloat16 against the float32 step above, from
  the same weights (bfloat16 rounding apart), later steps, and a NaN on one replica changing nothing;
- sequential (tests/test_update_order.py): --update_order sequential against the sequence by hand
  (D's gradients averaged and applied, then D(x, G(x)) again through the updated D, G's averaged
  and applied), and a NaN on one replica changing nothing.

One process runs them all, once per test run (conftest's mirrored_checks): the two logical CPUs must
be set up before TensorFlow's runtime starts, and the float32 step the first check takes is the one
the second compares with. Run as a script (forked from the CLI fork server, whose runtime has not
started): `python mirrored_checks.py OUTPUT`.
"""

import dataclasses
import json
import os
import sys
import traceback

import numpy as np
import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

from pix2pix import Options, Pix2Pix  # noqa: E402
from pix2pix.models.kernels import plain_kernels  # noqa: E402
from pix2pix.models.losses import discriminator_loss, generator_losses  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # tests/: helpers
from helpers import copy_weights, relative_difference, without_dropout  # noqa: E402

OPTIONS = Options(mode="train", output_dir="unused", crop_size=32, ngf=8, ndf=8, batch_size=2, seed=1)
LOSSES = ("discrim_loss", "gen_loss_GAN", "gen_loss_L1")


def mirrored_and_by_hand(strategy, options, by_hand_options=None, by_hand_context=None):
    """(the model of OPTIONS on STRATEGY, a single-device model of BY_HAND_OPTIONS or OPTIONS built
    inside BY_HAND_CONTEXT if given), both with the mirrored one's weights and no dropout (its draws
    would differ between the two; the comparison is about the maths)."""
    tf.keras.utils.set_random_seed(1)
    mirrored = Pix2Pix(options, strategy)
    if by_hand_context is None:
        by_hand = Pix2Pix(by_hand_options or options)
    else:
        with by_hand_context:
            by_hand = Pix2Pix(by_hand_options or options)
    without_dropout(mirrored)
    without_dropout(by_hand)
    copy_weights(mirrored, by_hand)
    return mirrored, by_hand


def random_batch():
    """(inputs, targets): 2 examples of 32x32x3 in [-1, 1]."""
    rng = np.random.default_rng(0)
    inputs = rng.uniform(-1, 1, (2, 32, 32, 3)).astype(np.float32)
    targets = rng.uniform(-1, 1, (2, 32, 32, 3)).astype(np.float32)
    return inputs, targets


def distributed(strategy, inputs, targets):
    """The batch as the strategy's replicas receive it (one example each)."""
    dataset = tf.data.Dataset.from_tensor_slices({"inputs": inputs, "targets": targets}).batch(2)
    return next(iter(strategy.experimental_distribute_dataset(dataset)))


def weights_differing(mirrored, by_hand):
    """The share of trainable weights differing by more than 1e-6 between the two models. Adam's
    first step moves each weight by about lr * sign(gradient), so a gradient within rounding of zero
    may step either way (the traced step's fused kernels round differently from the eager
    reference); the tests allow a small share."""
    differences = np.concatenate([
        np.abs(a.numpy() - b.numpy()).ravel()
        for a, b in zip(mirrored.generator.trainable_variables + mirrored.discriminator.trainable_variables,
                        by_hand.generator.trainable_variables + by_hand.discriminator.trainable_variables)])
    return float(np.mean(differences > 1e-6))


def state(model, weights):
    """WEIGHTS ("variables": batch-norm statistics included, or "trainable_variables") of both
    networks and both optimisers' state."""
    return [v.numpy().copy() for v in getattr(model.generator, weights) + getattr(model.discriminator, weights)
            + model.generator_optimizer.variables + model.discriminator_optimizer.variables]


def changed_by_a_nan_on_the_second_replica(strategy, model, inputs, targets, weights):
    """A step on the batch with the second replica's targets NaN: {whether it was applied, the
    indices of the state arrays (state(MODEL, WEIGHTS)) it changed, the global step after it}."""
    before = state(model, weights)
    bad_targets = targets.copy()
    bad_targets[1] = np.nan  # the second replica's example only
    bad = distributed(strategy, inputs, bad_targets)
    applied = bool(model.train_step(bad["inputs"], bad["targets"])["applied"])
    changed = [i for i, (a, b) in enumerate(zip(before, state(model, weights))) if not np.array_equal(a, b)]
    return {"nan_applied": applied, "nan_changed": changed, "nan_global_step": int(model.global_step.numpy())}


def simultaneous(strategy, shared):
    """One mirrored step (batch 2) against each example alone by hand (its own batch statistics),
    gradients averaged, D then G applied. Leaves the float32 step's losses and the weights it started
    from in SHARED for the bfloat16 check."""
    mirrored, by_hand = mirrored_and_by_hand(strategy, OPTIONS)
    shared["initial"] = [w.numpy() for w in mirrored.generator.weights + mirrored.discriminator.weights]
    inputs, targets = random_batch()
    batch = distributed(strategy, inputs, targets)
    result = mirrored.train_step(batch["inputs"], batch["targets"])
    shared["float32_losses"] = [float(result[k]) for k in LOSSES]
    # The first replica's gradients: of its loss divided by the replica count (the optimisers sum them).
    first_replica = result["discriminator_gradients"] + result["generator_gradients"]

    d_vars, g_vars = by_hand.discriminator.trainable_variables, by_hand.generator.trainable_variables
    d_sum, g_sum, losses, first_by_hand = None, None, [], None
    for i in range(2):
        x, y = tf.constant(inputs[i:i + 1]), tf.constant(targets[i:i + 1])
        with tf.GradientTape(persistent=True) as tape:
            out = by_hand.generator(x, training=True)
            real = by_hand.discriminator([x, y], training=True)
            fake = by_hand.discriminator([x, out], training=True)
            d_loss = discriminator_loss(real, fake)
            g_loss, g_gan, g_l1 = generator_losses(fake, y, out)
        d_grads, g_grads = tape.gradient(d_loss, d_vars), tape.gradient(g_loss, g_vars)
        first_by_hand = first_by_hand or [g / 2 for g in d_grads + g_grads]
        d_sum = d_grads if d_sum is None else [a + b for a, b in zip(d_sum, d_grads)]
        g_sum = g_grads if g_sum is None else [a + b for a, b in zip(g_sum, g_grads)]
        losses.append([float(d_loss), float(g_gan), float(g_l1)])
    by_hand.discriminator_optimizer.apply_gradients(zip([g / 2 for g in d_sum], d_vars))
    by_hand.generator_optimizer.apply_gradients(zip([g / 2 for g in g_sum], g_vars))

    # The update used both replicas' gradients summed: after one step Adam's first moment is
    # (1 - beta1) times the gradient it was given, so the two models' moments must agree.
    moments = [(a, b) for a, b in zip(
        mirrored.discriminator_optimizer.variables + mirrored.generator_optimizer.variables,
        by_hand.discriminator_optimizer.variables + by_hand.generator_optimizer.variables) if "momentum" in a.path]
    return {"losses": shared["float32_losses"], "losses_by_hand": np.mean(losses, axis=0).tolist(),
            "gradient_difference": max(relative_difference(a, b) for a, b in zip(first_replica, first_by_hand)),
            "moments": len(moments), "trainable_variables": len(d_vars) + len(g_vars),
            "moment_difference": max(relative_difference(a, b) for a, b in moments),
            "weights_differing": weights_differing(mirrored, by_hand),
            "global_step": int(mirrored.global_step.numpy())}


def bfloat16(strategy, shared):
    """The mirrored step in bfloat16 from the weights the float32 step above started from, on the
    same batch; two more steps; then a NaN on the second replica."""
    fast = Pix2Pix(dataclasses.replace(OPTIONS, mixed_precision="bfloat16"), strategy)
    without_dropout(fast)
    for weight, value in zip(fast.generator.weights + fast.discriminator.weights, shared["initial"]):
        weight.assign(value)
    inputs, targets = random_batch()
    batch = distributed(strategy, inputs, targets)
    got = fast.train_step(batch["inputs"], batch["targets"])
    checks = {"losses": [float(got[k]) for k in LOSSES], "float32_losses": shared["float32_losses"],
              "variable_dtypes": sorted({tf.as_dtype(v.dtype).name for v in fast.generator.trainable_variables
                                         + fast.discriminator.trainable_variables}),
              "later_steps_applied": [bool(fast.train_step(batch["inputs"], batch["targets"])["applied"])
                                      for _ in range(2)],
              "global_step": int(fast.global_step.numpy())}
    return {**checks, **changed_by_a_nan_on_the_second_replica(strategy, fast, inputs, targets, "variables")}


def sequential(strategy, shared):
    """--update_order sequential: the mirrored step against the sequence by hand, each example alone
    (its own batch statistics); then a NaN on the second replica."""
    options = dataclasses.replace(OPTIONS, update_order="sequential")
    mirrored, by_hand = mirrored_and_by_hand(strategy, options, OPTIONS, plain_kernels())
    inputs, targets = random_batch()
    batch = distributed(strategy, inputs, targets)
    result = mirrored.train_step(batch["inputs"], batch["targets"])

    d_vars, g_vars = by_hand.discriminator.trainable_variables, by_hand.generator.trainable_variables
    examples = [(tf.constant(inputs[i:i + 1]), tf.constant(targets[i:i + 1])) for i in range(2)]
    tapes, outputs, d_sum, d_losses = [], [], None, []
    for x, y in examples:
        tape = tf.GradientTape(persistent=True)
        with tape:
            out = by_hand.generator(x, training=True)
            d_loss = discriminator_loss(by_hand.discriminator([x, y], training=True),
                                        by_hand.discriminator([x, out], training=True))
        grads = tape.gradient(d_loss, d_vars)
        d_sum = grads if d_sum is None else [a + b for a, b in zip(d_sum, grads)]
        tapes.append(tape)
        outputs.append(out)
        d_losses.append(float(d_loss))
    by_hand.discriminator_optimizer.apply_gradients(zip([g / 2 for g in d_sum], d_vars))
    g_sum, g_gans = None, []
    for (x, y), tape, out in zip(examples, tapes, outputs):
        with tape:
            g_loss, g_gan, _ = generator_losses(by_hand.discriminator([x, out], training=True), y, out)
        grads = tape.gradient(g_loss, g_vars)
        g_sum = grads if g_sum is None else [a + b for a, b in zip(g_sum, grads)]
        g_gans.append(float(g_gan))
    by_hand.generator_optimizer.apply_gradients(zip([g / 2 for g in g_sum], g_vars))

    checks = {"applied": bool(result["applied"]),
              "losses": [float(result["discrim_loss"]), float(result["gen_loss_GAN"])],
              "losses_by_hand": [float(np.mean(d_losses)), float(np.mean(g_gans))],
              "weights_differing": weights_differing(mirrored, by_hand),
              "global_step": int(mirrored.global_step.numpy())}
    return {**checks, **changed_by_a_nan_on_the_second_replica(strategy, mirrored, inputs, targets,
                                                                "trainable_variables")}


def main(output):
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    results, shared = {"replicas": strategy.num_replicas_in_sync}, {}
    for check in (simultaneous, bfloat16, sequential):
        try:
            results[check.__name__] = check(strategy, shared)
        except Exception:  # the other checks still run; this one's test shows the traceback
            results[check.__name__] = {"error": traceback.format_exc()}
    with open(output + ".partial", "w", encoding="utf-8") as f:
        json.dump(results, f, indent=1, default=str)
    os.replace(output + ".partial", output)


if __name__ == "__main__":
    main(sys.argv[1])
