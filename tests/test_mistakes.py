"""The common first-hour mistakes each get one line that says what to do (real CLI runs):

- single colour photos given to a pairs run (data/pair_check.py): refused, with --pairs_ok to insist;
- training with no budget (modes/train.py check_budget): a usage error naming both flags (status 2);
- an export or a TF Serving base folder where a training directory is needed
  (options/checkpoint_dirs.py): which modes take what it is;
- a .pth, .pict or TF1 checkpoint given to a mode other than import (modes/__init__.py): the
  import command to run, its paths filled in (a usage error, said before TensorFlow loads);
- TensorFlow's C++ log lines (commands/logs.py): hidden unless --verbose;
and the progress lines: global step of the total, epochs as a fraction, h:mm left, 4-decimal losses.
"""

import io
import os
import re
import shlex
import shutil
import subprocess
import sys

import numpy as np

from helpers import REPO, TINY, run_cli, smooth_photo, write_image
from pix2pix.commands.logs import filter_stream
from pix2pix.data import pair_check
from pix2pix.options.checkpoint_dirs import describe_checkpoint_dir

TF_LOG_PREFIX = re.compile(r"^[IWE]\d{4} ", re.M)


def single_photos(directory, count=6):
    directory.mkdir()
    rng = np.random.default_rng(5)
    for i in range(count):
        height, width = ((40, 60), (45, 60), (48, 48))[i % 3]  # 3:2, 4:3, square
        write_image(directory / f"{i}.png", smooth_photo(rng, height, width))
    return directory


# ------------------------------------------------------------------ single photos
def test_the_rule_tells_pairs_from_single_photos(tmp_path, ab_dir):
    photos = single_photos(tmp_path / "photos")
    verdict = pair_check.single_photos_verdict(sorted(str(p) for p in photos.iterdir()))
    assert verdict and "these look like single photos" in verdict and "--pairs_ok" in verdict
    assert pair_check.single_photos_verdict(sorted(str(p) for p in ab_dir.iterdir())) is None  # B = 255 - A
    # A|B pairs of unrelated halves (noise) are still 2:1: let through
    noise = tmp_path / "noise"
    noise.mkdir()
    rng = np.random.default_rng(0)
    for i in range(4):
        write_image(noise / f"{i}.png", rng.integers(0, 256, (32, 64, 3), dtype=np.uint8))
    assert pair_check.single_photos_verdict(sorted(str(p) for p in noise.iterdir())) is None
    # a pair's halves line up, a photo's do not
    photo = smooth_photo(np.random.default_rng(2), 48, 48)
    assert pair_check.half_correlation(np.concatenate([photo, photo[..., ::-1]], axis=1)) > 0.9
    assert pair_check.spread_sample(list(range(100)), 4) == [0, 25, 50, 75]


