"""ONNX: an export's `tensors` signature (the raw generator) converted with tf2onnx, and checked by
running it in ONNX Runtime and in TensorFlow on the same input.

    pix2pix --mode export --format onnx --deterministic    (modes/export.py: write_onnx)
    benchmarks/onnx_check.py                               (load_tensors, convert, compare)

tf2onnx and onnxruntime are the `onnx` extra, not dependencies of the project. Nothing heavy is
imported at the top of this module: the command line calls require_onnx_tools before anything
loads TensorFlow (the export mode's check, modes/catalog/export.py), so a missing package answers
at once; TensorFlow, NumPy, tf2onnx and onnxruntime are imported by the functions that use them.
"""

import dataclasses
import importlib.util
import os
import time

from pix2pix.errors import Pix2PixError, error_line

ONNX_FILE = "model.onnx"  # written inside the export directory, beside saved_model.pb
# tf2onnx 1.17's own default (its command line's --opset), from ONNX 1.10 (2021): older runtimes
# load it, and it has every op the converted generators use. Pinned because tf2onnx's Python API
# would otherwise take the newest opset of the installed onnx package: the file, and who can run
# it, would change with an unrelated upgrade.
OPSET = 15
TOLERANCE = 1e-4  # the largest absolute difference allowed between ONNX Runtime and TensorFlow
CHECK_SEED = 0  # the seed of export's own check input (uniform in [-1, 1])
TOOLS = ("tf2onnx", "onnxruntime")
INSTALL_HINT = 'pip install ".[onnx]"'


@dataclasses.dataclass(frozen=True)
class Comparison:
    """ONNX Runtime's outputs against TensorFlow's on one input."""

    shape: tuple  # of the input, [N, H, W, C]
    largest: float  # absolute difference
    mean: float

    @property
    def input_size(self) -> str:
        return "x".join(map(str, self.shape))

    def __str__(self):
        return f"largest difference from TensorFlow {self.largest:.1e} on a {self.input_size} input"


def require_onnx_tools() -> None:
    """tf2onnx and onnxruntime are installed, or a one-line Pix2PixError saying how to install
    them. It looks for them without importing them (tf2onnx imports TensorFlow)."""
    missing = [name for name in TOOLS if importlib.util.find_spec(name) is None]
    if missing:
        raise Pix2PixError(f"--format onnx needs {' and '.join(missing)} (not installed): {INSTALL_HINT}")


def _import_tools():
    """(tf2onnx, onnxruntime), or the install hint when one is present but cannot be imported."""
    try:
        import onnxruntime
        import tf2onnx
    except ImportError as err:
        raise Pix2PixError(f"--format onnx: {error_line(err)}: {INSTALL_HINT}") from None
    return tf2onnx, onnxruntime


def load_tensors(saved_model: str):
    """(the loaded SavedModel SAVED_MODEL, its `tensors` signature: inputs= -> {"outputs"}). Keep the
    first while using the second: a loaded signature holds its variables by weak reference only,
    and traced into a tf.function (as convert does) it fails once they are gone."""
    import tensorflow as tf

    from pix2pix.inference.translator import TENSORS_SIGNATURE

    model = tf.saved_model.load(saved_model)
    return model, model.signatures[TENSORS_SIGNATURE]


def random_inputs(signature, size: int, batch: int = 1, seed: int = CHECK_SEED):
    """BATCH inputs of SIZE x SIZE for SIGNATURE (its channel count), uniform in [-1, 1], float32."""
    import numpy as np

    channels = signature.structured_input_signature[1]["inputs"].shape[-1]
    return np.random.default_rng(seed).uniform(-1, 1, (batch, size, size, channels)).astype(np.float32)


def convert(signature, output: str, opset: int = OPSET) -> float:
    """Write SIGNATURE (an export's `tensors`, from load_tensors) to OUTPUT as ONNX: input
    `inputs`, output `outputs`, NHWC, any batch and size. Returns the seconds it took;
    Pix2PixError if tf2onnx fails.

    tf2onnx's Python API (from_function) in this process: with TensorFlow 2.21 it converts the
    loaded signature as its command line does, without a second process importing TensorFlow."""
    import tensorflow as tf

    tf2onnx, _ = _import_tools()
    started = time.monotonic()
    spec = signature.structured_input_signature[1]["inputs"]

    # One positional input named like the signature's: from_function names the ONNX input after the
    # TensorSpec and the output after the signature's output key.
    @tf.function(input_signature=[tf.TensorSpec(spec.shape, spec.dtype, name="inputs")])
    def tensors(inputs):
        return signature(inputs=inputs)

    try:
        tf2onnx.convert.from_function(tensors, input_signature=tensors.input_signature, opset=opset,
                                      output_path=output)
    except Exception as err:  # tf2onnx raises what its op handlers raise: name the step, on one line
        raise Pix2PixError(f"--format onnx: tf2onnx could not convert the tensors signature: "
                           f"{type(err).__name__}: {error_line(err)}") from None
    return time.monotonic() - started


def onnx_session(path: str):
    """An ONNX Runtime session of PATH on the CPU."""
    _, onnxruntime = _import_tools()
    return onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])


def compare(session, signature, inputs) -> Comparison:
    """Run INPUTS through SESSION (ONNX Runtime) and SIGNATURE (the SavedModel's `tensors`)."""
    import numpy as np
    import tensorflow as tf

    onnx_outputs = session.run(["outputs"], {"inputs": inputs})[0]
    tf_outputs = signature(inputs=tf.constant(inputs))["outputs"].numpy()
    difference = np.abs(onnx_outputs.astype(np.float64) - tf_outputs)
    return Comparison(tuple(inputs.shape), float(difference.max()), float(difference.mean()))


def write_onnx(saved_model: str, size: int) -> Comparison:
    """SAVED_MODEL/model.onnx from its `tensors` signature, then checked: both run one seeded
    SIZE x SIZE input, and a largest difference over TOLERANCE is a Pix2PixError (the caller
    discards the directory). Returns the comparison."""
    path = os.path.join(saved_model, ONNX_FILE)
    model, signature = load_tensors(saved_model)
    convert(signature, path)
    comparison = compare(onnx_session(path), signature, random_inputs(signature, size))
    del model  # kept until here (load_tensors)
    if not comparison.largest <= TOLERANCE:  # NaN fails too
        raise Pix2PixError(f"--format onnx: the ONNX model differs from the SavedModel by {comparison.largest:.2e} "
                           f"(more than {TOLERANCE:g}) on a seeded {comparison.input_size} input; "
                           "nothing was written (export without --format onnx for the SavedModel alone)")
    return comparison
