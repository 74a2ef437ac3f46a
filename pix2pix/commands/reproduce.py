"""`pix2pix-reproduce`: the paper's comparisons (Isola et al. 2017, Tables 1-3) in one command.

    pix2pix-reproduce --table losses --input_dir TRAIN --val_dir VAL --output_dir RUNS \\
        --max_steps 2000 --lab_colorization --crop_size 64 --ngf 32 --ndf 32

trains every row of a table with the same seed and budget through the ordinary `pix2pix`
command (one subprocess per training and per test), then writes RUNS/table.md and
table.csv (test mode's metrics per row), RUNS/grid.png (the same val images, one column per
row) and RUNS/losses.png (every row's loss curves). Every other flag is passed on to every
training run; the flags a table sets itself are refused.

State lives in files, so a run can be stopped and started again: RUNS/reproduce.json holds the
command (another command on the same RUNS is refused, saying what differs), RUNS/NAME/row.json
each row's progress. A row is finished when its training reached the budget and its test ran;
an interrupted row resumes from its last checkpoint.
"""

import argparse
import csv
import dataclasses
import io
import json
import os
import re
import signal
import subprocess
import sys
import time
from typing import Dict, List, Optional, Sequence, Tuple

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow loads (validate_runs), as the CLI

from pix2pix.errors import Pix2PixError
from pix2pix.io.files import atomic_write_text
from pix2pix.options.record import Options

STATE_FILE = "reproduce.json"
ROW_FILE = "row.json"
TABLE_MD, TABLE_CSV, GRID_PNG, LOSSES_PNG = "table.md", "table.csv", "grid.png", "losses.png"
DEFAULT_SEED = 1  # the one seed every row trains with, unless --seed is passed on
GRID_ROWS = 6  # val images in grid.png, spread over the set
INTERRUPTED = 130

# What a table row may set; everything else is the user's, passed on to every run.
TABLE_FLAGS = ("gan_weight", "l1_weight", "netG", "netD", "n_layers_D", "condition_GAN")
# Flags this command gives the runs itself.
OWN_FLAGS = ("mode", "input_dir", "output_dir", "checkpoint", "max_steps", "max_epochs")
# The paper's L1 + cGAN objective and its pieces, as row settings.
L1 = {"gan_weight": 0.0, "l1_weight": 100.0}
GAN = {"gan_weight": 1.0, "l1_weight": 0.0, "condition_GAN": False}
CGAN = {"gan_weight": 1.0, "l1_weight": 0.0}
L1_GAN = {"gan_weight": 1.0, "l1_weight": 100.0, "condition_GAN": False}
L1_CGAN = {"gan_weight": 1.0, "l1_weight": 100.0}
# The settings a row leaves alone, so that two rows can be told to be the same run.
ROW_DEFAULTS = {"gan_weight": 1.0, "l1_weight": 100.0, "netG": "unet", "netD": "basic",
                "n_layers_D": None, "condition_GAN": True}

# name -> [(row name, settings)], as in the paper's tables.
TABLES: Dict[str, List[Tuple[str, dict]]] = {
    # Table 1: the objective (on Cityscapes labels -> photos in the paper).
    "losses": [("l1", L1), ("gan", GAN), ("cgan", CGAN), ("l1_gan", L1_GAN), ("l1_cgan", L1_CGAN)],
    # Table 2: skip connections (encoder-decoder against U-Net).
    "generators": [("encoder_decoder_l1", {**L1, "netG": "encoder_decoder"}),
                   ("encoder_decoder_l1_cgan", {**L1_CGAN, "netG": "encoder_decoder"}),
                   ("unet_l1", L1), ("unet_l1_cgan", L1_CGAN)],
    # Table 3: the discriminator's receptive field (1x1 PixelGAN to the 286x286 ImageGAN).
    "discriminators": [("pixel", {**L1_CGAN, "netD": "pixel"}),
                       ("patch16", {**L1_CGAN, "netD": "n_layers", "n_layers_D": 1}),
                       ("patch70", L1_CGAN),
                       ("patch286", {**L1_CGAN, "netD": "n_layers", "n_layers_D": 5})],
}
TABLE_CHOICES = tuple(TABLES) + ("all",)
# A row that cannot be built below a crop size: refused before anything trains.
MINIMUM_CROP = {"patch286": 128}
TABLE_COLUMNS = ("l1", "psnr", "ssim", "delta_e2000", "ab_mae", "colourfulness_ratio")


