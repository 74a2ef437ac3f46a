"""Pix2Pix: the two networks, their optimisers, the train step and the checkpoint layout.

The train step follows SPEC.md "Losses and optimisation": one forward pass of G and
of D on (input, target) and (input, G(input)); both gradients are computed from that
one forward pass, then the discriminator update is applied, then the generator's;
global step + 1. (The TF1 original computed G's gradient after D's in-place update,
mixing old activations with new weights; the PyTorch port recomputes D(x, G(x))
after the D update at the cost of an extra forward. We take the accepted port: one
forward pass, both gradients from it, D applied first.)
"""

import contextlib
import os

import keras
import tensorflow as tf

from pix2pix.errors import Pix2PixError
from pix2pix.losses import discriminator_loss, generator_losses
from pix2pix.networks import build_discriminator, build_generator, discriminate_real_and_fake
from pix2pix.optimizer import FusedAdam
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
    adam = FusedAdam(learning_rate=options.lr, beta_1=options.beta1,
                     beta_2=0.999, epsilon=1e-8)
    if options.mixed_precision == "float16":  # float16 gradients underflow without it
        return keras.optimizers.LossScaleOptimizer(adam)
    return adam


@contextlib.contextmanager
def _dtype_policy(precision):
    """Build layers under Keras' mixed policy for PRECISION, then restore the previous policy."""
    previous = keras.config.dtype_policy()
    if precision != "float32":
        keras.config.set_dtype_policy(f"mixed_{precision}")
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def generator_for(options: Options):
    """The generator OPTIONS describe (channels, ngf, separable_conv, depth from crop_size)."""
    input_channels, output_channels = options.channels
    return build_generator(input_channels, output_channels, options.ngf,
                           options.separable_conv, options.unet_depth)


class Pix2Pix:
    """Generator, discriminator, two Adam optimisers, global step and loss averages.

    With a tf.distribute STRATEGY everything is created in its scope and each replica
    runs the step on its share of the batch, with its own batch statistics (as the
    reference would have per device); gradients are summed across replicas from losses
    divided by the replica count, i.e. averaged over the global batch.
    """

    def __init__(self, options: Options, strategy=None):
        self.options = options
        self.strategy = strategy or tf.distribute.get_strategy()
        input_channels, output_channels = options.channels
        with self.strategy.scope(), _dtype_policy(options.mixed_precision):
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
    def _replica_gradients(self, inputs, targets):
        """Forward and backward pass on this replica's share of the batch."""
        options = self.options
        replicas = tf.distribute.get_replica_context().num_replicas_in_sync
        with tf.GradientTape(persistent=True) as tape:
            outputs = self.generator(inputs, training=True)
            if inputs.shape[0] == 1:  # measured: 1.04x the step at batch 1, slower at batch 4
                predict_real, predict_fake = discriminate_real_and_fake(
                    self.discriminator, inputs, targets, outputs)
            else:
                predict_real = self.discriminator([inputs, targets], training=True)
                predict_fake = self.discriminator([inputs, outputs], training=True)
            d_loss = discriminator_loss(predict_real, predict_fake)
            g_loss, g_gan, g_l1 = generator_losses(
                predict_fake, targets, outputs, options.gan_weight, options.l1_weight)
            # The optimisers sum gradients over replicas: this makes it a global-batch mean.
            d_scaled, g_scaled = d_loss / replicas, g_loss / replicas
            if options.mixed_precision == "float16":  # unscaled again by LossScaleOptimizer
                d_scaled = self.discriminator_optimizer.scale_loss(d_scaled)
                g_scaled = self.generator_optimizer.scale_loss(g_scaled)
        d_grads = tape.gradient(d_scaled, self.discriminator.trainable_variables)
        g_grads = tape.gradient(g_scaled, self.generator.trainable_variables)
        del tape
        finite = tf.reduce_all(tf.math.is_finite(tf.stack([d_loss, g_loss])))
        return {"losses": tf.stack([d_loss, g_gan, g_l1]), "bad": 1.0 - tf.cast(finite, tf.float32),
                "discriminator_gradients": d_grads, "generator_gradients": g_grads,
                "outputs": outputs, "predict_real": predict_real, "predict_fake": predict_fake}

    def _replica_apply(self, d_grads, g_grads):
        """The discriminator update first, then the generator's (SPEC.md's order)."""
        self.discriminator_optimizer.apply_gradients(zip(d_grads, self.discriminator.trainable_variables))
        self.generator_optimizer.apply_gradients(zip(g_grads, self.generator.trainable_variables))

    def _train_step(self, inputs, targets, details=False):
        strategy = self.strategy
        replica = strategy.run(self._replica_gradients, args=(inputs, targets))
        losses = strategy.reduce(tf.distribute.ReduceOp.MEAN, replica["losses"], axis=None)
        finite = strategy.reduce(tf.distribute.ReduceOp.SUM, replica["bad"], axis=None) == 0

        def apply_updates():
            strategy.run(self._replica_apply, args=(replica["discriminator_gradients"],
                                                    replica["generator_gradients"]))
            self.global_step.assign_add(1)
            self.loss_averages.update(tf.unstack(losses))
            return tf.constant(True)

        # A non-finite loss leaves weights, optimiser state and step untouched, so the
        # trainer can stop (or skip the batch) without NaN ever reaching a checkpoint.
        applied = tf.cond(finite, apply_updates, lambda: tf.constant(False))
        result = dict(zip(LOSS_NAMES, tf.unstack(losses)), applied=applied)
        if details:  # the first replica's tensors, for summaries and display
            for key in ("outputs", "predict_real", "predict_fake",
                        "discriminator_gradients", "generator_gradients"):
                result[key] = tf.nest.map_structure(
                    lambda v: strategy.experimental_local_results(v)[0], replica[key])
        return result

    def train_step(self, inputs, targets, details=False):
        """One optimisation step on a batch; returns the losses (averaged over replicas) as tensors.

        inputs [N, H, W, Ci], targets [N, H, W, Ct] in [-1, 1] (or per-replica values from
        a distributed dataset). `applied` is False (and nothing was updated) when a loss
        was not finite. With DETAILS (a Python bool; traced separately) also the outputs,
        the discriminator's predictions and both gradient lists, for summaries and display.
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
