"""Training under faults: SIGKILL at random moments, SIGTERM/SIGINT, disk full, NaN, bad files and flags.

Every test runs the real `python -m pix2pix` in a process of its own on real files (forked from the
CLI fork server: the subject is the run, not the interpreter's start-up); usage errors are also
answered in process.
"""

import hashlib
import os
import random
import re
import shutil
import signal
import time

import cv2
import numpy as np
import pytest
import tensorflow as tf

from helpers import (SCRIPTS, TINY, assert_one_line_error, cli_env, run_cli, run_script, saved_step,
                     smooth_photo, start_cli, write_image)


def _train_args(input_dir, out, max_steps, *extra):
    """The CLI arguments of a tiny training run (resuming when OUT holds a checkpoint)."""
    args = ["--mode", "train", "--input_dir", input_dir, "--output_dir", out, "--max_steps", max_steps,
            "--summary_freq", 0, "--progress_freq", 1, "--seed", 3, *TINY, *extra]
    if tf.train.latest_checkpoint(str(out)):
        args += ["--checkpoint", out]
    return [str(arg) for arg in args]


def _wait_for_progress(proc, timeout=120):
    """Read stdout until the first progress line (the loop is running); returns the lines read."""
    lines, deadline = [], time.time() + timeout
    for line in proc.stdout:
        lines.append(line)
        if line.startswith("progress") or time.time() > deadline:
            break
    return lines


def _wait_for_a_new_checkpoint(proc, out, timeout=120):
    """Wait until PROC has written a checkpoint (the newest one changes) or has ended."""
    before, deadline = tf.train.latest_checkpoint(str(out)), time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        if tf.train.latest_checkpoint(str(out)) != before:
            return
        time.sleep(0.02)


def _killed_mid_save(ab_dir, out, max_steps, save_number):
    """A run that SIGKILLs itself inside its SAVE_NUMBERth checkpoint save, after the variables
    are written to model-N_temp and before they are moved into place (tests/scripts explains).
    Forked (helpers.run_script): the kill's moment is the save, not the interpreter's start-up."""
    return run_script(os.path.join(SCRIPTS, "train_killed_mid_save.py"), save_number,
                      *_train_args(ab_dir, out, max_steps, "--save_freq", 2), timeout=300)


@pytest.mark.slow
def test_sigkill_at_random_moments_never_loses_more_than_save_freq(tmp_path, ab_dir):
    """Kills at random moments (anywhere; after a save) and, deterministically, in the middle of a
    save: the saved step never goes backwards, and a run resumes from what is left."""
    out = tmp_path / "train"
    out.mkdir()
    rng = random.Random(1234)
    max_steps, last_saved, save_freq = 400, 0, 2
    for attempt in range(3):  # one of each: anywhere, after a save, in the middle of a save
        if attempt % 3 == 2:
            before = tf.train.latest_checkpoint(str(out))
            proc = _killed_mid_save(ab_dir, out, max_steps, save_number=2)
            assert proc.returncode == -signal.SIGKILL, proc.stderr
            assert any(name.endswith("_temp") for name in os.listdir(out)), os.listdir(out)  # mid-save
            assert tf.train.latest_checkpoint(str(out)) != before  # its first save went through
            stdout = proc.stdout
        else:
            proc = start_cli(*_train_args(ab_dir, out, max_steps, "--save_freq", save_freq),
                             env=cli_env(PYTHONUNBUFFERED="1"))  # every progress line is out before the kill
            if attempt % 3 == 0:
                # anywhere: reading the data, tracing, stepping, saving (a forked run has no interpreter
                # start-up to wait through: it reaches its steps within seconds)
                time.sleep(rng.uniform(0.5, 3.0))
            else:  # mid-training, once this run has saved (so the runs make progress)
                _wait_for_a_new_checkpoint(proc, out)
                time.sleep(rng.uniform(0.0, 1.5))
            proc.kill()
            stdout, stderr = proc.communicate(timeout=60)
            assert proc.returncode in (-signal.SIGKILL, 0), stderr
        # The run printed each step it finished (--progress_freq 1) before saving it: what the kill
        # lost is the steps after the newest checkpoint, never more than --save_freq.
        reached = max([last_saved, *map(int, re.findall(r"^progress  step (\d+)/", stdout, re.M))])
        saved = saved_step(out)
        assert saved >= last_saved, f"step went backwards: {saved} < {last_saved}"
        assert reached - saved <= save_freq, f"reached step {reached}, saved {saved}: lost more than --save_freq"
        last_saved = saved
    assert last_saved > 0

    # Resuming after all that works, continues from the last save, and finishes.
    final = run_cli("--mode", "train", "--input_dir", ab_dir, "--output_dir", out, "--checkpoint", out,
                    "--max_steps", last_saved + 2, "--progress_freq", 1, "--summary_freq", 0)
    assert f"at step {last_saved}" in final.stdout
    assert saved_step(out) == last_saved + 2
    run_cli("--mode", "test", "--input_dir", ab_dir, "--output_dir", tmp_path / "test", "--checkpoint", out)
    assert (tmp_path / "test" / "index.html").exists()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_and_sigint_save_and_lose_no_step(tmp_path, ab_dir, sig):
    out = tmp_path / "train"
    proc = start_cli(*_train_args(ab_dir, out, 10_000, "--save_freq", 5000), interruptible=True)
    _wait_for_progress(proc)
    time.sleep(0.5)
    proc.send_signal(sig)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 128 + sig, stderr
    assert "Traceback" not in stderr
    line = [l for l in stdout.splitlines() if l.startswith("stopped by")][0]
    stopped_at = int(line.split(" at step ")[1].split(";")[0])
    assert stopped_at >= 1 and saved_step(out) == stopped_at  # zero steps lost
    assert "--checkpoint" in stdout
    resumed = run_cli(*_train_args(ab_dir, out, stopped_at + 1))
    assert f"at step {stopped_at}" in resumed.stdout and saved_step(out) == stopped_at + 1


