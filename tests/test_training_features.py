"""Training flags the README promises, each seen in a real `python -m pix2pix` run: the run length
from --max_epochs, TensorBoard's scalars, images and histograms, --trace_freq's profile,
--aspect_ratio in test mode, --noflip / --no_flip, --skip_nonfinite, and a second Ctrl-C.
(--skip_nonfinite's stop on a weight that is no longer finite: test_reliability.py.)
"""

import glob
import json
import math
import os
import re
import signal

import numpy as np
import pytest
import tensorflow as tf

from helpers import (SCRIPTS, TINY, read_rgb, run_cli, run_script, saved_step, smooth_photo, start_cli,
                     write_ab_pairs, write_image)

# Its module-scoped fixtures are built once: all its tests run on one xdist worker (pytest.ini).
pytestmark = pytest.mark.xdist_group("training_features")

FILES, BATCH, EPOCHS = 5, 2, 2


@pytest.fixture(scope="module")
def epoch_run(tmp_path_factory):
    """(pairs, training directory, the run's stdout) of one tiny run of FILES pairs, --batch_size BATCH,
    --max_epochs EPOCHS, summaries and a profile trace at its last step only, --no_flip."""
    base = tmp_path_factory.mktemp("epochs")
    pairs = write_ab_pairs(base / "ab", count=FILES)
    out = base / "train"
    steps = EPOCHS * math.ceil(FILES / BATCH)
    result = run_cli("--mode", "train", "--input_dir", pairs, "--output_dir", out, "--batch_size", BATCH,
                     "--max_epochs", EPOCHS, "--summary_freq", steps, "--trace_freq", steps,
                     "--progress_freq", steps, "--seed", 4, "--no_flip", *TINY)
    return pairs, out, result.stdout


def test_max_epochs_is_the_budget_when_max_steps_is_not_given(epoch_run):
    """steps = epochs x ceil(files / batch): 2 x ceil(5 / 2) = 6 (the reference's rule)."""
    _, out, stdout = epoch_run
    assert saved_step(out) == EPOCHS * math.ceil(FILES / BATCH) == 6
    assert "done: step 6" in stdout
    assert "progress  step 6/6  epoch 2.0 " in stdout  # the last step ends the second epoch


