"""The TF1 reference graph built by hand, for the tests of --mode import.

No real TF1 checkpoint can be downloaded here, so write_tf1_checkpoint builds the reference's graph with
tf.compat.v1 (its variable names and shapes, its maths written out with tf.nn ops) and saves it with
tf.compat.v1.train.Saver, as the reference's training did.
"""

import json
import os

import numpy as np
import tensorflow as tf

NGF = NDF = 4
DEPTH = 8  # the reference's unet_256: 256x256 inputs
STEP = 7


class Tf1Reference:
    """The reference's generator and discriminator as a tf.compat.v1 graph with its variable names.

    Variables get random values (biases and batch-norm betas too, with a larger spread than the
    reference's initialisers, so a bias mapped to the wrong layer could not go unnoticed).
    """

    def __init__(self, separable, seed=0):
        self.separable = separable
        self.rng = np.random.default_rng(seed)

    def variable(self, name, shape, mean=0.0, stddev=0.02, trainable=True):
        value = self.rng.normal(mean, stddev, shape).astype(np.float32)
        return tf.compat.v1.get_variable(name, initializer=tf.constant(value), trainable=trainable)

    def conv(self, x, out_channels, stride):
        """tf.compat.v1.layers.conv2d / separable_conv2d: 4x4, 'same', with bias."""
        in_channels = int(x.shape[-1])
        if self.separable:
            with tf.compat.v1.variable_scope("separable_conv2d"):
                depthwise = self.variable("depthwise_kernel", [4, 4, in_channels, 1])
                pointwise = self.variable("pointwise_kernel", [1, 1, in_channels, out_channels])
                bias = self.variable("bias", [out_channels], stddev=0.1)
            return tf.nn.separable_conv2d(x, depthwise, pointwise, [1, stride, stride, 1], "SAME") + bias
        with tf.compat.v1.variable_scope("conv2d"):
            kernel = self.variable("kernel", [4, 4, in_channels, out_channels])
            bias = self.variable("bias", [out_channels], stddev=0.1)
        return tf.nn.conv2d(x, kernel, [1, stride, stride, 1], "SAME") + bias

    def deconv(self, x, out_channels):
        """tf.compat.v1.layers.conv2d_transpose 4x4 s2 'same' (kernel [h, w, out, in]); with
        separable_conv a nearest-neighbour 2x resize and a separable conv, stride 1."""
        batch, height, width, in_channels = (int(d) for d in x.shape)
        if self.separable:
            x = tf.compat.v1.image.resize_nearest_neighbor(x, [height * 2, width * 2])
            return self.conv(x, out_channels, 1)
        with tf.compat.v1.variable_scope("conv2d_transpose"):
            kernel = self.variable("kernel", [4, 4, out_channels, in_channels])
            bias = self.variable("bias", [out_channels], stddev=0.1)
        return tf.nn.conv2d_transpose(x, kernel, [batch, height * 2, width * 2, out_channels],
                                      [1, 2, 2, 1], "SAME") + bias

    def batchnorm(self, x):
        """tf.compat.v1.layers.batch_normalization(training=True): batch statistics, eps 1e-5."""
        channels = int(x.shape[-1])
        with tf.compat.v1.variable_scope("batch_normalization"):
            gamma = self.variable("gamma", [channels], mean=1.0, stddev=0.3)
            beta = self.variable("beta", [channels], stddev=0.3)
            self.variable("moving_mean", [channels], trainable=False)  # stored, never used
            self.variable("moving_variance", [channels], mean=1.0, trainable=False)
        mean, variance = tf.nn.moments(x, axes=[0, 1, 2])
        return tf.nn.batch_normalization(x, mean, variance, beta, gamma, 1e-5)

    def generator(self, inputs, out_channels, ngf, depth):
        """The reference's U-Net, dropout off."""
        channels = [ngf * min(2 ** i, 8) for i in range(depth)]
        with tf.compat.v1.variable_scope("generator"):
            layers = []
            with tf.compat.v1.variable_scope("encoder_1"):
                layers.append(self.conv(inputs, channels[0], 2))
            for k in range(2, depth + 1):
                with tf.compat.v1.variable_scope(f"encoder_{k}"):
                    x = tf.nn.leaky_relu(layers[-1], 0.2)
                    layers.append(self.batchnorm(self.conv(x, channels[k - 1], 2)))
            for k in range(depth, 1, -1):
                with tf.compat.v1.variable_scope(f"decoder_{k}"):
                    x = layers[-1] if k == depth else tf.concat([layers[-1], layers[k - 1]], axis=3)
                    x = self.deconv(tf.nn.relu(x), channels[k - 2])
                    layers.append(self.batchnorm(x))
            with tf.compat.v1.variable_scope("decoder_1"):
                x = tf.concat([layers[-1], layers[0]], axis=3)
                return tf.tanh(self.deconv(tf.nn.relu(x), out_channels))

    def discriminator(self, inputs, targets, ndf):
        """The 70x70 PatchGAN: pad 1, 4x4 'valid' convs (never separable)."""
        def padded_conv(x, out_channels, stride):
            in_channels = int(x.shape[-1])
            with tf.compat.v1.variable_scope("conv2d"):
                kernel = self.variable("kernel", [4, 4, in_channels, out_channels])
                bias = self.variable("bias", [out_channels], stddev=0.1)
            x = tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]])
            return tf.nn.conv2d(x, kernel, [1, stride, stride, 1], "VALID") + bias

        with tf.compat.v1.variable_scope("discriminator"):
            x = tf.concat([inputs, targets], axis=3)
            with tf.compat.v1.variable_scope("layer_1"):
                x = tf.nn.leaky_relu(padded_conv(x, ndf, 2), 0.2)
            for i in range(3):
                with tf.compat.v1.variable_scope(f"layer_{i + 2}"):
                    stride = 1 if i == 2 else 2
                    x = padded_conv(x, ndf * min(2 ** (i + 1), 8), stride)
                    x = tf.nn.leaky_relu(self.batchnorm(x), 0.2)
            with tf.compat.v1.variable_scope("layer_5"):
                return tf.sigmoid(padded_conv(x, 1, 1))


