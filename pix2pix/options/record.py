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
from pix2pix.io.files import atomic_write_text

MODES = ("train", "test", "export", "infer", "import", "score", "serve")
DIRECTIONS = ("AtoB", "BtoA")
FILETYPES = ("png", "jpeg")
STRATEGIES = ("none", "mirrored", "multiworker")
PRECISIONS = ("float32", "float16", "bfloat16")
UPDATE_ORDERS = ("simultaneous", "sequential")  # --update_order (model.py)

# Options that define the network's shape and data semantics. Test and export
# read these back from the checkpoint's options.json (the reference read the
# first four; the others are ours and are needed to rebuild the same model).
MODEL_OPTIONS = (
    "which_direction", "ngf", "ndf", "lab_colorization",
    "rgb_colorization", "separable_conv", "crop_size", "task",
    "netG", "netD", "n_layers_D", "norm", "condition_GAN", "gan_mode", "no_dropout",
    "update_order",
)
# What a stored options.json written before a model option existed means by its absence.
STORED_BEFORE = {"update_order": "simultaneous"}
# Options a resumed run may change (the log says so); everything else of the model is fixed.
SCHEDULE_OPTIONS = ("lr_policy", "n_epochs_decay", "lr_decay_iters")

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
    # infer (and serve): the most pixels a photo may have, read from its header before decoding
    # (decompression bombs); the same meaning and default as data_prep's --max_pixels.
    max_pixels: int = 100_000_000
    skip_bad_images: bool = False
    skip_nonfinite: bool = False
    strategy: str = "none"
    mixed_precision: str = "float32"
    # The data mode by name (tasks.py). --lab_colorization / --rgb_colorization, the
    # reference's way to say it, select "lab" / "rgb" and are kept in step with it.
    task: str = "pairs"
    # The model zoo (names as the PyTorch pix2pix's flags); the defaults are the reference's.
    netG: str = "unet"
    netD: str = "basic"
    n_layers_D: Optional[int] = None  # only with --netD n_layers (3 when not given)
    condition_GAN: bool = True
    gan_mode: str = "vanilla"
    norm: str = "batch"
    no_dropout: bool = False
    lr_policy: str = "constant"
    n_epochs_decay: int = 100
    lr_decay_iters: Optional[int] = None
    # simultaneous: both gradients from one forward pass (SPEC.md's accepted port); sequential:
    # G's gradient through D after D's update (one more D forward), closer to the TF1 original.
    update_order: str = "simultaneous"

    target_dir: Optional[str] = None  # score: the targets the predictions in input_dir are scored against
    pred_suffix: str = ""  # score: only predictions whose stems end in this (removed before matching)
    target_suffix: str = ""  # score: the same for targets
    fid_weights: Optional[str] = None  # test, score: InceptionV3 weights file (or "imagenet") for FID

    # infer, export (issue 13): the generator at the photo's own aspect ratio (0 = crop_size square,
    # the reference's), a cap on the pixels it then sees, and videos (pix2pix/video.py).
    render_size: int = 0  # short side resized to this, long side in proportion, padded to side_multiple
    max_render_pixels: int = 4_194_304  # padded render height x width (memory); 2048 x 2048
    video_codec: str = "mp4v"  # fourcc of the videos infer writes (mp4v -> .mp4, VP80/VP90 -> .webm)
    temporal_smoothing: float = 0.0  # colorization video: s_t = A s_(t-1) + (1 - A) p_t; 0 = off
    scene_cut: float = 0.25  # grey-histogram change (0..1) between frames that counts as a cut
    # serve (pix2pix/serve.py): where to listen, the model's name in URLs, and the request limits
    host: str = "127.0.0.1"
    port: int = 8501
    model_name: Optional[str] = None  # default: --checkpoint's directory name (TF Serving's MODEL_NAME)
    max_request_mb: int = 32  # a larger request body is refused (413)
    max_queue: int = 16  # requests waiting for the one model worker; more are refused (503)

    def __post_init__(self):
        if self.task == "pairs":
            if self.lab_colorization and not self.rgb_colorization:
                self.task = "lab"
            elif self.rgb_colorization and not self.lab_colorization:
                self.task = "rgb"
        elif self.task == "lab":
            self.lab_colorization = True
        elif self.task == "rgb":
            self.rgb_colorization = True

    # ----------------------------------------------------------------- derived
    @property
    def unet_depth(self) -> int:
        """U-Net levels: 8 at 256 (the reference's unet_256), 7 at 128, 9 at 512."""
        return int(round(math.log2(self.crop_size)))

    @property
    def channels(self):
        """(input_channels, target_channels) of the networks for this task and direction."""
        from pix2pix.data.tasks import task_for  # TensorFlow: loaded only when asked
        return task_for(self).channels

    # -------------------------------------------------------------- validation
    def validate(self) -> "Options":
        """Raise Pix2PixError naming the flag if any value is out of range."""
        def fail(flag, why):
            raise Pix2PixError(f"--{flag}: {why}")

        if self.mode not in MODES:
            fail("mode", f"must be one of {', '.join(MODES)}, got {self.mode!r}")
        if not self.output_dir and self.mode != "serve":
            fail("output_dir", "is required")
        if self.which_direction not in DIRECTIONS:
            fail("which_direction", f"must be AtoB or BtoA, got {self.which_direction!r}")
        if self.output_filetype not in FILETYPES:
            fail("output_filetype", f"must be png or jpeg, got {self.output_filetype!r}")
        if self.strategy not in STRATEGIES:
            fail("strategy", f"must be one of {', '.join(STRATEGIES)}, got {self.strategy!r}")
        if self.update_order not in UPDATE_ORDERS:
            fail("update_order", f"must be one of {', '.join(UPDATE_ORDERS)}, got {self.update_order!r}")
        if self.mixed_precision not in PRECISIONS:
            fail("mixed_precision", f"must be one of {', '.join(PRECISIONS)}, got {self.mixed_precision!r}")
        if self.lab_colorization and self.rgb_colorization:
            fail("rgb_colorization", "cannot be combined with --lab_colorization")
        from pix2pix.data.tasks import TASKS
        if self.task not in TASKS:
            fail("task", f"must be one of {', '.join(TASKS)}, got {self.task!r}")
        for flag, task in (("lab_colorization", "lab"), ("rgb_colorization", "rgb")):
            if getattr(self, flag) and self.task != task:
                fail("task", f"{self.task} cannot be combined with --{flag} (task {task})")
        if self.crop_size < 32 or self.crop_size & (self.crop_size - 1):
            fail("crop_size", f"must be a power of two >= 32 (the U-Net halves it "
                 f"down to 1x1 and the PatchGAN needs 32), got {self.crop_size}")
        if self.mode == "train" and self.scale_size < self.crop_size:
            fail("scale_size", f"must be >= --crop_size ({self.crop_size}), got {self.scale_size}")
        if self.max_pixels < 1:
            fail("max_pixels", f"must be positive, got {self.max_pixels}")
        if self.mode == "serve":
            if not 0 <= self.port <= 65535:
                fail("port", f"must be in 0..65535 (0: any free port), got {self.port}")
            if self.max_request_mb < 1:
                fail("max_request_mb", f"must be >= 1, got {self.max_request_mb}")
            if self.max_queue < 0:
                fail("max_queue", f"must be >= 0, got {self.max_queue}")
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
        self._validate_zoo(fail)
        self._validate_rendering(fail)
        return self

    def _validate_rendering(self, fail):
        """--render_size, --max_render_pixels and the video flags (issue 13)."""
        from pix2pix.models.generators import GENERATORS
        multiple = GENERATORS.get(self.netG).side_multiple(self)
        if self.render_size < 0:
            fail("render_size", f"must be 0 (off: crop_size square) or >= {multiple}, got {self.render_size}")
        if 0 < self.render_size < multiple:
            fail("render_size", f"must be >= {multiple} (the multiple --netG {self.netG} needs at "
                 f"--crop_size {self.crop_size}), got {self.render_size}")
        if self.max_render_pixels < 1:
            fail("max_render_pixels", f"must be positive, got {self.max_render_pixels}")
        from pix2pix.io.video_codecs import CODEC_EXTENSIONS
        if self.video_codec not in CODEC_EXTENSIONS:
            fail("video_codec", f"must be one of {', '.join(CODEC_EXTENSIONS)}, got {self.video_codec!r}")
        if not 0 <= self.temporal_smoothing < 1:
            fail("temporal_smoothing", f"must be in [0, 1), got {self.temporal_smoothing}")
        if not 0 < self.scene_cut <= 1:
            fail("scene_cut", f"must be in (0, 1], got {self.scene_cut}")
        if self.temporal_smoothing and self.mode == "infer" and not self.is_colorization:
            fail("temporal_smoothing", f"only applies to colorization models (task lab or rgb, AtoB); "
                 f"this one is task {self.task} {self.which_direction}, whose video is translated "
                 "frame by frame")

    @property
    def is_colorization(self) -> bool:
        """True for a model that predicts colour from lightness (task lab or rgb, AtoB)."""
        return self.task in ("lab", "rgb") and self.which_direction == "AtoB"

    def _validate_zoo(self, fail):
        """The model zoo's names and the combinations that cannot work, refused up front."""
        from pix2pix.models.discriminators import DISCRIMINATORS
        from pix2pix.models.generators import GENERATORS
        from pix2pix.models.losses import GAN_LOSSES
        from pix2pix.models.norms import NORMS
        from pix2pix.models.schedules import SCHEDULES

        for registry, value in ((GENERATORS, self.netG), (DISCRIMINATORS, self.netD),
                                (GAN_LOSSES, self.gan_mode), (NORMS, self.norm),
                                (SCHEDULES, self.lr_policy)):
            if value not in registry:
                fail(registry.flag, f"must be one of {', '.join(registry.names())}, got {value!r}")
        discriminator = DISCRIMINATORS.get(self.netD)
        if self.n_layers_D is not None:
            if not discriminator.has_layers:
                fail("n_layers_D", f"only applies to --netD n_layers, not --netD {self.netD}")
            if self.n_layers_D < 1:
                fail("n_layers_D", f"must be >= 1, got {self.n_layers_D}")
        minimum = discriminator.minimum_crop(self)
        if self.crop_size < minimum:
            depth = f" --n_layers_D {self.n_layers_D}" if self.n_layers_D else ""
            fail("crop_size", f"--netD {self.netD}{depth} needs --crop_size >= {minimum} (its output "
                 f"map would vanish at {self.crop_size}), got {self.crop_size}")
        multiple = GENERATORS.get(self.netG).side_multiple(self)
        if self.crop_size % multiple:
            fail("crop_size", f"--netG {self.netG} needs a multiple of {multiple}, got {self.crop_size}")
        if self.gan_mode == "wgangp" and self.gan_weight == 0:
            fail("gan_weight", "is 0, so --gan_mode wgangp would train its critic for nothing; "
                 "use --gan_mode vanilla (or a gan_weight > 0)")
        if self.n_epochs_decay < 1:
            fail("n_epochs_decay", f"must be >= 1, got {self.n_epochs_decay}")
        if self.mode == "train" and self.lr_policy != "constant":
            if self.max_steps is None and self.max_epochs is None:
                fail("lr_policy", f"{self.lr_policy} needs the run's length: give --max_steps or --max_epochs")
        if self.lr_policy == "step" and not (self.lr_decay_iters or 0) >= 1:
            fail("lr_decay_iters", f"is required (>= 1, in steps) with --lr_policy step, got {self.lr_decay_iters}")
        if self.lr_decay_iters is not None and self.lr_policy != "step":
            fail("lr_decay_iters", f"only applies to --lr_policy step, not {self.lr_policy}")

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
    if "task" not in stored:  # written before tasks had names: the booleans say which
        updates["task"] = Options(lab_colorization=bool(stored.get("lab_colorization")),
                                  rgb_colorization=bool(stored.get("rgb_colorization"))).task
    return dataclasses.replace(options, **updates)


