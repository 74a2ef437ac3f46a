"""Choosing the networks: the generator and discriminator tables by name, and what the train
step needs to know about them.

    define_generator(options)                 --netG: generators.GENERATORS
    define_discriminator(options, sigmoid)    --netD: discriminators.DISCRIMINATORS
    side_multiple(options)                    what the generator's input sides must divide by
    discriminate(discriminator, options, inputs, images)       one D call, conditional or not
    real_and_fake(discriminator)              the step's D on (x, y) and (x, G(x)), stacked at batch 1

The layer tables themselves are in generators.py and discriminators.py (norms in norms.py, CPU
speed paths in kernels.py). build_generator and build_discriminator are the reference's
U-Net and 70x70 PatchGAN with their original signatures.
"""

import keras
import tensorflow as tf

from pix2pix.data.tasks import task_for
from pix2pix.models import kernels, norms
from pix2pix.models.discriminators import DISCRIMINATORS, build_patch_discriminator
from pix2pix.models.generators import GENERATORS, ReflectionPadding2D, build_unet


def build_generator(input_channels=3, output_channels=3, ngf=64, separable_conv=False, depth=8):
    """The reference's U-Net ("unet_256" at depth 8), batch norm, dropout in decoders 8..6.

    [N, H, W, input_channels] in [-1, 1] -> [N, H, W, output_channels] in [-1, 1] (tanh),
    for any H and W that are multiples of 2**depth.
    """
    return build_unet(input_channels, output_channels, ngf, separable_conv, depth)


def build_discriminator(input_channels=3, target_channels=3, ndf=64, n_layers=3):
    """The reference's 70x70 PatchGAN, called as `model([inputs, targets])`.

    [N, H, W, input_channels] and [N, H, W, target_channels] in [-1, 1] ->
    [N, H', W', 1] probabilities in (0, 1); 256x256 -> 30x30.
    """
    return build_patch_discriminator(input_channels, target_channels, ndf, n_layers)


def define_generator(options):
    """The generator OPTIONS describe (--netG, channels from the task, ngf, norm, dropout)."""
    input_channels, output_channels = task_for(options).channels
    with norms.building_with(options.bn_statistics):
        return GENERATORS.get(options.netG)(input_channels, output_channels, options)


def side_multiple(options) -> int:
    """Height and width of the generator's input must be multiples of this (2**depth for the U-Net)."""
    return GENERATORS.get(options.netG).side_multiple(options)


def define_discriminator(options, sigmoid=True):
    """The discriminator OPTIONS describe (--netD, --n_layers_D, --norm, --condition_GAN)."""
    input_channels, target_channels = task_for(options).channels
    with norms.building_with(options.bn_statistics):
        return DISCRIMINATORS.get(options.netD)(input_channels, target_channels, options, sigmoid)


def is_conditional(discriminator) -> bool:
    return len(discriminator.inputs) == 2


def discriminate(discriminator, inputs, images, training=True):
    """D's scores for IMAGES (targets or outputs), given the generator's INPUTS if D is conditional."""
    if is_conditional(discriminator):
        return discriminator([inputs, images], training=training)
    return discriminator(images, training=training)


# Layers that compute each example on its own (BatchStatsNorm is called with groups=2 in the
# stacked pass): a stacked batch through them equals separate calls.
_PER_EXAMPLE_LAYERS = (keras.layers.InputLayer, keras.layers.Concatenate, keras.layers.ZeroPadding2D,
                       keras.layers.Conv2D, keras.layers.LeakyReLU, keras.layers.ReLU,
                       keras.layers.Activation, kernels.LeakyReLU, norms.BatchStatsNorm,
                       norms.InstanceNorm, ReflectionPadding2D)


def can_stack(discriminator) -> bool:
    """True when every layer of DISCRIMINATOR computes each example on its own (or is batch
    norm, which the stacked pass splits), so a stacked real+fake batch equals two calls."""
    return all(isinstance(layer, _PER_EXAMPLE_LAYERS) for layer in discriminator.layers)


def stacked_discriminator(discriminator):
    """DISCRIMINATOR's layers (the same objects, so the same variables) wired into a second model
    whose batch norms normalise the two halves of its batch each on their own statistics.

    Built once, outside any traced function; only for discriminators `can_stack` accepts."""
    def call(layer, *args, **kwargs):
        if isinstance(layer, norms.BatchStatsNorm):
            kwargs["groups"] = 2
        return layer(*args, **kwargs)

    return keras.models.clone_model(discriminator, clone_function=lambda layer: layer, call_function=call)


def discriminate_stacked(stacked, inputs, targets, outputs):
    """(D(inputs, targets), D(inputs, outputs)) from one pass of STACKED (stacked_discriminator)
    over the two pairs stacked on the batch axis.

    Both halves go through every convolution together (one op on a batch of 2N instead of two
    ops on N, which oneDNN runs faster at N = 1) and each half is batch-normalised on its own
    statistics, so both predictions, and every gradient, are those of two separate calls.
    inputs [N, H, W, Ci], targets and outputs [N, H, W, Ct] -> two [N, H', W', 1].
    """
    scores = discriminate(stacked, tf.concat([inputs, inputs], 0), tf.concat([targets, outputs], 0))
    return tuple(tf.split(scores, 2, axis=0))


def discriminate_real_and_fake(discriminator, inputs, targets, outputs):
    """(D(inputs, targets), D(inputs, outputs)) through the stacked pass (discriminate_stacked)."""
    return discriminate_stacked(stacked_discriminator(discriminator), inputs, targets, outputs)


def real_and_fake(discriminator):
    """The step's discrimination of both pairs: a function (inputs, targets, outputs) ->
    (D(inputs, targets), D(inputs, outputs)), the two calls of the original.

    A speed path, same values: at batch 1 a discriminator `can_stack` accepts runs both pairs
    in one stacked pass (measured: 1.04x the step at batch 1, slower at batch 4).
    """
    stacked = stacked_discriminator(discriminator) if can_stack(discriminator) else None

    def both(inputs, targets, outputs):
        if stacked is not None and inputs.shape[0] == 1:
            return discriminate_stacked(stacked, inputs, targets, outputs)
        return discriminate(discriminator, inputs, targets), discriminate(discriminator, inputs, outputs)

    return both


def count_trainable_parameters(model) -> int:
    """Number of trainable scalars in MODEL (the figure the reference prints at start)."""
    return int(sum(int(tf.size(w)) for w in model.trainable_weights))
