"""The web application of --mode serve: routing, the request limits, the one model worker and its
bounded queue, the Host and Origin checks, and the access log (ASGI, on Starlette).

Limits, in the order a request meets them (docs/security.md lists them with their flags):
the Host header must name this server (a page on another site cannot reach it through DNS
rebinding) and a POST's Origin, if any, must be this server's own (no cross-site form posts);
the request line and headers may be at most 16 KB (400); the body must arrive within
--body_timeout seconds and be at most --max_request_mb, and all bodies still arriving may hold
at most --max_upload_mb together (503); only then is the request counted as in flight, and at
most --max_queue may wait for the model (503 with Retry-After beyond), each giving it at most
--max_batch pictures (400). A client that disconnects mid-body frees its place and is one log line.
"""

import asyncio
import concurrent.futures
import html
import json
import math
import os
import re
import sys
import time
from typing import Iterable

from pix2pix.inference.translator import SERVING_SIGNATURE
from pix2pix.serving.model import ServedModel
from pix2pix.serving.protocol import (PREDICT_METHOD, RequestError, model_metadata, model_options,
                                      model_status, parse_json, prepare_inputs, request_columns,
                                      response_json, run_signature)

PAGE_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "page.html")
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
ALL_INTERFACES = ("0.0.0.0", "::", "")
CLIENT_GONE = 499  # the access log's status for a client that left mid-request (nginx's code)
MAX_HEADER_BYTES = 16 * 1024  # the request line and headers (h11's limit, enforced for complete ones too)
# The page may not be shown inside another site's frame (clickjacking: a page elsewhere laying
# its own buttons over this one's).
PAGE_HEADERS = {"Cache-Control": "no-store", "X-Frame-Options": "DENY",
                "Content-Security-Policy": "frame-ancestors 'none'"}

_MODEL_PATH = re.compile(r"^(?P<name>[^/:]+)(?:/versions/(?P<version>[^/:]+))?"
                         r"(?:(?P<document>/metadata|/options)|:(?P<verb>[A-Za-z]+))?/?$")


class ClientGone(Exception):
    """The client closed its connection before its request body was complete."""


def allowed_host_names(host: str, extra: str = "") -> frozenset:
    """The Host names this server answers to: the loopback names, --host itself (unless it
    means every interface), and the comma-separated names of --allowed_hosts ("*": any)."""
    names = set(LOOPBACK_NAMES)
    if host not in ALL_INTERFACES:
        names.add(host.strip("[]").lower())
    names.update(name.strip().strip("[]").lower() for name in (extra or "").split(",") if name.strip())
    return frozenset(names)


def host_name(value: str) -> str:
    """The name part of a Host header value (no port; IPv6 brackets removed), lower case."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1:value.find("]")] if "]" in value else value
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


def data_model_page(model: ServedModel) -> str:
    """The page of a model of data at its own depth (docs/channels.md), which page.html cannot show
    (it takes and shows pictures): what the model takes and returns, and how to call the JSON API."""
    takes, returns = (html.escape(side) for side in model.sides())
    name, url = html.escape(model.name), html.escape(f"/v1/models/{model.name}")
    channels = model.signatures[SERVING_SIGNATURE].inputs["inputs"].shape[-1]
    example = json.dumps({"instances": [[[[0] * channels] * 2] * 2]})
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{name}: no page for this model</title></head>
<body>
<h1>{name}</h1>
<p>This model translates data at its own depth: {takes} per pixel in, {returns} per pixel out. This page
cannot show such data (it shows 8-bit pictures): send it to the JSON API, TensorFlow Serving's REST protocol.</p>
<pre>POST {url}:predict
{html.escape(example)}</pre>
<p>Each instance is H x W x {channels} nested lists (rows of pixels of {takes}); the answer
<code>{{"predictions": [...]}}</code> holds one H x W nested list of pixels of {returns} for each.
The signatures: <a href="{url}/metadata">{url}/metadata</a>.</p>
</body></html>
"""


