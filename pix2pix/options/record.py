"""One record of every option a run uses, each field written once with its flag's metadata.

The defaults are the TF1 reference's (docs/reference.md#command-line). Each field carries the
metadata its command-line flag is generated from (commands/flags.py) and `--help` is built from
(commands/help.py): a help line, the modes that read it, its choices when they are fixed and
the range of its values (`Bounds`). The command line turns its flags into an `Options` once;
everything below the CLI takes this record.

Validation is all reached from `Options.validate()`: each value against its field's choices and
bounds (`check_values`, also what the command line checks before TensorFlow loads), the name tables
of options/registry.py (--task, --netG, --netD, --gan_mode, --norm, --lr_policy), each with the
checks of the entry chosen, then the flags that must agree (`check_combinations`). No TensorFlow
and no model code here: the tables are filled by the modules of data/ and models/ as they load.
"""

import dataclasses
import math
from typing import Optional

from pix2pix.errors import UsageError
from pix2pix.io.samples import parse_data_types, parse_value_range
from pix2pix.io.video_codecs import CODEC_EXTENSIONS
from pix2pix.options.registry import validate_names

DIRECTIONS = ("AtoB", "BtoA")
FILETYPES = ("png", "jpeg")
EXPORT_FORMATS = ("savedmodel", "onnx", "tflite", "web")
STRATEGIES = ("none", "mirrored", "multiworker")
PRECISIONS = ("float32", "float16", "bfloat16")
UPDATE_ORDERS = ("simultaneous", "sequential")
BN_STATISTICS = ("batch", "running")
# --preprocess: the PyTorch pix2pix's names and meanings (docs/preprocessing.md). The first is the
# reference's and the default; the others keep the photo's own resolution or aspect ratio.
PREPROCESS_MODES = ("resize_and_crop", "crop", "scale_width", "scale_width_and_crop", "none")
# Modes whose examples keep each photo's own shape (so photos of different shapes cannot share a batch).
SHAPE_KEEPING_PREPROCESS = ("scale_width", "none")

# Who reads a flag: the modes its help is listed under.
TRAIN = ("train",)
MODEL = ("train", "import")  # define the network; test/export/infer read them back from options.json
RUNNING = ("test", "export", "infer")  # run a trained generator
RENDERING = ("export", "infer")
SERVE = ("serve",)
EVERY = ("*",)  # every mode, those added later too (the modes are defined in pix2pix/modes/catalog/)


@dataclasses.dataclass(frozen=True)
class Bounds:
    """The values a numeric option may take: from LOW to HIGH, each end included unless open; SAYS
    words the range in the error ("--NAME: must be SAYS, got VALUE"). None (an unset optional) passes."""

    low: float = -math.inf
    high: float = math.inf
    low_open: bool = False
    high_open: bool = False
    says: str = ""
    power_of_two: bool = False

    def allows(self, value) -> bool:
        if value is None:
            return True
        above = value > self.low if self.low_open else value >= self.low
        below = value < self.high if self.high_open else value <= self.high
        return above and below and (not self.power_of_two or not value & (value - 1))


def at_least(low, says=None) -> Bounds:
    return Bounds(low, says=says or f">= {low}")


def above(low, says=None) -> Bounds:
    return Bounds(low, low_open=True, says=says or f"> {low}")


def within(low, high, low_open=False, high_open=False, says=None) -> Bounds:
    """[LOW, HIGH] by default; an open end is written ( or )."""
    written = f"in {'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
    return Bounds(low, high, low_open, high_open, says or written)


FINITE = within(-math.inf, math.inf, low_open=True, high_open=True, says="a finite number")
COUNT = at_least(1)  # a size or a number of things: 1 or more
FREQUENCY = at_least(0)  # every N steps, 0 = never
SECONDS = above(0, says="a positive number of seconds")


def option(default, help: str, modes=EVERY, choices=None, bounds: Optional[Bounds] = None):
    """A field of Options with the metadata of its flag: HELP, the MODES that read it, its CHOICES
    and its BOUNDS (both checked by check_values)."""
    return dataclasses.field(default=default, metadata={"help": help, "modes": tuple(modes),
                                                        "choices": tuple(choices) if choices else None,
                                                        "bounds": bounds})


