"""`pix2pix --help` and the exit statuses the help documents: help without TensorFlow, flags grouped by
the mode that reads them, usage errors (2) apart from run failures (1), and docs/flags.md kept current."""

import os
import subprocess
import sys

import pytest

from helpers import REPO, assert_one_line_error, run_cli
from pix2pix.commands.help import flags_markdown, mode_flags
from pix2pix.options.record import MODES, fields

# Runs the command in-process and says whether TensorFlow got imported: "help without TensorFlow"
# is checked as a fact, not as a time.
_IN_PROCESS = """
import sys
from {module} import {function}
sys.argv = {argv!r}
try:
    status = {function}({call})
except SystemExit as exit:
    status = exit.code
print("STATUS", status, "TENSORFLOW", "tensorflow" in sys.modules)
sys.exit(status)
"""


def _fresh_run(argv, module="pix2pix.commands.main", function="main", call="sys.argv"):
    """ARGV in a fresh interpreter: (the CompletedProcess, the last line it printed: its status and
    whether TensorFlow got imported)."""
    code = _IN_PROCESS.format(module=module, function=function, argv=argv, call=call)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                            env=dict(os.environ, PYTHONPATH=REPO), cwd=REPO)
    assert "Traceback" not in result.stderr, result.stderr
    return result, result.stdout.strip().splitlines()[-1]


def _help_run(argv, **how):
    result, last = _fresh_run(argv, **how)
    return result.stdout, last


@pytest.mark.parametrize("argv", [["pix2pix", "--help"], ["pix2pix", "-h"], ["pix2pix"]])
def test_help_shows_every_mode_with_an_example_and_exits_0_without_loading_tensorflow(argv):
    out, last = _help_run(argv)
    assert last == "STATUS 0 TENSORFLOW False"
    for mode in MODES:
        assert f"pix2pix --mode {mode} " in out
        assert f"flags of --mode {mode}:" in out
    assert "exit status:" in out


def test_a_modes_help_lists_only_the_flags_that_mode_reads():
    out, last = _help_run(["pix2pix", "--mode", "infer", "--help"])
    assert last == "STATUS 0 TENSORFLOW False"
    infer_flags = {field.name for field in mode_flags("infer")}
    assert {"checkpoint", "input_dir", "output_dir", "render_size", "video_codec"} <= infer_flags
    for field in fields():
        listed = f"  --{field.name} " in out or f"  --[no]{field.name}\n" in out
        assert listed == (field.name in infer_flags), field.name
    assert "flags of --mode train" not in out


def test_pix2pix_prep_help_exits_0_and_groups_the_flags_by_operation():
    out, last = _help_run(["pix2pix-prep", "--help"], module="data_prep.cli", function="run", call="")
    assert last == "STATUS 0 TENSORFLOW False"
    assert "--operation colorize:" in out and "--crops_per_image" in out
    out, _ = _help_run(["pix2pix-prep", "--operation", "split", "--help"], module="data_prep.cli",
                       function="run", call="")
    assert "--operation split:" in out and "--operation colorize:" not in out


def test_every_option_says_which_modes_read_it():
    for field in fields():
        assert field.metadata["help"], field.name
        assert set(field.metadata["modes"]) <= set(MODES) and field.metadata["modes"], field.name


def test_docs_flags_md_is_what_the_options_say():
    with open(os.path.join(REPO, "docs", "flags.md"), encoding="utf-8") as f:
        assert f.read() == flags_markdown(), "regenerate: python -m pix2pix.commands.help > docs/flags.md"


def test_usage_errors_exit_2_before_tensorflow_and_run_failures_exit_1(tmp_path):
    out = tmp_path / "out"
    for argv, words in ((["--bogus", "1"], "bogus"),
                        (["--input_dir", tmp_path], "--mode: is required"),
                        (["--mode", "fly", "--output_dir", out], "--mode: must be one of"),
                        (["--mode", "train", "--output_dir", out, "--batch_size", "0"], "--batch_size"),
                        (["--mode", "train", "--output_dir", out, "--crop_size", "48"], "--crop_size"),
                        (["--mode", "train", "stray"], "unexpected arguments: stray")):
        result, last = _fresh_run(["pix2pix", *map(str, argv)])
        assert last == "STATUS 2 TENSORFLOW False", (argv, last)
        assert_one_line_error(result, 2, words)
    missing = run_cli("--mode", "test", "--input_dir", tmp_path / "missing", "--output_dir", out,
                      "--checkpoint", tmp_path, check=False)
    assert_one_line_error(missing, 1, "--input_dir", "does not exist")
    assert not out.exists()


def test_a_wrong_path_is_answered_before_tensorflow_loads(tmp_path):
    _, last = _help_run(["pix2pix", "--mode", "infer", "--checkpoint", str(tmp_path / "nothing"),
                         "--input_dir", str(tmp_path), "--output_dir", str(tmp_path / "out")])
    assert last == "STATUS 1 TENSORFLOW False"
