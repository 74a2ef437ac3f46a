"""Throughput of ``data_prep`` colorize with 1 vs N worker processes.

Generates --count synthetic 1-2 megapixel JPEG "photos" (smooth gradients,
shapes and sensor-like noise) in a temporary folder, then runs the colorize
operation (through the Python API, same code path as the CLI) with each
worker count, interleaved and repeated, and prints the median images/s and
the speed-up over one worker.

    .venv/bin/python benchmarks/data_prep_colorize.py --count 200 --repeats 3
"""

import argparse
import datetime
import os
import platform
import resource
import shutil
import statistics
import sys
import tempfile
import time

import cv2
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import data_prep  # noqa: E402
from machine import cpu_name  # noqa: E402  (benchmarks/, this script's folder)

# (width, height) of the generated photos: common camera aspect ratios, 1.0-2.0 MP.
PHOTO_SIZES = ((1152, 864), (1280, 960), (1440, 960), (1600, 900), (1632, 1224), (1200, 1200))


def synthetic_photo(rng, width, height):
    """A photo-like RGB image: low-frequency colour field, a few shapes, noise."""
    coarse = rng.integers(0, 256, size=(6, 8, 3), dtype=np.uint8)
    image = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)
    for _ in range(int(rng.integers(3, 8))):
        colour = tuple(int(c) for c in rng.integers(0, 256, size=3))
        centre = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        if rng.random() < 0.5:
            cv2.circle(image, centre, int(rng.integers(20, height // 3)), colour, -1, cv2.LINE_AA)
        else:
            corner = (int(rng.integers(0, width)), int(rng.integers(0, height)))
            cv2.rectangle(image, centre, corner, colour, -1)
    noise = rng.normal(0.0, 6.0, size=(height, width, 1)).astype(np.float32)
    return np.clip(image.astype(np.float32) + noise, 0, 255).astype(np.uint8)


def generate_photos(folder, count, seed=0):
    """Write ``count`` JPEG photos into ``folder``; returns total megapixels."""
    rng = np.random.default_rng(seed)
    megapixels = 0.0
    for index in range(count):
        width, height = PHOTO_SIZES[index % len(PHOTO_SIZES)]
        image = synthetic_photo(rng, width, height)
        cv2.imwrite(os.path.join(folder, "photo_%04d.jpg" % index), image, [cv2.IMWRITE_JPEG_QUALITY, 90])
        megapixels += width * height / 1e6
    return megapixels


def cpu_seconds():
    """User + system CPU time of this process and its finished children."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        total += usage.ru_utime + usage.ru_stime
    return total


def time_run(input_dir, scratch, workers, size):
    """(wall seconds, CPU seconds) for one colorize run into a fresh output folder."""
    output_dir = tempfile.mkdtemp(dir=scratch)
    reporter = data_prep.report.Reporter(show_progress=False)
    cpu_started, started = cpu_seconds(), time.perf_counter()
    summary = data_prep.process_directory("colorize", input_dir, output_dir, data_prep.Options(size=size),
                                          workers=workers, reporter=reporter)
    seconds, cpu = time.perf_counter() - started, cpu_seconds() - cpu_started
    shutil.rmtree(output_dir)
    if summary.failed or summary.written == 0:
        raise SystemExit("benchmark run failed: " + summary.line())
    return seconds, cpu


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=200, help="number of synthetic photos")
    parser.add_argument("--repeats", type=int, default=3, help="runs per worker count (median reported)")
    parser.add_argument("--workers", default="1,2", help="comma-separated worker counts to compare")
    parser.add_argument("--size", type=int, default=256, help="colorize --size")
    args = parser.parse_args()
    worker_counts = [int(value) for value in args.workers.split(",")]

    print("machine: %s, %d CPUs; Python %s, OpenCV %s, numpy %s; %s" % (
        cpu_name(), os.cpu_count(), platform.python_version(), cv2.__version__, np.__version__,
        datetime.date.today().isoformat()))
    print("load average before (1, 5, 15 min): %.2f %.2f %.2f" % os.getloadavg())
    with tempfile.TemporaryDirectory(prefix="data_prep_bench_") as scratch:
        photos = os.path.join(scratch, "photos")
        os.mkdir(photos)
        started = time.perf_counter()
        megapixels = generate_photos(photos, args.count)
        print("generated %d photos, %.0f MP in total (%.1f MP each on average), in %.1f s"
              % (args.count, megapixels, megapixels / args.count, time.perf_counter() - started))

        timings = {workers: [] for workers in worker_counts}
        cpu_times = {workers: [] for workers in worker_counts}
        for repeat in range(args.repeats):
            # alternate the order so that neither setting always runs with a warmer page cache
            order = worker_counts if repeat % 2 == 0 else list(reversed(worker_counts))
            for workers in order:
                seconds, cpu = time_run(photos, scratch, workers, args.size)
                timings[workers].append(seconds)
                cpu_times[workers].append(cpu)
                print("  repeat %d, %d worker(s): %.2f s wall, %.2f s CPU" % (repeat + 1, workers, seconds, cpu),
                      flush=True)

    baseline = statistics.median(timings[worker_counts[0]])
    print("load average after the runs (1, 5, 15 min): %.2f %.2f %.2f "
          "(other work on the machine skews the numbers)" % os.getloadavg())
    print()
    print("| workers | median wall time (s) | images/s | speed-up | CPU ms per image |")
    print("|--------:|---------------------:|---------:|---------:|-----------------:|")
    for workers in worker_counts:
        median = statistics.median(timings[workers])
        cpu_per_image = 1000 * statistics.median(cpu_times[workers]) / args.count
        print("| %7d | %20.2f | %8.1f | %7.2fx | %16.1f |" % (
            workers, median, args.count / median, baseline / median, cpu_per_image))


if __name__ == "__main__":
    main()
