"""Hostile input against every tool that decodes images, and hostile clients against the server.

The corpus is made here: small files whose headers claim far more pixels than the limit, in
every format a decoder accepts (a 27 KB GIF claiming 6000x6000, an animated GIF whose frames
together are the bomb, a JPEG with junk bytes between its segments, a progressive JPEG, RLE
BMP, lossless WebP, deflated TIFF). Each must be refused before decoding by data_prep, infer
and serve, naming the limit; a video whose frames are too large is refused by infer. The
server (a real subprocess on a loopback port) must also hold against slow and vanishing
clients, foreign Host and Origin headers and malformed JSON: 4xx answers, one log line each,
no 500 and no traceback.
"""

import io
import json
import os
import queue
import re
import select
import signal
import socket
import struct
import subprocess
import threading
import time
import zlib

import cv2
import numpy as np
import pytest
from PIL import Image

from helpers import run_cli, smooth_photo
from pix2pix.errors import Pix2PixError
from pix2pix.io.images import ImageError, check_image_size, check_pixel_limit, image_size
from helpers import ServerProcess, b64, call, encode_png

MAX_PIXELS = 1_000_000  # the limit every tool runs with here; each bomb claims more
SIDE = 6000  # 36 megapixels: 108 MB once decoded to RGB


# Its module-scoped fixtures are built once: all its tests run on one xdist worker (pytest.ini).
pytestmark = pytest.mark.xdist_group("hardening_serve")


# ----------------------------------------------------------------------------- the corpus
def _gif(size, frames=1):
    pictures = [Image.new("P", size, i % 2) for i in range(frames)]
    buffer = io.BytesIO()
    pictures[0].save(buffer, "GIF", save_all=frames > 1, append_images=pictures[1:])
    return buffer.getvalue()


def _jpeg(progressive=False):
    flags = [cv2.IMWRITE_JPEG_QUALITY, 50] + ([cv2.IMWRITE_JPEG_PROGRESSIVE, 1] if progressive else [])
    ok, data = cv2.imencode(".jpg", np.zeros((SIDE, SIDE, 3), np.uint8), flags)
    assert ok
    return data.tobytes()


def _jpeg_with_junk():
    """A JPEG with stray bytes after its first segment: libjpeg decodes it (with a warning), a
    segment walk that expects markers back to back loses its way there."""
    data = _jpeg()
    (length,) = struct.unpack(">H", data[4:6])
    cut = 4 + length
    return data[:cut] + b"\x00junk\x00" + data[cut:]


def _rle_bmp():
    """An 8-bit RLE BMP of SIDE x SIDE whose data is just "end of bitmap": about 1 KB."""
    palette, pixels = b"\0\0\0\0" * 256, b"\x00\x01"
    offset = 14 + 40 + len(palette)
    info = struct.pack("<IiiHHIIiiII", 40, SIDE, SIDE, 1, 8, 1, len(pixels), 2835, 2835, 256, 0)
    return b"BM" + struct.pack("<IHHI", offset + len(pixels), 0, 0, offset) + info + palette + pixels


def _pillow(kind, **options):
    buffer = io.BytesIO()
    Image.new("RGB", (SIDE, SIDE)).save(buffer, kind, **options)
    return buffer.getvalue()


# hidden frames: the first frame small, a later one large (TensorFlow makes every GIF frame as
# large as the largest); each is read before a decoder runs, the walk of every frame's header
def gif_with_frames(screen, frames):
    """A GIF of logical screen SCREEN holding one image per (width, height) of FRAMES, each a
    minimal LZW stream (clear code, end code): a decoder fills the rest of the frame."""
    data = b"GIF89a" + struct.pack("<HHBBB", *screen, 0x80, 0, 0) + bytes(6)  # two-colour table
    for width, height in frames:
        data += b"," + struct.pack("<HHHHB", 0, 0, width, height, 0) + b"\x02\x01\x2c\x00"
    return data + b";"