@dataclasses.dataclass
class Options:
    """Everything a run needs. Field names and defaults follow the reference's flags."""

    mode: str = option("train", "what to do (pix2pix --help lists the modes)")
    input_dir: Optional[str] = option(None, "path to folder containing images (export: --quantize int8's "
                                            "calibration images; default the training's)",
                                      ("train", "test", "export", "infer", "score"))
    output_dir: Optional[str] = option(None, "where to put output files",
                                       ("train", "test", "export", "infer", "import", "score"))
    seed: Optional[int] = option(None, "random seed (chosen and recorded in options.json if not given)",
                                 ("train", "test"))
    checkpoint: Optional[str] = option(
        None, "train: a training directory to resume from; test, export: the training directory to use; "
              "infer, serve: a training directory or a SavedModel written by --mode export (serve: also a "
              "folder of numbered exports); import: the TF1 checkpoint directory, or a PyTorch pix2pix .pth file",
        ("train", "test", "export", "infer", "import", "serve"))
    max_steps: Optional[int] = option(None, "number of training steps (global steps: a resumed run stops there)",
                                      TRAIN, bounds=COUNT)
    max_epochs: Optional[int] = option(None, "number of training epochs", TRAIN, bounds=COUNT)
    summary_freq: int = option(100, "update summaries every summary_freq steps", TRAIN, bounds=FREQUENCY)
    progress_freq: int = option(50, "display progress every progress_freq steps", TRAIN, bounds=FREQUENCY)
    trace_freq: int = option(0, "trace execution every trace_freq steps", TRAIN, bounds=FREQUENCY)
    display_freq: int = option(0, "write current training images every display_freq steps", TRAIN, bounds=FREQUENCY)
    save_freq: int = option(5000, "save model every save_freq steps, 0 to disable", TRAIN, bounds=FREQUENCY)
    separable_conv: bool = option(False, "use separable convolutions in the generator", MODEL)
    aspect_ratio: float = option(1.0, "aspect ratio of output images (width/height)", ("train", "test"),
                                 bounds=above(0))
    lab_colorization: bool = option(False, "split input image into brightness (A) and color (B)", MODEL)
    batch_size: int = option(1, "number of images in batch", ("train", "test", "infer"), bounds=COUNT)
    which_direction: str = option("AtoB", "direction", MODEL, choices=DIRECTIONS)
    ngf: int = option(64, "number of generator filters in first conv layer", MODEL, bounds=COUNT)
    ndf: int = option(64, "number of discriminator filters in first conv layer", MODEL, bounds=COUNT)
    scale_size: int = option(286, "scale images to this size before cropping to crop_size (--preprocess "
                                  "scale_width, scale_width_and_crop: the width)", TRAIN + RUNNING, bounds=COUNT)
    # How a photo becomes a training example; test, export and infer follow the training's
    # (stored.PREPROCESS_AFTER_TRAINING). Shapes that are not crops are reflection-padded (split
    # evenly) up to the multiple the generator needs.
    preprocess: str = option("resize_and_crop", "how a photo becomes a training example (the PyTorch pix2pix's "
                                                "names): resize_and_crop (the reference's: scale_size square, random "
                                                "crop_size crop), crop (random crop_size crops at the photo's own "
                                                "resolution), scale_width (width to scale_size, aspect ratio kept), "
                                                "scale_width_and_crop, none (the photo as it is); test, export and "
                                                "infer follow the training's (docs/preprocessing.md)",
                             TRAIN + RUNNING, choices=PREPROCESS_MODES)
    flip: bool = option(True, "flip images horizontally (--noflip or --no_flip to disable)", TRAIN)
    lr: float = option(0.0002, "initial learning rate for adam", TRAIN, bounds=above(0))
    beta1: float = option(0.5, "momentum term of adam", TRAIN, bounds=within(0, 1, high_open=True))
    l1_weight: float = option(100.0, "weight on L1 term for generator gradient", TRAIN, bounds=FINITE)
    gan_weight: float = option(1.0, "weight on GAN term for generator gradient", TRAIN, bounds=FINITE)
    output_filetype: str = option("png", "export/infer output file type", RENDERING, choices=FILETYPES)
    # Additions (opt-in; the defaults reproduce the reference).
    rgb_colorization: bool = option(False, "single colour photos: grey (luma, 1 channel) in, RGB out", MODEL)
    crop_size: int = option(256, "training/test image size, a power of two >= 32; the U-Net depth follows it "
                                 "(8 levels at 256, 7 at 128, 9 at 512)", MODEL,
                         bounds=Bounds(32, power_of_two=True, says="a power of two >= 32 (the U-Net halves it down "
                                                                   "to 1x1 and the PatchGAN needs 32)"))
    # None: the mode decides (modes/preparation.py): dropout off in export, infer and serve (the same
    # photo, the same colours), on in test mode (the reference's test-time dropout).
    deterministic: Optional[bool] = option(None, "dropout off, so the same input gives the same output. Unset, by "
                                                 "mode: dropout off in export, infer and serve; on in test mode "
                                                 "(the reference's test-time dropout). --nodeterministic keeps "
                                                 "dropout on", RUNNING)
    # onnx: the SavedModel as always, plus model.onnx in it (inference/onnx_export.py), checked there;
    # tflite: plus model.tflite (inference/tflite_export.py)
    format: str = option("savedmodel", "savedmodel: the SavedModel; onnx: the SavedModel plus model.onnx in it, "
                                       "its tensors signature converted with tf2onnx and checked against "
                                       "TensorFlow (needs dropout off, the default, and pip install \".[onnx]\"); "
                                       "tflite: plus model.tflite, for phones (--quantize), checked the same way; web: "
                                       "plus web/, a page that runs the generator in the browser",
                         ("export",), choices=EXPORT_FORMATS)
    quantize: str = option("none", "--format tflite (or web): none (float32), float16 (the weights), int8 (weights "
                                   "and activations, calibrated on the images of --input_dir or of the training)",
                           ("export",), choices=("none", "float16", "int8"))
    # web: a page that runs the generator in the browser with onnxruntime-web (serving/web_export.py)
    web_runtime: Optional[str] = option(None, "--format web: onnxruntime-web's .tgz or a folder of its files "
                                              "(default: the cache `python -m data_prep --operation web_runtime` "
                                              "fills)", ("export",))
    skip_preflight: bool = option(False, "don't decode every input image before starting",
                                  ("train", "test", "infer"))
    # infer and serve: the most pixels a photo may have, read from its header before decoding
    # (decompression bombs); the same meaning and default as data_prep's --max_pixels.
    max_pixels: int = option(100_000_000, "refuse (naming it) a photo whose header claims more pixels than "
                                          "this (decompression bombs; as data_prep's --max_pixels)",
                             ("infer", "serve"), bounds=COUNT)
    skip_bad_images: bool = option(False, "leave out (and name) images that cannot be decoded instead of "
                                          "stopping", ("train", "test"))
    skip_nonfinite: bool = option(False, "skip a batch whose loss is NaN/inf instead of stopping", TRAIN)
    pairs_ok: bool = option(False, "train the files of --input_dir as A|B pairs even though they look like "
                                   "single photos (not twice as wide as tall, halves that do not line up)", TRAIN)
    verbose: bool = option(False, "show TensorFlow's own C++ log lines (hidden by default; errors of the run "
                                  "itself are always shown)")
    strategy: str = option("none", "tf.distribute: mirrored = all local GPUs; multiworker = "
                                   "MultiWorkerMirroredStrategy configured by TF_CONFIG. --batch_size is the "
                                   "global batch, split over replicas", TRAIN, choices=STRATEGIES)
    mixed_precision: str = option("float32", "compute dtype of the networks: bfloat16 is about 2x faster on "
                                             "CPUs with native bfloat16 (AMX or AVX512-BF16: a float32 run on one "
                                             "says so) and on GPUs/TPUs, slower on other CPUs; float16 (with "
                                             "dynamic loss scaling) is for GPUs. Variables, losses and outputs "
                                             "stay float32. export, infer and serve: the generator computes in it",
                                  ("train", "export", "infer", "serve"), choices=PRECISIONS)
    # The data mode by name (data/tasks.py). --lab_colorization / --rgb_colorization, the
    # reference's way to say it, select "lab" / "rgb" and are kept in step with it.
    task: str = option("pairs", "data mode by name: pairs (A|B files), lab (= --lab_colorization), "
                                "rgb (= --rgb_colorization), or one registered in pix2pix.data.tasks", MODEL)
    # Data beyond 8-bit RGB (pix2pix/io/arrays.py, docs/channels.md): the pairs task's channel counts (the
    # PyTorch pix2pix's names), the sample types found in the data, and float data's range.
    input_nc: int = option(3, "channels of the network's input (pairs task); other than 3, or paired folders "
                              "A/ and B/ in --input_dir, reads the data at its own depth (PNG 8/16-bit, TIFF, "
                              ".npy: docs/channels.md)", MODEL, bounds=within(1, 1024))
    output_nc: int = option(3, "channels of the network's output (pairs task; see --input_nc)", MODEL,
                            bounds=within(1, 1024))
    data_types: str = option("", "sample types INPUT,TARGET (uint8, uint16, float32) of data read at its own "
                                 "depth: found in the data by training and kept in options.json; given, every "
                                 "file must have them", MODEL)
    value_range: str = option("", "float32 data: LOW,HIGH, the values mapped to [-1, 1] (default 0,1; integer "
                                  "data maps its type's range)", MODEL)
    # The model zoo (names as the PyTorch pix2pix's flags); the defaults are the reference's.
    netG: str = option("unet", "generator: unet (the reference's, depth from --crop_size), encoder_decoder "
                               "(the paper's U-Net without skips), resnet_9blocks, resnet_6blocks, unet_pytorch "
                               "(the PyTorch pix2pix's U-Net layout, for its imported weights)", MODEL)
    netD: str = option("basic", "discriminator: basic (70x70 PatchGAN), n_layers (with --n_layers_D), "
                                "pixel (1x1 PixelGAN)", MODEL)
    n_layers_D: Optional[int] = option(None, "--netD n_layers only: 1 = 16x16 patches, 3 = 70x70, "
                                             "5 = 286x286 (ImageGAN at 256); default 3", MODEL, bounds=COUNT)
    condition_GAN: bool = option(True, "the discriminator sees the input beside the target/output "
                                       "(--nocondition_GAN: the image alone, the paper's GAN rows)", MODEL)
    gan_mode: str = option("vanilla", "vanilla (the reference's cross-entropy), lsgan, wgangp", MODEL)
    norm: str = option("batch", "batch (batch statistics always, the reference's), instance, none", MODEL)
    no_dropout: bool = option(False, "no dropout in the U-Net decoders / ResNet blocks", MODEL)
    lr_policy: str = option("constant", "constant, linear (decay to 0 over the last --n_epochs_decay epochs), "
                                        "step (x0.1 every --lr_decay_iters steps), cosine", TRAIN)
    n_epochs_decay: int = option(100, "--lr_policy linear: epochs of decay to 0", TRAIN, bounds=COUNT)
    lr_decay_iters: Optional[int] = option(None, "--lr_policy step: steps between the x0.1 drops", TRAIN)
    # simultaneous: both gradients from one forward pass (the accepted port); sequential: G's
    # gradient through D after D's update (one more D forward), closer to the TF1 original.
    update_order: str = option("simultaneous", "simultaneous: both gradients from one forward pass, D applied "
                                               "then G; sequential: D applied first, then G's gradient through "
                                               "the updated D (one more D forward, as the TF1 original's control "
                                               "dependency / the PyTorch port)", MODEL, choices=UPDATE_ORDERS)
    # Batch norm at test time. "batch": the batch's own statistics, as in training (the TF1 original,
    # and PyTorch's test.py without --eval). "running": PyTorch's running mean and variance (momentum
    # 0.1), kept as non-trainable weights and used whenever the generator runs with dropout off
    # (--deterministic: PyTorch's --eval). Only "running" models (and --netG unet_pytorch, whose
    # imported state_dict carries them) have moving_mean/moving_variance variables.
    bn_statistics: str = option("batch", "batch norm at test time: batch (the batch's own statistics, as in "
                                         "training: the TF1 original) or running (PyTorch's running mean and "
                                         "variance, used when dropout is off: --deterministic, PyTorch's --eval)",
                                MODEL, choices=BN_STATISTICS)

    target_dir: Optional[str] = option(None, "folder of targets; the predictions in --input_dir are matched to "
                                             "them by file stem", ("score",))
    pred_suffix: str = option("", "match only predictions whose stems end in this, removed first (test mode's "
                                  "images/: -outputs)", ("score",))
    target_suffix: str = option("", "match only targets whose stems end in this, removed first (test mode's "
                                    "images/: -targets)", ("score",))
    fid_weights: Optional[str] = option(None, "also compute FID with this weights file of Keras' "
                                              "InceptionV3(include_top=False, pooling='avg'), or 'imagenet' to "
                                              "let Keras fetch them; compares runs of this project only",
                                        ("test", "score"))

    # The generator at the photo's own aspect ratio (0 = crop_size square, the reference's), a cap
    # on the pixels it then sees, and videos (inference/video.py).
    render_size: int = option(0, "run the generator at the photo's aspect ratio, short side resized to this "
                                 "(long side in proportion, reflection-padded to the multiple the generator "
                                 "needs); 0 = crop_size x crop_size, the reference's square. Fixed into an "
                                 "export", RENDERING,
                           bounds=at_least(0, says="0 (off: crop_size square) or a positive size"))
    max_render_pixels: int = option(4_194_304, "refuse (naming it) a photo or video that --render_size (or a "
                                               "--preprocess that keeps the photo's shape) would give the generator "
                                               "more pixels than this (padded height x width; memory)", RENDERING,
                                    bounds=COUNT)
    # h264 (ffmpeg; plays in browsers) is a new default of an output container, allowed since the reference
    # wrote no video; mp4v, the default before, does not play in Chromium.
    video_codec: str = option("h264", "codec of the videos written (h264 through ffmpeg, the others OpenCV's "
                                      "fourccs; h264 and VP80/VP90 play in browsers): " + ", ".join(
        f"{codec} ({extension})" for codec, extension in CODEC_EXTENSIONS.items()), ("infer",),
        choices=CODEC_EXTENSIONS)
    temporal_smoothing: float = option(0.0, "colorization videos: smooth the predicted colour over time, "
                                            "s_t = A s_(t-1) + (1 - A) p_t, A in [0, 1); 0 = off. Reset at "
                                            "scene cuts", ("infer",), bounds=within(0, 1, high_open=True))
    scene_cut: float = option(0.25, "videos: a grey-histogram change between frames (half the L1 distance of "
                                    "the normalised 64-bin histograms, 0..1) above this is a scene cut",
                              ("infer",), bounds=within(0, 1, low_open=True))
    # serve (pix2pix/serving): where to listen, the model's name in URLs, and the request limits
    host: str = option("127.0.0.1", "address to listen on (0.0.0.0: every interface, with a warning)", SERVE)
    port: int = option(8501, "TCP port (TF Serving's REST port; 0: any free port)", SERVE,
                       bounds=within(0, 65535, says="in 0..65535 (0: any free port)"))
    model_name: Optional[str] = option(None, "the model's name in /v1/models/NAME (default: --checkpoint's "
                                             "directory name)", SERVE)
    drawing: str = option("auto", "the page's drawing canvas: sketch (black pen on white, for edges -> photo "
                                  "models), labels (the facade label colours), off; auto: labels when the "
                                  "model's name mentions facade or label, sketch when it mentions edge, sketch "
                                  "or draw, off otherwise (export: --format web's page)", SERVE + ("export",),
                         choices=("auto", "sketch", "labels", "off"))
    page_dir: Optional[str] = option(None, "serve this folder (a --format web export's web/) as the page, which then "
                                           "runs the model in the browser; the API answers as ever", SERVE)
    max_request_mb: int = option(32, "larger request bodies are refused (413)", SERVE, bounds=COUNT)
    max_queue: int = option(16, "requests that may wait for the one model worker; more are refused (503)",
                            SERVE, bounds=at_least(0))
    # resources (docs/security.md): connections, buffered uploads, one request's share of the model
    max_connections: int = option(64, "open connections served at once; requests on more are answered 503",
                                  SERVE, bounds=COUNT)
    max_upload_mb: int = option(256, "MB all request bodies still arriving may hold together; a body that "
                                     "would pass it is refused (503)", SERVE, bounds=COUNT)
    max_batch: int = option(32, "pictures one request may give the model (400 beyond): bounds how long one "
                                "request holds the model worker", SERVE, bounds=COUNT)
    # slow clients (docs/security.md): a slow client holds a connection, never a place in the queue
    header_timeout: float = option(10.0, "seconds a client may take to send a request's line and headers",
                                   SERVE, bounds=SECONDS)
    body_timeout: float = option(10.0, "seconds a client may take to send a request's body (408 after)", SERVE,
                                 bounds=SECONDS)
    shutdown_timeout: float = option(30.0, "on SIGTERM, seconds the requests in flight may take before what "
                                           "is left is closed and the server exits 0", SERVE, bounds=SECONDS)
    # DNS rebinding: a web page elsewhere cannot reach the server by pointing its own name at 127.0.0.1
    allowed_hosts: str = option("", "comma-separated Host names answered besides localhost, 127.0.0.1, ::1 "
                                    "and --host ('*': any)", SERVE)

    def validate(self) -> "Options":
        """These options with --lab_colorization / --rgb_colorization spelled as --task (with_task_aliases),
        checked: each value on its own, the name tables (options/registry.py), then the flags that must
        agree. Raises UsageError naming the flag."""
        options = with_task_aliases(self)
        check_values(options)
        validate_names(options)
        check_combinations(options)
        return options

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def fields():
    """The dataclass fields of Options, each with its flag metadata."""
    return dataclasses.fields(Options)


