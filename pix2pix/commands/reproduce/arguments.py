"""pix2pix-reproduce's own flags, the flags it passes on to every run, and the commands it runs."""

import argparse
import dataclasses
import os
import sys
from typing import Optional, Sequence

from pix2pix.errors import Pix2PixError
from pix2pix.options.record import Options
from pix2pix.commands.reproduce.tables import (DEFAULT_SEED, MINIMUM_CROP, OWN_FLAGS, TABLE_CHOICES, TABLE_FLAGS,
                                               ReproduceError, Run)


def parse_arguments(argv: Sequence[str]):
    """(namespace of our flags, flags passed on to every training run)."""
    parser = argparse.ArgumentParser(
        prog="pix2pix-reproduce", allow_abbrev=False,
        description="Train and test every row of one of the paper's tables (losses, generators, "
                    "discriminators, or all) with the same seed and budget; any other flag is passed on "
                    "to every `pix2pix --mode train` run.")
    parser.add_argument("--table", required=True, choices=TABLE_CHOICES)
    parser.add_argument("--input_dir", required=True, help="training images")
    parser.add_argument("--val_dir", required=True, help="images every row is tested on")
    parser.add_argument("--output_dir", required=True, help="RUNS: one folder per row, the tables")
    budget = parser.add_mutually_exclusive_group(required=True)
    budget.add_argument("--max_steps", type=int)
    budget.add_argument("--max_epochs", type=int)
    namespace, passed_on = parser.parse_known_args(list(argv))
    return namespace, passed_on


def _flag_name(token: str) -> Optional[str]:
    """The pix2pix flag a command-line token names (--nocondition_GAN -> condition_GAN), or None
    for a value."""
    if not token.startswith("--") or token == "--":
        return None
    name = token[2:].split("=", 1)[0]
    fields = {f.name for f in dataclasses.fields(Options)}
    if name not in fields and name.startswith("no") and name[2:] in fields:
        return name[2:]
    return name


def check_passed_on(passed_on: Sequence[str]) -> None:
    """Refuse flags the table or this command sets (naming them), and stray values."""
    for token in passed_on:
        name = _flag_name(token)
        if name in TABLE_FLAGS:
            raise ReproduceError(f"--{name}: is set by each row of the table; it cannot be passed on")
        if name in OWN_FLAGS:
            raise ReproduceError(f"--{name}: is set by pix2pix-reproduce for each run; leave it out")


def passed_on_value(passed_on: Sequence[str], name: str) -> Optional[str]:
    """The value of --NAME among the passed-on flags (last one wins, as absl does), or None."""
    value = None
    for i, token in enumerate(passed_on):
        if token == f"--{name}" and i + 1 < len(passed_on):
            value = passed_on[i + 1]
        elif token.startswith(f"--{name}="):
            value = token.split("=", 1)[1]
    return value


def run_commands(run: Run, arguments, passed_on: Sequence[str], python: Optional[str] = None):
    """(training command, test command) of RUN, as lists for subprocess; PYTHON: the interpreter
    running them (sys.executable, read when called)."""
    python = python or sys.executable
    runs_dir = arguments.output_dir
    train_dir = os.path.join(runs_dir, run.name, "train")
    budget = (["--max_steps", str(arguments.max_steps)] if arguments.max_steps is not None
              else ["--max_epochs", str(arguments.max_epochs)])
    train = [python, "-m", "pix2pix", "--mode", "train", "--input_dir", arguments.input_dir,
             "--output_dir", train_dir, *budget, *passed_on, *run.flags]
    if os.path.isfile(os.path.join(train_dir, "checkpoint")):
        train += ["--checkpoint", train_dir]  # resume where it stopped
    # Test mode as the reference runs it (batch 1, dropout on), with the rows' one seed.
    test = [python, "-m", "pix2pix", "--mode", "test", "--input_dir", arguments.val_dir,
            "--output_dir", os.path.join(runs_dir, run.name, "test"), "--checkpoint", train_dir,
            "--seed", passed_on_value(passed_on, "seed") or str(DEFAULT_SEED)]
    return train, test


def validate_runs(runs: Sequence[Run], arguments, passed_on: Sequence[str]) -> None:
    """Build each run's Options the way the pix2pix command does and validate them, so a
    flag no row can use stops everything before the first row trains."""
    from absl import flags

    from pix2pix.commands.flags import FLAGS, define_flags, options_from_flags
    from pix2pix.modes.preparation import validate
    define_flags()  # the pix2pix command's own flags (absl), parsed for each row
    crop = int(passed_on_value(passed_on, "crop_size") or Options.crop_size)
    for run in runs:
        minimum = MINIMUM_CROP.get(run.name)
        if minimum and crop < minimum:
            raise ReproduceError(f"--crop_size: row {run.name} needs --crop_size >= {minimum} (its "
                                 f"discriminator's field is larger than the image), got {crop}")
        command = run_commands(run, arguments, passed_on)[0][3:]
        FLAGS.unparse_flags()
        try:
            FLAGS(["pix2pix", *command])
        except flags.Error as err:
            raise ReproduceError(f"row {run.name}: {err}") from None
        try:
            validate(options_from_flags())
        except Pix2PixError as err:
            raise ReproduceError(f"row {run.name}: {err}") from None
    FLAGS.unparse_flags()
