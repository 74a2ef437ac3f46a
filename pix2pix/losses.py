"""The pix2pix losses on discriminator probabilities, with the reference's EPS.

The reference writes log(1 - p + EPS). Inside a TF2 graph, Grappler's constant
folding reassociates that into log((1 + EPS) - p), and in float32 1 + 1e-12 == 1:
the guard disappears and the loss becomes inf as soon as the sigmoid saturates at
exactly 1.0 (SPEC.md, "Numerical trap"). Passing 1 - p through tf.maximum(., 0)
first puts an op Grappler cannot reassociate across between the subtraction and
the EPS, while changing neither the value (1 - p >= 0 for a probability) nor the
gradient anywhere the original's is finite.
"""

import tensorflow as tf

EPS = 1e-12


def _log_one_minus(p):
    """log(1 - p + EPS) that keeps its EPS through graph optimisation."""
    return tf.math.log(tf.maximum(1.0 - p, 0.0) + EPS)


def discriminator_loss(predict_real, predict_fake):
    """mean(-(log(D(x, y) + EPS) + log(1 - D(x, G(x)) + EPS))); inputs are [N, h, w, 1] probabilities."""
    return tf.reduce_mean(-(tf.math.log(predict_real + EPS) + _log_one_minus(predict_fake)))


def generator_losses(predict_fake, targets, outputs, gan_weight=1.0, l1_weight=100.0):
    """(total, gan, l1): gan = mean(-log(D(x, G(x)) + EPS)), l1 = mean(|y - G(x)|).

    total = gan_weight * gan + l1_weight * l1.
    """
    gan = tf.reduce_mean(-tf.math.log(predict_fake + EPS))
    l1 = tf.reduce_mean(tf.abs(tf.cast(targets, tf.float32) - tf.cast(outputs, tf.float32)))
    return gan_weight * gan + l1_weight * l1, gan, l1
