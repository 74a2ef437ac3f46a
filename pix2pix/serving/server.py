"""Serve mode: a web page and a TensorFlow-Serving-compatible REST API over one model.

    pix2pix --mode serve --checkpoint DIR [--host 127.0.0.1] [--port 8501] [--model_name NAME]

DIR is a SavedModel written by `--mode export`, a training directory (as `--mode infer` takes
it), or, as TensorFlow Serving takes it, a base directory of numbered exports (DIR/1, DIR/2:
the highest is served). A single export or training directory is version 1. NAME defaults to
DIR's directory name, so `models/color` is served as /v1/models/color, as TF Serving would.

REST, with TF Serving's paths, bodies and error shape (`{"error": "..."}`):

    GET  /v1/models/NAME[/versions/N]              model status
    GET  /v1/models/NAME[/versions/N]/metadata     signature defs
    POST /v1/models/NAME[/versions/N]:predict      row ("instances") or columnar ("inputs")
    GET  /v1/models/NAME[/versions/N]/options      ours: task, sizes and limits (the page uses it)
    GET  /                                         the page: drop photos, see and download results

Binary values travel as {"b64": "..."}. TF Serving base64-encodes only outputs whose name ends
in `_bytes`; this server also returns the `serving_default` signature's `outputs` (encoded
pictures) as {"b64": ...}, since raw PNG bytes cannot be JSON text (docs/export.md).

Limits: a request body over --max_request_mb is refused (413); a photo whose header claims more
than --max_pixels pixels is refused before it is decoded (400, naming the limit); one worker
runs the model and at most --max_queue requests wait for it (503 with Retry-After when full).
SIGTERM finishes the requests in flight, refuses new connections, and exits 0. Nothing from a
request is written to disk. One access-log line per request goes to stdout.

Starlette and uvicorn (the `serve` extra) are imported only when this mode runs.
"""

import asyncio
import base64
import binascii
import concurrent.futures
import dataclasses
import html
import json
import math
import os
import re
import signal
import socket
import sys
import threading
import time
from typing import Callable, Dict, List, Optional

import numpy as np
import tensorflow as tf

from pix2pix.errors import Pix2PixError, error_line
from pix2pix.data.tasks import task_for
from pix2pix.inference.translator import BASE64_SIGNATURE, SERVING_SIGNATURE, TENSORS_SIGNATURE, load_translator
from pix2pix.modes.infer import check_pixel_limit, upright
from pix2pix.modes.preparation import prepare
from pix2pix.options.record import Options
from pix2pix.options.stored import OPTIONS_FILE, is_saved_model

PAGE_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "page.html")
PREDICT_METHOD = "tensorflow/serving/predict"
ALL_INTERFACES = ("0.0.0.0", "::", "")

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


# ------------------------------------------------------------------------ the model
@dataclasses.dataclass
class Signature:
    """One callable signature: its name, function(**tensors) -> {name: tensor}, input specs, outputs."""

    name: str
    function: Callable
    inputs: Dict[str, tf.TensorSpec]
    outputs: Dict[str, tuple]  # name -> (dtype, shape)
    positional: Optional[List[str]] = None  # a traced tf.function takes its inputs in this order

    def __call__(self, tensors: dict) -> dict:
        if self.positional is not None:
            return self.function(*[tensors[name] for name in self.positional])
        return self.function(**tensors)


@dataclasses.dataclass
class ServedModel:
    name: str
    version: int
    path: str
    options: Options
    signatures: Dict[str, Signature]
    keep_alive: object = None  # the loaded SavedModel or translator the functions belong to