def write_tf1_checkpoint(directory, inputs, targets, separable=False, adam=False, options_json=None):
    """Save the reference graph's variables under DIRECTORY/model-7; returns its outputs.

    inputs, targets [N, 256, 256, 3] -> {"outputs": generator(inputs), "predict_real":
    discriminator(inputs, targets)} as numpy arrays.
    """
    os.makedirs(directory, exist_ok=True)
    reference = Tf1Reference(separable)
    with tf.Graph().as_default():
        x = tf.constant(inputs)
        y = tf.constant(targets)
        outputs = reference.generator(x, targets.shape[-1], NGF, DEPTH)
        predict_real = reference.discriminator(x, y, NDF)
        if adam:  # the slots tf.compat.v1.train.AdamOptimizer would have made
            for variable in tf.compat.v1.trainable_variables():
                name = variable.op.name
                reference.variable(name + "/Adam", variable.shape, stddev=0.01, trainable=False)
                reference.variable(name + "/Adam_1", variable.shape, mean=0.01, stddev=0.001,
                                   trainable=False)
            tf.compat.v1.get_variable("beta1_power", initializer=tf.constant(0.5 ** (STEP + 1)),
                                      trainable=False)
        global_step = tf.compat.v1.train.get_or_create_global_step()
        saver = tf.compat.v1.train.Saver(max_to_keep=1)
        with tf.compat.v1.Session() as session:
            session.run(tf.compat.v1.global_variables_initializer())
            session.run(global_step.assign(STEP))
            results = session.run({"outputs": outputs, "predict_real": predict_real})
            saver.save(session, os.path.join(directory, "model"), global_step=STEP)
    if options_json is not None:
        with open(os.path.join(directory, "options.json"), "w") as f:
            json.dump(options_json, f)
    return results


def reference_options_json(**changes):
    """An options.json as the reference wrote it (its flags only: no crop_size)."""
    stored = {"aspect_ratio": 1.0, "batch_size": 1, "beta1": 0.5, "checkpoint": None,
              "display_freq": 0, "flip": True, "gan_weight": 1.0, "input_dir": "facades/train",
              "l1_weight": 100.0, "lab_colorization": False, "lr": 0.0002, "max_epochs": 200,
              "max_steps": None, "mode": "train", "ndf": NDF, "ngf": NGF, "output_dir": "tf1",
              "output_filetype": "png", "progress_freq": 50, "save_freq": 5000, "scale_size": 286,
              "seed": 1, "separable_conv": False, "summary_freq": 100, "trace_freq": 0,
              "which_direction": "AtoB"}
    stored.update(changes)
    return stored


def tf1_batch(seed, channels=3, size=256, count=2):
    return np.random.default_rng(seed).uniform(-1, 1, [count, size, size, channels]).astype(np.float32)
