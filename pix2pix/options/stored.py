"""options.json: writing a run's options, reading them back, and merging them into new options.

A training directory keeps the options it was trained with in options.json; test, export,
infer, serve and a resumed training read the model's options back from it. An export keeps
the same file in its assets. No TensorFlow here.
"""

import dataclasses
import json
import os

from pix2pix.errors import Pix2PixError, UsageError
from pix2pix.io.files import atomic_write_text
from pix2pix.options.checkpoint_dirs import OPTIONS_FILE, SAVED_MODEL_FILE, describe_checkpoint_dir
from pix2pix.options.record import Options, with_task_aliases
from pix2pix.options.types import check_stored_types

# Options that define the network's shape and data semantics. Test and export read these
# back from the checkpoint's options.json (the reference read the first four; the others
# are ours and are needed to rebuild the same model).
MODEL_OPTIONS = (
    "which_direction", "ngf", "ndf", "lab_colorization",
    "rgb_colorization", "separable_conv", "crop_size", "task",
    "netG", "netD", "n_layers_D", "norm", "condition_GAN", "gan_mode", "no_dropout",
    "update_order", "bn_statistics", "input_nc", "output_nc", "data_types", "value_range",
)
# What a stored options.json written before a model option existed means by its absence.
STORED_BEFORE = {"update_order": "simultaneous", "bn_statistics": "batch"}
# Options a resumed run may change (the log says so); everything else of the model is fixed.
SCHEDULE_OPTIONS = ("lr_policy", "n_epochs_decay", "lr_decay_iters")
# The preprocessing fields test, export, infer and serve read back from a training's options.json
# unless given explicitly (at test time --preprocess none may score a square-trained model's whole
# photos), and what each training mode becomes there: a model trained on crops at the photo's own
# resolution sees whole photos at their own resolution.
PREPROCESS_OPTIONS = ("preprocess", "scale_size")
PREPROCESS_AFTER_TRAINING = {"resize_and_crop": "resize_and_crop", "crop": "none", "none": "none",
                             "scale_width": "scale_width", "scale_width_and_crop": "scale_width"}
# The flags that shape an export, fixed in its SavedModel: asking for another value is an error.
EXPORT_OPTIONS = ("deterministic", "output_filetype", "render_size", "max_render_pixels",
                  "mixed_precision") + PREPROCESS_OPTIONS


def follow_training_preprocess(options: Options, stored: dict, given) -> Options:
    """OPTIONS with --preprocess and --scale_size as the training STORED them (PREPROCESS_AFTER_TRAINING:
    crops of the photo's own resolution become whole photos), except those named in GIVEN."""
    updates = {name: stored[name] for name in PREPROCESS_OPTIONS if name not in given and name in stored}
    if "preprocess" in updates:
        updates["preprocess"] = PREPROCESS_AFTER_TRAINING.get(updates["preprocess"], updates["preprocess"])
    return dataclasses.replace(options, **updates)


def save_options(options: Options, directory: str) -> str:
    """Write DIRECTORY/options.json (sorted keys, like the reference), atomically."""
    path = os.path.join(directory, OPTIONS_FILE)
    atomic_write_text(path, json.dumps(options.to_dict(), sort_keys=True, indent=4))
    return path


def is_saved_model(directory) -> bool:
    return bool(directory) and os.path.isfile(os.path.join(directory, SAVED_MODEL_FILE))


def read_options_file(directory: str) -> dict:
    """The dict stored in DIRECTORY/options.json, with a clear error if absent or broken."""
    path = os.path.join(directory, OPTIONS_FILE)
    if not os.path.isfile(path):
        raise Pix2PixError(f"--checkpoint: {describe_checkpoint_dir(directory)}")
    try:
        with open(path, encoding="utf-8") as f:
            stored = json.load(f)
    except (OSError, ValueError) as err:
        raise Pix2PixError(f"--checkpoint: cannot read {path}: {err}") from None
    except RecursionError:
        raise Pix2PixError(f"--checkpoint: cannot read {path}: its JSON is nested too deep") from None
    if not isinstance(stored, dict):
        raise Pix2PixError(f"--checkpoint: {path} does not hold a JSON object")
    check_stored_types(stored, path)
    _check_stored_sizes(stored, path)
    return stored


# Sizes a network is built from, bounded before anything is built: the paper's networks have
# ngf = ndf = 64 and crop_size 256; a U-Net of ngf 1024 would already hold 14 billion weights.
MAX_STORED_SIZES = {"ngf": 1024, "ndf": 1024, "n_layers_D": 16, "crop_size": 16384, "scale_size": 16384}


def _check_stored_sizes(stored: dict, path: str) -> None:
    for key, most in MAX_STORED_SIZES.items():
        value = stored.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and not 1 <= value <= most:
            shown = str(value) if len(str(value)) <= 24 else f"{str(value)[:20]}... ({len(str(value))} digits)"
            raise Pix2PixError(f"--checkpoint: {path}: {key} is {shown}; a network is built from it only "
                               f"between 1 and {most}")


def with_model_options(options: Options, stored: dict) -> Options:
    """A copy of OPTIONS whose model-defining fields come from a stored options dict.

    Missing keys keep the reference defaults (older checkpoints may lack our additions).
    """
    known = {f.name for f in dataclasses.fields(Options)}
    updates = {k: stored[k] for k in MODEL_OPTIONS if k in stored and k in known}
    if "task" not in stored:  # written before tasks had names: the booleans say which
        updates["task"] = with_task_aliases(Options(lab_colorization=bool(stored.get("lab_colorization")),
                                                    rgb_colorization=bool(stored.get("rgb_colorization")))).task
    return dataclasses.replace(options, **updates)


def merge_stored_options(options: Options, stored: dict, explicit, source: str, names=MODEL_OPTIONS,
                         says: str = "says the checkpoint was trained with", advice: str = "",
                         stored_before=STORED_BEFORE) -> Options:
    """OPTIONS with the options NAMES (default: the model's) of STORED, read from SOURCE.

    One given explicitly (named in EXPLICIT) with a value different from the stored one is
    an error: the stored weights (or export) cannot take it. ADVICE ends that error. (SAYS, ADVICE
    and STORED_BEFORE word the error and the defaults for what is merging: a training directory,
    an export or the TF1 original's file; one function, so the rule is written once.)
    """
    if names is MODEL_OPTIONS:  # STORED_BEFORE: what a key's absence means (not for the TF1 original's)
        stored = {**stored_before, **stored}
    for name in names:
        if name in explicit and name in stored and stored[name] != getattr(options, name):
            raise UsageError(f"--{name}: {source} {says} "
                               f"{name}={_flag_value(stored[name])}, not {_flag_value(getattr(options, name))}"
                               f"{advice}")
    if names is MODEL_OPTIONS:
        return with_model_options(options, stored)
    return dataclasses.replace(options, **{name: stored[name] for name in names if name in stored})


def _flag_value(value) -> str:
    return str(value).lower() if isinstance(value, bool) else repr(value)


def schedule_changes(options: Options, stored: dict):
    """The learning-rate schedule options a resumed run changes, as 'name old -> new' strings."""
    return [f"{name} {stored[name]} -> {getattr(options, name)}" for name in SCHEDULE_OPTIONS
            if name in stored and stored[name] != getattr(options, name)]
