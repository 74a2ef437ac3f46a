"""sRGB <-> CIE Lab (D65) as TensorFlow ops, with the reference's constants.

The conversion follows SPEC.md ("sRGB <-> CIE Lab"), itself after torch's image.c.
All functions take and return float32 tensors whose last axis holds the 3 (or 1/2)
channels; any leading shape works, e.g. [H, W, 3] or [N, H, W, 3].
"""

import tensorflow as tf

_DELTA = 6.0 / 29.0
_RGB_TO_XYZ = [  # rows: R, G, B (linear RGB as a row vector times this matrix)
    [0.412453, 0.212671, 0.019334],
    [0.357580, 0.715160, 0.119193],
    [0.180423, 0.072169, 0.950227],
]
_XYZ_TO_RGB = [  # rows: x, y, z
    [3.2404542, -0.9692660, 0.0556434],
    [-1.5371385, 1.8760108, -0.2040259],
    [-0.4985314, 0.0415560, 1.0572252],
]
_WHITE = [0.950456, 1.0, 1.088754]


def _times_matrix(pixels, matrix):
    """[..., 3] x [3, 3] -> [..., 3], treating each pixel as a row vector."""
    flat = tf.reshape(pixels, [-1, 3])
    return tf.reshape(tf.matmul(flat, tf.constant(matrix, tf.float32)), tf.shape(pixels))


def rgb_to_lab(srgb):
    """sRGB in [0, 1], shape [..., 3] -> Lab, shape [..., 3]: L in [0, 100], a and b about [-110, 110]."""
    srgb = tf.convert_to_tensor(srgb, tf.float32)
    # tf.maximum keeps pow() away from negative bases in the branch tf.where discards.
    linear = tf.where(srgb <= 0.04045, srgb / 12.92,
                      ((tf.maximum(srgb, 0.04045) + 0.055) / 1.055) ** 2.4)
    xyz = _times_matrix(linear, _RGB_TO_XYZ) / tf.constant(_WHITE)
    f = tf.where(xyz <= _DELTA ** 3, xyz / (3 * _DELTA ** 2) + 4.0 / 29.0,
                 tf.maximum(xyz, _DELTA ** 3) ** (1.0 / 3.0))
    fx, fy, fz = tf.unstack(f, axis=-1)
    return tf.stack([116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)], axis=-1)


def lab_to_rgb(lab):
    """Lab, shape [..., 3] -> sRGB in [0, 1], shape [..., 3] (linear RGB clipped to [0, 1])."""
    lab = tf.convert_to_tensor(lab, tf.float32)
    l, a, b = tf.unstack(lab, axis=-1)
    fy = (l + 16.0) / 116.0
    f = tf.stack([fy + a / 500.0, fy, fy - b / 200.0], axis=-1)
    xyz = tf.where(f <= _DELTA, 3 * _DELTA ** 2 * (f - 4.0 / 29.0), f ** 3) * tf.constant(_WHITE)
    linear = tf.clip_by_value(_times_matrix(xyz, _XYZ_TO_RGB), 0.0, 1.0)
    return tf.where(linear <= 0.0031308, linear * 12.92,
                    1.055 * tf.maximum(linear, 0.0031308) ** (1.0 / 2.4) - 0.055)


def lab_to_network(lab):
    """Lab [..., 3] -> (L [..., 1] as L/50 - 1, ab [..., 2] as ab/110): both about [-1, 1]."""
    l, ab = lab[..., :1], lab[..., 1:]
    return l / 50.0 - 1.0, ab / 110.0


def network_to_lab(l, ab):
    """Inverse of lab_to_network: L [..., 1] and ab [..., 2] in [-1, 1] -> Lab [..., 3]."""
    return tf.concat([(l + 1.0) * 50.0, ab * 110.0], axis=-1)