def find_model_version(directory: Optional[str]):
    """(the directory to load, its version): DIR itself (an export or training directory:
    version 1), or the highest numbered export in DIR (TF Serving's base directory layout)."""
    if not directory:
        raise Pix2PixError("--checkpoint: is required for --mode serve (an export, a training "
                           "directory, or a directory of numbered exports)")
    if not os.path.isdir(directory):
        raise Pix2PixError(f"--checkpoint: {directory} does not exist or is not a directory")
    if is_saved_model(directory) or os.path.isfile(os.path.join(directory, OPTIONS_FILE)):
        return directory, 1
    versions = sorted(int(entry) for entry in os.listdir(directory)
                      if entry.isdigit() and is_saved_model(os.path.join(directory, entry)))
    if not versions:
        raise Pix2PixError(f"--checkpoint: {directory} is neither a SavedModel written by --mode export, "
                           f"a training directory (with {OPTIONS_FILE}), nor a base directory of "
                           f"numbered exports ({os.path.join(directory, '1')}, ...)")
    version = versions[-1]
    path = next(os.path.join(directory, entry) for entry in os.listdir(directory)
                if entry.isdigit() and int(entry) == version and is_saved_model(os.path.join(directory, entry)))
    return path, version


def default_model_name(directory: str) -> str:
    return os.path.basename(os.path.normpath(os.path.abspath(directory)))


def _signature(name, concrete) -> Signature:
    """A loaded SavedModel's signatures take keywords; the translator's traced functions (a
    training directory) take positional inputs, named by their TensorSpecs as in the export."""
    args, kwargs = concrete.structured_input_signature
    outputs = {key: (value.dtype, value.shape) for key, value in concrete.structured_outputs.items()}
    if kwargs:
        return Signature(name, concrete, dict(kwargs), outputs)
    return Signature(name, concrete, {spec.name: spec for spec in args}, outputs, [spec.name for spec in args])


def load_served_model(options: Options, explicit=None) -> ServedModel:
    """The model of --checkpoint with every signature, named and versioned as it is served."""
    path, version = find_model_version(options.checkpoint)
    name = options.model_name or default_model_name(options.checkpoint)
    if not name or "/" in name or ":" in name:
        raise Pix2PixError(f"--model_name: {name!r} cannot be part of /v1/models/NAME (no '/' or ':')")
    options = prepare(dataclasses.replace(options, mode="serve", checkpoint=path), explicit)
    if is_saved_model(path):
        try:
            loaded = tf.saved_model.load(path)
            functions = dict(loaded.signatures)
        except (KeyError, ValueError, OSError, tf.errors.OpError) as err:
            raise Pix2PixError(f"--checkpoint: cannot load the SavedModel in {path}: {error_line(err)}") from None
        print(f"loaded {path}", flush=True)
    else:
        loaded = load_translator(options)
        functions = {key: function.get_concrete_function() for key, function in loaded.signatures().items()}
    if SERVING_SIGNATURE not in functions:
        raise Pix2PixError(f"--checkpoint: the SavedModel in {path} has no {SERVING_SIGNATURE} signature; "
                           "use one written by `pix2pix --mode export`")
    signatures = {key: _signature(key, function) for key, function in functions.items()}
    return ServedModel(name, version, path, options, signatures, loaded)


# ------------------------------------------------------------------- JSON <-> tensors
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


