"""The reference's U-Net and PatchGAN: shapes, exact parameter counts, batch statistics."""

import numpy as np
import pytest
import tensorflow as tf

from pix2pix import build_discriminator, build_generator, count_trainable_parameters
from pix2pix.models.norms import BatchStatsNorm


def test_default_parameter_counts_match_the_reference():
    generator = build_generator(3, 3)
    discriminator = build_discriminator(3, 3)
    assert count_trainable_parameters(generator) == 54_420_483
    assert count_trainable_parameters(discriminator) == 2_769_601
    assert count_trainable_parameters(generator) + count_trainable_parameters(discriminator) == 57_190_084


def test_discriminator_maps_256_pairs_to_30x30_probabilities():
    discriminator = build_discriminator(3, 3)
    x = tf.random.uniform([1, 256, 256, 3], -1, 1, seed=1)
    y = tf.random.uniform([1, 256, 256, 3], -1, 1, seed=2)
    p = discriminator([x, y]).numpy()
    assert p.shape == (1, 30, 30, 1)
    assert np.all((p > 0) & (p < 1))


def test_generator_256_output_shape_and_range():
    generator = build_generator(3, 3, ngf=8)
    y = generator(tf.random.uniform([1, 256, 256, 3], -1, 1), training=True).numpy()
    assert y.shape == (1, 256, 256, 3)
    assert np.all(np.abs(y) <= 1)


def test_lab_colorization_channels():
    generator = build_generator(1, 2, ngf=8)
    discriminator = build_discriminator(1, 2, ndf=8)
    x = tf.zeros([1, 256, 256, 1])
    y = generator(x)
    assert y.shape == (1, 256, 256, 2)
    assert discriminator([x, y]).shape == (1, 30, 30, 1)
    assert discriminator.inputs[0].shape[-1] == 1 and discriminator.inputs[1].shape[-1] == 2


@pytest.mark.parametrize("depth,height,width", [(7, 128, 128), (5, 32, 96), (8, 256, 512)])
def test_generator_takes_any_multiple_of_two_to_the_depth(depth, height, width):
    generator = build_generator(3, 3, ngf=4, depth=depth)
    assert generator(tf.zeros([2, height, width, 3])).shape == (2, height, width, 3)


def test_encoder_and_decoder_layer_names_follow_the_reference_scopes():
    names = {layer.name for layer in build_generator(3, 3, ngf=4).layers}
    for k in range(1, 9):
        assert f"encoder_{k}_conv" in names and f"decoder_{k}_deconv" in names
    assert {"decoder_8_dropout", "decoder_7_dropout", "decoder_6_dropout"} <= names
    assert "decoder_5_dropout" not in names and "encoder_1_bn" not in names


def test_separable_generator_builds_and_runs():
    generator = build_generator(3, 3, ngf=8, separable_conv=True)
    assert generator(tf.zeros([1, 256, 256, 3])).shape == (1, 256, 256, 3)
    kinds = {type(layer).__name__ for layer in generator.layers}
    assert "SeparableConv2D" in kinds and "Conv2DTranspose" not in kinds


def test_batch_norm_uses_batch_statistics_even_when_not_training():
    layer = BatchStatsNorm()
    x = tf.random.normal([4, 8, 8, 3], mean=5.0, stddev=3.0, seed=3)
    for training in (False, True):
        y = layer(x, training=training).numpy()
        gamma, beta = layer.gamma.numpy(), layer.beta.numpy()
        np.testing.assert_allclose(y.mean(axis=(0, 1, 2)), beta, atol=1e-4)
        np.testing.assert_allclose(y.std(axis=(0, 1, 2)), np.abs(gamma), rtol=1e-3)


def test_dropout_follows_the_training_argument():
    generator = build_generator(3, 3, ngf=4, depth=5)
    x = tf.random.uniform([1, 32, 32, 3], -1, 1, seed=4)
    np.testing.assert_array_equal(generator(x, training=False), generator(x, training=False))
    assert not np.allclose(generator(x, training=True), generator(x, training=True))


def test_stacked_real_and_fake_pass_equals_two_discriminator_calls():
    """One stacked pass with per-half batch norm: same predictions and gradients as two calls."""
    from pix2pix.models.networks import discriminate_real_and_fake

    discriminator = build_discriminator(3, 3, ndf=8)
    rng = np.random.default_rng(1)
    inputs, targets, outputs = (tf.constant(rng.uniform(-1, 1, (1, 64, 64, 3)).astype(np.float32))
                                for _ in range(3))
    variables = discriminator.trainable_variables

    def loss(real, fake):  # different weights on the halves, so a mixed-up half would show
        return tf.reduce_sum(tf.math.log(real + 1e-6)) + 3.0 * tf.reduce_sum(tf.math.log(1.0 - fake + 1e-6))

    with tf.GradientTape(persistent=True) as tape:
        tape.watch(outputs)
        stacked = discriminate_real_and_fake(discriminator, inputs, targets, outputs)
        separate = (discriminator([inputs, targets]), discriminator([inputs, outputs]))
        loss_stacked, loss_separate = loss(*stacked), loss(*separate)
    for a, b in zip(stacked, separate):
        assert a.shape == b.shape == (1, 6, 6, 1)
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    stacked_grads = tape.gradient(loss_stacked, [outputs, *variables])
    separate_grads = tape.gradient(loss_separate, [outputs, *variables])
    # Biases feeding a batch norm have a gradient of zero up to float32 rounding (seen up to
    # 1.2e-4 on one machine, where the network's largest gradient is about 40): the absolute
    # tolerance is 1e-5 of the largest gradient of the whole network.
    atol = 1e-5 * max(float(np.abs(g).max()) for g in separate_grads)
    for a, b in zip(stacked_grads, separate_grads):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=atol)


def test_the_generators_gradient_goes_back_through_the_fake_half_of_the_stacked_pass_alone():
    """In the step's graph, D's input gradients for G's loss (of D on the fake pair) are taken at
    batch 1, for the fake half only; D's own loss takes them on both halves stacked (batch 2)."""
    from pix2pix.models.networks import discriminate_stacked

    discriminator = build_discriminator(3, 3, ndf=8)
    image = tf.TensorSpec([1, 64, 64, 3], tf.float32)

    def input_gradient_batches(loss_of):
        @tf.function(input_signature=[image] * 3)
        def gradient(inputs, targets, outputs):
            with tf.GradientTape() as tape:
                tape.watch(outputs)
                loss = loss_of(*discriminate_stacked(discriminator, inputs, targets, outputs))
            return tape.gradient(loss, [outputs, *discriminator.trainable_variables])

        graph = gradient.get_concrete_function().graph
        return sorted(int(tf.get_static_value(op.inputs[0])[0]) for op in graph.get_operations()
                      if op.type == "Conv2DBackpropInput")

    # 5 convolutions: the first one's input gradient only when the outputs need one.
    assert input_gradient_batches(lambda real, fake: tf.reduce_mean(-tf.math.log(fake + 1e-12))) == [1] * 5
    assert input_gradient_batches(lambda real, fake: tf.reduce_mean(real - fake)) == [2] * 5
