"""TF Serving's JSON protocol: request bodies -> numpy inputs (checked: types, ranges, shapes,
photo sizes), outputs -> response bodies, and the status and metadata documents.

Every malformed body is a RequestError (400 with {"error": ...}), never a 500: JSON nested too
deeply, numbers out of their type's range, NaN or Infinity, values of the wrong type. Output is
always valid JSON: TF Serving writes a non-finite float as the bare token NaN or Infinity, which
no JSON parser has to accept, so this server refuses such a result with a clear error instead.
"""

import base64
import binascii
import json
import math
import re
from typing import List, Optional

import numpy as np
import tensorflow as tf

from pix2pix.errors import Pix2PixError, error_line
from pix2pix.inference.translator import BASE64_SIGNATURE, SERVING_SIGNATURE
from pix2pix.data.tasks import task_for
from pix2pix.io.images import upright
from pix2pix.options.stored import is_saved_model
from pix2pix.serving.model import ServedModel, Signature

PREDICT_METHOD = "tensorflow/serving/predict"

# String outputs sent as {"b64": ...}: TF Serving's rule (a name ending in _bytes), and the
# encoded pictures of serving_default, which are binary whatever their name says.
BINARY_OUTPUTS = {(SERVING_SIGNATURE, "outputs")}
# Inputs that carry a photo: (signature, input) -> how (raw bytes, or base64 text).
IMAGE_INPUTS = {(SERVING_SIGNATURE, "images"): "bytes", (BASE64_SIGNATURE, "input"): "base64"}

_DTYPE_NAMES = {tf.string: "DT_STRING", tf.float32: "DT_FLOAT", tf.float64: "DT_DOUBLE",
                tf.int32: "DT_INT32", tf.int64: "DT_INT64", tf.bool: "DT_BOOL", tf.uint8: "DT_UINT8"}


class RequestError(Exception):
    """A request the server refuses: HTTP STATUS, a message for {"error": ...}, extra headers."""

    def __init__(self, status: int, message: str, headers: Optional[dict] = None):
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers or {}


# ------------------------------------------------------------------- JSON <-> tensors
def _refuse_constant(name: str):
    raise RequestError(400, f"JSON Parse error: {name} is not a JSON number; send finite values")


def parse_json(body: bytes):
    """The request document, or a 400: not JSON, nested deeper than Python's parser goes, or
    holding NaN / Infinity (Python's json module would accept those tokens; JSON does not)."""
    try:
        return json.loads(body, parse_constant=_refuse_constant)
    except RecursionError:
        raise RequestError(400, "JSON Parse error: nested too deeply") from None
    except (ValueError, UnicodeDecodeError) as err:
        raise RequestError(400, f"JSON Parse error: {err}") from None


def _is_b64(value) -> bool:
    return isinstance(value, dict) and set(value) == {"b64"}


def _decode_b64(value, where: str) -> bytes:
    if not isinstance(value["b64"], str):
        raise RequestError(400, f'{where}: "b64" must be a string of base64 text')
    text = re.sub(r"\s", "", value["b64"]).replace("-", "+").replace("_", "/")
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise RequestError(400, f'{where}: "b64" is not valid base64') from None