def _two_step_run(trained_pairs, out):
    """OUT: a 2-step CLI training run (the session's trained_pairs, shared with other modules; a copy,
    as the tests train on from it)."""
    shutil.copytree(trained_pairs, out)
    assert saved_step(out) == 2


def test_disk_full_while_saving_keeps_the_previous_checkpoint(tmp_path, ab_dir, trained_pairs):
    out = tmp_path / "train"
    _two_step_run(trained_pairs, out)
    previous = tf.train.latest_checkpoint(str(out))
    data_size = os.path.getsize(previous + ".data-00000-of-00001")
    # No file over half the checkpoint's size: its save fails as on a full disk (the script sets the
    # limit in the run's own process, forked as run_cli's runs are).
    proc = run_script(os.path.join(SCRIPTS, "pix2pix_with_file_size_limit.py"), data_size // 2,
                      *_train_args(ab_dir, out, 4))
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "could not write the checkpoint" in proc.stderr and "is intact" in proc.stderr
    assert tf.train.latest_checkpoint(str(out)) == previous and saved_step(out) == 2
    reader = tf.train.load_checkpoint(previous)  # still complete and readable
    assert all(np.all(np.isfinite(reader.get_tensor(k))) for k in reader.get_variable_to_shape_map()
               if reader.get_variable_to_dtype_map()[k].is_floating)


def test_non_finite_weights_stop_even_with_skip_nonfinite_and_keep_the_last_good_checkpoint(tmp_path, ab_dir,
                                                                                           trained_pairs):
    """A finite loss with overflowing gradients: weights this large (1e38 on both terms) give
    gradients of inf, Adam turns them into NaN weights, and the next loss is NaN. Skipping that
    batch would not help (every later one is NaN too), so even --skip_nonfinite stops, naming the
    weight. (A NaN loss on good weights: test_training_features.py.)"""
    out = tmp_path / "train"
    _two_step_run(trained_pairs, out)
    good = tf.train.latest_checkpoint(str(out))
    digest = hashlib.sha256(open(good + ".data-00000-of-00001", "rb").read()).hexdigest()
    result = run_cli(*_train_args(ab_dir, out, 50, "--gan_weight", "1e38", "--l1_weight", "1e38",
                                  "--skip_nonfinite"), check=False)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert re.search(r"pix2pix: error: step \d+: non-finite loss \(.*\) on images .*; weight \S+ is no "
                     r"longer finite\. Stopped without saving", result.stderr), result.stderr
    assert "last checkpoint is untouched" in result.stderr
    assert tf.train.latest_checkpoint(str(out)) == good
    assert hashlib.sha256(open(good + ".data-00000-of-00001", "rb").read()).hexdigest() == digest


