"""--mode serve: the real server in a subprocess on a free loopback port, every endpoint over HTTP.

TF Serving's REST API (status, metadata, predict in row and columnar form with {"b64": ...}
values, {"error": ...} bodies with 404/400/413/503), our options endpoint and page, the limits
(body size, pixels, queue), the access log, a training directory served directly, SIGTERM, and
a small concurrent load whose every answer must be `--mode infer`'s picture, pixel for pixel.
"""

import base64
import concurrent.futures
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from helpers import (REPO, Reply, ServerProcess, b64, bomb_png_bytes, call, cli_env, decode_png, encode_png,
                     exif_jpeg, forked_python, png_photos, run_cli, smooth_photo)

# Its module-scoped fixtures are built once: all its tests run on one xdist worker (pytest.ini).
pytestmark = pytest.mark.xdist_group("serve")

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

PHOTOS = png_photos()


def predict(server, body, path=":predict", headers=None):
    return call("POST", server.model_url() + path, body, headers)


# ------------------------------------------------------------------------ status and metadata
def test_model_status_serves_the_highest_version(server):
    reply = call("GET", server.model_url())
    assert reply.status == 200 and reply.headers["content-type"].startswith("application/json")
    assert reply.json() == {"model_version_status": [
        {"version": "2", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}]}
    assert call("GET", server.model_url() + "/versions/2").json() == reply.json()
    for path in ("/versions/1", "/versions/3", "/versions/x"):
        missing = call("GET", server.model_url() + path)
        assert missing.status == 404, path
        assert "Servable not found" in missing.json()["error"] and "version 2 is served" in missing.json()["error"]


def test_unknown_model_is_404_on_every_endpoint(server):
    for method, path in (("GET", ""), ("GET", "/metadata"), ("GET", "/options"), ("POST", ":predict")):
        reply = call(method, server.model_url("colour") + path, {"instances": [1]} if method == "POST" else None)
        assert reply.status == 404, path
        assert reply.json()["error"].startswith("Servable not found for request: Latest(colour)")


def test_metadata_lists_the_signatures_as_tf_serving_does(server):
    for path in ("/metadata", "/versions/2/metadata"):
        reply = call("GET", server.model_url() + path)
        assert reply.status == 200
        document = reply.json()
        assert document["model_spec"] == {"name": "color", "signature_name": "", "version": "2"}
        defs = document["metadata"]["signature_def"]["signature_def"]
        # The photo signatures, and the two video uses (pix2pix/inference/video.py): all of the export's.
        assert set(defs) == {"serving_default", "base64", "tensors", "frame_colour", "frame_picture"}
        serving = defs["serving_default"]
        assert serving["method_name"] == "tensorflow/serving/predict"
        assert serving["inputs"]["images"]["dtype"] == "DT_STRING"
        assert serving["inputs"]["images"]["tensor_shape"] == {"dim": [{"size": "-1", "name": ""}],
                                                               "unknown_rank": False}
        assert set(serving["outputs"]) == {"outputs"}
        assert set(defs["base64"]["inputs"]) == {"input", "key"} and set(defs["base64"]["outputs"]) == {"output", "key"}
        dims = [d["size"] for d in defs["tensors"]["inputs"]["inputs"]["tensor_shape"]["dim"]]
        assert dims == ["-1", "-1", "-1", "1"] and defs["tensors"]["outputs"]["outputs"]["dtype"] == "DT_FLOAT"


def test_options_endpoint_describes_the_model_and_limits(server):
    options = call("GET", server.model_url() + "/options").json()
    assert options["task"] == "lab" and options["crop_size"] == 32 and options["version"] == "2"
    assert (options["input_channels"], options["output_channels"]) == (1, 2)
    assert options["deterministic"] is True and options["output_filetype"] == "png"
    assert options["max_request_bytes"] == 1024 * 1024 and options["max_queue"] == 8
    assert options["max_pixels"] == 100_000_000 and options["requests_in_flight"] == 0