def with_task_aliases(options: Options) -> Options:
    """OPTIONS with --task and the reference's way to say it agreeing: --lab_colorization (alone) means
    task lab, --rgb_colorization task rgb, and tasks lab and rgb set their flag (options.json keeps
    lab_colorization for the reference's readers). A copy: the record itself never changes."""
    task, lab, rgb = options.task, options.lab_colorization, options.rgb_colorization
    if task == "pairs" and lab != rgb:
        task = "lab" if lab else "rgb"
    return dataclasses.replace(options, task=task, lab_colorization=lab or task == "lab",
                               rgb_colorization=rgb or task == "rgb")


# ------------------------------------------------------------------------------ validation
def check_budget(options: Options) -> None:
    """A training run needs an end: without --max_steps or --max_epochs it would run forever (the
    reference's 2**32 steps), so that is a usage error, said before TensorFlow does any work."""
    if options.max_steps is None and options.max_epochs is None:
        also = "" if options.input_dir else "--input_dir (the folder of training images) and "  # say all at once
        raise UsageError(f"training needs {also}a budget: give --max_steps N (total steps, counted across "
                         "resumes) or --max_epochs N; without either it would never stop")


def check_export_format(options: Options) -> None:
    """--format onnx, tflite and web check the converted model against TensorFlow on one input, which
    needs both to give one answer: with dropout on each run draws its own masks. They convert the
    float32 generator (tflite and web quantize it with --quantize, which no other format takes).
    Said before TensorFlow loads."""
    if options.mode != "export":
        return
    if options.quantize != "none" and options.format not in ("tflite", "web"):
        _fail("quantize", f"{options.quantize} applies to --format tflite or web, not {options.format}; "
                          "add --format tflite, or leave --quantize out")
    if options.format == "web" and options.quantize == "int8":
        _fail("quantize", "--format web takes none or float16 (int8 is for --format tflite)")
    converted = options.format in ("onnx", "tflite", "web")
    if converted and options.deterministic is False:
        _fail("format", f"{options.format} needs dropout off (the default): with dropout on, the converted model and "
                        "TensorFlow draw different dropout masks, so their outputs differ and the converted model "
                        "cannot be checked; leave out --nodeterministic")
    if converted and options.mixed_precision != "float32":
        _fail("mixed_precision", f"--format {options.format} exports float32 only, not {options.mixed_precision} "
                                 f"(for a smaller model: --format tflite --quantize float16 or int8); leave "
                                 "one of the two out")


