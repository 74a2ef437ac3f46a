"""Shared helpers: small real images on disk and a subprocess runner for the CLI."""

import os
import signal
import subprocess
import sys

import cv2
import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def write_image(path, rgb):
    """Save an RGB (or grey, or RGBA) uint8 array with OpenCV, which wants BGR."""
    if rgb.ndim == 3 and rgb.shape[2] == 3:
        rgb = rgb[:, :, ::-1]
    elif rgb.ndim == 3 and rgb.shape[2] == 4:
        rgb = rgb[:, :, [2, 1, 0, 3]]
    assert cv2.imwrite(str(path), np.ascontiguousarray(rgb)), path
    return str(path)


def read_rgb(path):
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert image is not None, path
    return image[:, :, ::-1]


def smooth_photo(rng, height, width):
    """A colourful, smooth synthetic 'photo' (gradients plus a few blobs), uint8 RGB."""
    y, x = np.mgrid[0:height, 0:width] / max(height, width)
    phase = rng.random(3) * 6.28
    image = np.stack([np.sin(3 * x + 2 * y + p) for p in phase], axis=-1) * 0.4 + 0.5
    for _ in range(3):
        cy, cx, r = rng.random(3) * [height, width, max(height, width) / 3]
        mask = (np.mgrid[0:height, 0:width][0] - cy) ** 2 + (np.mgrid[0:height, 0:width][1] - cx) ** 2 < r ** 2
        image[mask] = rng.random(3)
    return (np.clip(image, 0, 1) * 255).astype(np.uint8)


@pytest.fixture
def ab_dir(tmp_path):
    """Five 40x80 A|B pairs named 1.png .. 5.png, where B is the colour-inverted A."""
    rng = np.random.default_rng(0)
    directory = tmp_path / "ab"
    directory.mkdir()
    for i in range(1, 6):
        a = smooth_photo(rng, 40, 40)
        write_image(directory / f"{i}.png", np.concatenate([a, 255 - a], axis=1))
    return directory


@pytest.fixture
def photo_dir(tmp_path):
    """Four single colour photos (48x40 .jpg)."""
    rng = np.random.default_rng(1)
    directory = tmp_path / "photos"
    directory.mkdir()
    for i in range(4):
        write_image(directory / f"photo{i}.jpg", smooth_photo(rng, 48, 40))
    return directory


TINY = ["--crop_size", "32", "--scale_size", "36", "--ngf", "8", "--ndf", "8"]


def default_sigint():
    """preexec_fn for a child a test will interrupt: SIGINT at its default disposition, whatever
    the test runner's process left it at (an ignored SIGINT is inherited, and Python then never
    raises KeyboardInterrupt), so the child sees Ctrl-C as it would from a terminal."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def run_cli(*args, module="pix2pix", check=True, timeout=600):
    """Run `python -m MODULE ARGS` in a subprocess; returns the CompletedProcess."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=REPO)
    result = subprocess.run([sys.executable, "-m", module, *map(str, args)], capture_output=True,
                            text=True, env=env, timeout=timeout, cwd=REPO)
    if check and result.returncode != 0:
        raise AssertionError(f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}")
    return result
