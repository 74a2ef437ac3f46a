"""Pix2Pix: the two networks, their optimisers, the train step and the checkpoint layout.

The train step follows SPEC.md "Losses and optimisation": one forward pass of G and
of D on (input, target) and (input, G(input)); both gradients are computed from that
one forward pass, then the discriminator update is applied, then the generator's;
global step + 1. (The TF1 original computed G's gradient after D's in-place update,
mixing old activations with new weights; the PyTorch port recomputes D(x, G(x))
after the D update at the cost of an extra forward. We take the accepted port: one
forward pass, both gradients from it, D applied first.)
"""

import os

import keras
import tensorflow as tf

from pix2pix.errors import Pix2PixError
from pix2pix.losses import discriminator_loss, generator_losses
from pix2pix.networks import build_discriminator, build_generator
from pix2pix.options import Options

EMA_DECAY = 0.99
LOSS_NAMES = ("discrim_loss", "gen_loss_GAN", "gen_loss_L1")


class LossAverages(tf.Module):
    """Exponential moving averages (decay 0.99) of the three losses, as the reference shows them.

    Like tf.compat.v1.train.ExponentialMovingAverage on tensors, the averages start
    at zero and are divided by (1 - decay**n) when read (zero-debiasing).
    """

    def __init__(self, decay=EMA_DECAY):
        super().__init__(name="loss_averages")
        self.decay = decay
        self.biased = tf.Variable(tf.zeros([len(LOSS_NAMES)]), trainable=False, name="biased")
        self.updates = tf.Variable(0.0, trainable=False, name="updates")

    def update(self, losses):
        self.biased.assign(self.decay * self.biased + (1.0 - self.decay) * tf.stack(losses))
        self.updates.assign_add(1.0)

    def read(self):
        """{name: float} of the debiased averages (zeros before the first update)."""
        correction = 1.0 - self.decay ** tf.maximum(self.updates, 1.0)
        values = (self.biased / correction).numpy()
        return dict(zip(LOSS_NAMES, (float(v) for v in values)))


def _adam(options: Options):
    # epsilon 1e-8 is the TF1 default the reference ran with (Keras' default is 1e-7).
    return keras.optimizers.Adam(learning_rate=options.lr, beta_1=options.beta1,
                                 beta_2=0.999, epsilon=1e-8)


def generator_for(options: Options):
    """The generator OPTIONS describe (channels, ngf, separable_conv, depth from crop_size)."""
    input_channels, output_channels = options.channels
    return build_generator(input_channels, output_channels, options.ngf,
                           options.separable_conv, options.unet_depth)


class Pix2Pix:
    """Generator, discriminator, two Adam optimisers, global step and loss averages."""

    def __init__(self, options: Options):
        self.options = options
        input_channels, output_channels = options.channels
        self.generator = generator_for(options)
        self.discriminator = build_discriminator(input_channels, output_channels, options.ndf)
        self.generator_optimizer = _adam(options)
        self.discriminator_optimizer = _adam(options)
        # Built now so no variable is created inside the traced step.
        self.generator_optimizer.build(self.generator.trainable_variables)
        self.discriminator_optimizer.build(self.discriminator.trainable_variables)
        self.global_step = tf.Variable(0, dtype=tf.int64, trainable=False, name="global_step")
        self.loss_averages = LossAverages()
        self.stopped_by = None  # set by the trainer when a signal ended the run early
        self._step_fn = tf.function(self._train_step)

    # ------------------------------------------------------------------ step
    def _train_step(self, inputs, targets, details=False):
        options = self.options
        with tf.GradientTape(persistent=True) as tape:
            outputs = self.generator(inputs, training=True)
            predict_real = self.discriminator([inputs, targets], training=True)
            predict_fake = self.discriminator([inputs, outputs], training=True)
            d_loss = discriminator_loss(predict_real, predict_fake)
            g_loss, g_gan, g_l1 = generator_losses(
                predict_fake, targets, outputs, options.gan_weight, options.l1_weight)
        d_vars = self.discriminator.trainable_variables
        g_vars = self.generator.trainable_variables
        d_grads = tape.gradient(d_loss, d_vars)
        g_grads = tape.gradient(g_loss, g_vars)
        del tape
        losses = [d_loss, g_gan, g_l1]
        finite = tf.reduce_all(tf.math.is_finite(tf.stack(losses + [g_loss])))

        def apply_updates():
            self.discriminator_optimizer.apply_gradients(zip(d_grads, d_vars))
            self.generator_optimizer.apply_gradients(zip(g_grads, g_vars))
            self.global_step.assign_add(1)
            self.loss_averages.update(losses)
            return tf.constant(True)

        # A non-finite loss leaves weights, optimiser state and step untouched, so the
        # trainer can stop (or skip the batch) without NaN ever reaching a checkpoint.
        applied = tf.cond(finite, apply_updates, lambda: tf.constant(False))
        result = {"discrim_loss": d_loss, "gen_loss_GAN": g_gan, "gen_loss_L1": g_l1,
                  "applied": applied}
        if details:
            result.update(outputs=outputs, predict_real=predict_real, predict_fake=predict_fake,
                          discriminator_gradients=d_grads, generator_gradients=g_grads)
        return result

    def train_step(self, inputs, targets, details=False):
        """One optimisation step on a batch; returns the raw losses as tensors.

        `applied` is False (and nothing was updated) when a loss was not finite.
        inputs [N, H, W, Ci], targets [N, H, W, Ct] in [-1, 1]. With DETAILS (a Python
        bool; traced separately) also the outputs, the discriminator's predictions and
        both gradient lists, for summaries and display.
        """
        return self._step_fn(inputs, targets, details)

    # ------------------------------------------------------------ checkpoint
    def checkpoint(self) -> tf.train.Checkpoint:
        """Everything a resume needs: weights, optimiser slots, global step, loss averages."""
        return tf.train.Checkpoint(
            generator=self.generator, discriminator=self.discriminator,
            generator_optimizer=self.generator_optimizer,
            discriminator_optimizer=self.discriminator_optimizer,
            global_step=self.global_step, loss_averages=self.loss_averages)


def latest_checkpoint(directory: str) -> str:
    """Path prefix of the newest checkpoint in DIRECTORY, or a clear error."""
    if not directory or not os.path.isdir(directory):
        raise Pix2PixError(f"--checkpoint: {directory} does not exist or is not a directory")
    path = tf.train.latest_checkpoint(directory)
    if path is None:
        raise Pix2PixError(f"--checkpoint: no checkpoint found in {directory}")
    return path


def restore_generator(generator, directory: str) -> str:
    """Load the generator's weights from the newest checkpoint in DIRECTORY."""
    path = latest_checkpoint(directory)
    try:
        tf.train.Checkpoint(generator=generator).restore(path).expect_partial().assert_existing_objects_matched()
    except (AssertionError, ValueError, tf.errors.OpError) as err:
        raise Pix2PixError(f"--checkpoint: {path} does not match the generator these options "
                           f"describe: {str(err).splitlines()[0]}") from None
    return path
