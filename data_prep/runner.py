"""Run an image operation over every image of a folder, with N worker processes.

The parent process plans the work (which file produces which output(s), which
outputs already exist, name clashes, missing combine partners, train/val/test
assignment); workers only read, transform and write single files. Every
result depends only on the file and the options, never on which worker or in
which order it ran, so any ``workers`` value gives byte-identical outputs.
"""

import functools
import multiprocessing
import os
import signal
import time

import cv2

from data_prep import colour_filter, edges, ops
from data_prep.options import COLOUR_FILTERED_OPERATIONS, DEFAULT_MIN_SIDE, DEFAULT_SIZE, IMAGE_OPERATIONS, Options
from data_prep.plan import Outcome, Task, check_directories, plan_work
from data_prep.report import Reporter, Summary, UsageError
from pix2pix.io import files as fileio
from pix2pix.io import images as image_io

__all__ = ["COLOUR_FILTERED_OPERATIONS", "DEFAULT_MIN_SIDE", "DEFAULT_SIZE", "IMAGE_OPERATIONS", "Options",
           "Outcome", "Task", "plan_work", "process_directory", "produce_images", "run_task"]


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
            fileio.atomic_write_bytes(path, data)
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
                raise UsageError("--%s only applies to --operation %s"
                                 % (flag, " and ".join(COLOUR_FILTERED_OPERATIONS)))
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
    summary.not_images = len(plan.not_images)
    for label, reason in plan.not_images:
        reporter.message("left alone %s: %s" % (label, reason))
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
