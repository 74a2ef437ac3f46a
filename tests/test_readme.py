"""What README.md shows, run as written: the "## Python API" blocks, in order, in one namespace, and the
"## Colorize your own photos" commands through the real command lines.

Only sizes and paths change, by SUBSTITUTIONS (each a literal of the README and what the test runs
instead), so the snippet keeps its calls, arguments and order; a README edit that drops one of
those literals fails the test, naming it, rather than running something else.
"""

import ast
import builtins
import os
import re
import shlex

import numpy as np

from helpers import REPO, run_cli, smooth_photo, write_ab_pairs, write_image

README = os.path.join(REPO, "README.md")


def _api_blocks():
    text = open(README, encoding="utf-8").read()
    section = re.search(r"^## Python API\n(.*?)^## ", text, re.S | re.M)
    assert section, "README.md has no '## Python API' section"
    blocks = re.findall(r"```python\n(.*?)```", section.group(1), re.S)
    assert len(blocks) == 2, "expected the API block and the plots block"
    return blocks


def _substitutions(tmp_path):
    """(README literal, replacement): tiny networks, two steps and this test's folders."""
    return [
        ("ngf=64", "ngf=8"), ("ndf=64", "ndf=8"), ("max_steps=20", "max_steps=2"),
        ('"pairs/train"', repr(str(tmp_path / "pairs"))),
        ('output_dir="run"', f"output_dir={str(tmp_path / 'run')!r}"),
        ('"run/losses.csv"', repr(str(tmp_path / "run" / "losses.csv"))),
        ('"losses.png"', repr(str(tmp_path / "losses.png"))),
    ]


def _undefined_names(blocks):
    """Names the blocks read before (or without) assigning or importing them, in order."""
    bound, missing = set(dir(builtins)), []
    for block in blocks:
        for statement in ast.parse(block).body:
            for node in ast.walk(statement):
                if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id not in bound:
                    missing.append(node.id)
            for node in ast.walk(statement):
                if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                    bound.add(node.id)
                elif isinstance(node, (ast.Import, ast.ImportFrom)):
                    bound.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
    return list(dict.fromkeys(missing))


def test_the_python_api_snippet_defines_every_name_it_uses():
    assert _undefined_names(_api_blocks()) == []


def test_the_python_api_snippet_runs_on_tiny_data(tmp_path):
    write_ab_pairs(tmp_path / "pairs", count=3)
    blocks = _api_blocks()
    for literal, replacement in _substitutions(tmp_path):
        assert any(literal in block for block in blocks), f"README.md no longer says {literal}"
        blocks = [block.replace(literal, replacement) for block in blocks]
    namespace = {}
    for block in blocks:
        exec(compile(block, "README.md", "exec"), namespace)  # noqa: S102 - our own README
    assert namespace["probabilities"].shape == (1, 30, 30, 1)  # as its comment says
    assert namespace["rgb01"].shape == (8, 8, 3)
    assert int(namespace["model"].global_step.numpy()) == 3  # two steps of train(), one of train_step
    assert {"discrim_loss", "gen_loss_GAN", "gen_loss_L1"} <= set(namespace["step_losses"])
    assert (tmp_path / "run" / "losses.csv").is_file() and (tmp_path / "losses.png").stat().st_size > 0


# What the test changes in the README's commands, and why: tiny sizes so it runs in seconds on a CPU.
TINY = {"--size 286": "--size 36", "--crops_per_image 24": "--crops_per_image 2",
        "--max_steps 20000": "--max_steps 2 --crop_size 32 --scale_size 36 --ngf 8 --ndf 8 --progress_freq 1",
        "--batch_size 4": "--batch_size 2"}


def readme_commands(section):
    """The shell commands of SECTION's first ```sh block in README.md, continuation lines joined."""
    with open(os.path.join(REPO, "README.md"), encoding="utf-8") as f:
        text = f.read()
    body = text.split(f"## {section}\n", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```sh\n(.*?)```", body, re.DOTALL).group(1)
    return [line.strip() for line in block.replace("\\\n", " ").splitlines() if line.strip()]


def test_colorize_your_own_photos_runs_as_written(tmp_path):
    rng = np.random.default_rng(4)
    for folder, count in (("colour_photos", 3), ("grey_photos", 2)):
        (tmp_path / folder).mkdir()
        for i in range(count):
            photo = smooth_photo(rng, 48 + 8 * i, 64)
            if folder == "grey_photos":
                photo = np.repeat(photo.mean(axis=2, keepdims=True).astype(np.uint8), 3, axis=2)
            write_image(tmp_path / folder / f"photo{i}.jpg", photo)
    commands = readme_commands("Colorize your own photos")
    assert [c.split()[0] for c in commands] == ["pix2pix-prep", "pix2pix", "pix2pix"]
    for command in commands:
        for written, tiny in TINY.items():
            command = command.replace(written, tiny)
        program, *arguments = shlex.split(command)
        arguments = [str(tmp_path / a) if (tmp_path / a).exists() or a in ("training_crops", "colour_model",
                                                                          "colorized") else a
                     for a in arguments]
        run_cli(*arguments, module="data_prep" if program == "pix2pix-prep" else "pix2pix", timeout=600)
    results = sorted(os.listdir(tmp_path / "colorized"))
    assert results == ["index.html", "options.json", "photo0.png", "photo1.png"]
