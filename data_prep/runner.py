"""Run an image operation over every image of a folder, with N worker processes.

The parent process plans the work (which file produces which output(s), which
outputs already exist, name clashes, missing combine partners, train/val/test
assignment); workers only read, transform and write single files. Every
result depends only on the file and the options, never on which worker or in
which order it ran, so any ``workers`` value gives byte-identical outputs.
"""

import dataclasses
import functools
import math
import multiprocessing
import os
import signal
import time
from typing import Optional, Tuple

import cv2

from data_prep import colour_filter, edges, ops, split

from pix2pix.io import images as image_io
from data_prep.report import Reporter, Summary, UsageError

# Operations that read each image of input_dir and write image(s) to output_dir.
IMAGE_OPERATIONS = ("grayscale", "resize", "blank", "combine", "edges", "colorize", "filter_grey")

# Operations that can leave out grey and toned photos (--min_colourfulness, --min_hue_spread).
COLOUR_FILTERED_OPERATIONS = ("colorize", "filter_grey")

DEFAULT_SIZE = 256
DEFAULT_MIN_SIDE = 16

# Preferred extensions when several files in --b_dir share a base name.
_SIBLING_PREFERENCE = (".png", ".jpg", ".jpeg")


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


@dataclasses.dataclass(frozen=True)
class Task:
    """One input file and the output file(s) it produces."""

    source: str                      # input path (input_dir as given + file name); also names it in messages
    outputs: Tuple[str, ...]         # final output paths
    sibling: Optional[str] = None    # combine: path of the B image


@dataclasses.dataclass(frozen=True)
class Outcome:
    """Result of one Task: number of files written, or the reason it failed."""

    label: str
    files_written: int = 0
    error: Optional[str] = None
    left_out: Optional[str] = None   # why a grey or toned photo was left out (colour filter)


# --- planning (parent process) ---------------------------------------------

def _same_directory(first, second):
    return os.path.realpath(first) == os.path.realpath(second)


def check_directories(operation, input_dir, output_dir, options):
    """Raise UsageError for missing input folders or an output that would touch inputs."""
    if not input_dir:
        raise UsageError("--input_dir is required for --operation %s" % operation)
    if not output_dir:
        raise UsageError("--output_dir is required for --operation %s" % operation)
    if not os.path.isdir(input_dir):
        raise UsageError("--input_dir: not a directory: %s" % input_dir)
    if os.path.exists(output_dir) and not os.path.isdir(output_dir):
        raise UsageError("--output_dir: exists and is not a directory: %s" % output_dir)
    if _same_directory(input_dir, output_dir):
        raise UsageError("--output_dir must differ from --input_dir (inputs are never modified)")
    if operation == "combine":
        if not options.b_dir:
            raise UsageError("--operation combine needs --b_dir (the folder of B images)")
        if not os.path.isdir(options.b_dir):
            raise UsageError("--b_dir: not a directory: %s" % options.b_dir)
        if _same_directory(options.b_dir, output_dir):
            raise UsageError("--output_dir must differ from --b_dir (inputs are never modified)")
    elif options.b_dir:
        raise UsageError("--b_dir only applies to --operation combine")


def _sibling_index(b_dir):
    """{base name: file name} of the images in b_dir, preferring .png, then .jpg, .jpeg."""
    def preference(name):
        extension = os.path.splitext(name)[1].lower()
        rank = _SIBLING_PREFERENCE.index(extension) if extension in _SIBLING_PREFERENCE else len(_SIBLING_PREFERENCE)
        return rank, name

    index = {}
    for name in sorted(split.list_images(b_dir), key=preference):
        index.setdefault(os.path.splitext(name)[0], name)
    return index