def test_single_photos_given_as_pairs_are_refused_with_what_to_do(tmp_path):
    photos = single_photos(tmp_path / "photos")
    refused = run_cli("--mode", "train", "--input_dir", photos, "--output_dir", tmp_path / "train",
                      "--max_steps", 1, *TINY, check=False)
    assert refused.returncode == 1, refused.stderr
    lines = [line for line in refused.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("pix2pix: error: --input_dir: these look like single photos; "
                                                   "for colorization add --lab_colorization or --rgb_colorization, "
                                                   "or prepare pairs with pix2pix-prep --operation colorize")
    assert not (tmp_path / "train").exists()
    # colorization wants single photos; --pairs_ok insists on pairs
    run_cli("--mode", "train", "--input_dir", photos, "--output_dir", tmp_path / "lab", "--max_steps", 1,
            "--lab_colorization", *TINY)
    run_cli("--mode", "train", "--input_dir", photos, "--output_dir", tmp_path / "insist", "--max_steps", 1,
            "--pairs_ok", *TINY)


# ------------------------------------------------------------------------ budget
def test_training_without_a_budget_is_a_usage_error_naming_both_flags(tmp_path, ab_dir, cli_in_process):
    result = run_cli("--mode", "train", "--input_dir", ab_dir, "--output_dir", tmp_path / "train", *TINY,
                     check=False)
    assert result.returncode == 2
    assert result.stderr.strip() == ("pix2pix: error: training needs a budget: give --max_steps N (total steps, "
                                     "counted across resumes) or --max_epochs N; without either it would never "
                                     "stop")
    assert not (tmp_path / "train").exists()
    both = cli_in_process("--mode", "train", "--output_dir", tmp_path / "train")  # as the CLI's above, in process
    assert both.returncode == 2
    assert "error: training needs --input_dir (the folder of training images) and a budget: " in both.stderr


# -------------------------------------------------------------- checkpoint folders
def test_an_export_or_serving_folder_where_a_training_directory_is_needed(tmp_path, ab_dir, served_models):
    export = served_models[1] / "1"  # an export of a tiny run, shared by the test run (read only here)
    result = run_cli("--mode", "test", "--checkpoint", export, "--input_dir", ab_dir, "--output_dir",
                     tmp_path / "test", check=False)
    assert result.returncode == 1
    assert (f"pix2pix: error: --checkpoint: {export} is an export (a SavedModel written by --mode export): "
            "--mode infer and --mode serve take it; a training directory") in result.stderr
    assert "Traceback" not in result.stderr

    base = tmp_path / "serving"
    shutil.copytree(export, base / "3")
    said = describe_checkpoint_dir(str(base))
    assert said.startswith(f"{base} is a TF Serving base folder (numbered exports 3): --mode serve takes it, "
                           f"--mode infer takes one export in it (e.g. {base / '3'})")
    result = run_cli("--mode", "train", "--checkpoint", base, "--input_dir", ab_dir, "--output_dir",
                     tmp_path / "resumed", "--max_steps", 2, *TINY, check=False)
    assert result.returncode == 1 and said in result.stderr

    tf1 = tmp_path / "tf1"
    tf1.mkdir()
    for name in ("checkpoint", "model-1.index", "model-1.data-00000-of-00001"):
        (tf1 / name).write_bytes(b"")
    assert describe_checkpoint_dir(str(tf1)).endswith(
        f"turn it into a training directory with pix2pix --mode import --checkpoint {tf1} "
        f"--output_dir {tf1}_imported")
    assert "holds no options.json" in describe_checkpoint_dir(str(ab_dir))


def test_a_file_to_import_given_to_another_mode_names_the_import_command(tmp_path, cli_in_process):
    pth = tmp_path / "model.pth"
    shutil.copy(os.path.join(REPO, "tests", "fixtures", "pytorch", "unet_zip.pth"), pth)
    pict = tmp_path / "facades.pict"
    pict.write_bytes(b"\0" * 16)
    tf1 = tmp_path / "tf1 run"  # a space: the command is quoted for the shell
    tf1.mkdir()
    for name in ("checkpoint", "model-1.index", "model-1.data-00000-of-00001"):
        (tf1 / name).write_bytes(b"")
    (tmp_path / "model").mkdir()  # taken: the suggested folder is the next free name
    photos = tmp_path / "photos"
    photos.mkdir()
    out = tmp_path / "out"
    for path, kind, imported in ((pth, "a PyTorch pix2pix .pth file", tmp_path / "model_2"),
                                 (pict, "a .pict file", tmp_path / "facades"),
                                 (tf1, "a TF1 checkpoint", tmp_path / "tf1 run_imported")):
        for argv in (["--mode", "infer", "--input_dir", photos, "--output_dir", out],
                     ["--mode", "test", "--input_dir", photos, "--output_dir", out],
                     ["--mode", "export", "--output_dir", out],
                     ["--mode", "serve"],
                     ["--mode", "train", "--input_dir", photos, "--output_dir", out, "--max_steps", 1]):
            # Refused by the command line's checks: answered in process (cli_in_process), the
            # first through the CLI (forked) too, which must answer the same.
            result = cli_in_process(*argv, "--checkpoint", path)
            if path == pth and argv[1] == "infer":
                forked = run_cli(*argv, "--checkpoint", path, check=False)
                assert (forked.returncode, forked.stdout, forked.stderr) == (2, result.stdout, result.stderr)
            assert result.returncode == 2, (argv, result.stderr)
            line = result.stderr.strip()
            assert "\n" not in line and line.startswith("pix2pix: error: "), result.stderr
            line = line[len("pix2pix: error: "):]
            command = shlex.join(["pix2pix", "--mode", "import", "--checkpoint", str(path),
                                  "--output_dir", str(imported)])
            assert line.startswith(f"--checkpoint: {path} is {kind}"), line
            assert f"import it first: {command} (then give --checkpoint {shlex.quote(str(imported))})" in line
    assert not out.exists() and not (tmp_path / "model_2").exists()


# ----------------------------------------------------------- logs and progress lines
def test_filter_stream_drops_tensorflow_log_lines_only():
    text = (b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
            b"I0000 00:00:1796590547.390743    9529 port.cc:153] oneDNN custom operations are on.\n"
            b"video a.mp4 [##--] 1/2 frames\rvideo a.mp4 [####] 2/2 frames\n"
            b"E1206 20:50:01.123456   12 cuda_platform.cc:52] failed call to cuInit\n"
            b"F0000 00:00:1.5    1 check.cc:1] Check failed: kept\n"
            b"Important: Exit 1\n"
            b"pix2pix: error: --input_dir: no images")
    sink = io.BytesIO()
    filter_stream(io.BytesIO(text), sink)
    assert sink.getvalue() == (b"video a.mp4 [##--] 1/2 frames\rvideo a.mp4 [####] 2/2 frames\n"
                               b"F0000 00:00:1.5    1 check.cc:1] Check failed: kept\n"
                               b"Important: Exit 1\n"
                               b"pix2pix: error: --input_dir: no images")


def _train(ab_dir, output_dir, *flags):
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}  # as a user's shell has it
    env["PYTHONPATH"] = REPO
    return subprocess.run([sys.executable, "-m", "pix2pix", "--mode", "train", "--input_dir", str(ab_dir),
                           "--output_dir", str(output_dir), "--max_steps", "2", "--progress_freq", "1",
                           "--seed", "1", *TINY, *map(str, flags)], capture_output=True, text=True, env=env,
                          timeout=600, cwd=REPO)


