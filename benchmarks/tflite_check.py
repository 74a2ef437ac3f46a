"""TFLite check: an export's `tensors` signature converted to TFLite in float32, float16 and int8, each
run with the TFLite interpreter beside the SavedModel on the same pictures: file size, PSNR and ms per
picture, side by side.

    pix2pix --mode export --checkpoint TRAIN_DIR --output_dir EXPORT
    python benchmarks/tflite_check.py --saved_model EXPORT --input_dir TRAINING_IMAGES
    python benchmarks/tflite_check.py --saved_model EXPORT --synthetic 32     # int8 on generated A|B pairs

`pix2pix --mode export --format tflite --quantize Q` does the same conversion and check (pix2pix/
inference/tflite_export.py, used here) on one seeded picture; this script adds the timings and the
PSNR on the calibration pictures themselves. int8 calibrates on --input_dir's images (the export's
task decides what a picture is: A|B pairs, or photos for colorization) or, with --synthetic N, on N
generated A|B pairs of the crop size (tests/helpers.write_ab_pairs; pair models only). The timing:
--rounds rounds, each one call of every TFLite model and one of the SavedModel's `tensors` signature
on the same 1 x crop x crop picture, after a warm-up call of each; medians, and each model's median
ratio to the SavedModel within a round (robust to outside load). Prints one JSON object.
"""

import argparse
import json
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.machine import cpu_name  # noqa: E402
from pix2pix.inference.onnx_export import compare_outputs, load_tensors, random_inputs  # noqa: E402
from pix2pix.inference.tflite_export import (calibration_files, calibration_inputs, convert,  # noqa: E402
                                             interpreter, run_tflite)
from pix2pix.options.record import Options  # noqa: E402
from pix2pix.options.stored import read_options_file, with_model_options  # noqa: E402

QUANTIZATIONS = ("none", "float16", "int8")


def export_options(saved_model, input_dir) -> Options:
    """The model options an export was written with (its assets/options.json), --input_dir INPUT_DIR."""
    stored = read_options_file(os.path.join(saved_model, "assets"))
    return with_model_options(Options(mode="export", input_dir=input_dir), stored)


def timed_ms(function) -> float:
    started = time.perf_counter()
    function()
    return 1000 * (time.perf_counter() - started)


def measure(saved_model: str, quantizations=QUANTIZATIONS, input_dir=None, rounds: int = 5, seed: int = 0) -> dict:
    """The report (see the module docstring) for SAVED_MODEL; INPUT_DIR: int8's calibration images."""
    import numpy as np
    import tensorflow as tf

    options = export_options(saved_model, input_dir)
    model, signature = load_tensors(saved_model)
    check_input = random_inputs(signature, options.crop_size, seed=seed)
    calibration = calibration_inputs(calibration_files(options), options) if "int8" in quantizations else []
    report = {"tensorflow": tf.__version__, "cpu": cpu_name(), "cpus": os.cpu_count(),
              "model": {k: getattr(options, k) for k in ("task", "ngf", "crop_size")},
              "calibration_images": len(calibration), "models": {}}
    lite = {}
    for quantize in quantizations:
        started = time.monotonic()
        content = convert(saved_model, quantize, calibration)
        seconds = time.monotonic() - started
        lite[quantize] = interpreter(content)
        on_pictures = [compare_outputs(run_tflite(lite[quantize], picture), signature, picture).psnr
                       for picture in calibration]
        comparison = compare_outputs(run_tflite(lite[quantize], check_input), signature, check_input)
        report["models"][quantize] = {
            "mb": round(len(content) / 1e6, 1), "convert_seconds": round(seconds, 1),
            "max_abs_difference": comparison.largest, "psnr_db": round(comparison.psnr, 1),
            "psnr_db_calibration_pictures": round(float(np.median(on_pictures)), 1) if on_pictures else None}
    picture = calibration[0] if calibration else check_input
    saved = lambda: signature(inputs=tf.constant(picture))["outputs"].numpy()  # noqa: E731
    saved()
    for model_lite in lite.values():
        run_tflite(model_lite, picture)
    times = {name: [] for name in [*lite, "savedmodel"]}
    for _ in range(rounds):
        for quantize, model_lite in lite.items():
            times[quantize].append(timed_ms(lambda: run_tflite(model_lite, picture)))
        times["savedmodel"].append(timed_ms(saved))
    report["ms_per_picture"] = {name: round(statistics.median(values), 1) for name, values in times.items()}
    report["ratio_to_savedmodel"] = {
        quantize: round(statistics.median(t / s for t, s in zip(times[quantize], times["savedmodel"])), 2)
        for quantize in lite}
    report["rounds"] = rounds
    del model  # kept until the signature's last run (load_tensors)
    return report


def synthetic_pairs(folder: str, count: int, size: int) -> str:
    """FOLDER/pairs: COUNT generated A|B pairs of SIZE (the tests' write_ab_pairs)."""
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests"))
    import pathlib

    from helpers import write_ab_pairs

    return str(write_ab_pairs(pathlib.Path(folder) / "pairs", count=count, size=size))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--saved_model", required=True, help="a pix2pix --mode export folder (dropout off)")
    parser.add_argument("--quantize", default=",".join(QUANTIZATIONS), help="which to convert, comma-separated")
    parser.add_argument("--input_dir", help="int8's calibration images")
    parser.add_argument("--synthetic", type=int, default=0, help="calibrate int8 on this many generated A|B pairs")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0, help="of the check picture (uniform in [-1, 1])")
    args = parser.parse_args()
    quantizations = tuple(args.quantize.split(","))
    with tempfile.TemporaryDirectory() as scratch:
        input_dir = args.input_dir
        if args.synthetic:
            input_dir = synthetic_pairs(scratch, args.synthetic, export_options(args.saved_model, None).crop_size)
        report = measure(args.saved_model, quantizations, input_dir, args.rounds, args.seed)
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
