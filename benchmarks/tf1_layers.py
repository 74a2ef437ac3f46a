"""Thin stand-ins for the tf.compat.v1.layers functions the TF1 pix2pix original calls.

TensorFlow 2.21 with Keras 3 no longer has them (`tf.compat.v1.layers.conv2d` raises "`conv2d`
is not available with Keras 3"), so benchmarks/against_tf1.py puts these in their place before
it runs the original's unmodified script. Each makes the variables tf.layers made, with the
same names, shapes and initialiser arguments, in a variable scope named as tf.layers named it
(`conv2d`, `conv2d_1`, ... made unique in the enclosing scope; the plain name again where that
scope is being reused), and computes with the same tf.nn ops:

    conv2d(inputs, filters, kernel_size, strides, padding, kernel_initializer, ...)
        kernel [k, k, in, filters], bias [filters]           -> conv2d + bias_add
    conv2d_transpose(...)
        kernel [k, k, filters, in], bias [filters]           -> conv2d_transpose + bias_add
    separable_conv2d(..., depthwise_initializer, pointwise_initializer)
        depthwise_kernel [k, k, in, 1], pointwise_kernel [1, 1, in, filters], bias [filters]
    batch_normalization(inputs, axis=-1, momentum, epsilon, training, gamma_initializer, ...)
        gamma, beta (trainable), moving_mean, moving_variance (not trainable)
        training: the fused kernel on the batch's statistics; the moving averages' update ops
        go to the UPDATE_OPS collection, as tf.layers did (the original never runs them).
    dropout(inputs, rate, training)

Only the arguments the original uses (and their defaults) are supported; anything else is
refused with a clear error rather than silently ignored. This file is ours: nothing of the
original or of TensorFlow's tf.layers source is copied here.
"""

import types

import tensorflow as tf

v1 = tf.compat.v1


def _pair(value, what):
    if isinstance(value, int):
        return value, value
    value = tuple(value)
    if len(value) != 2:
        raise ValueError(f"tf1_layers: {what} must be an int or a pair, got {value!r}")
    return value


def _padding(padding):
    padding = padding.upper()
    if padding not in ("SAME", "VALID"):
        raise ValueError(f"tf1_layers: padding must be 'same' or 'valid', got {padding!r}")
    return padding


def _only_defaults(kwargs, what):
    """Refuse arguments the stand-ins do not implement (unless given their tf.layers default)."""
    defaults = {"data_format": "channels_last", "dilation_rate": (1, 1), "activation": None,
                "kernel_regularizer": None, "bias_regularizer": None, "activity_regularizer": None,
                "kernel_constraint": None, "bias_constraint": None, "trainable": True,
                "reuse": None, "depth_multiplier": 1, "depthwise_regularizer": None,
                "pointwise_regularizer": None, "depthwise_constraint": None,
                "pointwise_constraint": None, "center": True, "scale": True, "renorm": False,
                "fused": None, "virtual_batch_size": None, "adjustment": None,
                "beta_regularizer": None, "gamma_regularizer": None, "beta_constraint": None,
                "gamma_constraint": None, "noise_shape": None, "seed": None}
    for name, value in kwargs.items():
        if name not in defaults:
            raise TypeError(f"tf1_layers.{what}: unknown argument {name!r}")
        default = defaults[name]
        if value != default and not (isinstance(default, tuple) and value in (1, [1, 1])):
            raise NotImplementedError(f"tf1_layers.{what}: {name}={value!r} is not supported "
                                      f"(only the default, {default!r})")


def _scope(name, default_name):
    """The layer's variable scope, named as tf.layers named it."""
    if name is not None:
        return v1.variable_scope(name)
    if v1.get_variable_scope().reuse:  # a reused scope: the first layer's variables again
        return v1.variable_scope(default_name)
    return v1.variable_scope(None, default_name=default_name)


def _bias(filters, initializer):
    return v1.get_variable("bias", [filters], initializer=initializer or v1.zeros_initializer())


def conv2d(inputs, filters, kernel_size, strides=(1, 1), padding="valid", use_bias=True,
           kernel_initializer=None, bias_initializer=None, name=None, **kwargs):
    _only_defaults(kwargs, "conv2d")
    kh, kw = _pair(kernel_size, "kernel_size")
    sh, sw = _pair(strides, "strides")
    with _scope(name, "conv2d"):
        kernel = v1.get_variable("kernel", [kh, kw, int(inputs.shape[-1]), filters],
                                 initializer=kernel_initializer)
        outputs = tf.nn.conv2d(inputs, kernel, [1, sh, sw, 1], _padding(padding))
        if use_bias:
            outputs = tf.nn.bias_add(outputs, _bias(filters, bias_initializer))
    return outputs


def _transposed_side(size, kernel, stride, padding):
    if padding == "SAME":
        return size * stride
    return size * stride + max(kernel - stride, 0)


