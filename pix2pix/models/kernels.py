"""CPU speed paths, kept apart from the maths: each computes exactly what a plain Keras layer
(or optimiser) computes, only faster on this project's CPUs, and is tested equal to it in
values and gradients (tests/test_kernels.py).

One switch chooses them: `enabled()` is True unless the environment sets
PIX2PIX_PLAIN_KERNELS=1, or code runs inside `with plain_kernels():`. The builders below
(conv4x4_down, deconv4x4_up, leaky_relu, adam) return the fast layer when the switch is on
and the plain Keras one when it is off; both have the same variables, so checkpoints move
freely between the two.

- Small feature maps (<= 16x16 pixels): the U-Net's 4x4 stride-2 convolution as im2col + one
  matmul, and its transposed convolution as one matmul plus col2im (the adjoint of im2col, each
  one the gradient of the other).
  oneDNN runs these layers (1x1 to 8x8 maps, 4-8M-weight kernels) at a few GFLOP/s; as
  one matmul they run at memory speed. At 16x16 (encoder_5, decoder_4 of the default
  U-Net) the matmul form was 1.2-1.6x faster forward and backward in CPU time; at 32x32
  about even, at 64x64 mixed, so larger maps stay with oneDNN.
- LeakyReLU as Maximum with the fused LeakyReluGrad gradient, which keeps TF 2.21's Grappler
  remapper from mis-fusing Conv2D + BiasAdd + LeakyRelu (see LeakyReLU below).
- The discriminator's convolutions on the real and the fake pair as one stacked batch at
  batch 1 (stacked_conv2d, for networks.discriminate_stacked), with the generator's gradient
  (of the fake half alone) taken back through the fake half only.
- Adam as TensorFlow's fused ResourceApplyAdam kernel (one op per variable, as the TF1
  reference ran it) instead of Keras 3's ten element-wise ops.

Under --mixed_precision bfloat16 the layers compute in the layer's compute dtype (the matmuls
read the kernel in bfloat16) and Adam updates the float32 variables from float32 gradients;
measured there too, every path is faster than the plain layer (docs/benchmarks.md).
"""

import contextlib
import os

import keras
import tensorflow as tf

from pix2pix.errors import Pix2PixError

try:  # TensorFlow's own question "is any GradientTape recording?" (private; see recording())
    from tensorflow.python.eager.record import could_possibly_record as _tape_active
except ImportError:
    _tape_active = None

_plain_depth = 0


def enabled() -> bool:
    """True when the speed paths are to be used (the default)."""
    return _plain_depth == 0 and os.environ.get("PIX2PIX_PLAIN_KERNELS", "") in ("", "0")


@contextlib.contextmanager
def plain_kernels():
    """Build with the plain Keras layers and optimiser inside this block."""
    global _plain_depth
    _plain_depth += 1
    try:
        yield
    finally:
        _plain_depth -= 1


def recording() -> bool:
    """True where a gradient may be taken of what is computed now: a GradientTape is recording
    (a training step, a gradient penalty, a gradient's own gradient).

    The hand-given gradients below are wanted there only. Elsewhere (inference, an export's
    signatures) the layers run the same forward ops without them, so an export holds no custom
    gradients, which tf.saved_model.save would trace and store (about a quarter of a tiny model's export).
    Where TensorFlow lacks that private function, this answers True: hand-given gradients everywhere.
    """
    return _tape_active is None or _tape_active()


# ----------------------------------------------------------------------- LeakyReLU
class LeakyReLU(keras.layers.Layer):
    """max(x, slope * x): the same values and gradients as keras.layers.LeakyReLU.

    TF 2.21's Grappler remapper mis-fuses Conv2D + BiasAdd + LeakyRelu when the BiasAdd
    output has another consumer (the U-Net skip, the LeakyRelu gradient) and then abandons
    all its fusions for the graph, with an error in the log. Here the forward op is a
    Maximum, which it leaves alone, and the gradient is the fused LeakyReluGrad kernel taken
    on the *output* (positive exactly where the input is), so the convolution's output has
    one consumer.
    """

    def __init__(self, slope=0.2, **kwargs):
        super().__init__(**kwargs)
        self.slope = slope

    def call(self, x):
        slope = self.slope
        if not recording():
            return tf.maximum(x, slope * x)

        @tf.custom_gradient
        def leaky_relu(x):
            y = tf.maximum(x, slope * x)
            return y, lambda dy: tf.raw_ops.LeakyReluGrad(gradients=dy, features=y, alpha=slope)

        return leaky_relu(x)

    def get_config(self):
        return {**super().get_config(), "slope": self.slope}


