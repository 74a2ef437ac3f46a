#!/usr/bin/env python
"""Train the TF1 original and this project side by side, test both on held-out photos, and table the metrics.

    .venv/bin/python benchmarks/against_tf1.py --tf1_script /path/to/pix2pix.py \\
        --train_dir data/train --test_dir data/val --output_dir runs/against_tf1 \\
        --lab_colorization --max_steps 1500 --seeds 1,2,3

--tf1_script is the unmodified pix2pix.py of affinelayer/pix2pix-tensorflow; nothing of it is
part of this project. It is run in a subprocess under tf.compat.v1 (v2 behaviour disabled, so
its variables are TF1 reference variables) with two things put in place first:

- `tf.layers`: Keras 3 removed tf.compat.v1.layers.conv2d & co., so the script's `import
  tensorflow as tf` gets tf.compat.v1 with benchmarks/tf1_layers.py's stand-ins as `layers`
  (same variable names and maths; tests/test_tf1_layers.py checks them against our networks);
- Grappler's constant folding is turned off: on TF 2.x it rewrites the original's
  log(1 - p + EPS) into log((1 + EPS) - p), which loses the EPS in float32 and turns the
  loss to NaN as soon as D saturates (docs/reference.md#numerical-trap).

For every seed the rows are: "tf1" (the original), and this project through its CLI
(`python -m pix2pix`) with each --update_order asked for (default both). Every run trains on
--train_dir with the same mode, flags and --max_steps, runs test mode on --test_dir, and is
scored with `pix2pix --mode score` (PSNR, SSIM, ab-MAE, colourfulness ratio = outputs' mean
colourfulness / targets'; each row's own targets, which both write from the same photos).
Reported: each run's figures, and per row the mean and the sample standard deviation over seeds.
Finished runs are kept (OUTPUT_DIR/ROW/seed-N/score/metrics.json) and not run again, so an
interrupted comparison continues where it stopped; the table is written to
OUTPUT_DIR/results.md and results.json.
"""

import argparse
import json
import math
import os
import runpy
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)

ORDERS = ("simultaneous", "sequential")
METRICS = (("psnr", "PSNR", "{:.2f}"), ("ssim", "SSIM", "{:.3f}"), ("ab_mae", "ab-MAE", "{:.2f}"),
           ("colourfulness_ratio", "colourfulness ratio", "{:.3f}"))


