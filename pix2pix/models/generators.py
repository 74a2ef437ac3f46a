"""The generators, as layer tables (docs/reference.md#generator, docs/reference.md#opt-in-models):
--netG unet | encoder_decoder | resnet_9blocks | resnet_6blocks | unet_pytorch (its layers in unet_pytorch.py).

Every generator maps [N, H, W, input_channels] in [-1, 1] to [N, H, W, output_channels] in
[-1, 1] (tanh) for H and W multiples of its `side_multiple`. Call it with training=True for
dropout (the reference keeps it on at test time too). Kernels N(0, 0.02), biases 0.

Layer names follow the reference's variable scopes (`encoder_K_conv`, `decoder_K_bn`, ...)
so a TF1 checkpoint maps onto the U-Net one to one.
"""

import keras
import tensorflow as tf

from pix2pix.errors import UsageError
from pix2pix.models import kernels
from pix2pix.models.generator_parts import encoder_channels, tanh_output, unet_depth, weights_init
from pix2pix.models.norms import normalise
from pix2pix.models.unet_pytorch import build_unet_pytorch
from pix2pix.options.registry import Registry


def _check_generator(options, generator):
    """--crop_size and --render_size must be multiples of what the generator's sides divide by."""
    multiple = generator.side_multiple(options)
    if options.crop_size % multiple:
        raise UsageError(f"--crop_size: --netG {options.netG} needs a multiple of {multiple}, "
                           f"got {options.crop_size}")
    if 0 < options.render_size < multiple:
        raise UsageError(f"--render_size: must be >= {multiple} (the multiple --netG {options.netG} needs at "
                           f"--crop_size {options.crop_size}), got {options.render_size}")


GENERATORS = Registry("generator", flag="netG", check=_check_generator)


# ----------------------------------------------------------------------------- U-Net
def _down(filters, separable, name):
    """4x4 stride-2 'same' convolution: [N, H, W, C] -> [N, H/2, W/2, filters]."""
    if separable:
        return keras.layers.SeparableConv2D(
            filters, 4, strides=2, padding="same", depthwise_initializer=weights_init(),
            pointwise_initializer=weights_init(), name=name)
    return kernels.conv4x4_down(filters, name, kernel_initializer=weights_init())


def _up(x, filters, separable, name):
    """2x upsampling: [N, H, W, C] -> [N, 2H, 2W, filters].

    A 4x4 stride-2 transposed convolution, or with `separable` a nearest-neighbour
    resize followed by a 4x4 stride-1 separable convolution (as the reference).
    """
    if separable:
        x = keras.layers.UpSampling2D(2, interpolation="nearest", name=name + "_resize")(x)
        return keras.layers.SeparableConv2D(
            filters, 4, strides=1, padding="same", depthwise_initializer=weights_init(),
            pointwise_initializer=weights_init(), name=name)(x)
    return kernels.deconv4x4_up(filters, name, kernel_initializer=weights_init())(x)


