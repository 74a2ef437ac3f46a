"""Does a training folder of A|B pairs hold pairs? Catches single colour photos given as pairs.

Given single photos, a pairs run (the default task) splits each down the middle and learns to turn
a photo's left half into its right half: it trains without complaint and learns nothing useful.
Two signs tell single photos from A|B pairs, both measured per file:

- shape: A|B files are two equal images side by side, so twice as wide as tall when each side is
  square (data_prep's colorize, edges and combine, and the paper's datasets, all write 2:1);
  photos are 4:3, 3:2, 16:9, 1:1...
- halves: in a pair both halves show the same scene, so their structure lines up: the gradient
  magnitudes of the two halves (grey, area-resized to 64 x 64, Gaussian blurred, sigma 2 so a
  thin edge line meets the photo's edge it traces) correlate. A photo's left and right halves
  show different things.

The folder is called "single photos" when, over up to SAMPLE_FILES files spread over it, most
are off the 2:1 shape (|width / height - 2| > SHAPE_TOLERANCE) AND the median half correlation is
below CORRELATION_THRESHOLD. Both are asked because either alone has exceptions: pairs can have
non-square sides (off 2:1), and synthetic or very different A|B pairs (noise, labels) can have
halves that barely correlate; a single photo that is 2:1 (a panorama) is not caught.

Measured (scikit-image 0.26's 8 colour sample photos, from pix2pix-prep --operation samples;
"correlation" = of the two halves' blurred gradient magnitudes, min..max and median over the
files; "shape" = width / height; "off" = files off the 2:1 shape):
  A|B pairs    colorize --size 128                       0.99..1.00, median 1.00; 2.00; off 0/8
               colorize --size 72 --crops_per_image 8    0.98..1.00, median 1.00; 2.00; off 0/64
               resize 256, edges, combine (edges|photo)  0.70..0.91, median 0.80; 2.00; off 0/8
               resize 256, blank, combine (inpainting)   0.38..0.88, median 0.70; 2.00; off 0/8
               combine, A = blurred darkened photo       0.98..1.00, median 1.00; 2.00..3.01; off 5/8
               synthetic, B = 255 - A (as in the tests)  1.00..1.00, median 1.00; 2.00; off 0/10
               uniform noise, 64 x 32                   -0.08..0.18, median 0.06; 2.00; off 0/10
  single       the 8 samples as they are                -0.19..0.43, median -0.01; 1.00..1.50; off 8/8
  photos       9 grey samples (camera, moon...) as RGB  -0.18..0.49, median -0.04; 1.00..2.01; off 8/9
               colorize --singles --crops_per_image 8   -0.29..0.56, median 0.05; 1.00; off 64/64
               synthetic smooth photos, 3:2 and 4:3     -0.31..0.16, median -0.01; 1.33..1.50; off 20/20
Every single-photo set is called single photos, no pair set is. A file's own correlation is no
guide (a single photo reached 0.56, an inpainting pair 0.38), so the median decides:
CORRELATION_THRESHOLD = 0.3 lies between the highest single-photo median (0.05) and the lowest
pair median (0.70; noise pairs, with no structure, pass through the shape rule).
"""

import os
from typing import List, Optional, Sequence, Tuple

import cv2
import numpy as np

from pix2pix.errors import Pix2PixError
from pix2pix.io.images import ImageError, read_image

SAMPLE_FILES = 16
SHAPE_TOLERANCE = 0.05  # of the 2:1 ratio: a 2W x H pair whose sides were rounded still passes
CORRELATION_THRESHOLD = 0.3
_SIDE = 64  # each half is compared at this size: structure, not detail
_BLUR_SIGMA = 2.0
SINGLE_PHOTOS_MESSAGE = (
    "these look like single photos; for colorization add --lab_colorization or --rgb_colorization, or "
    "prepare pairs with pix2pix-prep --operation colorize (pass --pairs_ok if they are A|B pairs)")


def _structure(grey: np.ndarray) -> np.ndarray:
    small = cv2.resize(grey, (_SIDE, _SIDE), interpolation=cv2.INTER_AREA)
    magnitude = np.hypot(cv2.Sobel(small, cv2.CV_32F, 1, 0), cv2.Sobel(small, cv2.CV_32F, 0, 1))
    return cv2.GaussianBlur(magnitude, (0, 0), _BLUR_SIGMA)


def half_correlation(rgb: np.ndarray) -> float:
    """Pearson correlation of the two halves' blurred gradient magnitudes (0 for a flat half)."""
    grey = rgb.astype(np.float32).mean(axis=2)
    half = grey.shape[1] // 2
    left, right = (_structure(np.ascontiguousarray(part)).ravel()
                   for part in (grey[:, :half], grey[:, half:2 * half]))
    left, right = left - left.mean(), right - right.mean()
    scale = float(np.sqrt((left ** 2).sum() * (right ** 2).sum()))
    return float((left * right).sum() / scale) if scale > 1e-6 else 0.0


def off_pair_shape(width: int, height: int) -> bool:
    """True when WIDTH x HEIGHT is not two squares side by side."""
    return abs(width / height - 2.0) > 2.0 * SHAPE_TOLERANCE


def spread_sample(paths: Sequence[str], count: int = SAMPLE_FILES) -> List[str]:
    """Up to COUNT of PATHS, evenly spread (the same ones every run)."""
    if len(paths) <= count:
        return list(paths)
    return [paths[int(i * len(paths) / count)] for i in range(count)]


def measure(paths: Sequence[str]) -> List[Tuple[str, float, float]]:
    """(path, width / height, half correlation) of each readable file of PATHS; unreadable ones are
    left to the pre-flight check, which names them."""
    figures = []
    for path in paths:
        try:
            rgb = read_image(path)
        except ImageError:
            continue
        if rgb.shape[1] < 4:
            continue
        figures.append((path, rgb.shape[1] / rgb.shape[0], half_correlation(rgb)))
    return figures


def single_photos_verdict(paths: Sequence[str]) -> Optional[str]:
    """None when PATHS (a pairs training folder) may hold A|B pairs, else the one-line error with
    the figures that decided it."""
    figures = measure(spread_sample(paths))
    if not figures:
        return None
    off_shape = sum(off_pair_shape(ratio, 1.0) for _, ratio, _ in figures)
    median = float(np.median([correlation for _, _, correlation in figures]))
    if off_shape * 2 <= len(figures) or median >= CORRELATION_THRESHOLD:
        return None
    return (f"--input_dir: {SINGLE_PHOTOS_MESSAGE}. Of {len(figures)} files looked at, {off_shape} are not "
            f"twice as wide as tall and their left and right halves do not line up (median structure "
            f"correlation {median:.2f} < {CORRELATION_THRESHOLD})")


def check_pairs(options, paths: Optional[Sequence[str]] = None) -> None:
    """Raise Pix2PixError when a pairs training run is given single photos (see the module doc).
    Colorization tasks (single photos are what they want) and --pairs_ok skip the check."""
    if getattr(options, "pairs_ok", False) or options.task != "pairs" or not options.input_dir:
        return
    if paths is None:
        from pix2pix.io.listing import scan_input_dir
        if not os.path.isdir(options.input_dir):
            return  # the pipeline names the problem
        try:
            paths = scan_input_dir(options.input_dir).paths  # the pipeline names the files it skips
        except Pix2PixError:
            return  # ... and this one
    verdict = single_photos_verdict(paths)
    if verdict:
        raise Pix2PixError(verdict)
