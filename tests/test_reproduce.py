"""pix2pix-reproduce: the paper's tables trained and tested through the CLI, resumable."""

import csv
import json
import re
import signal

import cv2
import numpy as np
import pytest

import pix2pix.commands.reproduce as reproduce_command

from helpers import main_in_process, run_cli, smooth_photo, start_cli, wait_until, write_image
from pix2pix.commands.reproduce import TABLES, plan_runs

TINY_32 = ["--lab_colorization", "--crop_size", "32", "--scale_size", "32", "--ngf", "8", "--ndf", "8"]
ALL_RUNS = ["l1", "gan", "cgan", "l1_gan", "l1_cgan", "encoder_decoder_l1", "encoder_decoder_l1_cgan",
            "pixel", "patch16", "patch286"]


def photos(directory, count, side, seed):
    directory.mkdir()
    rng = np.random.default_rng(seed)
    for i in range(count):
        write_image(directory / f"p{i}.png", smooth_photo(rng, side, side))
    return directory


def reproduce(*args, check=False):
    return run_cli(*map(str, args), module="pix2pix.commands.reproduce", check=check, timeout=1200)


def test_rows_that_are_the_same_configuration_share_one_run():
    runs = plan_runs("all")
    assert [run.name for run in runs] == ALL_RUNS
    rows = {run.name: run.rows for run in runs}
    assert rows["l1"] == [("losses", "l1"), ("generators", "unet_l1")]
    assert rows["l1_cgan"] == [("losses", "l1_cgan"), ("generators", "unet_l1_cgan"),
                               ("discriminators", "patch70")]
    flags = {run.name: run.flags for run in runs}
    assert flags["gan"] == ["--gan_weight", "1", "--l1_weight", "0", "--nocondition_GAN"]
    assert flags["patch286"] == ["--gan_weight", "1", "--l1_weight", "100", "--netD", "n_layers",
                                 "--n_layers_D", "5"]
    assert flags["encoder_decoder_l1"] == ["--gan_weight", "0", "--l1_weight", "100",
                                           "--netG", "encoder_decoder"]
    # Each table on its own trains every one of its rows.
    for table, rows_of_table in TABLES.items():
        assert [run.name for run in plan_runs(table)] == [row for row, _ in rows_of_table]


def reproduce_in_process(*args):
    """pix2pix-reproduce ARGS answered by its own main() in this process (for commands refused before
    any row runs): (exit status, stderr)."""
    result = main_in_process(reproduce_command.main, list(map(str, args)))
    return result.returncode, result.stderr


def test_flags_a_row_sets_a_missing_budget_or_a_small_crop_are_refused_before_anything_trains(tmp_path,
                                                                                               monkeypatch):
    train, val = photos(tmp_path / "train", 1, 40, 0), photos(tmp_path / "val", 1, 40, 1)
    runs = tmp_path / "runs"
    base = ["--input_dir", train, "--val_dir", val, "--output_dir", runs]
    cases = [
        (["--table", "losses", "--max_steps", 1, "--gan_weight", 2], "--gan_weight: is set by each row"),
        (["--table", "losses", "--max_steps", 1, "--nocondition_GAN"], "--condition_GAN: is set by each row"),
        (["--table", "generators", "--max_steps", 1, "--netG=unet"], "--netG: is set by each row"),
        (["--table", "losses", "--max_steps", 1, "--checkpoint", runs], "--checkpoint: is set by pix2pix-reproduce"),
        (["--table", "losses"], "one of the arguments --max_steps --max_epochs is required"),
        (["--table", "discriminators", "--max_steps", 1, *TINY_32[:-4]],
         "row patch286 needs --crop_size >= 128"),
        (["--table", "losses", "--max_steps", 1, "--no_such_flag", 3], "row l1: .*no_such_flag"),
        (["--table", "losses", "--max_steps", 1, "--crop_size", 48], "row l1: --crop_size: must be a power of two"),
    ]
    def no_rows(*_):
        raise AssertionError("a row was started")

    monkeypatch.setattr(reproduce_command, "run_row", no_rows)
    for number, (args, message) in enumerate(cases):
        # Refused before any row runs: answered in process, the first through the CLI too (forked),
        # which must answer the same.
        status, stderr = reproduce_in_process(*base, *args)
        if number == 0:
            result = reproduce(*base, *args)
            assert (result.returncode, result.stderr) == (status, stderr)
        assert status == 2, (args, stderr)
        assert "Traceback" not in stderr
        assert re.search(message, stderr), (message, stderr)
        assert not runs.exists()


