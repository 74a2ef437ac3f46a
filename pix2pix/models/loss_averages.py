"""The moving averages of the losses that progress lines, TensorBoard and losses.csv show."""

import tensorflow as tf

from pix2pix.models.losses import BASE_LOSS_NAMES

EMA_DECAY = 0.99


class LossAverages(tf.Module):
    """Exponential moving averages (decay 0.99) of the losses NAMES, as the reference shows them.

    The averages start at zero and are divided by (1 - decay**n) when read (zero-debiasing).
    This is a deliberate difference: the reference's tf.train.ExponentialMovingAverage runs
    with zero_debias=False, so it prints about 0.01 x the loss at step 1 and creeps up over
    the first few hundred steps; after that the two agree (README, "Faithfulness").
    """

    def __init__(self, names=BASE_LOSS_NAMES, decay=EMA_DECAY):
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
