"""Image tensors in and out: decoding files to RGB, and resizing the way the port does everywhere.

TensorFlow ops on [H, W, C] float32 images in [0, 1] (or network values); no file names here.
"""

import tensorflow as tf


def decode_rgb(contents):
    """Encoded bytes -> [H, W, 3] float32 in [0, 1]. Grey is expanded to RGB, alpha dropped."""
    image = tf.io.decode_image(contents, channels=3, dtype=tf.uint8, expand_animations=False)
    return tf.image.convert_image_dtype(image, tf.float32)


def resize(image, height, width):
    """[H, W, C] -> [height, width, C], float32.

    Area averaging when shrinking in both directions (what training and test mode use to
    reach crop_size, so the network sees the kind of image it was trained on); bicubic when
    enlarging in both; antialiased bicubic for a mix (shrinking one way, enlarging the other).
    """
    size = tf.shape(image)[:2]
    target = [height, width]
    shrinking = tf.reduce_all(size >= tf.stack(target))
    enlarging = tf.reduce_all(size <= tf.stack(target))
    return tf.case([
        (shrinking, lambda: tf.image.resize(image, target, method="area")),
        (enlarging, lambda: tf.image.resize(image, target, method="bicubic")),
    ], default=lambda: tf.image.resize(image, target, method="bicubic", antialias=True))


def resize_like(image, photo):
    """IMAGE [h, w, C] resized to the height and width of PHOTO [H, W, ...]."""
    return resize(image, tf.shape(photo)[0], tf.shape(photo)[1])


def grey_to_rgb(values):
    """[..., 1] -> [..., 3]: the one channel repeated."""
    return tf.concat([values, values, values], axis=-1)