def _output_names(name, options, operation):
    base = os.path.splitext(name)[0]
    if operation == "filter_grey":
        return [name]  # a byte-for-byte copy keeps its name and format
    extension = "." + options.image_format
    if operation == "colorize" and options.val_region:
        # train/NAME_cK crops of the kept part, then val/NAME_vK of the held-out end
        kept, held_out = options.region_counts
        return ([os.path.join("train", "%s_c%d%s" % (base, index, extension)) for index in range(kept)]
                + [os.path.join("val", "%s_v%d%s" % (base, index, extension)) for index in range(held_out)])
    if operation == "colorize" and options.crops_per_image:
        return ["%s_c%d%s" % (base, index, extension) for index in range(options.crops_per_image)]
    return [base + extension]


def _colorize_assignment(names, options):
    """{name: subset} when colorize splits its output by photo, else None."""
    if not options.splits_output or options.val_region:
        return None
    counts = split.subset_counts(len(names), {"val": options.val_frac, "test": options.test_frac},
                                 remainder="train")
    return split.assign_subsets(names, counts, seed=options.seed)


@dataclasses.dataclass
class Plan:
    """The work of a run: tasks to execute, failures found up front, skip count."""

    tasks: list = dataclasses.field(default_factory=list)
    failures: list = dataclasses.field(default_factory=list)  # (label, reason) found while planning
    skipped: int = 0
    directories: list = dataclasses.field(default_factory=list)  # output folders to create


class _Planner:
    """Turns the file names of input_dir into Tasks, failures and skips."""

    def __init__(self, operation, input_dir, output_dir, options, names):
        self.operation = operation
        self.input_dir = input_dir
        self.output_dir = output_dir
        self.options = options
        self.assignment = _colorize_assignment(names, options) if operation == "colorize" else None
        self.siblings = _sibling_index(options.b_dir) if operation == "combine" else None
        self.first_with_base = {}

    def output_dirs(self):
        if self.operation == "colorize" and self.options.val_region:
            return [os.path.join(self.output_dir, subset) for subset in ("train", "val")]
        if not self.assignment:
            return [self.output_dir]
        used = set(self.assignment.values())
        return [os.path.join(self.output_dir, subset) for subset in split.SUBSETS if subset in used]

    def plan_file(self, name, plan):
        """Add ``name``'s task, failure or skip to ``plan``."""
        label = os.path.join(self.input_dir, name)
        base = os.path.splitext(name)[0]
        if base in self.first_with_base and self.operation != "filter_grey":
            plan.failures.append((label, "same base name as %s, so it would overwrite its output; "
                                         "rename one of them" % self.first_with_base[base]))
            return
        self.first_with_base[base] = label
        subset = self.assignment[name] if self.assignment else None
        target_dir = os.path.join(self.output_dir, subset) if subset else self.output_dir
        outputs = tuple(os.path.join(target_dir, output)
                        for output in _output_names(name, self.options, self.operation))
        sibling = None
        if self.siblings is not None:
            if base not in self.siblings:
                plan.failures.append((label, "no B image named %s.* in %s" % (base, self.options.b_dir)))
                return
            sibling = os.path.join(self.options.b_dir, self.siblings[base])
        stale = subset and _output_in_other_subset(self.output_dir, subset, outputs[0])
        if stale:
            plan.failures.append((label, "an earlier run put its output in %s, but it now belongs to %s "
                                         "(different files or --seed); use a fresh --output_dir" % (stale, subset)))
            return
        if not self.options.overwrite and all(os.path.exists(output) for output in outputs):
            plan.skipped += 1
            return
        plan.tasks.append(Task(source=label, outputs=outputs, sibling=sibling))


def plan_work(operation, input_dir, output_dir, options):
    """Decide what each input file produces (see the module docstring); returns a Plan."""
    names = split.list_images(input_dir)
    planner = _Planner(operation, input_dir, output_dir, options, names)
    plan = Plan(directories=planner.output_dirs())
    for name in names:
        planner.plan_file(name, plan)
    return plan


def _output_in_other_subset(output_dir, subset, output):
    """Path of ``output``'s name in another subset folder, if a previous run wrote it there."""
    for other in split.SUBSETS:
        if other != subset:
            candidate = os.path.join(output_dir, other, os.path.basename(output))
            if os.path.exists(candidate):
                return candidate
    return None


# --- execution (worker processes, or in-process for one worker) ------------

