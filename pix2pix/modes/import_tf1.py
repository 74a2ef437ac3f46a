"""Import mode for a checkpoint of the TF1 reference: it becomes one this port trains, tests and exports.

    pix2pix --mode import --checkpoint TF1_DIR --output_dir OUT

TF1_DIR holds what the reference's training wrote: `checkpoint`, `model-N.index`,
`model-N.data-*` and, usually, `options.json`. The model options come from that options.json
when present (a flag given on the command line must agree with it), else from the flags.

The reference's variables map one to one onto
this port's layers: `generator/encoder_3/conv2d/kernel` is layer `encoder_3_conv`'s `kernel`,
`.../batch_normalization/gamma` is the `encoder_3_bn` layer's `gamma`, and so on. Keras 3
stores Conv2DTranspose kernels as [h, w, out, in], the layout TF1 wrote, so no weight is
transposed. Batch-norm moving averages are dropped (both implementations always normalise
with batch statistics). Adam's slots (`VAR/Adam`, `VAR/Adam_1`) and `global_step` are carried
over when present, so training resumed from OUT continues as the reference would have.

OUT receives a training directory (import_base.write_checkpoint).
"""

import glob
import os
import re
from typing import Dict

import keras
import numpy as np
import tensorflow as tf

from pix2pix.data.tasks import task_for
from pix2pix.errors import Pix2PixError, error_line
from pix2pix.io.files import check_output_dir
from pix2pix.models.norms import BatchStatsNorm
from pix2pix.models.pix2pix_model import Pix2Pix
from pix2pix.modes.import_base import prepare_import_options, write_checkpoint
from pix2pix.options.record import Options
from pix2pix.options.stored import OPTIONS_FILE

# Keras layer class -> the tf.compat.v1.layers scope the reference's variables live under.
_TF1_LAYER_SCOPES = (
    (keras.layers.SeparableConv2D, "separable_conv2d"),
    (keras.layers.Conv2DTranspose, "conv2d_transpose"),
    (keras.layers.Conv2D, "conv2d"),
    (BatchStatsNorm, "batch_normalization"),
)
# Keras layer names: encoder_3_conv, decoder_2_deconv, layer_4_bn, ... -> scope encoder_3 etc.
_LAYER_NAME = re.compile(r"^((?:encoder|decoder|layer)_\d+)_(?:conv|deconv|bn)$")
# Reference variables with no counterpart here: batch norm's moving averages (batch
# statistics are used in training and test alike) and Adam's bias-correction powers
# (Keras derives them from the step count).
_UNUSED = re.compile(r"/moving_(mean|variance)$|(^|/)beta[12]_power(_\d+)?$")
_ADAM_SLOTS = ("Adam", "Adam_1")  # first and second moment
_ADAM_SLOT = re.compile(r"/Adam(_1)?$")


# ---------------------------------------------------------------------------- reading
def find_tf1_checkpoint(path: str) -> str:
    """The newest checkpoint prefix in directory PATH (or PATH itself if it is a prefix)."""
    if not path:
        raise Pix2PixError("--checkpoint: is required for --mode import (the TF1 training "
                           "output directory)")
    if os.path.isfile(path + ".index"):
        return path
    if not os.path.isdir(path):
        raise Pix2PixError(f"--checkpoint: {path} is neither a checkpoint directory nor a "
                           "checkpoint prefix")
    # The reference's Saver recorded paths as given at training time (often relative to
    # another working directory, or absolute on another machine), so the `checkpoint`
    # file of a copied or downloaded model may point nowhere: then go by the file names.
    prefix = tf.train.latest_checkpoint(path) or _newest_prefix_by_name(path)
    if prefix is None:
        raise Pix2PixError(f"--checkpoint: no checkpoint found in {path} (expected the "
                           "reference's model-N.index and model-N.data-* files)")
    return prefix


def _newest_prefix_by_name(directory: str):
    """DIRECTORY/NAME-STEP for the NAME-STEP.index with the highest STEP, or None."""
    def step(index_path):
        match = re.search(r"-(\d+)\.index$", index_path)
        return int(match.group(1)) if match else -1

    indexes = glob.glob(os.path.join(glob.escape(directory), "*.index"))
    return max(indexes, key=step)[:-len(".index")] if indexes else None