def test_a_table_trains_each_row_once_tests_it_and_resumes(tmp_path):
    """The generators table (4 runs at crop 32) end to end; which runs the other tables share is
    the plan's (tested above), so they are not trained here."""
    train, val = photos(tmp_path / "train", 2, 32, 0), photos(tmp_path / "val", 2, 32, 1)
    runs = tmp_path / "runs"
    names = [row for row, _ in TABLES["generators"]]
    command = ["--table", "generators", "--input_dir", train, "--val_dir", val, "--output_dir", runs,
               "--max_steps", 1, *TINY_32]
    result = reproduce(*command, check=True)
    # The plan is printed before anything trains.
    assert result.stdout.index("unet_l1_cgan") < result.stdout.index("[1/4] encoder_decoder_l1")
    assert sorted(p.name for p in runs.iterdir() if p.is_dir()) == sorted(names)
    for name in names:  # ordinary training and test directories
        assert (runs / name / "train" / "checkpoint").is_file()
        assert (runs / name / "test" / "metrics.json").is_file()
    stored = {name: json.loads((runs / name / "train" / "options.json").read_text()) for name in names}
    assert {name: options["netG"] for name, options in stored.items()} == {
        "encoder_decoder_l1": "encoder_decoder", "encoder_decoder_l1_cgan": "encoder_decoder",
        "unet_l1": "unet", "unet_l1_cgan": "unet"}
    assert {name: options["gan_weight"] for name, options in stored.items()} == {
        "encoder_decoder_l1": 0.0, "encoder_decoder_l1_cgan": 1.0, "unet_l1": 0.0, "unet_l1_cgan": 1.0}
    assert {(o["l1_weight"], o["condition_GAN"], o["netD"]) for o in stored.values()} == {(100.0, True, "basic")}
    assert len({options["seed"] for options in stored.values()}) == 1  # one seed for every row

    # table.csv: every row, with its run's test figures.
    with open(runs / "table.csv", newline="") as f:
        table = list(csv.DictReader(f))
    assert [(row["table"], row["row"], row["run"]) for row in table] == [
        ("generators", name, name) for name in names]
    for row in table:
        means = json.loads((runs / row["run"] / "test" / "metrics.json").read_text())["means"]
        assert float(row["psnr"]) == pytest.approx(means["psnr"], abs=0.01)
        assert (row["steps"], row["status"]) == ("1", "done")
    markdown = (runs / "table.md").read_text()
    for heading in ("## generators", "| unet_l1_cgan |", "*grey input (no model)*"):
        assert heading in markdown
    assert "Incomplete" not in markdown
    grid = cv2.imread(str(runs / "grid.png"))
    assert grid.shape[1] > grid.shape[0]  # 6 columns (input, 4 runs, target) by 2 rows
    assert cv2.imread(str(runs / "losses.png")) is not None

    # The same command again: nothing to do. Another command on the same RUNS: refused.
    again = reproduce(*command, check=True)
    assert again.stdout.count("finished earlier, skipped") == 4
    other = reproduce(*command[:-len(TINY_32)], "--max_steps", 2, *TINY_32)
    assert other.returncode == 2
    assert "max_steps was 1, now 2" in other.stderr

    # A row interrupted after training started resumes from its checkpoint and is tested.
    row_file = runs / "unet_l1" / "row.json"
    row_file.write_text(json.dumps({**json.loads(row_file.read_text()), "trained": False, "tested": False}))
    resumed = reproduce(*command, check=True)
    assert "unet_l1: training (resuming)" in resumed.stdout
    assert resumed.stdout.count("finished earlier, skipped") == 3
    commands = [line for line in (runs / "unet_l1" / "train.log").read_text().splitlines() if line.startswith("$ ")]
    assert len(commands) == 2 and "--checkpoint" in commands[-1] and "--checkpoint" not in commands[0]


def test_ctrl_c_saves_the_running_row_and_marks_the_table_incomplete(tmp_path):
    train, val = photos(tmp_path / "train", 2, 32, 0), photos(tmp_path / "val", 1, 32, 1)
    runs = tmp_path / "runs"
    child = start_cli("--table", "losses", "--input_dir", train, "--val_dir", val, "--output_dir", runs,
                      "--max_steps", 100000, "--progress_freq", 5, "--save_freq", 100000, *TINY_32,
                      module="pix2pix.commands.reproduce", interruptible=True)
    log = runs / "l1" / "train.log"

    def reported_progress():
        return log.is_file() and any(line.startswith("progress ") for line in log.read_text().splitlines())

    # Stop waiting as soon as the child has ended too: a child that failed at once is reported now.
    wait_until(lambda: reported_progress() or child.poll() is not None, "a progress line in the training log",
               timeout=300, poll=0.5)
    assert child.poll() is None, child.communicate(timeout=60)
    child.send_signal(signal.SIGINT)
    stdout, stderr = child.communicate(timeout=300)
    assert child.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert "interrupted" in stderr
    assert (runs / "l1" / "train" / "checkpoint").is_file()  # saved on the way out
    state = json.loads((runs / "l1" / "row.json").read_text())
    assert state["trained"] is False and state["steps"] >= 5
    markdown = (runs / "table.md").read_text()
    assert "Incomplete (re-run the same command to finish): l1, gan, cgan, l1_gan, l1_cgan" in markdown
    assert "| l1 | `--gan_weight 0 --l1_weight 100` |" in markdown and "incomplete |" in markdown


def test_a_row_that_fails_is_named_with_the_end_of_its_log(tmp_path):
    train, val = photos(tmp_path / "train", 2, 32, 0), photos(tmp_path / "val", 1, 32, 1)
    (train / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    runs = tmp_path / "runs"
    result = reproduce("--table", "losses", "--input_dir", train, "--val_dir", val, "--output_dir", runs,
                       "--max_steps", 1, *TINY_32)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert re.search(r"row l1: training failed \(exit 1\); the end of \S*l1/train.log:\n(.*\n)*.*broken\.png",
                     result.stderr), result.stderr
    assert not (runs / "gan").exists()  # stopped at the first failure
