"""The one place options are made ready for their mode (every mode, CLI and Python API alike).

    prepare(options, explicit)    read stored options, choose a seed, validate everything

EXPLICIT names the options the user set (the command line's flags); None means every value
that differs from its default counts as set (flags_given). Then, by mode:
- train: a seed is chosen if none was given (and recorded); with --checkpoint (resume) the
  model options come from its options.json;
- test, export, infer (a training directory): --checkpoint is required, the model options
  come from its options.json, and --preprocess and --scale_size unless given (as the training
  had them, stored.PREPROCESS_AFTER_TRAINING); test also runs with no flip and, for
  resize_and_crop, at crop_size (the reference's);
- infer and serve (a SavedModel): model options and export flags from the export's
  assets/options.json (serve: a training directory as test; no --output_dir);
- --deterministic unset: dropout off in the modes whose record says so (Mode.deterministic: export,
  infer, serve), on in test mode (the reference's test-time dropout) and training;
- import: model options from the TF1 directory's options.json if it has one; float32;
- score: --input_dir and --target_dir must be folders.
A model option set explicitly to another value than stored is an error. The result is
validated by Options.validate: the record's own checks, then every name table's (NAME_TABLES).
"""

import dataclasses
import os
import random

from pix2pix.data.tasks import TASK_TABLE
from pix2pix.errors import Pix2PixError
from pix2pix.models.discriminators import DISCRIMINATORS
from pix2pix.models.generators import GENERATORS
from pix2pix.models.losses import GAN_LOSSES
from pix2pix.models.norms import NORMS
from pix2pix.models.schedules import SCHEDULES
from pix2pix.modes import check_folders, named, require
from pix2pix.options.record import Options
from pix2pix.options.stored import (EXPORT_OPTIONS, OPTIONS_FILE, follow_training_preprocess, is_saved_model,
                                    merge_stored_options, read_options_file, schedule_changes)

# The name tables Options.validate checks (options/registry.py), each loaded by its module: imported
# here so the options of every mode meet all of them.
NAME_TABLES = (TASK_TABLE, GENERATORS, DISCRIMINATORS, GAN_LOSSES, NORMS, SCHEDULES)

def flags_given(options: Options, explicit=None) -> frozenset:
    """The names of the options the user set: EXPLICIT (the command line's flags) when known,
    else (the Python API) every option whose value differs from its default."""
    if explicit is not None:
        return frozenset(explicit)
    defaults = Options()
    return frozenset(f.name for f in dataclasses.fields(Options)
                     if getattr(options, f.name) != getattr(defaults, f.name))


def validate(options: Options) -> Options:
    """OPTIONS checked, every name table loaded (Options.validate); returns them with the task aliases resolved."""
    return options.validate()


def _from_export(options: Options, given) -> Options:
    """Model options and export flags from a SavedModel's assets/options.json."""
    checkpoint = options.checkpoint
    assets = os.path.join(checkpoint, "assets")
    if not os.path.isfile(os.path.join(assets, OPTIONS_FILE)):
        raise Pix2PixError(f"--checkpoint: {checkpoint} is a SavedModel without "
                           f"assets/{OPTIONS_FILE}; use one written by `pix2pix --mode export`")
    stored, source = read_options_file(assets), f"the SavedModel in {checkpoint}"
    options = merge_stored_options(
        options, stored, given, source, EXPORT_OPTIONS, says="was exported with",
        advice="; export it again with that value, or pass the training directory as --checkpoint")
    return merge_stored_options(options, stored, given, source, says="was exported with")


def _from_tf1_directory(options: Options, given) -> Options:
    checkpoint = options.checkpoint
    directory = checkpoint if os.path.isdir(checkpoint) else os.path.dirname(checkpoint)
    if os.path.isfile(os.path.join(directory, OPTIONS_FILE)):
        options = merge_stored_options(options, read_options_file(directory), given,
                                       os.path.join(directory, OPTIONS_FILE), stored_before={})
    # The reference trained in float32: its checkpoint becomes the one a float32 training
    # run writes (plain Adam, no loss-scale state), whatever --mixed_precision says.
    return dataclasses.replace(options, mixed_precision="float32")


def _from_training_directory(options: Options, given) -> Options:
    stored = read_options_file(options.checkpoint)
    options = merge_stored_options(options, stored, given, os.path.join(options.checkpoint, OPTIONS_FILE))
    if options.mode != "train":  # test, export, infer, serve: preprocess as trained (docs/preprocessing.md)
        options = follow_training_preprocess(options, stored, given)
    changed = schedule_changes(options, stored) if options.mode == "train" else []
    if changed:
        print(f"note: resuming with a different learning-rate schedule ({', '.join(changed)}); "
              "it applies from the resumed step on", flush=True)
    return options


def prepare(options: Options, explicit=None) -> Options:
    """OPTIONS made ready for options.mode (see the module docstring)."""
    given = flags_given(options, explicit)
    mode, checkpoint = options.mode, options.checkpoint
    if mode == "score":  # two folders of pictures, no model
        check_folders(options)
    if "checkpoint" in named(mode).needs:  # (also: an unknown mode)
        require(options, "checkpoint")
    if mode == "train" and options.seed is None:
        options = dataclasses.replace(options, seed=random.randint(0, 2**31 - 1))

    if mode in ("infer", "serve") and is_saved_model(checkpoint):
        options = _from_export(options, given)
    elif mode == "import":
        options = _from_tf1_directory(options, given)
    elif checkpoint:
        options = _from_training_directory(options, given)

    if options.deterministic is None:  # (a SavedModel's own value is merged above)
        options = dataclasses.replace(options, deterministic=named(mode).deterministic)
    if mode == "test":
        if options.seed is None:
            options = dataclasses.replace(options, seed=0)
        # The reference's test mode: scale_size = CROP_SIZE, flip off (scale_width keeps its width).
        scale_size = options.crop_size if options.preprocess == "resize_and_crop" else options.scale_size
        options = dataclasses.replace(options, scale_size=scale_size, flip=False)
    return validate(options)


def prepare_for(mode: str, options: Options, explicit=None) -> Options:
    """prepare() for MODE, whatever options.mode says."""
    return prepare(dataclasses.replace(options, mode=mode), explicit)


def prepare_train_options(options: Options, explicit=None) -> Options:
    """prepare() for a training run (mode train)."""
    return prepare_for("train", options, explicit)


def prepare_test_options(options: Options, explicit=None) -> Options:
    """prepare() for test mode."""
    return prepare_for("test", options, explicit)
