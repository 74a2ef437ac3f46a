"""Does a photo carry real colour? The figures behind ``filter_grey`` (pure functions).

Two figures per photo, each catching one way a "colour" photo can be no use
for teaching colour:

* colourfulness: Hasler & Suesstrunk (2003) on 0-255 RGB, the function the
  project's metrics use (``pix2pix.reporting.metrics.colourfulness``). A grey photo
  stored as RGB scores 0.
* hue spread: sepia and other toned photos have plenty of chroma, but all of
  it in one narrow band of hue. The spread is the circular standard deviation
  sqrt(-2 ln R) of the CIE Lab hue angle atan2(b*, a*), in degrees, over the
  pixels whose chroma sqrt(a*^2 + b*^2) is above MIN_CHROMA, where R is the
  length of the mean of the unit vectors (cos h, sin h). Pixels with a channel
  at CLIPPED_LEVEL or more are left out of it: a clipped channel means the
  hue is not the scene's (the standard sepia matrix clips red in the
  highlights and turns them yellow, which alone spreads a sepia page's hue to
  11 degrees). Every counted pixel weighs the same (no chroma weighting). A
  photo without any counted pixel has a spread of 0.

Both are computed on the photo reduced to at most ANALYSIS_PIXELS pixels
(INTER_AREA), which keeps memory and time bounded for 24-megapixel photos
and changes the figures very little. The default thresholds were measured on
scikit-image's sample photos (``benchmarks/colour_filter_thresholds.py``;
the table is in docs/data_prep.md).
"""

import dataclasses
import math
from typing import Optional

import cv2
import numpy as np

# Importing pix2pix.reporting.metrics does not load TensorFlow (pix2pix/__init__ imports lazily).
from pix2pix.reporting.metrics import colourfulness

# Photos larger than this are reduced before measuring (512 x 512 pixels).
ANALYSIS_PIXELS = 512 * 512

# Pixels with a CIE Lab chroma at or below this have no hue worth counting
# (about two just-noticeable differences from grey; JPEG and sensor noise on a
# grey photo stay below it).
MIN_CHROMA = 5.0

# Pixels with any channel at or above this may be clipped; their hue is not counted.
CLIPPED_LEVEL = 250

# Measured defaults of filter_grey (see docs/data_prep.md, "filter_grey").
DEFAULT_MIN_COLOURFULNESS = 5.0
DEFAULT_MIN_HUE_SPREAD = 10.0


@dataclasses.dataclass(frozen=True)
class ColourFigures:
    """The figures of one photo."""

    colourfulness: float      # Hasler & Suesstrunk, 0 for grey
    hue_spread: float         # degrees, circular standard deviation of hue over chromatic pixels
    hue_fraction: float       # share of pixels the hue spread counts (chroma above MIN_CHROMA, not clipped)


@dataclasses.dataclass(frozen=True)
class Thresholds:
    """Minimum figures a photo needs to be kept; None switches a test off."""

    min_colourfulness: Optional[float] = None
    min_hue_spread: Optional[float] = None

    @property
    def active(self):
        """True if any test is on."""
        return self.min_colourfulness is not None or self.min_hue_spread is not None


def reduce_for_analysis(image, max_pixels=ANALYSIS_PIXELS):
    """``image`` itself if small enough, else an INTER_AREA reduction to about ``max_pixels``."""
    height, width = image.shape[:2]
    if height * width <= max_pixels:
        return image
    scale = math.sqrt(max_pixels / (height * width))
    size = (max(1, int(round(width * scale))), max(1, int(round(height * scale))))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def lab_hue_and_chroma(image):
    """(hue in radians, chroma) per pixel, flat arrays, from CIE Lab (D65) of an RGB uint8 image."""
    lab = cv2.cvtColor(image.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab).reshape(-1, 3)
    a_star, b_star = lab[:, 1].astype(np.float64), lab[:, 2].astype(np.float64)
    return np.arctan2(b_star, a_star), np.hypot(a_star, b_star)


def circular_std_degrees(angles):
    """Circular standard deviation sqrt(-2 ln R) of angles in radians, in degrees (0 for none)."""
    if angles.size == 0:
        return 0.0
    resultant = math.hypot(float(np.cos(angles).mean()), float(np.sin(angles).mean()))
    resultant = min(max(resultant, 1e-12), 1.0)  # uniform hue: R -> 0, spread grows without bound
    return math.degrees(math.sqrt(-2.0 * math.log(resultant)))


def colour_figures(image):
    """ColourFigures of an RGB uint8 image (see the module docstring)."""
    reduced = reduce_for_analysis(image)
    hue, chroma = lab_hue_and_chroma(reduced)
    counted = (chroma > MIN_CHROMA) & (reduced.reshape(-1, 3).max(axis=1) < CLIPPED_LEVEL)
    return ColourFigures(colourfulness=colourfulness(reduced),
                         hue_spread=circular_std_degrees(hue[counted]),
                         hue_fraction=float(counted.mean()))


def rejection(figures, thresholds):
    """Why the photo is left out ("grey (...)" / "toned (...)"), or None to keep it."""
    if thresholds.min_colourfulness is not None and figures.colourfulness < thresholds.min_colourfulness:
        return "grey: colourfulness %.1f < %g (--min_colourfulness); hue spread %.1f deg" % (
            figures.colourfulness, thresholds.min_colourfulness, figures.hue_spread)
    if thresholds.min_hue_spread is not None and figures.hue_spread < thresholds.min_hue_spread:
        return "toned: hue spread %.1f deg < %g (--min_hue_spread); colourfulness %.1f" % (
            figures.hue_spread, thresholds.min_hue_spread, figures.colourfulness)
    return None