def flags_given(options: Options, explicit=None) -> frozenset:
    """The names of the options the user set: EXPLICIT (the command line's flags) when known,
    else (the Python API) every option whose value differs from its default."""
    if explicit is not None:
        return frozenset(explicit)
    defaults = Options()
    return frozenset(f.name for f in dataclasses.fields(Options)
                     if getattr(options, f.name) != getattr(defaults, f.name))


def merge_stored_options(options: Options, stored: dict, explicit, source: str, names=MODEL_OPTIONS,
                         says: str = "says the checkpoint was trained with", advice: str = "",
                         stored_before=STORED_BEFORE) -> Options:
    """OPTIONS with the options NAMES (default: the model's) of STORED, read from SOURCE.

    One given explicitly (named in EXPLICIT) with a value different from the stored one is
    an error: the stored weights (or export) cannot take it. ADVICE ends that error.
    """
    if names is MODEL_OPTIONS:  # STORED_BEFORE: what a key's absence means (not for the TF1 original's)
        stored = {**stored_before, **stored}
    for name in names:
        if name in explicit and name in stored and stored[name] != getattr(options, name):
            raise Pix2PixError(f"--{name}: {source} {says} "
                               f"{name}={_flag_value(stored[name])}, not {_flag_value(getattr(options, name))}"
                               f"{advice}")
    if names is MODEL_OPTIONS:
        return with_model_options(options, stored)
    return dataclasses.replace(options, **{name: stored[name] for name in names if name in stored})