def _png_chunk(kind, payload):
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def apng_with_frames(frames):
    """An animated PNG: an 8x8 IHDR and default image, then one fcTL per (width, height)."""
    data = b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", 8, 8, 8, 2, 0, 0, 0))
    data += _png_chunk(b"acTL", struct.pack(">II", len(frames), 0))
    for index, (width, height) in enumerate(frames):
        data += _png_chunk(b"fcTL", struct.pack(">IIIIIHHBB", index, width, height, 0, 0, 1, 1, 0, 0))
        if index == 0:
            data += _png_chunk(b"IDAT", zlib.compress(bytes(8 * 25)))
    return data + _png_chunk(b"IEND", b"")


def webp_with_large_frame():
    """An animated WebP of two 8x8 frames, the second's ANMF header rewritten to 6000x6000."""
    pictures = [Image.new("RGB", (8, 8), colour) for colour in ("black", "white")]
    buffer = io.BytesIO()
    pictures[0].save(buffer, "WEBP", save_all=True, append_images=pictures[1:], lossless=True)
    data = bytearray(buffer.getvalue())
    second = data.find(b"ANMF", data.find(b"ANMF") + 4)
    assert second > 0
    data[second + 8 + 6:second + 8 + 12] = (SIDE - 1).to_bytes(3, "little") * 2
    return bytes(data)


def tiff_with_large_second_page():
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buffer, "TIFF", save_all=True, compression="tiff_deflate",
                                  append_images=[Image.new("RGB", (SIDE, SIDE))])
    return buffer.getvalue()


HIDDEN = {
    "second_frame.gif": lambda: gif_with_frames((8, 8), [(8, 8), (SIDE, SIDE)]),
    "animated_frame.png": lambda: apng_with_frames([(8, 8), (SIDE, SIDE)]),
    "canvas_frame.webp": webp_with_large_frame,
    "second_page.tif": tiff_with_large_second_page,
}


@pytest.mark.parametrize("name", sorted(HIDDEN))
def test_a_frame_larger_than_the_first_is_seen_before_decoding(name):
    data = HIDDEN[name]()
    assert len(data) < 200_000
    with Image.open(io.BytesIO(data)) as image:
        assert image.size == (8, 8)  # what a header-only check used to read
    assert image_size(data) == (SIDE, SIDE, 2)
    assert image_size(io.BufferedReader(io.BytesIO(data))) == (SIDE, SIDE, 2)  # from a file
    with pytest.raises(Pix2PixError, match=rf"x\.{name[-3:]}: the image claims 2 frames of 6000x6000 = "
                                           r"72,000,000 pixels, over the limit of 1,000,000 \(--max_pixels\)"):
        check_pixel_limit(data, f"x.{name[-3:]}", 1_000_000)
    with pytest.raises(ImageError, match=r"claims 6000x6000 pixels in 2 frames"):
        check_image_size(data, 50_000_000)


def test_ordinary_files_keep_their_sizes():
    for kind, frames in (("GIF", 3), ("PNG", 3), ("WEBP", 3), ("TIFF", 3), ("JPEG", 1), ("BMP", 1)):
        pictures = [Image.new("RGB", (20, 10), (i * 40, 0, 0)) for i in range(frames)]
        buffer = io.BytesIO()
        extra = {"save_all": True, "append_images": pictures[1:]} if frames > 1 else {}
        pictures[0].save(buffer, kind, **extra)
        assert image_size(buffer.getvalue()) == (20, 10, frames), kind


@pytest.fixture(scope="module")
def bombs():
    """{file name: bytes}; names carry the true format's extension."""
    corpus = {
        "screen.gif": _gif((SIDE, SIDE)),
        "animated.gif": _gif((1000, 1000), frames=40),  # each frame within the limit, all 40 not
        "junk.jpg": _jpeg_with_junk(),
        "progressive.jpg": _jpeg(progressive=True),
        "rle.bmp": _rle_bmp(),
        "lossless.webp": _pillow("WEBP", lossless=True),
        "deflated.tif": _pillow("TIFF", compression="tiff_deflate"),
        **{name: build() for name, build in HIDDEN.items()},
    }
    assert 20_000 < len(corpus["screen.gif"]) < 30_000  # 27 KB for 36 megapixels
    assert all(len(data) < 1_000_000 for data in corpus.values()), {k: len(v) for k, v in corpus.items()}
    return corpus