# ----------------------------------------------------------- the original, in its own process
def run_tf1_script(script, argv):
    """Exec SCRIPT (the TF1 original) as __main__ with ARGV, under tf.compat.v1 with the stand-ins."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    sys.path.insert(0, HERE)
    import tf1_layers

    tf.compat.v1.disable_v2_behavior()
    tf.config.optimizer.set_experimental_options({"constant_folding": False})
    sys.modules["tensorflow"] = tf1_layers.tf1_module()
    sys.argv = [script] + list(argv)
    runpy.run_path(script, run_name="__main__")


# ----------------------------------------------------------------------------- one run
def _env():
    return dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1",
                PYTHONPATH=os.pathsep.join([REPO] + [p for p in [os.environ.get("PYTHONPATH")] if p]))


def _call(command, log_path):
    """Run COMMAND with its output in LOG_PATH; raise with the log's tail if it fails.

    Returns (wall seconds, [time of each `progress ` line]): both implementations print one
    every --progress_freq steps, so their spacing is the training loop's own pace, without
    start-up, graph building and the first (tracing) step.
    """
    start, stamps = time.perf_counter(), []
    with open(log_path, "a", encoding="utf-8") as log:
        log.write("$ " + " ".join(command) + "\n")
        log.flush()
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                   env=_env(), cwd=REPO, errors="replace")
        for line in process.stdout:
            if line.startswith("progress ") and "first estimate" not in line:  # --progress_freq lines only
                stamps.append(time.perf_counter())
            log.write(line)
        code = process.wait()
    if code != 0:
        with open(log_path, encoding="utf-8", errors="replace") as log:
            tail = "".join(log.readlines()[-25:])
        raise RuntimeError(f"exit {code}: {' '.join(command)}\n(see {log_path})\n{tail}")
    return time.perf_counter() - start, stamps


def _steady_seconds_per_step(stamps, progress_freq):
    """Seconds/step between the first and the last progress line (None with fewer than two)."""
    if len(stamps) < 2:
        return None
    return (stamps[-1] - stamps[0]) / (progress_freq * (len(stamps) - 1))


def _shared_flags(args):
    flags = ["--max_steps", str(args.max_steps), "--batch_size", str(args.batch_size),
             "--ngf", str(args.ngf), "--ndf", str(args.ndf), "--scale_size", str(args.scale_size),
             "--summary_freq", "0", "--progress_freq", str(args.progress_freq),
             "--save_freq", str(args.max_steps)]
    if args.lab_colorization:
        flags.append("--lab_colorization")
    if args.which_direction != "AtoB":
        flags += ["--which_direction", args.which_direction]
    return flags


def train_and_test(args, row, seed, directory):
    """Train and test ROW ("tf1" or an update order) with SEED in DIRECTORY; returns
    (training wall seconds, steady training seconds/step)."""
    train, test, log = (os.path.join(directory, name) for name in ("train", "test", "log.txt"))
    for stale in (train, test):  # an unfinished run starts again from nothing
        shutil.rmtree(stale, ignore_errors=True)
    os.makedirs(directory, exist_ok=True)
    common = ["--seed", str(seed)]
    if row == "tf1":
        runner = [sys.executable, os.path.abspath(__file__), "--_run_tf1", os.path.abspath(args.tf1_script), "--"]
        seconds, stamps = _call(runner + ["--mode", "train", "--input_dir", args.train_dir,
                                          "--output_dir", train, *_shared_flags(args), *common], log)
        _call(runner + ["--mode", "test", "--input_dir", args.test_dir, "--output_dir", test,
                        "--checkpoint", train, *common], log)
    else:
        ours = [sys.executable, "-m", "pix2pix"]
        seconds, stamps = _call(ours + ["--mode", "train", "--input_dir", args.train_dir, "--output_dir", train,
                                        "--crop_size", "256", "--update_order", row, *_shared_flags(args),
                                        *common], log)
        _call(ours + ["--mode", "test", "--input_dir", args.test_dir, "--output_dir", test,
                      "--checkpoint", train, *common], log)
    return seconds, _steady_seconds_per_step(stamps, args.progress_freq)


def score(directory):
    """`pix2pix --mode score` of DIRECTORY/test/images; returns its metrics.json summary."""
    images = os.path.join(directory, "test", "images")
    out = os.path.join(directory, "score")
    shutil.rmtree(out, ignore_errors=True)
    _call([sys.executable, "-m", "pix2pix", "--mode", "score", "--input_dir", images, "--target_dir", images,
           "--output_dir", out, "--pred_suffix", "-outputs", "--target_suffix", "-targets"],
          os.path.join(directory, "log.txt"))
    with open(os.path.join(out, "metrics.json"), encoding="utf-8") as f:
        return json.load(f)


def _figures(summary):
    """{metric: value} from a metrics.json summary (its means over the scored pairs)."""
    values = {**summary.get("means", {}), "colourfulness_ratio": summary.get("colourfulness_ratio")}
    return {key: float(values[key]) for key, _, _ in METRICS if values.get(key) is not None}


# ----------------------------------------------------------------------------- the table
def _mean_spread(values):
    if not values:
        return None, None
    spread = statistics.stdev(values) if len(values) > 1 else float("nan")
    return statistics.fmean(values), spread


def table(results, rows):
    """Markdown: one line per row with mean ± sample std over seeds, then every run's figures."""
    lines = ["| row | seeds | " + " | ".join(label for _, label, _ in METRICS) + " | train s/step |",
             "|---|---|" + "---|" * (len(METRICS) + 1)]
    for row in rows:
        runs = sorted((r for r in results if r["row"] == row), key=lambda r: r["seed"])
        cells = []
        for key, _, fmt in METRICS:
            mean, spread = _mean_spread([r["figures"][key] for r in runs if key in r["figures"]])
            cells.append("-" if mean is None else
                         fmt.format(mean) + ("" if math.isnan(spread) else " ± " + fmt.format(spread)))
        mean, _ = _mean_spread([r["seconds_per_step"] for r in runs if r.get("seconds_per_step")])
        cells.append("-" if mean is None else f"{mean:.3f}")
        label = LABELS.get(row, row)
        lines.append(f"| {label} | {','.join(str(r['seed']) for r in runs)} | " + " | ".join(cells) + " |")
    # The port's orders with the same seed start from the same weights and see the same crops
    # in the same order: their difference per seed is paired (the original's draws are its own).
    if "simultaneous" in rows and "sequential" in rows:
        base = {r["seed"]: r["figures"] for r in results if r["row"] == "simultaneous"}
        pairs = [(base[r["seed"]], r["figures"]) for r in results
                 if r["row"] == "sequential" and r["seed"] in base]
        if pairs:
            cells = []
            for key, _, fmt in METRICS:
                mean, spread = _mean_spread([b[key] - a[key] for a, b in pairs if key in a and key in b])
                cells.append("-" if mean is None else
                             fmt.format(mean) + ("" if math.isnan(spread) else " ± " + fmt.format(spread)))
            lines.append(f"| sequential − simultaneous, same seed (paired) | {len(pairs)} pairs | "
                         + " | ".join(cells) + " | |")
    lines += ["", "| row | seed | " + " | ".join(label for _, label, _ in METRICS) + " |",
              "|---|---|" + "---|" * len(METRICS)]
    for r in sorted(results, key=lambda r: (rows.index(r["row"]), r["seed"])):
        lines.append(f"| {LABELS.get(r['row'], r['row'])} | {r['seed']} | "
                     + " | ".join(fmt.format(r["figures"][key]) if key in r["figures"] else "-"
                                  for key, _, fmt in METRICS) + " |")
    return "\n".join(lines) + "\n"


