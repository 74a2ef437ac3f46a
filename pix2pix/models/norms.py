"""Normalisation layers, chosen by --norm: batch (the reference's), instance, none.

    NORMS.get("batch")(name) -> a layer, or None for "none"

- batch: BatchStatsNorm, batch statistics in training *and* at test time, gamma ~ N(1, 0.02),
  beta 0, epsilon 1e-5 (SPEC.md); no moving averages to keep.
- instance: per example and channel over height and width, epsilon 1e-5, no learned
  parameters (the PyTorch pix2pix's InstanceNorm2d default).
- none: no normalisation.
"""

import contextlib

import keras
import tensorflow as tf

from pix2pix.models.registry import Registry

EPSILON = 1e-5

NORMS = Registry("norm", flag="norm")


class BatchStatsNorm(keras.layers.Layer):
    """Batch normalisation that always uses the current batch's statistics. [N, H, W, C] -> same.

    Uses the fused kernel, one op, as the TF1 original did. With `groups` > 1 (set only by
    `separate_batch_statistics`) the batch is taken as that many equal parts, each
    normalised on its own statistics: what separate calls on each part would give.
    """

    groups = 1

    def build(self, input_shape):
        channels = input_shape[-1]
        self.gamma = self.add_weight(
            name="gamma", shape=(channels,),
            initializer=keras.initializers.RandomNormal(mean=1.0, stddev=0.02))
        self.beta = self.add_weight(name="beta", shape=(channels,), initializer="zeros")

    def _normalise(self, x):
        y, _, _ = tf.compat.v1.nn.fused_batch_norm(
            x, tf.cast(self.gamma, tf.float32), tf.cast(self.beta, tf.float32),
            epsilon=EPSILON, is_training=True)
        return y

    def call(self, x):
        if self.groups == 1:
            return self._normalise(x)
        return tf.concat([self._normalise(part) for part in tf.split(x, self.groups, axis=0)], 0)


class InstanceNorm(keras.layers.Layer):
    """(x - mean) / sqrt(var + 1e-5) per example and channel, over H and W; no parameters."""

    def call(self, x):
        mean, variance = tf.nn.moments(x, axes=[1, 2], keepdims=True)
        return (x - mean) * tf.math.rsqrt(variance + EPSILON)


@NORMS.register("batch", uses_batch=True)
def batch_norm(name):
    return BatchStatsNorm(name=name)


@NORMS.register("instance", uses_batch=False)
def instance_norm(name):
    return InstanceNorm(name=name)


@NORMS.register("none", uses_batch=False)
def no_norm(name):
    return None


def normalise(x, norm: str, name: str):
    """X through the NORM layer named NAME (unchanged for "none")."""
    layer = NORMS.get(norm)(name)
    return x if layer is None else layer(x)


@contextlib.contextmanager
def separate_batch_statistics(model, groups: int):
    """Inside this block, every BatchStatsNorm of MODEL normalises GROUPS equal parts of its
    batch separately (read when a call is traced, so trace inside the block)."""
    layers = [layer for layer in model.layers if isinstance(layer, BatchStatsNorm)]
    for layer in layers:
        layer.groups = groups
    try:
        yield
    finally:
        for layer in layers:
            layer.groups = 1