def conv2d_transpose(inputs, filters, kernel_size, strides=(1, 1), padding="valid", use_bias=True,
                     kernel_initializer=None, bias_initializer=None, name=None, **kwargs):
    _only_defaults(kwargs, "conv2d_transpose")
    kh, kw = _pair(kernel_size, "kernel_size")
    sh, sw = _pair(strides, "strides")
    padding = _padding(padding)
    with _scope(name, "conv2d_transpose"):
        kernel = v1.get_variable("kernel", [kh, kw, filters, int(inputs.shape[-1])],
                                 initializer=kernel_initializer)
        shape = tf.shape(inputs)
        output_shape = tf.stack([shape[0], _transposed_side(shape[1], kh, sh, padding),
                                 _transposed_side(shape[2], kw, sw, padding), filters])
        outputs = tf.nn.conv2d_transpose(inputs, kernel, output_shape, [1, sh, sw, 1], padding)
        static = [inputs.shape[0]] + [None if d is None else _transposed_side(d, k, s, padding)
                                      for d, k, s in ((inputs.shape[1], kh, sh), (inputs.shape[2], kw, sw))]
        outputs.set_shape(static + [filters])
        if use_bias:
            outputs = tf.nn.bias_add(outputs, _bias(filters, bias_initializer))
    return outputs


def separable_conv2d(inputs, filters, kernel_size, strides=(1, 1), padding="valid", use_bias=True,
                     depthwise_initializer=None, pointwise_initializer=None, bias_initializer=None,
                     name=None, **kwargs):
    _only_defaults(kwargs, "separable_conv2d")
    kh, kw = _pair(kernel_size, "kernel_size")
    sh, sw = _pair(strides, "strides")
    channels = int(inputs.shape[-1])
    with _scope(name, "separable_conv2d"):
        depthwise = v1.get_variable("depthwise_kernel", [kh, kw, channels, 1],
                                    initializer=depthwise_initializer)
        pointwise = v1.get_variable("pointwise_kernel", [1, 1, channels, filters],
                                    initializer=pointwise_initializer)
        outputs = tf.nn.separable_conv2d(inputs, depthwise, pointwise, [1, sh, sw, 1], _padding(padding))
        if use_bias:
            outputs = tf.nn.bias_add(outputs, _bias(filters, bias_initializer))
    return outputs


def batch_normalization(inputs, axis=-1, momentum=0.99, epsilon=1e-3, training=False,
                        beta_initializer=None, gamma_initializer=None,
                        moving_mean_initializer=None, moving_variance_initializer=None,
                        name=None, **kwargs):
    _only_defaults(kwargs, "batch_normalization")
    if axis not in (-1, len(inputs.shape) - 1) or len(inputs.shape) != 4:
        raise NotImplementedError("tf1_layers.batch_normalization: only 4-D inputs normalised "
                                  f"over the last axis are supported (axis={axis})")
    channels = int(inputs.shape[-1])
    with _scope(name, "batch_normalization"):
        gamma = v1.get_variable("gamma", [channels], initializer=gamma_initializer or v1.ones_initializer())
        beta = v1.get_variable("beta", [channels], initializer=beta_initializer or v1.zeros_initializer())
        moving_mean = v1.get_variable("moving_mean", [channels], trainable=False,
                                      initializer=moving_mean_initializer or v1.zeros_initializer())
        moving_variance = v1.get_variable("moving_variance", [channels], trainable=False,
                                          initializer=moving_variance_initializer or v1.ones_initializer())
        if training is not True and training is not False:
            raise NotImplementedError("tf1_layers.batch_normalization: training must be a Python bool")
        if not training:
            outputs, _, _ = v1.nn.fused_batch_norm(inputs, gamma, beta, moving_mean, moving_variance,
                                                   epsilon=epsilon, is_training=False)
            return outputs
        outputs, mean, variance = v1.nn.fused_batch_norm(inputs, gamma, beta, epsilon=epsilon,
                                                         is_training=True)
        # tf.layers' moving averages: value <- value - (1 - momentum) * (value - batch statistic);
        # collected, not run (the original's train op does not depend on UPDATE_OPS).
        decay = 1.0 - momentum
        for variable, statistic in ((moving_mean, mean), (moving_variance, variance)):
            v1.add_to_collection(v1.GraphKeys.UPDATE_OPS,
                                 v1.assign_sub(variable, decay * (variable - statistic)))
    return outputs


def dropout(inputs, rate=0.5, training=False, name=None, **kwargs):
    _only_defaults(kwargs, "dropout")
    if not training:
        return tf.identity(inputs, name=name)
    return tf.nn.dropout(inputs, rate=rate, name=name)


class Layers:
    """What `tf.layers` is for the original: these functions, nothing else."""

    conv2d = staticmethod(conv2d)
    conv2d_transpose = staticmethod(conv2d_transpose)
    separable_conv2d = staticmethod(separable_conv2d)
    batch_normalization = staticmethod(batch_normalization)
    dropout = staticmethod(dropout)


def tf1_module():
    """The `tensorflow` module the original imports: tf.compat.v1, with `layers` the stand-ins."""
    module = types.ModuleType("tensorflow", "tf.compat.v1 with tf.layers stand-ins (benchmarks/tf1_layers.py)")
    module.layers = Layers
    module.__getattr__ = lambda name: getattr(v1, name)  # PEP 562: everything else is tf.compat.v1
    return module
