"""The modes of the `pix2pix` command: one `Mode` record each (modes/definition.py), declared in
one module of modes/catalog/, from which the mode list, the dispatch table and `--help` follow.

    all_modes()                  the modes, in --help's order
    named(name)                  one mode; UsageError (with "did you mean") for an unknown name
    register(mode)               add a mode from elsewhere (a plugin, a test)
    check_command_line(options)  what the flags alone can tell, before TensorFlow loads
    run(options, explicit)       run the mode OPTIONS names; its exit status

A mode's `run(options, explicit)` prepares its own options (modes/preparation.py), raises
Pix2PixError for bad input (the command prints it on one line and exits 1; UsageError: 2) and
returns its exit status. Adding a mode is one module in modes/catalog/ declaring `MODE = Mode(...)`
(see docs/architecture.md#where-to-add); no TensorFlow may load when it is imported.
"""

import importlib
import os
import pkgutil
import shlex

from pix2pix.errors import UsageError, did_you_mean
from pix2pix.io.pict import PICT_SUFFIX
from pix2pix.modes.definition import Mode
from pix2pix.options.checkpoint_dirs import import_command, import_output, is_tf1_checkpoint
from pix2pix.options.stored import OPTIONS_FILE

__all__ = ["Mode", "all_modes", "named", "register", "check_command_line", "run"]

_CATALOG = "pix2pix.modes.catalog"
_registered = {}  # name -> Mode: the catalog's (read on first use), then register()'s
_PYTORCH_SUFFIXES = (".pth", ".pt")  # what --mode import reads as a PyTorch file (modes/import_pytorch.py)


def _load_catalog() -> None:
    if _registered:
        return
    package = importlib.import_module(_CATALOG)
    for module in pkgutil.iter_modules(package.__path__):
        _add(importlib.import_module(f"{_CATALOG}.{module.name}").MODE)


def _add(mode: Mode) -> Mode:
    if mode.name in _registered:
        raise ValueError(f"--mode {mode.name} is already defined")
    _registered[mode.name] = mode
    return mode


def register(mode: Mode) -> Mode:
    """Add MODE (its name must be new); returns it."""
    _load_catalog()
    return _add(mode)


def all_modes() -> list:
    """Every mode, in --help's order."""
    _load_catalog()
    return sorted(_registered.values(), key=lambda mode: (mode.order, mode.name))


def names() -> list:
    return [mode.name for mode in all_modes()]


def named(name: str) -> Mode:
    """The mode called NAME; UsageError naming the modes (and the nearest) for any other."""
    _load_catalog()
    if name not in _registered:
        raise UsageError(f"--mode: must be one of {', '.join(names())}, got {name!r}"
                         f"{did_you_mean(name, _registered)}")
    return _registered[name]


def run(options, explicit=None) -> int:
    """Run the mode OPTIONS names; returns its exit status."""
    return named(options.mode).runner()(options, explicit) or 0


# ----------------------------------------------------------------- before TensorFlow loads
def check_command_line(options) -> None:
    """What the command line can tell before a mode loads TensorFlow: the mode's own checks, the
    flags it needs, the folders it reads, what --checkpoint and --output_dir name. Each is a
    UsageError (exit 2): a command line that cannot work. What only reading the files shows (an
    image that does not decode, a checkpoint of the wrong model) is found when the mode runs (1)."""
    mode = named(options.mode)
    if mode.check:
        mode.check(options)
    for flag in mode.needs:
        require(options, flag)
    check_folders(options)
    check_checkpoint(options)
    output = options.output_dir
    if output and "output_dir" in mode.needs and os.path.exists(output) and not os.path.isdir(output):
        raise UsageError(f"--output_dir: {output} exists and is not a directory")


def require(options, flag: str) -> None:
    """UsageError if FLAG, which the mode needs, was not given."""
    mode = named(options.mode)
    if getattr(options, flag) in (None, ""):
        raise UsageError(f"--{flag}: is required for --mode {mode.name} ({mode.needs[flag]})")


def check_folders(options) -> None:
    """The folders the mode reads: given, and existing."""
    for flag in named(options.mode).folders:
        require(options, flag)
        path = getattr(options, flag)
        if not os.path.isdir(path):
            raise UsageError(f"--{flag}: {path} does not exist or is not a directory")


def check_checkpoint(options) -> None:
    """--checkpoint must exist; a file to import, given to another mode, is answered with the
    command that imports it."""
    checkpoint = options.checkpoint
    if not checkpoint:
        return
    if not (os.path.exists(checkpoint) or os.path.exists(checkpoint + ".index")):
        raise UsageError(f"--checkpoint: {checkpoint} does not exist")
    kind = import_kind(checkpoint)
    if kind and options.mode != "import":
        raise UsageError(f"--checkpoint: {checkpoint} is {kind}, which only --mode import reads; import it "
                           f"first: {import_command(checkpoint)} (then give --checkpoint "
                           f"{shlex.quote(import_output(checkpoint))})")


def import_kind(path: str):
    """What PATH is, if it is something --mode import reads and no other mode does: "a PyTorch
    pix2pix .pth file", "a .pict file", "a TF1 checkpoint"; else None."""
    lower = path.lower()
    if os.path.isfile(path) and lower.endswith(_PYTORCH_SUFFIXES):
        return f"a PyTorch pix2pix {os.path.splitext(lower)[1]} file"
    if os.path.isfile(path) and lower.endswith(PICT_SUFFIX):
        return "a .pict file (the TF1 demo's quantised generator)"
    folder = os.path.dirname(path) or "."
    if os.path.isfile(path + ".index") and not os.path.isfile(os.path.join(folder, OPTIONS_FILE)):
        return "a TF1 checkpoint prefix"
    if is_tf1_checkpoint(path):
        return f"a TF1 checkpoint (a checkpoint file and model-N.index, no {OPTIONS_FILE})"
    return None