# -------------------------------------------------------------------------------- predict
def test_serving_default_row_and_columnar_with_b64(server):
    row = predict(server, {"instances": [{"b64": b64(p)} for p in PHOTOS[:2]]})
    assert row.status == 200, row
    predictions = row.json()["predictions"]
    assert len(predictions) == 2 and all(set(p) == {"b64"} for p in predictions)
    for photo, prediction in zip(PHOTOS, predictions):
        picture = decode_png(base64.b64decode(prediction["b64"]))
        assert picture.shape == decode_png(photo).shape[:2] + (3,)  # at the photo's own size
        assert np.ptp(picture.astype(int)[..., 0] - picture[..., 1]) > 0  # coloured, not grey
    named = predict(server, {"signature_name": "serving_default", "instances": [{"images": {"b64": b64(PHOTOS[0])}}]})
    columnar = predict(server, {"inputs": {"images": [{"b64": b64(PHOTOS[0])}]}})
    bare = predict(server, {"inputs": [{"b64": b64(PHOTOS[0])}]}, path="/versions/2:predict")
    assert named.json()["predictions"] == predictions[:1]
    assert columnar.json() == bare.json() == {"outputs": predictions[:1]}  # deterministic export


def test_the_readme_curl_request_for_tf_serving_works_unchanged(server):
    """docs/export.md's request, as `curl -d @request.json` sends it (a form content type)."""
    request = json.dumps({"signature_name": "base64", "instances": [{"key": "photo.jpg", "input": b64(PHOTOS[0])}]})
    reply = predict(server, request, headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert reply.status == 200, reply
    (prediction,) = reply.json()["predictions"]
    assert prediction["key"] == "photo.jpg"
    picture = base64.urlsafe_b64decode(prediction["output"])
    reference = predict(server, {"instances": [{"b64": b64(PHOTOS[0])}]}).json()["predictions"][0]["b64"]
    assert picture == base64.b64decode(reference)
    columnar = predict(server, {"signature_name": "base64", "inputs": {"input": [b64(PHOTOS[1]), b64(PHOTOS[0])],
                                                                      "key": ["b", "a"]}})
    outputs = columnar.json()["outputs"]
    assert outputs["key"] == ["b", "a"] and base64.urlsafe_b64decode(outputs["output"][1]) == picture


def test_tensors_signature_takes_and_returns_nested_lists(server):
    inputs = np.random.default_rng(0).uniform(-1, 1, (2, 32, 32, 1)).round(3)
    reply = predict(server, {"signature_name": "tensors", "instances": inputs.tolist()})
    assert reply.status == 200, reply
    outputs = np.array(reply.json()["predictions"])
    assert outputs.shape == (2, 32, 32, 2) and np.all(np.abs(outputs) <= 1) and np.ptp(outputs) > 0
    wrong = predict(server, {"signature_name": "tensors", "instances": np.zeros((1, 32, 32, 3)).tolist()})
    assert wrong.status == 400 and "does not match [-1, -1, -1, 1]" in wrong.json()["error"]
    odd = predict(server, {"signature_name": "tensors", "inputs": np.zeros((1, 24, 24, 1)).tolist()})
    assert odd.status == 400 and "multiples of 32" in odd.json()["error"]


# --------------------------------------------------------------------------------- errors
@pytest.mark.parametrize("body, status, message", [
    ("{not json", 400, "JSON Parse error"),
    ("", 400, "JSON Parse error"),
    ("[1, 2]", 400, "must be a JSON object"),
    ('{"instances": [], "inputs": []}', 400, 'either "instances"'),
    ("{}", 400, 'either "instances"'),
    ('{"instances": []}', 400, "non-empty list"),
    ('{"signature_name": "predict_images", "instances": [1]}', 400,
     'Serving signature name: "predict_images" not found in signature def'),
    ('{"instances": [{"b64": "%%%"}]}', 400, "instances[0]: \"b64\" is not valid base64"),
    ('{"instances": [{"b64": "aGVsbG8="}]}', 400, "instances[0]: not a decodable image"),
    ('{"instances": [42]}', 400, "expected a string"),
    ('{"instances": [{"photos": "x"}]}', 400, "takes the inputs images; unknown: photos; missing: images"),
    ('{"signature_name": "base64", "instances": [{"input": "x"}]}', 400, "missing: key"),
    (json.dumps({"signature_name": "base64", "inputs": {"input": [b64(PHOTOS[0])], "key": []}}), 400, "same length"),
])
def test_bad_requests_are_400_with_an_error_message(server, body, status, message):
    reply = predict(server, body)
    assert reply.status == status, reply
    assert message in reply.json()["error"], reply.json()


def test_a_decompression_bomb_is_refused_by_its_header(server):
    bomb = bomb_png_bytes(pixel_data=False)
    assert len(bomb) < 100
    for body in ({"instances": [{"b64": b64(PHOTOS[0])}, {"b64": b64(bomb)}]},
                 {"signature_name": "base64", "instances": [{"input": b64(bomb), "key": "k"}]}):
        reply = predict(server, body)
        assert reply.status == 400
        error = reply.json()["error"]
        assert "[1]" in error or "[0]" in error
        assert "40000x40000" in error and "--max_pixels" in error and "100,000,000" in error


def send_then_read(server, head: bytes, parts=()) -> Reply:
    """HEAD (request line and headers), then PARTS of the body, on a raw socket; then the reply.

    The client stops sending where the test says, as a well-behaved client does once it has been
    told no: the server answers 413 and closes without reading on, so a client still pushing its
    body would meet a reset (a race with the answer), which is not what these tests are about."""
    host, port = server.url.split("//")[1].rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=120) as connection:
        connection.sendall(head)
        for part in parts:
            connection.sendall(part)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    header, _, body = answer.partition(b"\r\n\r\n")
    status = int(header.split(b" ", 2)[1])
    headers = dict(line.decode("latin-1").lower().split(": ", 1) for line in header.split(b"\r\n")[1:])
    return Reply(status, headers, body)


