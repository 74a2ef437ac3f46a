"""The official TensorFlow pix2pix tutorial's model and train step, for side-by-side timing.

A reimplementation, written from the tutorial's description (tensorflow.org/tutorials/generative/pix2pix),
with standard Keras layers and nothing fused by hand:

- generator: U-Net. Downsample block = Conv2D(4, strides 2, "same", kernel N(0, 0.02), no bias)
  -> BatchNormalization (all but the first) -> LeakyReLU. Upsample block = Conv2DTranspose(4, strides 2,
  "same", N(0, 0.02), no bias) -> BatchNormalization -> Dropout(0.5) (first three only) -> ReLU.
  Skips are concatenated [upsampled, skip]; the last layer is Conv2DTranspose(out, 4, strides 2, tanh).
- discriminator: concat[inp, tar] -> down 64 (no BN) -> down 128 -> down 256 -> ZeroPadding2D ->
  Conv2D(512, 4, strides 1, no bias) -> BatchNormalization -> LeakyReLU -> ZeroPadding2D -> Conv2D(1, 4) logits.
- losses: BinaryCrossentropy(from_logits=True); generator = gan + 100 * L1; discriminator = real + generated.
- two Adam(2e-4, beta_1=0.5); the step is one @tf.function with two GradientTapes, training=True
  (Keras batch norm then normalises with batch statistics and updates its moving statistics).

The tutorial is written for 256x256 (8 down, 7 up + last). For other sizes the U-Net depth is
log2(size), with the tutorial's filter progression ngf * min(2**i, 8), so tiny smoke runs work too.

Usage:
    ref = TutorialPix2Pix(size=256, ngf=64, ndf=64)
    losses = ref.train_step(inputs, targets)     # dict of scalar tensors
"""

import math

import keras
import tensorflow as tf

LAMBDA = 100


def _initializer():
    return keras.initializers.RandomNormal(0.0, 0.02)


def downsample(filters, size, apply_batchnorm=True):
    block = keras.Sequential()
    block.add(keras.layers.Conv2D(filters, size, strides=2, padding="same",
                                  kernel_initializer=_initializer(), use_bias=False))
    if apply_batchnorm:
        block.add(keras.layers.BatchNormalization())
    block.add(keras.layers.LeakyReLU())
    return block


def upsample(filters, size, apply_dropout=False):
    block = keras.Sequential()
    block.add(keras.layers.Conv2DTranspose(filters, size, strides=2, padding="same",
                                           kernel_initializer=_initializer(), use_bias=False))
    block.add(keras.layers.BatchNormalization())
    if apply_dropout:
        block.add(keras.layers.Dropout(0.5))
    block.add(keras.layers.ReLU())
    return block


def _depth(size):
    depth = int(round(math.log2(size)))
    if 2 ** depth != size or size < 32:
        raise ValueError(f"size must be a power of two >= 32, got {size}")
    return depth


def Generator(size=256, ngf=64, input_channels=3, output_channels=3):
    """The tutorial's U-Net; at size 256 and ngf 64 exactly its layer list."""
    depth = _depth(size)
    channels = [ngf * min(2 ** i, 8) for i in range(depth)]  # 64, 128, 256, 512, 512, ...
    inputs = keras.layers.Input(shape=[size, size, input_channels])
    down_stack = [downsample(channels[0], 4, apply_batchnorm=False)]
    down_stack += [downsample(c, 4) for c in channels[1:]]
    up_channels = list(reversed(channels[:-1]))  # 512, 512, 512, 512, 256, 128, 64
    up_stack = [upsample(c, 4, apply_dropout=i < 3) for i, c in enumerate(up_channels)]
    last = keras.layers.Conv2DTranspose(output_channels, 4, strides=2, padding="same",
                                        kernel_initializer=_initializer(), activation="tanh")
    x = inputs
    skips = []
    for down in down_stack:
        x = down(x)
        skips.append(x)
    skips = reversed(skips[:-1])
    for up, skip in zip(up_stack, skips):
        x = up(x)
        x = keras.layers.Concatenate()([x, skip])
    x = last(x)
    return keras.Model(inputs=inputs, outputs=x, name="tutorial_generator")


