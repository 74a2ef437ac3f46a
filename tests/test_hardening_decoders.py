"""Pictures too large for train, test, score and infer's pre-flight check.

Train and test check every file's size from its headers (every frame's: see the hidden-frame
bombs of tests/test_hardening_serve.py), with or without the decoding pre-flight, against
--max_pixels; score honours --max_pixels; a huge file is refused from its first bytes, not read
whole. The refusing processes' peak memory (/usr/bin/time) stays far under 1.5 GB.
"""

import sys

import numpy as np
import pytest

from helpers import TINY, bomb_png_bytes, make_run, run_measuring_peak, write_ab_pairs, write_image
from pix2pix.errors import Pix2PixError
from pix2pix.io.images import ImageError, read_image

PEAK_LIMIT_MB = 1100  # TensorFlow's import is most of it; a decoded bomb would be gigabytes


# ------------------------------------------------------------ train, test, score, infer
def peak_cli(args, tmp_path):
    """Run `python -m pix2pix ARGS`: (CompletedProcess, peak resident MB)."""
    return run_measuring_peak([sys.executable, "-m", "pix2pix", *args], tmp_path)


def folder_with_a_huge_picture(directory, huge_name="3.jpg"):
    """Two 40x80 A|B pairs (1.png, 2.png) and an 841-byte PNG claiming 24000x12000, named HUGE_NAME."""
    write_ab_pairs(directory, count=2)
    (directory / huge_name).write_bytes(bomb_png_bytes(24000, 12000))
    return directory / huge_name


def test_train_refuses_a_huge_picture_from_its_header_in_little_memory(tmp_path):
    huge = folder_with_a_huge_picture(tmp_path / "ab")
    result, peak = peak_cli(["--mode", "train", "--input_dir", tmp_path / "ab", "--output_dir", tmp_path / "run",
                             "--max_steps", 1, *TINY], tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert (f"  {huge}: image claims 24000x12000 pixels (288.0 megapixels), over the limit of 100.0 "
            "megapixels (--max_pixels)") in result.stderr.splitlines(), result.stderr
    print(f"train refused a 24000x12000 PNG; peak {peak:.0f} MB")
    assert peak < PEAK_LIMIT_MB, peak


def test_the_size_check_runs_without_the_preflight_and_skip_bad_images_leaves_it_out(tmp_path):
    from pix2pix.data.pipeline import check_images
    from pix2pix.options.record import Options
    huge = folder_with_a_huge_picture(tmp_path / "ab")
    paths = sorted(str(p) for p in (tmp_path / "ab").iterdir())
    with pytest.raises(Pix2PixError, match=r"1 of 3 images cannot be used:\n  .*3\.jpg: image claims 24000x12000"):
        check_images(paths, Options(input_dir=str(tmp_path / "ab"), skip_preflight=True))
    left = check_images(paths, Options(input_dir=str(tmp_path / "ab"), skip_bad_images=True))
    assert str(huge) not in left and len(left) == 2


def test_test_mode_honours_max_pixels(tmp_path):
    run = make_run(tmp_path / "run")
    folder = tmp_path / "ab"
    folder.mkdir()
    write_image(folder / "wide.png", np.zeros((500, 2400, 3), np.uint8))  # 1.2 megapixels
    result, peak = peak_cli(["--mode", "test", "--checkpoint", run, "--input_dir", folder, "--output_dir",
                             tmp_path / "out", "--max_pixels", 1_000_000], tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    said = result.stderr
    assert "wide.png: image is 2400x500 pixels" in said or "wide.png: image claims 2400x500" in said, said
    assert "over the limit of 1.0 megapixels (--max_pixels)" in result.stderr
    print(f"test refused a 2400x500 picture under --max_pixels 1000000; peak {peak:.0f} MB")
    assert peak < PEAK_LIMIT_MB, peak


def test_score_honours_max_pixels(tmp_path):
    from pix2pix.modes.score import _read_picture
    path = tmp_path / "a.png"
    write_image(path, np.zeros((500, 2400, 3), np.uint8))
    problems = []
    assert _read_picture(str(path), problems, 1_000_000) is None
    assert "over the limit of 1.0 megapixels (--max_pixels); not scored" in problems[0]
    assert _read_picture(str(path), [], 2_000_000).shape == (500, 2400, 3)


def test_a_3_gb_file_is_refused_without_being_read_whole(tmp_path):
    """A sparse 3 GB file: infer's pre-flight and read_image look at its first bytes only."""
    sparse = tmp_path / "huge.png"
    with open(sparse, "wb") as handle:
        handle.write(bomb_png_bytes(60000, 50000, end=False))
        handle.truncate(3 << 30)
    code = ("import sys; from pix2pix.modes.infer import check_photos; from pix2pix.errors import Pix2PixError\n"
            "try:\n    check_photos([sys.argv[1]], 1_000_000)\nexcept Pix2PixError as err:\n    print(err)\n")
    result, peak = run_measuring_peak([sys.executable, "-c", code, sparse], tmp_path)
    assert result.stdout.startswith(f"{sparse}: the image claims 60000x50000"), result.stdout + result.stderr
    print(f"infer's pre-flight refused a 3 GB file; peak {peak:.0f} MB")
    assert peak < PEAK_LIMIT_MB, peak
    with pytest.raises(ImageError, match="claims 60000x50000"):
        read_image(str(sparse))