def build_unet(input_channels=3, output_channels=3, ngf=64, separable_conv=False, depth=8,
               norm="batch", dropout=True, skips=True):
    """The U-Net ("unet_256" at depth 8); with SKIPS False the paper's encoder-decoder.

        encoder_1        conv ngf                                  H/2
        encoder_k        LeakyReLU 0.2 -> conv -> norm             H/2^k, ngf*2, *4, then *8
        decoder_depth    ReLU -> deconv -> norm -> dropout 0.5     ngf*8
        decoder_k        [prev, encoder_k] -> ReLU -> deconv -> norm (-> dropout for the
                         three innermost)                          channels of encoder_(k-1)
        decoder_1        [prev, encoder_1] -> ReLU -> deconv out -> tanh    H

    The innermost encoder (a 1x1 map at the reference's sizes) is left unnormalised where a
    norm would make it constant: instance norm always, and batch norm in the encoder-decoder,
    whose output would otherwise not depend on its input at batch 1 (the paper's Torch code).
    The convolutions keep their biases under every norm (the reference's layers).

    The arguments are the U-Net's knobs, each a flag (its public signature predates the options record).
    """
    channels = encoder_channels(ngf, depth)
    inputs = keras.Input(shape=(None, None, input_channels), name="inputs")

    encoded = [_down(channels[0], separable_conv, "encoder_1_conv")(inputs)]
    for k in range(2, depth + 1):
        x = kernels.leaky_relu(0.2, f"encoder_{k}_lrelu")(encoded[-1])
        x = _down(channels[k - 1], separable_conv, f"encoder_{k}_conv")(x)
        innermost_unnormalised = k == depth and (norm == "instance" or not skips)
        if not innermost_unnormalised:
            x = normalise(x, norm, f"encoder_{k}_bn")
        encoded.append(x)

    x = encoded[-1]
    for k in range(depth, 1, -1):
        if k < depth and skips:  # [decoder output, skip], in that order
            x = keras.layers.Concatenate(name=f"decoder_{k}_concat")([x, encoded[k - 1]])
        x = keras.layers.ReLU(name=f"decoder_{k}_relu")(x)
        x = _up(x, channels[k - 2], separable_conv, f"decoder_{k}_deconv")
        x = normalise(x, norm, f"decoder_{k}_bn")
        if dropout and k > depth - 3:  # the three innermost decoders, decoder_8.._6 at depth 8
            x = keras.layers.Dropout(0.5, name=f"decoder_{k}_dropout")(x)

    if skips:
        x = keras.layers.Concatenate(name="decoder_1_concat")([x, encoded[0]])
    x = keras.layers.ReLU(name="decoder_1_relu")(x)
    x = _up(x, output_channels, separable_conv, "decoder_1_deconv")
    return keras.Model(inputs, tanh_output(x), name="generator")


def _unet_multiple(options):
    return 2 ** unet_depth(options)


@GENERATORS.register("unet", side_multiple=_unet_multiple)
def unet(input_channels, output_channels, options):
    """The reference's U-Net; its depth follows --crop_size (8 levels at 256)."""
    return build_unet(input_channels, output_channels, options.ngf, options.separable_conv,
                      unet_depth(options), options.norm, not options.no_dropout)


@GENERATORS.register("encoder_decoder", side_multiple=_unet_multiple)
def encoder_decoder(input_channels, output_channels, options):
    """The paper's ablation (its Table 2): the U-Net without skip connections."""
    return build_unet(input_channels, output_channels, options.ngf, options.separable_conv,
                      unet_depth(options), options.norm, not options.no_dropout, skips=False)


# ---------------------------------------------------------------------------- ResNet
class ReflectionPadding2D(keras.layers.Layer):
    """Pad height and width by PAD on each side, mirroring the edge (no edge repeated)."""

    def __init__(self, pad, **kwargs):
        super().__init__(**kwargs)
        self.pad = pad

    def call(self, x):
        p = self.pad
        return tf.pad(x, [[0, 0], [p, p], [p, p], [0, 0]], mode="REFLECT")

    def get_config(self):
        return {**super().get_config(), "pad": self.pad}


def _conv(x, filters, size, stride, use_bias, name):
    return keras.layers.Conv2D(filters, size, strides=stride, padding="valid", use_bias=use_bias,
                               kernel_initializer=weights_init(), name=name)(x)


def _norm_relu(x, norm, name):
    return keras.layers.ReLU(name=name + "_relu")(normalise(x, norm, name + "_norm"))


def residual_block(x, filters, norm, dropout, use_bias, name):
    """x + [reflect 1 -> conv 3x3 -> norm -> ReLU -> (dropout 0.5) -> reflect 1 -> conv 3x3 -> norm]."""
    y = ReflectionPadding2D(1, name=name + "_pad1")(x)
    y = _norm_relu(_conv(y, filters, 3, 1, use_bias, name + "_conv1"), norm, name + "_1")
    if dropout:
        y = keras.layers.Dropout(0.5, name=name + "_dropout")(y)
    y = ReflectionPadding2D(1, name=name + "_pad2")(y)
    y = normalise(_conv(y, filters, 3, 1, use_bias, name + "_conv2"), norm, name + "_2_norm")
    return keras.layers.Add(name=name + "_add")([x, y])


