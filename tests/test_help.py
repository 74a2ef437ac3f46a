"""`pix2pix --help` and the exit statuses the help documents: help without TensorFlow, flags grouped by
the mode that reads them, usage errors (2) apart from run failures (1), and docs/flags.md kept current."""

import json
import os
import subprocess
import sys

import pytest

from helpers import REPO, TESTS, assert_one_line_error, run_cli
from pix2pix import modes
from pix2pix.commands.help import COMMON_FLAGS, flags_markdown, mode_flags
from pix2pix.options.record import fields

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


def _fresh_run(argv, module="pix2pix.commands.main", function="main", call="sys.argv", before=""):
    """ARGV run by MODULE.FUNCTION in a fresh interpreter (BEFORE run first); the CompletedProcess,
    whose last stdout line is "STATUS <exit status> TENSORFLOW <whether it was imported>"."""
    code = before + _IN_PROCESS.format(module=module, function=function, argv=[str(a) for a in argv], call=call)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                            env=dict(os.environ, PYTHONPATH=REPO), cwd=REPO)
    assert "Traceback" not in result.stderr, result.stderr
    return result


def _help_run(argv, **where):
    result = _fresh_run(argv, **where)
    return result.stdout, result.stdout.strip().splitlines()[-1]


@pytest.mark.parametrize("argv", [["pix2pix", "--help"], ["pix2pix", "-h"], ["pix2pix"]])
def test_help_is_one_screen_of_modes_examples_and_common_flags_without_loading_tensorflow(argv):
    out, last = _help_run(argv)
    assert last == "STATUS 0 TENSORFLOW False"
    text = out[:out.rindex("STATUS")]
    assert len(text.splitlines()) <= 100, len(text.splitlines())
    for mode in modes.all_modes():
        assert f"  {mode.name:7} {mode.purpose}\n" in text and mode.example.startswith(f"pix2pix --mode {mode.name} ")
        assert mode.example in text
    for name in COMMON_FLAGS:
        assert f"  --{name} " in text or f"  --[no]{name}\n" in text, name
    assert "flags of --mode" not in text  # those are --helpfull's and --mode MODE --help's
    assert "pix2pix --helpfull" in text and "pix2pix --mode MODE --help" in text and "exit status:" in text


def test_helpfull_lists_every_flag_under_the_modes_that_read_it():
    out, last = _help_run(["pix2pix", "--helpfull"])
    assert last == "STATUS 0 TENSORFLOW False"
    for mode in modes.all_modes():
        assert f"flags of --mode {mode.name}:" in out
    for field in fields():
        if field.name != "mode":
            assert f"  --{field.name} " in out or f"  --[no]{field.name}\n" in out, field.name
    for alias in ("no_flip", "load_size"):
        assert f"also --{alias}" in out


def test_a_modes_help_lists_only_the_flags_that_mode_reads():
    out, last = _help_run(["pix2pix", "--mode", "infer", "--help"])
    assert last == "STATUS 0 TENSORFLOW False"
    infer_flags = {field.name for field in mode_flags("infer")}
    assert {"checkpoint", "input_dir", "output_dir", "render_size", "video_codec", "verbose"} <= infer_flags
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
        assert set(field.metadata["modes"]) <= {*modes.names(), "*"} and field.metadata["modes"], field.name


def test_docs_flags_md_is_what_the_options_say():
    with open(os.path.join(REPO, "docs", "flags.md"), encoding="utf-8") as f:
        assert f.read() == flags_markdown(), "regenerate: python -m pix2pix.commands.help > docs/flags.md"


def _fresh_error(argv, program="pix2pix", **where):
    """The exit status and the one error line of ARGV, run in a fresh interpreter, which must not
    have imported TensorFlow."""
    result = _fresh_run(argv, **where)
    status, tensorflow = result.stdout.split()[-3], result.stdout.split()[-1]
    assert tensorflow == "False", argv
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"{program}: error: "), result.stderr
    return int(status), lines[0][len(f"{program}: error: "):]


