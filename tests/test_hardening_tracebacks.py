"""Inputs that used to end in a traceback, each now one line `pix2pix: error: ...` and the
documented exit status: an options.json nested 100,000 deep or holding an ngf of 10^30 or
100000, a TF2 checkpoint at step -5, a file name that is not UTF-8 (train and infer), and test
writing into the training directory it reads. (The .pth ones are in test_hardening_weights.py.)
"""

import json
import os
import shutil

import numpy as np
import pytest
import tensorflow as tf

from helpers import TINY, make_run, run_cli, smooth_photo, write_ab_pairs, write_image
from pix2pix.errors import Pix2PixError, UsageError
from pix2pix.models.checkpoints import CHECKPOINT_PREFIX
from pix2pix.models.pix2pix_model import Pix2Pix
from pix2pix.options.record import Options
from pix2pix.options.stored import OPTIONS_FILE, read_options_file

pytestmark = pytest.mark.xdist_group("hardening_tracebacks")


def assert_one_line_error(result, code, *words):
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("pix2pix: error:")]
    assert len(errors) == 1, result.stderr
    for word in words:
        assert word in errors[0], errors[0]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return make_run(tmp_path_factory.mktemp("runs") / "run")


@pytest.fixture(scope="module")
def pairs(tmp_path_factory):
    return write_ab_pairs(tmp_path_factory.mktemp("pairs") / "ab", count=2)


def run_with_options_text(run, directory, text):
    shutil.copytree(run, directory)
    (directory / OPTIONS_FILE).write_text(text)
    return directory


def test_options_json_nested_100000_deep_is_one_line(tmp_path, run):
    deep = run_with_options_text(run, tmp_path / "deep", '{"ngf": ' + "[" * 100_000 + "]" * 100_000 + "}")
    with pytest.raises(Pix2PixError, match=r"cannot read .*options\.json: its JSON is nested too deep"):
        read_options_file(str(deep))
    photos = tmp_path / "photos"
    photos.mkdir()
    write_image(photos / "1.png", smooth_photo(np.random.default_rng(1), 40, 40))
    result = run_cli("--mode", "infer", "--checkpoint", deep, "--input_dir", photos, "--output_dir",
                     tmp_path / "out", check=False)
    assert_one_line_error(result, 1, "its JSON is nested too deep")
    result = run_cli("--mode", "export", "--checkpoint", deep, "--output_dir", tmp_path / "export", check=False)
    assert_one_line_error(result, 1, "its JSON is nested too deep")


@pytest.mark.parametrize("value, shown", [(10 ** 30, "ngf is 10000000000000000000... (31 digits)"),
                                          (100_000, "ngf is 100000"), (0, "ngf is 0")])
def test_an_ngf_no_network_is_built_from_is_refused_before_building(tmp_path, run, value, shown):
    stored = json.loads((run / OPTIONS_FILE).read_text())
    wide = run_with_options_text(run, tmp_path / "wide", json.dumps({**stored, "ngf": value}))
    with pytest.raises(Pix2PixError) as error:
        read_options_file(str(wide))
    assert str(error.value) == (f"--checkpoint: {wide / OPTIONS_FILE}: {shown}; a network is built from it "
                                "only between 1 and 1024")


def test_a_tf2_checkpoint_at_step_minus_5_is_refused_on_resume(tmp_path, run, pairs):
    negative = tmp_path / "negative"
    shutil.copytree(run, negative)
    options = Options(**{**json.loads((run / OPTIONS_FILE).read_text()), "mode": "train"})
    model = Pix2Pix(options)
    checkpoint = model.checkpoint()
    checkpoint.restore(tf.train.latest_checkpoint(str(run))).assert_existing_objects_matched()
    model.global_step.assign(-5)
    tf.train.CheckpointManager(checkpoint, str(negative), max_to_keep=1,
                               checkpoint_name=CHECKPOINT_PREFIX).save(checkpoint_number=2)
    result = run_cli("--mode", "train", "--checkpoint", negative, "--input_dir", pairs, "--output_dir",
                     tmp_path / "out", "--max_steps", 2, check=False)
    assert_one_line_error(result, 1, f"--checkpoint: {negative / CHECKPOINT_PREFIX}-2 is at step -5; a "
                                     "training's step is a whole number >= 0")


def _non_utf8_copy(folder, source):
    """FOLDER/café.png with the é in Latin-1: a name that is not UTF-8."""
    name = os.path.join(os.fsencode(folder), b"caf\xe9.png")
    shutil.copyfile(source, name)
    return os.fsdecode(name)


def test_a_file_name_that_is_not_utf8_is_one_line_in_train_and_infer(tmp_path, run, pairs):
    folder = tmp_path / "ab"
    shutil.copytree(pairs, folder)
    bad = _non_utf8_copy(folder, pairs / "1.png")
    result = run_cli("--mode", "train", "--input_dir", folder, "--output_dir", tmp_path / "out",
                     "--max_steps", 1, *TINY, check=False)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert "caf\\udce9.png: the file name is not valid UTF-8 (TensorFlow cannot open it)" in result.stderr
    from pix2pix.modes.infer import infer_mode
    for skip_preflight in (False, True):
        with pytest.raises(Pix2PixError, match="the file name is not valid UTF-8") as error:
            infer_mode(Options(mode="infer", checkpoint=str(run), input_dir=str(folder),
                               output_dir=str(tmp_path / "photos_out"), skip_preflight=skip_preflight))
        assert str(error.value).startswith(bad)
    assert not (tmp_path / "photos_out").exists()


def test_test_refuses_to_write_into_the_training_directory(tmp_path, run, pairs):
    before = (run / OPTIONS_FILE).read_bytes()
    result = run_cli("--mode", "test", "--checkpoint", run, "--input_dir", pairs, "--output_dir", run, check=False)
    assert_one_line_error(result, 2, f"--output_dir: {run} is the training directory --checkpoint reads; test "
                                     "would overwrite its options.json and index.html")
    assert (run / OPTIONS_FILE).read_bytes() == before and not (run / "index.html").exists()
    from pix2pix.modes.test import check_not_a_training_directory
    other = make_run(tmp_path / "other")
    with pytest.raises(UsageError, match="is a training directory \\(it holds a checkpoint\\)"):
        check_not_a_training_directory(Options(mode="test", checkpoint=str(run), output_dir=str(other)))
