"""What the three importers share (import_tf1.py, import_pytorch.py, import_pict.py): the options of
an imported model, checked against its file, and the training directory written from it.

OUT (--output_dir) receives a checkpoint in the layout training writes (prefix `model`, every object of
`Pix2Pix.checkpoint()`) and an options.json, written in a temporary directory and renamed into place.
"""

import dataclasses
import os
import shutil
import tempfile

import tensorflow as tf

from pix2pix.data.tasks import task_for
from pix2pix.errors import UsageError
from pix2pix.io.files import check_output_dir
from pix2pix.io.locks import output_lock
from pix2pix.models.checkpoints import CHECKPOINT_PREFIX
from pix2pix.models.pix2pix_model import Pix2Pix
from pix2pix.modes.preparation import prepare
from pix2pix.options.record import Options
from pix2pix.options.stored import save_options


def prepare_import_options(options: Options, explicit=None) -> Options:
    """options.prepare() for import, then the check that the options describe the reference's model.

    Model options come from TF1_DIR/options.json if present, else from the flags.
    """
    options = prepare(dataclasses.replace(options, mode="import"), explicit)
    _check_reference_model(options)
    return options


# The only model the reference could train: import refuses any other value of these.
_REFERENCE_MODEL = {"netG": "unet", "netD": "basic", "n_layers_D": None, "norm": "batch",
                    "condition_GAN": True, "gan_mode": "vanilla", "no_dropout": False}


def _check_reference_model(options: Options) -> None:
    for name, value in _REFERENCE_MODEL.items():
        if getattr(options, name) != value:
            raise UsageError(f"--{name}: the TF1 reference only trained --{name}="
                               f"{'default' if value is None else value}; a TF1 checkpoint "
                               f"cannot be imported as --{name}={getattr(options, name)}")


def set_from_file(options, given, source, **values) -> Options:
    """OPTIONS with VALUES (what SOURCE holds); a flag the user gave with another value is an error."""
    for name, value in values.items():
        if name in given and getattr(options, name) != value:
            raise UsageError(f"--{name}: {source} holds a network with {name}={value}, "
                               f"not {getattr(options, name)}")
    return dataclasses.replace(options, **values)


# ---------------------------------------------------------------------------- writing
def check_imported_channels(options: Options, path: str, input_channels: int, output_channels: int) -> None:
    """A weights file of another project maps INPUT_CHANNELS -> OUTPUT_CHANNELS: refuse, naming PATH,
    options whose task and direction want other channels; and an --output_dir that is not empty,
    before any network is built."""
    channels = task_for(options).channels
    if channels != (input_channels, output_channels):
        raise UsageError(f"--task: {path} maps {input_channels} -> {output_channels} channels, "
                           f"but task {options.task} {options.which_direction} gives "
                           f"{channels[0]} -> {channels[1]}")
    if os.path.exists(options.output_dir):
        check_output_dir(os.path.abspath(options.output_dir), reuse="empty")


def write_checkpoint(model: Pix2Pix, options: Options, output_dir: str, step: int) -> str:
    """OUTPUT_DIR/model-STEP.* + checkpoint + options.json, staged and renamed into place, under the
    folder's lock (a second import into it is refused); OUTPUT_DIR must be absent or empty."""
    final = os.path.abspath(output_dir)
    parent = os.path.dirname(final)
    os.makedirs(parent, exist_ok=True)
    with output_lock(output_dir, "import"):
        if os.path.exists(final):  # checked again: another run may have filled it meanwhile
            check_output_dir(final, reuse="empty")
        return _write_staged(model, options, final, step)


def _write_staged(model: Pix2Pix, options: Options, final: str, step: int) -> str:
    staging = tempfile.mkdtemp(prefix="." + os.path.basename(final) + ".partial-", dir=os.path.dirname(final))
    try:
        manager = tf.train.CheckpointManager(model.checkpoint(), staging, max_to_keep=1,
                                             checkpoint_name=CHECKPOINT_PREFIX)
        manager.save(checkpoint_number=step)
        save_options(options, staging)
        if os.path.isdir(final):  # empty, checked before
            os.rmdir(final)
        os.rename(staging, final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return tf.train.latest_checkpoint(final)
