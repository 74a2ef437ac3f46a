"""docker/Dockerfile and docker/README.md, checked statically (no Docker engine is needed).

The image must: start from a pinned TensorFlow GPU image, install this repository with pip
and setup.py's extras exactly as the Makefile does, run `pix2pix` as a non-root user with
data and outputs on volumes, and carry no secrets. Every command in docker/README.md must
use the image name and volume paths the Dockerfile declares.
"""

import ast
import fnmatch
import os
import re
import shlex

import pytest

from helpers import REPO

DOCKERFILE = os.path.join(REPO, "docker", "Dockerfile")
DOCKER_README = os.path.join(REPO, "docker", "README.md")
DOCKERIGNORE = os.path.join(REPO, ".dockerignore")
MAKEFILE = os.path.join(REPO, "Makefile")
SETUP_PY = os.path.join(REPO, "setup.py")

IMAGE = "pix2pix-tf2"
# What `pip install "."` needs from the build context.
INSTALL_INPUTS = ("setup.py", "README.md", "pix2pix/__init__.py", "pix2pix/commands/main.py",
                  "data_prep/__init__.py", "data_prep/cli.py")


def _read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def dockerfile_instructions(text):
    """[(INSTRUCTION, arguments)] with comments dropped and continuation lines joined."""
    instructions, current = [], ""
    for line in text.splitlines():
        stripped = line.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if stripped.startswith("#"):  # a comment inside a continued instruction
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        current += stripped
        keyword, _, arguments = current.partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
        current = ""
    return instructions


def _exec_form(arguments):
    """'["a", "b"]' -> ['a', 'b']; shell form 'a b' -> ['a', 'b']."""
    arguments = arguments.strip()
    if arguments.startswith("["):
        return ast.literal_eval(arguments)
    return shlex.split(arguments)


@pytest.fixture(scope="module")
def instructions():
    return dockerfile_instructions(_read(DOCKERFILE))


def _all(instructions, keyword):
    return [arguments for name, arguments in instructions if name == keyword]


def declared_volumes(instructions):
    volumes = []
    for arguments in _all(instructions, "VOLUME"):
        volumes += _exec_form(arguments)
    return volumes


def setup_extras():
    """The extras_require keys of setup.py, read from its source (never executed)."""
    tree = ast.parse(_read(SETUP_PY))
    for node in ast.walk(tree):
        if isinstance(node, ast.keyword) and node.arg == "extras_require":
            return set(ast.literal_eval(node.value))
    raise AssertionError("setup.py has no extras_require")


# The install argument: "." with extras in brackets, e.g. ".[demo]" (quoting included, so
# the Dockerfile cannot drift to another spelling such as .[demo] or '.[demo]').
INSTALL_TARGET = re.compile(r"""(["']?)\.\[([\w,-]+)\]\1""")


def pip_install_targets(text):
    """[(quote, extras)] of every `-m pip install ... ".[extras]"` in TEXT."""
    found = []
    for line in re.findall(r"-m pip install[^\n;&|]*", text):
        found += [(m.group(1), m.group(2)) for m in INSTALL_TARGET.finditer(line)]
    return found


# ----------------------------------------------------------------------------- the Dockerfile
def test_base_image_is_a_pinned_tensorflow_gpu_release(instructions):
    bases = _all(instructions, "FROM")
    assert len(bases) == 1, bases
    image = bases[0].split()[0]
    repository, _, tag = image.partition(":")
    assert repository == "tensorflow/tensorflow"
    assert re.fullmatch(r"\d+\.\d+\.\d+-gpu", tag), f"want an explicit version tag like 2.21.0-gpu, got {image!r}"
    assert "latest" not in _read(DOCKERFILE).split("FROM", 1)[1].splitlines()[0]
    major, minor = map(int, tag.split(".")[:2])
    assert (major, minor) >= (2, 16), "setup.py needs tensorflow>=2.16"


def test_package_is_installed_from_the_repo_with_the_makefiles_pip_command(instructions):
    copies = [_exec_form(arguments) for arguments in _all(instructions, "COPY")]
    assert any(parts[0] == "." for parts in copies), "the repository is copied into the image"
    runs = " ".join(_all(instructions, "RUN"))
    docker_targets = pip_install_targets(runs)
    assert len(docker_targets) == 1, f"one pip install of the repository, got {docker_targets}"

    make_targets = pip_install_targets(_read(MAKEFILE))
    assert make_targets, "the Makefile installs with `-m pip install ... \".[extra]\"`"
    docker_quote, docker_extras = docker_targets[0]
    assert docker_quote in {quote for quote, _ in make_targets}, "same quoting as the Makefile"
    assert set(docker_extras.split(",")) <= setup_extras()
    # One dependency list: no package names given to pip besides the repository itself.
    for line in re.findall(r"pip install([^\n;&|]*)", runs):
        words = [w for w in shlex.split(line) if not w.startswith("-")]
        words = [w for w in words if not w.startswith("/tmp/")]  # a --constraint file's path
        assert words == [f".[{docker_extras}]"], f"pip installs something besides the repo: {line!r}"


def test_entrypoint_is_pix2pix(instructions):
    entrypoints = _all(instructions, "ENTRYPOINT")
    assert entrypoints and _exec_form(entrypoints[-1]) == ["pix2pix"]
    assert entrypoints[-1].startswith("["), "exec form, so pix2pix gets SIGTERM and saves a checkpoint"