# Many commands in one fresh interpreter, one after another through helpers.main_in_process (each
# one's flags parsed afresh): its exit status, its error output and whether TensorFlow had been
# imported by then. TensorFlow, once imported, stays: the first command that imports it is caught.
_ONE_AFTER_ANOTHER = """
import json, sys
from helpers import main_in_process
from pix2pix.commands.main import main
answers = []
for argv in {argvs!r}:
    result = main_in_process(main, argv)
    answers.append([result.returncode, result.stderr, "tensorflow" in sys.modules])
print(json.dumps(answers))
"""


def _fresh_errors(argvs):
    """[(exit status, the one error line)] of `pix2pix` ARGVS, run one after another in a fresh
    interpreter (one interpreter's start-up for them all), none of which may import TensorFlow."""
    code = _ONE_AFTER_ANOTHER.format(argvs=[["pix2pix", *map(str, argv)] for argv in argvs])
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                            env=dict(os.environ, PYTHONPATH=os.pathsep.join([REPO, TESTS])), cwd=REPO)
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    answers = json.loads(result.stdout.strip().splitlines()[-1])
    assert len(answers) == len(argvs)
    errors = []
    for argv, (status, stderr, tensorflow) in zip(argvs, answers):
        assert not tensorflow, argv
        lines = [line for line in stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("pix2pix: error: "), (argv, stderr)
        errors.append((status, lines[0][len("pix2pix: error: "):]))
    return errors


def test_a_command_line_that_cannot_work_exits_2_before_tensorflow_loads(tmp_path):
    out, folder, a_file = tmp_path / "out", tmp_path / "photos", tmp_path / "a_file"
    folder.mkdir()
    a_file.write_text("not a folder")
    commands = (
            (["--bogus", "1"], "bogus"),
            (["--input_dir", folder], "--mode: is required"),
            (["--mode", "fly", "--output_dir", out], "--mode: must be one of train, test, export"),
            (["--mode", "trian", "--input_dir", folder], "got 'trian' (did you mean 'train'?)"),
            (["--mode", "infr", "--help"], "got 'infr' (did you mean 'infer'?)"),
            (["--mode", "train", "--output_dir", out, "--batch_size", "0", "--max_steps", 1], "--batch_size"),
            (["--mode", "train", "--output_dir", out, "--crop_size", "48"], "--crop_size"),
            (["--mode", "train", "stray"], "unexpected arguments: stray"),
            (["--mode", "train", "--output_dir", out, "--max_steps", 1],
             "--input_dir: is required for --mode train (the folder of training images)"),
            (["--mode", "train", "--input_dir", folder, "--max_steps", 1], "--output_dir: is required"),
            (["--mode", "train", "--input_dir", folder, "--output_dir", a_file, "--max_steps", 1],
             f"--output_dir: {a_file} exists and is not a directory"),
            (["--mode", "test", "--input_dir", tmp_path / "missing", "--output_dir", out, "--checkpoint", tmp_path],
             f"--input_dir: {tmp_path / 'missing'} does not exist or is not a directory"),
            (["--mode", "infer", "--checkpoint", tmp_path / "nothing", "--input_dir", folder, "--output_dir", out],
             f"--checkpoint: {tmp_path / 'nothing'} does not exist"),
            (["--mode", "test", "--input_dir", folder, "--output_dir", out], "--checkpoint: is required"),
            (["--mode", "score", "--input_dir", folder, "--output_dir", out], "--target_dir: is required"),
            (["--mode", "serve"], "--checkpoint: is required for --mode serve"),
            (["--mode", "import", "--checkpoint", folder], "--output_dir: is required for --mode import"),
            (["--mode", "export", "--checkpoint", folder, "--output_dir", out, "--quantize", "int8"],
             "--quantize: int8 applies to --format tflite or web, not savedmodel"))
    for (argv, said), (status, line) in zip(commands, _fresh_errors([argv for argv, _ in commands])):
        assert status == 2 and said in line, (argv, line)
    assert not out.exists()


def test_a_run_that_fails_exits_1(tmp_path, ab_dir):
    """A checkpoint folder that is no training directory: found when it is read."""
    result = run_cli("--mode", "test", "--input_dir", ab_dir, "--output_dir", tmp_path / "out",
                     "--checkpoint", ab_dir, check=False)
    assert_one_line_error(result, 1, "--checkpoint:", "holds no options.json")
    assert not (tmp_path / "out").exists()


def test_pix2pix_prep_has_the_same_rule_and_did_you_mean(tmp_path):
    def prep(*argv):
        return _fresh_error(["pix2pix-prep", *argv], module="data_prep.cli", function="run", call="",
                            program="pix2pix-prep")

    a_file = tmp_path / "a_file"
    a_file.write_text("not a folder")
    status, line = prep("--operation", "colourize", "--input_dir", tmp_path, "--output_dir", tmp_path / "o")
    assert status == 2 and line.endswith("got 'colourize' (did you mean 'colorize'?)")
    status, line = prep("--operation", "splt", "--help")
    assert status == 2 and line.endswith("got 'splt' (did you mean 'split'?)")
    status, line = prep("--operation", "resize", "--output_dir", tmp_path / "o")
    assert status == 2 and "--input_dir is required" in line
    status, line = prep("--operation", "resize", "--input_dir", tmp_path, "--output_dir", a_file)
    assert status == 2 and "--output_dir" in line and str(a_file) in line


HELLO_MODE = '''"""--mode hello: a mode written in one file."""
import os

from pix2pix.modes import Mode, register


def run(options, explicit):
    os.makedirs(options.output_dir)
    with open(os.path.join(options.output_dir, "hello.txt"), "w") as f:
        f.write(f"hello {os.path.basename(options.input_dir)} seed {options.seed} given {sorted(explicit)}")
    return 3


MODE = register(Mode(name="hello", purpose="say hello to a folder",
                     example="pix2pix --mode hello --input_dir photos --output_dir greeted",
                     needs={"input_dir": "the folder to greet", "output_dir": "where hello.txt goes"},
                     folders=("input_dir",), flags=("input_dir", "output_dir", "seed"), run=run))
'''


def test_a_mode_added_in_one_file_is_in_the_help_and_runs(tmp_path):
    (tmp_path / "hello_mode.py").write_text(HELLO_MODE)
    photos, out = tmp_path / "photos", tmp_path / "out"
    photos.mkdir()

    def hello(*argv):
        result = _fresh_run(["pix2pix", *argv],
                            before=f"import sys; sys.path.insert(0, {str(tmp_path)!r}); import hello_mode\n")
        return result.stdout, result.stdout.strip().splitlines()[-1], result.stderr

    text, last, _ = hello("--help")
    assert last == "STATUS 0 TENSORFLOW False"
    assert "  hello   say hello to a folder\n" in text
    assert "pix2pix --mode hello --input_dir photos --output_dir greeted" in text
    text, last, _ = hello("--mode", "hello", "--help")
    assert last == "STATUS 0 TENSORFLOW False" and text.startswith("pix2pix --mode hello: say hello to a folder")
    assert "  --seed SEED" in text and "  --[no]verbose" in text and "--render_size" not in text
    text, last, _ = hello("--helpfull")
    assert "flags of --mode hello:" in text

    _, last, _ = hello("--mode", "hello", "--input_dir", photos, "--output_dir", out, "--seed", 7)
    assert last == "STATUS 3 TENSORFLOW False"
    assert (out / "hello.txt").read_text() == "hello photos seed 7 given ['input_dir', 'mode', 'output_dir', 'seed']"
    _, last, stderr = hello("--mode", "hello", "--output_dir", tmp_path / "again")
    assert last == "STATUS 2 TENSORFLOW False"
    assert stderr == "pix2pix: error: --input_dir: is required for --mode hello (the folder to greet)\n"
    _, last, stderr = hello("--mode", "helo", "--input_dir", photos)
    assert last == "STATUS 2 TENSORFLOW False" and "(did you mean 'hello'?)" in stderr


def test_the_modes_are_their_catalog_modules():
    catalog = os.path.join(REPO, "pix2pix", "modes", "catalog")
    files = sorted(name for name in os.listdir(catalog) if name.endswith(".py") and name != "__init__.py")
    assert len(files) == len(modes.all_modes()) == 7
    assert modes.names() == ["train", "test", "export", "infer", "import", "score", "serve"]
    with pytest.raises(ValueError, match="--mode train is already defined"):
        modes.register(modes.named("train"))