class Tf1Checkpoint:
    """A name-based (TF1) checkpoint: variable shapes up front, values read when asked for."""

    def __init__(self, prefix: str):
        try:
            self._reader = tf.train.load_checkpoint(prefix)
            self.shapes = {name: tuple(shape) for name, shape in
                           self._reader.get_variable_to_shape_map().items()}
        except (tf.errors.OpError, ValueError) as err:
            raise Pix2PixError(f"--checkpoint: cannot read {prefix}: "
                               f"{error_line(err)}") from None
        if "_CHECKPOINTABLE_OBJECT_GRAPH" in self.shapes:
            raise Pix2PixError(f"--checkpoint: {prefix} is already a TF2 checkpoint (written "
                               "by this port); use it directly, no import needed")
        self.prefix = prefix

    def __contains__(self, name: str) -> bool:
        return name in self.shapes

    def value(self, name: str) -> np.ndarray:
        return self._reader.get_tensor(name)


def describe_tf1_model(checkpoint: Tf1Checkpoint) -> str:
    """What the checkpoint's shapes say about its model, for error messages."""
    shapes = checkpoint.shapes
    separable = any(n.startswith("generator/") and "/separable_conv2d/" in n for n in shapes)
    depth = len({m.group(1) for m in (re.match(r"generator/encoder_(\d+)/", n) for n in shapes) if m})
    if separable:
        first = shapes.get("generator/encoder_1/separable_conv2d/pointwise_kernel")
        last = shapes.get("generator/decoder_1/separable_conv2d/pointwise_kernel")
        out_channels = last[-1] if last else None
    else:
        first = shapes.get("generator/encoder_1/conv2d/kernel")
        last = shapes.get("generator/decoder_1/conv2d_transpose/kernel")  # [h, w, out, in]
        out_channels = last[-2] if last else None
    first_input = shapes.get("generator/encoder_1/separable_conv2d/depthwise_kernel"
                             if separable else "generator/encoder_1/conv2d/kernel")
    parts = []
    if first:
        parts.append(f"ngf={first[-1]}")
    if first_input and out_channels:
        parts.append(f"{first_input[2]} -> {out_channels} channels")
    if depth:
        parts.append(f"{depth} U-Net levels (crop_size {2 ** depth})")
    parts.append(f"separable_conv={separable}")
    discriminator = shapes.get("discriminator/layer_1/conv2d/kernel")
    if discriminator:
        parts.append(f"ndf={discriminator[-1]}")
    return "the checkpoint holds a model with " + ", ".join(parts)


# ---------------------------------------------------------------------------- mapping
def tf1_names(network: keras.Model) -> Dict[str, tf.Variable]:
    """{reference variable name: this port's variable} for every trainable weight of NETWORK.

    NETWORK is the generator or the discriminator; its name is the reference's top scope.
    """
    mapping = {}
    for layer in network.layers:
        if not layer.trainable_weights:
            continue
        match = _LAYER_NAME.match(layer.name)
        scope = next((s for cls, s in _TF1_LAYER_SCOPES if isinstance(layer, cls)), None)
        if match is None or scope is None:  # a layer the reference did not have: a bug here
            raise AssertionError(f"no reference name for layer {layer.name}")
        for weight in layer.trainable_weights:
            mapping[f"{network.name}/{match.group(1)}/{scope}/{weight.name}"] = weight
    return mapping


def _check_present(checkpoint: Tf1Checkpoint, name: str, what: str) -> None:
    if name not in checkpoint:
        raise Pix2PixError(f"--checkpoint: variable {name} is missing from the TF1 checkpoint, "
                           f"but {what} needs it")


def _check_shape(variable, checkpoint: Tf1Checkpoint, name: str, what: str) -> None:
    if checkpoint.shapes[name] != tuple(variable.shape):
        raise Pix2PixError(f"--checkpoint: variable {name} has shape {list(checkpoint.shapes[name])} "
                           f"in the TF1 checkpoint, but {what} needs {list(variable.shape)}")


def _adam_slots(optimizer, variable):
    """(first moment, second moment) variables of a built Keras 3 Adam for VARIABLE, or None."""
    try:
        index = optimizer._get_variable_index(variable)  # Keras 3 keeps its slots in lists
        return optimizer._momentums[index], optimizer._velocities[index]
    except (AttributeError, KeyError, IndexError):  # another Keras: start Adam afresh
        return None


def _finite_value(checkpoint: Tf1Checkpoint, name: str) -> np.ndarray:
    """The float32 value of variable NAME; Pix2PixError if any element is NaN or infinite (such a
    generator only draws black pictures, and training from it cannot recover)."""
    value = checkpoint.value(name).astype(np.float32)
    finite = np.isfinite(value)
    if not finite.all():
        bad = int(value.size - np.count_nonzero(finite))
        raise Pix2PixError(f"--checkpoint: variable {name} of the TF1 checkpoint holds {bad} non-finite "
                           f"value{'s' if bad != 1 else ''} (NaN or infinity) of {value.size}; "
                           "nothing was imported")
    return value


