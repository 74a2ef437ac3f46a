"""Command line: ``python -m data_prep --operation OP ...`` / ``pix2pix-prep``.

A thin layer over the Python API: flags are parsed and checked here, then
passed to process_directory / split_directory / write_samples. Flags are
defined in this module only, and ``import data_prep`` does not import it, so
the package can be used next to other absl programs without flag clashes.

Exit status: 0 success, 1 some file failed (or no images found), 2 bad
flags (nothing written), 130 interrupted.
"""

import signal
import sys

from absl import app, flags

from data_prep import colour_filter, download, models, runner, samples, split, web_runtime

from pix2pix.errors import did_you_mean
from pix2pix.io import images as image_io
from pix2pix.io.listing import IMAGE_EXTENSIONS
from data_prep.report import PROGRAM, Reporter, UsageError

OPERATIONS = runner.IMAGE_OPERATIONS + ("split", "samples", "download", "download_model", "web_runtime")

FLAGS = flags.FLAGS

# a string, not an enum: an unknown operation is answered in this program's words, with the nearest name
flags.DEFINE_string("operation", None, "What to do: %s (see docs/data_prep.md)." % ", ".join(OPERATIONS))
flags.DEFINE_string("input_dir", None, "Folder of input images (not searched recursively).")
flags.DEFINE_string("output_dir", None, "Folder for the results; created if missing. "
                                        "split: defaults to --input_dir.")
flags.DEFINE_integer("workers", 1, "Worker processes (0 = one per CPU).")
flags.DEFINE_boolean("overwrite", False, "Replace outputs that already exist (default: skip them).")
flags.DEFINE_boolean("progress", True, "Show a progress indicator on stderr for runs longer than a second.")
# image reading / writing
flags.DEFINE_enum("format", "png", image_io.OUTPUT_FORMATS, "Output file format.")
flags.DEFINE_integer("quality", image_io.DEFAULT_JPEG_QUALITY, "JPEG quality (1-100) with --format jpg.")
flags.DEFINE_integer("max_pixels", image_io.DEFAULT_MAX_PIXELS,
                     "Refuse images with more pixels than this (decompression-bomb guard).")
flags.DEFINE_integer("min_side", runner.DEFAULT_MIN_SIDE, "Refuse images whose shorter side is below this.")
# resize / colorize
flags.DEFINE_integer("size", runner.DEFAULT_SIZE, "Output side in pixels (resize, colorize).")
flags.DEFINE_boolean("pad", False, "Pad to square with black instead of centre-cropping (resize, colorize).")
# combine
flags.DEFINE_string("b_dir", None, "combine: folder of B images, matched to A images by base name.")
# edges
flags.DEFINE_float("canny_low", None, "edges: Canny low threshold (default: chosen per image).")
flags.DEFINE_float("canny_high", None, "edges: Canny high threshold (default: chosen per image).")
flags.DEFINE_integer("min_edge_pixels", None, "edges: drop lines shorter than this (default: scales with size).")
flags.DEFINE_string("hed_prototxt", None, "edges: HED deploy.prototxt, to use HED instead of Canny.")
flags.DEFINE_string("hed_caffemodel", None, "edges: HED .caffemodel, to use HED instead of Canny.")
# colorize
flags.DEFINE_float("val_frac", 0.0, "colorize: fraction of photos for OUT/val (train gets the rest).")
flags.DEFINE_integer("crops_per_image", 0, "colorize: random square crops per photo (0 = whole photo).")
flags.DEFINE_float("val_region", 0.0, "colorize with --crops_per_image: hold out this fraction (at most 0.5) "
                   "of every photo, its right end (bottom if portrait), for OUT/val crops; training "
                   "crops come from the rest.")
