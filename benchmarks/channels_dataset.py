"""Synthetic datasets beyond 8-bit RGB, as paired folders A/ and B/ (docs/channels.md).

    python benchmarks/channels_dataset.py --kind depth --output_dir /tmp/depth --count 20

Kinds (A -> B, the files of the same name in A/ and B/):
    grey16     1-channel 16-bit PNG -> 1-channel 16-bit PNG (the inverted picture: an X-ray negative)
    depth      RGB 8-bit PNG -> 1-channel 16-bit PNG depth map (a slanted plane with raised blobs;
               the picture is shaded by the depth, so the depth can be learnt from it)
    rgbd       4-channel 16-bit TIFF (RGB + depth) -> RGB 8-bit PNG (the scene lit from the depth)
    bands      8-band float32 .npy reflectances in [0, 1] -> 1-channel 16-bit PNG index (a
               normalised difference of two bands, as a vegetation index)

Every picture is smooth and different for every seed, so a tiny model has something to learn.
Used by tests/test_channels.py; no TensorFlow.
"""

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from pix2pix.io.arrays import write_array  # noqa: E402

KINDS = ("grey16", "depth", "rgbd", "bands")


def _surface(rng, height, width):
    """A smooth field in [0, 1]: a slanted plane plus three Gaussian blobs."""
    y, x = np.mgrid[0:height, 0:width] / max(height, width)
    slope = rng.uniform(-0.3, 0.3, size=2)
    field = 0.4 + slope[0] * x + slope[1] * y
    for _ in range(3):
        cy, cx = rng.uniform(0, 1, size=2)
        radius = rng.uniform(0.1, 0.3)
        field = field + rng.uniform(0.2, 0.5) * np.exp(-((y - cy) ** 2 + (x - cx) ** 2) / (2 * radius ** 2))
    return np.clip(field / field.max(), 0.0, 1.0)


def _shade(depth):
    """The picture of DEPTH [H, W] in [0, 1] lit from the top left: [H, W] in [0, 1]."""
    dy, dx = np.gradient(depth)
    return np.clip(0.6 + 4.0 * (dx + dy) + 0.3 * depth, 0.0, 1.0)


def _to_uint(values, dtype):
    return np.rint(np.clip(values, 0.0, 1.0) * np.iinfo(dtype).max).astype(dtype)


def make_pair(kind, rng, height, width):
    """(A array, B array, A extension, B extension) of one example of KIND."""
    depth = _surface(rng, height, width)
    if kind == "grey16":
        a = _to_uint(depth, np.uint16)[..., None]
        return a, (65535 - a).astype(np.uint16), ".png", ".png"
    tint = rng.uniform(0.5, 1.0, size=3)
    rgb = _shade(depth)[..., None] * tint
    if kind == "depth":
        return _to_uint(rgb, np.uint8), _to_uint(depth, np.uint16)[..., None], ".png", ".png"
    if kind == "rgbd":
        rgbd = np.concatenate([rgb, depth[..., None]], axis=-1)
        lit = rgb * (0.5 + 0.5 * depth[..., None])
        return _to_uint(rgbd, np.uint16), _to_uint(lit, np.uint8), ".tif", ".png"
    if kind == "bands":
        weights = rng.uniform(0.2, 1.0, size=8)
        bands = np.stack([np.clip(depth * w + (1 - w) * _shade(depth), 0, 1) for w in weights], axis=-1)
        index = (bands[..., 7] - bands[..., 3]) / (bands[..., 7] + bands[..., 3] + 1e-6) * 0.5 + 0.5
        return bands.astype(np.float32), _to_uint(index, np.uint16)[..., None], ".npy", ".png"
    raise ValueError(f"unknown kind {kind!r} (one of {', '.join(KINDS)})")


def write_dataset(directory, kind, count=4, size=40, seed=0):
    """COUNT pairs of KIND (SIZE x SIZE) in DIRECTORY/A and DIRECTORY/B, named 1, 2, ...; DIRECTORY."""
    rng = np.random.default_rng(seed)
    for side in ("A", "B"):
        os.makedirs(os.path.join(directory, side), exist_ok=True)
    for number in range(1, count + 1):
        a, b, a_extension, b_extension = make_pair(kind, rng, size, size)
        write_array(os.path.join(directory, "A", f"{number}{a_extension}"), a)
        write_array(os.path.join(directory, "B", f"{number}{b_extension}"), b)
    return directory


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kind", choices=KINDS, required=True)
    parser.add_argument("--output_dir", required=True)
    parser.add_argument("--count", type=int, default=20)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    write_dataset(args.output_dir, args.kind, args.count, args.size, args.seed)
    print(f"wrote {args.count} {args.kind} pairs in {args.output_dir}/A and {args.output_dir}/B")


if __name__ == "__main__":
    main()