def test_every_bomb_is_read_by_its_header_and_a_decoder_would_take_it(bombs):
    """The corpus is real: Pillow reads each claimed size (and the animation's frame count)
    from the header alone, and OpenCV, which data_prep decodes with, does decode the
    small-enough ones (so without the check they would reach it)."""
    from pix2pix.io.images import image_size
    sizes = {name: image_size(data) for name, data in bombs.items()}
    assert sizes.pop("animated.gif") == (1000, 1000, 40)
    assert [sizes.pop(name) for name in HIDDEN] == [(SIDE, SIDE, 2)] * len(HIDDEN)
    assert set(sizes.values()) == {(SIDE, SIDE, 1)}
    junk = cv2.imdecode(np.frombuffer(bombs["junk.jpg"], np.uint8), cv2.IMREAD_REDUCED_GRAYSCALE_8)
    assert junk.shape == (SIDE // 8, SIDE // 8)


def _limit_words(text):
    """The refusal names the limit and the claimed size (or the animation's frame count)."""
    return "--max_pixels" in text and ("6000x6000" in text or "40 frames of 1000x1000" in text
                                       or "1000x1000 pixels in 40 frames" in text)


# ----------------------------------------------------------------------------- data_prep
def test_data_prep_refuses_every_bomb_by_name(bombs, tmp_path):
    from pix2pix.io.listing import IMAGE_EXTENSIONS as SUPPORTED_EXTENSIONS
    folder, out = tmp_path / "in", tmp_path / "out"
    folder.mkdir()
    for name, data in bombs.items():
        stem, extension = os.path.splitext(name)
        # data_prep lists no .gif: a GIF reaches its decoder under another name (OpenCV reads it)
        (folder / (stem + (extension if extension in SUPPORTED_EXTENSIONS else ".png"))).write_bytes(data)
    result = run_cli("--operation", "resize", "--size", 16, "--input_dir", folder, "--output_dir", out,
                     "--max_pixels", MAX_PIXELS, module="data_prep", check=False, timeout=300)
    assert result.returncode == 1, result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("pix2pix-prep: skipped ")]
    assert len(lines) == len(bombs), result.stderr
    for path in folder.iterdir():
        (line,) = [line for line in lines if f"{path}:" in line]
        assert _limit_words(line), line
    assert not out.exists() or os.listdir(out) == []
    assert "Traceback" not in result.stderr


# ---------------------------------------------------------------------------------- infer
@pytest.fixture(scope="module")
def run_dir(served_models):
    return served_models[0]


def _infer_options(run, input_dir, output_dir, **flags):
    from pix2pix.options.record import Options
    return Options(mode="infer", checkpoint=str(run), input_dir=str(input_dir), output_dir=str(output_dir),
                   max_pixels=MAX_PIXELS, **flags)


def test_infer_refuses_every_bomb_and_writes_nothing_for_it(bombs, run_dir, tmp_path):
    """Each bomb beside a good photo: infer's pre-flight check names it; without the pre-flight
    (--skip_preflight) the batch loop refuses it by name after writing only the good photo.
    (Infer's own functions on one loaded model: a model load per bomb would take minutes.)"""
    from pix2pix.errors import Pix2PixError
    from pix2pix.modes.infer import PHOTO_EXTENSIONS, check_photos, load_model, plan_outputs, translate_photos
    _, translate = load_model(_infer_options(run_dir, tmp_path, tmp_path / "unused"))
    good = encode_png(smooth_photo(np.random.default_rng(0), 40, 48))
    for index, (name, data) in enumerate(bombs.items()):
        stem, extension = os.path.splitext(name)
        folder, out = tmp_path / f"in{index}", tmp_path / f"out{index}"
        folder.mkdir()
        out.mkdir()
        (folder / "1.png").write_bytes(good)
        bomb = folder / ("2" + (extension if extension in PHOTO_EXTENSIONS else ".png"))
        bomb.write_bytes(data)
        paths = [str(folder / "1.png"), str(bomb)]
        with pytest.raises(Pix2PixError) as refused:
            check_photos(paths, MAX_PIXELS)
        assert str(refused.value).startswith(f"{bomb}: ") and _limit_words(str(refused.value)), refused.value
        with pytest.raises(Pix2PixError) as refused:
            translate_photos(plan_outputs(paths, str(out), ".png"), translate, 1, max_pixels=MAX_PIXELS)
        assert str(refused.value).startswith(f"{bomb}: ") and _limit_words(str(refused.value)), refused.value
        assert os.listdir(out) == ["1.png"], (name, os.listdir(out))