def test_an_oversized_body_is_413(server):
    limit = 1024 * 1024
    path = "/v1/models/color:predict"
    request = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"

    # Content-Length over the limit: refused from the headers, before any of the body is read
    reply = send_then_read(server, f"{request}Content-Length: {limit + 100}\r\n\r\n".encode())
    assert reply.status == 413 and "over the limit of 1 MB (--max_request_mb)" in reply.json()["error"]
    assert reply.headers["connection"] == "close"

    # chunked (no Content-Length): refused once the body read so far crosses the limit. The body is
    # exactly the limit, then one byte more: the server has read all that was sent when it says no.
    chunk = b"A" * 65536
    frames = [b"%x\r\n%s\r\n" % (len(chunk), chunk)] * (limit // len(chunk)) + [b"1\r\nA\r\n"]
    reply = send_then_read(server, f"{request}Transfer-Encoding: chunked\r\n\r\n".encode(), frames)
    assert reply.status == 413 and "--max_request_mb" in reply.json()["error"]
    assert call("GET", server.model_url()).status == 200  # still serving


def test_other_paths_and_methods_answer_json_errors(server):
    assert call("GET", server.model_url() + ":predict").status == 405
    assert call("POST", server.model_url() + "/metadata", "{}").status == 405
    classify = predict(server, '{"examples": []}', path=":classify")
    assert classify.status == 400 and "use :predict" in classify.json()["error"]
    for path in ("/v1/models", "/v2/models/color", "/v1/models/color/labels/stable", "/favicon.ico"):
        reply = call("GET", server.url + path)
        assert reply.status == 404 and "error" in reply.json(), path


# --------------------------------------------------------------------------- page and logs
def test_the_page_is_self_contained(server):
    reply = call("GET", server.url + "/")
    assert reply.status == 200 and reply.headers["content-type"].startswith("text/html")
    page = reply.body.decode()
    assert '<meta name="pix2pix-model" content="color">' in page
    assert "/options" in page and ":predict" in page and 'type="file"' in page
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page), "an outside asset"
    assert "@import" not in page and "<script src" not in page


def test_every_request_is_one_access_log_line(server):
    """Each request (told apart by a query string no other test sends) gets exactly one line, in the
    access log's form, whatever its answer."""
    tag = f"line={os.getpid()}-{time.monotonic_ns()}"
    requests = [("GET", "/metadata", None, 200), ("POST", ":predict", "{oops", 400),
                ("GET", "", None, 200), ("GET", "/no_such_endpoint", None, 404)]
    for number, (method, path, body, status) in enumerate(requests):
        assert call(method, f"{server.model_url()}{path}?{tag}-{number}", body).status == status

    def lines_of(number):  # a line is printed once its response is sent: it may come a moment later
        return [line for line in server.log_lines() if f"?{tag}-{number} " in line]

    server.wait_until(lambda: all(lines_of(number) for number in range(len(requests))), "the access-log lines")
    for number, (method, path, _, status) in enumerate(requests):
        pattern = (rf"127\.0\.0\.1 {method} /v1/models/color{re.escape(path)}\?{tag}-{number} {status} "
                   rf"\d+ B \d+\.\d ms")
        lines = lines_of(number)
        assert len(lines) == 1 and re.fullmatch(pattern, lines[0]), (pattern, lines)