def _bad_corpus(directory):
    """The kinds of bad files data_prep is tested with, as A|B training images."""
    rng = np.random.default_rng(5)
    good = np.concatenate([smooth_photo(rng, 32, 32)] * 2, axis=1)
    ok, jpeg = cv2.imencode(".jpg", good)
    bad = {
        "zero.jpg": b"",
        "truncated.jpg": jpeg.tobytes()[: len(jpeg) // 2],
        "text.jpg": b"this is not an image\n",
        "html.jpg": b"<html><body>404</body></html>",
    }
    for name, data in bad.items():
        (directory / name).write_bytes(data)
    write_image(directory / "tiny.jpg", np.zeros((1, 1, 3), np.uint8))
    return set(bad) | {"tiny.jpg"}


def test_bad_training_files_stop_before_training_naming_each(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    rng = np.random.default_rng(6)
    for i in range(3):
        write_image(data / f"good{i}.jpg", np.concatenate([smooth_photo(rng, 32, 32)] * 2, axis=1))
    bad = _bad_corpus(data)
    before = {p.name: p.read_bytes() for p in data.iterdir()}
    out = tmp_path / "out"
    result = run_cli("--mode", "train", "--input_dir", data, "--output_dir", out, "--max_steps", 2,
                     *TINY, check=False)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    for name in bad:
        assert name in result.stderr, (name, result.stderr)
    assert "good0.jpg" not in result.stderr and not out.exists()
    assert {p.name: p.read_bytes() for p in data.iterdir()} == before

    skipped = run_cli("--mode", "train", "--input_dir", data, "--output_dir", out, "--max_steps", 2,
                      "--skip_bad_images", *TINY)
    assert "leaving out 5 of 8 images" in skipped.stderr and saved_step(out) == 2
    assert {p.name: p.read_bytes() for p in data.iterdir()} == before


def test_rgba_and_16_bit_training_files_are_converted(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    rgba = np.zeros((32, 64, 4), np.uint8)
    rgba[..., :3], rgba[..., 3] = 120, 255
    write_image(data / "1.png", rgba)
    cv2.imwrite(str(data / "2.png"), np.full((32, 64, 3), 40000, np.uint16))
    run_cli("--mode", "train", "--input_dir", data, "--output_dir", tmp_path / "out", "--max_steps", 1, *TINY)
    assert saved_step(tmp_path / "out") == 1


def test_bad_flags_and_mismatches_are_one_line_errors(tmp_path, ab_dir, cli_in_process):
    out = tmp_path / "out"
    train = ["--mode", "train", "--output_dir", out, "--max_steps", 1, *TINY]
    a_file = tmp_path / "file"
    a_file.write_text("x")
    assert_one_line_error(run_cli(*train, "--input_dir", ab_dir, "--output_dir", a_file / "sub", check=False), 1,
                          "--output_dir")
    (tmp_path / "no_ckpt").mkdir()
    assert_one_line_error(run_cli(*train, "--input_dir", ab_dir, "--checkpoint", tmp_path / "no_ckpt",
                                  check=False), 1, "--checkpoint", "options.json")
    (tmp_path / "no_ckpt" / "options.json").write_text("{}")
    assert_one_line_error(run_cli(*train, "--input_dir", ab_dir, "--checkpoint", tmp_path / "no_ckpt",
                                  check=False), 1, "--checkpoint", "no checkpoint")
    # Usage errors, refused by the command line's checks: answered in process (cli_in_process), the
    # last through the CLI too.
    assert_one_line_error(cli_in_process("--mode", "train", "--output_dir", out), 2, "--input_dir")
    assert_one_line_error(cli_in_process(*train, "--input_dir", ab_dir, "--crop_size", 48), 2, "--crop_size")
    assert_one_line_error(cli_in_process(*train, "--input_dir", ab_dir, "--batch_size", 0), 2, "--batch_size")
    assert_one_line_error(cli_in_process(*train, "--input_dir", ab_dir, "--bogus", 1), 2, "bogus")
    assert_one_line_error(run_cli(*train, "--input_dir", ab_dir, "--bogus", 1, check=False), 2, "bogus")
    assert not out.exists()
