"""ONNX check: convert an export's `tensors` signature with tf2onnx, run it with onnxruntime and
compare with TensorFlow's own outputs on the same random inputs, at any batch and size.

    pip install ".[onnx]"                  # tf2onnx and onnxruntime
    pix2pix --mode export --checkpoint TRAIN_DIR --output_dir EXPORT --deterministic
    python benchmarks/onnx_check.py --saved_model EXPORT --output model.onnx

`pix2pix --mode export --format onnx` does the same conversion and check (pix2pix/inference/
onnx_export.py, used here) on one crop_size picture; this script adds batches, other sizes and
timings. The export must be --deterministic (dropout off), else the two runs draw different dropout
masks. Inputs are uniform in [-1, 1], --batch pictures of --size x --size (default: the model's
crop_size, from the export's options.json). Prints one JSON object (versions, CPU, conversion
seconds, the largest and mean absolute difference, one run's time in each) and exits 0 when the
largest difference is within --tolerance, 1 when not, 2 when the conversion fails.
"""

import argparse
import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.machine import cpu_name  # noqa: E402
from pix2pix.errors import Pix2PixError  # noqa: E402
from pix2pix.inference.onnx_export import (CHECK_SEED, OPSET, TOLERANCE, compare, convert,  # noqa: E402
                                           load_tensors, onnx_session, random_inputs)


def export_options(saved_model):
    with open(os.path.join(saved_model, "assets", "options.json"), encoding="utf-8") as handle:
        return json.load(handle)


def timed(function):
    started = time.perf_counter()
    value = function()
    return value, 1000 * (time.perf_counter() - started)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--saved_model", required=True, help="a pix2pix --mode export folder (--deterministic)")
    parser.add_argument("--output", help="where to keep the .onnx file (default: a temporary one)")
    parser.add_argument("--opset", type=int, default=OPSET)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--size", type=int, help="picture side (default: the model's crop_size)")
    parser.add_argument("--tolerance", type=float, default=TOLERANCE)
    parser.add_argument("--seed", type=int, default=CHECK_SEED)
    args = parser.parse_args()

    options = export_options(args.saved_model)
    if not options.get("deterministic"):
        sys.exit("%s was exported without --deterministic: dropout would make every run differ"
                 % args.saved_model)
    import onnxruntime
    import tensorflow as tf
    import tf2onnx

    model, signature = load_tensors(args.saved_model)
    inputs = random_inputs(signature, args.size or options["crop_size"], args.batch, args.seed)
    with tempfile.TemporaryDirectory() as scratch:
        output = args.output or os.path.join(scratch, "model.onnx")
        try:
            seconds = convert(signature, output, args.opset)
        except Pix2PixError as err:
            sys.stderr.write(f"{err}\n")
            return 2
        session = onnx_session(output)
        comparison = compare(session, signature, inputs)  # also both runs' warm-up (TensorFlow traces)
        _, onnx_ms = timed(lambda: session.run(None, {"inputs": inputs}))
    _, tf_ms = timed(lambda: signature(inputs=tf.constant(inputs))["outputs"].numpy())
    report = {
        "tensorflow": tf.__version__, "tf2onnx": tf2onnx.__version__, "onnxruntime": onnxruntime.__version__,
        "opset": args.opset, "cpu": cpu_name(), "model": {k: options.get(k) for k in ("task", "ngf", "crop_size")},
        "inputs": list(comparison.shape), "convert_seconds": round(seconds, 1),
        "max_abs_difference": comparison.largest, "mean_abs_difference": comparison.mean,
        "tolerance": args.tolerance, "tensorflow_ms": round(tf_ms, 1), "onnxruntime_ms": round(onnx_ms, 1),
    }
    print(json.dumps(report, indent=2))
    del model  # kept until the signature's last run (load_tensors)
    return 0 if report["max_abs_difference"] <= args.tolerance else 1


if __name__ == "__main__":
    sys.exit(main())