def _numbers(values, spec: tf.TensorSpec, where: str) -> np.ndarray:
    try:
        array = np.asarray(values, dtype=spec.dtype.as_numpy_dtype)
    except (ValueError, TypeError):
        raise RequestError(400, f"{where}: not a (nested) list of numbers of one shape") from None
    expected = spec.shape
    if expected.rank is not None and (array.ndim != expected.rank or any(
            want is not None and want != got for want, got in zip(expected.as_list(), array.shape))):
        shape = ", ".join("-1" if d is None else str(d) for d in expected.as_list())
        raise RequestError(400, f"{where}: shape {list(array.shape)} does not match [{shape}] "
                                "(the first dimension is the examples)")
    return array


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
    arrays = {}
    for name, spec in signature.inputs.items():
        where = _where(row, name, several)
        if spec.dtype == tf.string:
            values = _strings(columns[name], where)
            kind = IMAGE_INPUTS.get((signature.name, name))
            for i, value in enumerate(values):
                if kind == "bytes":
                    _checked(value, f"{where}[{i}]", model.options.max_pixels)
                    values[i] = upright(value)
                elif kind == "base64":
                    photo = _base64_text_bytes(value)
                    if photo is not None and _checked(photo, f"{where}[{i}]", model.options.max_pixels):
                        turned = upright(photo)
                        if turned is not photo:
                            values[i] = base64.b64encode(turned)
            arrays[name] = np.array(values, dtype=object)
        else:
            array = _numbers(columns[name], spec, where)
            if signature.name == TENSORS_SIGNATURE and array.ndim == 4:
                pixels = array.shape[1] * array.shape[2]
                if pixels > model.options.max_pixels:
                    raise RequestError(400, f"{where}: {array.shape[2]}x{array.shape[1]} = {pixels:,} pixels, "
                                            f"over the limit of {model.options.max_pixels:,} (--max_pixels)")
            arrays[name] = array
    sizes = {len(a) for a in arrays.values()}
    if row and len(sizes) > 1:
        raise RequestError(400, "instances: every input needs one value per instance")
    return arrays


def _checked(contents: bytes, where: str, max_pixels: int) -> bool:
    """True, or a 400 naming WHERE and --max_pixels (read from the header, nothing decoded)."""
    try:
        check_pixel_limit(contents, where, max_pixels)
    except Pix2PixError as err:
        raise RequestError(400, str(err)) from None
    return True


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


def model_options(model: ServedModel, server) -> dict:
    """Ours: what the page shows (task, sizes, limits) and the queue's state."""
    options = model.options
    input_channels, output_channels = task_for(options).channels
    return {
        "model_name": model.name, "version": str(model.version),
        "source": "export" if is_saved_model(model.path) else "training directory",
        "task": options.task, "which_direction": options.which_direction, "crop_size": options.crop_size,
        "netG": options.netG, "input_channels": input_channels, "output_channels": output_channels,
        "output_filetype": options.output_filetype, "deterministic": options.deterministic,
        "signatures": sorted(model.signatures), "max_pixels": options.max_pixels,
        "max_request_bytes": server.max_request_bytes, "max_queue": server.max_queue,
        "requests_in_flight": server.in_flight,
    }


# --------------------------------------------------------------------------- the app
_MODEL_PATH = re.compile(r"^(?P<name>[^/:]+)(?:/versions/(?P<version>[^/:]+))?"
                         r"(?:(?P<document>/metadata|/options)|:(?P<verb>[A-Za-z]+))?/?$")


