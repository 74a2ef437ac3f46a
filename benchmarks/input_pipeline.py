#!/usr/bin/env python
"""Images/s of the training input pipeline alone, against the train step's images/s.

    .venv/bin/python benchmarks/input_pipeline.py                  # 200 generated 256x512 A|B JPEGs
    .venv/bin/python benchmarks/input_pipeline.py --lab_colorization   # single 256x256 photos, Lab
    .venv/bin/python benchmarks/input_pipeline.py --input_dir facades/train   # your own images

The pipeline is `pix2pix.paired_dataset(options, training=True, seed=1)` with the defaults
(decode, split or Lab-convert, random flip, area resize to scale_size 286, random crop 256,
batch, prefetch). Interleaved rounds: a fresh iterator of the pipeline, --warmup_batches
untimed, then --batches timed; then --steps_per_round steps of `Pix2Pix.train_step` on one
batch held in memory (batch size --batch_size); then as many steps each fed its batch by a
running pipeline iterator, as in training (this shows whether the pipeline, sharing the cores,
slows the step). Medians over rounds. The pipeline should
deliver images at least 10x faster than the step consumes them, so that it never stalls
training (it runs on the same 2 cores, concurrently with the step, in a real run).
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

TARGET_RATIO = 10.0


# ------------------------------------------------------- synthetic images
def _photo(rng, height, width):
    """A photo-like uint8 RGB image: smooth random colour field, a few edges, mild noise."""
    import cv2

    coarse = rng.random((6, 6, 3)).astype(np.float32)
    image = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)
    for _ in range(4):  # some sharp-edged rectangles (windows, doors...)
        y0, x0 = rng.integers(0, height), rng.integers(0, width)
        y1, x1 = y0 + rng.integers(8, height // 3 + 9), x0 + rng.integers(8, width // 3 + 9)
        image[y0:y1, x0:x1] = rng.random(3)
    image += rng.normal(0, 0.03, image.shape).astype(np.float32)
    return (np.clip(image, 0, 1) * 255).astype(np.uint8)


def _write_jpeg(path, rgb):
    import cv2

    if not cv2.imwrite(path, np.ascontiguousarray(rgb[:, :, ::-1]), [cv2.IMWRITE_JPEG_QUALITY, 90]):
        raise OSError(f"cannot write {path}")


def write_pair_images(directory, count, size=256, seed=0):
    """COUNT A|B pair JPEGs (size x 2*size: A = a posterised, blurred copy of B on the left), 1.jpg..."""
    import cv2

    os.makedirs(directory, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(1, count + 1):
        b = _photo(rng, size, size)
        a = cv2.GaussianBlur((b // 64) * 64 + 32, (5, 5), 0)
        _write_jpeg(os.path.join(directory, f"{i}.jpg"), np.concatenate([a, b], axis=1))
    return directory


def write_photos(directory, count, size=256, seed=0):
    """COUNT single colour photo JPEGs (size x size), 1.jpg... (for Lab colorization)."""
    os.makedirs(directory, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(1, count + 1):
        _write_jpeg(os.path.join(directory, f"{i}.jpg"), _photo(rng, size, size))
    return directory


# ------------------------------------------------------------- benchmark
def time_pipeline(dataset, warmup, batches, batch_size):
    """Images/s over BATCHES batches of a fresh iterator, after WARMUP untimed batches."""
    iterator = iter(dataset)
    for _ in range(warmup):
        next(iterator)
    start = time.perf_counter()
    for _ in range(batches):
        batch = next(iterator)
    float(batch["inputs"][0, 0, 0, 0].numpy())
    rate = batches * batch_size / (time.perf_counter() - start)
    del iterator
    return rate


def time_fed_steps(model, iterator, steps):
    """Mean seconds/step of train steps that each take their batch from the pipeline ITERATOR."""
    from train_step import sync

    start = time.perf_counter()
    for _ in range(steps):
        batch = next(iterator)
        losses = model.train_step(batch["inputs"], batch["targets"])
    sync(losses)
    return (time.perf_counter() - start) / steps


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input_dir", help="use these images instead of generating some")
    parser.add_argument("--images", type=int, default=200, help="generated images (default 200)")
    parser.add_argument("--image_size", type=int, default=256,
                        help="height of the generated images (A|B pairs are twice as wide)")
    parser.add_argument("--lab_colorization", action="store_true",
                        help="single colour photos, L in / ab out (generates single photos)")
    parser.add_argument("--size", type=int, default=256, help="crop_size (default 256)")
    parser.add_argument("--scale_size", type=int, default=None, help="default 286 (at --size 256)")
    parser.add_argument("--batch_size", type=int, default=1)
    parser.add_argument("--no_flip", action="store_true")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batches", type=int, default=200, help="timed pipeline batches per round")
    parser.add_argument("--warmup_batches", type=int, default=10)
    parser.add_argument("--steps_per_round", type=int, default=3, help="timed train steps per round")
    parser.add_argument("--ngf", type=int, default=64)
    parser.add_argument("--ndf", type=int, default=None, help="default: --ngf")
    args = parser.parse_args(argv)
    ndf = args.ndf or args.ngf
    scale = args.scale_size or max(args.size, round(args.size * 286 / 256))

    import tensorflow as tf

    import pix2pix
    from train_step import machine_line, sync, time_steps

    work = None
    input_dir = args.input_dir
    if not input_dir:
        work = tempfile.mkdtemp(prefix="pix2pix_bench_pipeline_")
        input_dir = os.path.join(work, "images")
        start = time.perf_counter()
        if args.lab_colorization:
            write_photos(input_dir, args.images, args.image_size, seed=1)
        else:
            write_pair_images(input_dir, args.images, args.image_size, seed=1)
        print(f"generated {args.images} {'photos' if args.lab_colorization else 'A|B pairs'} "
              f"in {time.perf_counter() - start:.1f} s", flush=True)
    try:
        options = pix2pix.Options(mode="train", input_dir=input_dir, output_dir=work or "unused",
                                  lab_colorization=args.lab_colorization, crop_size=args.size,
                                  scale_size=scale, batch_size=args.batch_size, flip=not args.no_flip,
                                  ngf=args.ngf, ndf=ndf).validate()
        examples = pix2pix.paired_dataset(options, training=True, seed=1)
        print(f"machine: {machine_line()}", flush=True)

        tf.keras.utils.set_random_seed(1)
        model = pix2pix.Pix2Pix(options)
        batch = next(iter(examples.dataset))
        inputs, targets = batch["inputs"], batch["targets"]
        start = time.perf_counter()
        sync(model.train_step(inputs, targets))
        trace = time.perf_counter() - start
        sync(model.train_step(inputs, targets))
        time_pipeline(examples.dataset, args.warmup_batches, args.warmup_batches, args.batch_size)

        fed_iterator = iter(examples.dataset)  # steps fed by the pipeline, as in training
        first = next(fed_iterator)
        sync(model.train_step(first["inputs"], first["targets"]))
        pipeline_rates, step_rates, fed_rates = [], [], []
        for r in range(args.rounds):
            pipeline_rates.append(time_pipeline(examples.dataset, args.warmup_batches, args.batches,
                                                args.batch_size))
            step_rates.append(args.batch_size / time_steps(model.train_step, inputs, targets,
                                                           args.steps_per_round))
            fed_rates.append(args.batch_size / time_fed_steps(model, fed_iterator, args.steps_per_round))
            print(f"  round {r + 1}/{args.rounds}: pipeline {pipeline_rates[-1]:.1f} images/s, "
                  f"step fed by the pipeline {fed_rates[-1]:.2f} images/s, "
                  f"train step {step_rates[-1]:.2f} images/s", flush=True)
    finally:
        if work:
            shutil.rmtree(work, ignore_errors=True)

    pipe, step = statistics.median(pipeline_rates), statistics.median(step_rates)
    kind = "Lab colorization (single photos)" if args.lab_colorization else "A|B pairs"
    source = args.input_dir or (f"{args.images} generated {args.image_size}x"
                                f"{args.image_size * (1 if args.lab_colorization else 2)} JPEGs")
    ratio = pipe / step
    print()
    print(f"machine: {machine_line()}")
    print(f"input pipeline vs train step: {kind}, {source}, scale_size {scale} -> crop {args.size}, "
          f"batch {args.batch_size}, ngf {args.ngf} / ndf {ndf}; medians of {args.rounds} interleaved "
          f"rounds ({args.batches} batches / {args.steps_per_round} steps); step traced in {trace:.1f} s")
    header = f"{'what':<34} {'images/s':>10}"
    print(header)
    print("-" * len(header))
    print(f"{'input pipeline alone':<34} {pipe:10.1f}")
    print(f"{'train step (Pix2Pix.train_step)':<34} {step:10.2f}")
    fed = statistics.median(fed_rates)
    fed_ratio = statistics.median(f / s for f, s in zip(fed_rates, step_rates))
    print(f"{'train step fed by the pipeline':<34} {fed:10.2f}   "
          f"({fed_ratio:.2f}x the in-memory step, median of per-round ratios)")
    print(f"{'pipeline / step':<34} {ratio:9.1f}x   "
          f"({'meets' if ratio >= TARGET_RATIO else 'BELOW'} the >= {TARGET_RATIO:.0f}x target)")


if __name__ == "__main__":
    main()