def test_binds_loopback_by_default(server):
    assert server.url.startswith("http://127.0.0.1:")
    assert not any("warning" in line for line in server.stderr_lines)


def test_all_interfaces_warns_and_a_taken_port_is_a_clear_error(served_models):
    """--host 0.0.0.0 warns; here its port is taken on loopback, so it never listens beyond it."""
    _, base = served_models
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = run_cli("--mode", "serve", "--checkpoint", base, "--host", "0.0.0.0", "--port", port, check=False)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "warning: --host 0.0.0.0 listens on every network interface" in result.stderr
    assert f"pix2pix: error: --host 0.0.0.0 --port {port}: cannot listen there" in result.stderr


# ------------------------------------------------------------------------ load vs infer
def test_concurrent_clients_get_infers_pixels(server, served_models, tmp_path):
    """4 clients x 3 requests at once; each answer is, pixel for pixel, what --mode infer wrote
    for the same photo with the same export; no 5xx (the queue holds 8)."""
    _, base = served_models
    photo_dir = tmp_path / "photos"
    photo_dir.mkdir()
    for i, photo in enumerate(PHOTOS):
        (photo_dir / f"p{i}.png").write_bytes(photo)
    run_cli("--mode", "infer", "--checkpoint", base / "2", "--input_dir", photo_dir, "--output_dir", tmp_path / "out")
    expected = [decode_png((tmp_path / "out" / f"p{i}.png").read_bytes()) for i in range(len(PHOTOS))]

    def client(c):
        results = []
        for r in range(3):
            i = (c + r) % len(PHOTOS)
            reply = predict(server, {"instances": [{"b64": b64(PHOTOS[i])}]})
            results.append((i, reply.status, reply.body))
        return results

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        answers = [a for results in pool.map(client, range(4)) for a in results]
    assert len(answers) == 12 and all(status == 200 for _, status, _ in answers), answers
    for i, _, body in answers:
        picture = decode_png(base64.b64decode(json.loads(body)["predictions"][0]["b64"]))
        np.testing.assert_array_equal(picture, expected[i])


# ---------------------------------------------------- training directory, queue, SIGTERM
def test_training_dir_queue_full_and_sigterm(served_models, server, tmp_path):
    """A training directory served directly (version 1, named after it; the same pictures as
    its export); with --max_queue 0 a second predict during a slow one is 503 with Retry-After;
    SIGTERM lets the slow one finish, exits 0; nothing was written to disk."""
    run, base = served_models
    cwd, scratch = tmp_path / "cwd", tmp_path / "tmp"
    cwd.mkdir()
    scratch.mkdir()
    export_server, server = server, ServerProcess("--checkpoint", run, "--deterministic", "--max_queue", 0,
                                                  "--max_request_mb", 32, cwd=cwd, env={"TMPDIR": str(scratch)})
    try:
        status = call("GET", server.model_url("run")).json()["model_version_status"]
        assert [s["version"] for s in status] == ["1"]
        assert call("GET", server.model_url("run") + "/options").json()["source"] == "training directory"
        small = predict_at(server, {"instances": [{"b64": b64(PHOTOS[0])}]})
        exported = predict(export_server, {"instances": [{"b64": b64(PHOTOS[0])}]})
        assert small.json() == exported.json()  # the training directory gives its export's pictures

        # A request counts once its whole body is in, and then holds its place while the one model
        # worker runs it: a 12-megapixel photo (seconds of work on any CPU) is in flight long after
        # the test has seen it there (/options, polled every 50 ms) and sent a second, which is refused.
        slow_photo = encode_png(smooth_photo(np.random.default_rng(5), 3000, 4000))
        held = InFlightRequest(server.model_url("run") + ":predict", {"instances": [{"b64": b64(slow_photo)}]})
        server.wait_until(lambda: call("GET", server.model_url("run") + "/options").json()["requests_in_flight"] == 1,
                          "the large request to be in flight")
        busy = predict_at(server, {"instances": [{"b64": b64(PHOTOS[1])}]})
        assert busy.status == 503, busy
        assert int(busy.headers["retry-after"]) >= 1
        assert "--max_queue" in busy.json()["error"]
        assert held.reply is None  # still running: SIGTERM comes while it is in flight

        server.process.send_signal(signal.SIGTERM)
        reply = held.finish()
        code = server.wait_for_exit()
        assert code == 0, server.stderr_lines[-20:]
        assert reply.status == 200, reply
        picture = decode_png(base64.b64decode(reply.json()["predictions"][0]["b64"]))
        assert picture.shape == (3000, 4000, 3)
        assert server.lines[-1] == "stopped"
        # quiet: no AutoGraph conversion warning, no TensorFlow C++ log line (cuInit, remapper). Both
        # servers are forked from the CLI fork server, which only imported TensorFlow: these lines come
        # from its runtime (devices, Grappler, tracing), which starts in the server as in a fresh one.
        assert not [line for line in server.stderr_lines + export_server.stderr_lines
                    if "AutoGraph" in line or "could not transform" in line or "cuInit" in line
                    or "remapper" in line], server.stderr_lines + export_server.stderr_lines
        with pytest.raises(OSError):
            call("GET", server.model_url("run"), timeout=10)
    finally:
        server.kill()
    assert os.listdir(cwd) == [] and os.listdir(scratch) == []


