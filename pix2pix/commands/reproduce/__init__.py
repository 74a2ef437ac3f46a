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

import os
import sys
from typing import Sequence

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow loads (validate_runs), as the CLI

from pix2pix.commands.reproduce.arguments import (check_passed_on, parse_arguments,  # noqa: E402
                                                  passed_on_value, validate_runs)
from pix2pix.commands.reproduce.results import write_results  # noqa: E402
from pix2pix.commands.reproduce.rows import run_row  # noqa: E402
from pix2pix.commands.reproduce.state import check_same_command, command_record, read_row  # noqa: E402
from pix2pix.commands.reproduce.tables import (DEFAULT_SEED, GRID_PNG, INTERRUPTED, LOSSES_PNG,  # noqa: E402
                                               TABLE_CSV, TABLE_MD, TABLES, ReproduceError, plan_runs)
from pix2pix.errors import Pix2PixError  # noqa: E402

__all__ = ["TABLES", "plan_runs", "reproduce", "main"]


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

    ran = False  # a row ran in this command: the results written after it hold every row
    try:
        for number, run in enumerate(runs, 1):
            state = read_row(arguments.output_dir, run)
            if state["tested"]:
                print(f"[{number}/{len(runs)}] {run.name}: finished earlier, skipped", flush=True)
                continue
            print(f"[{number}/{len(runs)}] {run.name}", flush=True)
            run_row(run, arguments, passed_on)
            write_results(runs, arguments.output_dir)
            ran = True
    except KeyboardInterrupt:
        write_results(runs, arguments.output_dir)
        print(f"pix2pix-reproduce: interrupted; {os.path.join(arguments.output_dir, TABLE_MD)} marks the "
              f"incomplete rows; re-run the same command to resume", file=sys.stderr, flush=True)
        return INTERRUPTED
    if not ran:  # rows skipped later change nothing: drawn again only when no row ran
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
