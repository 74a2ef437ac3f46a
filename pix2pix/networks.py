"""The pix2pix networks: the U-Net generator and the 70x70 PatchGAN discriminator.

Layer tables, initialisers and parameter counts are SPEC.md's. Layer names follow
the reference's variable scopes (`encoder_K_conv`, `decoder_K_bn`, `layer_K_conv`, ...)
so a TF1 checkpoint maps onto them one to one.
"""

import keras
import tensorflow as tf

BN_EPSILON = 1e-5


def _weights_init():
    return keras.initializers.RandomNormal(mean=0.0, stddev=0.02)


class BatchStatsNorm(keras.layers.Layer):
    """Batch normalisation that always uses the current batch's statistics.

    The reference normalises with batch statistics in training *and* at test time
    (SPEC.md), so there are no moving averages to keep. Uses the fused kernel, one op,
    as the TF1 original did. [N, H, W, C] -> [N, H, W, C].
    """

    def build(self, input_shape):
        channels = input_shape[-1]
        self.gamma = self.add_weight(
            name="gamma", shape=(channels,),
            initializer=keras.initializers.RandomNormal(mean=1.0, stddev=0.02))
        self.beta = self.add_weight(name="beta", shape=(channels,), initializer="zeros")

    def call(self, x):
        gamma = tf.cast(self.gamma, tf.float32)
        beta = tf.cast(self.beta, tf.float32)
        y, _, _ = tf.compat.v1.nn.fused_batch_norm(
            x, gamma, beta, epsilon=BN_EPSILON, is_training=True)
        return y


class LeakyReLU(keras.layers.Layer):
    """max(x, slope * x): leaky ReLU (slope 0.2 everywhere here). [N, H, W, C] -> same.

    Same values and gradients as keras.layers.LeakyReLU, but TF 2.21's Grappler remapper
    mis-fuses Conv2D + BiasAdd + LeakyRelu when the BiasAdd output has another consumer
    (the U-Net skip, the LeakyRelu gradient) and then abandons all its fusions for the
    graph, with an error in the log. Here the forward op is a Maximum, which it leaves
    alone, and the gradient is the fused LeakyReluGrad kernel taken on the *output*
    (positive exactly where the input is), so the convolution's output has one consumer.
    """

    def __init__(self, slope=0.2, **kwargs):
        super().__init__(**kwargs)
        self.slope = slope

    def call(self, x):
        slope = self.slope

        @tf.custom_gradient
        def leaky_relu(x):
            y = tf.maximum(x, slope * x)
            return y, lambda dy: tf.raw_ops.LeakyReluGrad(gradients=dy, features=y, alpha=slope)

        return leaky_relu(x)

    def get_config(self):
        return {**super().get_config(), "slope": self.slope}


# Feature maps at most this many pixels (8x8) go through a matmul instead of oneDNN's
# convolution, which runs the innermost U-Net layers (1x1 to 8x8 maps, 4-8M-weight kernels)
# at a few GFLOP/s; as one matmul they run at memory speed. Same variables, same sums.
SMALL_MAP_PIXELS = 64


def _is_small(x):
    height, width = x.shape[1], x.shape[2]
    return height is not None and width is not None and height * width <= SMALL_MAP_PIXELS


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
        padded = tf.pad(inputs, [[0, 0], [1, 1], [1, 1], [0, 0]])  # "same": 1 before, 1 after
        taps = [padded[:, ky:ky + 2 * height:2, kx:kx + 2 * width:2, :]
                for ky in range(4) for kx in range(4)]  # [N, H/2, W/2, C] each, (ky, kx) order
        patches = tf.reshape(tf.stack(taps, axis=3), [-1, 16 * inputs.shape[3]])
        kernel = tf.reshape(tf.cast(self.kernel, inputs.dtype), [16 * inputs.shape[3], self.filters])
        outputs = tf.matmul(patches, kernel) + tf.cast(self.bias, inputs.dtype)
        return tf.reshape(outputs, [-1, height, width, self.filters])