def _fail(flag, why):
    raise UsageError(f"--{flag}: {why}")


def check_values(options: Options) -> None:
    """Each value on its own: its field's choices and bounds (what the command line checks before
    TensorFlow loads; combinations wait for the options a checkpoint stores)."""
    for field in fields():
        choices, bounds = field.metadata["choices"], field.metadata["bounds"]
        value = getattr(options, field.name)
        if choices and value not in choices:
            _fail(field.name, f"must be one of {', '.join(choices)}, got {value!r}")
        if bounds and not bounds.allows(value):
            _fail(field.name, f"must be {bounds.says}, got {value}")


def check_combinations(options: Options) -> None:
    """Flags that must agree with each other."""
    if not options.output_dir and options.mode != "serve":
        _fail("output_dir", "is required")
    if options.lab_colorization and options.rgb_colorization:
        _fail("rgb_colorization", "cannot be combined with --lab_colorization")
    for flag, task in (("lab_colorization", "lab"), ("rgb_colorization", "rgb")):
        if getattr(options, flag) and options.task != task:
            _fail("task", f"{options.task} cannot be combined with --{flag} (task {task})")
    _check_preprocess(options)
    _check_schedule(options)
    _check_data(options)
    if options.gan_mode == "wgangp" and options.gan_weight == 0:
        _fail("gan_weight", "is 0, so --gan_mode wgangp would train its critic for nothing; use --gan_mode vanilla "
                            "(or a gan_weight > 0)")
    check_export_format(options)


