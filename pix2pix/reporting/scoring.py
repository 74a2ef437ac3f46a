"""Scoring outputs against targets: metrics.csv, metrics.json and the figures in index.html.

Test mode records every picture it saves with a MetricsRecorder; `--mode score` (score_mode)
scores any two folders of pictures, matched by file stem, the same way. The figures are
pix2pix.reporting.metrics' on the 8-bit pictures as saved, so re-scoring the PNGs gives the same numbers.
"""

import csv
import dataclasses
import io
import json
import os
import sys

import cv2
import numpy as np

from pix2pix.io.images import ImageError, has_supported_extension, read_image
from pix2pix.data.pipeline import sort_image_paths
from pix2pix.errors import Pix2PixError
from pix2pix.io.files import atomic_write_text
from pix2pix.reporting.metrics import (COLUMNS, FID_BATCH, FID_DEFINITION, FID_MIN_UNBIASED, SSIM_RADIUS,
                             InceptionFeatures, frechet_distance, score_pair, summarize)
from pix2pix.options.record import Options, prepare, save_options
from pix2pix.reporting.pictures import write_index

METRICS_CSV = "metrics.csv"
METRICS_JSON = "metrics.json"
# Predictions test mode scores beside the model's (tasks.Task.baseline), as metrics.json says.
BASELINE_DEFINITIONS = {
    "grey": "the do-nothing colorization: the input's lightness as a grey RGB picture (no colour), "
            "scored against the same targets; a model whose colours are worse than none has an "
            "ab_mae above this one's",
}

# How index.html and the printed means show each figure (the files keep full precision).
FIGURE_FORMATS = {"l1": "{:.2f}", "psnr": "{:.2f}", "ssim": "{:.4f}", "delta_e2000": "{:.2f}",
                  "ab_mae": "{:.2f}", "colourfulness_output": "{:.1f}", "colourfulness_target": "{:.1f}",
                  "colourfulness_ratio": "{:.3f}", "fid": "{:.4g}"}
FIGURE_COLUMNS = tuple((column, column, False) for column in COLUMNS)
SCORE_COLUMNS = (("name", "name", False), ("output", "outputs", True), ("target", "targets", True))
MIN_SIDE = 2 * SSIM_RADIUS + 1  # the SSIM window must fit


def _formatted(key, value) -> str:
    return "" if value is None else FIGURE_FORMATS[key].format(value)


class MetricsRecorder:
    """Scores output/target pairs one at a time and writes what they add up to.

    With FID_WEIGHTS (see metrics.InceptionFeatures) the InceptionV3 features of every
    pair are gathered too, a batch at a time; the network is loaded when the recorder is
    created, so a bad weights file stops a run before any work is done.
    """

    def __init__(self, fid_weights=None):
        self.rows = []  # {"name", COLUMNS...} per pair, in the order added
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

    def _run_network(self):
        if self._pending:
            outputs, targets = zip(*self._pending)
            self._features[0].append(self._network(list(outputs)))
            self._features[1].append(self._network(list(targets)))
            self._pending = []

    def summary(self) -> dict:
        """metrics.summarize of the rows, plus "fid" and its definition when asked for."""
        summary = summarize(self.rows)
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
        writer.writerow([row["name"]] + [repr(float(row[c])) for c in COLUMNS])
    return text.getvalue()


def means_line(summary, label="metrics") -> str:
    """One line of the means, e.g. 'metrics (means of 5 images): l1 12.34  psnr 20.10 ...'."""
    parts = [f"{c} {_formatted(c, summary['means'][c])}" for c in COLUMNS]
    parts.append(f"colourfulness_ratio {_formatted('colourfulness_ratio', summary['colourfulness_ratio']) or 'n/a'}")
    if summary.get("fid") is not None:
        parts.append(f"fid {_formatted('fid', summary['fid'])}")
    return f"{label} (means of {summary['count']} images): " + "  ".join(parts)


# ------------------------------------------------------------------ --mode score
@dataclasses.dataclass
class Matching:
    """Two folders' pictures matched by name, and what could not be matched."""

    pairs: list  # (name, prediction path, target path), in the reference's name order
    problems: list  # one line each: unmatched names, names given twice


def _pictures_by_name(directory, suffix, kind):
    """({name: path}, names given twice, problem lines) for the pictures in DIRECTORY whose stems
    end in SUFFIX (removed from the name); a name that several files share is left out."""
    paths_by_name = {}
    for filename in sorted(os.listdir(directory)):
        path = os.path.join(directory, filename)
        stem = os.path.splitext(filename)[0]
        if os.path.isfile(path) and has_supported_extension(filename) and stem.endswith(suffix):
            paths_by_name.setdefault(stem[:len(stem) - len(suffix)], []).append(path)
    problems = [f"{kind} {name!r} is given by {len(paths)} files ({', '.join(paths)}); not scored"
                for name, paths in paths_by_name.items() if len(paths) > 1]
    unique = {name: paths[0] for name, paths in paths_by_name.items() if len(paths) == 1}
    return unique, set(paths_by_name) - set(unique), problems


