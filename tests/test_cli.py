"""The `pix2pix` command end to end, in subprocesses, on real files: train -> resume -> test."""

import json
import os
import re
import shutil

import numpy as np
import pytest
import tensorflow as tf

from helpers import TINY, assert_one_line_error, read_rgb, run_cli, saved_step


def _check_index(directory, names, step_column=False):
    page = (directory / "index.html").read_text()
    header = "<th>step</th>" if step_column else ""
    assert header + "<th>name</th><th>input</th><th>output</th><th>target</th>" in page
    for name in names:
        for kind in ("inputs", "outputs", "targets"):
            assert os.path.isfile(directory / "images" / f"{name}-{kind}.png"), (name, kind)
            assert f"images/{name}-{kind}.png" in page
    return page


def test_train_resume_test_on_pairs(tmp_path, ab_dir):
    out = tmp_path / "train"
    result = run_cli("--mode", "train", "--input_dir", ab_dir, "--output_dir", out, "--max_steps", 3,
                     "--progress_freq", 1, "--summary_freq", 2, "--display_freq", 2, "--seed", 1, *TINY)
    assert "parameter_count = " in result.stdout
    # five pairs, batch 1: step 3 of 3 is 0.6 of an epoch
    assert re.search(r"^progress  step 3/3  epoch 0\.6  image/sec [\d.]+  s/step [\d.]+  remaining \d+:\d\d:\d\d$",
                     result.stdout, re.M)
    assert re.search(r"^gen_loss_L1 \d+\.\d{4}$", result.stdout, re.M)
    options = json.loads((out / "options.json").read_text())
    assert options["ngf"] == 8 and options["lr"] == 0.0002 and options["which_direction"] == "AtoB"
    assert options["flip"] is True  # on unless --noflip / --no_flip
    assert saved_step(out) == 3
    assert any(f.startswith("events.out.tfevents") for f in os.listdir(out))
    page = (out / "index.html").read_text()
    assert "<th>step</th>" in page and "<td>2</td>" in page and "images/00000002-" in page

    result = run_cli("--mode", "train", "--input_dir", ab_dir, "--output_dir", out, "--checkpoint", out,
                     "--max_steps", 5, "--progress_freq", 1)
    assert "at step 3" in result.stdout
    assert saved_step(out) == 5
    # The averaged losses of every progress line, across the resume, and their curves.
    rows = (out / "losses.csv").read_text().splitlines()
    assert rows[0] == "step,discrim_loss,gen_loss_GAN,gen_loss_L1"
    assert [int(r.split(",")[0]) for r in rows[1:]] == [1, 2, 3, 4, 5]
    assert read_rgb(out / "losses.png").shape[0] > 100
    assert len([f for f in os.listdir(out) if f.endswith(".index")]) == 1  # keeps the latest only

    test_dir = tmp_path / "test"
    run_cli("--mode", "test", "--input_dir", ab_dir, "--output_dir", test_dir, "--checkpoint", out)
    page = _check_index(test_dir, ["1", "2", "3", "4", "5"])
    assert page.index("images/1-inputs") < page.index("images/2-inputs") < page.index("images/5-inputs")
    assert read_rgb(test_dir / "images" / "3-outputs.png").shape == (32, 32, 3)
    grid = read_rgb(test_dir / "results.png")  # five rows of input | output | target
    assert grid.shape[0] > grid.shape[1]


@pytest.mark.parametrize("mode", ["--lab_colorization", "--rgb_colorization"])
def test_colorization_modes_train_and_test(tmp_path, photo_dir, mode, request):
    if mode == "--lab_colorization":  # the test run's shared CLI-trained Lab model (conftest's trained_lab)
        out = request.getfixturevalue("trained_lab")
    else:
        out = tmp_path / "train"
        run_cli("--mode", "train", "--input_dir", photo_dir, "--output_dir", out, "--max_steps", 2, mode, *TINY)
    assert json.loads((out / "options.json").read_text())[mode[2:]] is True
    test_dir = tmp_path / "test"
    run_cli("--mode", "test", "--input_dir", photo_dir, "--output_dir", test_dir, "--checkpoint", out)
    _check_index(test_dir, [f"photo{i}" for i in range(4)])
    inputs = read_rgb(test_dir / "images" / "photo0-inputs.png").astype(int)
    targets = read_rgb(test_dir / "images" / "photo0-targets.png").astype(int)
    assert inputs.shape == targets.shape == (32, 32, 3)
    assert np.abs(inputs[..., 0] - inputs[..., 1]).max() <= 1  # the input is shown grey
    assert np.abs(targets[..., 0] - targets[..., 2]).mean() > 5  # the target in colour