class ReproduceError(Pix2PixError):
    """A usage error of pix2pix-reproduce: printed as one line, exit status 2."""


@dataclasses.dataclass
class Run:
    """One configuration to train: its folder name, its flags, and the table rows it is."""
    name: str
    settings: dict
    rows: List[Tuple[str, str]]  # (table, row name) it stands for

    @property
    def flags(self) -> List[str]:
        """The settings as pix2pix flags (defaults left out, so the rows read as in the paper)."""
        flags = []
        for key in TABLE_FLAGS:
            value = self.settings.get(key, ROW_DEFAULTS[key])
            if key == "condition_GAN":
                if not value:
                    flags.append("--nocondition_GAN")
            elif key in self.settings:
                flags += [f"--{key}", _flag_value(value)]
        return flags


def _flag_value(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def plan_runs(table: str) -> List[Run]:
    """The runs TABLE needs, in order; rows that are the same configuration share one run
    (with `all`: l1 = unet_l1, l1_cgan = unet_l1_cgan = patch70), named after its first row."""
    runs: List[Run] = []
    by_settings = {}
    for table_name in (TABLES if table == "all" else [table]):
        for row, settings in TABLES[table_name]:
            key = tuple(settings.get(k, ROW_DEFAULTS[k]) for k in TABLE_FLAGS)
            if key in by_settings:
                by_settings[key].rows.append((table_name, row))
                continue
            run = Run(row, dict(settings), [(table_name, row)])
            by_settings[key] = run
            runs.append(run)
    return runs


# ------------------------------------------------------------------ the command line
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


def run_commands(run: Run, arguments, passed_on: Sequence[str], python=sys.executable):
    """(training command, test command) of RUN, as lists for subprocess."""
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


# ----------------------------------------------------------------------------- state
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


# ---------------------------------------------------------------------- running rows
def _default_sigint():
    """In the child: SIGINT at its default, so the SIGINT we forward is a Ctrl-C to it (saved and
    stopped) even when we were started with SIGINT ignored (`cmd &` in a script, nohup)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _run_logged(command, log_path, label) -> int:
    """Run COMMAND with its output appended to LOG_PATH; its progress lines are echoed with
    LABEL. The child runs in its own session, so a Ctrl-C reaches it once, from us: it saves a
    checkpoint and exits, and we wait for that (a second Ctrl-C stops it without saving)."""
    with open(log_path, "a", encoding="utf-8") as log:
        log.write(f"$ {' '.join(command)}\n")
        log.flush()
        child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                 env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"), start_new_session=True,
                                 preexec_fn=_default_sigint)
        try:
            for line in child.stdout:
                log.write(line)
                if line.startswith(("progress", "pix2pix: error")):
                    print(f"  {label}: {line.rstrip()}", flush=True)
            return child.wait()
        except KeyboardInterrupt:
            child.send_signal(signal.SIGINT)
            try:
                log.write(child.stdout.read())
                child.wait()
            except KeyboardInterrupt:
                child.send_signal(signal.SIGINT)
                child.wait()
            raise


def _tail(path, lines=5) -> str:
    with open(path, encoding="utf-8", errors="replace") as f:
        return "".join(f.readlines()[-lines:])


def _check_status(status: int, run: Run, what: str, log_path: str) -> None:
    """Carry a child's stop by signal up as an interrupt; a failure names the row and shows its log."""
    if status in (INTERRUPTED, 128 + signal.SIGTERM):
        raise KeyboardInterrupt
    if status != 0:
        raise Pix2PixError(f"row {run.name}: {what} failed (exit {status}); the end of {log_path}:\n"
                           f"{_tail(log_path)}")


def run_row(run: Run, arguments, passed_on) -> None:
    """Train RUN to the budget (resuming) and test it; records progress in its row.json."""
    runs_dir = arguments.output_dir
    row_dir = os.path.join(runs_dir, run.name)
    os.makedirs(row_dir, exist_ok=True)
    state = read_row(runs_dir, run)
    train_command, test_command = run_commands(run, arguments, passed_on)
    if not state["trained"]:
        print(f"{run.name}: training{' (resuming)' if '--checkpoint' in train_command else ''}", flush=True)
        start = time.time()
        try:
            status = _run_logged(train_command, os.path.join(row_dir, "train.log"), run.name)
        finally:
            state["train_seconds"] += time.time() - start
            state["steps"] = checkpoint_step(os.path.join(row_dir, "train"))
            write_row(runs_dir, run, state)
        _check_status(status, run, "training", os.path.join(row_dir, "train.log"))
        state["trained"] = True
        write_row(runs_dir, run, state)
    print(f"{run.name}: testing on {arguments.val_dir}", flush=True)
    status = _run_logged(test_command, os.path.join(row_dir, "test.log"), run.name)
    _check_status(status, run, "test", os.path.join(row_dir, "test.log"))
    state["tested"] = True
    write_row(runs_dir, run, state)


# --------------------------------------------------------------------------- results
def row_results(runs_dir: str, run: Run) -> dict:
    """A run's figures for the table: its metrics.json means, steps, minutes, and status."""
    state = read_row(runs_dir, run)
    result = {"status": "done" if state["tested"] else "incomplete",
              "steps": state.get("steps"), "minutes": state["train_seconds"] / 60.0}
    metrics_path = os.path.join(runs_dir, run.name, "test", "metrics.json")
    if state["tested"] and os.path.isfile(metrics_path):
        with open(metrics_path, encoding="utf-8") as f:
            summary = json.load(f)
        result.update({key: summary["means"].get(key) for key in TABLE_COLUMNS if key in summary["means"]})
        result["colourfulness_ratio"] = summary.get("colourfulness_ratio")
        result["baselines"] = summary.get("baselines", {})
    return result


def _cell(key, value) -> str:
    """A table cell: the metrics as index.html and the printed means show them."""
    from pix2pix.reporting.recorder import FIGURE_FORMATS
    if value is None:
        return ""
    if key in FIGURE_FORMATS:
        return FIGURE_FORMATS[key].format(value)
    if key == "minutes":
        return f"{value:.1f}"
    return str(value)


def table_texts(runs: Sequence[Run], runs_dir: str) -> Tuple[str, str]:
    """(table.md, table.csv): one row per table row (rows sharing a run show its figures)."""
    results = {run.name: row_results(runs_dir, run) for run in runs}
    run_of = {table_row: run for run in runs for table_row in run.rows}
    tables = {table: [(row, run_of[(table, row)]) for row, _ in rows]  # each in the paper's row order
              for table, rows in TABLES.items() if (table, rows[0][0]) in run_of}
    columns = TABLE_COLUMNS + ("steps", "minutes", "status")
    markdown = io.StringIO()
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(("table", "row", "run", "flags") + columns)
    for table, rows in tables.items():
        markdown.write(f"## {table}\n\n| row | flags | " + " | ".join(columns) + " |\n")
        markdown.write("|---|---|" + "---|" * len(columns) + "\n")
        baselines = {}
        for row, run in rows:
            result = results[run.name]
            baselines.update(result.get("baselines", {}))
            label = row if row == run.name else f"{row} (= {run.name})"
            flags = " ".join(run.flags)
            markdown.write(f"| {label} | `{flags}` | " + " | ".join(
                _cell(c, result.get(c)) for c in columns) + " |\n")
            writer.writerow([table, row, run.name, flags] + [_cell(c, result.get(c)) for c in columns])
        for name, baseline in baselines.items():
            figures = {**baseline["means"], "colourfulness_ratio": baseline["colourfulness_ratio"]}
            markdown.write(f"| *{name} input (no model)* | | " + " | ".join(
                _cell(c, figures.get(c)) for c in TABLE_COLUMNS) + " | | | |\n")
        markdown.write("\n")
    incomplete = [run.name for run in runs if results[run.name]["status"] != "done"]
    if incomplete:
        markdown.write(f"Incomplete (re-run the same command to finish): {', '.join(incomplete)}\n")
    return markdown.getvalue(), text.getvalue()


def write_pictures(runs: Sequence[Run], runs_dir: str) -> List[str]:
    """RUNS/grid.png (the same val images; input, each run's output, target) and RUNS/losses.png
    (every run's curves), from what the runs have written so far; returns the paths written."""
    from pix2pix import plots
    written = []
    histories = {}
    for run in runs:
        csv_path = os.path.join(runs_dir, run.name, "train", "losses.csv")
        if os.path.isfile(csv_path):
            histories[run.name] = plots.read_loss_history(csv_path)
    if histories:
        plots.plot_loss_comparison(histories, os.path.join(runs_dir, LOSSES_PNG),
                                   title="Training losses of each row")
        written.append(os.path.join(runs_dir, LOSSES_PNG))
    tested = [run for run in runs if read_row(runs_dir, run)["tested"]]
    if not tested:
        return written
    test_dirs = {run.name: os.path.join(runs_dir, run.name, "test") for run in tested}
    first = plots.result_rows(test_dirs[tested[0].name])
    if not first:
        return written
    chosen = plots.spread_rows(first, GRID_ROWS)
    rows = []
    for example in chosen:
        row = {"name": example["name"], "inputs": os.path.join(test_dirs[tested[0].name], example["inputs"])}
        for run in tested:
            picture = os.path.join(test_dirs[run.name], "images", f"{example['name']}-outputs.png")
            if os.path.isfile(picture):
                row[run.name] = picture
        if example.get("targets"):
            row["targets"] = os.path.join(test_dirs[tested[0].name], example["targets"])
        rows.append(row)
    columns = {"inputs": "input", **{run.name: run.name for run in tested}, "targets": "target"}
    plots.plot_results(rows, os.path.join(runs_dir, GRID_PNG), columns=columns, total=len(first),
                       title="The same val images through every row")
    written.append(os.path.join(runs_dir, GRID_PNG))
    return written


def write_results(runs: Sequence[Run], runs_dir: str) -> None:
    markdown, text = table_texts(runs, runs_dir)
    atomic_write_text(os.path.join(runs_dir, TABLE_MD), markdown)
    atomic_write_text(os.path.join(runs_dir, TABLE_CSV), text)
    write_pictures(runs, runs_dir)


# ------------------------------------------------------------------------------ main
def reproduce(argv: Sequence[str]) -> int:
    """Run the command ARGV (without the program name); returns the exit status."""
    arguments, passed_on = parse_arguments(argv)
    check_passed_on(passed_on)
    for flag in ("input_dir", "val_dir"):
        if not os.path.isdir(getattr(arguments, flag)):
            raise ReproduceError(f"--{flag}: {getattr(arguments, flag)} is not a directory")
    if os.path.exists(arguments.output_dir) and not os.path.isdir(arguments.output_dir):
        raise ReproduceError(f"--output_dir: {arguments.output_dir} exists and is not a directory")
    if passed_on_value(passed_on, "seed") is None:
        passed_on = [*passed_on, "--seed", str(DEFAULT_SEED)]
    runs = plan_runs(arguments.table)
    validate_runs(runs, arguments, passed_on)
    print(f"table {arguments.table}: {len(runs)} runs, each with: {' '.join(passed_on)}", flush=True)
    for run in runs:
        also = [row for _, row in run.rows if row != run.name]
        print(f"  {run.name:24} {' '.join(run.flags) or '(the defaults)'}"
              f"{'  (also ' + ', '.join(sorted(set(also))) + ')' if also else ''}", flush=True)
    check_same_command(arguments.output_dir, command_record(arguments, passed_on))

    try:
        for number, run in enumerate(runs, 1):
            state = read_row(arguments.output_dir, run)
            if state["tested"]:
                print(f"[{number}/{len(runs)}] {run.name}: finished earlier, skipped", flush=True)
                continue
            print(f"[{number}/{len(runs)}] {run.name}", flush=True)
            run_row(run, arguments, passed_on)
            write_results(runs, arguments.output_dir)
    except KeyboardInterrupt:
        write_results(runs, arguments.output_dir)
        print(f"pix2pix-reproduce: interrupted; {os.path.join(arguments.output_dir, TABLE_MD)} marks the "
              f"incomplete rows; re-run the same command to resume", file=sys.stderr, flush=True)
        return INTERRUPTED
    write_results(runs, arguments.output_dir)
    for name in (TABLE_MD, TABLE_CSV, GRID_PNG, LOSSES_PNG):
        print(f"wrote {os.path.join(arguments.output_dir, name)}", flush=True)
    return 0


def main(argv=None) -> None:
    """Console script `pix2pix-reproduce`."""
    try:
        status = reproduce(sys.argv[1:] if argv is None else argv)
    except ReproduceError as err:
        print(f"pix2pix-reproduce: error: {err}", file=sys.stderr)
        status = 2
    except (Pix2PixError, OSError) as err:
        print(f"pix2pix-reproduce: error: {err}", file=sys.stderr)
        status = 1
    except KeyboardInterrupt:
        print("pix2pix-reproduce: interrupted", file=sys.stderr)
        status = INTERRUPTED
    sys.exit(status)


if __name__ == "__main__":
    main()
