"""What the generators share (generators.py and unet_pytorch.py): the weight initialiser, the
tanh output layer and the U-Net's sizes."""

import math

import keras


def weights_init():
    """N(0, 0.02), the reference's kernel initialiser (discriminators use it too)."""
    return keras.initializers.RandomNormal(mean=0.0, stddev=0.02)


def tanh_output(x):
    return keras.layers.Activation("tanh", name="decoder_1_tanh", dtype="float32")(x)


def encoder_channels(ngf, depth):
    """Output channels of encoder_1..encoder_depth: ngf, 2ngf, 4ngf, then 8ngf."""
    return [ngf * min(2 ** i, 8) for i in range(depth)]


def unet_depth(options) -> int:
    """U-Net levels: 8 at 256 (the reference's unet_256), 7 at 128, 9 at 512."""
    return int(round(math.log2(options.crop_size)))
