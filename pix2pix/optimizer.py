"""Adam as the TF1 reference ran it: TensorFlow's fused ApplyAdam kernel.

Keras 3's Adam updates each variable with about ten separate element-wise ops (read m,
write m, read v, write v, ...), each a pass over memory; over pix2pix's 57M parameters
that was about a third of a CPU training step. The TF1 AdamOptimizer the reference used
runs one fused kernel per variable. The maths is the same formula:

    m <- m + (g - m)(1 - beta1),   v <- v + (g^2 - v)(1 - beta2)
    var <- var - lr * sqrt(1 - beta2^t) / (1 - beta1^t) * m / (sqrt(v) + epsilon)

so this only changes the speed. Slots and checkpoints are Keras Adam's own.
"""

import keras
import tensorflow as tf


def _resource(variable):
    """The tf.Variable behind a Keras variable (or the variable itself)."""
    return variable.value if isinstance(variable, keras.Variable) else variable


class FusedAdam(keras.optimizers.Adam):
    """keras.optimizers.Adam whose per-variable update is one ResourceApplyAdam op."""

    def update_step(self, gradient, variable, learning_rate):
        if self.amsgrad:
            return super().update_step(gradient, variable, learning_rate)
        dtype = variable.dtype
        step = tf.cast(self.iterations + 1, dtype)
        beta_1 = tf.cast(self.beta_1, dtype)
        beta_2 = tf.cast(self.beta_2, dtype)
        index = self._get_variable_index(variable)
        tf.raw_ops.ResourceApplyAdam(
            var=_resource(variable).handle,
            m=_resource(self._momentums[index]).handle,
            v=_resource(self._velocities[index]).handle,
            beta1_power=tf.pow(beta_1, step), beta2_power=tf.pow(beta_2, step),
            lr=tf.cast(learning_rate, dtype), beta1=beta_1, beta2=beta_2,
            epsilon=tf.cast(self.epsilon, dtype), grad=tf.cast(gradient, dtype), use_locking=False)