def leaky_relu(slope, name):
    if enabled():
        return LeakyReLU(slope, name=name)
    return keras.layers.LeakyReLU(negative_slope=slope, name=name)


# ------------------------------------------------------------ small-map convolutions
SMALL_MAP_PIXELS = 256  # maps of at most this many pixels (16x16) take the matmul path


def _is_small(x):
    height, width = x.shape[1], x.shape[2]
    return height is not None and width is not None and height * width <= SMALL_MAP_PIXELS


def _windows(x):
    """[N, 2H, 2W, C] -> [N, H, W, 16C]: each output pixel's 4x4 window of X (stride 2, "same"
    padding: 1 before, 1 after) in (ky, kx, c) order, the order of a Conv2D kernel's rows."""
    padded = tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]])
    return tf.image.extract_patches(padded, [1, 4, 4, 1], [1, 2, 2, 1], [1, 1, 1, 1], "VALID")


def _overlap_add(t):
    """[N, H, W, 16C] -> [N, 2H, 2W, C], the adjoint of _windows: every window's 16 taps added back
    where they came from. Tap ky of pixel m lands on row 2m + ky - 1, so row 2m gets ky 1 of m and ky 3
    of m - 1, row 2m + 1 gets ky 2 of m and ky 0 of m + 1 (columns the same with kx)."""
    height, width, channels = t.shape[1], t.shape[2], t.shape[3] // 16
    t = tf.reshape(t, [-1, height, width, 4, 4 * channels])  # [.., ky, (kx, c)]
    t = tf.pad(t, [[0, 0], [1, 1], [0, 0], [0, 0], [0, 0]])  # row m of T is row m + 1 here
    even = t[:, 1:height + 1, :, 1] + t[:, 0:height, :, 3]
    odd = t[:, 1:height + 1, :, 2] + t[:, 2:height + 2, :, 0]
    rows = tf.reshape(tf.stack([even, odd], axis=2), [-1, 2 * height, width, 4, channels])  # [.., kx, c]
    rows = tf.pad(rows, [[0, 0], [0, 0], [1, 1], [0, 0], [0, 0]])
    even = rows[:, :, 1:width + 1, 1] + rows[:, :, 0:width, 3]
    odd = rows[:, :, 1:width + 1, 2] + rows[:, :, 2:width + 2, 0]
    return tf.reshape(tf.stack([even, odd], axis=3), [-1, 2 * height, 2 * width, channels])


# Each is the other's gradient (they are adjoint linear maps). Given by hand, the backward pass is
# one op where TensorFlow's own gradients of these ops trace into dozens (ExtractImagePatches' into a
# sparse matmul, each pad and slice into a slice and a pad): a training run traces the small-map
# layers about 4x faster, and runs them as fast.
@tf.custom_gradient
def _differentiable_windows(x):
    return _windows(x), overlap_add


@tf.custom_gradient
def _differentiable_overlap_add(t):
    return _overlap_add(t), windows


def windows(x):
    """_windows(X), with overlap_add as its gradient where one is recorded."""
    return _differentiable_windows(x) if recording() else _windows(x)


def overlap_add(t):
    """_overlap_add(T), with windows as its gradient where one is recorded."""
    return _differentiable_overlap_add(t) if recording() else _overlap_add(t)


class StridedConv2D(keras.layers.Conv2D):
    """Conv2D(filters, 4, strides=2, padding="same"), computed as im2col + one matmul on small maps.

    [N, H, W, C] -> [N, H/2, W/2, filters] for even H and W; the kernel [4, 4, C, filters]
    and bias are Conv2D's own, so checkpoints do not change.
    """

    def __init__(self, filters, **kwargs):
        super().__init__(filters, 4, strides=2, padding="same", **kwargs)

    def call(self, inputs):
        if not _is_small(inputs) or inputs.shape[1] % 2 or inputs.shape[2] % 2:
            return super().call(inputs)
        height, width = inputs.shape[1] // 2, inputs.shape[2] // 2
        # One op for the 16 taps (measured faster, forward and backward, than 16 strided slices).
        patches = tf.reshape(windows(inputs), [-1, 16 * inputs.shape[3]])
        kernel = tf.reshape(tf.cast(self.kernel, inputs.dtype), [16 * inputs.shape[3], self.filters])
        outputs = tf.matmul(patches, kernel)
        if self.use_bias:
            outputs += tf.cast(self.bias, inputs.dtype)
        return tf.reshape(outputs, [-1, height, width, self.filters])