def test_infer_cli_exits_1_naming_the_bomb(bombs, run_dir, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "screen.gif").write_bytes(bombs["screen.gif"])
    result = run_cli("--mode", "infer", "--checkpoint", run_dir, "--input_dir", folder, "--output_dir",
                     tmp_path / "out", "--max_pixels", MAX_PIXELS, check=False, timeout=300)
    assert result.returncode == 1
    assert re.search(r"pix2pix: error: .*screen\.gif: the image claims 6000x6000 = 36,000,000 pixels, "
                     r"over the limit of 1,000,000 \(--max_pixels\)", result.stderr), result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "out").exists()


def test_infer_refuses_a_video_whose_frames_are_too_large(run_dir, tmp_path):
    from pix2pix.errors import Pix2PixError
    from pix2pix.modes.infer import infer_mode
    folder, out = tmp_path / "in", tmp_path / "out"
    folder.mkdir()
    writer = cv2.VideoWriter(str(folder / "wide.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 5, (1280, 800))
    assert writer.isOpened()
    for _ in range(2):
        writer.write(np.zeros((800, 1280, 3), np.uint8))
    writer.release()
    with pytest.raises(Pix2PixError, match=r"wide\.mp4: frames of 1280x800 = 1,024,000 pixels, over the "
                                           r"limit of 1,000,000 \(--max_pixels\)"):
        infer_mode(_infer_options(run_dir, folder, out))
    assert not [f for f in os.listdir(out) if f.endswith(".mp4")]


# ---------------------------------------------------------------------------------- serve
def vm_rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"VmRSS:\s+(\d+) kB", f.read()).group(1)) / 1024


@pytest.fixture(scope="module")
def hardened(served_models, tmp_path_factory):
    """The server with --max_pixels 1,000,000, --body_timeout 3, --header_timeout 3 and
    --max_queue 2, in an empty working directory (nothing may be written there)."""
    _, base = served_models
    cwd = tmp_path_factory.mktemp("serve_cwd")
    process = ServerProcess("--checkpoint", base, "--max_pixels", MAX_PIXELS, "--max_request_mb", 4,
                            "--max_queue", 2, "--body_timeout", 3, "--header_timeout", 3, cwd=cwd)
    process.cwd = cwd
    yield process
    process.kill()
    assert os.listdir(cwd) == []


def predict(server, body, headers=None, path=":predict"):
    return call("POST", server.model_url() + path, body, headers, timeout=120)


def assert_clean(server):
    """No 500 in the access log and no traceback on stderr, ever."""
    assert not [line for line in server.log_lines() if " 500 " in line], server.log_lines()
    assert not [line for line in server.stderr_lines if "Traceback" in line or "Exception" in line], \
        server.stderr_lines[-30:]


def test_serve_refuses_every_bomb_naming_the_limit_in_little_memory(hardened, bombs):
    before = vm_rss_mb(hardened.process.pid)
    for name, data in bombs.items():
        for body in ({"instances": [{"b64": b64(data)}]},
                     {"signature_name": "base64", "instances": [{"input": b64(data), "key": name}]}):
            reply = predict(hardened, body)
            assert reply.status == 400, (name, reply)
            error = reply.json()["error"]
            assert re.match(r"instances(\.input)?\[0\]: ", error) and _limit_words(error), (name, error)
    grown = vm_rss_mb(hardened.process.pid) - before
    print(f"server RSS grew {grown:.1f} MB over {2 * len(bombs)} bomb requests")
    assert grown < 100, grown
    assert os.listdir(hardened.cwd) == []
    assert_clean(hardened)


