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


def _is_tf1_checkpoint(path: str) -> bool:
    try:
        entries = os.listdir(path)
    except OSError:
        return False
    return "checkpoint" in entries and any(e.endswith(".index") for e in entries)


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
    if _is_tf1_checkpoint(path):
        return (f"{path} holds a checkpoint but no {OPTIONS_FILE}: if it is the reference's TF1 checkpoint, "
                f"turn it into a training directory with --mode import --checkpoint {path} --output_dir NEW_DIR")
    return f"{path} holds no {OPTIONS_FILE}; {needed}, and {TRAINING_DIRECTORY_MODES} take one"