class StridedConv2DTranspose(keras.layers.Conv2DTranspose):
    """Conv2DTranspose(filters, 4, strides=2, padding="same"), as one matmul plus col2im on small maps.

    [N, H, W, C] -> [N, 2H, 2W, filters]; the kernel [4, 4, filters, C] and bias are
    Conv2DTranspose's own. The transposed convolution is the adjoint of the convolution: each
    input pixel's products with the 16 taps, added back where the window came from (_overlap_add).
    """

    def __init__(self, filters, **kwargs):
        super().__init__(filters, 4, strides=2, padding="same", **kwargs)

    def call(self, inputs):
        if not _is_small(inputs):
            return super().call(inputs)
        height, width, channels = inputs.shape[1], inputs.shape[2], inputs.shape[3]
        # The kernel [4, 4, F, C] read as [16F, C] and multiplied transposed: no copy of it
        # (an explicit transpose of these 8-32 MB kernels, forward and in the gradient, cost
        # more than the matmul). Columns of the product are in (ky, kx, f) order.
        kernel = tf.reshape(tf.cast(self.kernel, inputs.dtype), [-1, channels])
        products = tf.matmul(tf.reshape(inputs, [-1, channels]), kernel, transpose_b=True)
        outputs = overlap_add(tf.reshape(products, [-1, height, width, 16 * self.filters]))
        if self.use_bias:
            outputs += tf.cast(self.bias, inputs.dtype)
        return outputs


def conv4x4_down(filters, name, **kwargs):
    """Conv2D(filters, 4, strides=2, padding="same"), fast on small maps when enabled."""
    if enabled():
        return StridedConv2D(filters, name=name, **kwargs)
    return keras.layers.Conv2D(filters, 4, strides=2, padding="same", name=name, **kwargs)


def deconv4x4_up(filters, name, **kwargs):
    """Conv2DTranspose(filters, 4, strides=2, padding="same"), fast on small maps when enabled."""
    if enabled():
        return StridedConv2DTranspose(filters, name=name, **kwargs)
    return keras.layers.Conv2DTranspose(filters, 4, strides=2, padding="same", name=name, **kwargs)


# --------------------------------------------- the stacked discriminator's convolutions
def _is_zero(t):
    """True when T is known, while tracing, to be all zeros (the gradient a tape gives an unused output)."""
    value = tf.get_static_value(t)
    return value is not None and not value.any()


@tf.autograph.experimental.do_not_convert  # plain Python, traced as written (tracing-time tests)
def stacked_conv2d(conv, first, second):
    """(CONV(FIRST), CONV(SECOND)) for a keras.layers.Conv2D CONV (its variables) as one convolution
    of the two stacked on the batch axis, which oneDNN runs faster than two at batch 1.

    Gradients are those of two calls: the kernel's from the stacked batch, the input gradients
    of both halves from one op on the stacked batch; a half whose output gradient is a zero the
    tape filled in (a loss of the other half alone: the generator's, of D on the fake pair) gets
    none, and the other half's input gradient is taken at its own batch size.
    """
    if conv.groups != 1 or conv.data_format != "channels_last":
        raise ValueError(f"stacked_conv2d: {conv.name} is not an ungrouped channels-last Conv2D")
    dims = dict(strides=[1, *conv.strides, 1], padding=conv.padding.upper(),
                dilations=[1, *conv.dilation_rate, 1])

    @tf.custom_gradient
    def convolve(first, second, kernel):
        both = tf.concat([first, second], 0)
        y = tf.nn.conv2d(both, kernel, **dims)

        def gradient(dy_first, dy_second):
            with tf.name_scope(conv.name + "_grad"):  # the layer's name in profiles
                dy = tf.concat([dy_first, dy_second], 0)
                dkernel = tf.raw_ops.Conv2DBackpropFilter(
                    input=both, filter_sizes=tf.shape(kernel), out_backprop=dy, **dims)
                if _is_zero(dy_first) or _is_zero(dy_second):
                    dx = [None if _is_zero(d) else tf.raw_ops.Conv2DBackpropInput(
                        input_sizes=tf.shape(x), filter=kernel, out_backprop=d, **dims)
                        for x, d in ((first, dy_first), (second, dy_second))]
                else:
                    dx = tf.split(tf.raw_ops.Conv2DBackpropInput(
                        input_sizes=tf.shape(both), filter=kernel, out_backprop=dy, **dims), 2, axis=0)
                return (*dx, dkernel)

        return tuple(tf.split(y, 2, axis=0)), gradient

    dtype = conv.compute_dtype
    halves = convolve(tf.cast(first, dtype), tf.cast(second, dtype), tf.cast(conv.kernel, dtype))
    if not conv.use_bias:
        return halves
    # The bias on each half, outside the custom gradient: with it inside, TF 2.21's Grappler
    # remapper fuses Conv2D + BiasAdd with a max(x, 0.2x) on the second half as if it were on
    # the whole batch (wrong values).
    bias = tf.cast(conv.bias, dtype)
    return tuple(tf.nn.bias_add(half, bias) for half in halves)


