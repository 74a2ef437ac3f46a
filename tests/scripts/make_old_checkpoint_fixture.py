"""Write tests/fixtures/checkpoint_old_layout: a training checkpoint in the layout used before
the weights were named by layer (they were named after the optimiser that updates them,
`generator_optimizer/_trainable_variables/N/...`). tests/test_checkpoints.py resumes, tests and
exports it, so checkpoints written by earlier versions keep working.

The checkpoint must be written by code of that earlier layout, so this script runs the
training CLI of another checkout (an export of a commit before checkpoints.py named the
weights; the committed fixture was written by commit 2c835c8):

    git archive 2c835c8 | tar -x -C /tmp/old-layout
    python tests/scripts/make_old_checkpoint_fixture.py --checkout /tmp/old-layout

It trains a tiny model (crop 32, ngf 2, ndf 2, 3 steps, seed 3: ngf 8 would make 3.7 MB) on the five A|B pairs the
tests use and copies options.json and the checkpoint files (about 200 KB) into --output. It
refuses to write a checkpoint that is not in the old layout.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile

import tensorflow as tf

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # tests/: this script runs outside pytest, which adds it there
from helpers import write_ab_pairs  # noqa: E402

STEPS = 3
DEFAULT_OUTPUT = os.path.join(os.path.dirname(HERE), "fixtures", "checkpoint_old_layout")
TRAIN_FLAGS = ["--max_steps", str(STEPS), "--seed", "3", "--summary_freq", "0", "--display_freq", "0",
               "--progress_freq", "0", "--crop_size", "32", "--scale_size", "36", "--ngf", "2", "--ndf", "2"]


def check_old_layout(prefix):
    names = [name for name, _ in tf.train.list_variables(prefix)]
    if any(name.startswith("generator/") for name in names) or not any(
            name.startswith("generator_optimizer/_trainable_variables/") for name in names):
        sys.exit(f"{prefix} is not in the old layout: run this with --checkout of an older commit")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkout", required=True, help="a checkout of the old-layout code")
    parser.add_argument("--output", default=DEFAULT_OUTPUT)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        pairs, run = os.path.join(scratch, "ab"), os.path.join(scratch, "run")
        write_ab_pairs(pairs)  # the tests' ab_dir: five 40x80 A|B pairs, B the inverted A
        env = dict(os.environ, PYTHONPATH=os.path.abspath(args.checkout), TF_CPP_MIN_LOG_LEVEL="2")
        subprocess.run([sys.executable, "-m", "pix2pix", "--mode", "train", "--input_dir", pairs,
                        "--output_dir", run, *TRAIN_FLAGS], check=True, env=env,
                       cwd=os.path.abspath(args.checkout), timeout=900)
        prefix = tf.train.latest_checkpoint(run)
        check_old_layout(prefix)
        shutil.rmtree(args.output, ignore_errors=True)
        os.makedirs(args.output)
        for name in ["options.json", "checkpoint"] + [n for n in os.listdir(run)
                                                      if n.startswith(os.path.basename(prefix) + ".")]:
            shutil.copy(os.path.join(run, name), args.output)
    print(f"wrote {args.output}: {sorted(os.listdir(args.output))}")


if __name__ == "__main__":
    main()
