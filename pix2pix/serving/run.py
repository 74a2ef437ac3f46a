"""Serving a model: load it, warm it up, listen, and run the app under uvicorn until SIGTERM
(`--mode serve`, started by pix2pix.modes.serve).

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
                                                   (a model of data at its own depth: a note on the JSON API)

Binary values travel as {"b64": "..."}. TF Serving base64-encodes only outputs whose name ends
in `_bytes`; this server also returns the `serving_default` signature's `outputs` (encoded
pictures) as {"b64": ...}, since raw PNG bytes cannot be JSON text (docs/export.md).

Limits (docs/security.md): request headers within --header_timeout seconds, the body within
--body_timeout and at most --max_request_mb (413); a photo whose header claims more than
--max_pixels pixels, or whose size cannot be read, is refused before it is decoded (400); one
worker runs the model and at most --max_queue requests wait for it (503 with Retry-After), each
giving it at most --max_batch pictures. At most --max_connections connections are served at once
(uvicorn answers requests on more with 503), request bodies still arriving hold at most
--max_upload_mb together, and running out of file descriptors is one log line, not a traceback
per refused connection.
SIGTERM refuses new connections, lets the requests in flight finish for at most
--shutdown_timeout seconds, closes what is left, and exits 0. Nothing from a request is written
to disk. One access-log line per request goes to stdout.

Starlette and uvicorn (the `serve` extra) are imported only when this mode runs.
"""

import asyncio
import base64
import errno
import resource
import signal
import socket
import sys
import threading
import time

import numpy as np
import tensorflow as tf

from pix2pix.errors import Pix2PixError, UsageError
from pix2pix.inference.translator import BASE64_SIGNATURE, SERVING_SIGNATURE
from pix2pix.options.record import Options
from pix2pix.serving.app import ALL_INTERFACES, MAX_HEADER_BYTES, ModelServer, allowed_host_names, build_app
from pix2pix.serving.model import ServedModel, load_served_model
from pix2pix.serving.protocol import run_signature


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
    """Run the image signatures once on a small grey picture (a model of data at its own depth:
    serving_default on zeros of its input), so no first request is slow."""
    signature = model.signatures[SERVING_SIGNATURE]
    if model.takes_arrays:
        (name, spec), = signature.inputs.items()
        run_signature(signature, {name: np.zeros([1, 8, 8, spec.shape[-1]], spec.dtype.as_numpy_dtype)})
        return
    photo = tf.io.encode_png(tf.fill([8, 8, 1], tf.constant(128, tf.uint8))).numpy()
    run_signature(signature, {"images": np.array([photo], dtype=object)})
    if BASE64_SIGNATURE in model.signatures:
        run_signature(model.signatures[BASE64_SIGNATURE], {"input": np.array([base64.b64encode(photo)], dtype=object),
                                                           "key": np.array([b"warm-up"], dtype=object)})


def header_timeout_protocol(seconds: float):
    """uvicorn's h11 protocol with a deadline for each request's line and headers: a client that
    connects and then sends nothing, or dribbles its headers (slowloris), is disconnected after
    SECONDS. (uvicorn bounds the headers' size, 16 KB by default, but not their time.)"""
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class HeaderTimeoutProtocol(H11Protocol):
        header_deadline = None

        def _arm(self):
            self._disarm()
            self.header_deadline = self.loop.call_later(seconds, self._headers_too_slow)

        def _disarm(self):
            if self.header_deadline is not None:
                self.header_deadline.cancel()
                self.header_deadline = None

        def _headers_too_slow(self):
            self.header_deadline = None
            if not self.transport.is_closing():
                client = self.client[0] if self.client else "-"
                print(f"{client} - - 408 0 B: no complete request headers within {seconds:g} s "
                      "(--header_timeout); connection closed", flush=True)
                self.transport.close()

        def connection_made(self, transport):
            super().connection_made(transport)
            self._arm()

        def connection_lost(self, exc):
            self._disarm()
            super().connection_lost(exc)

        def handle_events(self):
            cycle = self.cycle
            super().handle_events()
            if self.cycle is not cycle:  # a request's headers are complete: the body has its own limit
                self._disarm()

        def on_response_complete(self):
            if not self.transport.is_closing():
                self._arm()  # the next request on this connection gets the same deadline
            super().on_response_complete()

    return HeaderTimeoutProtocol


