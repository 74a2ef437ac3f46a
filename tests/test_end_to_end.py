"""Photos folder -> data_prep colorize -> pix2pix train -> test, all through the two commands."""

import json

import cv2
import numpy as np
import pytest

from helpers import TINY, read_rgb, run_cli, smooth_photo, write_image


@pytest.fixture
def photos(tmp_path):
    directory = tmp_path / "photos"
    directory.mkdir()
    rng = np.random.default_rng(7)
    for i in range(8):
        write_image(directory / f"holiday_{i}.jpg", smooth_photo(rng, 60 + 4 * i, 80))
    return directory


def test_colorize_pairs_then_train_and_test(tmp_path, photos):
    pairs = tmp_path / "pairs"
    run_cli("--operation", "colorize", "--input_dir", photos, "--output_dir", pairs, "--size", 36,
            "--val_frac", 0.25, "--seed", 1, module="data_prep")
    train_files = sorted(p.name for p in (pairs / "train").iterdir())
    val_files = sorted(p.name for p in (pairs / "val").iterdir())
    assert len(train_files) == 6 and len(val_files) == 2
    pair = read_rgb(pairs / "train" / train_files[0])
    assert pair.shape == (36, 72, 3)
    assert np.array_equal(pair[:, :36, 0], pair[:, :36, 2])  # A is grey

    out = tmp_path / "train"
    run_cli("--mode", "train", "--input_dir", pairs / "train", "--output_dir", out, "--max_steps", 3, *TINY)
    assert json.loads((out / "options.json").read_text())["crop_size"] == 32
    run_cli("--mode", "test", "--input_dir", pairs / "val", "--output_dir", tmp_path / "test", "--checkpoint", out)
    names = [f.rsplit(".", 1)[0] for f in val_files]
    page = (tmp_path / "test" / "index.html").read_text()
    assert all(f"images/{n}-outputs.png" in page for n in names)


def test_colorize_singles_train_lab_with_random_crops(tmp_path, photos):
    singles = tmp_path / "singles"
    run_cli("--operation", "colorize", "--singles", "--crops_per_image", 3, "--input_dir", photos,
            "--output_dir", singles, "--size", 36, "--val_frac", 0.25, "--seed", 2, module="data_prep")
    crops = list((singles / "train").iterdir())
    assert len(crops) == 6 * 3 and cv2.imread(str(crops[0])).shape == (36, 36, 3)
    out = tmp_path / "train"
    run_cli("--mode", "train", "--lab_colorization", "--input_dir", singles / "train", "--output_dir", out,
            "--max_steps", 2, *TINY)
    run_cli("--mode", "test", "--input_dir", singles / "val", "--output_dir", tmp_path / "test",
            "--checkpoint", out)
    assert len(list((tmp_path / "test" / "images").glob("*-outputs.png"))) == 2 * 3
