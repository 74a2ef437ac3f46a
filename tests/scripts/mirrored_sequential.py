"""--update_order sequential on 2 logical CPUs (MirroredStrategy, batch 2) versus the sequence by hand.

By hand: each example alone (its own batch statistics), D's gradients averaged and applied, then
D(x, G(x)) again through the updated D for each example, G's gradients averaged and applied.
Then a batch whose second example (the second replica's) is NaN must leave everything unchanged.
Run as a script (logical devices must be set before TensorFlow starts); prints MATCH on success.
"""

import sys

import numpy as np
import tensorflow as tf

# two_replicas first: it sets up the two logical CPUs before anything uses a device.
from two_replicas import assert_weights_agree, distributed, mirrored_and_by_hand, random_batch
from pix2pix import Options  # noqa: E402
from pix2pix.models.kernels import plain_kernels  # noqa: E402
from pix2pix.models.losses import discriminator_loss, generator_losses  # noqa: E402

options = Options(mode="train", output_dir="unused", crop_size=32, ngf=8, ndf=8, batch_size=2, seed=1,
                  update_order="sequential")
strategy, mirrored, by_hand = mirrored_and_by_hand(
    options, Options(**{**options.to_dict(), "update_order": "simultaneous"}), plain_kernels())
inputs, targets = random_batch()
batch = distributed(strategy, inputs, targets)
result = mirrored.train_step(batch["inputs"], batch["targets"])
assert bool(result["applied"])

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

got = [float(result["discrim_loss"]), float(result["gen_loss_GAN"])]
print("losses mirrored", got, "by hand", [np.mean(d_losses), np.mean(g_gans)])
np.testing.assert_allclose(got, [np.mean(d_losses), np.mean(g_gans)], rtol=1e-5, atol=1e-6)
assert_weights_agree(mirrored, by_hand)
assert int(mirrored.global_step.numpy()) == 1

# A NaN on the second replica only: nothing changes on either.
state = [v.numpy() for v in mirrored.generator.trainable_variables + mirrored.discriminator.trainable_variables
         + mirrored.generator_optimizer.variables + mirrored.discriminator_optimizer.variables]
bad = targets.copy()
bad[1] = np.nan
batch = distributed(strategy, inputs, bad)
assert not bool(mirrored.train_step(batch["inputs"], batch["targets"])["applied"])
after = [v.numpy() for v in mirrored.generator.trainable_variables + mirrored.discriminator.trainable_variables
         + mirrored.generator_optimizer.variables + mirrored.discriminator_optimizer.variables]
for a, b in zip(state, after):
    np.testing.assert_array_equal(a, b)
assert int(mirrored.global_step.numpy()) == 1
print("MATCH")
sys.exit(0)
