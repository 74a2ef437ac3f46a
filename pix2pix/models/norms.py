"""Normalisation layers, chosen by --norm: batch (the reference's), instance, none.

    NORMS.get("batch")(name) -> a layer, or None for "none"

- batch: BatchStatsNorm, batch statistics in training *and* at test time, gamma ~ N(1, 0.02),
  beta 0, epsilon 1e-5 (docs/reference.md#generator); no moving averages to keep. With --bn_statistics running
  (PyTorch's --eval), or in the PyTorch U-Net (its imported state_dict carries them), the layer
  also keeps PyTorch's running mean and variance as non-trainable weights: see BatchStatsNorm.
- instance: per example and channel over height and width, epsilon 1e-5, no learned
  parameters (the PyTorch pix2pix's InstanceNorm2d default).
- none: no normalisation.
"""

import contextlib
import threading

import keras
import tensorflow as tf

from pix2pix.options.registry import Registry

EPSILON = 1e-5
MOMENTUM = 0.1  # PyTorch's: running <- (1 - 0.1) running + 0.1 batch

# --bn_statistics while a model is being built (see building_with): "batch" or "running".
_building = threading.local()

NORMS = Registry("norm", flag="norm")


class BatchStatsNorm(keras.layers.Layer):
    """Batch normalisation that by default always uses the current batch's statistics.
    [N, H, W, C] -> same.

    Uses the fused kernel, one op, as the TF1 original did.

    Running statistics (PyTorch's BatchNorm2d buffers), only when asked for, so the checkpoints
    of ordinary models keep their variables: TRACK_RUNNING adds `moving_mean` (0) and
    `moving_variance` (1) as non-trainable weights, which an imported state_dict fills;
    USE_RUNNING (implies TRACK_RUNNING) is PyTorch's train/eval switch: called with
    training=False the layer normalises with them (model.eval()), called with training=True it
    uses the batch's statistics and moves the running ones towards them by MOMENTUM, the
    variance unbiased (model.train()).
    """

    def __init__(self, track_running=False, use_running=False, **kwargs):
        super().__init__(**kwargs)
        self.use_running = use_running
        self.track_running = track_running or use_running

    def build(self, input_shape):
        channels = input_shape[-1]
        self.gamma = self.add_weight(
            name="gamma", shape=(channels,),
            initializer=keras.initializers.RandomNormal(mean=1.0, stddev=0.02))
        self.beta = self.add_weight(name="beta", shape=(channels,), initializer="zeros")
        if self.track_running:
            # float32 whatever the policy; replicas' updates are averaged (tf.distribute)
            running = dict(shape=(channels,), trainable=False, autocast=False, aggregation="mean")
            self.moving_mean = self.add_weight(name="moving_mean", initializer="zeros", **running)
            self.moving_variance = self.add_weight(name="moving_variance", initializer="ones", **running)

    def _normalise(self, x, update_running):
        y, _, _ = tf.compat.v1.nn.fused_batch_norm(
            x, tf.cast(self.gamma, tf.float32), tf.cast(self.beta, tf.float32),
            epsilon=EPSILON, is_training=True)
        if update_running:
            self._update_running(x)
        return y

    def _update_running(self, x):
        mean, variance = tf.nn.moments(tf.cast(x, tf.float32), axes=[0, 1, 2])
        count = tf.cast(tf.reduce_prod(tf.shape(x)[:3]), tf.float32)
        unbiased = variance * count / tf.maximum(count - 1.0, 1.0)
        self.moving_mean.assign(self.moving_mean * (1 - MOMENTUM) + mean * MOMENTUM)
        self.moving_variance.assign(self.moving_variance * (1 - MOMENTUM) + unbiased * MOMENTUM)

    def _normalise_running(self, x):
        y, _, _ = tf.compat.v1.nn.fused_batch_norm(
            x, tf.cast(self.gamma, tf.float32), tf.cast(self.beta, tf.float32),
            mean=tf.cast(self.moving_mean, tf.float32),
            variance=tf.cast(self.moving_variance, tf.float32), epsilon=EPSILON, is_training=False)
        return y

    def call(self, x, training=None):
        if self.use_running and not training:
            return self._normalise_running(x)
        return self._normalise(x, bool(self.use_running and training))

    def get_config(self):
        return {**super().get_config(), "track_running": self.track_running,
                "use_running": self.use_running}


class InstanceNorm(keras.layers.Layer):
    """(x - mean) / sqrt(var + 1e-5) per example and channel, over H and W; no parameters.
    Computed in float32 (in bfloat16 too), returned in the compute dtype."""

    def call(self, x):
        # In float32 whatever the compute dtype (in bfloat16 the mean of a map, and x minus it,
        # would be rounded to 8 bits); the output in the compute dtype.
        x32 = tf.cast(x, tf.float32)
        mean, variance = tf.nn.moments(x32, axes=[1, 2], keepdims=True)
        return tf.cast((x32 - mean) * tf.math.rsqrt(variance + EPSILON), x.dtype)


@NORMS.register("batch")
def batch_norm(name):
    running = getattr(_building, "bn_statistics", "batch") == "running"
    return BatchStatsNorm(use_running=running, name=name)


@contextlib.contextmanager
def building_with(bn_statistics: str):
    """Batch norms made inside this block follow BN_STATISTICS, a --bn_statistics value
    ("running": they keep running statistics and use them when called with training=False)."""
    previous = getattr(_building, "bn_statistics", "batch")
    _building.bn_statistics = bn_statistics
    try:
        yield
    finally:
        _building.bn_statistics = previous


@NORMS.register("instance")
def instance_norm(name):
    return InstanceNorm(name=name)


@NORMS.register("none")
def no_norm(name):
    return None


def normalise(x, norm: str, name: str):
    """X through the NORM layer named NAME (unchanged for "none")."""
    layer = NORMS.get(norm)(name)
    return x if layer is None else layer(x)
