"""--update_order: where, within one train step, the discriminator's update is applied.

Both orders run the generator once per step and take the discriminator's gradient from that
one forward pass. They differ in three things only, which is all each class below says:

- when D's update is applied: `simultaneous` (the default) applies it after both gradients
  are taken, just before G's; `sequential` applies it inside the forward/backward pass, as
  soon as D's gradient is known (DISCRIMINATOR_UPDATED_IN_PASS);
- which D(x, G(x)) the generator's loss is taken from: `simultaneous` uses the one D's loss
  saw; `sequential` runs the discriminator again on the same G(x) through D's new weights (one
  more discriminator forward, with fresh activations and batch statistics) and takes G's
  gradient, and the reported gen_loss_GAN, from that;
- how a non-finite loss is kept from changing anything: `simultaneous` applies nothing unless
  every loss on every replica is finite; `sequential` has already applied D's update, so it
  copies D's weights and optimiser state before the step and puts the copy back.

`sequential` is closer to the TF1 reference: there, G's gradient ops ran after D's training op
and read D's new weights, while G(x) (one tensor of the session run, with its dropout draws)
was shared by both halves; the reference reused D's old activations, where this order runs D
again (as the PyTorch port does). The default is the accepted port's: one forward pass, both
gradients from it, D's update applied first.
"""

import tensorflow as tf

from pix2pix.models import kernels
from pix2pix.models.networks import discriminate


def set_learning_rate(optimizer, rate):
    optimizer.learning_rate.assign(tf.cast(rate, optimizer.learning_rate.dtype))


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


class Simultaneous:
    """D's and G's updates applied together after the pass, only when every loss is finite."""

    DISCRIMINATOR_UPDATED_IN_PASS = False

    def __init__(self, model):
        self.model = model

    def before_step(self, rate):
        """Nothing to prepare: nothing is applied before the losses are known."""
        pass  # a body of only a docstring makes AutoGraph warn at every trace

    def generator_sees(self, tape, discrim_grads, inputs, outputs, predict_fake):
        """The D(x, G(x)) G's loss is taken from: the one D's loss saw."""
        return predict_fake

    def set_learning_rates(self, rate):
        """Both optimisers' rates for the updates about to be applied (RATE None: unchanged)."""
        if rate is not None:
            for optimizer in (self.model.discriminator_optimizer, self.model.generator_optimizer):
                set_learning_rate(optimizer, rate)

    def undo(self):
        """Nothing was applied."""
        pass  # (as in before_step)


class Sequential(Simultaneous):
    """D's update applied within the pass; G's gradient through the updated D; undone if needed."""

    DISCRIMINATOR_UPDATED_IN_PASS = True

    def __init__(self, model):
        super().__init__(model)
        with model.strategy.scope():
            self.discriminator_copy = _StateCopy(
                model.discriminator.variables + model.discriminator_optimizer.variables)

    def before_step(self, rate):
        self.discriminator_copy.save()
        if rate is not None:  # D's rate now (its copy restores it on failure), G's when applied
            set_learning_rate(self.model.discriminator_optimizer, rate)

    def generator_sees(self, tape, discrim_grads, inputs, outputs, predict_fake):
        """D's update, applied now whatever the loss (undo() puts D's copy back if a loss was not
        finite), then D(x, G(x)) again through D's new weights, recorded on TAPE."""
        discriminator = self.model.discriminator
        self.model.discriminator_optimizer.apply_gradients(zip(discrim_grads, discriminator.trainable_variables))
        with tape:  # reads D's variables after the update (tf.function orders a resource's reads and writes)
            return discriminate(discriminator, inputs, outputs)

    def undo(self):
        self.discriminator_copy.restore()


UPDATE_ORDERS = {"simultaneous": Simultaneous, "sequential": Sequential}