class ModelServer:
    """The request handling: routing, limits, the one model worker and its bounded queue."""

    def __init__(self, model: ServedModel, max_request_mb: int, max_queue: int):
        self.model = model
        self.max_request_bytes = max_request_mb * 1024 * 1024
        self.max_queue = max_queue
        self.in_flight = 0  # predict requests admitted and not finished (event loop only)
        self.seconds_per_request = 1.0  # moving average of the model's time, for Retry-After
        self.worker = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="pix2pix-model")
        with open(PAGE_FILE, encoding="utf-8") as f:
            self.page = f.read().replace("{{MODEL_NAME}}", html.escape(model.name, quote=True))

    def close(self):
        self.worker.shutdown(wait=True)

    # --------------------------------------------------------------- helpers
    def _find(self, name, version):
        if name != self.model.name:
            raise RequestError(404, f"Servable not found for request: Latest({name}); this server serves "
                                    f"the model {self.model.name!r}")
        if version is not None and version != str(self.model.version):
            raise RequestError(404, f"Servable not found for request: Specific({name}, {version}); "
                                    f"version {self.model.version} is served")
        return self.model

    async def _body(self, request) -> bytes:
        limit = self.max_request_bytes
        too_large = RequestError(413, f"the request body is over the limit of {limit // (1024 * 1024)} MB "
                                      "(--max_request_mb)")
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            raise too_large
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise too_large
            chunks.append(chunk)
        return b"".join(chunks)

    def _parse(self, body: bytes):
        try:
            document = json.loads(body)
        except (ValueError, UnicodeDecodeError) as err:
            raise RequestError(400, f"JSON Parse error: {err}") from None
        if not isinstance(document, dict):
            raise RequestError(400, "the request body must be a JSON object")
        signature_name = document.get("signature_name") or SERVING_SIGNATURE
        signature = self.model.signatures.get(signature_name) if isinstance(signature_name, str) else None
        if signature is None:
            raise RequestError(400, f"Serving signature name: {json.dumps(signature_name)} not found in "
                                    f"signature def (this model has {', '.join(sorted(self.model.signatures))})")
        columns, row = request_columns(document, signature)
        return signature, prepare_inputs(self.model, signature, columns, row), row

    def _run(self, signature, arrays):
        start = time.perf_counter()
        outputs = run_signature(signature, arrays)
        self.seconds_per_request = 0.8 * self.seconds_per_request + 0.2 * (time.perf_counter() - start)
        return outputs

    async def predict(self, request):
        if self.in_flight > self.max_queue:
            wait = max(1, math.ceil(self.seconds_per_request * self.in_flight))
            raise RequestError(503, f"the server is busy: {self.in_flight} requests are in flight, at most "
                                    f"{self.max_queue} may wait (--max_queue); retry in {wait} s",
                               {"Retry-After": str(wait)})
        self.in_flight += 1
        try:
            body = await self._body(request)
            signature, arrays, row = await asyncio.to_thread(self._parse, body)
            loop = asyncio.get_running_loop()
            outputs = await loop.run_in_executor(self.worker, self._run, signature, arrays)
            return await asyncio.to_thread(lambda: json.dumps(response_body(signature, outputs, row)))
        finally:
            self.in_flight -= 1

    # -------------------------------------------------------------- endpoints
    async def models(self, request):
        match = _MODEL_PATH.match(request.path_params["rest"])
        if match is None:
            raise RequestError(404, f"no such endpoint: {request.url.path}")
        model = self._find(match["name"], match["version"])
        verb, document = match["verb"], match["document"]
        if verb is not None:
            if request.method != "POST":
                raise RequestError(405, f":{verb} takes POST", {"Allow": "POST"})
            if verb != "predict":
                raise RequestError(400, f":{verb} is not supported: this model's signatures are "
                                        f"{PREDICT_METHOD} signatures; use :predict")
            return await self.predict(request)
        if request.method != "GET":
            raise RequestError(405, f"{request.url.path} takes GET", {"Allow": "GET"})
        if document == "/metadata":
            return json.dumps(model_metadata(model))
        if document == "/options":
            return json.dumps(model_options(model, self))
        return json.dumps(model_status(model))


def build_app(server: ModelServer):
    """The ASGI app: the page, /v1/models/..., JSON errors, and the access log around them."""
    from starlette.applications import Starlette
    from starlette.exceptions import HTTPException
    from starlette.responses import HTMLResponse, Response
    from starlette.routing import Route

    def json_response(text, status=200, headers=None):
        return Response(text, status_code=status, headers=headers, media_type="application/json")

    async def models(request):
        try:
            return json_response(await server.models(request))
        except RequestError as err:
            return json_response(json.dumps({"error": err.message}), err.status, err.headers)

    async def page(request):
        return HTMLResponse(server.page, headers={"Cache-Control": "no-store"})

    async def http_error(request, exc):
        return json_response(json.dumps({"error": f"{exc.detail}: {request.url.path}"}), exc.status_code,
                             getattr(exc, "headers", None))

    async def internal_error(request, exc):
        print(f"error: {request.method} {request.url.path}: {type(exc).__name__}: {exc}", file=sys.stderr,
              flush=True)
        return json_response(json.dumps({"error": f"internal error: {type(exc).__name__}"}), 500)

    app = Starlette(routes=[Route("/", page),
                            Route("/v1/models/{rest:path}", models, methods=["GET", "POST"])],
                    exception_handlers={HTTPException: http_error, Exception: internal_error})
    app.router.redirect_slashes = False  # an unknown path is a JSON 404, not a redirect
    return AccessLog(app)


