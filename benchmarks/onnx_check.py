"""ONNX check: convert an export's `tensors` signature with tf2onnx, run it with onnxruntime and
compare with TensorFlow's own outputs on the same random inputs.

    pip install tf2onnx onnxruntime        # not dependencies of the project
    pix2pix --mode export --checkpoint TRAIN_DIR --output_dir EXPORT --deterministic
    python benchmarks/onnx_check.py --saved_model EXPORT --output model.onnx

The export must be --deterministic (dropout off), else the two runs draw different dropout
masks. Inputs are uniform in [-1, 1], --batch pictures of --size x --size (default: the
model's crop_size, from the export's options.json). Prints one JSON object (versions, CPU,
conversion seconds, the largest and mean absolute difference, one run's time in each) and exits
0 when the largest difference is within --tolerance, 1 when not, 2 when the conversion fails.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

from benchmarks.machine import cpu_name  # noqa: E402

SIGNATURE = "tensors"
CONVERT_TIMEOUT = 1800  # seconds; the default 256x256, ngf 64 model takes minutes on a busy CPU


def export_options(saved_model):
    with open(os.path.join(saved_model, "assets", "options.json"), encoding="utf-8") as handle:
        return json.load(handle)


def convert(saved_model, output, opset):
    """tf2onnx's own command line on the `tensors` signature; returns its seconds, or exits 2."""
    command = [sys.executable, "-m", "tf2onnx.convert", "--saved-model", saved_model, "--tag", "serve",
               "--signature_def", SIGNATURE, "--opset", str(opset), "--output", output]
    started = time.monotonic()
    result = subprocess.run(command, capture_output=True, text=True, timeout=CONVERT_TIMEOUT)
    if result.returncode != 0:
        sys.stderr.write("tf2onnx failed (exit %d):\n%s\n" % (result.returncode, result.stderr[-4000:]))
        sys.exit(2)
    return time.monotonic() - started


def timed(function):
    started = time.perf_counter()
    value = function()
    return value, 1000 * (time.perf_counter() - started)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--saved_model", required=True, help="a pix2pix --mode export folder (--deterministic)")
    parser.add_argument("--output", help="where to keep the .onnx file (default: a temporary one)")
    parser.add_argument("--opset", type=int, default=15)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--size", type=int, help="picture side (default: the model's crop_size)")
    parser.add_argument("--tolerance", type=float, default=1e-4)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    options = export_options(args.saved_model)
    if not options.get("deterministic"):
        sys.exit("%s was exported without --deterministic: dropout would make every run differ"
                 % args.saved_model)
    import onnxruntime
    import tensorflow as tf
    import tf2onnx

    size = args.size or options["crop_size"]
    signature = tf.saved_model.load(args.saved_model).signatures[SIGNATURE]
    channels = signature.structured_input_signature[1]["inputs"].shape[-1]
    inputs = np.random.default_rng(args.seed).uniform(-1, 1, (args.batch, size, size, channels)).astype(np.float32)
    with tempfile.TemporaryDirectory() as scratch:
        output = args.output or os.path.join(scratch, "model.onnx")
        seconds = convert(args.saved_model, output, args.opset)
        session = onnxruntime.InferenceSession(output, providers=["CPUExecutionProvider"])
        session.run(None, {"inputs": inputs})  # warm-up
        onnx_out, onnx_ms = timed(lambda: session.run(None, {"inputs": inputs})[0])
    signature(inputs=tf.constant(inputs))  # warm-up (tracing)
    tf_out, tf_ms = timed(lambda: signature(inputs=tf.constant(inputs))["outputs"].numpy())
    difference = np.abs(onnx_out.astype(np.float64) - tf_out)
    report = {
        "tensorflow": tf.__version__, "tf2onnx": tf2onnx.__version__, "onnxruntime": onnxruntime.__version__,
        "opset": args.opset, "cpu": cpu_name(), "model": {k: options.get(k) for k in ("task", "ngf", "crop_size")},
        "inputs": list(inputs.shape), "convert_seconds": round(seconds, 1),
        "max_abs_difference": float(difference.max()), "mean_abs_difference": float(difference.mean()),
        "tolerance": args.tolerance, "tensorflow_ms": round(tf_ms, 1), "onnxruntime_ms": round(onnx_ms, 1),
    }
    print(json.dumps(report, indent=2))
    return 0 if report["max_abs_difference"] <= args.tolerance else 1


if __name__ == "__main__":
    sys.exit(main())
