"""Files that are damaged, hostile or shared: output-directory locks, options.json of the wrong
types, truncated checkpoint shards, TF1 checkpoints with a negative step or non-finite weights,
non-finite generators, and index.html links to files with awkward names.

Each refusal is checked as the user meets it: one line `pix2pix: error: ...`, exit 1, no traceback.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.parse

import numpy as np
import pytest
import tensorflow as tf

from helpers import TINY, assert_one_line_error, run_cli, smooth_photo, start_cli, write_image
from pix2pix.errors import Pix2PixError
from pix2pix.io.locks import lock_path, output_lock
from pix2pix.models.pix2pix_model import Pix2Pix
from pix2pix.modes.export import export_mode
from pix2pix.modes.preparation import prepare, prepare_train_options
from pix2pix.modes.train import CHECKPOINT_PREFIX, train
from pix2pix.options.record import Options
from pix2pix.options.stored import OPTIONS_FILE
from pix2pix.options.types import check_stored_types
from pix2pix.reporting.pictures import file_url
from helpers import export_options
from tf1_reference import reference_options_json, tf1_batch, write_tf1_checkpoint


# Its module-scoped fixtures are built once: all its tests run on one xdist worker (pytest.ini).
pytestmark = pytest.mark.xdist_group("hardening_files")


@pytest.fixture(scope="module")
def pairs(tmp_path_factory):
    """Three 40x80 A|B pairs."""
    directory = tmp_path_factory.mktemp("pairs") / "ab"
    directory.mkdir()
    rng = np.random.default_rng(0)
    for i in range(1, 4):
        a = smooth_photo(rng, 40, 40)
        write_image(directory / f"{i}.png", np.concatenate([a, 255 - a], axis=1))
    return directory


@pytest.fixture(scope="module")
def run(untrained_pairs):
    """A training directory (options.json + model-1) with untrained weights, crop_size 32 (conftest's
    untrained_pairs: tests change copies of it)."""
    return untrained_pairs


def copy_run(run, destination, **stored_changes):
    """A copy of RUN whose options.json has STORED_CHANGES written over it."""
    shutil.copytree(run, destination)
    path = destination / OPTIONS_FILE
    stored = json.loads(path.read_text())
    stored.update(stored_changes)
    path.write_text(json.dumps(stored))  # json writes NaN as the bare word NaN, as a careless tool would
    return destination


# ------------------------------------------------------------------------------ locks
def test_a_second_training_on_the_same_output_dir_is_refused_with_the_holders_pid(tmp_path, pairs):
    out = tmp_path / "train"
    first = start_cli("--mode", "train", "--input_dir", pairs, "--output_dir", out, "--max_steps", 100000,
                      "--save_freq", 0, "--progress_freq", 0, "--summary_freq", 0,
                      "--display_freq", 1,  # index.html appears at the first step, once SIGTERM is handled
                      "--seed", 1, *TINY, interruptible=True)
    try:
        deadline = time.monotonic() + 300
        while not (out / OPTIONS_FILE).exists() and first.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert (out / OPTIONS_FILE).exists(), first.communicate(timeout=60)
        stored = (out / OPTIONS_FILE).read_bytes()

        second = run_cli("--mode", "train", "--input_dir", pairs, "--output_dir", out, "--max_steps", 1,
                         "--seed", "2", *TINY, check=False)
        line = assert_one_line_error(second, 1, f"--output_dir: {out} is in use by PID {first.pid} (--mode train",
                                     "choose another --output_dir")
        assert lock_path(str(out)) in line
        assert (out / OPTIONS_FILE).read_bytes() == stored  # the second run wrote nothing
        deadline = time.monotonic() + 300
        while not (out / "index.html").exists() and first.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        first.send_signal(signal.SIGTERM)
        stdout, stderr = first.communicate(timeout=300)
    assert first.returncode == 128 + signal.SIGTERM, stderr  # stopped cleanly, checkpoint saved
    assert "stopped by SIGTERM" in stdout and tf.train.latest_checkpoint(str(out))
    assert not os.path.exists(lock_path(str(out)))  # released: the file went with it


def test_a_lock_left_by_a_dead_process_is_taken_over_with_a_note(tmp_path, pairs, capsys):
    out = tmp_path / "train"
    out.mkdir()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait(timeout=60)  # its PID now belongs to nobody (and it never held a flock)
    with open(lock_path(str(out)), "w") as f:
        f.write(f"pid={dead.pid}\nhost=elsewhere\nmode=train\nsince=2026-01-01T00:00:00+00:00\n")
    options = prepare_train_options(Options(input_dir=str(pairs), output_dir=str(out), max_steps=1, seed=1,
                                            crop_size=32, scale_size=36, ngf=8, ndf=8, progress_freq=0,
                                            summary_freq=0))
    train(options)
    printed = capsys.readouterr().out
    assert (f"note: taking over the lock of {out} left by PID {dead.pid} on elsewhere (--mode train, "
            "since 2026-01-01T00:00:00+00:00), which is no longer running") in printed
    assert tf.train.latest_checkpoint(str(out)).endswith("model-1")
    assert not os.path.exists(lock_path(str(out)))


def test_the_lock_is_exclusive_per_open_and_its_file_goes_on_release(tmp_path):
    out = tmp_path / "out"
    with output_lock(str(out), "test") as path:
        assert path == str(tmp_path / ".out.pix2pix-lock")  # beside the folder, which need not exist yet
        assert f"pid={os.getpid()}\n" in open(path).read()
        with pytest.raises(Pix2PixError, match=f"is in use by PID {os.getpid()} \\(--mode test, since "):
            with output_lock(str(out), "export"):
                pass
        assert os.path.exists(path)  # the refused one did not delete the holder's file
    assert os.listdir(tmp_path) == []
    with output_lock(str(out), "export"):  # free again
        pass


# ------------------------------------------------------------------- options.json types
BAD_VALUES = (("ngf", "8", "ngf='8', which is not a whole number"),
              ("crop_size", 32.0, "crop_size=32.0, which is not a whole number"),
              ("lr", float("nan"), "lr=nan, which is not a finite number"),
              ("separable_conv", [False], "separable_conv=[False], which is not true or false"))


@pytest.mark.parametrize("name,value,words", BAD_VALUES, ids=[v[0] for v in BAD_VALUES])
@pytest.mark.parametrize("mode", ["test", "export", "infer", "train"])
def test_stored_options_of_the_wrong_type_are_refused_by_every_mode_that_reads_them(
        tmp_path, run, mode, name, value, words):
    bad = copy_run(run, tmp_path / "bad", **{name: value})
    options = Options(mode=mode, checkpoint=str(bad), output_dir=str(tmp_path / "out"),
                      input_dir=str(tmp_path), seed=1)
    with pytest.raises(Pix2PixError) as error:
        prepare(options)
    assert str(error.value) == (f"--checkpoint: {bad / OPTIONS_FILE} holds {words}; correct it in that file")


def test_stored_types_on_the_command_line_and_what_passes(tmp_path, run, pairs):
    bad = copy_run(run, tmp_path / "bad", ngf="8")
    result = run_cli("--mode", "test", "--checkpoint", bad, "--input_dir", pairs, "--output_dir",
                     tmp_path / "out", check=False)
    assert_one_line_error(result, 1, f"--checkpoint: {bad / OPTIONS_FILE} holds ngf='8'")
    assert not (tmp_path / "out").exists()
    resumed = copy_run(run, tmp_path / "resume", crop_size=[32])
    result = run_cli("--mode", "train", "--checkpoint", resumed, "--input_dir", pairs, "--output_dir",
                     tmp_path / "out", "--max_steps", 2, check=False)
    assert_one_line_error(result, 1, "crop_size=[32], which is not a whole number")
    # what this port and the reference write passes: ints for floats, nulls where allowed
    check_stored_types(json.loads((run / OPTIONS_FILE).read_text()), "options.json")
    check_stored_types(reference_options_json(lr=1, max_steps=None, checkpoint=None), "options.json")
    check_stored_types({"not_an_option": [1, 2]}, "options.json")  # unknown keys are left alone
    with pytest.raises(Pix2PixError, match="seed=inf, which is not a whole number or null"):
        check_stored_types({"seed": float("inf")}, "options.json")


# ------------------------------------------------------------------ damaged checkpoints
def test_a_truncated_checkpoint_shard_is_named_in_one_line(tmp_path, run, pairs):
    damaged = tmp_path / "damaged"
    shutil.copytree(run, damaged)
    shard = damaged / f"{CHECKPOINT_PREFIX}-1.data-00000-of-00001"
    with open(shard, "r+b") as f:
        f.truncate(shard.stat().st_size // 3)
    result = run_cli("--mode", "test", "--checkpoint", damaged, "--input_dir", pairs, "--output_dir",
                     tmp_path / "out", check=False)
    assert_one_line_error(result, 1, f"--checkpoint: cannot read {damaged / CHECKPOINT_PREFIX}-1.data-*: ",
                          "truncated or damaged")
    with pytest.raises(Pix2PixError, match="cannot read .*-1.data-\\*: .*truncated or damaged"):
        export_mode(export_options(damaged, tmp_path / "export"))
    assert not (tmp_path / "export").exists()
    resume = prepare_train_options(Options(input_dir=str(pairs), output_dir=str(tmp_path / "resumed"),
                                           checkpoint=str(damaged), max_steps=2))
    with pytest.raises(Pix2PixError, match="cannot read .*-1.data-\\*: .*resume from an earlier, intact checkpoint"):
        train(resume)
    assert not (tmp_path / "resumed").exists()


def non_finite_run(run, directory):
    """A copy of RUN whose generator's first kernel holds a NaN and an infinity (checkpoint model-2)."""
    shutil.copytree(run, directory)
    options = Options(**{**json.loads((run / OPTIONS_FILE).read_text()), "mode": "train"})
    model = Pix2Pix(options)
    checkpoint = model.checkpoint()
    checkpoint.restore(tf.train.latest_checkpoint(str(run))).assert_existing_objects_matched()
    kernel = model.generator.trainable_variables[0]
    values = kernel.numpy()
    values.flat[0], values.flat[1] = np.nan, np.inf
    kernel.assign(values)
    tf.train.CheckpointManager(checkpoint, str(directory), max_to_keep=1,
                               checkpoint_name=CHECKPOINT_PREFIX).save(checkpoint_number=2)
    return directory, kernel.path


