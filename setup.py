"""pix2pix for TensorFlow 2: a faithful port of the TF1 pix2pix onto tf.keras, GradientTape and tf.data."""

import re

from setuptools import find_packages, setup

# The version is written once, as pix2pix.__version__ (read here without importing the package).
with open("pix2pix/__init__.py", encoding="utf-8") as init:
    VERSION = re.search(r'^__version__ = "([^"]+)"$', init.read(), re.M).group(1)

setup(
    name="pix2pix-tf2",
    version=VERSION,
    description="pix2pix (image-to-image translation with conditional GANs) for TensorFlow 2",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["pix2pix", "pix2pix.*", "data_prep", "data_prep.*"]),
    install_requires=[
        # Upper bounds: the speed paths use private Keras/TensorFlow fields (pix2pix/models/kernels.py: the
        # fused Adam reads Keras Adam's slots); tested with TensorFlow 2.21 and Keras 3.15. A newer release
        # without them is refused in one line naming the installed versions.
        "tensorflow>=2.16,<2.22",
        "keras>=3.0,<3.16",
        "tensorboard",
        "numpy",
        "opencv-python",
        "absl-py",
        "matplotlib",
        # reads an image's size (and a GIF's frame count) from its header for the --max_pixels
        # check of every format, before OpenCV or TensorFlow decodes anything (docs/security.md)
        "pillow",
        # infer's default video codec, H.264 MP4 (the one every browser plays), and the audio track carried
        # over: the ffmpeg binary this wheel ships (OpenCV's wheels cannot write H.264)
        "imageio-ffmpeg",
        # data beyond 8-bit RGB (docs/channels.md): TIFFs of any channel count, 16-bit and float32, read and
        # written (OpenCV reads TIFFs of 1 to 4 channels only)
        "tifffile",
    ],
    package_data={"pix2pix.serving": ["page.html", "pix2pix-web.js"]},  # --mode serve's page, --format web's script
    extras_require={
        # pytest below 9.2: with 9.2, pytest-xdist 3.8's --dist loadgroup (pytest.ini) silently stops
        # grouping (9.2 keeps node ids where xdist no longer writes its @group suffix), and every
        # module fixture (a trained run, a server) is built once per worker instead of once.
        # tests/test_architecture.py checks the grouping holds.
        # tf2onnx and onnxruntime (the onnx extra), so tests/test_export_onnx.py runs under CI: beside TensorFlow 2.21
        # they add tf2onnx, onnx and onnxruntime and change no installed version (protobuf, numpy, flatbuffers)
        # ruff: `ruff check .` with the repository's ruff.toml
        "test": ["pytest<9.2", "pytest-xdist", "ruff", "scikit-image", "scipy", "nbclient", "nbformat", "ipykernel",
                 "starlette>=0.37", "uvicorn>=0.29", "selenium>=4.10", "tf2onnx>=1.17", "onnxruntime>=1.31"],
        "serve": ["starlette>=0.37", "uvicorn>=0.29"],
        "demo": ["scikit-image"],
        # --mode export --format onnx and benchmarks/onnx_check.py: an export's tensors signature as
        # ONNX (tf2onnx), checked with onnxruntime
        "onnx": ["tf2onnx>=1.17", "onnxruntime>=1.31"],
    },
    entry_points={
        "console_scripts": [
            "pix2pix=pix2pix.commands.main:entry_point",
            "pix2pix-prep=data_prep.cli:run",
            "pix2pix-reproduce=pix2pix.commands.reproduce:main",
        ],
    },
)
