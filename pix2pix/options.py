"""One record of every option a run uses: defaults, validation, and options.json.

The defaults are the TF1 reference's (SPEC.md, "Command line"). The command line
turns its flags into an `Options` once; everything below the CLI takes this record.
"""

import dataclasses
import json
import math
import os
from typing import Optional

from pix2pix.errors import Pix2PixError
from pix2pix.fileio import atomic_write_text

MODES = ("train", "test", "export", "infer", "import", "score")
DIRECTIONS = ("AtoB", "BtoA")
FILETYPES = ("png", "jpeg")
STRATEGIES = ("none", "mirrored", "multiworker")
PRECISIONS = ("float32", "float16", "bfloat16")

# Options that define the network's shape and data semantics. Test and export
# read these back from the checkpoint's options.json (the reference read the
# first four; the others are ours and are needed to rebuild the same model).
MODEL_OPTIONS = (
    "which_direction", "ngf", "ndf", "lab_colorization",
    "rgb_colorization", "separable_conv", "crop_size",
)

OPTIONS_FILE = "options.json"


@dataclasses.dataclass
class Options:
    """Everything a run needs. Field names and defaults follow the reference's flags."""

    mode: str = "train"
    input_dir: Optional[str] = None
    output_dir: Optional[str] = None
    seed: Optional[int] = None
    checkpoint: Optional[str] = None
    max_steps: Optional[int] = None
    max_epochs: Optional[int] = None
    summary_freq: int = 100
    progress_freq: int = 50
    trace_freq: int = 0
    display_freq: int = 0
    save_freq: int = 5000
    separable_conv: bool = False
    aspect_ratio: float = 1.0
    lab_colorization: bool = False
    batch_size: int = 1
    which_direction: str = "AtoB"
    ngf: int = 64
    ndf: int = 64
    scale_size: int = 286
    flip: bool = True
    lr: float = 0.0002
    beta1: float = 0.5
    l1_weight: float = 100.0
    gan_weight: float = 1.0
    output_filetype: str = "png"
    # Additions (opt-in; the defaults reproduce the reference).
    rgb_colorization: bool = False
    crop_size: int = 256
    deterministic: bool = False
    skip_preflight: bool = False
    skip_bad_images: bool = False
    skip_nonfinite: bool = False
    strategy: str = "none"
    mixed_precision: str = "float32"
    target_dir: Optional[str] = None  # score: the targets the predictions in input_dir are scored against
    pred_suffix: str = ""  # score: only predictions whose stems end in this (removed before matching)
    target_suffix: str = ""  # score: the same for targets
    fid_weights: Optional[str] = None  # test, score: InceptionV3 weights file (or "imagenet") for FID

    # ----------------------------------------------------------------- derived
    @property
    def unet_depth(self) -> int:
        """U-Net levels: 8 at 256 (the reference's unet_256), 7 at 128, 9 at 512."""
        return int(round(math.log2(self.crop_size)))

    @property
    def channels(self):
        """(input_channels, target_channels) of the networks for this data mode."""
        if self.lab_colorization:
            a, b = 1, 2  # L in, ab out
        elif self.rgb_colorization:
            a, b = 1, 3  # luma in, RGB out
        else:
            a, b = 3, 3
        return (a, b) if self.which_direction == "AtoB" else (b, a)

    # -------------------------------------------------------------- validation
    def validate(self) -> "Options":
        """Raise Pix2PixError naming the flag if any value is out of range."""
        def fail(flag, why):
            raise Pix2PixError(f"--{flag}: {why}")

        if self.mode not in MODES:
            fail("mode", f"must be one of {', '.join(MODES)}, got {self.mode!r}")
        if not self.output_dir:
            fail("output_dir", "is required")
        if self.which_direction not in DIRECTIONS:
            fail("which_direction", f"must be AtoB or BtoA, got {self.which_direction!r}")
        if self.output_filetype not in FILETYPES:
            fail("output_filetype", f"must be png or jpeg, got {self.output_filetype!r}")
        if self.strategy not in STRATEGIES:
            fail("strategy", f"must be one of {', '.join(STRATEGIES)}, got {self.strategy!r}")
        if self.mixed_precision not in PRECISIONS:
            fail("mixed_precision", f"must be one of {', '.join(PRECISIONS)}, got {self.mixed_precision!r}")
        if self.lab_colorization and self.rgb_colorization:
            fail("rgb_colorization", "cannot be combined with --lab_colorization")
        if self.crop_size < 32 or self.crop_size & (self.crop_size - 1):
            fail("crop_size", f"must be a power of two >= 32 (the U-Net halves it "
                 f"down to 1x1 and the PatchGAN needs 32), got {self.crop_size}")
        if self.mode == "train" and self.scale_size < self.crop_size:
            fail("scale_size", f"must be >= --crop_size ({self.crop_size}), got {self.scale_size}")
        for name in ("batch_size", "ngf", "ndf"):
            if getattr(self, name) < 1:
                fail(name, f"must be >= 1, got {getattr(self, name)}")
        for name in ("summary_freq", "progress_freq", "trace_freq", "display_freq", "save_freq"):
            if getattr(self, name) < 0:
                fail(name, f"must be >= 0, got {getattr(self, name)}")
        for name in ("max_steps", "max_epochs"):
            value = getattr(self, name)
            if value is not None and value < 1:
                fail(name, f"must be >= 1, got {value}")
        if not self.lr > 0:
            fail("lr", f"must be > 0, got {self.lr}")
        if not 0 <= self.beta1 < 1:
            fail("beta1", f"must be in [0, 1), got {self.beta1}")
        if not self.aspect_ratio > 0:
            fail("aspect_ratio", f"must be > 0, got {self.aspect_ratio}")
        return self

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def save_options(options: Options, directory: str) -> str:
    """Write DIRECTORY/options.json (sorted keys, like the reference), atomically."""
    path = os.path.join(directory, OPTIONS_FILE)
    atomic_write_text(path, json.dumps(options.to_dict(), sort_keys=True, indent=4))
    return path