def test_same_seed_gives_the_same_model_forked_or_in_a_fresh_interpreter(tmp_path, ab_dir, monkeypatch,
                                                                          trained_pairs):
    """Also the tests' fork server (helpers.run_cli) against `python -m pix2pix` in a new interpreter:
    the same model, loss history and answers to mistakes."""
    def fresh_run(*arguments, check=True):
        with monkeypatch.context() as fresh:
            fresh.setenv("PIX2PIX_TEST_FRESH_CLI", "1")
            return run_cli(*arguments, check=check)

    def run_both(arguments, check=True):
        """ARGUMENTS run forked, then in a fresh interpreter."""
        return run_cli(*arguments, check=check), fresh_run(*arguments, check=check)

    # The forked run is the test run's shared one (conftest's trained_pairs, built with run_cli: forked
    # where the fork server runs), on its own pairs; the fresh interpreter trains the same command again.
    fresh_run("--mode", "train", "--input_dir", trained_pairs.parent / "ab", "--output_dir", tmp_path / "b",
              "--max_steps", 2, "--seed", 1, *TINY)
    a, b = (tf.train.latest_checkpoint(str(d)) for d in (trained_pairs, tmp_path / "b"))
    kernels = [name for name, _ in tf.train.list_variables(a) if "kernel" in name]
    assert kernels
    for name in kernels:
        np.testing.assert_array_equal(tf.train.load_variable(a, name), tf.train.load_variable(b, name))
    assert (trained_pairs / "losses.csv").read_text() == (tmp_path / "b" / "losses.csv").read_text()
    for mistake in (["--mode", "train", "--nosuch_flag", "1"],  # a usage error: exit 2
                    ["--mode", "test", "--input_dir", ab_dir, "--output_dir", tmp_path / "t",
                     "--checkpoint", ab_dir]):  # a run error: exit 1, no options.json there
        forked, fresh = run_both(mistake, check=False)
        assert (forked.returncode, forked.stdout, forked.stderr) == (fresh.returncode, fresh.stdout, fresh.stderr)
        assert forked.returncode in (1, 2) and forked.stderr.startswith("pix2pix: error:")


def test_clear_errors_for_bad_input(tmp_path, ab_dir, cli_in_process):
    """Exit 2 for what the command line shows, 1 for what the files hold; nothing written either way."""
    out = tmp_path / "out"
    common = ["--mode", "train", "--output_dir", out, "--max_steps", 1, *TINY]

    assert_one_line_error(run_cli(*common, "--input_dir", tmp_path / "missing", check=False), 2,
                          "--input_dir", "missing")
    (tmp_path / "empty").mkdir()
    assert_one_line_error(run_cli(*common, "--input_dir", tmp_path / "empty", check=False), 1,
                          "--input_dir", "no images (.jpg .jpeg .png")
    (ab_dir / "9.png").write_text("not an image")
    before = {p: p.read_bytes() for p in ab_dir.iterdir()}
    unusable = run_cli(*common, "--input_dir", ab_dir, check=False)  # a line per file that cannot be used
    assert unusable.returncode == 1 and "Traceback" not in unusable.stderr
    lines = unusable.stderr.splitlines()
    assert lines[0] == "pix2pix: error: --input_dir: 1 of 6 images cannot be used:", unusable.stderr
    assert lines[1].startswith(f"  {ab_dir / '9.png'}: not a decodable image"), lines
    assert lines[2:] == ["Remove or fix them, or pass --skip_bad_images to leave them out."], lines
    assert {p: p.read_bytes() for p in ab_dir.iterdir()} == before
    assert not out.exists()  # nothing written

    assert_one_line_error(run_cli(*common, "--input_dir", ab_dir, "--scale_size", 16, check=False), 2,
                          "--scale_size")  # a combination the training mode checks
    # More that the command line alone shows (exit 2 before any mode runs, as the first above
    # through the CLI): answered in process.
    assert_one_line_error(cli_in_process("--mode", "test", "--input_dir", ab_dir, "--output_dir", out), 2,
                          "--checkpoint: is required for --mode test")
    assert_one_line_error(cli_in_process("--mode", "fly", "--output_dir", out), 2, "--mode")
    assert_one_line_error(cli_in_process("--mode", "export", "--output_dir", out), 2,
                          "--checkpoint: is required for --mode export")
    assert not out.exists()


def test_resume_refuses_a_different_architecture(tmp_path, ab_dir, trained_pairs):
    out = tmp_path / "train"
    shutil.copytree(trained_pairs, out)  # the test run's shared 2-step run (ngf 8), copied: the resume may write
    result = run_cli("--mode", "train", "--input_dir", ab_dir, "--output_dir", out, "--checkpoint", out,
                     "--max_steps", 3, *TINY[:4], "--ngf", 16, check=False)
    assert_one_line_error(result, 2, "--ngf", "trained with ngf=8, not 16")
    assert saved_step(out) == 2
