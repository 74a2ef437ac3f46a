"""The metrics recorder: scores output/target pairs and writes metrics.csv, metrics.json and the
figures in index.html.

Test mode records every picture it saves with a MetricsRecorder; `--mode score`
(modes/score.py) scores any two folders of pictures, matched by file stem, the same way. The
figures are reporting.metrics' on the 8-bit pictures as saved, so re-scoring the PNGs gives
the same numbers.
"""

import csv
import io
import json
import os

import numpy as np

from pix2pix.io.files import atomic_write_text
from pix2pix.reporting.fid import FID_BATCH, FID_DEFINITION, FID_MIN_UNBIASED, InceptionFeatures, frechet_distance
from pix2pix.reporting.metrics import COLUMNS, FULL_DEPTH_DEFINITIONS, score_data, score_pair, summarize
from pix2pix.reporting.pictures import write_index

METRICS_CSV = "metrics.csv"
METRICS_JSON = "metrics.json"
# Predictions test mode scores beside the model's (tasks.Task.baseline), as metrics.json says.
BASELINE_DEFINITIONS = {
    "grey": "the do-nothing colorization: the input's lightness as a grey RGB picture (no colour), "
            "scored against the same targets; a model whose colours are worse than none has an "
            "ab_mae above this one's",
}
# How to read the model's line against each baseline's, printed under them.
BASELINE_READINGS = {
    "grey": "how to read: PSNR and SSIM favour the grey input (a wrong colour costs more in them than none); "
            "the model learnt colour where its ab_mae and delta_e2000 are below the grey input's and its "
            "colourfulness_ratio is near 1 (0.7-1.3; below washes out, above over-paints)",
}

# How index.html and the printed means show each figure (the files keep full precision).
FIGURE_FORMATS = {"l1": "{:.2f}", "psnr": "{:.2f}", "ssim": "{:.4f}", "delta_e2000": "{:.2f}",
                  "ab_mae": "{:.2f}", "colourfulness_output": "{:.1f}", "colourfulness_target": "{:.1f}",
                  "colourfulness_ratio": "{:.3f}", "fid": "{:.4g}"}
FIGURE_COLUMNS = tuple((column, column, False) for column in COLUMNS)


def _formatted(key, value) -> str:
    return "" if value is None else FIGURE_FORMATS[key].format(value)


