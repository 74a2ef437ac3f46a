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
from pix2pix.models.networks import define_discriminator, define_generator, discriminate, real_and_fake
from pix2pix.models.precision import dtype_policy
from pix2pix.models.schedules import learning_rate
from pix2pix.models.update_orders import UPDATE_ORDERS
from pix2pix.options.record import Options

# What a step returns besides the losses and `applied`: the first replica's, for summaries and display.
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
        self._discriminate_both = real_and_fake(self.discriminator)
        self._schedule = None
        self.update_order = UPDATE_ORDERS[options.update_order](self)
        # autograph=False: the step's only branch is an explicit tf.cond (_when_finite), and
        # autograph's source conversion of it and every layer it calls costs ~2.5 s of CPU per run.
        self._step_fn = tf.function(self._train_step, autograph=False)

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
    def _train_step(self, inputs, targets, rate=None):
        """One training step: the original's create_model, in its order (the table in
        docs/reference.md#the-step-beside-the-original maps its lines to these).

        Read as written it is the default step: one replica, float32, --gan_mode vanilla,
        --update_order simultaneous. Everything else acts through the seams it calls:
        self._discriminate_both (at batch 1 a speed path runs D once on both pairs stacked),
        gan.extra_terms (--gan_mode wgangp's penalty), self._scaled (the loss a replica
        differentiates: divided by the replica count, times the float16 loss scale),
        order.* (--update_order sequential applies D's update inside the pass and takes G's
        loss through the updated D), self._on_each_replica and self._mean (tf.distribute;
        a plain call and the value itself on one replica) and self._when_finite (the
        non-finite guard: nothing changes unless every loss on every replica is finite).
        """
        generator, discriminator = self.generator, self.discriminator
        discrim_optim, gen_optim = self.discriminator_optimizer, self.generator_optimizer
        gan, order, options = self.gan_loss, self.update_order, self.options
        order.before_step(rate)

        def forward_backward(inputs, targets):  # on this replica's share of the batch
            with tf.GradientTape(persistent=True) as tape:
                outputs = generator(inputs, training=True)
                predict_real, predict_fake = self._discriminate_both(inputs, targets, outputs)
                extra = gan.extra_terms(self._discriminate, inputs, targets, outputs)  # {} but for wgangp
                discrim_loss = sum(extra.values(), gan.discriminator_loss(predict_real, predict_fake))
                discrim_scaled = self._scaled(discrim_loss, discrim_optim)
            discrim_grads = tape.gradient(discrim_scaled, discriminator.trainable_variables)
            predict_fake_for_gen = order.generator_sees(tape, discrim_grads, inputs, outputs, predict_fake)
            with tape:
                gen_loss_GAN = gan.generator_loss(predict_fake_for_gen)
                gen_loss_L1 = l1_loss(targets, outputs)
                gen_loss = options.gan_weight * gen_loss_GAN + options.l1_weight * gen_loss_L1
                gen_scaled = self._scaled(gen_loss, gen_optim)
            gen_grads = tape.gradient(gen_scaled, generator.trainable_variables)
            return {"losses": tf.stack([discrim_loss, gen_loss_GAN, gen_loss_L1, *extra.values()]),
                    "finite": tf.reduce_all(tf.math.is_finite(tf.stack([discrim_loss, gen_loss]))),
                    "discriminator_gradients": discrim_grads, "generator_gradients": gen_grads,
                    "outputs": outputs, "predict_real": predict_real, "predict_fake": predict_fake}

        replica = self._on_each_replica(forward_backward, inputs, targets)
        losses = self._mean(replica["losses"])

        def update(discrim_grads, gen_grads):  # on each replica: D's update, then G's
            if not order.DISCRIMINATOR_UPDATED_IN_PASS:
                discrim_optim.apply_gradients(zip(discrim_grads, discriminator.trainable_variables))
            gen_optim.apply_gradients(zip(gen_grads, generator.trainable_variables))

        def train():  # the original's train op: the updates, the loss averages, the global step
            order.set_learning_rates(rate)
            self._on_each_replica(update, replica["discriminator_gradients"], replica["generator_gradients"])
            self.loss_averages.update(tf.unstack(losses))
            self.global_step.assign_add(1)

        applied = self._when_finite(replica["finite"], train, otherwise=order.undo)
        return {**dict(zip(self.loss_names, tf.unstack(losses))), "applied": applied,
                **{key: self._first_replica(replica[key]) for key in DETAIL_KEYS}}

    # The seams of the step.
    def _discriminate(self, inputs, images):
        return discriminate(self.discriminator, inputs, images)

    def _scaled(self, loss, optimizer):
        """LOSS as this replica hands it to OPTIMIZER's gradient: the loss itself on one replica in float32."""
        replicas = tf.distribute.get_replica_context().num_replicas_in_sync
        if replicas > 1:  # the optimisers sum gradients over replicas: this makes it a global-batch mean
            loss = loss / replicas
        if self.options.mixed_precision == "float16":  # unscaled again by LossScaleOptimizer
            loss = optimizer.scale_loss(loss)
        return loss

    def _on_each_replica(self, fn, *args):
        return self.strategy.run(fn, args=args)

    def _mean(self, value):
        """The mean over replicas of a per-replica VALUE."""
        return self.strategy.reduce(tf.distribute.ReduceOp.MEAN, value, axis=None)

    def _first_replica(self, value):
        return tf.nest.map_structure(lambda v: self.strategy.experimental_local_results(v)[0], value)

    def _when_finite(self, finite, train, otherwise):
        """Run TRAIN when FINITE (per replica) holds on every replica, else OTHERWISE; True when TRAIN ran."""
        bad = self._on_each_replica(lambda finite: 1.0 - tf.cast(finite, tf.float32), finite)
        every_replica_finite = self.strategy.reduce(tf.distribute.ReduceOp.SUM, bad, axis=None) == 0

        def run(fn, ran):
            fn()
            return tf.constant(ran)

        return tf.cond(every_replica_finite, lambda: run(train, True), lambda: run(otherwise, False))

    def train_step(self, inputs, targets):
        """One optimisation step on a batch; returns the losses (averaged over replicas) as tensors.

        inputs [N, H, W, Ci], targets [N, H, W, Ct] in [-1, 1] (or per-replica values from
        a distributed dataset). `applied` is False (and nothing was updated) when a loss
        was not finite. Also the first replica's outputs, the discriminator's predictions
        and both gradient lists (DETAIL_KEYS), for summaries and display: every step returns
        them, so the step is traced once per run.
        """
        if self._schedule is None:
            return self._step_fn(inputs, targets)
        rate = tf.constant(self.current_learning_rate(), tf.float32)
        return self._step_fn(inputs, targets, rate)

    # ------------------------------------------------------------ checkpoint
    def checkpoint(self) -> tf.train.Checkpoint:
        """Everything a resume needs: weights, optimiser slots, global step, loss averages."""
        return model_checkpoint(self)
