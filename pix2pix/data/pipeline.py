"""tf.data pipelines: listing image files, decoding, A|B / Lab / grey->RGB examples, jitter.

Data semantics are SPEC.md's "Data" section; how one file becomes inputs and targets is
the task's (tasks.py: pairs, lab, rgb; which_direction BtoA swaps them).
Images are in [-1, 1]. Training applies the same random flip, area resize to
scale_size and random crop to crop_size to inputs and targets.
"""

import dataclasses
import math
import sys
from typing import List, Tuple

import tensorflow as tf

from pix2pix.errors import Pix2PixError, error_line
from pix2pix.data.imaging import decode_rgb
from pix2pix.io.listing import list_image_files
from pix2pix.options.record import Options
from pix2pix.data.tasks import task_for

AUTOTUNE = tf.data.AUTOTUNE


def find_unreadable_images(paths: List[str], paired: bool) -> List[Tuple[str, str]]:
    """(path, reason) for every file that cannot be decoded or is too small to use.

    Decodes all files in parallel with tf.data; only the failures are decoded again,
    one by one, to get the reason. A pair image needs a width of at least 2.
    """
    min_width = 2 if paired else 1
    dataset = tf.data.Dataset.from_tensor_slices(paths)
    dataset = dataset.map(lambda p: (p, tf.shape(decode_rgb(tf.io.read_file(p)))),
                          num_parallel_calls=AUTOTUNE).ignore_errors()
    shapes = {}
    for batch_paths, batch_shapes in dataset.batch(1024):
        for path, shape in zip(batch_paths.numpy(), batch_shapes.numpy()):
            shapes[path.decode()] = shape

    problems = []
    for path in paths:
        if path not in shapes:
            problems.append((path, _decode_error(path)))
        elif shapes[path][1] < min_width:
            height, width = shapes[path][:2]
            problems.append((path, f"image is {width}x{height}, too small to use"))
    return problems


def _decode_error(path: str) -> str:
    """Why PATH does not decode, in one line."""
    try:
        decode_rgb(tf.io.read_file(path))
    except (tf.errors.OpError, ValueError) as err:
        message = error_line(err)
        return f"not a decodable image ({message})"
    return "not a decodable image"


def unusable_images_error(problems, total: int, advice: str, noun: str = "images") -> Pix2PixError:
    """One error for --input_dir naming every (path, reason) in PROBLEMS."""
    lines = "\n".join(f"  {path}: {why}" for path, why in problems)
    return Pix2PixError(f"--input_dir: {len(problems)} of {total} {noun} cannot be used:\n{lines}\n{advice}")


def check_images(paths: List[str], options: Options) -> List[str]:
    """The pre-flight check: the usable paths, or a clear error naming every unreadable file.

    With options.skip_bad_images the bad files are named on stderr and left out instead.
    """
    problems = find_unreadable_images(paths, paired=task_for(options).PAIRED)
    if not problems:
        return paths
    if not options.skip_bad_images or len(problems) == len(paths):
        raise unusable_images_error(problems, len(paths),
                                    "Remove or fix them, or pass --skip_bad_images to leave them out.")
    lines = "\n".join(f"  {path}: {why}" for path, why in problems)
    print(f"warning: leaving out {len(problems)} of {len(paths)} images that cannot be used:\n{lines}",
          file=sys.stderr, flush=True)
    bad = {path for path, _ in problems}
    return [p for p in paths if p not in bad]


# ------------------------------------------------------------------- examples
def split_example(image, options: Options):
    """[H, W, 3] RGB in [0, 1] -> (inputs, targets) in [-1, 1] for this task."""
    return task_for(options).split(image)


def _jitter(image, flip, offset, scale_size, crop_size):
    """Optional left-right flip, area resize to scale_size, crop at OFFSET to crop_size."""
    image = tf.cond(flip, lambda: tf.image.flip_left_right(image), lambda: image)
    image = tf.image.resize(image, [scale_size, scale_size], method="area")
    return image[offset[0]:offset[0] + crop_size, offset[1]:offset[1] + crop_size, :]


def _random_draws(seed, index, options: Options, training: bool):
    """(flip, offset) for element INDEX: stateless, so parallel maps stay repeatable."""
    if not training:
        return tf.constant(False), tf.zeros([2], tf.int32)
    element_seed = tf.random.experimental.stateless_fold_in(seed, index)
    flip_seed, crop_seed = tf.unstack(tf.random.experimental.stateless_split(element_seed, 2))
    flip = tf.logical_and(options.flip, tf.random.stateless_uniform([], flip_seed) < 0.5)
    span = options.scale_size - options.crop_size + 1
    offset = tf.random.stateless_uniform([2], crop_seed, 0, span, dtype=tf.int32)
    return flip, offset


def load_example(path, index, seed, options: Options, training: bool):
    """One file -> {"paths", "inputs" [S, S, Ci], "targets" [S, S, Ct]} with S = crop_size."""
    image = decode_rgb(tf.io.read_file(path))
    inputs, targets = split_example(image, options)
    flip, offset = _random_draws(seed, index, options, training)
    scale = options.scale_size if training else options.crop_size
    size = options.crop_size
    inputs = _jitter(inputs, flip, offset, scale, size)
    targets = _jitter(targets, flip, offset, scale, size)
    channels_in, channels_out = task_for(options).channels
    inputs.set_shape([size, size, channels_in])
    targets.set_shape([size, size, channels_out])
    return {"paths": path, "inputs": inputs, "targets": targets}


@dataclasses.dataclass
class Examples:
    """A batched dataset plus the facts the trainer needs about it."""

    dataset: tf.data.Dataset
    paths: List[str]
    count: int
    steps_per_epoch: int


def paired_dataset(options: Options, training: bool, seed: int = 0, start: int = 0) -> Examples:
    """The input pipeline for OPTIONS.input_dir.

    Training: shuffled every epoch, repeated forever, jittered, full batches; START
    skips that many examples of the stream (a resumed run continues where it stopped,
    with the same shuffles and random draws an uninterrupted run would have had).
    Test: every file once, in order, resized to crop_size, the last batch may be short.
    Elements are dicts: paths [N] string, inputs [N, S, S, Ci], targets [N, S, S, Ct].
    """
    paths = list_image_files(options.input_dir)
    if not options.skip_preflight:
        paths = check_images(paths, options)

    dataset = tf.data.Dataset.from_tensor_slices(paths)
    if training:
        dataset = dataset.shuffle(len(paths), seed=seed, reshuffle_each_iteration=True).repeat()
        dataset = dataset.skip(start)  # cheap: only file names are skipped, nothing is decoded
    seed_tensor = tf.constant([seed, 0], tf.int64)
    dataset = dataset.enumerate(start=start if training else 0).map(
        lambda index, path: load_example(path, index, seed_tensor, options, training),
        num_parallel_calls=AUTOTUNE, deterministic=True)
    if options.skip_bad_images:  # files that break after the pre-flight check
        dataset = dataset.ignore_errors(log_warning=True)
    dataset = dataset.batch(options.batch_size, drop_remainder=training).prefetch(AUTOTUNE)
    return Examples(dataset=dataset, paths=paths, count=len(paths),
                    steps_per_epoch=int(math.ceil(len(paths) / options.batch_size)))