def _check_preprocess(options: Options) -> None:
    """--scale_size against --crop_size, and the batch size photos of their own shape allow."""
    crops_after_scaling = options.preprocess in ("resize_and_crop", "scale_width_and_crop")
    if options.mode == "train" and crops_after_scaling and options.scale_size < options.crop_size:
        _fail("scale_size", f"must be >= --crop_size ({options.crop_size}) with --preprocess "
                            f"{options.preprocess}, got {options.scale_size}")
    if options.mode in ("train", "test") and options.preprocess in SHAPE_KEEPING_PREPROCESS and options.batch_size != 1:
        _fail("batch_size", f"must be 1 with --preprocess {options.preprocess} (each photo keeps its own shape, "
                            f"and photos of different shapes cannot share a batch), got {options.batch_size}")


def _check_data(options: Options) -> None:
    """--input_nc, --output_nc, --data_types and --value_range: the pairs task's, each well formed."""
    if (options.input_nc, options.output_nc) != (3, 3) and options.task != "pairs":
        flag = "input_nc" if options.input_nc != 3 else "output_nc"
        _fail(flag, f"only the pairs task takes channel counts; task {options.task} has its own")
    for flag, parse in (("data_types", parse_data_types), ("value_range", parse_value_range)):
        if getattr(options, flag):
            try:
                parse(getattr(options, flag))
            except ValueError as err:
                _fail(flag, str(err))


def _check_schedule(options: Options) -> None:
    """A decaying policy needs the run's length; --lr_decay_iters belongs to --lr_policy step alone."""
    if options.mode == "train" and options.lr_policy != "constant":
        if options.max_steps is None and options.max_epochs is None:
            _fail("lr_policy", f"{options.lr_policy} needs the run's length: give --max_steps or --max_epochs")
    if options.lr_policy == "step" and not (options.lr_decay_iters or 0) >= 1:
        _fail("lr_decay_iters", f"is required (>= 1, in steps) with --lr_policy step, got {options.lr_decay_iters}")
    if options.lr_decay_iters is not None and options.lr_policy != "step":
        _fail("lr_decay_iters", f"only applies to --lr_policy step, not {options.lr_policy}")