def read_options_file(directory: str) -> dict:
    """The dict stored in DIRECTORY/options.json, with a clear error if absent or broken."""
    path = os.path.join(directory, OPTIONS_FILE)
    if not os.path.isfile(path):
        raise Pix2PixError(f"--checkpoint: {path} not found; a checkpoint directory "
                           f"written by `pix2pix --mode train` holds one")
    try:
        with open(path, encoding="utf-8") as f:
            stored = json.load(f)
    except (OSError, ValueError) as err:
        raise Pix2PixError(f"--checkpoint: cannot read {path}: {err}") from None
    if not isinstance(stored, dict):
        raise Pix2PixError(f"--checkpoint: {path} does not hold a JSON object")
    return stored


def with_model_options(options: Options, stored: dict) -> Options:
    """A copy of OPTIONS whose model-defining fields come from a stored options dict.

    Missing keys keep the reference defaults (older checkpoints may lack our additions).
    """
    known = {f.name for f in dataclasses.fields(Options)}
    updates = {k: stored[k] for k in MODEL_OPTIONS if k in stored and k in known}
    return dataclasses.replace(options, **updates)


def merge_stored_options(options: Options, stored: dict, explicit, source: str) -> Options:
    """OPTIONS with the model options of STORED (an options.json read from SOURCE).

    A model option given explicitly on the command line (named in EXPLICIT) with a value
    different from the stored one is an error: the stored weights cannot take it.
    """
    for name in MODEL_OPTIONS:
        if name in explicit and name in stored and stored[name] != getattr(options, name):
            raise Pix2PixError(f"--{name}: {source} says the checkpoint was trained with "
                               f"{name}={stored[name]!r}, not {getattr(options, name)!r}")
    return with_model_options(options, stored)


def prepare_train_options(options: Options, explicit=()) -> Options:
    """Options for a training run: a seed is chosen if none was given (and recorded).

    With --checkpoint, the model-defining options come from the checkpoint's
    options.json; one given explicitly on the command line (named in EXPLICIT)
    with a different value is an error, since the stored weights cannot take it.
    """
    import random

    if options.seed is None:
        options = dataclasses.replace(options, seed=random.randint(0, 2**31 - 1))
    if options.checkpoint:
        stored = read_options_file(options.checkpoint)
        source = os.path.join(options.checkpoint, OPTIONS_FILE)
        options = merge_stored_options(options, stored, explicit, source)
    return options.validate()


def prepare_test_options(options: Options) -> Options:
    """Options for test mode: model options read back from the checkpoint, no jitter."""
    if not options.checkpoint:
        raise Pix2PixError(f"--checkpoint: is required for --mode {options.mode}")
    stored = read_options_file(options.checkpoint)
    options = with_model_options(options, stored)
    if options.seed is None:
        options = dataclasses.replace(options, seed=0)
    # The reference's test mode: scale_size = CROP_SIZE, flip off.
    options = dataclasses.replace(options, scale_size=options.crop_size, flip=False)
    return options.validate()