flags.DEFINE_boolean("singles", False, "colorize: write the resized colour image only, not A|B.")
# split (and colorize)
flags.DEFINE_float("train_frac", 0.8, "split: fraction of images for train (val gets the rest).")
flags.DEFINE_float("test_frac", 0.0, "split, colorize: fraction of images for test.")
flags.DEFINE_integer("seed", split.DEFAULT_SEED, "split, colorize: seed of the shuffle and of the crops.")
flags.DEFINE_boolean("sort", False, "split: assign in sorted name order instead of shuffling.")
flags.DEFINE_boolean("copy", False, "split: copy files instead of moving them.")
# filter_grey (and colorize)
flags.DEFINE_float("min_colourfulness", None,
                   "filter_grey, colorize: leave out photos less colourful than this (Hasler & Suesstrunk; "
                   "filter_grey's default %g, colorize: off)." % colour_filter.DEFAULT_MIN_COLOURFULNESS)
flags.DEFINE_float("min_hue_spread", None,
                   "filter_grey, colorize: leave out toned (e.g. sepia) photos whose hue spread is below this "
                   "many degrees (filter_grey's default %g, colorize: off)." % colour_filter.DEFAULT_MIN_HUE_SPREAD)
# download
flags.DEFINE_enum("dataset", None, download.DATASETS, "download: which pix2pix dataset.")
flags.DEFINE_string("url", None, "download, download_model, web_runtime: where to get the .tar.gz, .pth or .tgz "
                                 "instead of the authors' server or the npm registry (a mirror, a file: URL or a "
                                 "local path).")
flags.DEFINE_boolean("force", False, "download, download_model, web_runtime: replace an existing OUT/DATASET, "
                                     "OUT/NAME.pth or the cached runtime.")
flags.DEFINE_string("sha256", None, "download, download_model: the file's expected sha256 (64 hex digits); other "
                                    "bytes are refused and deleted (default: the recorded value, when one is "
                                    "known).")
# download_model (a string, not an enum: the error lists the catalogue in this program's own words)
flags.DEFINE_string("name", None, "download_model: which published PyTorch pix2pix generator (%s)."
                    % ", ".join(models.MODEL_NAMES))
flags.DEFINE_float("max_download_mb", download.DEFAULT_MAX_DOWNLOAD_MB,
                   "download: refuse an archive larger than this many MB (10^6 bytes).")
flags.DEFINE_float("max_extracted_mb", download.DEFAULT_MAX_EXTRACTED_MB,
                   "download: stop extracting an archive that unpacks to more than this many MB.")
flags.DEFINE_integer("max_files", download.DEFAULT_MAX_FILES,
                     "download: stop extracting an archive with more entries than this.")
flags.DEFINE_float("max_download_seconds", 0,
                   "download, download_model, web_runtime: stop a download that takes longer than this many seconds "
                   "in all (the .part is kept for resuming); 0: no deadline (each read still times out "
                   "after %d s)." % download.TIMEOUT_SECONDS)

_READ_FLAGS = {"input_dir", "workers", "max_pixels", "min_side", "overwrite"}
_IMAGE_FLAGS = _READ_FLAGS | {"format", "quality"}
_COLOUR_FILTER_FLAGS = {"min_colourfulness", "min_hue_spread"}
_COMMON_FLAGS = {"operation", "output_dir", "progress"}

# Flags each operation reads; giving any other of our flags is an error, so a
# misplaced option (say --val_frac with resize) is not silently ignored.
OPERATION_FLAGS = {
    "grayscale": _IMAGE_FLAGS,
    "resize": _IMAGE_FLAGS | {"size", "pad"},
    "blank": _IMAGE_FLAGS,
    "combine": _IMAGE_FLAGS | {"b_dir"},
    "edges": _IMAGE_FLAGS | {"canny_low", "canny_high", "min_edge_pixels", "hed_prototxt", "hed_caffemodel"},
    "colorize": _IMAGE_FLAGS | _COLOUR_FILTER_FLAGS | {"size", "pad", "val_frac", "test_frac", "seed",
                                                      "crops_per_image", "singles", "val_region"},
    "filter_grey": _READ_FLAGS | _COLOUR_FILTER_FLAGS,  # copies files as they are: no --format
    "split": {"input_dir", "train_frac", "test_frac", "seed", "sort", "copy", "overwrite"},
    "samples": {"format", "quality", "overwrite"},
    "download": {"dataset", "url", "force", "sha256", "max_download_mb", "max_extracted_mb", "max_files",
                 "max_download_seconds"},
    "download_model": {"name", "url", "force", "sha256", "max_download_seconds"},
    "web_runtime": {"url", "force", "max_download_seconds"},
}
_ALL_FLAGS = set().union(*OPERATION_FLAGS.values()) | _COMMON_FLAGS


