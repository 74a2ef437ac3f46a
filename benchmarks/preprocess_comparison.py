#!/usr/bin/env python
"""--preprocess crop against resize_and_crop for Lab colorization, scored on held-out non-square regions.

    .venv/bin/python benchmarks/preprocess_comparison.py --work_dir comparison_runs

End to end, with the CLI in subprocesses: scikit-image's sample photos (`python -m data_prep
--operation samples`, needs scikit-image) are resized to --short_side on their short side;
the top two thirds of each are the training photos, the bottom third (a wide strip, never
seen in training) the held-out photo. Two Lab colorization models are trained on the same
photos with the same seed, steps and network, one with `--preprocess crop` (random crops of
--crop_size at the photos' own resolution), one with `--preprocess resize_and_crop` (the
reference's: each photo squashed to --scale_size square, random crop). Both are then tested
on the held-out strips with `--preprocess none --deterministic`: each whole strip at its own
shape, so the figures compare the models, not the ways of resizing. The means of test mode's
metrics.json (PSNR, SSIM, ab MAE, CIEDE2000, colourfulness ratio) and the grey baseline are
printed as a Markdown table and written to --output_json; the held-out strips, both models'
colours and the truth are drawn side by side into --picture.
"""

import argparse
import json
import os
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

import cv2  # noqa: E402

from benchmarks.machine import cpu_name  # noqa: E402

MODES = ("crop", "resize_and_crop")
FIGURES = (("psnr", "PSNR (dB)", "{:.2f}"), ("ssim", "SSIM", "{:.4f}"), ("ab_mae", "ab MAE", "{:.2f}"),
           ("delta_e2000", "ΔE2000", "{:.2f}"), ("colourfulness_ratio", "colourfulness ratio", "{:.3f}"))


