"""Pix2Pix: the two networks, their optimisers, the train step and the checkpoint layout.

The train step follows SPEC.md "Losses and optimisation": one forward pass of G and
of D on (input, target) and (input, G(input)); both gradients are computed from that
one forward pass, then the discriminator update is applied, then the generator's;
global step + 1. (The TF1 original computed G's gradient after D's in-place update,
mixing old activations with new weights; the PyTorch port recomputes D(x, G(x))
after the D update at the cost of an extra forward. We take the accepted port: one
forward pass, both gradients from it, D applied first.)

--update_order sequential (opt-in, issue 15) takes the generator's gradient through the
*updated* discriminator instead: the D update is applied, then D(x, G(x)) is computed again
through D's new weights (one more discriminator forward) and the generator's gradient is
taken from that. G's forward pass is not repeated: its outputs (and their dropout draws) are
the ones D's loss saw, as in the TF1 original, where `outputs` is one tensor of the session
run and only the ops after it see the new D weights. Unlike the original, the second D pass
also has fresh activations and batch statistics (the PyTorch port's form). The reported
gen_loss_GAN is the one whose gradient was taken (through the new D).
Its non-finite guard: D's weights and optimiser state are copied before D's update; when
either half's loss is not finite on any replica, the copy is put back and G is not updated,
so neither network (nor step, averages, optimiser slots) changes.

The networks come from the registries (networks.py: --netG, --netD), the GAN loss from
losses.py (--gan_mode); the names of the losses the model reports (`loss_names`) are
declared there once and drive progress lines, TensorBoard, losses.csv and losses.png.
"""

import contextlib
import os

import keras
import tensorflow as tf

from pix2pix.models import kernels
from pix2pix.errors import Pix2PixError, error_line
from pix2pix.models.losses import BASE_LOSS_NAMES, gan_loss_for, l1_loss, loss_names
from pix2pix.models.networks import (can_stack, define_discriminator, define_generator, discriminate,
                              discriminate_real_and_fake)
from pix2pix.options.record import Options
from pix2pix.models.schedules import learning_rate

EMA_DECAY = 0.99
LOSS_NAMES = BASE_LOSS_NAMES  # the default model's; Pix2Pix.loss_names says a model's own


class LossAverages(tf.Module):
    """Exponential moving averages (decay 0.99) of the losses NAMES, as the reference shows them.

    The averages start at zero and are divided by (1 - decay**n) when read (zero-debiasing).
    This is a deliberate difference: the reference's tf.train.ExponentialMovingAverage runs
    with zero_debias=False, so it prints about 0.01 x the loss at step 1 and creeps up over
    the first few hundred steps; after that the two agree (README, "Faithfulness").
    """

    def __init__(self, names=LOSS_NAMES, decay=EMA_DECAY):
        super().__init__(name="loss_averages")
        self.names = tuple(names)
        self.decay = decay
        self.biased = tf.Variable(tf.zeros([len(self.names)]), trainable=False, name="biased")
        self.updates = tf.Variable(0.0, trainable=False, name="updates")

    def update(self, losses):
        self.biased.assign(self.decay * self.biased + (1.0 - self.decay) * tf.stack(losses))
        self.updates.assign_add(1.0)

    def read(self):
        """{name: float} of the debiased averages (zeros before the first update)."""
        correction = 1.0 - self.decay ** tf.maximum(self.updates, 1.0)
        values = (self.biased / correction).numpy()
        return dict(zip(self.names, (float(v) for v in values)))


