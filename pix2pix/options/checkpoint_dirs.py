"""What a --checkpoint folder is, and which modes take it: the words of the error when a mode is
given the wrong kind (an export where a training directory is needed, and so on).

The kinds, by what they hold:
- a training directory (`--mode train` or `--mode import` wrote it): options.json and the
  checkpoint files. Every mode that reads a model takes it: train (resume), test, export,
  infer and serve;
- an export (`--mode export`): saved_model.pb. infer and serve take it;
- a TF Serving base folder: numbered exports (1/, 2/ ... each with saved_model.pb). serve takes it
  (it serves the highest number); infer takes one of its numbered exports;
- a TF1 checkpoint of the reference (a `checkpoint` file and model-N.index, no options.json):
  `--mode import` turns it into a training directory.
"""

import os
import shlex

OPTIONS_FILE = "options.json"  # a training directory's options (stored.py writes and reads it)
SAVED_MODEL_FILE = "saved_model.pb"  # an export's
TRAINING_DIRECTORY_MODES = "--mode train (to resume), test, export, infer and serve"


def _numbered_exports(path: str):
    try:
        entries = os.listdir(path)
    except OSError:
        return []
    numbered = [e for e in entries if e.isdigit() and os.path.isfile(os.path.join(path, e, SAVED_MODEL_FILE))]
    return sorted(numbered, key=int)


def is_tf1_checkpoint(path: str) -> bool:
    """True when directory PATH holds a checkpoint (a `checkpoint` file and an .index) but no options.json
    (a training directory holds both)."""
    try:
        entries = os.listdir(path)
    except OSError:
        return False
    return "checkpoint" in entries and any(e.endswith(".index") for e in entries) and OPTIONS_FILE not in entries


def describe_checkpoint_dir(path: str) -> str:
    """Why PATH is not a training directory and which modes take what it is, in one line (the
    text after "--checkpoint: ")."""
    needed = f"a training directory (with {OPTIONS_FILE}, written by --mode train) is needed here"
    if not os.path.exists(path):
        return f"{path} does not exist; {needed}"
    if not os.path.isdir(path):
        return f"{path} is a file, not a directory; {needed} (give the directory, not a file in it)"
    if os.path.isfile(os.path.join(path, SAVED_MODEL_FILE)):
        return (f"{path} is an export (a SavedModel written by --mode export): --mode infer and --mode serve "
                f"take it; {needed}, and only it is taken by {TRAINING_DIRECTORY_MODES}")
    exports = _numbered_exports(path)
    if exports:
        return (f"{path} is a TF Serving base folder (numbered exports {', '.join(exports)}): --mode serve takes "
                f"it, --mode infer takes one export in it (e.g. {os.path.join(path, exports[-1])}); {needed}, "
                f"and only it is taken by {TRAINING_DIRECTORY_MODES}")
    if is_tf1_checkpoint(path):
        return (f"{path} holds a checkpoint but no {OPTIONS_FILE}: if it is the reference's TF1 checkpoint, "
                f"turn it into a training directory with {import_command(path)}")
    return f"{path} holds no {OPTIONS_FILE}; {needed}, and {TRAINING_DIRECTORY_MODES} take one"


def import_output(path: str) -> str:
    """Where `--mode import` could write the training directory made from PATH: beside it, named
    after it (a file without its suffix, a directory + "_imported"), not yet there."""
    stem = path.rstrip(os.sep)
    stem = os.path.splitext(stem)[0] if os.path.isfile(stem) else stem + "_imported"
    candidate, number = stem, 1
    while os.path.exists(candidate):
        number += 1
        candidate = f"{stem}_{number}"
    return candidate


def import_command(path: str) -> str:
    """The command line that imports PATH (a TF1 checkpoint, a .pth or a .pict file), paths filled in."""
    return shlex.join(["pix2pix", "--mode", "import", "--checkpoint", path, "--output_dir", import_output(path)])
