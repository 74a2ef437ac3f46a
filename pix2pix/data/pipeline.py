"""tf.data pipelines: listing image files, decoding, A|B / Lab / grey->RGB examples, jitter.

Data semantics are docs/reference.md#data-pipeline; how one file becomes inputs and targets is
the task's (tasks.py: pairs, lab, rgb; which_direction BtoA swaps them).
Images are in [-1, 1]. Training applies the same random flip, area resize to
scale_size and random crop to crop_size to inputs and targets (--preprocess
resize_and_crop, the reference's); the other --preprocess modes keep the photo's own
resolution or aspect ratio (docs/preprocessing.md).
"""

import dataclasses
import math
import sys
from typing import List, Tuple

import tensorflow as tf

from pix2pix.errors import Pix2PixError, error_line
from pix2pix.data.arrays import check_pairs_data, list_pairs, read_pair_tensors, reads_arrays
from pix2pix.data.imaging import decode_rgb, resize
from pix2pix.io.images import size_problems
from pix2pix.io.listing import list_image_files
from pix2pix.options.record import SHAPE_KEEPING_PREPROCESS, Options
from pix2pix.data.tasks import task_for

AUTOTUNE = tf.data.AUTOTUNE


_TIFF_MAGIC_NUMBERS = (b"II*\x00", b"MM\x00*")


def _decode_with_opencv(contents):
    """CONTENTS (a scalar string) decoded by OpenCV (pix2pix.io.images: size checked from the header
    first, 16-bit scaled), for the files TensorFlow cannot decode: [H, W, 3] float32 in [0, 1]."""
    from pix2pix.io.images import decode_image

    image = tf.numpy_function(lambda data: decode_image(bytes(data)), [contents], tf.uint8, stateful=False)
    image.set_shape([None, None, 3])
    return tf.image.convert_image_dtype(image, tf.float32)


def read_image_file(path):
    """The image file PATH (a string tensor) -> [H, W, 3] float32 in [0, 1]: TensorFlow's decoders
    for every listed extension but TIFF, which OpenCV decodes (pix2pix.io.listing)."""
    contents = tf.io.read_file(path)
    is_tiff = tf.reduce_any([tf.strings.substr(contents, 0, 4) == magic for magic in _TIFF_MAGIC_NUMBERS])
    return tf.cond(is_tiff, lambda: _decode_with_opencv(contents), lambda: decode_rgb(contents))


