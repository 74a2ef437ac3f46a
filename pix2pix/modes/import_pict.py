"""Import mode for the TF1 demo's ``.pict`` files: a generator quantised to one byte per weight
(pix2pix.io.pict) becomes a training directory of this port.

    pix2pix --mode import --checkpoint FILE.pict --output_dir OUT

The file holds the generator's variables under their TF1 names (no discriminator, no Adam
state). The original's own exporter also keeps batch norm's moving statistics
(generator/decoder_2/batch_normalization/moving_mean, ...), which the original never uses (it
normalises with batch statistics): they are read, left out, and said so in one line. ngf, the
U-Net's depth (hence --crop_size) and --separable_conv are read off its shapes; a flag given
with another value is an error, and the channels must match --task and --which_direction. Every
weight is the codebook value nearest the original, so the imported generator differs from the
trained one by that rounding (the nearest code by plain distance: up to 0.505 of a mu-law bin,
pix2pix.io.pict). The discriminator starts from random weights, Adam afresh, at step 0.
"""

import dataclasses
import os
import re
import types

import numpy as np

from pix2pix.errors import Pix2PixError
from pix2pix.io.pict import is_pict_file, read_pict
from pix2pix.models.pix2pix_model import Pix2Pix
from pix2pix.models.pytorch_weights import check_unet_size
from pix2pix.modes.import_base import check_imported_channels, prepare_import_options, set_from_file, write_checkpoint
from pix2pix.modes.import_tf1 import describe_tf1_model, tf1_names
from pix2pix.modes.preparation import flags_given
from pix2pix.options.record import Options
from pix2pix.options.stored import OPTIONS_FILE

_ENCODER = re.compile(r"^generator/encoder_(\d+)/")
_MOVING_STATISTICS = re.compile(r"/batch_normalization/moving_(mean|variance)$")


def without_moving_statistics(weights):
    """(WEIGHTS without batch norm's moving statistics, how many were left out)."""
    kept = {name: value for name, value in weights.items() if not _MOVING_STATISTICS.search(name)}
    return kept, len(weights) - len(kept)


@dataclasses.dataclass(frozen=True)
class PictGenerator:
    """What a .pict file's shapes say about its generator."""
    ngf: int
    depth: int
    separable_conv: bool
    input_channels: int
    output_channels: int


def describe_generator(weights, path) -> PictGenerator:
    """PictGenerator of WEIGHTS ({TF1 name: array}); Pix2PixError if they hold no pix2pix U-Net."""
    separable = any("/separable_conv2d/" in name for name in weights)
    if separable:
        first_names = ("generator/encoder_1/separable_conv2d/depthwise_kernel",
                       "generator/encoder_1/separable_conv2d/pointwise_kernel")
        last_name = "generator/decoder_1/separable_conv2d/pointwise_kernel"
    else:
        first_names = ("generator/encoder_1/conv2d/kernel",) * 2
        last_name = "generator/decoder_1/conv2d_transpose/kernel"
    missing = [name for name in (*first_names, last_name) if name not in weights]
    if missing:
        raise Pix2PixError(f"--checkpoint: {path} holds no pix2pix generator (no {missing[0]})")
    last = weights[last_name].shape  # conv2d_transpose: [h, w, out, in]; pointwise: [1, 1, in, out]
    depth = len({match.group(1) for match in map(_ENCODER.match, weights) if match})
    return PictGenerator(ngf=weights[first_names[1]].shape[-1], depth=depth, separable_conv=separable,
                         input_channels=weights[first_names[0]].shape[2],
                         output_channels=last[-1] if separable else last[-2])


def load_generator(generator, weights, path) -> None:
    """Assign WEIGHTS to GENERATOR's variables by TF1 name; every one must fit and be used."""
    mapping = tf1_names(generator)
    for name, variable in mapping.items():
        if name not in weights:
            raise Pix2PixError(f"--checkpoint: {path} has no variable {name}, which the generator needs")
        if weights[name].shape != tuple(variable.shape):
            raise Pix2PixError(f"--checkpoint: variable {name} has shape {list(weights[name].shape)} in {path}, "
                               f"the generator needs {list(variable.shape)}")
    left_over = sorted(set(weights) - set(mapping))
    if left_over:
        raise Pix2PixError(f"--checkpoint: variable {left_over[0]} of {path} has no place in the generator"
                           + (f" (and {len(left_over) - 1} more)" if len(left_over) > 1 else ""))
    for name, variable in mapping.items():
        variable.assign(weights[name].astype(np.float32))


def import_pict(options: Options, explicit=None) -> str:
    """`--mode import` of a .pict file: write the training directory; returns its checkpoint prefix."""
    path = options.checkpoint
    if not is_pict_file(path):
        raise Pix2PixError(f"--checkpoint: {path} is not a .pict file")
    given = flags_given(options, explicit)
    weights, moving_statistics = without_moving_statistics(read_pict(path))
    facts = describe_generator(weights, path)
    check_unet_size(facts.ngf, facts.depth, facts.input_channels, facts.output_channels, weights,
                    f"--checkpoint: {path}", area=1 if facts.separable_conv else 16)
    options = set_from_file(options, given, path, ngf=facts.ngf, crop_size=2 ** facts.depth,
                            separable_conv=facts.separable_conv)
    options = prepare_import_options(options, explicit)  # and the reference's model only
    check_imported_channels(options, path, facts.input_channels, facts.output_channels)

    model = Pix2Pix(options)
    load_generator(model.generator, weights, path)
    prefix = write_checkpoint(model, options, options.output_dir, step=0)
    shapes = {name: value.shape for name, value in weights.items()}
    described = describe_tf1_model(types.SimpleNamespace(shapes=shapes))
    if moving_statistics:
        print(f"ignored {path}'s {moving_statistics} batch-norm moving statistics (moving_mean, moving_variance): "
              "the original normalises with each batch's own statistics and never uses them", flush=True)
    print(f"imported {path}: {described}; quantised to 256 values; the discriminator starts from "
          f"random weights\nwrote {prefix} and {os.path.join(options.output_dir, OPTIONS_FILE)}", flush=True)
    return prefix
