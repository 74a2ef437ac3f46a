"""README.md's "## Python API" section runs as written: its code blocks, in order, in one namespace.

Only sizes and paths change, by SUBSTITUTIONS (each a literal of the README and what the test runs
instead), so the snippet keeps its calls, arguments and order; a README edit that drops one of
those literals fails the test, naming it, rather than running something else.
"""

import ast
import builtins
import os
import re

from helpers import REPO, write_ab_pairs

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
