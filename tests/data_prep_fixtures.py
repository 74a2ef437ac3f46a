"""Helpers for the data_prep tests: synthetic photos, hand-made odd files, CLI runner.

Everything is generated locally (no downloads). Images in the tests are RGB
uint8 arrays; OpenCV (BGR) is only used to encode/decode files.
"""

import hashlib
import os
import struct
import subprocess
import sys
import zlib

import cv2
import numpy as np

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def synthetic_photo(height, width, seed=0):
    """A smooth, colourful RGB image with a few shapes: photo-like enough for
    resizing and edge tests, and different for every seed."""
    rng = np.random.default_rng(seed)
    rows = np.linspace(0.0, 1.0, height)[:, None]
    cols = np.linspace(0.0, 1.0, width)[None, :]
    phase = rng.uniform(0, 2 * np.pi, size=3)
    channels = [127 + 100 * np.sin(3 * rows + 2 * cols + p) for p in phase]
    image = np.clip(np.dstack(channels), 0, 255).astype(np.uint8)
    colour = tuple(int(c) for c in rng.integers(0, 255, size=3))
    centre = (int(rng.integers(width // 4, 3 * width // 4)), int(rng.integers(height // 4, 3 * height // 4)))
    cv2.circle(image, centre, max(2, min(height, width) // 5), colour, -1)
    return np.ascontiguousarray(image)


def write_image_file(path, rgb, quality=95):
    """Write an RGB (or grey, or RGBA, or 16-bit) array with OpenCV; format from the extension."""
    array = rgb
    if rgb.ndim == 3 and rgb.shape[2] == 3:
        array = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    elif rgb.ndim == 3 and rgb.shape[2] == 4:
        array = cv2.cvtColor(rgb, cv2.COLOR_RGBA2BGRA)
    params = [cv2.IMWRITE_JPEG_QUALITY, quality] if path.lower().endswith((".jpg", ".jpeg")) else []
    if not cv2.imwrite(str(path), array, params):
        raise RuntimeError("could not write %s" % path)
    return path


def read_rgb(path):
    """Decode a file written by data_prep back to RGB uint8 (no conversions hidden)."""
    bgr = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert bgr is not None, path
    assert bgr.dtype == np.uint8 and bgr.ndim == 3 and bgr.shape[2] == 3, (path, bgr.shape, bgr.dtype)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def _png_chunk(kind, payload):
    return (struct.pack(">I", len(payload)) + kind + payload
            + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF))


def palette_png_bytes(indices, palette):
    """An 8-bit palette PNG (colour type 3): indices (H, W) uint8, palette [(r, g, b), ...]."""
    height, width = indices.shape
    header = struct.pack(">IIBBBBB", width, height, 8, 3, 0, 0, 0)
    raw = b"".join(b"\x00" + indices[row].tobytes() for row in range(height))  # filter 0 per row
    plte = b"".join(bytes(colour) for colour in palette)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"PLTE", plte)
            + _png_chunk(b"IDAT", zlib.compress(raw)) + _png_chunk(b"IEND", b""))


def bomb_png_bytes(width, height):
    """A tiny PNG whose header claims width x height RGB pixels (a decompression bomb)."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    # A little real compressed data (a few zero rows): decoding it for real would need width*height*3 bytes.
    data = zlib.compress(b"\x00" * (1 + 3 * min(width, 4096)) * 4)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", data)
            + _png_chunk(b"IEND", b""))


def jpeg_with_exif_orientation(rgb, orientation, quality=100):
    """JPEG bytes of ``rgb`` with an EXIF APP1 segment holding only the Orientation tag."""
    ok, encoded = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    jpeg = encoded.tobytes()
    ifd = struct.pack(">H", 1) + struct.pack(">HHIHH", 0x0112, 3, 1, orientation, 0) + struct.pack(">I", 0)
    tiff = b"MM\x00\x2a" + struct.pack(">I", 8) + ifd
    payload = b"Exif\x00\x00" + tiff
    segment = b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload
    return jpeg[:2] + segment + jpeg[2:]


def tree_hashes(directory):
    """{relative path: sha256} of every file below ``directory`` (hidden files included)."""
    hashes = {}
    for root, _, files in os.walk(directory):
        for name in files:
            path = os.path.join(root, name)
            with open(path, "rb") as handle:
                hashes[os.path.relpath(path, directory)] = hashlib.sha256(handle.read()).hexdigest()
    return hashes


def run_cli(*args, extra_paths=(), cwd=None):
    """Run ``python -m data_prep ARGS`` in a subprocess; returns CompletedProcess (text).

    extra_paths go in front of PYTHONPATH (e.g. to hide an installed package).
    """
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [*extra_paths, REPO_ROOT, env.get("PYTHONPATH")]))
    command = [sys.executable, "-m", "data_prep"] + [str(arg) for arg in args]
    return subprocess.run(command, capture_output=True, text=True, env=env, cwd=cwd or REPO_ROOT, timeout=300)


def assert_clean_failure(result):
    """A run that must fail without a traceback."""
    assert result.returncode != 0, result
    assert "Traceback" not in result.stderr, result.stderr