def check_flag_use(operation):
    """UsageError if a flag was given that ``operation`` does not read."""
    allowed = OPERATION_FLAGS[operation] | _COMMON_FLAGS
    for name in sorted(_ALL_FLAGS - allowed):
        if FLAGS[name].present:
            raise UsageError("--%s does not apply to --operation %s" % (name, operation))


def options_from_flags():
    """runner.Options from the parsed flags."""
    return runner.Options(
        size=FLAGS.size, pad=FLAGS.pad, b_dir=FLAGS.b_dir, image_format=FLAGS.format,
        quality=FLAGS.quality, overwrite=FLAGS.overwrite, max_pixels=FLAGS.max_pixels,
        min_side=FLAGS.min_side, val_frac=FLAGS.val_frac, test_frac=FLAGS.test_frac, seed=FLAGS.seed,
        crops_per_image=FLAGS.crops_per_image, val_region=FLAGS.val_region, singles=FLAGS.singles,
        canny_low=FLAGS.canny_low, canny_high=FLAGS.canny_high, min_edge_pixels=FLAGS.min_edge_pixels,
        hed_prototxt=FLAGS.hed_prototxt, hed_caffemodel=FLAGS.hed_caffemodel,
        min_colourfulness=FLAGS.min_colourfulness, min_hue_spread=FLAGS.min_hue_spread)


def run_operation(operation, reporter):
    """Dispatch to the API; returns its Summary."""
    if operation == "samples":
        return samples.write_samples(FLAGS.output_dir, image_format=FLAGS.format, quality=FLAGS.quality,
                                     overwrite=FLAGS.overwrite, reporter=reporter)
    if operation == "download":
        if not FLAGS.dataset:
            raise UsageError("--dataset is required for --operation download (one of %s)"
                             % ", ".join(download.DATASETS))
        limits = download.Limits(max_download_bytes=int(FLAGS.max_download_mb * download.MB),
                                 max_extracted_bytes=int(FLAGS.max_extracted_mb * download.MB),
                                 max_files=FLAGS.max_files, max_seconds=FLAGS.max_download_seconds)
        return download.download_dataset(FLAGS.dataset, FLAGS.output_dir, url=FLAGS.url, force=FLAGS.force,
                                         reporter=reporter, limits=limits, sha256=FLAGS.sha256)
    if operation == "download_model":
        if not FLAGS.name:
            raise UsageError("--name is required for --operation download_model (one of %s)"
                             % ", ".join(models.MODEL_NAMES))
        return models.download_model(FLAGS.name, FLAGS.output_dir, url=FLAGS.url, force=FLAGS.force,
                                     reporter=reporter, sha256=FLAGS.sha256,
                                     max_seconds=FLAGS.max_download_seconds)
    if operation == "web_runtime":
        return web_runtime.download_web_runtime(FLAGS.output_dir, url=FLAGS.url, force=FLAGS.force,
                                                reporter=reporter, max_seconds=FLAGS.max_download_seconds)
    if not FLAGS.input_dir:
        raise UsageError("--input_dir is required for --operation %s" % operation)
    if operation == "split":
        return split.split_directory(FLAGS.input_dir, output_dir=FLAGS.output_dir, train_frac=FLAGS.train_frac,
                                     test_frac=FLAGS.test_frac, seed=FLAGS.seed, sort=FLAGS.sort,
                                     copy=FLAGS.copy, overwrite=FLAGS.overwrite, reporter=reporter)
    return runner.process_directory(operation, FLAGS.input_dir, FLAGS.output_dir, options_from_flags(),
                                    workers=FLAGS.workers, reporter=reporter)


def _interrupt_on_sigterm(signum, frame):
    raise KeyboardInterrupt  # same clean stop as Ctrl-C: temporary files removed, workers stopped


