"""The PyTorch pix2pix's U-Net (its `UnetGenerator`), opt-in as --netG unet_pytorch (registered
in generators.py), so the generators that repository publishes (torch.save of this network's
state_dict) run here.

Layer for layer the TF1 U-Net of generators.py, with that repository's differences:

- no convolution bias where batch norm follows, nor on the first down-convolution (a bias
  comes only with instance norm, and always on the last up-convolution);
- the innermost down-convolution is never normalised;
- each level hands on [skip, up] (the TF1 U-Net concatenates [up, skip]);
- dropout after the norms of the depth - 5 levels just outside the innermost one (decoders
  7, 6, 5 at depth 8; the TF1 U-Net: 8, 7, 6);
- batch norm keeps PyTorch's running mean and variance (epsilon 1e-5, momentum 0.1): used
  with --bn_statistics running when run with dropout off (PyTorch's --eval), carried along
  otherwise so an imported model loses nothing.

PyTorch pads its 4x4 stride-2 (transposed) convolutions by 1 on each side; for the even sides
this network always sees, that is exactly TensorFlow's "same" padding (2 in all, 1 before), so
the convolutions are kernels.py's usual ones. Layer names are the TF1 U-Net's.
"""

import keras

from pix2pix.models import kernels
from pix2pix.models.generator_parts import encoder_channels, weights_init
from pix2pix.models.norms import BatchStatsNorm, normalise


def dropout_levels(depth):
    """The decoders followed by dropout: the depth - 5 levels just outside the innermost."""
    return range(5, depth)


def build_unet_pytorch(input_channels=3, output_channels=3, ngf=64, depth=8, norm="batch",
                       dropout=True, bn_statistics="batch"):
    """[N, H, W, input_channels] -> [N, H, W, output_channels] (tanh), H and W multiples of 2**depth.

        encoder_1        conv ngf (no norm)                                  H/2
        encoder_k        LeakyReLU 0.2 -> conv -> norm (none at k = depth)   ngf*2, *4, then *8
        decoder_depth    ReLU -> deconv -> norm                              ngf*8
        decoder_k        [encoder_k, prev] -> ReLU -> deconv -> norm (-> dropout 0.5 for k in
                         5..depth-1)                                         channels of encoder_(k-1)
        decoder_1        [encoder_1, prev] -> ReLU -> deconv (bias) -> tanh  H
    """
    use_bias = norm != "batch"
    channels = encoder_channels(ngf, depth)

    def norm_layer(x, name):
        if norm != "batch":
            return normalise(x, norm, name)
        return BatchStatsNorm(track_running=True, use_running=bn_statistics == "running", name=name)(x)

    def down(filters, name):
        return kernels.conv4x4_down(filters, name, use_bias=use_bias, kernel_initializer=weights_init())

    def up(filters, name, bias=use_bias):
        return kernels.deconv4x4_up(filters, name, use_bias=bias, kernel_initializer=weights_init())

    inputs = keras.Input(shape=(None, None, input_channels), name="inputs")
    encoded = [down(channels[0], "encoder_1_conv")(inputs)]
    for k in range(2, depth + 1):
        x = kernels.leaky_relu(0.2, f"encoder_{k}_lrelu")(encoded[-1])
        x = down(channels[k - 1], f"encoder_{k}_conv")(x)
        if k < depth:
            x = norm_layer(x, f"encoder_{k}_bn")
        encoded.append(x)

    x = encoded[-1]
    for k in range(depth, 1, -1):
        if k < depth:  # [skip, decoder output], in that order
            x = keras.layers.Concatenate(name=f"decoder_{k}_concat")([encoded[k - 1], x])
        x = keras.layers.ReLU(name=f"decoder_{k}_relu")(x)
        x = up(channels[k - 2], f"decoder_{k}_deconv")(x)
        x = norm_layer(x, f"decoder_{k}_bn")
        if dropout and k in dropout_levels(depth):
            x = keras.layers.Dropout(0.5, name=f"decoder_{k}_dropout")(x)

    x = keras.layers.Concatenate(name="decoder_1_concat")([encoded[0], x])
    x = keras.layers.ReLU(name="decoder_1_relu")(x)
    x = up(output_channels, "decoder_1_deconv", bias=True)(x)
    outputs = keras.layers.Activation("tanh", name="decoder_1_tanh", dtype="float32")(x)
    return keras.Model(inputs, outputs, name="generator")