def _read_b_image(task, image_a, options):
    try:
        image_b = image_io.read_image(task.sibling, options.max_pixels, options.min_side)
    except image_io.ImageError as error:
        raise image_io.ImageError("B image %s: %s" % (task.sibling, error)) from None
    if image_b.shape != image_a.shape:
        raise image_io.ImageError("A is %dx%d but B image %s is %dx%d; combine needs equal sizes" % (
            image_a.shape[1], image_a.shape[0], task.sibling, image_b.shape[1], image_b.shape[0]))
    return image_b


def _colorize(image, task, options):
    if options.crops_per_image and options.val_region:
        rng = ops.crop_rng(options.seed, os.path.basename(task.source))
        colours = ops.region_crops(image, options.val_region, options.region_counts, options.size, rng)
    elif options.crops_per_image:
        rng = ops.crop_rng(options.seed, os.path.basename(task.source))
        colours = ops.random_square_crops(image, options.crops_per_image, options.size, rng)
    else:
        colours = [ops.resize_square(image, options.size, pad=options.pad)]
    if options.singles:
        return colours
    return [ops.combine_ab(ops.to_grayscale(colour), colour) for colour in colours]


def _edges(image, options):
    if options.hed_prototxt:
        return edges.detect_edges_hed(image, options.hed_prototxt, options.hed_caffemodel,
                                      min_edge_pixels=options.min_edge_pixels)
    return edges.detect_edges(image, low=options.canny_low, high=options.canny_high,
                              min_edge_pixels=options.min_edge_pixels)


def produce_images(operation, task, options, image=None):
    """Return the output images, in ``task.outputs`` order, of the task's input
    (``image`` if given: the input already decoded; else it is read)."""
    if image is None:
        image = image_io.read_image(task.source, options.max_pixels, options.min_side)
    if operation == "grayscale":
        return [ops.to_grayscale(image)]
    if operation == "resize":
        return [ops.resize_square(image, options.size, pad=options.pad)]
    if operation == "blank":
        return [ops.blank_center(image)]
    if operation == "combine":
        return [ops.combine_ab(image, _read_b_image(task, image, options))]
    if operation == "edges":
        return [_edges(image, options)]
    if operation == "colorize":
        return _colorize(image, task, options)
    raise ValueError("unknown operation %r" % operation)


def _left_out_reason(task, reason):
    """The colour filter's reason, plus a warning if an earlier run's output is still there."""
    remaining = [output for output in task.outputs if os.path.exists(output)]
    if remaining:
        reason += "; an earlier output is still there: %s (delete it or use a fresh --output_dir)" % remaining[0]
    return reason


def _encoded_outputs(operation, task, options):
    """(bytes to write per output, None) or (None, why the photo is left out)."""
    data = image_io.read_file_bytes(task.source)
    image = image_io.decode_image(data, options.max_pixels, options.min_side)
    thresholds = options.colour_thresholds(operation)
    if thresholds.active:
        reason = colour_filter.rejection(colour_filter.colour_figures(image), thresholds)
        if reason:
            return None, _left_out_reason(task, reason)
    if operation == "filter_grey":
        return [data], None  # the very bytes that were judged
    images = produce_images(operation, task, options, image)
    return [image_io.encode_image(output, options.image_format, options.quality) for output in images], None


def run_task(operation, task, options):
    """Produce and atomically write a task's outputs; never raises for bad files."""
    try:
        encoded, left_out = _encoded_outputs(operation, task, options)
    except image_io.ImageError as error:
        return Outcome(task.source, error=str(error))
    except Exception as error:  # a bug or an OpenCV surprise: report it, keep going
        return Outcome(task.source, error="unexpected error: %s: %s" % (type(error).__name__, error))
    if left_out:
        return Outcome(task.source, left_out=left_out)
    written = 0
    for path, data in zip(task.outputs, encoded):
        try:
            image_io.write_bytes_atomically(path, data)
        except OSError as error:
            return Outcome(task.source, files_written=written,
                           error="cannot write %s: %s" % (path, error.strerror or error))
        written += 1
    return Outcome(task.source, files_written=written)