def main(argv):
    """absl entry point; returns the exit status."""
    signal.signal(signal.SIGTERM, _interrupt_on_sigterm)
    reporter = Reporter(stream=sys.stderr, show_progress=FLAGS.progress)
    try:
        if len(argv) > 1:
            raise UsageError("unexpected argument %r (all options are --flags)" % argv[1])
        if not FLAGS.operation:
            raise UsageError("--operation is required (one of %s)" % ", ".join(OPERATIONS))
        if FLAGS.operation not in OPERATIONS:
            raise UsageError("--operation: must be one of %s, got %r%s" % (
                ", ".join(OPERATIONS), FLAGS.operation, did_you_mean(FLAGS.operation, OPERATIONS)))
        check_flag_use(FLAGS.operation)
        summary = run_operation(FLAGS.operation, reporter)
    except UsageError as error:
        sys.stderr.write("%s: error: %s\n" % (PROGRAM, error))
        return 2
    except download.DownloadError as error:
        reporter.finish()
        sys.stderr.write("%s: error: %s\n" % (PROGRAM, error))
        return 1
    except KeyboardInterrupt:
        reporter.finish()
        sys.stderr.write("%s: interrupted\n" % PROGRAM)
        return 130
    print(summary.line(), flush=True)
    if summary.written + summary.skipped + summary.failed + (summary.left_out or 0) == 0:
        reporter.message("no images found in %s (looked for %s)"
                         % (FLAGS.input_dir, " ".join(IMAGE_EXTENSIONS)))
        return 1
    return 0 if summary.ok else 1


def parse_flags(argv):
    """Parse flags; on a bad flag print one line (no usage dump, no traceback) and exit 2."""
    try:
        return FLAGS(argv)
    except flags.Error as error:
        sys.stderr.write("%s: error: %s\n" % (PROGRAM, error))
        sys.exit(2)


USAGE = """Turn a folder of photos into pix2pix A|B training sets.

usage: python -m data_prep --operation OP --input_dir IN --output_dir OUT [flags]
       (or pix2pix-prep ...)

operations: grayscale, resize, blank, combine, edges, colorize, filter_grey, split, samples, download,
            download_model, web_runtime
example:    python -m data_prep --operation colorize --input_dir photos \\
                --output_dir datasets/colorize --size 256 --val_frac 0.1 --workers 2
Full documentation: docs/data_prep.md
"""


HELP_WORDS = ("-h", "-help", "--help", "--helpshort", "--helpfull", "-?")


def _flag_line(name):
    flag = FLAGS[name]
    default = "none" if flag.default is None else flag.default
    return "  --%s  %s [default: %s]" % (name, flag.help, default)


def help_text(operation=None):
    """The usage, then the flags of OPERATION (or of every operation), each with its default."""
    operations = [operation] if operation in OPERATION_FLAGS else list(OPERATIONS)
    lines = [USAGE, "flags of every operation:"] + [_flag_line(name) for name in sorted(_COMMON_FLAGS)]
    for name in operations:
        lines += ["", "--operation %s:" % name] + [_flag_line(flag) for flag in sorted(OPERATION_FLAGS[name])]
    return "\n".join(lines) + "\n"


def _operation_named(arguments):
    for index, argument in enumerate(arguments):
        if argument == "--operation" and index + 1 < len(arguments):
            return arguments[index + 1]
        if argument.startswith("--operation="):
            return argument.split("=", 1)[1]
    return None


def run():
    """Console-script entry point (``pix2pix-prep``); also used by ``python -m data_prep``.
    --help (and -h, and no arguments at all) prints the usage and the flags, and exits 0."""
    arguments = sys.argv[1:]
    if not arguments or any(argument in HELP_WORDS for argument in arguments):
        operation = _operation_named(arguments)
        if operation is not None and operation not in OPERATIONS:
            sys.stderr.write("%s: error: --operation: must be one of %s, got %r%s\n" % (
                PROGRAM, ", ".join(OPERATIONS), operation, did_you_mean(operation, OPERATIONS)))
            sys.exit(2)
        sys.stdout.write(help_text(operation))
        sys.exit(0)
    app.run(main, flags_parser=parse_flags)
