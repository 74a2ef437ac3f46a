"""docs/extending.md's worked example runs as written: its code blocks, in order, in one namespace."""

import os
import re

from helpers import REPO


def test_the_worked_example_of_docs_extending_runs(restore_registries):
    text = open(os.path.join(REPO, "docs", "extending.md"), encoding="utf-8").read()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert len(blocks) == 2
    namespace = {}
    for block in blocks:
        exec(compile(block, "docs/extending.md", "exec"), namespace)  # noqa: S102 - our own docs
    from pix2pix.models.discriminators import DISCRIMINATORS
    from pix2pix.models.generators import GENERATORS
    from pix2pix.models.losses import GAN_LOSSES
    from pix2pix.data.tasks import TASKS
    assert "tiny_example" in GENERATORS and "two_layer_example" in DISCRIMINATORS
    assert "hinge_example" in GAN_LOSSES and "invert_example" in TASKS
    assert int(namespace["model"].global_step.numpy()) == 1