def run(*args, module="pix2pix"):
    """`python -m MODULE ARGS` with this checkout first on the path; stops on failure."""
    env = dict(os.environ, PYTHONPATH=REPO, TF_CPP_MIN_LOG_LEVEL="2")
    command = [sys.executable, "-m", module, *map(str, args)]
    print("$", " ".join(command[1:]), flush=True)
    result = subprocess.run(command, env=env, cwd=REPO, capture_output=True, text=True, timeout=6 * 3600)
    if result.returncode:
        sys.exit(f"failed ({result.returncode}):\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
    return result.stdout


def split_photos(samples_dir, train_dir, heldout_dir, short_side):
    """Each sample resized to SHORT_SIDE on its short side; top 2/3 -> TRAIN_DIR, bottom 1/3 -> HELDOUT_DIR."""
    os.makedirs(train_dir, exist_ok=True)
    os.makedirs(heldout_dir, exist_ok=True)
    sizes = {}
    for name in sorted(os.listdir(samples_dir)):
        image = cv2.imread(os.path.join(samples_dir, name), cv2.IMREAD_COLOR)
        height, width = image.shape[:2]
        scale = short_side / min(height, width)
        image = cv2.resize(image, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_AREA)
        cut = image.shape[0] * 2 // 3
        stem = os.path.splitext(name)[0]
        cv2.imwrite(os.path.join(train_dir, stem + ".png"), image[:cut])
        cv2.imwrite(os.path.join(heldout_dir, stem + ".png"), image[cut:])
        sizes[stem] = {"train": f"{image.shape[1]}x{cut}", "heldout": f"{image.shape[1]}x{image.shape[0] - cut}"}
    return sizes


def means(test_dir):
    """(the model's means, the grey baseline's or None) from test mode's metrics.json."""
    with open(os.path.join(test_dir, "metrics.json"), encoding="utf-8") as f:
        summary = json.load(f)
    grey = summary.get("baselines", {}).get("grey")
    figures = [{**part["means"], "colourfulness_ratio": part.get("colourfulness_ratio")}
               for part in (summary, grey) if part]
    return figures[0], (figures[1] if grey else None)


def table(results, baseline):
    lines = ["| model | " + " | ".join(title for _, title, _ in FIGURES) + " |",
             "|---|" + "---|" * len(FIGURES)]
    rows = [(f"`--preprocess {mode}`", results[mode]) for mode in MODES]
    if baseline:
        rows.append(("grey input (no colour)", baseline))
    for label, figures in rows:
        lines.append(f"| {label} | " + " | ".join(
            fmt.format(figures[key]) if figures.get(key) is not None else "" for key, _, fmt in FIGURES) + " |")
    return "\n".join(lines)


def picture(test_dirs, heldout_dir, path):
    from pix2pix.reporting.plots import plot_results

    rows = []
    for name in sorted(os.path.splitext(n)[0] for n in os.listdir(heldout_dir)):
        images = {mode: os.path.join(test_dirs[mode], "images") for mode in MODES}
        rows.append({"name": name, "inputs": os.path.join(images["crop"], f"{name}-inputs.png"),
                     **{mode: os.path.join(images[mode], f"{name}-outputs.png") for mode in MODES},
                     "targets": os.path.join(images["crop"], f"{name}-targets.png")})
    columns = {"inputs": "held-out input (L)", "crop": "--preprocess crop",
               "resize_and_crop": "--preprocess resize_and_crop", "targets": "truth"}
    plot_results(rows, path, columns=columns, title="Lab colorization of held-out strips at their own size")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work_dir", required=True, help="photos, runs and test outputs go here")
    parser.add_argument("--short_side", type=int, default=192)
    parser.add_argument("--crop_size", type=int, default=64)
    parser.add_argument("--scale_size", type=int, default=72, help="resize_and_crop's square")
    parser.add_argument("--ngf", type=int, default=16)
    parser.add_argument("--batch_size", type=int, default=4)
    parser.add_argument("--max_steps", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--picture", default=os.path.join(REPO, "docs", "preprocess_comparison.png"))
    parser.add_argument("--output_json", default=os.path.join(REPO, "docs", "preprocess_comparison.json"))
    args = parser.parse_args(argv)

    work = os.path.abspath(args.work_dir)
    samples, train_dir, heldout_dir = (os.path.join(work, d) for d in ("samples", "train", "heldout"))
    if not os.path.isdir(samples):
        run("--operation", "samples", "--output_dir", samples, module="data_prep")
    sizes = split_photos(samples, train_dir, heldout_dir, args.short_side)
    network = ["--lab_colorization", "--crop_size", args.crop_size, "--ngf", args.ngf, "--ndf", args.ngf]
    results, seconds, test_dirs, baseline = {}, {}, {}, None
    for mode in MODES:
        run_dir, test_dirs[mode] = os.path.join(work, f"run_{mode}"), os.path.join(work, f"test_{mode}")
        start = time.perf_counter()
        run("--mode", "train", "--input_dir", train_dir, "--output_dir", run_dir, "--preprocess", mode,
            "--scale_size", args.scale_size, "--batch_size", args.batch_size, "--max_steps", args.max_steps,
            "--seed", args.seed, "--summary_freq", 0, "--progress_freq", 250, "--save_freq", 0, *network)
        seconds[mode] = time.perf_counter() - start
        run("--mode", "test", "--input_dir", heldout_dir, "--output_dir", test_dirs[mode], "--checkpoint", run_dir,
            "--preprocess", "none", "--deterministic")
        results[mode], baseline = means(test_dirs[mode])

    print(f"\n{len(sizes)} photos; held-out strips (width x height): "
          + ", ".join(f"{name} {s['heldout']}" for name, s in sizes.items()))
    print(f"{args.max_steps} steps of batch {args.batch_size}, crop {args.crop_size}, ngf/ndf {args.ngf}, "
          f"seed {args.seed}; training took " + ", ".join(f"{m} {s / 60:.1f} min" for m, s in seconds.items())
          + f" on a {os.cpu_count()}-core {cpu_name()}\n")
    print(table(results, baseline))
    os.makedirs(os.path.dirname(os.path.abspath(args.output_json)), exist_ok=True)
    with open(args.output_json, "w", encoding="utf-8") as f:
        settings = {k: v for k, v in vars(args).items() if k not in ("work_dir", "picture", "output_json")}
        json.dump({"settings": settings, "photos": sizes, "train_seconds": seconds, "means": results,
                   "grey_baseline": baseline, "cpu": cpu_name()}, f, indent=2)
    picture(test_dirs, heldout_dir, args.picture)
    print(f"wrote {args.output_json} and {args.picture}")


if __name__ == "__main__":
    main()
