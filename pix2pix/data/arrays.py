"""Data read at its own depth and channel count: which files pair up, what they hold, and one pair as
network values (docs/channels.md).

The pairs task reads its data here, instead of as 8-bit RGB pictures, when --input_nc or --output_nc
is not 3, when --input_dir holds paired folders A/ and B/ (files of the same base name are a pair,
needed when the sides differ in channels, type or format), or when the model was trained so
(--data_types, found in the data by training and kept in options.json). Side-by-side A|B files
stay the default layout; both their halves hold the same channels.

Every file's layout (height, width, channels, sample type) is read from its header first
(pix2pix.io.arrays.read_layout: --max_pixels holds), and a file whose channels or type are not the
model's is refused by name before anything is decoded.
"""

import dataclasses
import os
import sys
from typing import List, Optional, Tuple

import numpy as np
import tensorflow as tf

from pix2pix.errors import Pix2PixError, UsageError
from pix2pix.io.arrays import ARRAY_EXTENSIONS, Layout, check_layout, read_array, read_layout
from pix2pix.io.images import ImageError
from pix2pix.io.listing import list_image_files, scan_folder
from pix2pix.io.samples import ValueMapping, parse_data_types, value_mapping

SIDE_FOLDERS = ("A", "B")


def paired_folders(input_dir: Optional[str]) -> bool:
    """True when INPUT_DIR holds the folders A/ and B/ (paired folders) and no image file of its own (a
    folder of A|B files is read as ever, whatever subfolders it has)."""
    return (bool(input_dir) and all(os.path.isdir(os.path.join(input_dir, side)) for side in SIDE_FOLDERS)
            and not scan_folder(input_dir, ARRAY_EXTENSIONS).paths)


def reads_arrays(options) -> bool:
    """True when OPTIONS' model reads its data at its own depth (its --data_types are known), not as
    8-bit RGB pictures."""
    return options.task == "pairs" and bool(options.data_types)


def trains_on_arrays(options) -> bool:
    """True when a training run reads its data at its own depth: --data_types given (or stored, on
    resuming), --input_nc or --output_nc other than 3, or paired folders in --input_dir."""
    return options.task == "pairs" and bool(
        options.data_types or (options.input_nc, options.output_nc) != (3, 3) or paired_folders(options.input_dir))


def side_mappings(options) -> Tuple[ValueMapping, ValueMapping]:
    """(input mapping, target mapping) of a model whose --data_types are known."""
    input_type, target_type = parse_data_types(options.data_types)
    return value_mapping(input_type, options.value_range), value_mapping(target_type, options.value_range)


# ------------------------------------------------------------------ listing
def list_pairs(options) -> List[Tuple[str, str]]:
    """[(A path, B path)] of --input_dir: paired folders matched by base name, else side-by-side files
    ("" as the B path). A file without its partner is refused by name (left out with --skip_bad_images)."""
    input_dir = options.input_dir
    if not paired_folders(input_dir):
        if options.input_nc != options.output_nc:
            raise UsageError(f"--output_nc: {options.output_nc} differs from --input_nc {options.input_nc}, but "
                             f"{input_dir} holds side-by-side A|B files, whose halves have the same channels: put the "
                             "sides in paired folders A/ and B/ (files of the same names)")
        return [(path, "") for path in list_image_files(input_dir, ARRAY_EXTENSIONS, noun="image or .npy files")]
    a_dir, b_dir = (os.path.join(input_dir, side) for side in SIDE_FOLDERS)
    a_paths = list_image_files(a_dir, ARRAY_EXTENSIONS, noun="image or .npy files")
    partners = {os.path.splitext(os.path.basename(path))[0]: path
                for path in scan_folder(b_dir, ARRAY_EXTENSIONS).paths}
    pairs, missing = [], []
    for path in a_paths:
        partner = partners.get(os.path.splitext(os.path.basename(path))[0])
        if partner:
            pairs.append((path, partner))
        else:
            missing.append((path, f"no file of the same base name in {b_dir}"))
    _refuse_or_warn(missing, len(a_paths), options)
    return pairs


def _refuse_or_warn(problems, total: int, options) -> None:
    """The pipeline's rule for unusable files (pipeline.check_images): refused, named, unless
    --skip_bad_images leaves them out (a warning naming them)."""
    if not problems:
        return
    lines = "\n".join(f"  {path}: {why}" for path, why in problems)
    if not options.skip_bad_images or len(problems) == total:
        raise Pix2PixError(f"--input_dir: {len(problems)} of {total} files cannot be used:\n{lines}\n"
                           "Remove or fix them, or pass --skip_bad_images to leave them out.")
    print(f"warning: leaving out {len(problems)} of {total} files that cannot be used:\n{lines}",
          file=sys.stderr, flush=True)


