"""ONNX: an export's `tensors` signature (the raw generator) converted with tf2onnx, and checked by
running it in ONNX Runtime and in TensorFlow on the same input.

    pix2pix --mode export --format onnx --deterministic    (modes/export.py: write_onnx)
    benchmarks/onnx_check.py                               (load_tensors, convert, compare)

tf2onnx and onnxruntime are the `onnx` extra, not dependencies of the project. Nothing heavy is
imported at the top of this module: the command line calls require_onnx_tools before anything
loads TensorFlow (the export mode's check, modes/catalog/export.py), so a missing package answers
at once; TensorFlow, NumPy, tf2onnx and onnxruntime are imported by the functions that use them.
"""

import contextlib
import ctypes
import dataclasses
import gc
import importlib.util
import math
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
# Constants of more elements than this (the generator's weights, not its shape and index constants)
# go around grappler during the conversion as placeholders: see _lean_conversion.
WEIGHT_ELEMENTS = 1024
TOOLS = ("tf2onnx", "onnxruntime")
INSTALL_HINT = 'pip install ".[onnx]"'


def psnr(mean_squared: float) -> float:
    """The PSNR in dB of outputs in [-1, 1] (peak-to-peak 2) that differ by MEAN_SQUARED on average;
    inf when they are equal, NaN when either has a NaN."""
    return math.inf if mean_squared == 0 else 10 * math.log10(4 / mean_squared)


@dataclasses.dataclass(frozen=True)
class Comparison:
    """A converted model's outputs (ONNX Runtime's, the TFLite interpreter's) against TensorFlow's on one input."""

    shape: tuple  # of the input, [N, H, W, C]
    largest: float  # absolute difference
    mean: float
    squared: float = 0.0  # the mean squared difference

    @property
    def input_size(self) -> str:
        return "x".join(map(str, self.shape))

    @property
    def psnr(self) -> float:
        """The PSNR in dB of the outputs against TensorFlow's (psnr below)."""
        return psnr(self.squared)

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
        with _lean_conversion():
            tf2onnx.convert.from_function(tensors, input_signature=tensors.input_signature, opset=opset,
                                          output_path=output)
    except Exception as err:  # tf2onnx raises what its op handlers raise: name the step, on one line
        raise Pix2PixError(f"--format onnx: tf2onnx could not convert the tensors signature: "
                           f"{type(err).__name__}: {error_line(err)}") from None
    return time.monotonic() - started


@contextlib.contextmanager
def _lean_conversion():
    """tf2onnx's conversion, without the copies of the weights that took converting the default generator
    (218 MB of weights) past 11 GB. The same ops come out (counted on that generator); the weights keep
    the names TensorFlow's freezing gives them. What it changes, each measured on that generator:

    - grappler (tf2onnx's constant folding of the frozen graph; 3.3 GB above its input): it copies the
      GraphDef a dozen times. The weights go around it: each constant of more than WEIGHT_ELEMENTS
      elements goes in as a placeholder of its dtype and shape and comes back as the constant after.
    - tf2onnx's optimizers (5 GB): before each of its 12 passes, twice over, it writes every node's
      attributes into the node's protobuf message anew, and the message's arena (upb, protobuf's C
      backend) keeps the old ones until the message is freed: each pass added a copy of the weights.
      Each node gets a new message instead.
    - the same optimizers deep-copy the whole graph before each pass, to fall back on if the pass raises
      (TF2ONNX_CATCH_ERRORS, on by default; more GB of garbage in reference cycles). Off: a pass that
      raises fails the conversion, named.
    - what TensorFlow's freezing leaves (1.7 GB: reference cycles, and memory freed but kept by the C
      allocator) is let go before grappler and again before the ONNX graph is built (_release_memory).
    """
    import onnx
    from tf2onnx import graph, tf_loader

    from_function, tf_optimize, update_proto = tf_loader.from_function, tf_loader.tf_optimize, graph.Node.update_proto

    def freeze_then_release(*args, **kwargs):
        frozen = from_function(*args, **kwargs)
        _release_memory()
        return frozen

    def optimize_without_weights(input_names, output_names, graph_def):
        _release_memory()
        weights, light = _weights_as_placeholders(graph_def)
        optimized = tf_optimize(input_names, output_names, light)
        for node in optimized.node:
            if node.op == "Placeholder" and node.name in weights:
                node.CopyFrom(weights[node.name])
        return optimized

    def update_into_a_new_message(node, external_tensor_storage=None):
        old = node._op  # tf2onnx keeps nothing else in it (input, output and attribute are rewritten)
        node._op = onnx.NodeProto(name=old.name, op_type=old.op_type, domain=old.domain)
        update_proto(node, external_tensor_storage)

    catch_errors = os.environ.get("TF2ONNX_CATCH_ERRORS")
    tf_loader.from_function, tf_loader.tf_optimize = freeze_then_release, optimize_without_weights
    graph.Node.update_proto = update_into_a_new_message
    os.environ["TF2ONNX_CATCH_ERRORS"] = "FALSE"
    try:
        yield
    finally:
        tf_loader.from_function, tf_loader.tf_optimize = from_function, tf_optimize
        graph.Node.update_proto = update_proto
        if catch_errors is None:
            del os.environ["TF2ONNX_CATCH_ERRORS"]
        else:
            os.environ["TF2ONNX_CATCH_ERRORS"] = catch_errors