def downsample(x, filters, norm, use_bias, name):
    """conv 3x3 stride 2, zero padding 1 -> norm -> ReLU: [N, H, W, C] -> [N, H/2, W/2, filters]."""
    x = keras.layers.ZeroPadding2D(1, name=name + "_pad")(x)
    return _norm_relu(_conv(x, filters, 3, 2, use_bias, name + "_conv"), norm, name)


def upsample(x, filters, norm, use_bias, name):
    """Transposed conv 3x3 stride 2 (PyTorch's padding 1, output_padding 1) -> norm -> ReLU.

    [N, H, W, C] -> [N, 2H, 2W, filters]: output pixel o = 2i + k - 1, i.e. Keras' "valid"
    transposed convolution (2H + 1 wide, o = 2i + k) without its first row and column.
    """
    x = keras.layers.Conv2DTranspose(filters, 3, strides=2, padding="valid", use_bias=use_bias,
                                     kernel_initializer=weights_init(), name=name + "_deconv")(x)
    x = keras.layers.Cropping2D(((1, 0), (1, 0)), name=name + "_crop")(x)
    return _norm_relu(x, norm, name)


def build_resnet(input_channels=3, output_channels=3, ngf=64, blocks=9, norm="batch", dropout=True):
    """The PyTorch pix2pix's ResNet generator (Johnson et al.):

        reflect 3 -> conv 7x7 ngf -> norm -> ReLU                      H
        2 x downsample: conv 3x3 s2 -> norm -> ReLU                    H/4, ngf*4
        BLOCKS x residual_block at ngf*4
        2 x upsample: deconv 3x3 s2 -> norm -> ReLU                    H, ngf
        reflect 3 -> conv 7x7 output_channels -> tanh

    Convolutions carry a bias only with instance norm (that repository's rule); the last
    one always does. H and W must be multiples of 4.
    """
    use_bias = norm == "instance"
    inputs = keras.Input(shape=(None, None, input_channels), name="inputs")
    x = ReflectionPadding2D(3, name="stem_pad")(inputs)
    x = _norm_relu(_conv(x, ngf, 7, 1, use_bias, "stem_conv"), norm, "stem")
    x = downsample(x, ngf * 2, norm, use_bias, "down_1")
    x = downsample(x, ngf * 4, norm, use_bias, "down_2")
    for i in range(1, blocks + 1):
        x = residual_block(x, ngf * 4, norm, dropout, use_bias, f"block_{i}")
    x = upsample(x, ngf * 2, norm, use_bias, "up_1")
    x = upsample(x, ngf, norm, use_bias, "up_2")
    x = ReflectionPadding2D(3, name="head_pad")(x)
    x = _conv(x, output_channels, 7, 1, True, "head_conv")
    return keras.Model(inputs, tanh_output(x), name="generator")


def _resnet(blocks):
    def build(input_channels, output_channels, options):
        return build_resnet(input_channels, output_channels, options.ngf, blocks,
                            options.norm, not options.no_dropout)
    build.__doc__ = f"The PyTorch pix2pix's resnet_{blocks}blocks."
    return build


GENERATORS.register("resnet_9blocks", side_multiple=lambda options: 4)(_resnet(9))
GENERATORS.register("resnet_6blocks", side_multiple=lambda options: 4)(_resnet(6))



@GENERATORS.register("unet_pytorch", side_multiple=_unet_multiple)
def unet_pytorch(input_channels, output_channels, options):
    """The PyTorch pix2pix's unet_256 (depth 8 at --crop_size 256; unet_128 at 128): unet_pytorch.py."""
    return build_unet_pytorch(input_channels, output_channels, options.ngf, unet_depth(options),
                              options.norm, not options.no_dropout, options.bn_statistics)