class ModelServer:
    """The request handling: routing, limits, the one model worker and its bounded queue."""

    def __init__(self, model: ServedModel, max_request_mb: int, max_queue: int, body_timeout: float = 10.0,
                 allowed_hosts: Iterable[str] = LOOPBACK_NAMES, max_upload_mb: int = 256, max_batch: int = 32,
                 page_dir=None):
        self.model = model
        self.max_request_bytes = max_request_mb * 1024 * 1024
        self.max_upload_bytes = max_upload_mb * 1024 * 1024
        self.uploading = 0  # bytes held by request bodies still arriving (event loop only)
        self.max_batch = max_batch
        self.max_queue = max_queue
        self.body_timeout = body_timeout
        self.allowed_hosts = frozenset(allowed_hosts)
        self.in_flight = 0  # predict requests whose body is read, not yet answered (event loop only)
        self.seconds_per_request = 1.0  # moving average of the model's time, for Retry-After
        self.worker = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="pix2pix-model")
        self.page_dir = page_dir  # --page_dir: a --format web export's page (and its files) instead
        if model.takes_arrays:
            self.page = data_model_page(model)
        elif page_dir:
            with open(os.path.join(page_dir, "index.html"), encoding="utf-8") as f:
                self.page = f.read()
        else:
            with open(PAGE_FILE, encoding="utf-8") as f:
                self.page = f.read().replace("{{MODEL_NAME}}", html.escape(model.name, quote=True))

    def close(self):
        """Stop the model worker; a prediction still running finishes, queued ones are dropped."""
        self.worker.shutdown(wait=False, cancel_futures=True)

    # --------------------------------------------------------------- helpers
    def _find(self, name, version):
        if name != self.model.name:
            raise RequestError(404, f"Servable not found for request: Latest({name}); this server serves "
                                    f"the model {self.model.name!r}")
        if version is not None and version != str(self.model.version):
            raise RequestError(404, f"Servable not found for request: Specific({name}, {version}); "
                                    f"version {self.model.version} is served")
        return self.model

    def check_origin(self, headers, method: str) -> None:
        """400 for a Host header not naming this server; 403 for a POST from another origin."""
        host = headers.get("host")
        if host is None or host_name(host) not in self.allowed_hosts and "*" not in self.allowed_hosts:
            raise RequestError(400, f"the Host header {host!r} is not one this server answers to "
                                    f"({', '.join(sorted(self.allowed_hosts))}); add names with --allowed_hosts",
                               {"Connection": "close"})
        origin = headers.get("origin")
        if method == "POST" and origin is not None and origin.lower() != f"http://{host.lower()}":
            raise RequestError(403, f"cross-origin request refused: Origin {origin!r} is not this "
                                    f"server (http://{host})", {"Connection": "close"})

    async def _body(self, request) -> bytes:
        """The whole body, within --body_timeout and --max_request_mb (408 / 413; the connection
        is then closed, so a client still sending is not read any further)."""
        try:
            return await asyncio.wait_for(self._read_body(request), self.body_timeout)
        except asyncio.TimeoutError:
            raise RequestError(408, f"the request body did not arrive within {self.body_timeout:g} s "
                                    "(--body_timeout)", {"Connection": "close"}) from None

    async def _read_body(self, request) -> bytes:
        from starlette.requests import ClientDisconnect
        limit = self.max_request_bytes
        too_large = RequestError(413, f"the request body is over the limit of {limit // (1024 * 1024)} MB "
                                      "(--max_request_mb)", {"Connection": "close"})
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            raise too_large
        chunks, size = [], 0
        try:
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise too_large
                if self.uploading + len(chunk) > self.max_upload_bytes:
                    raise RequestError(503, f"the server is busy: the request bodies still arriving hold "
                                            f"{self.max_upload_bytes // (1024 * 1024)} MB (--max_upload_mb); "
                                            "retry in 1 s", {"Retry-After": "1", "Connection": "close"})
                self.uploading += len(chunk)
                chunks.append(chunk)
        except ClientDisconnect:
            raise ClientGone() from None
        finally:
            self.uploading -= sum(map(len, chunks))
        return b"".join(chunks)

    def _parse(self, body: bytes):
        document = parse_json(body)
        if not isinstance(document, dict):
            raise RequestError(400, "the request body must be a JSON object")
        signature_name = document.get("signature_name") or SERVING_SIGNATURE
        signature = self.model.signatures.get(signature_name) if isinstance(signature_name, str) else None
        if signature is None:
            raise RequestError(400, f"Serving signature name: {json.dumps(signature_name)} not found in "
                                    f"signature def (this model has {', '.join(sorted(self.model.signatures))})")
        columns, row = request_columns(document, signature)
        arrays = prepare_inputs(self.model, signature, columns, row)
        batch = max((len(value) for value in arrays.values() if getattr(value, "ndim", 0)), default=0)
        if batch > self.max_batch:
            raise RequestError(400, f"the request gives the model {batch} pictures, over the limit of "
                                    f"{self.max_batch} a request (--max_batch); send them in smaller requests")
        return signature, arrays, row

    def _run(self, signature, arrays):
        start = time.perf_counter()
        outputs = run_signature(signature, arrays)
        self.seconds_per_request = 0.8 * self.seconds_per_request + 0.2 * (time.perf_counter() - start)
        return outputs

    async def predict(self, request):
        # The body is read first: a slow or stalled client holds its connection (until
        # --body_timeout), never a place in the model's queue.
        body = await self._body(request)
        if self.in_flight > self.max_queue:
            wait = max(1, math.ceil(self.seconds_per_request * self.in_flight))
            raise RequestError(503, f"the server is busy: {self.in_flight} requests are in flight, at most "
                                    f"{self.max_queue} may wait (--max_queue); retry in {wait} s",
                               {"Retry-After": str(wait)})
        self.in_flight += 1
        try:
            signature, arrays, row = await asyncio.to_thread(self._parse, body)
            loop = asyncio.get_running_loop()
            outputs = await loop.run_in_executor(self.worker, self._run, signature, arrays)
            return await asyncio.to_thread(response_json, signature, outputs, row)
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
    """The ASGI app: the page, /v1/models/..., JSON errors, the Host/Origin checks, and the
    access log around them."""
    from starlette.applications import Starlette
    from starlette.datastructures import Headers
    from starlette.exceptions import HTTPException
    from starlette.responses import HTMLResponse, Response
    from starlette.routing import Mount, Route
    from starlette.staticfiles import StaticFiles

    def json_response(text, status=200, headers=None):
        return Response(text, status_code=status, headers=headers, media_type="application/json")

    def refused(err: RequestError):
        return json_response(json.dumps({"error": err.message}), err.status, err.headers)

    async def models(request):
        try:
            server.check_origin(request.headers, request.method)
            return json_response(await server.models(request))
        except RequestError as err:
            return refused(err)
        except ClientGone:
            return Response(status_code=CLIENT_GONE)  # not sent (no one is listening); logged

    async def page(request):
        try:
            server.check_origin(request.headers, request.method)
        except RequestError as err:
            return refused(err)
        return HTMLResponse(server.page, headers=PAGE_HEADERS)

    async def http_error(request, exc):
        return json_response(json.dumps({"error": f"{exc.detail}: {request.url.path}"}), exc.status_code,
                             getattr(exc, "headers", None))

    async def internal_error(request, exc):
        print(f"error: {request.method} {request.url.path}: {type(exc).__name__}: {exc}", file=sys.stderr,
              flush=True)
        return json_response(json.dumps({"error": f"internal error: {type(exc).__name__}"}), 500)

    routes = [Route("/", page), Route("/v1/models/{rest:path}", models, methods=["GET", "POST"])]
    if server.page_dir:  # the page's files (script, model, runtime), under the same Host/Origin checks
        files = StaticFiles(directory=server.page_dir)

        async def page_files(scope, receive, send):
            try:
                server.check_origin(Headers(scope=scope), scope["method"])
            except RequestError as err:
                return await refused(err)(scope, receive, send)
            return await files(scope, receive, send)

        routes.append(Mount("/", app=page_files))
    app = Starlette(routes=routes,
                    exception_handlers={HTTPException: http_error, Exception: internal_error})
    app.router.redirect_slashes = False  # an unknown path is a JSON 404, not a redirect
    return AccessLog(HeaderLimit(app))


