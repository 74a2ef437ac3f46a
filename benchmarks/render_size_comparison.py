"""Square vs native aspect ratio (--render_size) on held-out photos: the README's table.

    python benchmarks/render_size_comparison.py --checkpoint TRAIN_DIR --photos HELD_OUT_DIR \
        --render_sizes 64,128 --output_dir OUT

Runs `--mode infer --deterministic` on HELD_OUT_DIR once at the model's square crop_size and
once per --render_sizes value, and scores every result against its original photo with
pix2pix.reporting.metrics (PSNR, SSIM, ab MAE, colourfulness of output and original). Prints a Markdown
table (per photo and the means) and writes OUT/render_size_comparison.json.
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from benchmarks.machine import cpu_name  # noqa: E402
from pix2pix import metrics  # noqa: E402


def read_rgb(path):
    return cv2.imread(path, cv2.IMREAD_COLOR)[:, :, ::-1]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--photos", required=True)
    parser.add_argument("--render_sizes", default="64,128")
    parser.add_argument("--output_dir", required=True)
    args = parser.parse_args()

    from pix2pix.modes.infer import infer_mode
    from pix2pix.options.record import Options

    settings = [("square", 0)] + [(f"render_size {n}", int(n)) for n in args.render_sizes.split(",")]
    results = {}
    for label, render_size in settings:
        out = os.path.join(args.output_dir, label.replace(" ", "_"))
        rows = infer_mode(Options(mode="infer", checkpoint=args.checkpoint, input_dir=args.photos,
                                  output_dir=out, deterministic=True, render_size=render_size))
        results[label] = {}
        for row in rows:
            target, output = read_rgb(row.input_path), read_rgb(row.output_path)
            results[label][row.name] = {
                "size": f"{target.shape[1]}x{target.shape[0]}",
                "psnr": metrics.psnr(output, target), "ssim": metrics.ssim(output, target),
                "ab_mae": metrics.ab_mae(output, target),
                "colourfulness": metrics.colourfulness(output),
                "colourfulness_photo": metrics.colourfulness(target)}
    os.makedirs(args.output_dir, exist_ok=True)
    with open(os.path.join(args.output_dir, "render_size_comparison.json"), "w") as f:
        json.dump({"cpu": cpu_name(), "results": results}, f, indent=2)

    print("| photo (size) | rendering | PSNR (dB) | SSIM | ab MAE | colourfulness (photo's) |")
    print("|---|---|---|---|---|---|")
    names = sorted(next(iter(results.values())))
    for name in names + ["mean"]:
        for label, _ in settings:
            if name == "mean":
                rows = list(results[label].values())
                r = {k: float(np.mean([row[k] for row in rows])) for k in rows[0] if k != "size"}
                title = "**mean**"
            else:
                r, title = results[label][name], f"{name} ({results[label][name]['size']})"
            print(f"| {title} | {label} | {r['psnr']:.2f} | {r['ssim']:.4f} | {r['ab_mae']:.2f} | "
                  f"{r['colourfulness']:.1f} ({r['colourfulness_photo']:.1f}) |")


if __name__ == "__main__":
    main()