def _base64_text_bytes(text: bytes) -> Optional[bytes]:
    """What the export's base64 signature would decode TEXT to (it also takes URL-safe,
    unpadded, line-broken text and a data: prefix); None if it is not base64 at all."""
    text = re.sub(rb"^data:[^,]*,", b"", text)
    text = re.sub(rb"\s", b"", text).replace(b"-", b"+").replace(b"_", b"/")
    try:
        return base64.b64decode(text + b"=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None


def _strings(values, where: str) -> List[bytes]:
    if not isinstance(values, list):
        raise RequestError(400, f"{where}: must be a list, one value per example")
    result = []
    for i, value in enumerate(values):
        if _is_b64(value):
            result.append(_decode_b64(value, f"{where}[{i}]"))
        elif isinstance(value, str):
            result.append(value.encode("utf-8"))
        else:
            raise RequestError(400, f'{where}[{i}]: expected a string or {{"b64": "..."}}, '
                                    f"got {type(value).__name__}")
    return result


def _leaf_problem(values: np.ndarray, dtype: tf.DType) -> Optional[str]:
    """Why the values (a flat object array of parsed JSON) cannot be DTYPE, or None: TF
    Serving's rules (bool for DT_BOOL, integers for integer types, numbers for floats) plus
    range checks, so 300 is not silently wrapped into a uint8 nor 1e39 into a float32 inf."""
    kinds = {type(value) for value in values}
    allowed = {bool} if dtype.is_bool else {int} if dtype.is_integer else {int, float}
    wrong = kinds - allowed
    if wrong:
        return f"expected {dtype.name} values, got {sorted(kind.__name__ for kind in wrong)[0]}"
    if not len(values) or dtype.is_bool:
        return None
    if dtype.is_integer:
        low, high = min(values), max(values)
        if low < dtype.min or high > dtype.max:
            bad = low if low < dtype.min else high
            return f"value {bad} is out of range for {dtype.name} ({dtype.min}..{dtype.max})"
        return None
    largest = float(np.finfo(dtype.as_numpy_dtype).max)
    for value in values:  # finite floats only: JSON has no NaN, and 1e400 parses to inf
        if not math.isfinite(value) or abs(value) > largest:
            return f"value {value} is out of range for {dtype.name}"
    return None


def _shape_problem(objects: np.ndarray, flat: np.ndarray, spec: tf.TensorSpec) -> Optional[str]:
    """Why OBJECTS (parsed JSON as an object array; FLAT, its values) is not of SPEC's shape, or None.
    For images ([N, H, W, C] with C fixed) it says what one example is: H x W x C nested lists."""
    expected = spec.shape
    if expected.rank is None:
        return None
    wanted = expected.as_list()
    if objects.ndim == len(wanted) and all(want is None or want == got for want, got in zip(wanted, objects.shape)):
        return None
    shape = ", ".join("-1" if d is None else str(d) for d in wanted)
    if objects.ndim < len(wanted) and any(isinstance(value, (list, dict)) for value in flat):
        return (f"its lists differ in length, so it does not match [{shape}] (in row format every instance "
                "must have the same size: send other sizes in another request)")
    problem = f"shape {list(objects.shape)} does not match [{shape}] (the first dimension is the examples)"
    if len(wanted) == 4 and wanted[-1] is not None:  # images: [N, H, W, C]
        channels = wanted[-1]
        takes = f"{channels} channel{'s' if channels != 1 else ''} of {spec.dtype.name}"
        if objects.ndim == 4:
            return f"{problem}: {objects.shape[-1]} values per pixel, but the model takes {takes}"
        return f"{problem}: each example is H x W x {channels} nested lists (rows of pixels of {takes})"
    return problem


def _numbers(values, spec: tf.TensorSpec, where: str) -> np.ndarray:
    try:
        objects = np.array(values, dtype=object)
    except (ValueError, TypeError, RecursionError):
        raise RequestError(400, f"{where}: not a (nested) list of numbers of one shape") from None
    flat = objects.ravel()
    problem = _shape_problem(objects, flat, spec)
    if problem:
        raise RequestError(400, f"{where}: {problem}")
    problem = _leaf_problem(flat, spec.dtype)
    if problem:
        raise RequestError(400, f"{where}: {problem}")
    try:
        return flat.astype(spec.dtype.as_numpy_dtype).reshape(objects.shape)
    except (ValueError, TypeError, OverflowError) as err:
        raise RequestError(400, f"{where}: {err}") from None


def request_columns(body, signature: Signature):
    """{input name: list of per-example JSON values}, and whether the request was row format."""
    if not isinstance(body, dict):
        raise RequestError(400, "the request body must be a JSON object")
    if ("instances" in body) == ("inputs" in body):
        raise RequestError(400, 'give either "instances" (row format) or "inputs" (columnar format), '
                                "not both or neither")
    names = list(signature.inputs)

    def named(item, where):
        if not isinstance(item, dict) or _is_b64(item):
            return None
        unknown = sorted(set(item) - set(names))
        missing = [n for n in names if n not in item]
        if unknown or missing:
            raise RequestError(400, f"{where}: signature {signature.name} takes the inputs "
                                    f"{', '.join(names)}" + (f"; unknown: {', '.join(unknown)}" if unknown else "")
                               + (f"; missing: {', '.join(missing)}" if missing else ""))
        return item

    if "instances" in body:
        instances = body["instances"]
        if not isinstance(instances, list) or not instances:
            raise RequestError(400, '"instances" must be a non-empty list, one entry per example')
        columns = {n: [] for n in names}
        for i, item in enumerate(instances):
            values = named(item, f"instances[{i}]")
            if values is None:
                if len(names) != 1:
                    raise RequestError(400, f"instances[{i}]: signature {signature.name} has the inputs "
                                            f"{', '.join(names)}: give each instance as an object of them")
                values = {names[0]: item}
            for n in names:
                columns[n].append(values[n])
        return columns, True
    values = named(body["inputs"], "inputs")
    if values is None:
        if len(names) != 1:
            raise RequestError(400, f"inputs: signature {signature.name} has the inputs {', '.join(names)}: "
                                    "give an object of them")
        values = {names[0]: body["inputs"]}
    return values, False


def _where(row: bool, name: str, several: bool) -> str:
    return ("instances" if row else "inputs") + (f".{name}" if several or not row else "")


def prepare_inputs(model: ServedModel, signature: Signature, columns, row: bool) -> dict:
    """{input name: numpy array}, with every photo checked against --max_pixels before anything
    decodes it and turned upright (EXIF) as --mode infer does."""
    several = len(signature.inputs) > 1
    max_pixels = model.options.max_pixels
    arrays = {}
    for name, spec in signature.inputs.items():
        where = _where(row, name, several)
        if spec.dtype == tf.string:
            values = _strings(columns[name], where)
            kind = IMAGE_INPUTS.get((signature.name, name))
            for i, value in enumerate(values):
                if kind == "bytes":
                    values[i] = _upright(value, f"{where}[{i}]", max_pixels)
                elif kind == "base64":
                    photo = _base64_text_bytes(value)
                    if photo is None:  # the export's decoder says what is wrong with it
                        continue
                    turned = _upright(photo, f"{where}[{i}]", max_pixels)
                    if turned is not photo:
                        values[i] = base64.b64encode(turned)
            arrays[name] = np.array(values, dtype=object)
        else:
            array = _numbers(columns[name], spec, where)
            if array.ndim >= 3:  # a picture (or a batch of them): [..., height, width, channels]
                height, width = array.shape[-3:-1]
                if height * width > max_pixels:
                    raise RequestError(400, f"{where}: {width}x{height} = {height * width:,} pixels, "
                                            f"over the limit of {max_pixels:,} (--max_pixels)")
            arrays[name] = array
    sizes = {len(a) for a in arrays.values()}
    if row and len(sizes) > 1:
        raise RequestError(400, "instances: every input needs one value per instance")
    return arrays


def _upright(contents: bytes, where: str, max_pixels: int) -> bytes:
    """CONTENTS turned upright as infer does, or a 400 naming WHERE and --max_pixels (the size
    read from the header, nothing decoded) or saying the size cannot be read."""
    try:
        return upright(contents, where, max_pixels)
    except Pix2PixError as err:
        # a common mistake: base64 text of a PNG ("iVBOR...") or JPEG ("/9j/...") sent as bytes
        hint = (" (this is base64 text: decode it first, or use the base64 signature)"
                if contents[:5] == b"iVBOR" or contents[:4] == b"/9j/" else "")
        raise RequestError(400, f"{err}{hint}") from None


def _json_value(signature: Signature, name: str, array: np.ndarray):
    if array.dtype.kind in "SO":
        binary = name.endswith("_bytes") or (signature.name, name) in BINARY_OUTPUTS

        def convert(value):
            if isinstance(value, np.ndarray):
                return [convert(v) for v in value]
            if binary:
                return {"b64": base64.b64encode(value).decode("ascii")}
            return value.decode("utf-8", errors="replace")
        return convert(array)
    return array.tolist()


def response_body(signature: Signature, outputs: dict, row: bool) -> dict:
    """TF Serving's answer: one output is given bare, several by name (row: one object each)."""
    values = {name: _json_value(signature, name, array) for name, array in sorted(outputs.items())}
    if len(values) == 1:
        (only,) = values.values()
        return {"predictions" if row else "outputs": only}
    if not row:
        return {"outputs": values}
    count = min(len(v) for v in values.values())
    return {"predictions": [{name: v[i] for name, v in values.items()} for i in range(count)]}


def run_signature(signature: Signature, arrays: dict) -> dict:
    tensors = {name: tf.constant(arrays[name], dtype=spec.dtype) for name, spec in signature.inputs.items()}
    try:
        outputs = signature(tensors)
        return {name: value.numpy() for name, value in outputs.items()}
    except tf.errors.InvalidArgumentError as err:
        line = error_line(err, prefer=("could not decode", "Invalid", "must"))
        # the export's check reads `assertion failed: [images: could not decode image] [K] [of the
        # batch: not PNG, ...] [hint]`: said plainly, naming the input and its position
        decode = re.search(r"\[(\w+): could not decode image\] \[(\d+)\] \[of the batch: ([^\]]*)\] \[([^\]]*)\]",
                           line)
        if decode:
            field, index, what, hint = decode.groups()
            line = f"{field}[{index}]: could not decode image: {what}{hint}"
        raise RequestError(400, line) from None



def response_json(signature: Signature, outputs: dict, row: bool) -> str:
    """response_body as JSON text, or a 400 if a number in it is NaN or infinite (see above)."""
    try:
        return json.dumps(response_body(signature, outputs, row), allow_nan=False)
    except ValueError:
        raise RequestError(400, "the model's output for this input holds NaN or Infinity, which "
                                "JSON cannot carry; check the input values") from None


# ------------------------------------------------------------------------ documents
def model_status(model: ServedModel) -> dict:
    return {"model_version_status": [{"version": str(model.version), "state": "AVAILABLE",
                                      "status": {"error_code": "OK", "error_message": ""}}]}


def _tensor_info(dtype, shape, tensor_name) -> dict:
    shape = tf.TensorShape(shape)
    info = {"dtype": _DTYPE_NAMES.get(dtype, f"DT_{dtype.name.upper()}"), "name": tensor_name}
    if shape.rank is None:
        info["tensor_shape"] = {"dim": [], "unknown_rank": True}
    else:
        info["tensor_shape"] = {"dim": [{"size": str(-1 if d is None else d), "name": ""}
                                        for d in shape.as_list()], "unknown_rank": False}
    return info


def model_metadata(model: ServedModel) -> dict:
    """GetModelMetadataResponse as TF Serving writes it in JSON."""
    defs = {}
    for name, signature in sorted(model.signatures.items()):
        defs[name] = {
            "inputs": {key: _tensor_info(spec.dtype, spec.shape, f"{name}_{key}:0")
                       for key, spec in sorted(signature.inputs.items())},
            "outputs": {key: _tensor_info(dtype, shape, f"StatefulPartitionedCall:{i}")
                        for i, (key, (dtype, shape)) in enumerate(sorted(signature.outputs.items()))},
            "method_name": PREDICT_METHOD,
        }
    return {"model_spec": {"name": model.name, "signature_name": "", "version": str(model.version)},
            "metadata": {"signature_def": {"signature_def": defs}}}


# The words in a model's name that choose the drawing canvas under --drawing auto, in this order
# (the catalogue's facades_label2photo gets the label colours, edges2shoes the sketch pen).
DRAWING_BY_NAME = (("labels", ("facade", "label")), ("sketch", ("edge", "sketch", "draw")))


def drawing_kind(options, name: str) -> str:
    """The page's drawing canvas for a model: --drawing, or under auto what its name suggests."""
    if options.drawing != "auto":
        return options.drawing
    lowered = name.lower()
    for kind, words in DRAWING_BY_NAME:
        if any(word in lowered for word in words):
            return kind
    return "off"


def model_options(model: ServedModel, server) -> dict:
    """Ours: what the page shows (task, sizes, limits) and the queue's state."""
    options = model.options
    input_channels, output_channels = task_for(options).channels
    return {
        "model_name": model.name, "version": str(model.version),
        "source": "export" if is_saved_model(model.path) else "training directory",
        "task": options.task, "which_direction": options.which_direction, "crop_size": options.crop_size,
        "netG": options.netG, "input_channels": input_channels, "output_channels": output_channels,
        "output_filetype": options.output_filetype, "data_types": options.data_types or None,
        "deterministic": options.deterministic,
        "signatures": sorted(model.signatures), "max_pixels": options.max_pixels,
        "drawing": drawing_kind(options, model.name),
        "max_request_bytes": server.max_request_bytes, "max_queue": server.max_queue,
        "requests_in_flight": server.in_flight,
    }