def _events(directory):
    """{kind: set of tags} of the TensorBoard event files in DIRECTORY, kinds by plugin name."""
    tags = {}
    for path in glob.glob(os.path.join(directory, "events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                kind = value.metadata.plugin_data.plugin_name or value.WhichOneof("value")
                tags.setdefault(kind, set()).add(value.tag)
    return tags


def test_tensorboard_events_hold_the_losses_pictures_and_histograms(epoch_run):
    _, out, _ = epoch_run
    tags = _events(out)
    assert {"discriminator_loss", "generator_loss_GAN", "generator_loss_L1"} <= tags["scalars"], tags
    assert {"inputs", "targets", "outputs", "predict_real", "predict_fake"} <= tags["images"], tags
    histograms = tags["histograms"]
    for network in ("generator", "discriminator"):
        values = {t for t in histograms if t.startswith(network) and t.endswith("/values")}
        gradients = {t for t in histograms if t.startswith(network) and t.endswith("/gradients")}
        assert values and {t[:-len("/values")] for t in values} == {t[:-len("/gradients")] for t in gradients}


def _histograms(directory):
    """{tag: the [buckets, 3] array} of the histograms in DIRECTORY's event files."""
    return {value.tag: tf.make_ndarray(value.tensor)
            for path in glob.glob(os.path.join(directory, "events.out.tfevents.*"))
            for event in tf.compat.v1.train.summary_iterator(path) for value in event.summary.value
            if value.metadata.plugin_data.plugin_name == "histograms"}


def test_histograms_written_from_numpy_equal_tensorflows_own(tmp_path):
    """write_histogram writes what tf.summary.histogram writes, bit for bit: spread, equal, empty and tiny values."""
    from pix2pix.reporting.histograms import write_histogram

    rng = np.random.default_rng(0)
    arrays = [rng.normal(size=(4, 4, 3, 8)), np.zeros(5), np.full(7, 0.3), np.zeros(0), rng.uniform(-1, 1, 999),
              np.array([1.0, 2.0]), rng.normal(size=4097) * 1e-6]
    for name, write in (("tensorflow", tf.summary.histogram), ("numpy", write_histogram)):
        with tf.summary.create_file_writer(str(tmp_path / name)).as_default(step=3):
            for i, values in enumerate(arrays):
                write(f"generator/layer_{i}/kernel/values", tf.Variable(values.astype(np.float32)))
    ours, theirs = _histograms(tmp_path / "numpy"), _histograms(tmp_path / "tensorflow")
    assert len(theirs) == len(arrays) and ours.keys() == theirs.keys()
    for tag in theirs:
        assert ours[tag].dtype == theirs[tag].dtype == np.float64
        np.testing.assert_array_equal(ours[tag], theirs[tag], err_msg=tag)


def test_trace_freq_writes_a_profile_trace(epoch_run):
    _, out, _ = epoch_run
    traces = glob.glob(os.path.join(out, "plugins", "profile", "*", "*.xplane.pb"))
    assert traces and all(os.path.getsize(path) > 0 for path in traces), os.listdir(out)


def test_aspect_ratio_sets_the_width_of_test_modes_pictures(epoch_run, tmp_path):
    """Test mode's saved images are crop_size high and round(crop_size * ratio) wide: 32 x 1.3 = 41.6 -> 42."""
    ratio, width = 1.3, 42
    pairs, out, _ = epoch_run
    result_dir = tmp_path / "test"
    run_cli("--mode", "test", "--input_dir", pairs, "--output_dir", result_dir, "--checkpoint", out,
            "--aspect_ratio", ratio)
    pictures = glob.glob(os.path.join(result_dir, "images", "*.png"))
    assert len(pictures) == 3 * FILES  # inputs, outputs, targets of every pair
    assert {read_rgb(path).shape for path in pictures} == {(32, width, 3)}


def test_both_spellings_switch_flipping_off(tmp_path, ab_dir, epoch_run):
    """--no_flip (the shared run above) and --noflip (absl's negation of --flip) both store flip false."""
    _, no_flip_run, _ = epoch_run
    out = tmp_path / "train"
    run_cli("--mode", "train", "--input_dir", ab_dir, "--output_dir", out, "--max_steps", 1,
            "--summary_freq", 0, "--noflip", *TINY)
    for run in (no_flip_run, out):
        assert json.loads((run / "options.json").read_text())["flip"] is False


# ---------------------------------------------------------------------------- non-finite losses
POISONED = os.path.join(SCRIPTS, "pix2pix_with_poisoned_pairs.py")


def _run_poisoned(*args):
    """The CLI with `--task poisoned_pairs` (a file with a magenta top-left pixel gets NaN targets:
    tests/scripts/pix2pix_with_poisoned_pairs.py says why a file alone cannot do it), forked
    (helpers.run_script): the subject is the training loop, not the interpreter's start-up."""
    return run_script(POISONED, "--task", "poisoned_pairs", *args)


@pytest.fixture
def poisoned_pairs(tmp_path):
    """Two good A|B pairs and poison.png, whose batch (batch size 1) has a NaN loss."""
    pairs = write_ab_pairs(tmp_path / "ab", count=2)
    a = smooth_photo(np.random.default_rng(9), 40, 40)
    a[0, 0] = (255, 0, 255)
    write_image(pairs / "poison.png", np.concatenate([a, 255 - a], axis=1))
    return pairs


def test_skip_nonfinite_skips_the_bad_batch_and_trains_on(tmp_path, poisoned_pairs):
    out = tmp_path / "train"
    result = _run_poisoned("--mode", "train", "--input_dir", poisoned_pairs, "--output_dir", out,
                           "--max_steps", 4, "--summary_freq", 0, "--skip_nonfinite", *TINY)
    assert result.returncode == 0, result.stderr
    skipped = re.findall(r"warning: step (\d+): non-finite loss \(.*\) on images poison; batch skipped",
                         result.stdout)
    assert skipped, result.stdout  # 3 files, 4 steps: the poisoned file comes up at least once
    assert "done: step 4" in result.stdout and saved_step(out) == 4
    reader = tf.train.load_checkpoint(tf.train.latest_checkpoint(str(out)))
    assert all(np.all(np.isfinite(reader.get_tensor(name))) for name, dtype in
               reader.get_variable_to_dtype_map().items() if dtype.is_floating)


def test_without_skip_nonfinite_the_bad_batch_stops_the_run_with_one_line(tmp_path, poisoned_pairs):
    out = tmp_path / "train"
    result = _run_poisoned("--mode", "train", "--input_dir", poisoned_pairs, "--output_dir", out,
                           "--max_steps", 4, "--summary_freq", 0, *TINY)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("pix2pix: error:")]
    assert len(errors) == 1 and re.match(
        r"pix2pix: error: step \d+: non-finite loss \(.*\) on images poison; the batch was not applied\. "
        r"Stopped without saving", errors[0]), result.stderr
    assert "--skip_nonfinite" in errors[0]


# ----------------------------------------------------------------------------------- Ctrl-C twice
def test_a_second_ctrl_c_stops_at_once_without_saving(tmp_path, ab_dir):
    """The first SIGINT asks for a save after the current step; a second one, while that step is
    still running, stops right away: exit 130, `pix2pix: interrupted`, no checkpoint written.

    The first is sent when the run says `recording summary`, just before it writes a step's
    pictures and the histograms of every variable, and the second as soon as the run says it
    received the first: that write, then the display pictures, then the save are still ahead.
    (No sleep and no time limit is involved; the test only has to answer one line faster than
    the run writes a hundred summaries.)"""
    out = tmp_path / "train"
    proc = start_cli("--mode", "train", "--input_dir", ab_dir, "--output_dir", out, "--max_steps", 100_000,
                     "--save_freq", 100_000, "--summary_freq", 1, "--display_freq", 1, *TINY,
                     interruptible=True)
    try:
        for line in proc.stdout:
            if line.startswith("recording summary"):
                proc.send_signal(signal.SIGINT)
            if line.startswith("received SIGINT"):
                proc.send_signal(signal.SIGINT)
                break
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "pix2pix: interrupted" in stderr and "Traceback" not in stderr
    assert "stopped by SIGINT" not in stdout and "saving model" not in stdout
    assert tf.train.latest_checkpoint(str(out)) is None