_OUT_OF_DESCRIPTORS = (errno.EMFILE, errno.ENFILE)
DESCRIPTOR_NOTE_SECONDS = 60  # at most one log line a minute while the limit is reached
DESCRIPTORS_KEPT = 64  # for the model, its files and logs: --max_connections must leave these


def raise_descriptor_limit(max_connections: int) -> int:
    """Raise the soft limit on open files to the hard one; the limit. A warning when
    --max_connections does not fit under it with DESCRIPTORS_KEPT to spare."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):
            pass
    if soft != resource.RLIM_INFINITY and max_connections + DESCRIPTORS_KEPT > soft:
        print(f"warning: --max_connections {max_connections} does not fit under this process's limit of {soft} "
              f"open files ({DESCRIPTORS_KEPT} kept for the model): clients beyond it wait to be accepted",
              file=sys.stderr, flush=True)
    return soft


def quiet_descriptor_errors(loop) -> None:
    """Make "out of file descriptors" on accept one line a minute (asyncio's default handler logs a
    traceback for every failed accept); everything else goes to the default handler."""
    last = [-float("inf")]

    def handler(loop, context):
        error = context.get("exception")
        if isinstance(error, OSError) and error.errno in _OUT_OF_DESCRIPTORS:
            if time.monotonic() - last[0] >= DESCRIPTOR_NOTE_SECONDS:
                last[0] = time.monotonic()
                print(f"warning: out of file descriptors ({error.strerror}): new connections wait until "
                      "others close; lower --max_connections or raise the limit (ulimit -n)",
                      file=sys.stderr, flush=True)
            return
        loop.default_exception_handler(context)

    loop.set_exception_handler(handler)


def make_uvicorn_server(config):
    """A uvicorn Server whose loop reports running out of file descriptors in one line."""
    import uvicorn

    class Server(uvicorn.Server):
        async def serve(self, sockets=None):
            quiet_descriptor_errors(asyncio.get_running_loop())
            await super().serve(sockets)

    return Server(config)


def require_web_stack():
    """Starlette and uvicorn (the serve extra), or an error saying how to install them."""
    try:
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as err:
        raise Pix2PixError(f"--mode serve needs Starlette and uvicorn ({err}): "
                           'pip install ".[serve]"') from None


def serve(options: Options, name: str, version: int) -> None:
    """Load the model of OPTIONS (prepared by modes.serve) and serve it until SIGTERM (or Ctrl-C)."""
    import uvicorn
    model = load_served_model(options, name, version)
    if model.takes_arrays and options.page_dir:
        raise UsageError(f"--page_dir: {model.path} is a model of data at its own depth "
                         f"({' -> '.join(model.sides())}), which no page shows: serve it without --page_dir and use "
                         "the JSON API")
    _warm_up(model)
    if options.host in ALL_INTERFACES:
        print(f"warning: --host {options.host or '(empty)'} listens on every network interface: anyone who "
              "can reach this machine can use the model (there is no authentication); requests must "
              "name a host of --allowed_hosts", file=sys.stderr, flush=True)
    sock = bind_socket(options.host, options.port)
    raise_descriptor_limit(options.max_connections)
    server = ModelServer(model, options.max_request_mb, options.max_queue, options.body_timeout,
                         allowed_host_names(options.host, options.allowed_hosts), options.max_upload_mb,
                         options.max_batch, options.page_dir)
    config = uvicorn.Config(build_app(server), log_level="warning", access_log=False, lifespan="off",
                            server_header=False, http=header_timeout_protocol(options.header_timeout),
                            timeout_graceful_shutdown=options.shutdown_timeout,
                            limit_concurrency=options.max_connections,
                            h11_max_incomplete_event_size=MAX_HEADER_BYTES)
    uvicorn_server = make_uvicorn_server(config)

    host, port = sock.getsockname()[:2]
    shown = "127.0.0.1" if host in ALL_INTERFACES else (f"[{host}]" if ":" in host else host)
    dropout = "dropout off" if options.deterministic else "dropout on"
    output = " -> ".join(model.sides()) if model.takes_arrays else f"{options.output_filetype} output"
    print(f"serving model {model.name!r} version {model.version} from {model.path} (task {options.task}, "
          f"crop_size {options.crop_size}, {output}, {dropout})", flush=True)
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
