"""benchmarks/tf1_layers.py: the tf.layers stand-ins the TF1 original is run with (benchmarks/against_tf1.py).

The original is not part of this project, so its two networks are written out here in its layer
order with the stand-ins -- tf1_layers.conv2d, conv2d_transpose, separable_conv2d and
batch_normalization, called as the original calls them -- inside a tf.compat.v1 graph. Their
variables must carry the original's names (pix2pix/modes/import_tf1.py's mapping finds every one of
our weights among them, and nothing is left over), and with our weights loaded into them the
forward pass must equal our generator's and discriminator's within 1e-4.
"""

import numpy as np
import pytest
import tensorflow as tf

from helpers import REPO, load_benchmark, run_script
from pix2pix import Options
from pix2pix.models.networks import define_discriminator, define_generator
from pix2pix.modes.import_tf1 import tf1_names

tf1_layers = load_benchmark("tf1_layers")

v1 = tf.compat.v1
layers = tf1_layers.tf1_module().layers  # what `tf.layers` is for the original
NGF = NDF = 4
INIT = v1.random_normal_initializer(0, 0.02)


def _lrelu(x, a):
    return tf.maximum(x, a * x)


def _batchnorm(x):  # the original's call
    return layers.batch_normalization(x, axis=3, epsilon=1e-5, momentum=0.1, training=True,
                                      gamma_initializer=v1.random_normal_initializer(1.0, 0.02))


def _gen_conv(x, channels, separable):
    if separable:
        return layers.separable_conv2d(x, channels, kernel_size=4, strides=(2, 2), padding="same",
                                       depthwise_initializer=INIT, pointwise_initializer=INIT)
    return layers.conv2d(x, channels, kernel_size=4, strides=(2, 2), padding="same", kernel_initializer=INIT)


def _gen_deconv(x, channels, separable):
    if separable:
        h, w = int(x.shape[1]), int(x.shape[2])
        x = v1.image.resize_images(x, [h * 2, w * 2], method=v1.image.ResizeMethod.NEAREST_NEIGHBOR)
        return layers.separable_conv2d(x, channels, kernel_size=4, strides=(1, 1), padding="same",
                                       depthwise_initializer=INIT, pointwise_initializer=INIT)
    return layers.conv2d_transpose(x, channels, kernel_size=4, strides=(2, 2), padding="same",
                                   kernel_initializer=INIT)


def tf1_generator(inputs, out_channels, separable):
    """The original's U-Net at 256 (8 levels), dropout left out."""
    specs = [NGF * min(2 ** i, 8) for i in range(8)]
    with v1.variable_scope("generator"):
        stack = []
        with v1.variable_scope("encoder_1"):
            stack.append(_gen_conv(inputs, specs[0], separable))
        for k in range(2, 9):
            with v1.variable_scope(f"encoder_{k}"):
                stack.append(_batchnorm(_gen_conv(_lrelu(stack[-1], 0.2), specs[k - 1], separable)))
        for k in range(8, 1, -1):
            with v1.variable_scope(f"decoder_{k}"):
                x = stack[-1] if k == 8 else tf.concat([stack[-1], stack[k - 1]], axis=3)
                stack.append(_batchnorm(_gen_deconv(tf.nn.relu(x), specs[k - 2], separable)))
        with v1.variable_scope("decoder_1"):
            x = tf.concat([stack[-1], stack[0]], axis=3)
            return tf.tanh(_gen_deconv(tf.nn.relu(x), out_channels, separable))


def tf1_discriminator(inputs, targets):
    """The original's 70x70 PatchGAN (its discrim_conv: pad 1, 4x4 'valid' conv)."""
    def conv(x, channels, stride):
        x = tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]], mode="CONSTANT")
        return layers.conv2d(x, channels, kernel_size=4, strides=(stride, stride), padding="valid",
                             kernel_initializer=INIT)

    x = tf.concat([inputs, targets], axis=3)
    with v1.variable_scope("layer_1"):
        x = _lrelu(conv(x, NDF, 2), 0.2)
    for i in range(3):
        with v1.variable_scope(f"layer_{i + 2}"):
            x = _lrelu(_batchnorm(conv(x, NDF * min(2 ** (i + 1), 8), 1 if i == 2 else 2)), 0.2)
    with v1.variable_scope("layer_5"):
        return tf.sigmoid(conv(x, 1, 1))


def _without_dropout(generator):
    for layer in generator.layers:
        if "dropout" in layer.name:
            layer.rate = 0.0


