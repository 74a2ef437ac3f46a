"""One mirrored step on 2 logical CPUs (batch 2) versus the same data as two batch-1 passes by hand.

Run as a script (logical devices must be set before TensorFlow starts); prints MATCH on success.
"""

import sys

import numpy as np
import tensorflow as tf

# two_replicas first: it sets up the two logical CPUs before anything uses a device.
from two_replicas import assert_weights_agree, distributed, mirrored_and_by_hand, random_batch
from pix2pix import Options  # noqa: E402
from pix2pix.models.losses import discriminator_loss, generator_losses  # noqa: E402

options = Options(mode="train", output_dir="unused", crop_size=32, ngf=8, ndf=8, batch_size=2, seed=1)
strategy, mirrored, by_hand = mirrored_and_by_hand(options)
inputs, targets = random_batch()
batch = distributed(strategy, inputs, targets)
result = mirrored.train_step(batch["inputs"], batch["targets"])
# The first replica's gradients: of its loss divided by the replica count (the optimisers sum them).
first_replica = result["discriminator_gradients"] + result["generator_gradients"]

# By hand: each example alone (its own batch statistics), gradients averaged, D then G applied.
d_vars, g_vars = by_hand.discriminator.trainable_variables, by_hand.generator.trainable_variables
d_sum, g_sum, losses, first_by_hand = None, None, [], None
for i in range(2):
    x, y = tf.constant(inputs[i:i + 1]), tf.constant(targets[i:i + 1])
    with tf.GradientTape(persistent=True) as tape:
        out = by_hand.generator(x, training=True)
        real, fake = by_hand.discriminator([x, y], training=True), by_hand.discriminator([x, out], training=True)
        d_loss = discriminator_loss(real, fake)
        g_loss, g_gan, g_l1 = generator_losses(fake, y, out)
    d_grads, g_grads = tape.gradient(d_loss, d_vars), tape.gradient(g_loss, g_vars)
    first_by_hand = first_by_hand or [g / 2 for g in d_grads + g_grads]
    d_sum = d_grads if d_sum is None else [a + b for a, b in zip(d_sum, d_grads)]
    g_sum = g_grads if g_sum is None else [a + b for a, b in zip(g_sum, g_grads)]
    losses.append([float(d_loss), float(g_gan), float(g_l1)])
by_hand.discriminator_optimizer.apply_gradients(zip([g / 2 for g in d_sum], d_vars))
by_hand.generator_optimizer.apply_gradients(zip([g / 2 for g in g_sum], g_vars))

expected = np.mean(losses, axis=0)
got = [float(result[k]) for k in ("discrim_loss", "gen_loss_GAN", "gen_loss_L1")]
print("losses mirrored", got, "by hand", expected.tolist())
np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def difference(a, b):
    """Largest difference relative to the gradient's scale; absolute for the biases that feed a
    batch norm, whose gradient is zero in exact arithmetic (about 1e-6 of rounding here)."""
    scale = float(np.max(np.abs(b.numpy())))
    return float(np.max(np.abs(a.numpy() - b.numpy()))) / (scale if scale > 1e-5 else 1.0)


worst = max(difference(a, b) for a, b in zip(first_replica, first_by_hand))
print("largest gradient difference (first replica), relative to the gradient's scale", worst)
assert worst < 1e-4, worst
# The update used both replicas' gradients summed: after one step Adam's first moment is
# (1 - beta1) times the gradient it was given, so the two models' moments must agree.
moments = [(a, b) for a, b in zip(mirrored.discriminator_optimizer.variables + mirrored.generator_optimizer.variables,
                                  by_hand.discriminator_optimizer.variables + by_hand.generator_optimizer.variables)
           if "momentum" in a.path]
assert len(moments) == len(d_vars) + len(g_vars), len(moments)
worst = max(difference(a, b) for a, b in moments)
print("largest first-moment difference, relative to its scale", worst)
assert worst < 1e-4, worst
assert_weights_agree(mirrored, by_hand)
assert int(mirrored.global_step.numpy()) == 1
print("MATCH")
sys.exit(0)
