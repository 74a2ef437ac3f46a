"""Choosing the networks: the generator and discriminator tables by name, and what the train
step needs to know about them.

    define_generator(options)                 --netG: generators.GENERATORS
    define_discriminator(options, sigmoid)    --netD: discriminators.DISCRIMINATORS
    side_multiple(options)                    what the generator's input sides must divide by
    discriminate(discriminator, options, inputs, images)       one D call, conditional or not
    real_and_fake(discriminator)              the step's D on (x, y) and (x, G(x)), stacked at batch 1
    discriminate_stacked(discriminator, ...)  D on both pairs, its convolutions on the two stacked

The layer tables themselves are in generators.py and discriminators.py (norms in norms.py, CPU
speed paths in kernels.py). build_generator and build_discriminator are the reference's
U-Net and 70x70 PatchGAN with their original signatures.
"""

import keras
import tensorflow as tf

from pix2pix.data.tasks import task_for
from pix2pix.models import kernels, norms
from pix2pix.models.discriminators import DISCRIMINATORS, build_patch_discriminator
from pix2pix.models.generators import GENERATORS, build_unet


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


def _layer_graph(discriminator):
    """DISCRIMINATOR's layers after its inputs, each with its input tensor(s), in order, when every
    layer is called once in its graph and has one output (so the graph can be replayed layer by
    layer); None otherwise."""
    produced = {id(t) for t in discriminator.inputs}
    steps = []
    for layer in discriminator.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        inputs, output = layer.input, layer.output
        if not isinstance(output, keras.KerasTensor):
            return None
        if not all(id(t) in produced for t in tf.nest.flatten(inputs)):
            return None
        produced.add(id(output))
        steps.append((layer, inputs, output))
    return steps if id(discriminator.outputs[0]) in produced and len(discriminator.outputs) == 1 else None


def can_stack(discriminator) -> bool:
    """True when the stacked pass (discriminate_stacked) can run DISCRIMINATOR: a graph of layers
    each called once."""
    return _layer_graph(discriminator) is not None


def discriminate_stacked(discriminator, inputs, targets, outputs, training=True, fused=True):
    """(D(inputs, targets), D(inputs, outputs)), the two calls of the original, with each plain
    convolution run once on both pairs stacked on the batch axis (kernels.stacked_conv2d when FUSED,
    the speed paths' switch as it was when the step was built; oneDNN runs one convolution at batch 2N
    faster than two at N = 1).

    DISCRIMINATOR's graph is replayed layer by layer on the (real, fake) pair: every layer but
    those convolutions is called on each half on its own (batch norm on each half's statistics),
    so both predictions, and every gradient, are those of two calls; a gradient of the fake half
    alone (the generator's) goes back through the fake half only. Only for discriminators
    `can_stack` accepts. inputs [N, H, W, Ci], targets and outputs [N, H, W, Ct] -> two [N, H', W', 1].
    """
    model_inputs = discriminator.inputs
    pairs = {id(model_inputs[-1]): (targets, outputs)}  # the image is the last input
    if len(model_inputs) == 2:
        pairs[id(model_inputs[0])] = (inputs, inputs)
    for layer, layer_inputs, layer_output in _layer_graph(discriminator):
        real, fake = ([pairs[id(t)][half] for t in layer_inputs] if isinstance(layer_inputs, (list, tuple))
                      else pairs[id(layer_inputs)][half] for half in (0, 1))
        if type(layer) is keras.layers.Conv2D and fused:
            pairs[id(layer_output)] = kernels.stacked_conv2d(layer, real, fake)
        else:
            pairs[id(layer_output)] = (layer(real, training=training), layer(fake, training=training))
    real, fake = pairs[id(discriminator.outputs[0])]
    dtype = discriminator.outputs[0].dtype
    return tf.cast(real, dtype), tf.cast(fake, dtype)


def discriminate_real_and_fake(discriminator, inputs, targets, outputs):
    """(D(inputs, targets), D(inputs, outputs)) through the stacked pass (discriminate_stacked)."""
    return discriminate_stacked(discriminator, inputs, targets, outputs, fused=kernels.enabled())


def real_and_fake(discriminator):
    """The step's discrimination of both pairs: a function (inputs, targets, outputs) ->
    (D(inputs, targets), D(inputs, outputs)), the two calls of the original.

    A speed path, same values: at batch 1 a discriminator `can_stack` accepts runs both pairs
    through the stacked pass (discriminate_stacked; measured: faster at batch 1, slower at batch 4).
    """
    stack, fused = can_stack(discriminator), kernels.enabled()  # read now: nothing global is read while tracing

    def both(inputs, targets, outputs):
        if stack and inputs.shape[0] == 1:
            return discriminate_stacked(discriminator, inputs, targets, outputs, fused=fused)
        return discriminate(discriminator, inputs, targets), discriminate(discriminator, inputs, outputs)

    return both


def count_trainable_parameters(model) -> int:
    """Number of trainable scalars in MODEL (the figure the reference prints at start)."""
    return int(sum(int(tf.size(w)) for w in model.trainable_weights))
