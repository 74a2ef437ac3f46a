#!/usr/bin/env python
"""Images/s of the training input pipeline on 12-megapixel photos: --preprocess crop against resize_and_crop.

    .venv/bin/python benchmarks/large_photos.py                    # 8 generated 4000x3000 JPEGs, Lab
    .venv/bin/python benchmarks/large_photos.py --task pairs       # A|B pairs (8000x3000 files)
    .venv/bin/python benchmarks/large_photos.py --input_dir DIR    # your own photos

Both pipelines are `pix2pix.paired_dataset(options, training=True, seed=1)` on the same files,
timed side by side in interleaved rounds (a fresh iterator each, --warmup_batches untimed,
then --batches timed): `resize_and_crop` (the reference's: decode, split or Lab-convert the
whole photo, area resize to scale_size, random crop) and `crop` (decode, random crop of
crop_size at the photo's own resolution, then split or Lab-convert the crop alone). A third
row times decoding alone (tf.io.decode_jpeg through the same tf.data map), the floor both
pay once per example and epoch. Medians over rounds.
"""

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
for _path in (REPO, HERE):
    if _path not in sys.path:
        sys.path.insert(0, _path)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from input_pipeline import _photo, _write_jpeg, time_pipeline  # noqa: E402

MODES = ("resize_and_crop", "crop")


def write_large_photos(directory, count, height, width, paired, seed=0):
    """COUNT photo-like JPEGs of HEIGHT x WIDTH (A|B: two of them side by side), 1.jpg..."""
    os.makedirs(directory, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(1, count + 1):
        photo = _photo(rng, height, width)
        if paired:
            photo = np.concatenate([255 - photo, photo], axis=1)
        _write_jpeg(os.path.join(directory, f"{i}.jpg"), photo)
    return directory


def decode_only(paths):
    """The decoding floor: the files read and decoded through tf.data, nothing else."""
    import tensorflow as tf

    from pix2pix.data.imaging import decode_rgb

    dataset = tf.data.Dataset.from_tensor_slices(paths).repeat()
    dataset = dataset.map(lambda p: {"inputs": decode_rgb(tf.io.read_file(p))[tf.newaxis, :1, :1]},
                          num_parallel_calls=tf.data.AUTOTUNE)
    return dataset.prefetch(tf.data.AUTOTUNE)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input_dir", help="use these photos instead of generating some")
    parser.add_argument("--images", type=int, default=8, help="generated photos (default 8)")
    parser.add_argument("--width", type=int, default=4000)
    parser.add_argument("--height", type=int, default=3000)
    parser.add_argument("--task", default="lab", choices=["lab", "rgb", "pairs"])
    parser.add_argument("--size", type=int, default=256, help="crop_size (default 256)")
    parser.add_argument("--scale_size", type=int, default=286, help="resize_and_crop's square (default 286)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batches", type=int, default=16, help="timed images per round and pipeline")
    parser.add_argument("--warmup_batches", type=int, default=2)
    args = parser.parse_args(argv)

    import pix2pix
    from pix2pix.io.listing import list_image_files
    from train_step import machine_line

    work = None
    input_dir = args.input_dir
    if not input_dir:
        work = tempfile.mkdtemp(prefix="pix2pix_bench_large_")
        input_dir = os.path.join(work, "photos")
        start = time.perf_counter()
        write_large_photos(input_dir, args.images, args.height, args.width, args.task == "pairs", seed=1)
        print(f"generated {args.images} {args.width}x{args.height} JPEGs in "
              f"{time.perf_counter() - start:.1f} s", flush=True)
    try:
        datasets = {}
        for mode in MODES:
            options = pix2pix.Options(mode="train", input_dir=input_dir, output_dir="unused", task=args.task,
                                      crop_size=args.size, scale_size=args.scale_size, preprocess=mode,
                                      skip_preflight=True).validate()
            datasets[mode] = pix2pix.paired_dataset(options, training=True, seed=1).dataset
        datasets["decoding alone"] = decode_only(list_image_files(input_dir))
        print(f"machine: {machine_line()}", flush=True)
        rates = {name: [] for name in datasets}
        for r in range(args.rounds):
            for name, dataset in datasets.items():
                rates[name].append(time_pipeline(dataset, args.warmup_batches, args.batches, 1))
            print(f"  round {r + 1}/{args.rounds}: " + ", ".join(
                f"{name} {values[-1]:.2f} images/s" for name, values in rates.items()), flush=True)
    finally:
        if work:
            shutil.rmtree(work, ignore_errors=True)

    source = args.input_dir or f"{args.images} generated {args.width}x{args.height} JPEGs"
    print()
    print(f"machine: {machine_line()}")
    print(f"large photos, task {args.task}: {source}, crop {args.size} (resize_and_crop from "
          f"{args.scale_size}); medians of {args.rounds} interleaved rounds of {args.batches} images")
    header = f"{'pipeline':<34} {'images/s':>10} {'x resize_and_crop':>18}"
    print(header)
    print("-" * len(header))
    reference = statistics.median(rates["resize_and_crop"])
    for name, values in rates.items():
        rate = statistics.median(values)
        label = f"--preprocess {name}" if name in MODES else name
        print(f"{label:<34} {rate:10.2f} {rate / reference:17.2f}x")


if __name__ == "__main__":
    main()