def _global_step(checkpoint: Tf1Checkpoint) -> int:
    """The checkpoint's global_step (0 if it has none); Pix2PixError unless a whole number >= 0."""
    if "global_step" not in checkpoint:
        return 0
    value = np.asarray(checkpoint.value("global_step"))
    if value.shape != () or not np.issubdtype(value.dtype, np.integer) or int(value) < 0:
        shown = value.tolist() if value.size <= 4 else f"an array of shape {list(value.shape)}"
        raise Pix2PixError(f"--checkpoint: global_step of the TF1 checkpoint is {shown}; expected a "
                           "whole number of steps >= 0, nothing was imported")
    return int(value)


def load_tf1_weights(model: Pix2Pix, checkpoint: Tf1Checkpoint, what: str) -> dict:
    """Assign the reference's variables to MODEL; returns what was carried over.

    Every weight of both networks must be found with the same shape, and every reference
    variable of the two networks must be used or known to be unneeded; otherwise a
    Pix2PixError names the variable. WHAT describes the model for those messages. Adam's
    slots are carried over only if the checkpoint has them for every weight.
    """
    pairs = []  # (this port's variable, reference name)
    slot_pairs = []
    for network, optimizer in ((model.generator, model.generator_optimizer),
                               (model.discriminator, model.discriminator_optimizer)):
        for name, variable in tf1_names(network).items():
            _check_present(checkpoint, name, what)
            pairs.append((variable, name))
            slots = _adam_slots(optimizer, variable)
            for slot, slot_name in zip(slots or (), (f"{name}/{s}" for s in _ADAM_SLOTS)):
                slot_pairs.append((slot, slot_name))
    with_optimizer = bool(slot_pairs) and len(slot_pairs) == 2 * len(pairs) and all(
        name in checkpoint for _, name in slot_pairs)
    if with_optimizer:
        pairs += slot_pairs

    # Left-overs before shapes: a U-Net of another depth is best told by its extra layers.
    used = {name for _, name in pairs}

    def needed(name):  # a variable of the two networks that should have found a place
        return (name.split("/")[0] in ("generator", "discriminator") and name not in used
                and not _UNUSED.search(name) and (with_optimizer or not _ADAM_SLOT.search(name)))

    left_over = sorted(filter(needed, checkpoint.shapes))
    if left_over:
        more = f" (and {len(left_over) - 1} more)" if len(left_over) > 1 else ""
        raise Pix2PixError(f"--checkpoint: variable {left_over[0]} of the TF1 checkpoint has no "
                           f"place in {what}{more}")
    for variable, name in pairs:
        _check_shape(variable, checkpoint, name, what)

    step = _global_step(checkpoint)  # before any weight is read: a bad step fails fast
    for variable, name in pairs:
        variable.assign(_finite_value(checkpoint, name))
    model.global_step.assign(step)
    if with_optimizer:
        model.generator_optimizer.iterations.assign(step)  # both ran once per reference step
        model.discriminator_optimizer.iterations.assign(step)
    return {"global_step": step, "optimizer_state": with_optimizer}


# ---------------------------------------------------------------------------- importing
def import_tf1(options: Options, explicit_flag_names=None) -> str:
    """`--mode import` of a TF1 checkpoint: write the training directory; returns its checkpoint prefix."""
    prefix = find_tf1_checkpoint(options.checkpoint)
    options = prepare_import_options(options, explicit_flag_names)
    if os.path.exists(options.output_dir):
        check_output_dir(os.path.abspath(options.output_dir), reuse="empty")
    checkpoint = Tf1Checkpoint(prefix)
    describe = describe_tf1_model(checkpoint)

    model = Pix2Pix(options)
    what = (f"the model these options describe (ngf={options.ngf}, ndf={options.ndf}, "
            f"crop_size={options.crop_size}, separable_conv={options.separable_conv}, "
            f"channels {task_for(options).channels[0]} -> {task_for(options).channels[1]}); {describe}")
    carried = load_tf1_weights(model, checkpoint, what)
    path = write_checkpoint(model, options, options.output_dir, carried["global_step"])
    optimizer = ("Adam state carried over" if carried["optimizer_state"]
                 else "fresh Adam state (none in the TF1 checkpoint)")
    print(f"imported {prefix}: {describe}; step {carried['global_step']}, {optimizer}\n"
          f"wrote {path} and {os.path.join(options.output_dir, OPTIONS_FILE)}", flush=True)
    return path