class HeaderLimit:
    """ASGI middleware: 400 for a request whose line and headers pass MAX_HEADER_BYTES. uvicorn's
    h11 refuses such headers only while they are incomplete; sent in one piece, h11 parses them
    whole, so the limit is checked here on what arrived."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            size = len(scope.get("raw_path") or b"") + len(scope.get("query_string") or b"") + sum(
                len(name) + len(value) + 4 for name, value in scope.get("headers", ()))
            if size > MAX_HEADER_BYTES:
                body = json.dumps({"error": f"the request line and headers are {size:,} bytes, over the "
                                            f"limit of {MAX_HEADER_BYTES:,}"}).encode()
                await send({"type": "http.response.start", "status": 400, "headers": [
                    (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close")]})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)


class AccessLog:
    """ASGI middleware: one line per request to stdout: client, method, path, status, bytes, ms.

    A request cut short by the shutdown's deadline (--shutdown_timeout) is answered 503 and
    logged as such, instead of ending as a traceback of the cancelled task.
    """

    def __init__(self, app, stream=None):
        self.app, self.stream = app, stream

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start, status, size, note = time.perf_counter(), [0], [0], ""

        async def counting_send(message):
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            elif message["type"] == "http.response.body":
                size[0] += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, counting_send)
        except asyncio.CancelledError:  # the shutdown's deadline: answer, rather than leave a traceback
            note = " (cut short: the server is stopping)"
            if not status[0]:
                await counting_send({"type": "http.response.start", "status": 503, "headers": [
                    (b"content-type", b"application/json"), (b"connection", b"close")]})
                await counting_send({"type": "http.response.body", "body": json.dumps(
                    {"error": "the server is stopping (--shutdown_timeout)"}).encode()})
        finally:
            client = scope.get("client") or ("-", 0)
            path = scope.get("path", "") + (f"?{scope['query_string'].decode('latin-1')}"
                                           if scope.get("query_string") else "")
            milliseconds = (time.perf_counter() - start) * 1000
            if status[0] == CLIENT_GONE:
                note = " (the client disconnected)"
            print(f"{client[0]} {scope.get('method', '-')} {path} {status[0]} {size[0]} B {milliseconds:.1f} ms"
                  f"{note}", file=self.stream or sys.stdout, flush=True)