def _release_memory() -> None:
    """Free what reference cycles hold, then hand the C allocator's free pages back to the system
    (glibc's malloc_trim; elsewhere the collection alone)."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError, TypeError):  # TypeError: no CDLL(None) on Windows
        ctypes.CDLL(None).malloc_trim(0)


def _weights_as_placeholders(graph_def):
    """({name: Const NodeDef of GRAPH_DEF with more than WEIGHT_ELEMENTS elements}, a copy of GRAPH_DEF
    with each of them a Placeholder of its dtype and shape)."""
    import tensorflow as tf

    weights, light = {}, tf.compat.v1.GraphDef()
    light.versions.CopyFrom(graph_def.versions)
    light.library.CopyFrom(graph_def.library)
    for node in graph_def.node:
        value = node.attr["value"].tensor if node.op == "Const" else None
        if value is None or value.tensor_shape.unknown_rank or \
                math.prod(dim.size for dim in value.tensor_shape.dim) <= WEIGHT_ELEMENTS:
            light.node.add().CopyFrom(node)
            continue
        weights[node.name] = node
        placeholder = light.node.add(name=node.name, op="Placeholder", device=node.device)
        placeholder.attr["dtype"].type = value.dtype
        placeholder.attr["shape"].shape.CopyFrom(value.tensor_shape)
        if "_output_shapes" in node.attr:
            placeholder.attr["_output_shapes"].CopyFrom(node.attr["_output_shapes"])
    return weights, light


def onnx_session(path: str):
    """An ONNX Runtime session of PATH on the CPU."""
    _, onnxruntime = _import_tools()
    return onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])


def compare(session, signature, inputs) -> Comparison:
    """Run INPUTS through SESSION (ONNX Runtime) and SIGNATURE (the SavedModel's `tensors`)."""
    onnx_outputs = session.run(["outputs"], {"inputs": inputs})[0]
    return compare_outputs(onnx_outputs, signature, inputs)


def compare_outputs(outputs, signature, inputs) -> Comparison:
    """OUTPUTS (a converted model's, for INPUTS) against what SIGNATURE (the SavedModel's `tensors`) gives."""
    import numpy as np
    import tensorflow as tf

    tf_outputs = signature(inputs=tf.constant(inputs))["outputs"].numpy()
    difference = np.abs(outputs.astype(np.float64) - tf_outputs)
    return Comparison(tuple(inputs.shape), float(difference.max()), float(difference.mean()),
                      float(np.mean(difference ** 2)))


def write_onnx(saved_model: str, size: int) -> Comparison:
    """SAVED_MODEL/model.onnx from its `tensors` signature, then checked: both run one seeded
    SIZE x SIZE input, and a largest difference over TOLERANCE is a Pix2PixError (the caller
    discards the directory). Returns the comparison."""
    path = os.path.join(saved_model, ONNX_FILE)
    _release_memory()
    model, signature = load_tensors(saved_model)
    convert(signature, path)
    comparison = compare(onnx_session(path), signature, random_inputs(signature, size))
    del model  # kept until here (load_tensors)
    if not comparison.largest <= TOLERANCE:  # NaN fails too
        raise Pix2PixError(f"--format onnx: the ONNX model differs from the SavedModel by {comparison.largest:.2e} "
                           f"(more than {TOLERANCE:g}) on a seeded {comparison.input_size} input; "
                           "nothing was written (export without --format onnx for the SavedModel alone)")
    return comparison