LABELS = {"tf1": "TF1 original", "simultaneous": "port, --update_order simultaneous",
          "sequential": "port, --update_order sequential"}


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--_run_tf1"]:  # internal: python against_tf1.py --_run_tf1 SCRIPT -- ARGS
        if len(argv) < 3 or argv[2] != "--":
            sys.exit("usage: against_tf1.py --_run_tf1 SCRIPT -- ARGS")
        run_tf1_script(argv[1], argv[3:])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tf1_script", required=True, help="the original's pix2pix.py (unmodified)")
    parser.add_argument("--train_dir", required=True)
    parser.add_argument("--test_dir", required=True, help="held-out images, tested by both")
    parser.add_argument("--output_dir", required=True)
    parser.add_argument("--max_steps", type=int, required=True)
    parser.add_argument("--seeds", default="1,2,3", help="comma-separated (default 1,2,3)")
    parser.add_argument("--rows", default="tf1," + ",".join(ORDERS),
                        help="which of tf1, simultaneous, sequential to run (default all)")
    parser.add_argument("--lab_colorization", action="store_true")
    parser.add_argument("--which_direction", default="AtoB", choices=["AtoB", "BtoA"])
    parser.add_argument("--batch_size", type=int, default=1)
    parser.add_argument("--ngf", type=int, default=64)
    parser.add_argument("--ndf", type=int, default=64)
    parser.add_argument("--scale_size", type=int, default=286, help="the original crops 256 from this")
    parser.add_argument("--progress_freq", type=int, default=100)
    args = parser.parse_args(argv)
    if args.max_steps % args.progress_freq:
        parser.error(f"--max_steps must be a multiple of --progress_freq ({args.progress_freq}), "
                     "so both print their last progress line at the same step")
    if not os.path.isfile(args.tf1_script) and "tf1" in args.rows.split(","):
        parser.error(f"--tf1_script: {args.tf1_script} is not a file")
    for flag in ("train_dir", "test_dir"):
        if not os.path.isdir(getattr(args, flag)):
            parser.error(f"--{flag}: {getattr(args, flag)} is not a directory")
    rows = [r.strip() for r in args.rows.split(",") if r.strip()]
    unknown = [r for r in rows if r not in ("tf1",) + ORDERS]
    if unknown:
        parser.error(f"--rows: unknown {', '.join(unknown)} (tf1, simultaneous, sequential)")
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    args.train_dir, args.test_dir = os.path.abspath(args.train_dir), os.path.abspath(args.test_dir)
    os.makedirs(args.output_dir, exist_ok=True)

    sys.path.insert(0, REPO)
    from pix2pix.io.files import atomic_write_text

    results = []
    # Seed-major, rows interleaved: an interrupted comparison has every row at the same seeds.
    for seed in seeds:
        for row in rows:
            directory = os.path.join(args.output_dir, row, f"seed-{seed}")
            done = os.path.join(directory, "run.json")
            if os.path.isfile(done):
                with open(done, encoding="utf-8") as f:
                    record = json.load(f)
                if record.get("max_steps") == args.max_steps:
                    results.append(record)
                    print(f"{row} seed {seed}: done before, kept", flush=True)
                    continue
            print(f"{row} seed {seed}: training {args.max_steps} steps ...", flush=True)
            seconds, per_step = train_and_test(args, row, seed, directory)
            record = {"row": row, "seed": seed, "max_steps": args.max_steps, "train_seconds": seconds,
                      "seconds_per_step": per_step, "figures": _figures(score(directory))}
            atomic_write_text(done, json.dumps(record, indent=2) + "\n")
            results.append(record)
            print(f"{row} seed {seed}: " + ", ".join(f"{k} {v:.4g}" for k, v in record["figures"].items())
                  + (f" ({per_step:.3f} s/step)" if per_step else ""), flush=True)
    text = (f"train {args.train_dir}, test {args.test_dir}, {args.max_steps} steps, batch {args.batch_size}, "
            f"ngf {args.ngf}, ndf {args.ndf}, scale_size {args.scale_size}"
            f"{', Lab colorization' if args.lab_colorization else ''}; mean ± sample std over seeds\n\n"
            + table(results, rows))
    atomic_write_text(os.path.join(args.output_dir, "results.md"), text)
    atomic_write_text(os.path.join(args.output_dir, "results.json"), json.dumps(results, indent=2) + "\n")
    print()
    print(text)


if __name__ == "__main__":
    main()
