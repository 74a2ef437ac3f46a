"""The losses keep the reference's EPS guard inside tf.function (the reference's numerical trap)."""

import numpy as np
import tensorflow as tf

from pix2pix import discriminator_loss, generator_losses
from pix2pix.models.losses import EPS


def _reference_values(real, fake, targets, outputs):
    d = np.mean(-(np.log(real + EPS) + np.log(1 - fake + EPS)))
    gan = np.mean(-np.log(fake + EPS))
    l1 = np.mean(np.abs(targets - outputs))
    return d, gan, l1


def test_values_match_the_formulas():
    rng = np.random.default_rng(0)
    real, fake = rng.uniform(0.01, 0.99, (2, 3, 3, 1)), rng.uniform(0.01, 0.99, (2, 3, 3, 1))
    targets, outputs = rng.uniform(-1, 1, (2, 4, 4, 3)), rng.uniform(-1, 1, (2, 4, 4, 3))
    d, gan, l1 = _reference_values(real, fake, targets, outputs)
    args = [tf.constant(v, tf.float32) for v in (real, fake, targets, outputs)]
    np.testing.assert_allclose(discriminator_loss(args[0], args[1]).numpy(), d, rtol=1e-5)
    total, g_gan, g_l1 = generator_losses(args[1], args[2], args[3], gan_weight=2.0, l1_weight=10.0)
    np.testing.assert_allclose(g_gan.numpy(), gan, rtol=1e-5)
    np.testing.assert_allclose(g_l1.numpy(), l1, rtol=1e-5)
    np.testing.assert_allclose(total.numpy(), 2 * gan + 10 * l1, rtol=1e-5)


@tf.function
def _losses_and_gradients(logits):
    with tf.GradientTape() as tape:
        tape.watch(logits)
        p = tf.sigmoid(logits)
        d = discriminator_loss(p, p)
        total, _, _ = generator_losses(p, tf.zeros([1, 1, 1, 1]), tf.zeros([1, 1, 1, 1]))
        both = d + total
    return d, total, tape.gradient(both, logits)


def test_saturated_discriminator_gives_finite_losses_and_gradients_in_graph():
    # sigmoid(+-40) is exactly 1.0 / ~0.0 in float32: the naive form is inf under Grappler.
    d, total, grad = _losses_and_gradients(tf.constant([[[[40.0]]], [[[-40.0]]]]))
    assert np.isfinite(d.numpy()) and np.isfinite(total.numpy())
    assert np.all(np.isfinite(grad.numpy()))
    # Each element contributes -log(~0 + EPS) = 27.63: the guard is there, not folded away.
    np.testing.assert_allclose(d.numpy(), -np.log(EPS), rtol=1e-3)


@tf.function
def _exact_probabilities(p):
    with tf.GradientTape() as tape:
        tape.watch(p)
        d = discriminator_loss(p, p)
        _, gan, _ = generator_losses(p, tf.zeros([1]), tf.zeros([1]))
        both = d + gan
    return d, gan, tape.gradient(both, p)


def test_probabilities_of_exactly_one_and_zero_in_graph():
    d, gan, grad = _exact_probabilities(tf.constant([1.0, 0.0]))
    np.testing.assert_allclose(d.numpy(), -np.log(EPS), rtol=1e-5)  # (27.6 + 27.6) / 2
    np.testing.assert_allclose(gan.numpy(), -np.log(EPS) / 2, rtol=1e-5)
    assert np.all(np.isfinite(grad.numpy()))
