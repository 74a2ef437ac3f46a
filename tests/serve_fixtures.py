"""Shared pieces of the serve tests: a tiny exported model, the real server as a subprocess on a
free loopback port, and a small HTTP client (http.client: every status and header is visible).

The server is `python -m pix2pix --mode serve ... --port 0`: it binds a free port itself and
prints `page: http://127.0.0.1:PORT/`, which is read back here (no race for the port).
"""

import base64
import http.client
import json
import os
import signal
import struct
import subprocess
import sys
import threading
import time
import urllib.parse
import zlib

import cv2
import numpy as np
import pytest

from conftest import REPO, smooth_photo

START_TIMEOUT = 240  # TensorFlow's import and the model's load, on a busy 2-core machine


def build_models(base):
    """BASE/run (a training directory of untrained Lab-colorization weights, 32x32, ngf=ndf=8) and
    its --deterministic export twice, as TF Serving's base directory: BASE/models/color/{1,2}."""
    from pix2pix.modes.export import export_mode
    from test_export import export_options, make_run

    run = make_run(base / "run", task="lab")
    for version in (1, 2):
        export_mode(export_options(run, base / "models" / "color" / str(version), deterministic=True))
    return run, base / "models" / "color"


def encode_png(rgb) -> bytes:
    ok, data = cv2.imencode(".png", np.ascontiguousarray(rgb[:, :, ::-1]))
    assert ok
    return data.tobytes()


def decode_png(data: bytes):
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    assert image is not None, data[:16]
    return image[:, :, ::-1] if image.ndim == 3 else image


def photos(count=4, height=48, width=40, seed=3):
    rng = np.random.default_rng(seed)
    return [encode_png(smooth_photo(rng, height + 8 * i, width + 4 * i)) for i in range(count)]


def bomb_png(width=40000, height=40000) -> bytes:
    """A valid PNG header (signature, IHDR with a correct CRC, IEND) claiming WIDTHxHEIGHT pixels:
    a few dozen bytes that would decode to gigabytes."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b"")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


class Reply:
    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return f"Reply({self.status}, {self.body[:300]!r})"


def call(method, url, body=None, headers=None, timeout=300) -> Reply:
    """One request on a fresh connection; BODY: bytes, str, or an object sent as JSON."""
    parts = urllib.parse.urlsplit(url)
    if body is not None and not isinstance(body, (bytes, str)):
        body = json.dumps(body)
    if isinstance(body, str):
        body = body.encode("utf-8")
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        connection.request(method, parts.path + (f"?{parts.query}" if parts.query else ""), body=body,
                           headers=headers or {})
        response = connection.getresponse()
        return Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
    finally:
        connection.close()


class ServerProcess:
    """`python -m pix2pix --mode serve ARGS --port 0` in a subprocess; .url once it is serving,
    .lines: everything it printed on stdout since (the access log)."""

    def __init__(self, *args, cwd=REPO, env=None):
        environment = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=REPO, **(env or {}))
        self.process = subprocess.Popen(
            [sys.executable, "-m", "pix2pix", "--mode", "serve", "--port", "0", *map(str, args)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment, cwd=cwd)
        self.lines, self.stderr_lines, self.url = [], [], None
        started = threading.Event()

        def read_stdout():
            for line in self.process.stdout:
                self.lines.append(line.rstrip("\n"))
                if line.startswith("page: "):
                    self.url = line.split(" ", 1)[1].strip().rstrip("/")
                    started.set()
            started.set()

        def read_stderr():
            for line in self.process.stderr:
                self.stderr_lines.append(line.rstrip("\n"))

        self._readers = [threading.Thread(target=read_stdout, daemon=True),
                         threading.Thread(target=read_stderr, daemon=True)]
        for reader in self._readers:
            reader.start()
        started.wait(START_TIMEOUT)
        if self.url is None:
            self.kill()
            raise AssertionError(f"the server did not start (exit {self.process.returncode}):\n"
                                 + "\n".join(self.lines) + "\n" + "\n".join(self.stderr_lines[-30:]))

    def model_url(self, name="color"):
        return f"{self.url}/v1/models/{name}"

    def log_lines(self):
        return [line for line in self.lines if line.startswith("127.0.0.1 ")]

    def terminate(self, timeout=120) -> int:
        """SIGTERM, then the exit status (the process is killed if it does not stop in TIMEOUT)."""
        self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError("the server did not stop within "
                                 f"{timeout} s of SIGTERM:\n" + "\n".join(self.stderr_lines[-30:]))
        for reader in self._readers:
            reader.join(10)
        return code

    def kill(self):
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def wait_until(self, predicate, what, timeout=120):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def served_models(tmp_path_factory):
    """(training directory, TF Serving base directory with versions 1 and 2) of one tiny model."""
    return build_models(tmp_path_factory.mktemp("serve"))


@pytest.fixture(scope="module")
def server(served_models):
    """The server over the base directory (so version 2 is served), --max_request_mb 1."""
    _, base = served_models
    process = ServerProcess("--checkpoint", base, "--max_request_mb", 1, "--max_queue", 8)
    yield process
    process.kill()
