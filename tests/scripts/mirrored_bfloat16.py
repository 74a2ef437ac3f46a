"""MirroredStrategy on 2 logical CPUs in bfloat16: its first step against the same mirrored step in
float32 from the same weights (bfloat16 rounding apart), later steps, and a NaN on one replica
leaving everything unchanged. Run as a script; prints MATCH on success."""

import dataclasses

import numpy as np
import tensorflow as tf

# two_replicas first: it sets up the two logical CPUs before anything uses a device.
from two_replicas import distributed, mirrored_and_by_hand, random_batch, without_dropout
from pix2pix import Options, Pix2Pix  # noqa: E402

options = Options(mode="train", output_dir="unused", crop_size=32, ngf=8, ndf=8, batch_size=2, seed=1,
                  mixed_precision="bfloat16")
strategy, fast, _ = mirrored_and_by_hand(options)
plain = Pix2Pix(dataclasses.replace(options, mixed_precision="float32"), strategy)
without_dropout(plain)
for a, b in zip(fast.generator.weights + fast.discriminator.weights,
                plain.generator.weights + plain.discriminator.weights):
    b.assign(a.numpy())
inputs, targets = random_batch()
batch = distributed(strategy, inputs, targets)
got, expected = (model.train_step(batch["inputs"], batch["targets"]) for model in (fast, plain))
names = ("discrim_loss", "gen_loss_GAN", "gen_loss_L1")
print("losses bfloat16", [float(got[k]) for k in names], "float32", [float(expected[k]) for k in names])
np.testing.assert_allclose([float(got[k]) for k in names], [float(expected[k]) for k in names], rtol=3e-2)
assert all(v.dtype == tf.float32 for v in fast.generator.trainable_variables + fast.discriminator.trainable_variables)
for _ in range(2):
    assert bool(fast.train_step(batch["inputs"], batch["targets"])["applied"])
assert int(fast.global_step.numpy()) == 3

state = [v.numpy().copy() for v in fast.generator.variables + fast.discriminator.variables
         + fast.generator_optimizer.variables + fast.discriminator_optimizer.variables]
bad_targets = targets.copy()
bad_targets[1] = np.nan  # the second replica's example only
bad = distributed(strategy, inputs, bad_targets)
assert not bool(fast.train_step(bad["inputs"], bad["targets"])["applied"])
after = [v.numpy() for v in fast.generator.variables + fast.discriminator.variables
         + fast.generator_optimizer.variables + fast.discriminator_optimizer.variables]
assert all(np.array_equal(a, b) for a, b in zip(state, after)) and int(fast.global_step.numpy()) == 3
print("MATCH")