class MetricsRecorder:
    """Scores output/target pairs one at a time and writes what they add up to.

    With FID_WEIGHTS (see fid.InceptionFeatures) the InceptionV3 features of every
    pair are gathered too, a batch at a time; the network is loaded when the recorder is
    created, so a bad weights file stops a run before any work is done.
    """

    def __init__(self, fid_weights=None, full_depth=None):
        """FULL_DEPTH: a dict describing data scored at full depth with add_data (sample type, channels,
        data range), copied into metrics.json with the full-depth definitions."""
        self.rows = []  # {"name", COLUMNS...} per pair, in the order added
        self.full_depth = full_depth
        self._fid_weights = fid_weights
        self._network = InceptionFeatures(fid_weights) if fid_weights else None
        self._pending = []  # (output, target) pictures not yet through the network
        self._features = ([], [])  # output and target feature batches

    def add(self, name, output_rgb, target_rgb) -> dict:
        """Score one pair (uint8 RGB arrays of the same size); returns its row."""
        row = {"name": name, **score_pair(output_rgb, target_rgb)}
        self.rows.append(row)
        if self._network is not None:
            self._pending.append((output_rgb, target_rgb))
            if len(self._pending) >= FID_BATCH:
                self._run_network()
        return row

    def add_data(self, name, output, target) -> dict:
        """Score one pair of [H, W, C] arrays at full depth (metrics.score_data, the recorder's FULL_DEPTH
        data range); returns its row."""
        row = {"name": name, **score_data(output, target, self.full_depth["data_range"])}
        self.rows.append(row)
        return row

    def _run_network(self):
        if self._pending:
            outputs, targets = zip(*self._pending)
            self._features[0].append(self._network(list(outputs)))
            self._features[1].append(self._network(list(targets)))
            self._pending = []

    def summary(self) -> dict:
        """metrics.summarize of the rows, plus "fid" and its definition when asked for."""
        summary = summarize(self.rows)
        if self.full_depth is not None:
            summary["full_depth"] = dict(self.full_depth)
            summary["definitions"].update(FULL_DEPTH_DEFINITIONS)
        if self._network is not None:
            self._run_network()
            outputs, targets = (np.concatenate(batches) if batches else None for batches in self._features)
            summary["fid"] = frechet_distance(outputs, targets) if len(self.rows) >= 2 else None
            summary["fid_weights"] = self._fid_weights
            summary["definitions"]["fid"] = FID_DEFINITION
        return summary

    def write(self, output_dir, picture_rows, picture_columns, baselines=None) -> str:
        """Write metrics.csv, metrics.json and index.html (PICTURE_ROWS, one per scored pair,
        shown in PICTURE_COLUMNS, then the figures and a row of means); print the means.
        BASELINES {name: MetricsRecorder} (names of BASELINE_DEFINITIONS) of other predictions
        of the same targets go into metrics.json and are printed after the model's means.
        Returns the index.html path."""
        summary = self.summary()
        baseline_summaries = {name: recorder.summary() for name, recorder in (baselines or {}).items()}
        if baseline_summaries:
            summary["baselines"] = {
                name: {"definition": BASELINE_DEFINITIONS[name], "means": figures["means"],
                       "colourfulness_ratio": figures["colourfulness_ratio"]}
                for name, figures in baseline_summaries.items()}
        csv_path = os.path.join(output_dir, METRICS_CSV)
        atomic_write_text(csv_path, metrics_csv(self.rows))
        json_path = os.path.join(output_dir, METRICS_JSON)
        atomic_write_text(json_path, json.dumps(summary, indent=4) + "\n")
        figures = [{**pictures, **{c: _formatted(c, row[c]) for c in COLUMNS}}
                   for pictures, row in zip(picture_rows, self.rows)]
        footer = {"name": f"mean of {summary['count']}",
                  **{c: _formatted(c, summary["means"][c]) for c in COLUMNS}}
        index = write_index(output_dir, figures, columns=tuple(picture_columns) + FIGURE_COLUMNS, footer=footer)
        for path in (csv_path, json_path, index):
            print(f"wrote {path}", flush=True)
        print(means_line(summary), flush=True)
        for name, figures in baseline_summaries.items():
            print(means_line(figures, f"{name} baseline"), flush=True)
        for name in baseline_summaries:
            print(BASELINE_READINGS[name], flush=True)
        if summary.get("fid") is not None and summary["count"] < FID_MIN_UNBIASED:
            print(f"note: FID on {summary['count']} images (< {FID_MIN_UNBIASED}) is biased; compare it only "
                  f"with runs of this project on the same number of images", flush=True)
        elif "fid" in summary and summary["fid"] is None:
            print("note: FID needs at least 2 images; none computed", flush=True)
        return index


def metrics_csv(rows) -> str:
    """The text of metrics.csv: name, then COLUMNS; floats at full precision (repr round-trips)."""
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(("name",) + COLUMNS)
    for row in rows:
        writer.writerow([row["name"]] + ["" if row[c] is None else repr(float(row[c])) for c in COLUMNS])
    return text.getvalue()


def means_line(summary, label="metrics") -> str:
    """One line of the means, e.g. 'metrics (means of 5 images): l1 12.34  psnr 20.10 ...'."""
    parts = [f"{c} {_formatted(c, summary['means'][c])}" for c in COLUMNS
             if summary["means"][c] is not None or not summary.get("full_depth")]
    if not summary.get("full_depth"):
        ratio = _formatted("colourfulness_ratio", summary["colourfulness_ratio"]) or "n/a"
        parts.append(f"colourfulness_ratio {ratio}")
    if summary.get("fid") is not None:
        parts.append(f"fid {_formatted('fid', summary['fid'])}")
    return f"{label} (means of {summary['count']} images): " + "  ".join(parts)