# ------------------------------------------------------------------ layouts
def pair_layouts(pair: Tuple[str, str], max_pixels: int) -> Tuple[Layout, Layout]:
    """(layout of side A, layout of side B) from the headers (a side-by-side file split at width // 2)."""
    a_path, b_path = pair
    a = read_layout(a_path, max_pixels)
    if b_path:
        b = read_layout(b_path, max_pixels)
        if (a.height, a.width) != (b.height, b.width):
            raise ImageError(f"is {a.width}x{a.height} but its partner {b_path} is {b.width}x{b.height}")
        return a, b
    if a.width < 2:
        raise ImageError(f"image is {a.width}x{a.height}, too small to use")
    half = dataclasses.replace(a, width=a.width // 2)
    return half, half


def _sides(options):
    """(what side A is, what side B is) for the model: "input" and "target" in the direction's order."""
    return ("input", "target") if options.which_direction == "AtoB" else ("target", "input")


def check_pairs_data(pairs, options) -> Tuple[List[Tuple[str, str]], str]:
    """(the usable PAIRS, their --data_types "INPUT,TARGET") after reading every file's header: each
    side must hold the model's channels (--input_nc, --output_nc) and the sample types of --data_types
    (when given or stored; else those of the first pair, which every other must share). A file that
    does not is named with what was expected."""
    channels = {"input": options.input_nc, "target": options.output_nc}
    types = dict(zip(("input", "target"), parse_data_types(options.data_types))) if options.data_types else {}
    usable, problems = [], []
    for pair in pairs:
        try:
            layouts = pair_layouts(pair, options.max_pixels)
            for path, layout, side in zip((pair[0], pair[1] or pair[0]), layouts, _sides(options)):
                check_layout(path, layout, channels[side], types.get(side), side)
                types.setdefault(side, layout.sample_type)
        except (ImageError, Pix2PixError) as err:
            problems.append((pair[0], str(err).removeprefix(f"{pair[0]}: ")))
            continue
        usable.append(pair)
    _refuse_or_warn(problems, len(pairs), options)
    data_types = f"{types['input']},{types['target']}"
    if options.value_range and "float32" not in types.values():
        raise UsageError(f"--value_range: applies to float32 data; {options.input_dir} holds {data_types}")
    return usable, data_types


def with_data_types(options):
    """OPTIONS with --data_types found in --input_dir's data (training: kept in options.json), when the
    data is read at its own depth; unchanged otherwise."""
    if not trains_on_arrays(options):
        return options
    _, data_types = check_pairs_data(list_pairs(options), options)
    return dataclasses.replace(options, data_types=data_types)


# ------------------------------------------------------------------ one pair
def pair_values(pair: Tuple[str, str], options) -> Tuple[np.ndarray, np.ndarray]:
    """(inputs [H, W, Ci], targets [H, W, Co]) float32 in [-1, 1] of one pair, each side mapped by its
    sample type (side_mappings); ImageError or Pix2PixError naming the file that does not fit."""
    a_path, b_path = pair
    a = read_array(a_path, options.max_pixels)
    if b_path:
        b = read_array(b_path, options.max_pixels)
    else:
        half = a.shape[1] // 2
        a, b = a[:, :half], a[:, half:2 * half]
    input_mapping, target_mapping = side_mappings(options)
    channels = {"input": options.input_nc, "target": options.output_nc}
    mappings = {"input": input_mapping, "target": target_mapping}
    values = {}
    for path, array, side in zip((a_path, b_path or a_path), (a, b), _sides(options)):
        layout = Layout(array.shape[0], array.shape[1], array.shape[2], array.dtype.name)
        check_layout(path, layout, channels[side], mappings[side].sample_type, side)
        values[side] = mappings[side].to_network(array)
    return values["input"], values["target"]


def read_pair_tensors(a_path, b_path, options):
    """pair_values inside tf.data: string tensors -> (inputs [H, W, Ci], targets [H, W, Co]) float32."""
    def load(a, b):
        return pair_values((a.decode(), b.decode()), options)

    inputs, targets = tf.numpy_function(load, [a_path, b_path], (tf.float32, tf.float32), stateful=False)
    inputs.set_shape([None, None, options.input_nc])
    targets.set_shape([None, None, options.output_nc])
    return inputs, targets


def to_network_tensor(mapping: ValueMapping, samples):
    """MAPPING.to_network on a tensor of samples: float32 in [-1, 1]."""
    return (tf.cast(samples, tf.float32) - mapping.low) / (mapping.high - mapping.low) * 2.0 - 1.0


def from_network_tensor(mapping: ValueMapping, values):
    """MAPPING.from_network on a tensor of network values: samples of its type (integers rounded, clipped)."""
    samples = (tf.cast(values, tf.float64) + 1.0) / 2.0 * (mapping.high - mapping.low) + mapping.low
    if mapping.sample_type == "float32":
        return tf.cast(samples, tf.float32)
    top = float(np.iinfo(mapping.sample_type).max)
    return tf.cast(tf.clip_by_value(tf.round(samples), 0.0, top), mapping.sample_type)
