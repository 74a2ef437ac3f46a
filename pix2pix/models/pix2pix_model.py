"""Pix2Pix: the two networks, their optimisers, the global step, the loss averages and the train step.

A train step runs the generator once and the discriminator on (input, target) and on
(input, G(input)); the discriminator's gradient comes from that one forward pass; the
discriminator's update is applied before the generator's; the global step goes up by one.
Where G's gradient comes from depends on --update_order (update_orders.py):

- simultaneous (the default): from the same forward pass, through the discriminator as it was
  before its update. The TF1 reference took G's gradient after D's update in place, mixing
  activations of the old D with its new weights; the PyTorch port runs D(x, G(x)) again after
  D's update, at the cost of one more discriminator forward. This port takes the accepted
  port's form: one forward pass, both gradients from it, D applied first.
- sequential (opt-in): through the updated discriminator: D(x, G(x)) is taken again with D's
  new weights (G's outputs are reused), closer to the reference's order.

A loss that is not finite on any replica leaves weights, optimiser state, step and averages as
they were, so the trainer can stop (or skip the batch) without NaN ever reaching a checkpoint.

The networks come from the registries (networks.py: --netG, --netD), the GAN loss from
losses.py (--gan_mode); the names of the losses the model reports (`loss_names`) are
declared there once and drive progress lines, TensorBoard, losses.csv and losses.png.
The checkpoint's layout is in checkpoints.py.
"""

import keras
import tensorflow as tf

from pix2pix.models import kernels
from pix2pix.models.checkpoints import model_checkpoint
from pix2pix.models.loss_averages import LossAverages
from pix2pix.models.losses import gan_loss_for, l1_loss, loss_names
from pix2pix.models.networks import can_stack, define_discriminator, define_generator, discriminate, \
    discriminate_real_and_fake
from pix2pix.models.precision import dtype_policy
from pix2pix.models.schedules import learning_rate
from pix2pix.models.update_orders import UPDATE_ORDERS
from pix2pix.options.record import Options

# What a step returns with details=True, besides the losses: the first replica's, for summaries.
DETAIL_KEYS = ("outputs", "predict_real", "predict_fake", "discriminator_gradients", "generator_gradients")


def _adam(options: Options):
    # epsilon 1e-8 is the TF1 default the reference ran with (Keras' default is 1e-7).
    adam = kernels.adam(learning_rate=options.lr, beta_1=options.beta1,
                        beta_2=0.999, epsilon=1e-8)
    if options.mixed_precision == "float16":  # float16 gradients underflow without it
        return keras.optimizers.LossScaleOptimizer(adam)
    return adam


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
        with self.strategy.scope(), dtype_policy(options.mixed_precision):
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
        self.update_order = UPDATE_ORDERS[options.update_order](self)
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

    def _scaled(self, loss, optimizer):
        """LOSS as this replica hands it to OPTIMIZER's gradient."""
        # The optimisers sum gradients over replicas: this makes it a global-batch mean.
        scaled = loss / tf.distribute.get_replica_context().num_replicas_in_sync
        if self.options.mixed_precision == "float16":  # unscaled again by LossScaleOptimizer
            scaled = optimizer.scale_loss(scaled)
        return scaled

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
        """Forward and backward pass on this replica's share of the batch (G runs once).

        The update order says whether D's update is applied within it and which D(x, G(x))
        G's loss is taken from."""
        discriminator, generator = self.discriminator, self.generator
        with tf.GradientTape(persistent=True) as tape:
            outputs = generator(inputs, training=True)
            d_loss, predict_real, predict_fake, extra = self._discriminator_loss(inputs, targets, outputs)
            d_scaled = self._scaled(d_loss, self.discriminator_optimizer)
            d_grads, predict_fake_for_generator = self.update_order.generator_sees(
                tape, d_scaled, inputs, outputs, predict_fake)
            g_gan, g_l1, g_loss = self._generator_loss(targets, outputs, predict_fake_for_generator)
            g_scaled = self._scaled(g_loss, self.generator_optimizer)
        if d_grads is None:
            d_grads = tape.gradient(d_scaled, discriminator.trainable_variables)
        g_grads = tape.gradient(g_scaled, generator.trainable_variables)
        del tape
        return self._replica_result((d_loss, g_gan, g_l1, g_loss, extra), d_grads, g_grads,
                                    (outputs, predict_real, predict_fake))

    def _train_step(self, inputs, targets, details=False, rate=None):
        strategy, order = self.strategy, self.update_order
        order.before_step(rate)
        replica = strategy.run(self._replica_gradients, args=(inputs, targets))
        losses = strategy.reduce(tf.distribute.ReduceOp.MEAN, replica["losses"], axis=None)
        finite = strategy.reduce(tf.distribute.ReduceOp.SUM, replica["bad"], axis=None) == 0

        def apply_updates():
            order.apply(replica, rate)
            self.global_step.assign_add(1)
            self.loss_averages.update(tf.unstack(losses))
            return tf.constant(True)

        def leave_unchanged():
            order.undo()
            return tf.constant(False)

        applied = tf.cond(finite, apply_updates, leave_unchanged)
        result = dict(zip(self.loss_names, tf.unstack(losses)), applied=applied)
        if details:  # the first replica's tensors, for summaries and display
            for key in DETAIL_KEYS:
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
        return model_checkpoint(self)
