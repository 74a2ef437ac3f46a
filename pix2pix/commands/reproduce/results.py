"""The results of the rows so far: table.md, table.csv, grid.png and losses.png."""

import csv
import io
import json
import os
from typing import List, Sequence, Tuple

from pix2pix.commands.reproduce.state import read_row
from pix2pix.commands.reproduce.tables import GRID_ROWS, GRID_PNG, LOSSES_PNG, TABLE_COLUMNS, TABLE_CSV, \
    TABLE_MD, TABLES, Run
from pix2pix.io.files import atomic_write_text


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
    from pix2pix.reporting import loss_history, plots
    written = []
    histories = {}
    for run in runs:
        csv_path = os.path.join(runs_dir, run.name, "train", "losses.csv")
        if os.path.isfile(csv_path):
            histories[run.name] = loss_history.read_loss_history(csv_path)
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