def test_a_training_run_prints_no_tensorflow_log_lines_and_readable_progress(tmp_path, ab_dir):
    result = _train(ab_dir, tmp_path / "quiet")
    assert result.returncode == 0, result.stderr
    assert not TF_LOG_PREFIX.search(result.stderr) and not TF_LOG_PREFIX.search(result.stdout), result.stderr
    assert "absl::InitializeLog" not in result.stderr
    # five pairs, batch 1: step 2 of 2 is 0.4 of an epoch; losses to 4 decimals
    assert re.search(r"^progress  step 2/2  epoch 0\.4  image/sec [\d.]+  s/step [\d.]+  remaining 0:00:00$",
                     result.stdout, re.M)
    assert re.search(r"^discrim_loss \d+\.\d{4}$", result.stdout, re.M)

    # The same command with --verbose, resuming the run above at its budget: TensorFlow's lines come as
    # it loads and starts (a fresh interpreter too), so the control needs no steps of its own.
    verbose = _train(ab_dir, tmp_path / "quiet", "--verbose", "--checkpoint", tmp_path / "quiet")
    assert verbose.returncode == 0, verbose.stderr
    assert TF_LOG_PREFIX.search(verbose.stderr), verbose.stderr  # TensorFlow's oneDNN/CUDA notices, here
