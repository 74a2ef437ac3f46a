"""One mirrored step on 2 logical CPUs (batch 2) versus the same data as two batch-1 passes by hand.

Run as a script (logical devices must be set before TensorFlow starts); prints MATCH on success.
"""

import sys

import numpy as np
import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

from pix2pix import Options, Pix2Pix  # noqa: E402
from pix2pix.losses import discriminator_loss, generator_losses  # noqa: E402


def without_dropout(model):
    # Dropout draws differ between the two runs; the comparison is about the maths.
    for layer in model.generator.layers:
        if "dropout" in layer.name:
            layer.rate = 0.0


options = Options(mode="train", output_dir="unused", crop_size=32, ngf=8, ndf=8, batch_size=2, seed=1)
tf.keras.utils.set_random_seed(1)
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
assert strategy.num_replicas_in_sync == 2
mirrored = Pix2Pix(options, strategy)
by_hand = Pix2Pix(options)
without_dropout(mirrored)
without_dropout(by_hand)
for a, b in zip(mirrored.generator.weights + mirrored.discriminator.weights,
                by_hand.generator.weights + by_hand.discriminator.weights):
    b.assign(a.numpy())

rng = np.random.default_rng(0)
inputs = rng.uniform(-1, 1, (2, 32, 32, 3)).astype(np.float32)
targets = rng.uniform(-1, 1, (2, 32, 32, 3)).astype(np.float32)
dataset = tf.data.Dataset.from_tensor_slices({"inputs": inputs, "targets": targets}).batch(2)
batch = next(iter(strategy.experimental_distribute_dataset(dataset)))
# The gradients the optimisers will receive: per replica, summed over replicas.
replica = strategy.run(mirrored._replica_gradients, args=(batch["inputs"], batch["targets"]))
summed = [strategy.reduce(tf.distribute.ReduceOp.SUM, g, axis=None)
          for g in replica["discriminator_gradients"] + replica["generator_gradients"]]
result = mirrored.train_step(batch["inputs"], batch["targets"])

# By hand: each example alone (its own batch statistics), gradients averaged, D then G applied.
d_vars, g_vars = by_hand.discriminator.trainable_variables, by_hand.generator.trainable_variables
d_sum, g_sum, losses = None, None, []
for i in range(2):
    x, y = tf.constant(inputs[i:i + 1]), tf.constant(targets[i:i + 1])
    with tf.GradientTape(persistent=True) as tape:
        out = by_hand.generator(x, training=True)
        real, fake = by_hand.discriminator([x, y], training=True), by_hand.discriminator([x, out], training=True)
        d_loss = discriminator_loss(real, fake)
        g_loss, g_gan, g_l1 = generator_losses(fake, y, out)
    d_grads, g_grads = tape.gradient(d_loss, d_vars), tape.gradient(g_loss, g_vars)
    d_sum = d_grads if d_sum is None else [a + b for a, b in zip(d_sum, d_grads)]
    g_sum = g_grads if g_sum is None else [a + b for a, b in zip(g_sum, g_grads)]
    losses.append([float(d_loss), float(g_gan), float(g_l1)])
by_hand.discriminator_optimizer.apply_gradients(zip([g / 2 for g in d_sum], d_vars))
by_hand.generator_optimizer.apply_gradients(zip([g / 2 for g in g_sum], g_vars))

expected = np.mean(losses, axis=0)
got = [float(result[k]) for k in ("discrim_loss", "gen_loss_GAN", "gen_loss_L1")]
print("losses mirrored", got, "by hand", expected.tolist())
np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
by_hand_mean = [g / 2 for g in d_sum + g_sum]


def difference(a, b):
    """Largest difference relative to the gradient's scale; absolute for the biases that feed a
    batch norm, whose gradient is zero in exact arithmetic (about 1e-6 of rounding here)."""
    scale = float(np.max(np.abs(b.numpy())))
    return float(np.max(np.abs(a.numpy() - b.numpy()))) / (scale if scale > 1e-5 else 1.0)


worst = max(difference(a, b) for a, b in zip(summed, by_hand_mean))
print("largest gradient difference, relative to the gradient's scale", worst)
assert worst < 1e-4, worst
# Adam's first step moves each weight by about lr * sign(gradient), so a gradient within
# rounding of zero may step either way (the traced step's fused kernels round differently
# from the eager reference); all other weights must agree.
differences = np.concatenate([np.abs(a.numpy() - b.numpy()).ravel()
                              for a, b in zip(mirrored.generator.trainable_variables
                                              + mirrored.discriminator.trainable_variables, g_vars + d_vars)])
print("weights differing by more than 1e-6 after the update:", int(np.sum(differences > 1e-6)), "of", differences.size)
assert np.mean(differences > 1e-6) < 1e-2
assert int(mirrored.global_step.numpy()) == 1
print("MATCH")
sys.exit(0)