def test_runs_as_a_non_root_user(instructions):
    users = _all(instructions, "USER")
    assert users, "the image sets a USER"
    final = users[-1].split(":")[0]
    assert final not in ("root", "0"), final
    keywords = [name for name, _ in instructions]
    assert keywords.index("USER") > max(i for i, k in enumerate(keywords) if k == "RUN"), \
        "USER comes after the last RUN, so nothing later runs as root"
    assert "useradd" in " ".join(_all(instructions, "RUN"))


def test_data_and_outputs_are_volumes(instructions):
    assert set(declared_volumes(instructions)) >= {"/data", "/output"}


SECRET_PATTERNS = [
    r"passw(or)?d", r"secret", r"token", r"api[_-]?key", r"access[_-]?key", r"private[_-]?key",
    r"credential", r"AKIA[0-9A-Z]{16}", r"ghp_[0-9A-Za-z]{20,}", r"-----BEGIN",
]


@pytest.mark.parametrize("path", [DOCKERFILE, DOCKER_README, DOCKERIGNORE])
def test_no_secrets(path):
    text = _read(path)
    for pattern in SECRET_PATTERNS:
        assert not re.search(pattern, text, re.IGNORECASE), f"{path} matches {pattern!r}"


def test_no_secrets_passed_through_env_or_build_args(instructions):
    for keyword in ("ENV", "ARG"):
        for arguments in _all(instructions, keyword):
            assert not re.search(r"pass|secret|token|key|auth", arguments, re.IGNORECASE), arguments


def test_dockerignore_keeps_what_pip_install_needs_and_drops_the_venv():
    patterns = [line.strip() for line in _read(DOCKERIGNORE).splitlines()
                if line.strip() and not line.startswith("#")]

    def ignored(path):
        parts = path.split("/")
        prefixes = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
        return any(fnmatch.fnmatch(prefix, pattern) for pattern in patterns for prefix in prefixes)

    for path in INSTALL_INPUTS:
        assert not ignored(path), f".dockerignore would leave {path} out of the image"
    for path in (".venv/bin/python", ".git/HEAD", "demo_output/train/checkpoint"):
        assert ignored(path), f".dockerignore should leave {path} out of the build context"


# ---------------------------------------------------------------------- docker/README.md
def readme_commands(prefix):
    """Shell commands in docker/README.md's code blocks starting with PREFIX, continuation lines joined."""
    blocks = re.findall(r"```(?:sh|bash|shell)?\n(.*?)```", _read(DOCKER_README), re.DOTALL)
    commands = []
    for block in blocks:
        for command in re.sub(r"\\\n\s*", " ", block).splitlines():
            if command.strip().startswith(prefix):
                commands.append(shlex.split(command))
    return commands


def _image_of_run(words):
    """The image argument of `docker run OPTIONS IMAGE ARGS` (options with values skipped)."""
    takes_value = {"-v", "--volume", "-p", "--publish", "--user", "-u", "--entrypoint", "--gpus",
                   "-e", "--env", "--name", "-w", "--workdir", "--mount", "--shm-size"}
    i = 2
    while i < len(words):
        word = words[i]
        if word in takes_value:
            i += 2
        elif word.startswith("-"):
            i += 1
        else:
            return word, words[i + 1:]
    raise AssertionError(f"no image in {' '.join(words)}")


def test_readme_build_command_matches_the_dockerfile():
    builds = readme_commands("docker build")
    assert builds, "docker/README.md shows how to build the image"
    for words in builds:
        assert words[words.index("-f") + 1] == "docker/Dockerfile"
        assert words[words.index("-t") + 1] == IMAGE
        assert words[-1] == ".", "built from the repository root"
    header = _read(DOCKERFILE).split("FROM", 1)[0]
    assert f"docker build -f docker/Dockerfile -t {IMAGE} ." in header


def test_readme_run_commands_use_the_image_and_its_volumes(instructions):
    volumes = declared_volumes(instructions)
    runs = readme_commands("docker run")
    assert len(runs) >= 5
    modes = set()
    for words in runs:
        image, arguments = _image_of_run(words)
        assert image == IMAGE, " ".join(words)
        mounts = [words[i + 1] for i, w in enumerate(words) if w in ("-v", "--volume")]
        targets = [mount.split(":")[1] for mount in mounts]
        assert all(target in volumes for target in targets), (targets, volumes)
        # Every container path a flag names lies on a mounted volume.
        for argument in arguments:
            if argument.startswith("/") and not argument.startswith("/dev"):
                root = "/" + argument.split("/")[1]
                assert root in targets, f"{argument} is not on a mounted volume: {' '.join(words)}"
        if "--mode" in arguments:
            mode = arguments[arguments.index("--mode") + 1]
            modes.add(mode)
            gpus = words[words.index("--gpus") + 1] if "--gpus" in words else None
            assert gpus == "all", f"--mode {mode} should run on the GPU: {' '.join(words)}"
    assert {"train", "test", "export"} <= modes


def test_readme_shows_tensorboard_on_port_6006(instructions):
    boards = [w for w in readme_commands("docker run") if "tensorboard" in w]
    assert boards
    for words in boards:
        assert words[words.index("--entrypoint") + 1] == "tensorboard"
        assert "6006:6006" in words
        _, arguments = _image_of_run(words)
        assert "--logdir" in arguments and "--bind_all" in arguments
    assert "6006" in _all(instructions, "EXPOSE")
