"""Pure image operations on RGB ``uint8`` arrays of shape (height, width, 3).

Nothing in here touches the file system: every function takes arrays (and
plain numbers) and returns new arrays, so each one can be tested and reused
on its own. Inputs are never modified in place.
"""

import hashlib
import random

import cv2
import numpy as np

# Fraction of the shorter side covered by the white square of ``blank``
# (the value used by the reference ``tools/process.py``).
BLANK_FRACTION = 0.3

# Range of the side of a random crop, as a fraction of the shorter image side.
CROP_SIDE_RANGE = (0.5, 1.0)


def check_rgb(image):
    """Raise ValueError unless ``image`` is an (H, W, 3) uint8 array."""
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
        raise ValueError("expected a uint8 numpy array, got %r" % type(image))
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError("expected shape (height, width, 3), got %s" % (image.shape,))


def to_grayscale(image):
    """Grey version of an RGB image, stored as 3 equal channels.

    Uses OpenCV's luma weights (0.299 R + 0.587 G + 0.114 B), the same as
    ``tf.image.rgb_to_grayscale`` used by the reference up to rounding.
    """
    check_rgb(image)
    luma = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    return cv2.merge([luma, luma, luma])


def crop_to_square(image):
    """Centre crop to a square with side min(height, width).

    When the difference is odd the extra row/column is dropped at the bottom
    or right, like the reference (offset = difference // 2).
    """
    height, width = image.shape[:2]
    side = min(height, width)
    top = (height - side) // 2
    left = (width - side) // 2
    return image[top:top + side, left:left + side].copy()


def pad_to_square(image):
    """Pad with black to a square with side max(height, width), image centred."""
    height, width = image.shape[:2]
    side = max(height, width)
    top = (side - height) // 2
    left = (side - width) // 2
    return cv2.copyMakeBorder(image, top, side - height - top, left, side - width - left,
                              cv2.BORDER_CONSTANT, value=(0, 0, 0))


def scale_square(image, size):
    """Scale a square image to ``size`` x ``size``.

    INTER_AREA when shrinking (averages pixels, no aliasing) and bicubic when
    enlarging, matching the reference's choice of AREA / BICUBIC.
    """
    side = image.shape[0]
    if side == size:
        return image.copy()
    interpolation = cv2.INTER_AREA if side > size else cv2.INTER_CUBIC
    return cv2.resize(image, (size, size), interpolation=interpolation)


def resize_square(image, size, pad=False):
    """Make ``image`` square (centre crop, or black padding if ``pad``) then
    scale it to ``size`` x ``size``. This is the ``resize`` operation."""
    check_rgb(image)
    if size <= 0:
        raise ValueError("size must be > 0, got %d" % size)
    squared = pad_to_square(image) if pad else crop_to_square(image)
    return scale_square(squared, size)


def blank_square_box(height, width):
    """(top, left, side) of the square that ``blank_center`` fills.

    side = int(0.3 * min(height, width)); the square is centred with the
    reference's rounding: offset = int(extent / 2 - side / 2).
    """
    side = int(min(height, width) * BLANK_FRACTION)
    top = int(height / 2 - side / 2)
    left = int(width / 2 - side / 2)
    return top, left, side


def blank_center(image):
    """Copy of ``image`` with a centred white square (for inpainting pairs)."""
    check_rgb(image)
    top, left, side = blank_square_box(*image.shape[:2])
    result = image.copy()
    result[top:top + side, left:left + side] = 255
    return result


def combine_ab(image_a, image_b):
    """Put A and B side by side, A on the left. Both must have the same size."""
    check_rgb(image_a)
    check_rgb(image_b)
    if image_a.shape != image_b.shape:
        raise ValueError("A is %dx%d but B is %dx%d; sizes must match" % (
            image_a.shape[1], image_a.shape[0], image_b.shape[1], image_b.shape[0]))
    return np.concatenate([image_a, image_b], axis=1)


def colorize_pair(image, size, pad=False):
    """A|B colorization pair: A = grey of B, B = the photo resized to ``size``.

    The grey half is computed from the resized colour half so that A is
    exactly the luma of B (no separate resampling of the two halves).
    """
    colour = resize_square(image, size, pad=pad)
    return combine_ab(to_grayscale(colour), colour)


def crop_rng(seed, name):
    """Random generator for the crops of the file called ``name``.

    Derived from a SHA-256 of (seed, name) rather than Python's salted
    ``hash`` so the crops of a file are the same in every process and run,
    whichever worker handles it.
    """
    digest = hashlib.sha256(("%d:%s" % (seed, name)).encode("utf-8")).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def random_square_boxes(height, width, count, rng, reference_side=None):
    """``count`` random squares (top, left, side) inside a height x width image.

    side is uniform in [0.5, 1.0] * reference_side (default min(height, width); rounded, at
    least 1, at most what fits) and the position is uniform over all places where the square fits.
    """
    shorter = min(height, width)
    reference = shorter if reference_side is None else reference_side
    boxes = []
    for _ in range(count):
        side = int(round(rng.uniform(*CROP_SIDE_RANGE) * reference))
        side = min(max(side, 1), shorter)
        top = rng.randint(0, height - side)
        left = rng.randint(0, width - side)
        boxes.append((top, left, side))
    return boxes


def split_off_region(image, fraction):
    """(kept, held_out): ``image`` cut across its longer side, held_out being the last
    ``fraction`` of it (the right part of a landscape photo, the bottom of a portrait one)."""
    height, width = image.shape[:2]
    if width >= height:
        cut = width - max(1, int(round(width * fraction)))
        return image[:, :cut], image[:, cut:]
    cut = height - max(1, int(round(height * fraction)))
    return image[:cut], image[cut:]


def region_crops(image, fraction, counts, size, rng):
    """Random square crops of the two regions of split_off_region: counts[0] of the kept part,
    then counts[1] of the held-out part, each scaled to ``size``. Both parts' crop sides are drawn
    against the held-out part's shorter side, so the two sets show things at the same scale."""
    check_rgb(image)
    parts = split_off_region(image, fraction)
    reference = min(parts[1].shape[:2])
    crops = []
    for part, count in zip(parts, counts):
        height, width = part.shape[:2]
        crops += [scale_square(part[top:top + side, left:left + side], size)
                  for top, left, side in random_square_boxes(height, width, count, rng, reference)]
    return crops


def random_square_crops(image, count, size, rng):
    """``count`` random square crops of ``image``, each scaled to ``size``."""
    check_rgb(image)
    height, width = image.shape[:2]
    return [scale_square(image[top:top + side, left:left + side], size)
            for top, left, side in random_square_boxes(height, width, count, rng)]