def _adam(options: Options):
    # epsilon 1e-8 is the TF1 default the reference ran with (Keras' default is 1e-7).
    adam = kernels.adam(learning_rate=options.lr, beta_1=options.beta1,
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


class _StateCopy:
    """A copy of some variables (D's weights and optimiser state) that can be put back exactly.

    Created beside the variables (in the strategy's scope); not part of the checkpoint.
    """

    def __init__(self, variables):
        self.variables = [kernels._resource(v) for v in variables]
        self.copies = [tf.Variable(tf.zeros(v.shape, v.dtype), trainable=False,
                                   name="update_order_copy") for v in self.variables]

    def save(self):
        # tf.function runs a resource's reads and writes in program order: these copies are
        # taken before the update that follows them, and restore() after it.
        for c, v in zip(self.copies, self.variables):
            c.assign(v)

    def restore(self):
        for c, v in zip(self.copies, self.variables):
            v.assign(c)


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
        self.gan_loss = gan_loss_for(options)
        self.loss_names = loss_names(self.gan_loss)
        with self.strategy.scope(), _dtype_policy(options.mixed_precision):
            self.generator = define_generator(options)
            self.discriminator = define_discriminator(options, sigmoid=self.gan_loss.SIGMOID)
            self.generator_optimizer = _adam(options)
            self.discriminator_optimizer = _adam(options)
            # Built now so no variable is created inside the traced step.
            self.generator_optimizer.build(self.generator.trainable_variables)
            self.discriminator_optimizer.build(self.discriminator.trainable_variables)
            self.global_step = tf.Variable(0, dtype=tf.int64, trainable=False, name="global_step")
            self.loss_averages = LossAverages(self.loss_names)
        self.stopped_by = None  # set by the trainer when a signal ended the run early
        self._stack_discriminator_batches = can_stack(self.discriminator)
        self._schedule = None
        if options.update_order == "sequential":
            with self.strategy.scope():
                self._discriminator_backup = _StateCopy(
                    self.discriminator.variables + self.discriminator_optimizer.variables)
            self._step_fn = tf.function(self._train_step_sequential)
        else:
            self._step_fn = tf.function(self._train_step)

    def follow_schedule(self, total_steps: int, steps_per_epoch: int) -> None:
        """Set both learning rates from --lr_policy before every step of a TOTAL_STEPS run."""
        if self.options.lr_policy != "constant":
            self._schedule = (total_steps, steps_per_epoch)

    def current_learning_rate(self, step=None) -> float:
        """The rate of the step taken at global step STEP (default: the next one)."""
        step = int(self.global_step.numpy()) if step is None else step
        if self._schedule is None:
            return self.options.lr
        return learning_rate(self.options, step, *self._schedule)

    # ------------------------------------------------------------------ step
    def _discriminator_loss(self, inputs, targets, outputs):
        """(D's loss with its extra terms, D(x, y), D(x, G(x)), {extra term: value}), on a tape."""
        discriminator = self.discriminator
        # Measured: 1.04x the step at batch 1, slower at batch 4.
        if inputs.shape[0] == 1 and self._stack_discriminator_batches:
            predict_real, predict_fake = discriminate_real_and_fake(discriminator, inputs, targets, outputs)
        else:
            predict_real = discriminate(discriminator, inputs, targets)
            predict_fake = discriminate(discriminator, inputs, outputs)
        extra = self.gan_loss.extra_terms(
            lambda x, images: discriminate(discriminator, x, images), inputs, targets, outputs)
        d_loss = self.gan_loss.discriminator_loss(predict_real, predict_fake)
        for term in extra.values():
            d_loss += term
        return d_loss, predict_real, predict_fake, extra

    def _generator_loss(self, targets, outputs, predict_fake):
        """(GAN term, L1 term, their weighted sum) of G's loss, on a tape."""
        g_gan = self.gan_loss.generator_loss(predict_fake)
        g_l1 = l1_loss(targets, outputs)
        return g_gan, g_l1, self.options.gan_weight * g_gan + self.options.l1_weight * g_l1

    def _replica_result(self, losses, d_grads, g_grads, pictures) -> dict:
        """What a replica's step hands back: the reported losses, whether any was not finite,
        both gradients and the tensors summaries show."""
        d_loss, g_gan, g_l1, g_loss, extra = losses
        outputs, predict_real, predict_fake = pictures
        finite = tf.reduce_all(tf.math.is_finite(tf.stack([d_loss, g_loss])))
        reported = [d_loss, g_gan, g_l1] + [extra[name] for name in self.gan_loss.EXTRA_NAMES]
        return {"losses": tf.stack(reported), "bad": 1.0 - tf.cast(finite, tf.float32),
                "discriminator_gradients": d_grads, "generator_gradients": g_grads,
                "outputs": outputs, "predict_real": predict_real, "predict_fake": predict_fake}

    def _replica_gradients(self, inputs, targets):
        """Forward and backward pass on this replica's share of the batch."""
        options = self.options
        replicas = tf.distribute.get_replica_context().num_replicas_in_sync
        with tf.GradientTape(persistent=True) as tape:
            outputs = self.generator(inputs, training=True)
            d_loss, predict_real, predict_fake, extra = self._discriminator_loss(inputs, targets, outputs)
            g_gan, g_l1, g_loss = self._generator_loss(targets, outputs, predict_fake)
            # The optimisers sum gradients over replicas: this makes it a global-batch mean.
            d_scaled, g_scaled = d_loss / replicas, g_loss / replicas
            if options.mixed_precision == "float16":  # unscaled again by LossScaleOptimizer
                d_scaled = self.discriminator_optimizer.scale_loss(d_scaled)
                g_scaled = self.generator_optimizer.scale_loss(g_scaled)
        d_grads = tape.gradient(d_scaled, self.discriminator.trainable_variables)
        g_grads = tape.gradient(g_scaled, self.generator.trainable_variables)
        del tape
        return self._replica_result((d_loss, g_gan, g_l1, g_loss, extra), d_grads, g_grads,
                                    (outputs, predict_real, predict_fake))

    def _replica_sequential(self, inputs, targets):
        """--update_order sequential on this replica: D's gradient and update, then D(x, G(x))
        again through the updated D and G's gradient from it (G's forward pass is reused)."""
        options = self.options
        replicas = tf.distribute.get_replica_context().num_replicas_in_sync
        discriminator = self.discriminator
        with tf.GradientTape(persistent=True) as tape:
            outputs = self.generator(inputs, training=True)
            d_loss, predict_real, predict_fake, extra = self._discriminator_loss(inputs, targets, outputs)
            d_scaled = d_loss / replicas
            if options.mixed_precision == "float16":
                d_scaled = self.discriminator_optimizer.scale_loss(d_scaled)
            with tape.stop_recording():
                d_grads = tape.gradient(d_scaled, discriminator.trainable_variables)
                # Applied whatever the loss: the caller restores D's copy if a loss was not finite.
                self.discriminator_optimizer.apply_gradients(zip(d_grads, discriminator.trainable_variables))
            # Reads D's variables after the update (tf.function orders a resource's reads and writes).
            predict_fake_after = discriminate(discriminator, inputs, outputs)
            g_gan, g_l1, g_loss = self._generator_loss(targets, outputs, predict_fake_after)
            g_scaled = g_loss / replicas
            if options.mixed_precision == "float16":
                g_scaled = self.generator_optimizer.scale_loss(g_scaled)
        g_grads = tape.gradient(g_scaled, self.generator.trainable_variables)
        del tape
        return self._replica_result((d_loss, g_gan, g_l1, g_loss, extra), d_grads, g_grads,
                                    (outputs, predict_real, predict_fake))

    def _replica_apply_generator(self, g_grads):
        self.generator_optimizer.apply_gradients(zip(g_grads, self.generator.trainable_variables))

    def _train_step_sequential(self, inputs, targets, details=False, rate=None):
        strategy = self.strategy
        backup = self._discriminator_backup
        backup.save()
        if rate is not None:  # D's rate now (its copy restores it on failure), G's when applied
            self.discriminator_optimizer.learning_rate.assign(
                tf.cast(rate, self.discriminator_optimizer.learning_rate.dtype))
        replica = strategy.run(self._replica_sequential, args=(inputs, targets))
        losses = strategy.reduce(tf.distribute.ReduceOp.MEAN, replica["losses"], axis=None)
        finite = strategy.reduce(tf.distribute.ReduceOp.SUM, replica["bad"], axis=None) == 0

        def apply_generator():
            if rate is not None:
                self.generator_optimizer.learning_rate.assign(
                    tf.cast(rate, self.generator_optimizer.learning_rate.dtype))
            strategy.run(self._replica_apply_generator, args=(replica["generator_gradients"],))
            self.global_step.assign_add(1)
            self.loss_averages.update(tf.unstack(losses))
            return tf.constant(True)

        def undo_discriminator():
            backup.restore()
            return tf.constant(False)

        applied = tf.cond(finite, apply_generator, undo_discriminator)
        result = dict(zip(self.loss_names, tf.unstack(losses)), applied=applied)
        if details:
            for key in ("outputs", "predict_real", "predict_fake",
                        "discriminator_gradients", "generator_gradients"):
                result[key] = tf.nest.map_structure(
                    lambda v: strategy.experimental_local_results(v)[0], replica[key])
        return result

    def _replica_apply(self, d_grads, g_grads):
        """The discriminator update first, then the generator's (SPEC.md's order)."""
        self.discriminator_optimizer.apply_gradients(zip(d_grads, self.discriminator.trainable_variables))
        self.generator_optimizer.apply_gradients(zip(g_grads, self.generator.trainable_variables))

    def _set_learning_rates(self, rate):
        for optimizer in (self.discriminator_optimizer, self.generator_optimizer):
            optimizer.learning_rate.assign(tf.cast(rate, optimizer.learning_rate.dtype))

    def _train_step(self, inputs, targets, details=False, rate=None):
        strategy = self.strategy
        replica = strategy.run(self._replica_gradients, args=(inputs, targets))
        losses = strategy.reduce(tf.distribute.ReduceOp.MEAN, replica["losses"], axis=None)
        finite = strategy.reduce(tf.distribute.ReduceOp.SUM, replica["bad"], axis=None) == 0

        def apply_updates():
            if rate is not None:
                self._set_learning_rates(rate)
            strategy.run(self._replica_apply, args=(replica["discriminator_gradients"],
                                                    replica["generator_gradients"]))
            self.global_step.assign_add(1)
            self.loss_averages.update(tf.unstack(losses))
            return tf.constant(True)

        # A non-finite loss leaves weights, optimiser state and step untouched, so the
        # trainer can stop (or skip the batch) without NaN ever reaching a checkpoint.
        applied = tf.cond(finite, apply_updates, lambda: tf.constant(False))
        result = dict(zip(self.loss_names, tf.unstack(losses)), applied=applied)
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
        if self._schedule is None:
            return self._step_fn(inputs, targets, details)
        rate = tf.constant(self.current_learning_rate(), tf.float32)
        return self._step_fn(inputs, targets, details, rate)

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
                           f"describe: {error_line(err)}") from None
    except IndexError as err:  # TF's reader says so of a .data shard shorter than its index says
        raise Pix2PixError(f"--checkpoint: cannot read {path}.data-*: {error_line(err)} (the file is "
                           "truncated or damaged)") from None
    bad = next((v.path for v in generator.trainable_variables
                if not bool(tf.reduce_all(tf.math.is_finite(v)))), None)
    if bad:  # it would draw black pictures and exit 0
        raise Pix2PixError(f"--checkpoint: {path} holds non-finite values (NaN or infinity) in {bad}; "
                           "use an earlier, finite checkpoint")
    return path
