"""The discriminators, as layer tables (docs/reference.md#discriminator, docs/reference.md#opt-in-models):
--netD basic | n_layers | pixel.

A conditional discriminator (the default) is called as `model([inputs, images])` and sees the
generator's input beside the target or output on the channel axis; with --nocondition_GAN it
is called as `model(images)` and sees the image alone (the paper's "GAN" rows).
The output is a map of per-patch scores [N, h, w, 1]: probabilities through a sigmoid for
--gan_mode vanilla, raw scores otherwise.
"""

import keras

from pix2pix.errors import UsageError
from pix2pix.models import kernels
from pix2pix.models.generators import weights_init
from pix2pix.models.norms import normalise
from pix2pix.options.registry import Registry

def _check_discriminator(options, discriminator):
    """--n_layers_D only where it means something; a crop the discriminator's map does not vanish at."""
    if options.n_layers_D is not None:
        if not discriminator.has_layers:
            raise UsageError(f"--n_layers_D: only applies to --netD n_layers, not --netD {options.netD}")
        if options.n_layers_D < 1:
            raise UsageError(f"--n_layers_D: must be >= 1, got {options.n_layers_D}")
    minimum = discriminator.minimum_crop(options)
    if options.crop_size < minimum:
        depth = f" --n_layers_D {options.n_layers_D}" if options.n_layers_D else ""
        raise UsageError(f"--crop_size: --netD {options.netD}{depth} needs --crop_size >= {minimum} (its "
                           f"output map would vanish at {options.crop_size}), got {options.crop_size}")


DISCRIMINATORS = Registry("discriminator", flag="netD", check=_check_discriminator)


def _inputs(input_channels, target_channels, conditional):
    """The Keras inputs and their channel concatenation (just the image when unconditional)."""
    images = keras.Input(shape=(None, None, target_channels), name="targets")
    if not conditional:
        return images, images
    inputs = keras.Input(shape=(None, None, input_channels), name="inputs")
    return [inputs, images], keras.layers.Concatenate(name="layer_0_concat")([inputs, images])


def _scores(x, sigmoid, name):
    return keras.layers.Activation("sigmoid" if sigmoid else "linear", name=name, dtype="float32")(x)


def _padded_conv(x, filters, stride, name):
    """Zero-pad 1 pixel per side, then a 4x4 'valid' convolution with bias."""
    x = keras.layers.ZeroPadding2D(1, name=name + "_pad")(x)
    return keras.layers.Conv2D(filters, 4, strides=stride, padding="valid",
                               kernel_initializer=weights_init(), name=name + "_conv")(x)


def build_patch_discriminator(input_channels=3, target_channels=3, ndf=64, n_layers=3,
                              norm="batch", sigmoid=True, conditional=True):
    """The PatchGAN: 70x70 receptive field at n_layers 3 (the reference's), 30x30 map at 256.

        layer_1              pad 1, conv 4x4 s2 -> ndf -> LeakyReLU 0.2 (no norm)
        layer_2..n_layers+1  pad 1, conv 4x4 (s2, the last s1) -> ndf*2, *4, *8 -> norm -> LeakyReLU
        layer_n_layers+2     pad 1, conv 4x4 s1 -> 1 (-> sigmoid)

    Receptive field 16, 34, 70, 142, 286 for n_layers 1..5; map side at 256: 126, 62, 30, 14, 6.
    """
    model_inputs, x = _inputs(input_channels, target_channels, conditional)
    x = _padded_conv(x, ndf, 2, "layer_1")
    x = kernels.leaky_relu(0.2, "layer_1_lrelu")(x)
    for i in range(n_layers):
        k = i + 2
        stride = 1 if i == n_layers - 1 else 2
        x = _padded_conv(x, ndf * min(2 ** (i + 1), 8), stride, f"layer_{k}")
        x = normalise(x, norm, f"layer_{k}_bn")
        x = kernels.leaky_relu(0.2, f"layer_{k}_lrelu")(x)
    last = n_layers + 2
    x = _padded_conv(x, 1, 1, f"layer_{last}")
    return keras.Model(model_inputs, _scores(x, sigmoid, f"layer_{last}_sigmoid"), name="discriminator")


def patch_map_side(size, n_layers):
    """The side of the PatchGAN's output map for an input side SIZE (pad 1, 4x4 convs)."""
    for i in range(n_layers + 2):
        stride = 2 if i < n_layers else 1
        size = (size + 2 - 4) // stride + 1
    return size


def build_pixel_discriminator(input_channels=3, target_channels=3, ndf=64, norm="batch",
                              sigmoid=True, conditional=True):
    """The PixelGAN (1x1 receptive field): conv 1x1 ndf -> LeakyReLU 0.2 -> conv 1x1 2ndf ->
    norm -> LeakyReLU 0.2 -> conv 1x1 1 (-> sigmoid). Its map is the input's size.
    Biases on every convolution, as in the PatchGAN here."""
    model_inputs, x = _inputs(input_channels, target_channels, conditional)

    def conv1x1(x, filters, name):
        return keras.layers.Conv2D(filters, 1, kernel_initializer=weights_init(), name=name)(x)

    x = kernels.leaky_relu(0.2, "layer_1_lrelu")(conv1x1(x, ndf, "layer_1_conv"))
    x = normalise(conv1x1(x, ndf * 2, "layer_2_conv"), norm, "layer_2_bn")
    x = kernels.leaky_relu(0.2, "layer_2_lrelu")(x)
    x = conv1x1(x, 1, "layer_3_conv")
    return keras.Model(model_inputs, _scores(x, sigmoid, "layer_3_sigmoid"), name="discriminator")


def _minimum_crop(n_layers):
    """The smallest power-of-two crop at which an n_layers PatchGAN still has a map."""
    size = 32
    while patch_map_side(size, n_layers) < 1:
        size *= 2
    return size


@DISCRIMINATORS.register("basic", has_layers=False, minimum_crop=lambda options: _minimum_crop(3))
def basic(input_channels, target_channels, options, sigmoid):
    """The reference's 70x70 PatchGAN (n_layers 3)."""
    return build_patch_discriminator(input_channels, target_channels, options.ndf, 3, options.norm,
                                     sigmoid, options.condition_GAN)


@DISCRIMINATORS.register("n_layers", has_layers=True,
                         minimum_crop=lambda options: _minimum_crop(options.n_layers_D or 3))
def n_layers(input_channels, target_channels, options, sigmoid):
    """The PatchGAN with --n_layers_D layers (1: 16x16, 3: 70x70, 5: 286x286 ImageGAN at 256)."""
    return build_patch_discriminator(input_channels, target_channels, options.ndf,
                                     options.n_layers_D or 3, options.norm, sigmoid,
                                     options.condition_GAN)


@DISCRIMINATORS.register("pixel", has_layers=False, minimum_crop=lambda options: 1)
def pixel(input_channels, target_channels, options, sigmoid):
    """The 1x1 PixelGAN."""
    return build_pixel_discriminator(input_channels, target_channels, options.ndf, options.norm,
                                     sigmoid, options.condition_GAN)
