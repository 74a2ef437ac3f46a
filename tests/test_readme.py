"""The README's "Colorize your own photos" commands, extracted from README.md and run as written, on tiny
sizes: only the sizes and the folder names are changed, by the substitutions below."""

import os
import re
import shlex

import numpy as np

from helpers import REPO, run_cli, smooth_photo, write_image

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
