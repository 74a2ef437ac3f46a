"""The parameters of the image operations (each field is the pix2pix-prep flag of the same name),
their defaults and their validation."""

import dataclasses
import math
import os
from typing import Optional

from data_prep import colour_filter, edges, split
from data_prep.report import UsageError
from pix2pix.io import images as image_io

# Operations that read each image of input_dir and write image(s) to output_dir.
IMAGE_OPERATIONS = ("grayscale", "resize", "blank", "combine", "edges", "colorize", "filter_grey")

# Operations that can leave out grey and toned photos (--min_colourfulness, --min_hue_spread).
COLOUR_FILTERED_OPERATIONS = ("colorize", "filter_grey")

DEFAULT_SIZE = 256
DEFAULT_MIN_SIDE = 16



@dataclasses.dataclass(frozen=True)
class Options:
    """Parameters of the image operations (each field is the flag of the same name).

    Defaults match the CLI. ``validate()`` raises UsageError naming the flag.
    """

    size: int = DEFAULT_SIZE
    pad: bool = False
    b_dir: Optional[str] = None
    image_format: str = "png"
    quality: int = image_io.DEFAULT_JPEG_QUALITY
    overwrite: bool = False
    max_pixels: int = image_io.DEFAULT_MAX_PIXELS
    min_side: int = DEFAULT_MIN_SIDE
    val_frac: float = 0.0
    test_frac: float = 0.0
    seed: int = split.DEFAULT_SEED
    crops_per_image: int = 0
    val_region: float = 0.0  # colorize with crops: hold out this end of every photo for OUT/val
    singles: bool = False
    canny_low: Optional[float] = None
    canny_high: Optional[float] = None
    min_edge_pixels: Optional[int] = None
    hed_prototxt: Optional[str] = None
    hed_caffemodel: Optional[str] = None
    min_colourfulness: Optional[float] = None  # None: filter_grey's default, off for colorize
    min_hue_spread: Optional[float] = None     # degrees; None: filter_grey's default, off for colorize

    def colour_thresholds(self, operation):
        """The colour_filter.Thresholds ``operation`` applies (none are active outside
        COLOUR_FILTERED_OPERATIONS; filter_grey fills in the measured defaults)."""
        if operation == "filter_grey":
            return colour_filter.Thresholds(
                colour_filter.DEFAULT_MIN_COLOURFULNESS if self.min_colourfulness is None else self.min_colourfulness,
                colour_filter.DEFAULT_MIN_HUE_SPREAD if self.min_hue_spread is None else self.min_hue_spread)
        if operation == "colorize":
            return colour_filter.Thresholds(self.min_colourfulness, self.min_hue_spread)
        return colour_filter.Thresholds()

    @property
    def splits_output(self):
        """True if colorize writes train/val/test subfolders."""
        return self.val_frac > 0 or self.test_frac > 0 or self.val_region > 0

    @property
    def region_counts(self):
        """(training crops, held-out crops) per photo with --val_region: the held-out count in
        proportion to the held-out part's area, at least one."""
        held_out = max(1, int(round(self.crops_per_image * self.val_region / (1.0 - self.val_region))))
        return self.crops_per_image, held_out

    def validate(self):
        """Raise UsageError for out-of-range or contradictory values."""
        if self.size <= 0:
            raise UsageError("--size must be a positive number of pixels, got %d" % self.size)
        if self.image_format not in image_io.OUTPUT_FORMATS:
            raise UsageError("--format must be one of %s, got %r" % (", ".join(image_io.OUTPUT_FORMATS),
                                                                     self.image_format))
        if not 1 <= self.quality <= 100:
            raise UsageError("--quality must be between 1 and 100, got %d" % self.quality)
        if self.max_pixels <= 0:
            raise UsageError("--max_pixels must be positive, got %d" % self.max_pixels)
        if self.min_side <= 0:
            raise UsageError("--min_side must be positive, got %d" % self.min_side)
        split.check_fraction("val_frac", self.val_frac)
        split.check_fraction("test_frac", self.test_frac)
        if self.val_frac + self.test_frac > 1.0:
            raise UsageError("--val_frac + --test_frac must be at most 1, got %g" % (self.val_frac + self.test_frac))
        if self.crops_per_image < 0:
            raise UsageError("--crops_per_image must be 0 or more, got %d" % self.crops_per_image)
        if self.val_region:
            if not 0 < self.val_region <= 0.5:
                raise UsageError("--val_region must be in (0, 0.5] (the held-out end of each photo), got %g"
                                 % self.val_region)
            if not self.crops_per_image:
                raise UsageError("--val_region needs --crops_per_image (crops are taken from each region)")
            if self.val_frac or self.test_frac:
                raise UsageError("--val_region holds out part of every photo; it cannot be combined with "
                                 "--val_frac or --test_frac, which hold out whole photos")
        if self.crops_per_image and self.pad:
            raise UsageError("--pad has no effect with --crops_per_image (crops are already square)")
        for flag in ("min_colourfulness", "min_hue_spread"):
            value = getattr(self, flag)
            if value is not None and not (value >= 0 and math.isfinite(value)):
                raise UsageError("--%s must be a number >= 0 (0 switches the test off), got %g" % (flag, value))
        self._validate_edge_options()

    def _validate_edge_options(self):
        if (self.canny_low is None) != (self.canny_high is None):
            raise UsageError("--canny_low and --canny_high must be given together")
        if self.canny_low is not None and not 0 <= self.canny_low <= self.canny_high:
            raise UsageError("--canny_low must be between 0 and --canny_high, got %g and %g"
                             % (self.canny_low, self.canny_high))
        if self.min_edge_pixels is not None and self.min_edge_pixels < 1:
            raise UsageError("--min_edge_pixels must be at least 1, got %d" % self.min_edge_pixels)
        if bool(self.hed_prototxt) != bool(self.hed_caffemodel):
            raise UsageError("--hed_prototxt and --hed_caffemodel must be given together")
        if self.hed_prototxt:
            for flag, path in (("hed_prototxt", self.hed_prototxt), ("hed_caffemodel", self.hed_caffemodel)):
                if not os.path.isfile(path):
                    raise UsageError("--%s: no such file: %s" % (flag, path))
            problem = edges.caffe_support_problem()
            if problem:
                raise UsageError("--hed_caffemodel: " + problem)