def test_a_foreign_host_or_origin_is_refused(hardened):
    port = hardened.url.rsplit(":", 1)[1]
    body = {"instances": [{"b64": b64(encode_png(np.zeros((32, 32, 3), np.uint8)))}]}
    for host in ("evil.example", f"evil.example:{port}", "127.0.0.1.evil.example"):
        reply = call("GET", hardened.model_url(), headers={"Host": host})
        assert reply.status == 400 and "--allowed_hosts" in reply.json()["error"], (host, reply)
        assert predict(hardened, body, {"Host": host}).status == 400
    for host in (f"localhost:{port}", f"127.0.0.1:{port}", "localhost"):
        assert call("GET", hardened.model_url(), headers={"Host": host}).status == 200, host
    foreign = predict(hardened, body, {"Origin": "http://evil.example"})
    assert foreign.status == 403 and "cross-origin" in foreign.json()["error"]
    assert predict(hardened, body, {"Origin": "null"}).status == 403
    assert predict(hardened, body, {"Origin": f"http://127.0.0.1:{port}"}).status == 200  # the page itself
    assert predict(hardened, body).status == 200  # no Origin: curl, scripts
    assert_clean(hardened)


@pytest.mark.parametrize("body, message", [
    ('{"instances": ' + "[" * 100_000 + "]" * 100_000 + "}", "nested too deeply"),
    ("[" * 100_000, "JSON Parse error"),
    ('{"signature_name": "frame_colour", "inputs": [[[300, 0, 0]]]}', "value 300 is out of range for uint8"),
    ('{"signature_name": "frame_colour", "inputs": [[[-1, 0, 0]]]}', "value -1 is out of range for uint8"),
    ('{"signature_name": "frame_colour", "inputs": [[[1.5, 0, 0]]]}', "expected uint8 values, got float"),
    ('{"signature_name": "tensors", "inputs": [[[[NaN]]]]}', "NaN is not a JSON number"),
    ('{"signature_name": "tensors", "inputs": [[[[-Infinity]]]]}', "-Infinity is not a JSON number"),
    ('{"signature_name": "tensors", "inputs": [[[[1e400]]]]}', "out of range for float32"),
    ('{"signature_name": "tensors", "inputs": [[[[1e39]]]]}', "out of range for float32"),
    ('{"signature_name": "tensors", "inputs": [[[["0.5"]]]]}', "expected float32 values, got str"),
    ('{"signature_name": "tensors", "inputs": [[[[true]]]]}', "expected float32 values, got bool"),
    ('{"signature_name": "tensors", "inputs": [[[[null]]]]}', "expected float32 values, got NoneType"),
    ('{"signature_name": "tensors", "inputs": [[[[{}]]]]}', "expected float32 values, got dict"),
    ('{"signature_name": "tensors", "inputs": [[[[1], [2, 3]]]]}', "does not match [-1, -1, -1, 1]"),
    ('{"signature_name": ["tensors"], "inputs": []}', "not found in signature def"),
    ('{"instances": [{"b64": 5}]}', '"b64" must be a string'),
    ('{"instances": {"b64": "aGVsbG8="}}', '"instances" must be a non-empty list'),
    ('{"instances": [{"b64": "aGVsbG8="}]}', "not a decodable image"),
    ('{"instances": ["iVBORw0KGgo="]}', "this is base64 text"),
    (b'{"instances": ["\xff\xfe"]}', "JSON Parse error"),
])
def test_every_malformed_body_is_a_400(hardened, body, message):
    reply = predict(hardened, body)
    assert reply.status == 400, reply
    assert message in reply.json()["error"], reply.json()
    assert_clean(hardened)


def test_answers_are_strict_json(hardened):
    """Every answer parses with a parser that refuses NaN and Infinity."""
    inputs = np.random.default_rng(1).uniform(-1, 1, (1, 32, 32, 1)).round(3).tolist()
    reply = predict(hardened, {"signature_name": "tensors", "inputs": inputs})
    assert reply.status == 200
    strict = json.loads(reply.body, parse_constant=lambda name: pytest.fail(f"{name} in the answer"))
    assert np.array(strict["outputs"]).shape == (1, 32, 32, 2)


