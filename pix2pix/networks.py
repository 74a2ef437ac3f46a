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

    Same values as keras.layers.LeakyReLU, but TF 2.21's Grappler remapper mis-fuses
    Conv2D + BiasAdd + LeakyRelu when the BiasAdd output has another consumer (the U-Net
    skip, the LeakyRelu gradient) and then abandons all its fusions for the graph, with an
    error in the log. This form is not fused, so the rest of the remapper's work stands.
    """

    def __init__(self, slope=0.2, **kwargs):
        super().__init__(**kwargs)
        self.slope = slope

    def call(self, x):
        return tf.maximum(x, self.slope * x)

    def get_config(self):
        return {**super().get_config(), "slope": self.slope}


def _down(filters, separable, name):
    """4x4 stride-2 'same' convolution: [N, H, W, C] -> [N, H/2, W/2, filters]."""
    if separable:
        return keras.layers.SeparableConv2D(
            filters, 4, strides=2, padding="same", depthwise_initializer=_weights_init(),
            pointwise_initializer=_weights_init(), name=name)
    return keras.layers.Conv2D(filters, 4, strides=2, padding="same",
                               kernel_initializer=_weights_init(), name=name)


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
    return keras.layers.Conv2DTranspose(filters, 4, strides=2, padding="same",
                                        kernel_initializer=_weights_init(), name=name)(x)


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


def count_trainable_parameters(model) -> int:
    """Number of trainable scalars in MODEL (the figure the reference prints at start)."""
    return int(sum(int(tf.size(w)) for w in model.trainable_weights))