@pytest.mark.parametrize("separable", [False, True], ids=["default", "separable_conv"])
def test_stand_ins_keep_the_original_names_and_compute_our_networks(separable):
    options = Options(mode="train", output_dir="unused", crop_size=256, ngf=NGF, ndf=NDF,
                      lab_colorization=True, separable_conv=separable).validate()
    tf.keras.utils.set_random_seed(3)
    generator = define_generator(options)
    discriminator = define_discriminator(options)
    _without_dropout(generator)
    rng = np.random.default_rng(0)
    # Batch 2: batch statistics over more than one example; biases and betas made non-zero
    # so that one mapped to the wrong layer could not go unnoticed.
    for weight in generator.trainable_weights + discriminator.trainable_weights:
        if weight.name in ("bias", "beta"):
            weight.assign(rng.normal(0, 0.1, weight.shape).astype(np.float32))
    inputs = rng.uniform(-1, 1, (2, 256, 256, 1)).astype(np.float32)
    targets = rng.uniform(-1, 1, (2, 256, 256, 2)).astype(np.float32)
    expected_outputs = generator(inputs, training=True).numpy()
    expected_real = discriminator([inputs, targets], training=True).numpy()
    expected_fake = discriminator([inputs, expected_outputs], training=True).numpy()

    ours = {name: weight.numpy() for name, weight in {**tf1_names(generator), **tf1_names(discriminator)}.items()}
    with tf.Graph().as_default():
        x, y = tf.constant(inputs), tf.constant(targets)
        outputs = tf1_generator(x, 2, separable)
        with v1.variable_scope("discriminator"):  # the original's real and (reusing) fake copies
            real = tf1_discriminator(x, y)
        with v1.variable_scope("discriminator", reuse=True):
            fake = tf1_discriminator(x, outputs)
        trainable = {v.op.name: v for v in v1.trainable_variables()}
        assert set(trainable) == set(ours), sorted(set(trainable) ^ set(ours))[:10]
        stats = [v.op.name for v in v1.global_variables() if v.op.name not in trainable]
        assert stats and all(name.endswith(("/moving_mean", "/moving_variance")) for name in stats), stats
        with v1.Session() as session:
            session.run(v1.global_variables_initializer())
            for name, variable in trainable.items():
                variable.load(ours[name], session)
            got_outputs, got_real, got_fake = session.run([outputs, real, fake])

    np.testing.assert_allclose(got_outputs, expected_outputs, atol=1e-4)
    np.testing.assert_allclose(got_real, expected_real, atol=1e-4)
    # D on the TF1 graph's own outputs (equal to ours within the tolerance above).
    np.testing.assert_allclose(got_fake, expected_fake, atol=1e-4)
    assert got_real.shape == (2, 30, 30, 1)


def test_stand_ins_refuse_what_they_do_not_implement():
    with tf.Graph().as_default():
        x = tf.zeros([1, 8, 8, 3])
        with pytest.raises(NotImplementedError, match="activation"):
            layers.conv2d(x, 4, 3, activation=tf.nn.relu)
        with pytest.raises(TypeError, match="unknown argument"):
            layers.conv2d(x, 4, 3, groups=2)
        assert layers.conv2d(x, 4, 3, strides=1, padding="same").shape == (1, 8, 8, 4)
        assert layers.conv2d_transpose(x, 5, 4, strides=2, padding="same").shape == (1, 16, 16, 5)
        assert layers.conv2d_transpose(x, 5, 4, strides=2, padding="valid").shape == (1, 18, 18, 5)
        names = sorted(v.op.name for v in v1.global_variables())
        # Unique names as tf.layers gave them; the refused calls made no variables.
        assert names == ["conv2d/bias", "conv2d/kernel",
                         "conv2d_transpose/bias", "conv2d_transpose/kernel",
                         "conv2d_transpose_1/bias", "conv2d_transpose_1/kernel"], names


def test_against_tf1_runs_a_script_with_the_stand_ins_under_tf1_behaviour(tmp_path):
    """benchmarks/against_tf1.py --_run_tf1 SCRIPT -- ARGS: the script's `import tensorflow as tf` gets
    tf.compat.v1 with the stand-ins as tf.layers, graph mode with reference variables (as TF1 ran the
    original), constant folding off (the reference's numerical trap), and ARGS as its sys.argv."""
    script = tmp_path / "like_the_original.py"
    script.write_text(
        "import sys\n"
        "import tensorflow as tf\n"
        "x = tf.placeholder(tf.float32, [1, 8, 8, 3])\n"
        "with tf.variable_scope('encoder_1'):\n"
        "    y = tf.layers.conv2d(x, 4, kernel_size=4, strides=(2, 2), padding='same')\n"
        "kernel = tf.global_variables()[0]\n"
        "import tensorflow.compat.v1 as real\n"
        "folding = real.config.optimizer.get_experimental_options().get('constant_folding')\n"
        "print('RESULT', kernel.op.name, kernel.op.type, y.shape.as_list(), real.executing_eagerly(),\n"
        "      folding, sys.argv[1:])\n")
    # Forked (helpers.run_script): the fork server never starts TensorFlow's runtime, so the script still
    # switches it to TF1's graph mode before its first operation, as a fresh interpreter would.
    result = run_script(f"{REPO}/benchmarks/against_tf1.py", "--_run_tf1", script, "--", "--mode", "train",
                        timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    line = next(l for l in result.stdout.splitlines() if l.startswith("RESULT"))
    # VariableV2: a TF1 reference variable (a resource variable would be VarHandleOp).
    assert line == "RESULT encoder_1/conv2d/kernel VariableV2 [1, 4, 4, 4] False False ['--mode', 'train']", line