def test_non_finite_outputs_are_refused_not_written_as_bare_tokens():
    """TF Serving writes NaN as a bare token, which is not JSON: refused here with a reason."""
    import tensorflow as tf
    from pix2pix.serving.model import Signature
    from pix2pix.serving.protocol import RequestError, response_json
    signature = Signature("tensors", None, {"inputs": tf.TensorSpec([None, 1], tf.float32)}, {})
    assert json.loads(response_json(signature, {"outputs": np.array([[0.5]], np.float32)}, row=False)) == \
        {"outputs": [[0.5]]}
    for value in (np.nan, np.inf, -np.inf):
        with pytest.raises(RequestError, match="NaN or Infinity") as refused:
            response_json(signature, {"outputs": np.array([[value]], np.float32)}, row=True)
        assert refused.value.status == 400


# ------------------------------------------------------------------------- slow clients
def _slow_client(server, results, key, seconds, connected, body=b'{"instances": []}'):
    """Headers at once (then this client's port is put on the queue CONNECTED), then the body one
    byte a second (never all of it) for at most SECONDS, stopping at the server's answer;
    RESULTS[KEY]: the answer's bytes (or the socket error)."""
    host, port = server.url.split("//")[1].split(":")
    with socket.create_connection((host, int(port)), timeout=60) as sock:
        sock.sendall(b"POST /v1/models/color:predict HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % (len(body) + 1000))
        connected.put(sock.getsockname()[1])
        try:
            for i in range(seconds):
                # Bytes go out half a second off the whole seconds, so the server's answer at a whole
                # --body_timeout finds the client waiting here, not sending (a byte sent after the
                # server closed would draw a reset that discards the answer).
                if select.select([sock], [], [], 0.5 if i == 0 else 1.0)[0]:  # answered (or closed)
                    break
                sock.sendall(body[i % len(body):i % len(body) + 1])
            answer = b""
            while chunk := sock.recv(65536):  # the whole answer: the server closes the connection
                answer += chunk
            results[key] = answer
        except OSError as err:
            results[key] = err


def _wait_until_read(server, clients):
    """Wait for the CLIENTS (a queue that gets one port per client) to connect and for the server to
    have read all they sent (its end of each connection has nothing left to read, per /proc/net/tcp):
    their requests are being received."""
    ports = [clients.get(timeout=120) for _ in range(clients.maxsize)]
    server_port = int(server.url.rsplit(":", 1)[1])

    def unread(port):
        """Bytes from 127.0.0.1:PORT the server has not read (None: no such connection yet)."""
        local, remote = f"0100007F:{server_port:04X}", f"0100007F:{port:04X}"
        with open("/proc/net/tcp", encoding="ascii") as table:
            for line in table.readlines()[1:]:
                fields = line.split()
                if fields[1] == local and fields[2] == remote:
                    return int(fields[4].split(":")[1], 16)  # tx_queue:rx_queue
        return None

    server.wait_until(lambda: all(unread(port) == 0 for port in ports), "the server to read the slow clients' headers")


def test_slow_bodies_take_no_queue_place_and_time_out(hardened):
    """--max_queue 2 and three clients sending their bodies a byte a second: a normal client
    still gets its picture (the slow ones are not in flight), and each slow one is answered
    408 once --body_timeout (3 s) has passed, with the connection closed."""
    results, connected = {}, queue.Queue(3)
    threads = [threading.Thread(target=_slow_client, args=(hardened, results, i, 20, connected)) for i in range(3)]
    for thread in threads:
        thread.start()
    _wait_until_read(hardened, connected)  # the slow clients are connected and sending
    options = call("GET", hardened.model_url() + "/options").json()
    assert options["requests_in_flight"] == 0
    started = time.monotonic()
    normal = predict(hardened, {"instances": [{"b64": b64(encode_png(np.zeros((32, 32, 3), np.uint8)))}]})
    elapsed = time.monotonic() - started
    assert normal.status == 200, normal
    assert not results  # answered while the slow clients were still sending (within --body_timeout)
    print(f"normal request beside 3 slow clients: {elapsed:.2f} s")
    for thread in threads:
        thread.join(60)
    for i in range(3):
        answer = results[i]
        assert isinstance(answer, bytes) and answer.startswith(b"HTTP/1.1 408 "), answer
        assert b"--body_timeout" in answer and b"connection: close" in answer.lower()
    assert len([line for line in hardened.log_lines() if " 408 " in line]) >= 3
    assert_clean(hardened)


def test_slow_headers_are_cut_off(hardened):
    """A client that sends half a request line and waits is disconnected after --header_timeout."""
    host, port = hardened.url.split("//")[1].split(":")
    with socket.create_connection((host, int(port)), timeout=60) as sock:
        sock.sendall(b"POST /v1/models/color:predict HTTP/1.1\r\nHost: 127.")
        assert sock.recv(1024) == b""  # closed by the server, not by our 60 s timeout
    hardened.wait_until(lambda: any("--header_timeout" in line for line in hardened.lines), "the log line")
    assert_clean(hardened)


def test_a_client_that_disconnects_mid_body_frees_its_place(hardened):
    host, port = hardened.url.split("//")[1].split(":")
    for _ in range(4):  # more than --max_queue 2: a leaked place would show as a 503 below
        with socket.create_connection((host, int(port)), timeout=60) as sock:
            sock.sendall(b"POST /v1/models/color:predict HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                         b"Content-Length: 5000\r\n\r\n{\"instances\": [")
    hardened.wait_until(lambda: len([line for line in hardened.log_lines() if "client disconnected" in line]) >= 4,
                        "four disconnect log lines")
    gone = [line for line in hardened.log_lines() if "client disconnected" in line]
    assert all(" 499 " in line for line in gone), gone
    assert call("GET", hardened.model_url() + "/options").json()["requests_in_flight"] == 0
    body = {"instances": [{"b64": b64(encode_png(np.zeros((32, 32, 3), np.uint8)))}]}
    assert predict(hardened, body).status == 200
    assert_clean(hardened)


def test_sigterm_with_a_slow_client_exits_0_within_the_shutdown_timeout(served_models, tmp_path):
    """A client still dribbling its body (--body_timeout 60) does not hold the stop: after
    --shutdown_timeout 2 what is left is closed and the server exits 0, cleanly."""
    _, base = served_models
    server = ServerProcess("--checkpoint", base, "--body_timeout", 60, "--shutdown_timeout", 2, cwd=tmp_path)
    try:
        results, connected = {}, queue.Queue(1)
        thread = threading.Thread(target=_slow_client, args=(server, results, "slow", 40, connected))
        thread.start()
        _wait_until_read(server, connected)  # its request is in the server, waiting for the body
        started = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        server.wait_until(lambda: "stopped" in server.lines, "the server to stop serving", timeout=60)
        stopped = time.monotonic() - started
        try:
            code = server.process.wait(60)
        except subprocess.TimeoutExpired:
            raise AssertionError("no exit within 60 s of SIGTERM") from None
        elapsed = time.monotonic() - started
        print(f"SIGTERM with a slow client: stopped serving after {stopped:.1f} s, exit {code} after "
              f"{elapsed:.1f} s (--shutdown_timeout 2)")
        assert code == 0, server.stderr_lines[-20:]
        thread.join(60)
        for reader in server._readers:
            reader.join(10)
        assert server.lines[-1] == "stopped", server.lines[-5:]
        assert any("cut short: the server is stopping" in line for line in server.lines), server.lines[-5:]
        assert results["slow"].startswith(b"HTTP/1.1 503 "), results
        assert_clean(server)
    finally:
        server.kill()
    assert os.listdir(tmp_path) == []


# ------------------------------------------------------------- connections and uploads
@pytest.fixture(scope="module")
def limited(served_models, tmp_path_factory):
    """The server with small resource caps: --max_connections 16, --max_upload_mb 2,
    --max_request_mb 1, --max_batch 2, --max_queue 2."""
    _, base = served_models
    process = ServerProcess("--checkpoint", base, "--max_connections", 16, "--max_upload_mb", 2,
                            "--max_request_mb", 1, "--max_batch", 2, "--max_queue", 2, "--body_timeout", 20,
                            "--header_timeout", 20, cwd=tmp_path_factory.mktemp("limited_cwd"))
    yield process
    process.kill()


def _address(server):
    host, port = server.url.split("//")[1].split(":")
    return host, int(port)


def _small_body(count=1):
    photo = {"b64": b64(encode_png(np.zeros((32, 32, 3), np.uint8)))}
    return {"instances": [photo] * count}


def test_the_page_cannot_be_framed_and_long_headers_are_refused(limited):
    page = call("GET", limited.url + "/")
    assert page.status == 200
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["content-security-policy"] == "frame-ancestors 'none'"
    for size in (20_000, 100_000):  # sent at once: h11 alone would parse them whole
        with socket.create_connection(_address(limited), timeout=60) as sock:
            sock.sendall(b"GET /v1/models/color HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: " + b"a" * size + b"\r\n\r\n")
            answer = sock.recv(65536)
        assert answer.startswith(b"HTTP/1.1 400 "), answer[:200]
    reply = call("GET", limited.model_url(), headers={"X-Pad": "a" * 15_000})
    assert reply.status == 200
    assert_clean(limited)


def test_a_request_of_more_pictures_than_max_batch_is_refused(limited):
    assert predict(limited, _small_body(2)).status == 200
    reply = predict(limited, _small_body(3))
    assert reply.status == 400 and "3 pictures, over the limit of 2 a request (--max_batch)" in reply.json()["error"]


def test_unfinished_uploads_are_capped_in_bytes_and_memory(limited):
    """Twelve clients each announce 1 MB and send 400 KB, then stall: past --max_upload_mb 2 the
    next ones are refused 503, the server's memory hardly grows, and a normal request is served."""
    before = vm_rss_mb(limited.process.pid)
    sockets, refused = [], 0
    try:
        for _ in range(12):
            sock = socket.create_connection(_address(limited), timeout=60)
            sock.sendall(b"POST /v1/models/color:predict HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                         b"Content-Length: 1000000\r\n\r\n" + b" " * 400_000)
            sockets.append(sock)
        time.sleep(2)
        for sock in sockets:
            sock.setblocking(False)
            try:
                answer = sock.recv(4096)
            except BlockingIOError:
                continue
            if answer.startswith(b"HTTP/1.1 503 ") and b"--max_upload_mb" in answer:
                refused += 1
        grown = vm_rss_mb(limited.process.pid) - before
        print(f"12 stalled 1 MB uploads: {refused} refused, server RSS grew {grown:.1f} MB")
        assert refused >= 7, refused  # 2 MB hold five of them at most
        assert grown < 100, grown
        assert predict(limited, _small_body()).status == 200  # 32x32: well under what is left
    finally:
        for sock in sockets:
            sock.close()
    assert_clean(limited)


def test_connections_beyond_max_connections_are_answered_503_then_served_again(limited):
    idle = [socket.create_connection(_address(limited), timeout=60) for _ in range(20)]
    try:
        time.sleep(1)
        busy = call("GET", limited.model_url())
        assert busy.status == 503, busy
    finally:
        for sock in idle:
            sock.close()
    limited.wait_until(lambda: call("GET", limited.model_url()).status == 200, "served again", timeout=60)
    assert_clean(limited)


def test_the_file_descriptor_limit_is_one_log_line_not_a_traceback_per_client(limited):
    """With the server's open-file limit lowered to 100 and 200 clients connecting: one log line,
    no traceback; once they are gone, requests are served again."""
    import resource
    pid = limited.process.pid
    saved = resource.prlimit(pid, resource.RLIMIT_NOFILE)
    resource.prlimit(pid, resource.RLIMIT_NOFILE, (100, saved[1]))  # the soft limit: it can be restored
    clients = []
    try:
        for _ in range(200):
            try:
                clients.append(socket.create_connection(_address(limited), timeout=5))
            except OSError:
                break
        time.sleep(5)
    finally:
        for sock in clients:
            sock.close()
        resource.prlimit(pid, resource.RLIMIT_NOFILE, saved)
    limited.wait_until(lambda: call("GET", limited.model_url()).status == 200, "served again", timeout=60)
    notes = [line for line in limited.stderr_lines if "out of file descriptors" in line]
    assert 1 <= len(notes) <= 2, limited.stderr_lines[-10:]
    assert notes[0].startswith("warning: out of file descriptors (Too many open files): new connections wait")
    assert_clean(limited)