def _flag_value(value) -> str:
    return str(value).lower() if isinstance(value, bool) else repr(value)


# What a SavedModel written by export keeps in its assets, and the flags that shape an export
# (fixed in the SavedModel: asking for another value is an error).
SAVED_MODEL_FILE = "saved_model.pb"
EXPORT_OPTIONS = ("deterministic", "output_filetype", "render_size", "max_render_pixels")


def is_saved_model(directory) -> bool:
    return bool(directory) and os.path.isfile(os.path.join(directory, SAVED_MODEL_FILE))


def _note_schedule_changes(options: Options, stored: dict) -> None:
    changed = [f"{name} {stored[name]} -> {getattr(options, name)}" for name in SCHEDULE_OPTIONS
               if name in stored and stored[name] != getattr(options, name)]
    if changed:
        print(f"note: resuming with a different learning-rate schedule ({', '.join(changed)}); "
              "it applies from the resumed step on", flush=True)


def prepare(options: Options, explicit=None) -> Options:
    """The one place options are made ready for their mode (every mode, CLI and Python API alike).

    EXPLICIT names the options the user set (the command line's flags); None means every value
    that differs from its default counts as set (flags_given). Then:
    - train: a seed is chosen if none was given (and recorded); with --checkpoint (resume) the
      model options come from its options.json;
    - test, export, infer (a training directory): --checkpoint is required, the model options
      come from its options.json; test also runs at crop_size with no flip (the reference's);
    - infer and serve (a SavedModel): model options and export flags from the export's
      assets/options.json (serve: a training directory as test; no --output_dir);
    - import: model options from the TF1 directory's options.json if it has one; float32;
    - score: --input_dir and --target_dir must be folders.
    A model option set explicitly to another value than stored is an error; the result is
    validated.
    """
    given = flags_given(options, explicit)
    mode, checkpoint = options.mode, options.checkpoint
    if mode == "score":  # two folders of pictures, no model
        for flag in ("input_dir", "target_dir"):
            directory = getattr(options, flag)
            if not directory:
                raise Pix2PixError(f"--{flag}: is required for --mode score")
            if not os.path.isdir(directory):
                raise Pix2PixError(f"--{flag}: {directory} does not exist or is not a directory")
    if mode in ("test", "export", "infer", "serve") and not checkpoint:
        what = ("a training output directory or a SavedModel written by --mode export"
                if mode in ("infer", "serve") else "the training output directory to use")
        raise Pix2PixError(f"--checkpoint: is required for --mode {mode} ({what})")
    if mode == "train" and options.seed is None:
        import random
        options = dataclasses.replace(options, seed=random.randint(0, 2**31 - 1))

    if mode in ("infer", "serve") and is_saved_model(checkpoint):
        assets = os.path.join(checkpoint, "assets")
        if not os.path.isfile(os.path.join(assets, OPTIONS_FILE)):
            raise Pix2PixError(f"--checkpoint: {checkpoint} is a SavedModel without "
                               f"assets/{OPTIONS_FILE}; use one written by `pix2pix --mode export`")
        stored, source = read_options_file(assets), f"the SavedModel in {checkpoint}"
        options = merge_stored_options(
            options, stored, given, source, EXPORT_OPTIONS, says="was exported with",
            advice="; export it again with that value, or pass the training directory as --checkpoint")
        options = merge_stored_options(options, stored, given, source, says="was exported with")
    elif mode == "import":
        directory = checkpoint if os.path.isdir(checkpoint) else os.path.dirname(checkpoint)
        if os.path.isfile(os.path.join(directory, OPTIONS_FILE)):
            options = merge_stored_options(options, read_options_file(directory), given,
                                           os.path.join(directory, OPTIONS_FILE), stored_before={})
        # The reference trained in float32: its checkpoint becomes the one a float32 training
        # run writes (plain Adam, no loss-scale state), whatever --mixed_precision says.
        options = dataclasses.replace(options, mixed_precision="float32")
    elif checkpoint:
        stored = read_options_file(checkpoint)
        options = merge_stored_options(options, stored, given, os.path.join(checkpoint, OPTIONS_FILE))
        if mode == "train":
            _note_schedule_changes(options, stored)

    if mode == "test":
        if options.seed is None:
            options = dataclasses.replace(options, seed=0)
        # The reference's test mode: scale_size = CROP_SIZE, flip off.
        options = dataclasses.replace(options, scale_size=options.crop_size, flip=False)
    return options.validate()


def prepare_train_options(options: Options, explicit=None) -> Options:
    """prepare() for a training run (mode train)."""
    return prepare(dataclasses.replace(options, mode="train"), explicit)


def prepare_test_options(options: Options, explicit=None) -> Options:
    """prepare() for test mode."""
    return prepare(dataclasses.replace(options, mode="test"), explicit)
