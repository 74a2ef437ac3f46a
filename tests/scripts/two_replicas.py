"""What the mirrored-step scripts share: two logical CPUs (configured on import, so import this
before anything starts TensorFlow's devices), and a mirrored model beside a single-device one
with the same weights and dropout off, fed the same random batch."""

import numpy as np
import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

from pix2pix import Pix2Pix  # noqa: E402


def without_dropout(model):
    # Dropout draws differ between the two runs; the comparison is about the maths.
    for layer in model.generator.layers:
        if "dropout" in layer.name:
            layer.rate = 0.0


def mirrored_and_by_hand(options, by_hand_options=None, by_hand_context=None):
    """(strategy, the model on it, a single-device model of BY_HAND_OPTIONS or OPTIONS built
    inside BY_HAND_CONTEXT if given), both with the mirrored one's weights and no dropout."""
    tf.keras.utils.set_random_seed(1)
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    assert strategy.num_replicas_in_sync == 2
    mirrored = Pix2Pix(options, strategy)
    if by_hand_context is None:
        by_hand = Pix2Pix(by_hand_options or options)
    else:
        with by_hand_context:
            by_hand = Pix2Pix(by_hand_options or options)
    without_dropout(mirrored)
    without_dropout(by_hand)
    for a, b in zip(mirrored.generator.weights + mirrored.discriminator.weights,
                    by_hand.generator.weights + by_hand.discriminator.weights):
        b.assign(a.numpy())
    return strategy, mirrored, by_hand


def random_batch():
    """(inputs, targets): 2 examples of 32x32x3 in [-1, 1]."""
    rng = np.random.default_rng(0)
    inputs = rng.uniform(-1, 1, (2, 32, 32, 3)).astype(np.float32)
    targets = rng.uniform(-1, 1, (2, 32, 32, 3)).astype(np.float32)
    return inputs, targets


def distributed(strategy, inputs, targets):
    """The batch as the strategy's replicas receive it (one example each)."""
    dataset = tf.data.Dataset.from_tensor_slices({"inputs": inputs, "targets": targets}).batch(2)
    return next(iter(strategy.experimental_distribute_dataset(dataset)))


def assert_weights_agree(mirrored, by_hand):
    """Adam's first step moves each weight by about lr * sign(gradient), so a gradient within
    rounding of zero may step either way (the traced step's fused kernels round differently
    from the eager reference); all other weights must agree."""
    differences = np.concatenate([
        np.abs(a.numpy() - b.numpy()).ravel()
        for a, b in zip(mirrored.generator.trainable_variables + mirrored.discriminator.trainable_variables,
                        by_hand.generator.trainable_variables + by_hand.discriminator.trainable_variables)])
    print("weights differing by more than 1e-6 after the update:", int(np.sum(differences > 1e-6)),
          "of", differences.size)
    assert np.mean(differences > 1e-6) < 1e-2
