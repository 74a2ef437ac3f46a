"""What pix2pix-reproduce keeps in files, so a run can be stopped and started again:
RUNS/reproduce.json (the command) and RUNS/NAME/row.json (each row's progress)."""

import json
import os
import re
import sys
from typing import Optional

from pix2pix.commands.reproduce.arguments import passed_on_value
from pix2pix.commands.reproduce.tables import DEFAULT_SEED, ROW_FILE, STATE_FILE, ReproduceError, Run
from pix2pix.io.files import atomic_write_text


def command_record(arguments, passed_on) -> dict:
    """What reproduce.json keeps of a command: enough to tell the same command again."""
    return {"table": arguments.table, "input_dir": os.path.abspath(arguments.input_dir),
            "val_dir": os.path.abspath(arguments.val_dir), "max_steps": arguments.max_steps,
            "max_epochs": arguments.max_epochs, "passed_on": list(passed_on),
            "seed": int(passed_on_value(passed_on, "seed") or DEFAULT_SEED)}


def check_same_command(runs_dir: str, record: dict) -> None:
    """Write RUNS/reproduce.json, or refuse if it holds another command (saying what differs)."""
    path = os.path.join(runs_dir, STATE_FILE)
    if os.path.isfile(path):
        with open(path, encoding="utf-8") as f:
            stored = json.load(f)
        different = [f"{key} was {stored['command'].get(key)!r}, now {record[key]!r}"
                     for key in record if stored["command"].get(key) != record[key]]
        if different:
            raise ReproduceError(
                f"--output_dir: {runs_dir} holds runs of another command ({'; '.join(different)}); "
                f"re-run the same command to resume it, or choose a new --output_dir")
        return
    os.makedirs(runs_dir, exist_ok=True)
    atomic_write_text(path, json.dumps({"command": record, "argv": sys.argv}, indent=2) + "\n")


def read_row(runs_dir: str, run: Run) -> dict:
    path = os.path.join(runs_dir, run.name, ROW_FILE)
    if not os.path.isfile(path):
        return {"trained": False, "tested": False, "train_seconds": 0.0}
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def write_row(runs_dir: str, run: Run, state: dict) -> None:
    atomic_write_text(os.path.join(runs_dir, run.name, ROW_FILE), json.dumps(state, indent=2) + "\n")


def checkpoint_step(train_dir: str) -> Optional[int]:
    """The step of the latest checkpoint in TRAIN_DIR (from its `checkpoint` file), or None."""
    try:
        with open(os.path.join(train_dir, "checkpoint"), encoding="utf-8") as f:
            match = re.search(r'model_checkpoint_path:\s*"[^"]*?(\d+)"', f.read())
    except OSError:
        return None
    return int(match.group(1)) if match else None