def _shifted(t, axis, offset):
    """t moved by one along AXIS: out[m] = t[m - 1] (offset -1) or t[m + 1] (+1), zeros at the edge."""
    size = t.shape[axis]
    pad = [[0, 0]] * len(t.shape)
    pad[axis] = [1, 0] if offset < 0 else [0, 1]
    start = [0] * len(t.shape)
    start[axis] = 0 if offset < 0 else 1
    return tf.slice(tf.pad(t, pad), start, [-1 if a != axis else size for a in range(len(t.shape))])


# For output row 2m + phase: the (kernel row, input row offset) pairs that land there,
# from the transposed convolution's p = 2i + ky - 1 ("same" pads 1 before).
_PHASE_TAPS = {0: ((1, 0), (3, -1)), 1: ((2, 0), (0, +1))}


class StridedConv2DTranspose(keras.layers.Conv2DTranspose):
    """Conv2DTranspose(filters, 4, strides=2, padding="same"), as one matmul plus col2im on small maps.

    [N, H, W, C] -> [N, 2H, 2W, filters]; the kernel [4, 4, filters, C] and bias are
    Conv2DTranspose's own. Each output pixel parity (phase) sums four shifted products.
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
        products = tf.reshape(products, [-1, height, width, 4, 4, self.filters])
        rows = []
        for phase_y in (0, 1):
            row = []
            for phase_x in (0, 1):
                total = 0
                for ky, dy in _PHASE_TAPS[phase_y]:
                    for kx, dx in _PHASE_TAPS[phase_x]:
                        part = products[:, :, :, ky, kx, :]
                        part = _shifted(part, 1, dy) if dy else part
                        total += _shifted(part, 2, dx) if dx else part
                row.append(total)
            rows.append(tf.stack(row, axis=3))  # [N, H, W, 2 (x phase), F]
        outputs = tf.stack(rows, axis=2)  # [N, H, 2 (y phase), W, 2, F]
        outputs = tf.reshape(outputs, [-1, 2 * height, 2 * width, self.filters])
        return outputs + tf.cast(self.bias, inputs.dtype)


def _down(filters, separable, name):
    """4x4 stride-2 'same' convolution: [N, H, W, C] -> [N, H/2, W/2, filters]."""
    if separable:
        return keras.layers.SeparableConv2D(
            filters, 4, strides=2, padding="same", depthwise_initializer=_weights_init(),
            pointwise_initializer=_weights_init(), name=name)
    return StridedConv2D(filters, kernel_initializer=_weights_init(), name=name)


def _up(x, filters, separable, name):
    """2x upsampling: [N, H, W, C] -> [N, 2H, 2W, filters].

    A 4x4 stride-2 transposed convolution, or with `separable` a nearest-neighbour
    resize followed by a 4x4 stride-1 separable convolution (as the reference).
    """
    if separable:
        x = keras.layers.UpSampling2D(2, interpolation="nearest", name=name + "_resize")(x)
        return keras.layers.SeparableConv2D(
            filters, 4, strides=1, padding="same", depthwise_initializer=_weights_init(),
            pointwise_initializer=_weights_init(), name=name)(x)
    return StridedConv2DTranspose(filters, kernel_initializer=_weights_init(), name=name)(x)


def encoder_channels(ngf, depth):
    """Output channels of encoder_1..encoder_depth: ngf, 2ngf, 4ngf, then 8ngf."""
    return [ngf * min(2 ** i, 8) for i in range(depth)]


def build_generator(input_channels=3, output_channels=3, ngf=64, separable_conv=False, depth=8):
    """The U-Net generator ("unet_256" at depth 8).

    [N, H, W, input_channels] in [-1, 1] -> [N, H, W, output_channels] in [-1, 1] (tanh),
    for any H and W that are multiples of 2**depth. Call with `training=True` for
    dropout (the reference keeps it on at test time too); batch norm always uses
    batch statistics.
    """
    channels = encoder_channels(ngf, depth)
    inputs = keras.Input(shape=(None, None, input_channels), name="inputs")

    skips = [_down(channels[0], separable_conv, "encoder_1_conv")(inputs)]
    for k in range(2, depth + 1):
        x = LeakyReLU(0.2, name=f"encoder_{k}_lrelu")(skips[-1])
        x = _down(channels[k - 1], separable_conv, f"encoder_{k}_conv")(x)
        skips.append(BatchStatsNorm(name=f"encoder_{k}_bn")(x))

    x = skips[-1]
    for k in range(depth, 1, -1):
        if k < depth:  # [decoder output, skip], in that order
            x = keras.layers.Concatenate(name=f"decoder_{k}_concat")([x, skips[k - 1]])
        x = keras.layers.ReLU(name=f"decoder_{k}_relu")(x)
        x = _up(x, channels[k - 2], separable_conv, f"decoder_{k}_deconv")
        x = BatchStatsNorm(name=f"decoder_{k}_bn")(x)
        if k > depth - 3:  # the three innermost decoders, as decoder_8.._6 at depth 8
            x = keras.layers.Dropout(0.5, name=f"decoder_{k}_dropout")(x)

    x = keras.layers.Concatenate(name="decoder_1_concat")([x, skips[0]])
    x = keras.layers.ReLU(name="decoder_1_relu")(x)
    x = _up(x, output_channels, separable_conv, "decoder_1_deconv")
    outputs = keras.layers.Activation("tanh", name="decoder_1_tanh", dtype="float32")(x)
    return keras.Model(inputs, outputs, name="generator")


def _padded_conv(x, filters, stride, name):
    """Zero-pad 1 pixel per side, then a 4x4 'valid' convolution."""
    x = keras.layers.ZeroPadding2D(1, name=name + "_pad")(x)
    return keras.layers.Conv2D(filters, 4, strides=stride, padding="valid",
                               kernel_initializer=_weights_init(), name=name + "_conv")(x)


def build_discriminator(input_channels=3, target_channels=3, ndf=64, n_layers=3):
    """The 70x70 PatchGAN discriminator, called as `model([inputs, targets])`.

    [N, H, W, input_channels] and [N, H, W, target_channels] in [-1, 1] ->
    [N, H', W', 1] probabilities in (0, 1); 256x256 -> 30x30.
    """
    inputs = keras.Input(shape=(None, None, input_channels), name="inputs")
    targets = keras.Input(shape=(None, None, target_channels), name="targets")
    x = keras.layers.Concatenate(name="layer_0_concat")([inputs, targets])

    x = _padded_conv(x, ndf, 2, "layer_1")
    x = LeakyReLU(0.2, name="layer_1_lrelu")(x)
    for i in range(n_layers):
        k = i + 2
        stride = 1 if i == n_layers - 1 else 2
        x = _padded_conv(x, ndf * min(2 ** (i + 1), 8), stride, f"layer_{k}")
        x = BatchStatsNorm(name=f"layer_{k}_bn")(x)
        x = LeakyReLU(0.2, name=f"layer_{k}_lrelu")(x)

    last = n_layers + 2
    x = _padded_conv(x, 1, 1, f"layer_{last}")
    outputs = keras.layers.Activation("sigmoid", name=f"layer_{last}_sigmoid", dtype="float32")(x)
    return keras.Model([inputs, targets], outputs, name="discriminator")


def discriminate_real_and_fake(discriminator, inputs, targets, outputs):
    """(D([inputs, targets]), D([inputs, outputs])) from one pass over a stacked batch.

    The two halves go through every convolution together (one op on a batch of 2N instead of
    two ops on N, which oneDNN runs faster at N = 1) and each half is batch-normalised on its
    own statistics, so both predictions, and every gradient, are those of two separate calls.
    inputs [N, H, W, Ci], targets and outputs [N, H, W, Ct] -> two [N, H', W', 1].
    """
    x = None
    for layer in discriminator.layers:  # a chain: inputs, targets, concat, then one path
        if isinstance(layer, keras.layers.InputLayer):
            continue
        if x is None:
            x = layer([tf.concat([inputs, inputs], 0), tf.concat([targets, outputs], 0)])
        elif isinstance(layer, BatchStatsNorm):
            x = tf.concat([layer(half) for half in tf.split(x, 2, axis=0)], 0)
        else:
            x = layer(x)
    return tuple(tf.split(x, 2, axis=0))


def count_trainable_parameters(model) -> int:
    """Number of trainable scalars in MODEL (the figure the reference prints at start)."""
    return int(sum(int(tf.size(w)) for w in model.trainable_weights))