# ------------------------------------------------------------------------------ Adam
# Keras Adam's private fields the fused update reads: its slots and how a variable finds them.
ADAM_PRIVATE_FIELDS = ("_get_variable_index", "_momentums", "_velocities")


def require_private_fields(instance, names, user: str) -> None:
    """A one-line Pix2PixError naming the installed Keras and TensorFlow when INSTANCE lacks one of the
    private fields NAMES that USER relies on (a Keras newer than setup.py's bounds may rename them)."""
    missing = [name for name in names if not hasattr(instance, name)]
    if missing:
        raise Pix2PixError(f"{type(instance).__name__} has no {missing[0]} in Keras {keras.__version__} "
                           f"(TensorFlow {tf.__version__}), a private field {user} uses (pix2pix/models/kernels.py); "
                           "install the versions setup.py allows (tensorflow>=2.16,<2.22, keras<3.16) or set "
                           "PIX2PIX_PLAIN_KERNELS=1 for the plain Keras layers and optimiser")


def _resource(variable):
    """The tf.Variable behind a Keras variable (or the variable itself)."""
    return variable.value if isinstance(variable, keras.Variable) else variable


class FusedAdam(keras.optimizers.Adam):
    """keras.optimizers.Adam whose per-variable update is one ResourceApplyAdam op.

    The same formula (m <- m + (g - m)(1 - beta1), v <- v + (g^2 - v)(1 - beta2),
    var <- var - lr * sqrt(1 - beta2^t) / (1 - beta1^t) * m / (sqrt(v) + epsilon)),
    the same slots and checkpoints as Keras Adam; only the speed differs.
    """

    def build(self, variables):
        super().build(variables)
        require_private_fields(self, ADAM_PRIVATE_FIELDS, "the fused Adam speed path")

    def apply(self, grads, trainable_variables=None):
        self._step_scalars = {}  # the update's scalars, made once per apply and dtype (update_step)
        try:
            return super().apply(grads, trainable_variables)
        finally:
            self._step_scalars = None

    def update_step(self, gradient, variable, learning_rate):
        if self.amsgrad:
            return super().update_step(gradient, variable, learning_rate)
        dtype = variable.dtype
        scalars = getattr(self, "_step_scalars", None)
        if scalars is None:  # called outside apply: nothing to share
            scalars = {}
        if dtype not in scalars:  # the same for every variable of one update
            step = tf.cast(self.iterations + 1, dtype)
            beta_1, beta_2 = tf.cast(self.beta_1, dtype), tf.cast(self.beta_2, dtype)
            scalars[dtype] = dict(beta1_power=tf.pow(beta_1, step), beta2_power=tf.pow(beta_2, step),
                                  lr=tf.cast(learning_rate, dtype), beta1=beta_1, beta2=beta_2,
                                  epsilon=tf.cast(self.epsilon, dtype))
        index = self._get_variable_index(variable)
        tf.raw_ops.ResourceApplyAdam(
            var=_resource(variable).handle,
            m=_resource(self._momentums[index]).handle,
            v=_resource(self._velocities[index]).handle,
            grad=tf.cast(gradient, dtype), use_locking=False, **scalars[dtype])


def adam(**kwargs):
    """keras.optimizers.Adam(**KWARGS), as the fused kernel when enabled."""
    return FusedAdam(**kwargs) if enabled() else keras.optimizers.Adam(**kwargs)
