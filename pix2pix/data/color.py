"""sRGB <-> CIE Lab (D65) as TensorFlow ops, with the reference's constants.

The conversion follows docs/reference.md#srgb-and-cie-lab, itself after torch's image.c.
All functions take and return float32 tensors whose last axis holds the 3 (or 1/2)
channels; any leading shape works, e.g. [H, W, 3] or [N, H, W, 3].
"""

import tensorflow as tf

from pix2pix.data.lab_constants import DELTA, RGB_TO_XYZ, WHITE_POINT, XYZ_TO_RGB


def _times_matrix(pixels, matrix):
    """[..., 3] x [3, 3] -> [..., 3], treating each pixel as a row vector."""
    flat = tf.reshape(pixels, [-1, 3])
    return tf.reshape(tf.matmul(flat, tf.constant(matrix, tf.float32)), tf.shape(pixels))


def srgb_to_linear(srgb):
    """sRGB [..., C] in [0, 1] -> linear RGB [..., C] (the reference's curve)."""
    # tf.maximum keeps pow() away from negative bases in the branch tf.where discards.
    return tf.where(srgb <= 0.04045, srgb / 12.92,
                    ((tf.maximum(srgb, 0.04045) + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(linear):
    """Linear RGB [..., C] in [0, 1] -> sRGB [..., C] in [0, 1]."""
    return tf.where(linear <= 0.0031308, linear * 12.92,
                    1.055 * tf.maximum(linear, 0.0031308) ** (1.0 / 2.4) - 0.055)


def lab_f(t):
    """The CIE Lab companding f(t) of XYZ normalised by the white point."""
    return tf.where(t <= DELTA ** 3, t / (3 * DELTA ** 2) + 4.0 / 29.0,
                    tf.maximum(t, DELTA ** 3) ** (1.0 / 3.0))


def lab_f_inverse(f):
    """f^-1: the inverse of lab_f."""
    return tf.where(f <= DELTA, 3 * DELTA ** 2 * (f - 4.0 / 29.0), f * f * f)


def rgb_to_lab(srgb):
    """sRGB in [0, 1], shape [..., 3] -> Lab, shape [..., 3]: L in [0, 100], a and b about [-110, 110]."""
    srgb = tf.convert_to_tensor(srgb, tf.float32)
    xyz = _times_matrix(srgb_to_linear(srgb), RGB_TO_XYZ) / tf.constant(WHITE_POINT)
    f = lab_f(xyz)
    fx, fy, fz = tf.unstack(f, axis=-1)
    return tf.stack([116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)], axis=-1)


def lab_to_rgb(lab):
    """Lab, shape [..., 3] -> sRGB in [0, 1], shape [..., 3] (linear RGB clipped to [0, 1])."""
    lab = tf.convert_to_tensor(lab, tf.float32)
    l, a, b = tf.unstack(lab, axis=-1)
    fy = (l + 16.0) / 116.0
    f = tf.stack([fy + a / 500.0, fy, fy - b / 200.0], axis=-1)
    xyz = lab_f_inverse(f) * tf.constant(WHITE_POINT)
    return linear_to_srgb(tf.clip_by_value(_times_matrix(xyz, XYZ_TO_RGB), 0.0, 1.0))


def lab_to_network(lab):
    """Lab [..., 3] -> (L [..., 1] as L/50 - 1, ab [..., 2] as ab/110): both about [-1, 1]."""
    l, ab = lab[..., :1], lab[..., 1:]
    return l / 50.0 - 1.0, ab / 110.0


def network_to_lab(l, ab):
    """Inverse of lab_to_network: L [..., 1] and ab [..., 2] in [-1, 1] -> Lab [..., 3]."""
    return tf.concat([(l + 1.0) * 50.0, ab * 110.0], axis=-1)


# ------------------------------------------------------ colour at full resolution
_GAMUT_BISECTIONS = 10
_GAMUT_TOLERANCE = 1e-3  # linear RGB; the Lab white point itself maps to R = 1.00004

# Lab colorization keeps the photo's own lightness L at full resolution. L depends on the
# relative luminance Y alone, so the functions below work with Y directly: the photo's Y
# is carried through unchanged while only X and Z follow the predicted a and b. This is
# the Lab above (the reference's constants), arranged so a 12-megapixel photo needs one
# gamma curve each way and no full Lab round trip.
_LUMINANCE_WEIGHTS = [row[1] for row in RGB_TO_XYZ]  # Y = linear RGB . these


def luminance_and_lightness(rgb):
    """sRGB [..., 3] in [0, 1] -> (Y [..., 1] relative luminance, L [..., 1] in [0, 100])."""
    luminance = tf.tensordot(srgb_to_linear(rgb), tf.constant(_LUMINANCE_WEIGHTS), axes=1)
    luminance = luminance[..., tf.newaxis]
    return luminance, 116.0 * lab_f(luminance) - 16.0


def _linear_rgb_from(luminance, f_y, ab):
    """Y [..., 1], f(Y) [..., 1] and ab [..., 2] -> linear RGB [..., 3], unclipped."""
    white_x, _, white_z = WHITE_POINT
    to_rgb = tf.constant(XYZ_TO_RGB)  # rows x, y, z
    x = white_x * lab_f_inverse(f_y + ab[..., :1] / 500.0)
    z = white_z * lab_f_inverse(f_y - ab[..., 1:] / 200.0)
    return x * to_rgb[0] + luminance * to_rgb[1] + z * to_rgb[2]


def _in_gamut(linear):
    """[..., 3] -> [..., 1] bool: inside sRGB, allowing rounding at the white point."""
    return tf.reduce_all((linear >= -_GAMUT_TOLERANCE) & (linear <= 1 + _GAMUT_TOLERANCE),
                         axis=-1, keepdims=True)


def colorize_keeping_luminance(luminance, ab):
    """Y [H, W, 1] (white = 1) and ab [H, W, 2] -> sRGB [H, W, 3] in [0, 1] with that same Y.

    So the result has exactly the photo's lightness L, its detail. Converting an out-of-gamut
    Lab colour and clipping RGB (as color.lab_to_rgb must) would change L; here such pixels'
    ab are scaled towards grey instead, by the largest factor in [0, 1] that fits the sRGB
    gamut (bisection; grey always fits). Only the out-of-gamut pixels are bisected.
    """
    f_y = lab_f(luminance)
    linear = _linear_rgb_from(luminance, f_y, ab)
    outside = tf.where(~_in_gamut(linear)[..., 0])  # [K, 2] pixel coordinates
    y_out, f_out, ab_out = (tf.gather_nd(t, outside) for t in (luminance, f_y, ab))
    low = tf.zeros_like(y_out)  # [K, 1]; scale 0 (grey) always fits
    high = tf.ones_like(y_out)
    for _ in range(_GAMUT_BISECTIONS):
        middle = (low + high) / 2
        fits = _in_gamut(_linear_rgb_from(y_out, f_out, ab_out * middle))
        low = tf.where(fits, middle, low)
        high = tf.where(fits, high, middle)
    linear = tf.tensor_scatter_nd_update(linear, outside,
                                         _linear_rgb_from(y_out, f_out, ab_out * low))
    return linear_to_srgb(tf.clip_by_value(linear, 0.0, 1.0))


def luma(rgb):
    """[..., 3] -> [..., 1]: the luma rgb_colorization models take (tf.image.rgb_to_grayscale)."""
    return tf.image.rgb_to_grayscale(rgb)


def add_chroma_within_gamut(lightness, chroma):
    """Luma [..., 1] plus chroma [..., 3] (RGB minus its luma) -> RGB [..., 3] in [0, 1].

    Chroma has (almost) zero luma, so adding it keeps the luma; where the sum would leave
    [0, 1], the chroma is scaled down (closed form: the sum is linear in the scale) rather
    than the RGB clipped, which would change the luma.
    """
    room_up = tf.math.divide_no_nan(1.0 - lightness, chroma)  # limit for positive chroma
    room_down = tf.math.divide_no_nan(-lightness, chroma)     # limit for negative chroma
    limits = tf.where(chroma > 0, room_up, tf.where(chroma < 0, room_down, 1.0))
    scale = tf.clip_by_value(tf.reduce_min(limits, axis=-1, keepdims=True), 0.0, 1.0)
    return tf.clip_by_value(lightness + scale * chroma, 0.0, 1.0)
