"""The losses: GAN losses by --gan_mode (vanilla, lsgan, wgangp) and the L1 term.

Each GAN loss says whether the discriminator ends in a sigmoid, how the discriminator and
the generator's adversarial term are computed from D's scores, and which extra terms it adds
to D's loss (reported under their own names: progress lines, TensorBoard, losses.csv).

vanilla (the reference's) works on probabilities with its EPS. The reference writes
log(1 - p + EPS). Inside a TF2 graph, Grappler's constant folding reassociates that into
log((1 + EPS) - p), and in float32 1 + 1e-12 == 1: the guard disappears and the loss becomes
inf as soon as the sigmoid saturates at exactly 1.0 (docs/reference.md#numerical-trap). Passing
1 - p through tf.maximum(., 0) first puts an op Grappler cannot reassociate across between
the subtraction and the EPS, while changing neither the value (1 - p >= 0 for a
probability) nor the gradient anywhere the original's is finite.
"""

import tensorflow as tf

from pix2pix.options.registry import Registry

EPS = 1e-12
GP_WEIGHT = 10.0  # WGAN-GP's penalty weight (Gulrajani et al.; the PyTorch pix2pix's)

# (--gan_mode wgangp with --gan_weight 0 is refused by options/record.py's check_combinations.)
GAN_LOSSES = Registry("GAN loss", flag="gan_mode")


def _log_one_minus(p):
    """log(1 - p + EPS) that keeps its EPS through graph optimisation."""
    return tf.math.log(tf.maximum(1.0 - p, 0.0) + EPS)


def discriminator_loss(predict_real, predict_fake):
    """mean(-(log(D(x, y) + EPS) + log(1 - D(x, G(x)) + EPS))); inputs are [N, h, w, 1] probabilities."""
    return tf.reduce_mean(-(tf.math.log(predict_real + EPS) + _log_one_minus(predict_fake)))


def l1_loss(targets, outputs):
    """mean(|y - G(x)|)."""
    return tf.reduce_mean(tf.abs(tf.cast(targets, tf.float32) - tf.cast(outputs, tf.float32)))


def generator_losses(predict_fake, targets, outputs, gan_weight=1.0, l1_weight=100.0):
    """(total, gan, l1) of the reference: gan = mean(-log(D(x, G(x)) + EPS)), l1 = mean(|y - G(x)|).

    total = gan_weight * gan + l1_weight * l1.
    """
    gan = tf.reduce_mean(-tf.math.log(predict_fake + EPS))
    l1 = l1_loss(targets, outputs)
    return gan_weight * gan + l1_weight * l1, gan, l1


class GanLoss:
    """One --gan_mode. Scores are D's outputs [N, h, w, 1] (probabilities when SIGMOID)."""

    SIGMOID = True
    EXTRA_NAMES = ()  # extra terms of D's loss, already weighted, reported by these names

    def discriminator_loss(self, real, fake):
        raise NotImplementedError

    def generator_loss(self, fake):
        raise NotImplementedError

    def extra_terms(self, discriminate, inputs, targets, outputs):
        """{name: value} of the EXTRA_NAMES terms; DISCRIMINATE(inputs, images) gives D's scores."""
        return {}


@GAN_LOSSES.register("vanilla")
class Vanilla(GanLoss):
    """The reference's: D's probabilities, cross-entropy with EPS."""

    def discriminator_loss(self, real, fake):
        return discriminator_loss(real, fake)

    def generator_loss(self, fake):
        return tf.reduce_mean(-tf.math.log(fake + EPS))


@GAN_LOSSES.register("lsgan")
class LeastSquares(GanLoss):
    """LSGAN (Mao et al.): no sigmoid; D: 0.5 (mean (D(x,y) - 1)^2 + mean D(x,G(x))^2), G: mean (D(x,G(x)) - 1)^2."""

    SIGMOID = False

    def discriminator_loss(self, real, fake):
        return 0.5 * (tf.reduce_mean(tf.square(real - 1.0)) + tf.reduce_mean(tf.square(fake)))

    def generator_loss(self, fake):
        return tf.reduce_mean(tf.square(fake - 1.0))


@GAN_LOSSES.register("wgangp")
class WassersteinGP(GanLoss):
    """WGAN-GP (Gulrajani et al.): D is a critic without sigmoid.

    D: -mean D(x, y) + mean D(x, G(x)) + 10 mean_n (||grad_yhat D(x, yhat)||_2 - 1)^2 with
    yhat = e y + (1 - e) G(x), e ~ U(0, 1) per example; the gradient is that of the sum of D's
    score map (as the PyTorch pix2pix), its norm over all pixels and channels of an example.
    G: -mean D(x, G(x)). discrim_loss is the whole critic loss, discrim_loss_GP its penalty part.
    """

    SIGMOID = False
    EXTRA_NAMES = ("discrim_loss_GP",)

    def discriminator_loss(self, real, fake):
        return -tf.reduce_mean(real) + tf.reduce_mean(fake)

    def generator_loss(self, fake):
        return -tf.reduce_mean(fake)

    def extra_terms(self, discriminate, inputs, targets, outputs):
        targets = tf.cast(targets, tf.float32)
        outputs = tf.stop_gradient(tf.cast(outputs, tf.float32))
        mix = tf.random.uniform([tf.shape(targets)[0], 1, 1, 1])
        mixed = mix * targets + (1.0 - mix) * outputs
        with tf.GradientTape() as tape:
            tape.watch(mixed)
            scores = tf.reduce_sum(tf.cast(discriminate(inputs, mixed), tf.float32))
        gradients = tape.gradient(scores, mixed)
        # The tiny constant keeps the norm's own gradient finite where the gradient is 0.
        norms = tf.sqrt(tf.reduce_sum(tf.square(gradients), axis=[1, 2, 3]) + 1e-12)
        return {"discrim_loss_GP": GP_WEIGHT * tf.reduce_mean(tf.square(norms - 1.0))}


# Every model reports these, in this order, then its GAN loss's EXTRA_NAMES.
BASE_LOSS_NAMES = ("discrim_loss", "gen_loss_GAN", "gen_loss_L1")


def loss_names(gan_loss: GanLoss):
    """The names of the losses a model with GAN_LOSS reports, in order."""
    return BASE_LOSS_NAMES + tuple(gan_loss.EXTRA_NAMES)


def gan_loss_for(options) -> GanLoss:
    return GAN_LOSSES.get(options.gan_mode)()