def _quit_on_sigterm(signum, frame):
    """Worker SIGTERM handler: remove a half-written temporary file, then exit
    at once (quietly; no traceback from wherever the signal landed)."""
    image_io.remove_unfinished_temporaries()
    os._exit(1)


def _init_worker():
    """Worker process setup.

    One OpenCV thread per process: the processes already use the cores, and
    extra threads would only compete. Ctrl-C is left to the parent, which
    stops the pool with SIGTERM; the handler cleans up temporary files.
    """
    cv2.setNumThreads(1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _quit_on_sigterm)


def _execute(operation, tasks, options, workers):
    """Yield an Outcome per task, from this process or a pool of ``workers``."""
    job = functools.partial(run_task, operation, options=options)
    if workers <= 1 or len(tasks) <= 1:
        for task in tasks:
            yield job(task)
        return
    # "spawn" rather than fork: forking a process that may hold OpenCV's
    # thread pool (or a notebook's threads) can deadlock, and spawn behaves
    # the same on every platform.
    context = multiprocessing.get_context("spawn")
    pool = context.Pool(processes=min(workers, len(tasks)), initializer=_init_worker)
    try:
        yield from pool.imap_unordered(job, tasks, chunksize=1)
        pool.close()  # normal end: let the workers exit by themselves
    except BaseException:  # Ctrl-C, or the caller stopped iterating
        pool.terminate()
        raise
    finally:
        pool.join()


def resolve_workers(workers):
    """Worker count: 0 means one per CPU; negative is an error."""
    if workers < 0:
        raise UsageError("--workers must be 0 (one per CPU) or more, got %d" % workers)
    return workers or os.cpu_count() or 1


def process_directory(operation, input_dir, output_dir, options=None, workers=1, reporter=None):
    """Apply ``operation`` to every image in ``input_dir``, writing to ``output_dir``.

    operation: one of IMAGE_OPERATIONS. options: an Options (defaults if None).
    workers: processes to use (0 = one per CPU). Bad parameters raise
    UsageError before anything is written; bad files are reported through
    ``reporter`` (default: stderr) and counted as failed in the returned Summary.
    """
    options = options or Options()
    if operation not in IMAGE_OPERATIONS:
        raise UsageError("--operation must be one of %s, got %r" % (", ".join(IMAGE_OPERATIONS), operation))
    options.validate()
    if operation not in COLOUR_FILTERED_OPERATIONS:
        for flag in ("min_colourfulness", "min_hue_spread"):
            if getattr(options, flag) is not None:
                raise UsageError("--%s only applies to --operation %s" % (flag, " and ".join(COLOUR_FILTERED_OPERATIONS)))
    check_directories(operation, input_dir, output_dir, options)
    workers = resolve_workers(workers)
    reporter = reporter or Reporter()
    started = time.monotonic()
    summary = Summary(operation, verb="copied" if operation == "filter_grey" else "written")
    if options.colour_thresholds(operation).active:
        summary.left_out = 0

    plan = plan_work(operation, input_dir, output_dir, options)
    for directory in plan.directories:
        os.makedirs(directory, exist_ok=True)
    summary.skipped = plan.skipped
    for label, reason in plan.failures:
        summary.failed += 1
        summary.failures.append((label, reason))
        reporter.file_failed(label, reason)

    reporter.start(len(plan.tasks))
    for outcome in _execute(operation, plan.tasks, options, workers):
        summary.files_written += outcome.files_written
        if outcome.error:
            summary.failed += 1
            summary.failures.append((outcome.label, outcome.error))
            reporter.file_failed(outcome.label, outcome.error)
        elif outcome.left_out:
            summary.left_out += 1
            summary.left_out_files.append((outcome.label, outcome.left_out))
            reporter.file_left_out(outcome.label, outcome.left_out)
        else:
            summary.written += 1
        reporter.advance()
    reporter.finish()
    summary.seconds = time.monotonic() - started
    return summary
