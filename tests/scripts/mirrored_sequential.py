"""--update_order sequential on 2 logical CPUs (MirroredStrategy, batch 2) versus the sequence by hand.

By hand: each example alone (its own batch statistics), D's gradients averaged and applied, then
D(x, G(x)) again through the updated D for each example, G's gradients averaged and applied.
Then a batch whose second example (the second replica's) is NaN must leave everything unchanged.
Run as a script (logical devices must be set before TensorFlow starts); prints MATCH on success.
"""

import sys

import numpy as np
import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

from pix2pix import Options, Pix2Pix  # noqa: E402
from pix2pix.kernels import plain_kernels  # noqa: E402
from pix2pix.losses import discriminator_loss, generator_losses  # noqa: E402


def without_dropout(model):
    for layer in model.generator.layers:
        if "dropout" in layer.name:
            layer.rate = 0.0


options = Options(mode="train", output_dir="unused", crop_size=32, ngf=8, ndf=8, batch_size=2, seed=1,
                  update_order="sequential")
tf.keras.utils.set_random_seed(1)
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
assert strategy.num_replicas_in_sync == 2
mirrored = Pix2Pix(options, strategy)
with plain_kernels():
    by_hand = Pix2Pix(Options(**{**options.to_dict(), "update_order": "simultaneous"}))
without_dropout(mirrored)
without_dropout(by_hand)
for a, b in zip(mirrored.generator.weights + mirrored.discriminator.weights,
                by_hand.generator.weights + by_hand.discriminator.weights):
    b.assign(a.numpy())

rng = np.random.default_rng(0)
inputs = rng.uniform(-1, 1, (2, 32, 32, 3)).astype(np.float32)
targets = rng.uniform(-1, 1, (2, 32, 32, 3)).astype(np.float32)


def distributed(x, y):
    dataset = tf.data.Dataset.from_tensor_slices({"inputs": x, "targets": y}).batch(2)
    return next(iter(strategy.experimental_distribute_dataset(dataset)))


batch = distributed(inputs, targets)
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
differences = np.concatenate([np.abs(a.numpy() - b.numpy()).ravel()
                              for a, b in zip(mirrored.generator.trainable_variables
                                              + mirrored.discriminator.trainable_variables, g_vars + d_vars)])
print("weights differing by more than 1e-6 after the update:", int(np.sum(differences > 1e-6)), "of", differences.size)
assert np.mean(differences > 1e-6) < 1e-2
assert int(mirrored.global_step.numpy()) == 1

# A NaN on the second replica only: nothing changes on either.
state = [v.numpy() for v in mirrored.generator.trainable_variables + mirrored.discriminator.trainable_variables
         + mirrored.generator_optimizer.variables + mirrored.discriminator_optimizer.variables]
bad = targets.copy()
bad[1] = np.nan
batch = distributed(inputs, bad)
assert not bool(mirrored.train_step(batch["inputs"], batch["targets"])["applied"])
after = [v.numpy() for v in mirrored.generator.trainable_variables + mirrored.discriminator.trainable_variables
         + mirrored.generator_optimizer.variables + mirrored.discriminator_optimizer.variables]
for a, b in zip(state, after):
    np.testing.assert_array_equal(a, b)
assert int(mirrored.global_step.numpy()) == 1
print("MATCH")
sys.exit(0)