def predict_at(server, body):
    return call("POST", server.model_url("run") + ":predict", body)


class InFlightRequest:
    """A POST sent whole on a thread of its own; finish() waits for its reply."""

    def __init__(self, url, document):
        self.reply = None
        self._thread = threading.Thread(target=self._send, args=(url, json.dumps(document)), daemon=True)
        self._thread.start()

    def _send(self, url, body):
        self.reply = call("POST", url, body)

    def finish(self, timeout=300) -> Reply:
        self._thread.join(timeout)
        return self.reply


# ------------------------------------------------------------------------------ CLI errors
def test_a_directory_that_is_no_model_is_a_clear_error(tmp_path):
    (tmp_path / "empty").mkdir()
    result = run_cli("--mode", "serve", "--checkpoint", tmp_path / "empty", check=False)
    assert result.returncode == 1
    assert "--checkpoint:" in result.stderr and "numbered exports" in result.stderr
    assert "Traceback" not in result.stderr
    missing = run_cli("--mode", "serve", check=False)
    assert missing.returncode == 2 and "--checkpoint: is required for --mode serve" in missing.stderr


def test_only_serve_mode_imports_the_web_stack():
    code = ("import sys, pix2pix, pix2pix.commands.main, pix2pix.options.record; pix2pix.Options; "
            "print(sorted(m for m in ('starlette', 'uvicorn', 'pix2pix.serving.run') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                            env=cli_env())
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


@pytest.mark.slow
def test_the_load_benchmark_runs(served_models, tmp_path):
    """benchmarks/serve_load.py at its smallest (no timing assertions: it must finish, answer
    200 with infer's pixels, and print its figures). It serves the session's tiny --deterministic
    Lab export (--export; the model is not what is measured, and its own train and export runs would
    only make one more of the same); its infer run is forked from the CLI fork server (--python); the
    server it loads is a fresh interpreter, as in use."""
    _, base = served_models
    result = subprocess.run([sys.executable, os.path.join(REPO, "benchmarks", "serve_load.py"), "--crop_size", "32",
                             "--ngf", "8", "--clients", "2", "--requests", "2", "--photos", "2",
                             "--photo_width", "64", "--photo_height", "48", "--export", str(base / "2"),
                             "--python", forked_python(), "--work_dir", str(tmp_path)],
                            capture_output=True, text=True, timeout=900, env=cli_env())
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    assert "4/4 HTTP 200 and identical to --mode infer's pixels" in result.stdout
    assert re.search(r"latency: p50 \d+ ms, p95 \d+ ms", result.stdout) and "requests/s" in result.stdout


def test_photos_stored_sideways_are_turned_upright_as_infer_does(server):
    # Stored 40 wide and 24 high.
    sideways = exif_jpeg(smooth_photo(np.random.default_rng(2), 24, 40), orientation=6, make_tag=True)
    row = predict(server, {"instances": [{"b64": b64(sideways)}]})
    assert decode_png(base64.b64decode(row.json()["predictions"][0]["b64"])).shape == (40, 24, 3)
    text = predict(server, {"signature_name": "base64", "instances": [{"input": b64(sideways), "key": "k"}]})
    assert decode_png(base64.urlsafe_b64decode(text.json()["predictions"][0]["output"])).shape == (40, 24, 3)