def find_unreadable_images(paths: List[str], paired: bool) -> List[Tuple[str, str]]:
    """(path, reason) for every file that cannot be decoded or is too small to use.

    Decodes all files in parallel with tf.data; only the failures are decoded again,
    one by one, to get the reason. A pair image needs a width of at least 2.
    """
    if not paths:  # from_tensor_slices([]) would be a float32 dataset
        return []
    min_width = 2 if paired else 1
    dataset = tf.data.Dataset.from_tensor_slices(paths)
    dataset = dataset.map(lambda p: (p, tf.shape(read_image_file(p))),
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
        read_image_file(path)
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

    Every file's size is read from its headers and checked against --max_pixels first (always,
    nothing decoded); the files are then decoded unless --skip_preflight.
    With options.skip_bad_images the bad files are named on stderr and left out instead.
    """
    problems = size_problems(paths, options.max_pixels)
    if not options.skip_preflight:
        oversized = {path for path, _ in problems}
        problems += find_unreadable_images([p for p in paths if p not in oversized],
                                           paired=task_for(options).PAIRED)
        order = {path: index for index, path in enumerate(paths)}
        problems.sort(key=lambda problem: order[problem[0]])
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
    """(flip, offset) for element INDEX: stateless, so parallel maps stay repeatable.

    resize_and_crop: OFFSET is the crop's corner in the scale_size square (the reference's
    draw). The other modes: two non-negative draws that _crop reduces modulo the span the
    photo's own size allows (the photo's size is known only once it is decoded)."""
    if not training:
        return tf.constant(False), tf.zeros([2], tf.int32)
    element_seed = tf.random.experimental.stateless_fold_in(seed, index)
    flip_seed, crop_seed = tf.unstack(tf.random.experimental.stateless_split(element_seed, 2))
    flip = tf.logical_and(options.flip, tf.random.stateless_uniform([], flip_seed) < 0.5)
    if options.preprocess == "resize_and_crop":
        span = options.scale_size - options.crop_size + 1
    else:
        span = 2**31 - 1
    offset = tf.random.stateless_uniform([2], crop_seed, 0, span, dtype=tf.int32)
    return flip, offset


def _mirror_indices(size, before, length):
    """LENGTH indices into an axis of SIZE (>= 1) from BEFORE places ahead of its start, mirrored past
    both ends (the edge not repeated, as REFLECT padding, but for any padding: photos smaller than it)."""
    period = tf.maximum(2 * size - 2, 1)
    steps = (tf.range(length) - before) % period
    return tf.where(steps < size, steps, period - steps)


def pad_to(image, height, width):
    """IMAGE [H, W, C] reflection-padded to at least HEIGHT x WIDTH, never cropped; the padding is split
    evenly, the odd pixel after (as export's --render_size), so the picture sits at padding_before."""
    size = tf.shape(image)[:2]
    padded = tf.maximum(size, tf.stack([height, width]))
    before = padding_before(padded, size)
    image = tf.gather(image, _mirror_indices(size[0], before[0], padded[0]), axis=0)
    return tf.gather(image, _mirror_indices(size[1], before[1], padded[1]), axis=1)


def padding_before(padded, size):
    """Where pad_to put a picture of SIZE [.., 2] in a padded one of PADDED [.., 2]: rows and columns above and left."""
    return (padded - size) // 2


def pad_to_multiple(image, multiple: int):
    """[H, W, C] reflection-padded (pad_to) up to the next multiples of MULTIPLE, what the generator needs."""
    size = tf.shape(image)[:2]
    padded = (size + multiple - 1) // multiple * multiple
    return pad_to(image, padded[0], padded[1])


def scaled_to_width(height, width, scale_size: int, min_height: int):
    """(height, width) scale_width gives a photo of HEIGHT x WIDTH (tensors or ints), as the PyTorch
    pix2pix's: SCALE_SIZE wide, the height in proportion rounded down, at least MIN_HEIGHT."""
    height = scale_size * height // width
    return (tf.maximum(height, min_height) if tf.is_tensor(height) else max(height, min_height)), scale_size


def scale_width(image, scale_size: int, min_height: int):
    """IMAGE resized as scaled_to_width says (imaging.resize: area when shrinking)."""
    size = tf.shape(image)[:2]
    height, width = scaled_to_width(size[0], size[1], scale_size, min_height)
    return resize(image, height, width)


def _crop(image, offset, crop_size: int, training: bool):
    """A CROP_SIZE square of IMAGE: at OFFSET modulo the span when training, the centre otherwise.
    A side shorter than CROP_SIZE is taken whole and reflection-padded (cut first, so a large photo
    is never copied whole)."""
    span = tf.maximum(tf.shape(image)[:2] - crop_size + 1, 1)
    corner = offset % span if training else (span - 1) // 2
    image = image[corner[0]:corner[0] + crop_size, corner[1]:corner[1] + crop_size, :]
    return pad_to(image, crop_size, crop_size)


def _preprocess_geometry(image, flip, offset, options: Options, training: bool):
    """--preprocess other than resize_and_crop on one [H, W, C] image: scale, crop or pad, flip."""
    mode = options.preprocess
    if mode.startswith("scale_width"):
        image = scale_width(image, options.scale_size, options.crop_size)
    if mode.endswith("crop"):
        image = _crop(image, offset, options.crop_size, training)
    image = tf.cond(flip, lambda: tf.image.flip_left_right(image), lambda: image)
    return image, tf.shape(image)[:2]


def _own_shape_example(image, flip, offset, options: Options, multiple: int):
    """(inputs, targets, size) for the modes that keep the photo's own resolution or aspect ratio.

    The geometry is done once for both sides, so they get the very same crop and flip: an A|B
    file's halves stacked on the channels, a colour photo before its split (cropping first also
    spares converting the whole photo to Lab). SIZE is the picture's [height, width] before the
    padding to MULTIPLE, the generator's (test mode crops the outputs back to it, at padding_before)."""
    task = task_for(options)
    training = offset is not None
    offset = tf.zeros([2], tf.int32) if offset is None else offset
    if task.PAIRED:
        half = tf.shape(image)[1] // 2
        image = tf.concat([image[:, :half], image[:, half:2 * half]], axis=-1)
    image, size = _preprocess_geometry(image, flip, offset, options, training)
    if task.PAIRED:
        image = tf.concat([image[..., :3], image[..., 3:]], axis=1)
    inputs, targets = split_example(image, options)
    if options.preprocess in SHAPE_KEEPING_PREPROCESS:
        inputs, targets = pad_to_multiple(inputs, multiple), pad_to_multiple(targets, multiple)
    return inputs, targets, size


def _own_shape_sides(inputs, targets, flip, offset, options: Options, multiple: int):
    """_own_shape_example for sides read apart (data at its own depth, pix2pix.data.arrays): the same
    geometry on both, stacked on the channels."""
    training = offset is not None
    offset = tf.zeros([2], tf.int32) if offset is None else offset
    image, size = _preprocess_geometry(tf.concat([inputs, targets], axis=-1), flip, offset, options, training)
    inputs, targets = image[..., :options.input_nc], image[..., options.input_nc:]
    if options.preprocess in SHAPE_KEEPING_PREPROCESS:
        inputs, targets = pad_to_multiple(inputs, multiple), pad_to_multiple(targets, multiple)
    return inputs, targets, size


def load_example(path, index, seed, options: Options, training: bool, side_multiple: int = 1, partner=None):
    """One file -> {"paths", "inputs" [H, W, Ci], "targets" [H, W, Ct], "sizes" [2]}.

    H = W = crop_size for resize_and_crop (test: the whole photo resized to it) and the crop
    modes; the photo's own (or scaled) shape padded to the generator's multiple for
    scale_width and none (padded to multiples of SIDE_MULTIPLE, the generator's), where "sizes"
    is the height and width before that padding. PARTNER (data read at its own depth): the B file
    of paired folders, "" for a side-by-side file; None for the 8-bit RGB pictures."""
    flip, offset = _random_draws(seed, index, options, training)
    size = options.crop_size
    if partner is not None:
        inputs, targets = read_pair_tensors(path, partner, options)
        if options.preprocess == "resize_and_crop":
            scale = options.scale_size if training else options.crop_size
            inputs = _jitter(inputs, flip, offset, scale, size)
            targets = _jitter(targets, flip, offset, scale, size)
            sizes = tf.constant([size, size], tf.int32)
        else:
            inputs, targets, sizes = _own_shape_sides(inputs, targets, flip, offset if training else None, options,
                                                      side_multiple)
        return _shaped(path, inputs, targets, sizes, options)
    image = read_image_file(path)
    if options.preprocess == "resize_and_crop":
        inputs, targets = split_example(image, options)
        scale = options.scale_size if training else options.crop_size
        inputs = _jitter(inputs, flip, offset, scale, size)
        targets = _jitter(targets, flip, offset, scale, size)
        sizes = tf.constant([size, size], tf.int32)
    else:
        inputs, targets, sizes = _own_shape_example(image, flip, offset if training else None, options,
                                                    side_multiple)
    return _shaped(path, inputs, targets, sizes, options)


def _shaped(path, inputs, targets, sizes, options: Options):
    """load_example's element, its static shapes set."""
    size = options.crop_size
    side = None if options.preprocess in SHAPE_KEEPING_PREPROCESS else size
    channels_in, channels_out = task_for(options).channels
    inputs.set_shape([side, side, channels_in])
    targets.set_shape([side, side, channels_out])
    return {"paths": path, "inputs": inputs, "targets": targets, "sizes": sizes}


@dataclasses.dataclass
class Examples:
    """A batched dataset plus the facts the trainer needs about it."""

    dataset: tf.data.Dataset
    paths: List[str]
    count: int
    steps_per_epoch: int


def paired_dataset(options: Options, training: bool, seed: int = 0, start: int = 0,
                   side_multiple: int = 1) -> Examples:
    """The input pipeline for OPTIONS.input_dir.

    Training: shuffled every epoch, repeated forever, jittered, full batches; START
    skips that many examples of the stream (a resumed run continues where it stopped,
    with the same shuffles and random draws an uninterrupted run would have had).
    Test: every file once, in order, resized to crop_size, the last batch may be short.
    Elements are dicts: paths [N] string, inputs [N, S, S, Ci], targets [N, S, S, Ct], sizes
    [N, 2] (load_example: S and the sizes follow --preprocess; shapes that are not crops are
    padded to multiples of SIDE_MULTIPLE, the generator's: models.networks.side_multiple).
    """
    if reads_arrays(options):
        pairs, _ = check_pairs_data(list_pairs(options), options)
        paths, partners = [a for a, _ in pairs], [b for _, b in pairs]
    else:
        paths, partners = check_images(list_image_files(options.input_dir), options), None

    dataset = tf.data.Dataset.from_tensor_slices(paths if partners is None else (paths, partners))
    if training:
        dataset = dataset.shuffle(len(paths), seed=seed, reshuffle_each_iteration=True).repeat()
        dataset = dataset.skip(start)  # cheap: only file names are skipped, nothing is decoded
    seed_tensor = tf.constant([seed, 0], tf.int64)

    def load(index, element):
        path, partner = element if partners is not None else (element, None)
        return load_example(path, index, seed_tensor, options, training, side_multiple, partner)

    # do_not_convert: load_example branches in Python on options only; autograph's conversion costs CPU, nothing else.
    dataset = dataset.enumerate(start=start if training else 0).map(
        tf.autograph.experimental.do_not_convert(load), num_parallel_calls=AUTOTUNE, deterministic=True)
    if options.skip_bad_images:  # files that break after the pre-flight check
        dataset = dataset.ignore_errors(log_warning=True)
    dataset = dataset.batch(options.batch_size, drop_remainder=training).prefetch(AUTOTUNE)
    return Examples(dataset=dataset, paths=paths, count=len(paths),
                    steps_per_epoch=int(math.ceil(len(paths) / options.batch_size)))