def test_a_non_finite_generator_is_refused_by_infer_export_and_resume(tmp_path, run, pairs):
    broken, variable = non_finite_run(run, tmp_path / "broken")
    photos = tmp_path / "photos"
    photos.mkdir()
    write_image(photos / "1.jpg", smooth_photo(np.random.default_rng(3), 40, 48))
    result = run_cli("--mode", "infer", "--checkpoint", broken, "--input_dir", photos, "--output_dir",
                     tmp_path / "out", check=False)
    assert_one_line_error(result, 1, f"--checkpoint: {broken / CHECKPOINT_PREFIX}-2 holds non-finite values "
                                  f"(NaN or infinity) in {variable}")
    assert not (tmp_path / "out").exists()  # no black pictures
    with pytest.raises(Pix2PixError, match="holds non-finite values"):
        export_mode(export_options(broken, tmp_path / "export"))
    resume = prepare_train_options(Options(input_dir=str(pairs), output_dir=str(tmp_path / "resumed"),
                                           checkpoint=str(broken), max_steps=3))
    with pytest.raises(Pix2PixError, match=f"non-finite values .* in {variable}; resume from an earlier"):
        train(resume)


# --------------------------------------------------------------------- TF1 import
def rewrite_tf1_checkpoint(source, destination, **replacements):
    """A copy of the TF1 checkpoint in SOURCE under DESTINATION/model-7 with some variables replaced
    ({name with / as __: new value}), written by a tf.compat.v1 Saver as the reference's was."""
    reader = tf.train.load_checkpoint(str(source))
    values = {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()}
    for key, value in replacements.items():
        values[key.replace("__", "/")] = value
    os.makedirs(destination, exist_ok=True)
    with tf.Graph().as_default():
        variables = [tf.compat.v1.get_variable(name, initializer=tf.constant(value))
                     for name, value in values.items()]
        with tf.compat.v1.Session() as session:
            session.run(tf.compat.v1.global_variables_initializer())
            tf.compat.v1.train.Saver(variables).save(session, os.path.join(destination, "model-7"))
    shutil.copy(os.path.join(source, OPTIONS_FILE), destination)
    return destination


