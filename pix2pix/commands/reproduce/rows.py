"""Running one row: its training (resumed where it stopped) and its test, each a `pix2pix`
subprocess whose output goes to the row's log; Ctrl-C is forwarded once."""

import os
import signal
import subprocess
import time

from pix2pix.commands.reproduce.arguments import run_commands
from pix2pix.commands.reproduce.state import checkpoint_step, read_row, write_row
from pix2pix.commands.reproduce.tables import INTERRUPTED, Run
from pix2pix.errors import Pix2PixError


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
                log.flush()  # each line in the log as it comes (tail -f), not a buffer later
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