def _listed(names, most=20) -> str:
    shown = ", ".join(names[:most])
    return shown + (f", ... ({len(names) - most} more)" if len(names) > most else "")


def match_folders(pred_dir, target_dir, pred_suffix="", target_suffix="") -> Matching:
    """Pair the pictures of PRED_DIR and TARGET_DIR by file stem, after removing the suffixes.

    With a suffix, only files whose stems end in it take part (test mode's images/ folder:
    pred_suffix "-outputs", target_suffix "-targets").
    """
    predictions, pred_twice, problems = _pictures_by_name(pred_dir, pred_suffix, "prediction")
    targets, target_twice, target_problems = _pictures_by_name(target_dir, target_suffix, "target")
    problems += target_problems
    # a name given twice on one side is reported as that, not also as unmatched on the other
    without_target = sort_image_paths([n for n in predictions if n not in targets and n not in target_twice])
    without_prediction = sort_image_paths([n for n in targets if n not in predictions and n not in pred_twice])
    if without_target:
        problems.append(f"no target in {target_dir} for {len(without_target)} prediction(s): "
                        f"{_listed(without_target)}")
    if without_prediction:
        problems.append(f"no prediction in {pred_dir} for {len(without_prediction)} target(s): "
                        f"{_listed(without_prediction)}")
    names = sort_image_paths([n for n in predictions if n in targets])
    return Matching(pairs=[(n, predictions[n], targets[n]) for n in names], problems=problems)


def _read_picture(path, problems):
    """PATH as an RGB uint8 array; None (and a line in PROBLEMS naming it) if it cannot be scored."""
    try:
        picture = read_image(path)
    except ImageError as err:
        problems.append(f"{path}: {err}; not scored")
        return None
    height, width = picture.shape[:2]
    if min(height, width) < MIN_SIDE:
        problems.append(f"{path}: image is {width}x{height}, smaller than the {MIN_SIDE}x{MIN_SIDE} "
                        f"SSIM window; not scored")
        return None
    return picture


def _page_path(path, output_dir) -> str:
    """PATH as index.html in OUTPUT_DIR should link it."""
    return os.path.relpath(os.path.abspath(path), os.path.abspath(output_dir)).replace(os.sep, "/")


def score_mode(options: Options) -> str:
    """Run `--mode score`: metrics.csv, metrics.json and index.html of --input_dir's predictions
    against --target_dir's targets in --output_dir; returns the index.html path.

    A prediction of another size than its target is resized to it (area averaging). Unmatched
    names and unreadable files are named, the rest scored and written, then Pix2PixError says
    how many could not be scored (the CLI's exit status 1).
    """
    options = prepare(dataclasses.replace(options, mode="score"))
    matching = match_folders(options.input_dir, options.target_dir, options.pred_suffix, options.target_suffix)
    problems = list(matching.problems)
    if not matching.pairs:
        details = "".join(f"\n  {line}" for line in problems)
        raise Pix2PixError(f"--input_dir, --target_dir: no prediction has a target of the same name{details}")
    recorder = MetricsRecorder(options.fid_weights)
    os.makedirs(options.output_dir, exist_ok=True)
    save_options(options, options.output_dir)

    rows, resized = [], 0
    for name, pred_path, target_path in matching.pairs:
        prediction, target = _read_picture(pred_path, problems), _read_picture(target_path, problems)
        if prediction is None or target is None:
            continue
        if prediction.shape != target.shape:
            (h, w), (th, tw) = prediction.shape[:2], target.shape[:2]
            prediction = cv2.resize(prediction, (tw, th), interpolation=cv2.INTER_AREA)
            print(f"resized {pred_path} from {w}x{h} to its target's {tw}x{th} (area averaging)", flush=True)
            resized += 1
        recorder.add(name, prediction, target)
        rows.append({"name": name, "outputs": _page_path(pred_path, options.output_dir),
                     "targets": _page_path(target_path, options.output_dir)})
    if resized:
        print(f"{resized} of {len(rows)} predictions were resized to their targets' size", flush=True)
    index = recorder.write(options.output_dir, rows, SCORE_COLUMNS)
    if problems:
        for line in problems:
            print(f"  {line}", file=sys.stderr)
        raise Pix2PixError(f"{len(problems)} problem(s), listed above; the {len(rows)} pair(s) that could be "
                           f"scored are in {os.path.join(options.output_dir, METRICS_CSV)}")
    return index
