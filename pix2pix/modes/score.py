"""Score mode: the figures of a folder of predictions against a folder of targets.

    pix2pix --mode score --input_dir PREDICTIONS --target_dir TARGETS --output_dir OUT

Pictures are matched by file stem (after removing --pred_suffix / --target_suffix) and scored
as test mode scores its outputs (reporting/recorder.py): OUT/metrics.csv, metrics.json and
index.html.
"""

import dataclasses
import os
import sys

import cv2

from pix2pix.errors import Pix2PixError
from pix2pix.io.images import ImageError, read_image
from pix2pix.io.listing import report_skipped, scan_folder, sort_image_paths
from pix2pix.modes.preparation import prepare_for
from pix2pix.options.record import Options
from pix2pix.options.stored import save_options
from pix2pix.reporting.metrics import SSIM_RADIUS
from pix2pix.reporting.recorder import METRICS_CSV, MetricsRecorder

SCORE_COLUMNS = (("name", "name", False), ("output", "outputs", True), ("target", "targets", True))
MIN_SIDE = 2 * SSIM_RADIUS + 1  # the SSIM window must fit


@dataclasses.dataclass
class Matching:
    """Two folders' pictures matched by name, and what could not be matched."""

    pairs: list  # (name, prediction path, target path), in the reference's name order
    problems: list  # one line each: unmatched names, names given twice


def _pictures_by_name(directory, suffix, kind, flag):
    """({name: path}, names given twice, problem lines) for the pictures in DIRECTORY whose stems
    end in SUFFIX (removed from the name); a name that several files share is left out. Files that
    are no picture (pix2pix.io.listing's one list) are named on stderr under FLAG."""
    paths_by_name = {}
    listing = scan_folder(directory, one_per_name=False)
    report_skipped(listing, directory, flag=flag)
    for path in sorted(listing.paths):
        stem = os.path.splitext(os.path.basename(path))[0]
        if stem.endswith(suffix):
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
    predictions, pred_twice, problems = _pictures_by_name(pred_dir, pred_suffix, "prediction", "--input_dir")
    targets, target_twice, target_problems = _pictures_by_name(target_dir, target_suffix, "target", "--target_dir")
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


def _read_picture(path, problems, max_pixels=Options.max_pixels):
    """PATH as an RGB uint8 array; None (and a line in PROBLEMS naming it) if it cannot be scored."""
    try:
        picture = read_image(path, max_pixels)
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


def score_mode(options: Options, explicit=None) -> str:
    """Run `--mode score`: metrics.csv, metrics.json and index.html of --input_dir's predictions
    against --target_dir's targets in --output_dir; returns the index.html path.

    A prediction of another size than its target is resized to it (area averaging). Unmatched
    names and unreadable files are named, the rest scored and written, then Pix2PixError says
    how many could not be scored (the CLI's exit status 1).
    """
    options = prepare_for("score", options, explicit)
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
        prediction = _read_picture(pred_path, problems, options.max_pixels)
        target = _read_picture(target_path, problems, options.max_pixels)
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


def run(options: Options, explicit=None) -> int:
    """The mode's entry: score_mode; problems are raised as Pix2PixError (exit 1)."""
    score_mode(options, explicit)
    return 0
