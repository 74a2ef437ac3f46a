"""The CPU speed paths (pix2pix/models/kernels.py): each equals the plain Keras layer it replaces,
in values and gradients, and one switch turns them all off."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from pix2pix.errors import Pix2PixError
from pix2pix.models import kernels
from pix2pix.models.generators import build_unet
from pix2pix.models.discriminators import build_patch_discriminator


def test_leaky_relu_matches_keras():
    import keras

    from pix2pix.models.kernels import LeakyReLU

    x = tf.random.normal([2, 5, 5, 3], seed=6)
    ours, theirs = LeakyReLU(0.2), keras.layers.LeakyReLU(0.2)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        y_ours, y_theirs = ours(x), theirs(x)
        loss_ours, loss_theirs = tf.reduce_sum(y_ours * x), tf.reduce_sum(y_theirs * x)
    np.testing.assert_array_equal(y_ours.numpy(), y_theirs.numpy())
    np.testing.assert_allclose(tape.gradient(loss_ours, x), tape.gradient(loss_theirs, x), rtol=1e-6)


@pytest.mark.parametrize("size", [(2, 2), (4, 4), (8, 8), (2, 4), (16, 16)])
@pytest.mark.parametrize("transposed", [False, True])
def test_small_map_matmul_path_equals_keras_convolution(size, transposed):
    import keras

    from pix2pix.models.kernels import StridedConv2D, StridedConv2DTranspose

    rng = np.random.default_rng(0)
    x = tf.constant(rng.normal(size=(3, *size, 6)).astype(np.float32))
    ours = (StridedConv2DTranspose if transposed else StridedConv2D)(5)
    keras_class = keras.layers.Conv2DTranspose if transposed else keras.layers.Conv2D
    reference = keras_class(5, 4, strides=2, padding="same")
    ours.build(x.shape)
    reference.build(x.shape)
    ours.bias.assign(rng.normal(size=5).astype(np.float32))
    reference.kernel.assign(ours.kernel.numpy())
    reference.bias.assign(ours.bias.numpy())
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        y_ours, y_ref = ours(x), reference(x)
        loss_ours, loss_ref = (tf.reduce_sum(y * tf.sin(y)) for y in (y_ours, y_ref))
    np.testing.assert_allclose(y_ours, y_ref, rtol=1e-5, atol=1e-5)
    grads_ours = tape.gradient(loss_ours, [x, ours.kernel.value, ours.bias.value])
    grads_ref = tape.gradient(loss_ref, [x, reference.kernel.value, reference.bias.value])
    for a, b in zip(grads_ours, grads_ref):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)


def test_fused_adam_matches_keras_adam():
    import keras

    from pix2pix.models.kernels import FusedAdam

    rng = np.random.default_rng(0)
    shapes = [(4, 4, 3, 8), (8,), (100,)]
    start = [rng.normal(size=s).astype(np.float32) for s in shapes]
    grads = [[rng.normal(size=s).astype(np.float32) for s in shapes] for _ in range(10)]
    finals = []
    for optimizer_class in (keras.optimizers.Adam, FusedAdam):
        variables = [keras.Variable(a) for a in start]
        optimizer = optimizer_class(learning_rate=0.01, beta_1=0.5, beta_2=0.999, epsilon=1e-8)
        optimizer.build(variables)
        step = tf.function(lambda g: optimizer.apply_gradients(zip(g, variables)))
        for g in grads:
            step([tf.constant(x) for x in g])
        finals.append([v.numpy() for v in variables + optimizer._momentums + optimizer._velocities])
    for a, b in zip(*finals):
        np.testing.assert_allclose(a, b, atol=2e-6)
    assert not np.allclose(finals[1][0], start[0])  # it did move


def _speed_layers(model):
    return [layer for layer in model.layers if isinstance(
        layer, (kernels.StridedConv2D, kernels.StridedConv2DTranspose, kernels.LeakyReLU))]


def test_one_switch_builds_the_plain_keras_layers_with_the_same_variables():
    fast = build_unet(3, 3, ngf=4, depth=5)
    with kernels.plain_kernels():
        assert not kernels.enabled()
        plain = build_unet(3, 3, ngf=4, depth=5)
        plain_adam = kernels.adam(learning_rate=0.1)
    assert kernels.enabled()
    assert _speed_layers(fast) and not _speed_layers(plain)
    assert type(plain_adam) is keras.optimizers.Adam and type(kernels.adam()) is kernels.FusedAdam
    assert [v.path for v in fast.trainable_variables] == [v.path for v in plain.trainable_variables]
    assert [v.shape for v in fast.trainable_variables] == [v.shape for v in plain.trainable_variables]


@pytest.mark.parametrize("network", ["unet", "patchgan"])
def test_whole_networks_compute_the_same_with_and_without_the_speed_paths(network):
    """Every speed path of a network at once (small maps included: 32x32 at depth 5 reaches 1x1)."""
    def build():
        if network == "unet":
            return build_unet(3, 3, ngf=4, depth=5, dropout=False)
        return build_patch_discriminator(3, 3, ndf=4)

    keras.utils.set_random_seed(7)
    fast = build()
    with kernels.plain_kernels():
        plain = build()
    plain.set_weights(fast.get_weights())
    rng = np.random.default_rng(2)
    x = tf.constant(rng.uniform(-1, 1, (2, 32, 32, 3)).astype(np.float32))
    args = (x,) if network == "unet" else ([x, x[::-1]],)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        y_fast, y_plain = fast(*args), plain(*args)
        loss_fast, loss_plain = (tf.reduce_sum(y * tf.cos(3 * y)) for y in (y_fast, y_plain))
    np.testing.assert_allclose(y_fast, y_plain, rtol=1e-4, atol=1e-5)
    grads_fast = tape.gradient(loss_fast, [x, *fast.trainable_variables])
    grads_plain = tape.gradient(loss_plain, [x, *plain.trainable_variables])
    # Biases feeding a batch norm have a gradient of zero up to rounding: an absolute
    # tolerance at 1e-5 of the largest gradient anywhere covers them.
    scale = max(float(np.abs(g).max()) for g in grads_plain)
    for a, b in zip(grads_fast, grads_plain):
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-5 * scale)


def _custom_gradients(graph):
    """The ops of GRAPH that tf.custom_gradient made (their gradient is looked up by this attribute)."""
    found = []
    for op in graph.get_operations():
        try:
            op.get_attr("_gradient_op_type")
            found.append(op)
        except ValueError:
            pass
    return found


def test_without_a_tape_the_speed_paths_run_their_forward_ops_alone_with_the_same_values():
    """Inference (an export's signatures) holds no hand-given gradients, which a SavedModel would trace
    and store; under a tape (a training step) they are there, and the values are the same."""
    keras.utils.set_random_seed(7)
    unet = build_unet(3, 3, ngf=4, depth=5, dropout=False)  # 32x32 at depth 5: every small-map path
    x = tf.constant(np.random.default_rng(2).uniform(-1, 1, (1, 32, 32, 3)).astype(np.float32))

    def forward(x):
        return unet(x)

    def forward_under_a_tape(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = unet(x)
        return y, tape.gradient(tf.reduce_sum(y), x)

    inference = tf.function(forward).get_concrete_function(x)
    training = tf.function(forward_under_a_tape).get_concrete_function(x)
    assert not _custom_gradients(inference.graph)
    assert len(_custom_gradients(training.graph)) >= 5  # the LeakyReLUs and the small maps' windows
    np.testing.assert_array_equal(inference(x), training(x)[0])


def test_a_missing_private_keras_field_is_one_line_naming_the_installed_versions():
    """The fused Adam reads Keras Adam's private slots; a Keras without them is said in one line."""
    optimizer = kernels.FusedAdam()
    optimizer.build([tf.Variable(tf.zeros([2]))])
    kernels.require_private_fields(optimizer, kernels.ADAM_PRIVATE_FIELDS, "the fused Adam")  # this Keras has them
    with pytest.raises(Pix2PixError) as raised:
        kernels.require_private_fields(optimizer, ("_renamed_momentums",), "the fused Adam speed path")
    message = str(raised.value)
    assert "\n" not in message and f"Keras {keras.__version__} (TensorFlow {tf.__version__})" in message
    assert message.startswith("FusedAdam has no _renamed_momentums") and "PIX2PIX_PLAIN_KERNELS=1" in message