class AccessLog:
    """ASGI middleware: one line per request to stdout: client, method, path, status, bytes, ms."""

    def __init__(self, app, stream=None):
        self.app, self.stream = app, stream

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start, status, size = time.perf_counter(), [0], [0]

        async def counting_send(message):
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            elif message["type"] == "http.response.body":
                size[0] += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, counting_send)
        finally:
            client = scope.get("client") or ("-", 0)
            path = scope.get("path", "") + (f"?{scope['query_string'].decode('latin-1')}"
                                           if scope.get("query_string") else "")
            milliseconds = (time.perf_counter() - start) * 1000
            print(f"{client[0]} {scope.get('method', '-')} {path} {status[0]} {size[0]} B {milliseconds:.1f} ms",
                  file=self.stream or sys.stdout, flush=True)


# ------------------------------------------------------------------------ the mode
def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on HOST:PORT (port 0: any free one), or an error naming the flags."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError as err:
        raise Pix2PixError(f"--host {host} --port {port}: cannot listen there: {err.strerror or err}") from None
    return sock


def _warm_up(model: ServedModel) -> None:
    """Run the image signatures once on a small grey picture, so no first request is slow."""
    photo = tf.io.encode_png(tf.fill([8, 8, 1], tf.constant(128, tf.uint8))).numpy()
    run_signature(model.signatures[SERVING_SIGNATURE], {"images": np.array([photo], dtype=object)})
    if BASE64_SIGNATURE in model.signatures:
        run_signature(model.signatures[BASE64_SIGNATURE], {"input": np.array([base64.b64encode(photo)], dtype=object),
                                                           "key": np.array([b"warm-up"], dtype=object)})


def serve_mode(options: Options, explicit=None) -> None:
    """`--mode serve`: load the model and serve it until SIGTERM (or Ctrl-C)."""
    try:
        import starlette  # noqa: F401
        import uvicorn
    except ImportError as err:
        raise Pix2PixError(f"--mode serve needs Starlette and uvicorn ({err}): "
                           'pip install ".[serve]"') from None
    model = load_served_model(options, explicit)
    options = model.options
    _warm_up(model)
    if options.host in ALL_INTERFACES:
        print(f"warning: --host {options.host or '(empty)'} listens on every network interface: anyone who "
              "can reach this machine can use the model (there is no authentication)", file=sys.stderr,
              flush=True)
    sock = bind_socket(options.host, options.port)
    server = ModelServer(model, options.max_request_mb, options.max_queue)
    config = uvicorn.Config(build_app(server), log_level="warning", access_log=False, lifespan="off",
                            server_header=False, timeout_graceful_shutdown=None)
    uvicorn_server = uvicorn.Server(config)

    host, port = sock.getsockname()[:2]
    shown = "127.0.0.1" if host in ALL_INTERFACES else (f"[{host}]" if ":" in host else host)
    dropout = "dropout off" if options.deterministic else "dropout on"
    print(f"serving model {model.name!r} version {model.version} from {model.path} (task {options.task}, "
          f"crop_size {options.crop_size}, {options.output_filetype} output, {dropout})", flush=True)
    print(f"page: http://{shown}:{port}/", flush=True)
    print(f"REST: http://{shown}:{port}/v1/models/{model.name}", flush=True)

    # uvicorn catches SIGTERM/SIGINT for the graceful shutdown, then re-raises them to the handlers
    # that were there before: a quiet one for SIGTERM, so a requested stop exits 0.
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: None)
    try:
        uvicorn_server.run(sockets=[sock])
    finally:
        sock.close()
        server.close()
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, previous)
    print("stopped", flush=True)
