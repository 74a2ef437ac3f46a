"""Smoke tests of benchmarks/: each script runs with the tiniest settings and prints its table.

No timing assertions: these only prove the scripts work against the current pix2pix API.
Both scripts are started together (they are mostly start-up and tracing, so they overlap
well on 2 cores) and each test waits for its own. tutorial_reference.py is run by
train_step.py (its model is built, traced, stepped and FLOP-counted there).
"""

import os
import subprocess

import pytest

from helpers import REPO, start_script

# Its module-scoped fixtures are built once: all its tests run on one xdist worker (pytest.ini).
pytestmark = pytest.mark.xdist_group("benchmarks_smoke")

BENCHMARKS = os.path.join(REPO, "benchmarks")
TIMEOUT = 600  # all started at once, under load

TINY_BENCHMARK = ["--size", "32", "--ngf", "8"]
COMMANDS = {
    # Everything train_step.py can do: the table (which builds, traces and steps the tutorial's model
    # from tutorial_reference.py too), the peak-RSS subprocesses, the CLI end to end on generated A|B
    # pairs (paused and resumed between rounds), and the profile. One peak-RSS probe (ours) runs the
    # probe's code path; the tutorial's would be the same code on the other model.
    "train_step": ["train_step.py", *TINY_BENCHMARK, "--batch_sizes", "1", "--rounds", "1", "--steps_per_round", "1",
                   "--warmup_steps", "1", "--matmul_n", "128", "--memory_impls", "ours",
                   "--pipeline_images", "2", "--profile_steps", "1", "--profile_top", "5",
                   "--precisions", "float32"],
    # Our step with --update_order simultaneous and sequential, side by side.
    "update_orders": ["train_step.py", *TINY_BENCHMARK, "--update_orders", "--batch_sizes", "1", "--rounds", "1",
                      "--steps_per_round", "1", "--warmup_steps", "1"],
    # The Lab option (generated single photos); the A|B pair generator is exercised by the CLI run above.
    "input_pipeline": ["input_pipeline.py", *TINY_BENCHMARK, "--lab_colorization", "--batch_size", "2",
                       "--images", "4", "--image_size", "40", "--rounds", "1", "--batches", "2",
                       "--warmup_batches", "1", "--steps_per_round", "1"],
    # A float32 and a bfloat16 export of an untrained model, interleaved, at the smallest crop (the
    # benchmark's own is 256: the same code, a deeper U-Net).
    "export_precision": ["export_precision.py", "--ngf", "8", "--crop_size", "32", "--rounds", "1", "--pictures",
                         "1", "--frames", "2"],
}


@pytest.fixture(scope="module")
def runs():
    """Start every benchmark at once; {name: Popen}."""
    # Forked from the CLI fork server (helpers.start_script): the scripts' start-up is not what is
    # tested. What they start themselves (train_step.py's peak-RSS probe and CLI contender) are
    # fresh interpreters, as in use: the probe measures a fresh process's memory.
    processes = {name: start_script(os.path.join(BENCHMARKS, script), *args)
                 for name, (script, *args) in COMMANDS.items()}
    yield processes
    for process in processes.values():
        if process.poll() is None:
            process.kill()
            process.communicate(timeout=60)


def finish(runs, name):
    process = runs[name]
    try:
        out, err = process.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate(timeout=60)
        pytest.fail(f"{name} did not finish in {TIMEOUT} s\n{out}\n{err[-3000:]}")
    assert process.returncode == 0, f"{name} exit {process.returncode}\nstdout:\n{out}\nstderr:\n{err[-3000:]}"
    return out


def test_train_step_prints_its_table(runs):
    out = finish(runs, "train_step")
    assert "s/step" in out and "ours/tut" in out and "GFLOP/s" in out and "peak RSS" in out
    lines = out.splitlines()
    rows = [line.split() for line in lines if line.split()[:2] in (["1", "ours"], ["1", "tutorial"])]
    assert len(rows) == 3, out  # ours, ours CLI, tutorial
    # The precision column; a bfloat16 contender is the same code under another dtype policy
    # (its training is tested in test_bfloat16.py), so the smoke runs float32 only.
    assert all("float32" in row[2:4] for row in rows), out
    assert "practical peak: float32 matmul" in out
    assert "FLOPs of our step" in out
    assert "ours CLI/tutorial in steps/s" in out
    assert "where ours's step spends time" in out and "where tutorial's step spends time" in out
    assert "GiB" in out  # the peak-RSS subprocesses reported


def test_input_pipeline_prints_its_table(runs):
    out = finish(runs, "input_pipeline")
    assert "input pipeline alone" in out and "train step (Pix2Pix.train_step)" in out
    assert "train step fed by the pipeline" in out
    assert "pipeline / step" in out and "Lab colorization" in out


def test_export_precision_times_both_exports(runs):
    out = finish(runs, "export_precision")
    for precision in ("float32", "bfloat16"):
        assert f"RESULT {precision}: " in out and "ms per 32x32 picture" in out
    assert "RESULT bfloat16 over float32: " in out and "in video frames/s" in out


def test_train_step_times_both_update_orders(runs):
    out = finish(runs, "update_orders")
    rows = [line.split() for line in out.splitlines() if line.split()[:1] == ["1"]]
    assert [row[1] for row in rows] == ["simultaneous", "sequential"], out
    assert "seq/sim s/step" in out and rows[1][4].endswith("x")