def Discriminator(size=256, ndf=64, input_channels=3, target_channels=3):
    """The tutorial's PatchGAN; 30x30x1 logits at 256x256."""
    inp = keras.layers.Input(shape=[size, size, input_channels], name="input_image")
    tar = keras.layers.Input(shape=[size, size, target_channels], name="target_image")
    x = keras.layers.concatenate([inp, tar])
    down1 = downsample(ndf, 4, False)(x)
    down2 = downsample(ndf * 2, 4)(down1)
    down3 = downsample(ndf * 4, 4)(down2)
    zero_pad1 = keras.layers.ZeroPadding2D()(down3)
    conv = keras.layers.Conv2D(ndf * 8, 4, strides=1, kernel_initializer=_initializer(),
                               use_bias=False)(zero_pad1)
    batchnorm1 = keras.layers.BatchNormalization()(conv)
    leaky_relu = keras.layers.LeakyReLU()(batchnorm1)
    zero_pad2 = keras.layers.ZeroPadding2D()(leaky_relu)
    last = keras.layers.Conv2D(1, 4, strides=1, kernel_initializer=_initializer())(zero_pad2)
    return keras.Model(inputs=[inp, tar], outputs=last, name="tutorial_discriminator")


loss_object = keras.losses.BinaryCrossentropy(from_logits=True)


def generator_loss(disc_generated_output, gen_output, target):
    gan_loss = loss_object(tf.ones_like(disc_generated_output), disc_generated_output)
    l1_loss = tf.reduce_mean(tf.abs(target - gen_output))
    total_gen_loss = gan_loss + (LAMBDA * l1_loss)
    return total_gen_loss, gan_loss, l1_loss


def discriminator_loss(disc_real_output, disc_generated_output):
    real_loss = loss_object(tf.ones_like(disc_real_output), disc_real_output)
    generated_loss = loss_object(tf.zeros_like(disc_generated_output), disc_generated_output)
    return real_loss + generated_loss


class TutorialPix2Pix:
    """Generator, discriminator, two Adam(2e-4, 0.5) and the tutorial's tf.function train step."""

    def __init__(self, size=256, ngf=64, ndf=64, input_channels=3, output_channels=3):
        self.generator = Generator(size, ngf, input_channels, output_channels)
        self.discriminator = Discriminator(size, ndf, input_channels, output_channels)
        self.generator_optimizer = keras.optimizers.Adam(2e-4, beta_1=0.5)
        self.discriminator_optimizer = keras.optimizers.Adam(2e-4, beta_1=0.5)
        # Slots created up front (the tutorial lets the first apply create them; same step after that).
        self.generator_optimizer.build(self.generator.trainable_variables)
        self.discriminator_optimizer.build(self.discriminator.trainable_variables)
        self.train_step = tf.function(self._train_step)

    def _train_step(self, input_image, target):
        generator, discriminator = self.generator, self.discriminator
        with tf.GradientTape() as gen_tape, tf.GradientTape() as disc_tape:
            gen_output = generator(input_image, training=True)
            disc_real_output = discriminator([input_image, target], training=True)
            disc_generated_output = discriminator([input_image, gen_output], training=True)
            gen_total_loss, gen_gan_loss, gen_l1_loss = generator_loss(
                disc_generated_output, gen_output, target)
            disc_loss = discriminator_loss(disc_real_output, disc_generated_output)
        generator_gradients = gen_tape.gradient(gen_total_loss, generator.trainable_variables)
        discriminator_gradients = disc_tape.gradient(disc_loss, discriminator.trainable_variables)
        self.generator_optimizer.apply_gradients(
            zip(generator_gradients, generator.trainable_variables))
        self.discriminator_optimizer.apply_gradients(
            zip(discriminator_gradients, discriminator.trainable_variables))
        return {"gen_total_loss": gen_total_loss, "gen_gan_loss": gen_gan_loss,
                "gen_l1_loss": gen_l1_loss, "disc_loss": disc_loss}


def main(argv=None):
    import argparse
    import time

    parser = argparse.ArgumentParser(description="Build the tutorial's pix2pix and run a few train steps.")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--ngf", type=int, default=64)
    parser.add_argument("--ndf", type=int, default=None, help="default: --ngf")
    parser.add_argument("--batch_size", type=int, default=1)
    parser.add_argument("--steps", type=int, default=3)
    args = parser.parse_args(argv)
    ref = TutorialPix2Pix(args.size, args.ngf, args.ndf or args.ngf)
    g = sum(int(tf.size(w)) for w in ref.generator.trainable_weights)
    d = sum(int(tf.size(w)) for w in ref.discriminator.trainable_weights)
    print(f"tutorial pix2pix {args.size}x{args.size}: generator {g:,} trainable parameters, "
          f"discriminator {d:,}")
    x = tf.random.uniform([args.batch_size, args.size, args.size, 3], -1, 1, seed=1)
    y = tf.random.uniform([args.batch_size, args.size, args.size, 3], -1, 1, seed=2)
    for step in range(args.steps):
        start = time.perf_counter()
        losses = {k: float(v) for k, v in ref.train_step(x, y).items()}
        print(f"step {step + 1}: {time.perf_counter() - start:.3f} s "
              + " ".join(f"{k} {v:.4f}" for k, v in losses.items()))


if __name__ == "__main__":
    main()