@pytest.fixture(scope="module")
def tf1_checkpoint(tmp_path_factory):
    directory = tmp_path_factory.mktemp("tf1") / "plain"
    write_tf1_checkpoint(directory, tf1_batch(1, count=1), tf1_batch(2, count=1),
                         options_json=reference_options_json())
    return directory


def test_a_tf1_checkpoint_with_a_negative_step_is_refused(tmp_path, tf1_checkpoint):
    negative = rewrite_tf1_checkpoint(tf1_checkpoint, tmp_path / "negative", global_step=np.int64(-5))
    result = run_cli("--mode", "import", "--checkpoint", negative, "--output_dir", tmp_path / "out", check=False)
    assert_one_line_error(result, 1, "--checkpoint: global_step of the TF1 checkpoint is -5; expected a whole "
                                  "number of steps >= 0, nothing was imported")
    assert not (tmp_path / "out").exists()
    assert not [name for name in os.listdir(tmp_path) if name.startswith(".")]  # no staging, no lock


def test_a_tf1_checkpoint_with_non_finite_weights_is_refused_naming_the_variable(tmp_path, tf1_checkpoint):
    name = "generator/encoder_2/conv2d/kernel"
    kernel = tf.train.load_variable(str(tf1_checkpoint), name)
    kernel.flat[[0, 5, 9]] = (np.nan, np.inf, -np.inf)
    broken = rewrite_tf1_checkpoint(tf1_checkpoint, tmp_path / "nan", generator__encoder_2__conv2d__kernel=kernel)
    result = run_cli("--mode", "import", "--checkpoint", broken, "--output_dir", tmp_path / "out", check=False)
    assert_one_line_error(result, 1, f"--checkpoint: variable {name} of the TF1 checkpoint holds 3 non-finite "
                                  f"values (NaN or infinity) of {kernel.size}; nothing was imported")
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------------ index.html links
def test_index_links_are_relative_percent_encoded_and_name_existing_files(tmp_path, run):
    photos = tmp_path / "photos"
    photos.mkdir()
    rng = np.random.default_rng(4)
    names = ("http:attacker.example.jpg", "a#b.jpg", "with space.jpg")
    for name in names:
        write_image(photos / name, smooth_photo(rng, 40, 40))
    out = tmp_path / "out"
    run_cli("--mode", "infer", "--checkpoint", run, "--input_dir", photos, "--output_dir", out)
    page = (out / "index.html").read_text()
    sources = [part.split("'")[0] for part in page.split("src='")[1:]]
    assert len(sources) == 2 * len(names)
    for source in sources:
        parsed = urllib.parse.urlsplit(source)
        assert not parsed.scheme and not parsed.netloc and not parsed.fragment and not parsed.query, source
        assert " " not in source and "#" not in source and ":" not in source
        assert (out / urllib.parse.unquote(source)).resolve().is_file(), source
    assert "src='http%3Aattacker.example.png'" in page and "src='../photos/a%23b.jpg'" in page
    assert "src='with%20space.png'" in page
    assert file_url("images/new\nline.png") == "images/new%0Aline.png"
    assert file_url(os.path.abspath("x y.png")).startswith("file:///") and "x%20y.png" in file_url(
        os.path.abspath("x y.png"))
