"""The model --mode serve answers with: found (TF Serving's numbered-export layout), loaded, and
its signatures wrapped so every one is called the same way."""

import dataclasses
import os
from typing import Callable, Dict, List, Optional, Tuple

import tensorflow as tf

from pix2pix.data.arrays import reads_arrays
from pix2pix.errors import Pix2PixError, error_line
from pix2pix.inference.translator import SERVING_SIGNATURE, load_translator
from pix2pix.io.arrays import Layout
from pix2pix.io.samples import parse_data_types
from pix2pix.options.record import Options
from pix2pix.options.stored import OPTIONS_FILE, is_saved_model


@dataclasses.dataclass
class Signature:
    """One callable signature: its name, function(**tensors) -> {name: tensor}, input specs, outputs."""

    name: str
    function: Callable
    inputs: Dict[str, tf.TensorSpec]
    outputs: Dict[str, tuple]  # name -> (dtype, shape)
    positional: Optional[List[str]] = None  # a traced tf.function takes its inputs in this order

    def __call__(self, tensors: dict) -> dict:
        if self.positional is not None:
            return self.function(*[tensors[name] for name in self.positional])
        return self.function(**tensors)


@dataclasses.dataclass
class ServedModel:
    name: str
    version: int
    path: str
    options: Options
    signatures: Dict[str, Signature]
    keep_alive: object = None  # the loaded SavedModel or translator the functions belong to

    @property
    def takes_arrays(self) -> bool:
        """A model of data at its own depth (docs/channels.md): serving_default takes and returns
        numbers ([N, H, W, C] of its sample types), not encoded pictures; there is no page for it."""
        return reads_arrays(self.options)

    def sides(self) -> Tuple[str, str]:
        """What such a model takes and returns per pixel, e.g. ("1 channel of uint16", "8 channels of float32")."""
        types = parse_data_types(self.options.data_types)
        return tuple(Layout(0, 0, channels, sample_type).describe()
                     for channels, sample_type in zip((self.options.input_nc, self.options.output_nc), types))


def find_model_version(directory: Optional[str]):
    """(the directory to load, its version): DIR itself (an export or training directory:
    version 1), or the highest numbered export in DIR (TF Serving's base directory layout)."""
    if not directory:
        raise Pix2PixError("--checkpoint: is required for --mode serve (an export, a training "
                           "directory, or a directory of numbered exports)")
    if not os.path.isdir(directory):
        raise Pix2PixError(f"--checkpoint: {directory} does not exist or is not a directory")
    if is_saved_model(directory) or os.path.isfile(os.path.join(directory, OPTIONS_FILE)):
        return directory, 1
    versions = sorted(int(entry) for entry in os.listdir(directory)
                      if entry.isdigit() and is_saved_model(os.path.join(directory, entry)))
    if not versions:
        raise Pix2PixError(f"--checkpoint: {directory} is neither a SavedModel written by --mode export, "
                           f"a training directory (with {OPTIONS_FILE}), nor a base directory of "
                           f"numbered exports ({os.path.join(directory, '1')}, ...)")
    version = versions[-1]
    path = next(os.path.join(directory, entry) for entry in os.listdir(directory)
                if entry.isdigit() and int(entry) == version and is_saved_model(os.path.join(directory, entry)))
    return path, version


def default_model_name(directory: str) -> str:
    return os.path.basename(os.path.normpath(os.path.abspath(directory)))


def _signature(name, concrete) -> Signature:
    """A loaded SavedModel's signatures take keywords; the translator's traced functions (a
    training directory) take positional inputs, named by their TensorSpecs as in the export."""
    args, kwargs = concrete.structured_input_signature
    outputs = {key: (value.dtype, value.shape) for key, value in concrete.structured_outputs.items()}
    if kwargs:
        return Signature(name, concrete, dict(kwargs), outputs)
    return Signature(name, concrete, {spec.name: spec for spec in args}, outputs, [spec.name for spec in args])


def served_name(options: Options) -> str:
    """The model's name in /v1/models/NAME: --model_name, else --checkpoint's directory name."""
    name = options.model_name or default_model_name(options.checkpoint)
    if not name or "/" in name or ":" in name:
        raise Pix2PixError(f"--model_name: {name!r} cannot be part of /v1/models/NAME (no '/' or ':')")
    return name


def load_served_model(options: Options, name: str, version: int) -> ServedModel:
    """The model of OPTIONS (prepared, with --checkpoint the directory find_model_version chose)
    with every signature, named and versioned as it is served."""
    path = options.checkpoint
    if is_saved_model(path):
        try:
            loaded = tf.saved_model.load(path)
            functions = dict(loaded.signatures)
        except (KeyError, ValueError, OSError, tf.errors.OpError) as err:
            raise Pix2PixError(f"--checkpoint: cannot load the SavedModel in {path}: {error_line(err)}") from None
        print(f"loaded {path}", flush=True)
    else:
        loaded = load_translator(options)
        functions = {key: function.get_concrete_function() for key, function in loaded.signatures().items()}
    if SERVING_SIGNATURE not in functions:
        raise Pix2PixError(f"--checkpoint: the SavedModel in {path} has no {SERVING_SIGNATURE} signature; "
                           "use one written by `pix2pix --mode export`")
    signatures = {key: _signature(key, function) for key, function in functions.items()}
    return ServedModel(name, version, path, options, signatures, loaded)
