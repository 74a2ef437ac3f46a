"""The modes of the `pix2pix` command, one module each, all with one contract:

    run(options, explicit) -> exit status

OPTIONS is the Options record the command line made from its flags (not yet prepared: each
mode prepares its own, modes/preparation.py); EXPLICIT names the flags the user gave. A mode
raises Pix2PixError for bad input (the command prints it on one line and exits 1). Adding a
mode: a module here with `run`, a line in MODE_MODULES, and its name in options.record.MODES.
"""

import importlib
import os

from pix2pix.errors import Pix2PixError
from pix2pix.inference.onnx_export import require_onnx_tools
from pix2pix.options.record import check_budget, check_export_format

# --mode NAME -> the module that runs it (imported only when that mode runs: TensorFlow loads then)
MODE_MODULES = {
    "train": "pix2pix.modes.train",
    "test": "pix2pix.modes.test",
    "export": "pix2pix.modes.export",
    "infer": "pix2pix.modes.infer",
    "import": "pix2pix.modes.importing",
    "score": "pix2pix.modes.score",
    "serve": "pix2pix.modes.serve",
}


def run(options, explicit=None) -> int:
    """Run the mode OPTIONS names; returns its exit status."""
    module = importlib.import_module(MODE_MODULES[options.mode])
    return module.run(options, explicit) or 0


def check_before_loading(options) -> None:
    """What the command line can tell before a mode loads TensorFlow: the paths, a training budget,
    what --format onnx needs."""
    check_paths(options)
    if options.mode == "train":
        check_budget(options)
    if options.mode == "export" and options.format == "onnx":
        check_export_format(options)
        require_onnx_tools()


def check_paths(options) -> None:
    """The folders and files the flags name, checked before a mode loads TensorFlow, so a wrong
    path answers at once. (Each mode checks them again, more closely, when it reads them.)"""
    mode = options.mode
    folders = {"input_dir": ("train", "test", "infer", "score"), "target_dir": ("score",)}
    for flag, readers in folders.items():
        path = getattr(options, flag)
        if mode in readers and path and not os.path.isdir(path):
            raise Pix2PixError(f"--{flag}: {path} does not exist or is not a directory")
    checkpoint = options.checkpoint
    if checkpoint and not (os.path.exists(checkpoint) or os.path.exists(checkpoint + ".index")):
        raise Pix2PixError(f"--checkpoint: {checkpoint} does not exist or is not a directory")
    output = options.output_dir
    if output and mode != "serve" and os.path.exists(output) and not os.path.isdir(output):
        raise Pix2PixError(f"--output_dir: {output} exists and is not a directory")
