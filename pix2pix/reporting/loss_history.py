"""The loss history of a training run (losses.csv): appended at every progress report, truncated
when a run resumes, read back for plots.

The loss history file has one row per progress report of the trainer, holding the
averaged losses it prints (the model's loss names, whatever they are):

    step,discrim_loss,gen_loss_GAN,gen_loss_L1
    50,1.2026,0.8929,0.1405

A run whose model reports other losses (another --gan_mode) continues the file with the
union of the columns; a loss a row does not have is an empty cell (None when read).
"""

import csv
import os

from pix2pix.io.files import atomic_write_text

LOSS_FIELDS = ("step", "discrim_loss", "gen_loss_GAN", "gen_loss_L1")  # the default model's file


def loss_columns(history):
    """The loss names of HISTORY's records, in order of first appearance."""
    names = []
    for record in history:
        names += [name for name in record if name != "step" and name not in names]
    return names


def _format_row(record, names) -> str:
    """One CSV line for a loss record; floats keep full precision (repr round-trips)."""
    values = [str(int(record["step"]))]
    values += ["" if record.get(name) is None else repr(float(record[name])) for name in names]
    return ",".join(values) + "\n"


def read_loss_history(csv_path):
    """The records of CSV_PATH as a list of dicts, in file order; [] if the file does not exist.

    Raises ValueError naming the file and line if the header or a row is not what
    append_loss_history writes.
    """
    if not os.path.exists(csv_path):
        return []
    with open(csv_path, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None:
            return []
        if not header or header[0] != "step" or len(set(header)) != len(header) or "" in header:
            raise ValueError(f"{csv_path}: header must be step followed by loss names, "
                             f"got {','.join(header)}")
        names = header[1:]
        history = []
        for row in reader:
            if not row:
                continue
            if len(row) != len(header):
                raise ValueError(f"{csv_path}, line {reader.line_num}: expected "
                                 f"{len(header)} values, got {len(row)}")
            try:
                record = {"step": int(row[0])}
                record.update((name, float(value) if value != "" else None)
                              for name, value in zip(names, row[1:]))
            except ValueError as err:
                raise ValueError(f"{csv_path}, line {reader.line_num}: {err}") from None
            history.append(record)
    return history


def _write_loss_history(csv_path, history) -> None:
    """Replace CSV_PATH with HISTORY in one atomic rename (a crash leaves the old or the new file)."""
    names = loss_columns(history)
    text = ",".join(["step"] + names) + "\n" + "".join(_format_row(r, names) for r in history)
    atomic_write_text(csv_path, text)


def append_loss_history(csv_path, record) -> None:
    """Add RECORD ({"step", loss name: value, ...}) to CSV_PATH.

    The file is created with its header if missing and always rewritten whole and
    atomically, so it is never seen half-written. Rows at RECORD's step or later are
    replaced: a step has one set of averages, and re-running it (after a resume from an
    older checkpoint) supersedes what the earlier attempt recorded. Columns are the union
    of the file's and the record's.
    """
    if "step" not in record or len(record) < 2:
        raise ValueError(f"loss record needs a step and at least one loss: {record!r}")
    step = int(record["step"])
    history = [r for r in read_loss_history(csv_path) if r["step"] < step]
    history.append(dict(record))
    _write_loss_history(csv_path, history)


def truncate_loss_history(csv_path, step) -> int:
    """Drop the rows of CSV_PATH after STEP (call it when resuming from a checkpoint at STEP).

    Training that continued past the checkpoint before it was stopped recorded losses
    the resumed run will record again. Returns the number of rows dropped; a missing
    file is left missing.
    """
    history = read_loss_history(csv_path)
    kept = [r for r in history if r["step"] <= step]
    if len(kept) != len(history):
        _write_loss_history(csv_path, kept)
    return len(history) - len(kept)
