"""Bad inputs, re-runs, worker counts: data_prep must report, skip, never corrupt."""

import os
import re

import cv2
import numpy as np
import pytest

from helpers import (assert_clean_failure, bomb_png_bytes, exif_jpeg, palette_png_bytes, read_rgb, run_prep,
                     synthetic_photo, tree_hashes, write_image)

GOOD = ("good_a.jpg", "good_b.png", "rgba.png", "deep16.png", "palette.png", "rotated.jpg")
BAD = {  # file -> words its failure line must contain
    "empty.jpg": "empty file",
    "truncated.jpg": "truncated",
    "text.png": "not a decodable image",
    "tiny.png": "1x1",
    "bomb.png": "claims 100000x100000",
}


@pytest.fixture
def corpus(tmp_path):
    """A folder of good, convertible and broken files."""
    folder = tmp_path / "corpus"
    folder.mkdir()
    write_image(str(folder / "good_a.jpg"), synthetic_photo(48, 64, seed=1))
    write_image(str(folder / "good_b.png"), synthetic_photo(64, 48, seed=2))
    write_image(str(folder / "rgba.png"),
                        np.dstack([synthetic_photo(40, 40, seed=3), np.full((40, 40), 128, np.uint8)]))
    write_image(str(folder / "deep16.png"), synthetic_photo(40, 40, seed=4).astype(np.uint16) * 257)
    indices = np.indices((32, 32)).sum(axis=0).astype(np.uint8) % 3
    (folder / "palette.png").write_bytes(palette_png_bytes(indices, [(200, 0, 0), (0, 200, 0), (0, 0, 200)]))
    (folder / "rotated.jpg").write_bytes(exif_jpeg(synthetic_photo(32, 48, seed=5), 8))
    (folder / "empty.jpg").write_bytes(b"")
    full = (folder / "good_a.jpg").read_bytes()
    (folder / "truncated.jpg").write_bytes(full[: len(full) // 2])
    (folder / "text.png").write_text("I am a text file with a .png name\n")
    write_image(str(folder / "tiny.png"), np.zeros((1, 1, 3), np.uint8))
    (folder / "bomb.png").write_bytes(bomb_png_bytes(100_000, 100_000))
    return folder


def failure_lines(stderr):
    return [line for line in stderr.splitlines() if line.startswith("pix2pix-prep: skipped ")]


def test_bad_files_are_reported_by_name_and_the_rest_is_processed(corpus, tmp_path):
    before = tree_hashes(corpus)
    out = tmp_path / "out"
    result = run_prep("--operation", "colorize", "--input_dir", corpus, "--output_dir", out, "--size", 16)
    assert_clean_failure(result)
    assert result.returncode == 1
    assert "written %d, skipped 0, failed %d" % (len(GOOD), len(BAD)) in result.stdout
    lines = failure_lines(result.stderr)
    assert len(lines) == len(BAD), result.stderr
    for name, words in BAD.items():
        matching = [line for line in lines if (str(corpus / name) + ":") in line]
        assert len(matching) == 1 and words in matching[0], (name, result.stderr)
    assert sorted(os.listdir(out)) == sorted(os.path.splitext(name)[0] + ".png" for name in GOOD)
    for name in GOOD:
        assert read_rgb(out / (os.path.splitext(name)[0] + ".png"), exact=True).shape == (16, 32, 3)
    assert tree_hashes(corpus) == before  # inputs untouched


def test_conversions_are_correct_not_just_accepted(corpus, tmp_path):
    out = tmp_path / "out"
    run_prep("--operation", "grayscale", "--input_dir", corpus, "--output_dir", out)
    deep = synthetic_photo(40, 40, seed=4)                 # deep16.png holds these values * 257
    assert np.array_equal(read_rgb(out / "deep16.png", exact=True)[..., 0], cv2.cvtColor(deep, cv2.COLOR_RGB2GRAY))
    rgba = synthetic_photo(40, 40, seed=3)
    assert np.array_equal(read_rgb(out / "rgba.png", exact=True)[..., 0], cv2.cvtColor(rgba, cv2.COLOR_RGB2GRAY))
    assert read_rgb(out / "rotated.jpg".replace(".jpg", ".png"), exact=True).shape == (48, 32, 3)  # EXIF 8: 90 deg
    palette = read_rgb(out / "palette.png", exact=True)[..., 0]
    assert set(np.unique(palette)) == {int(round(0.299 * 200)), int(round(0.587 * 200)), int(round(0.114 * 200))}


def test_bomb_limit_is_adjustable(corpus, tmp_path):
    result = run_prep("--operation", "grayscale", "--input_dir", corpus, "--output_dir", tmp_path / "out",
                        "--max_pixels", 2000, "--min_side", 1)
    assert result.returncode == 1
    assert re.search(r"good_a\.jpg: image claims 64x48 pixels .*--max_pixels", result.stderr)
    assert (tmp_path / "out" / "tiny.png").exists()  # 1 pixel: fine with --min_side 1
    assert (tmp_path / "out" / "palette.png").exists()  # 1024 pixels, under the limit


def test_combine_mismatched_and_missing_partners(tmp_path):
    a_dir, b_dir = tmp_path / "a", tmp_path / "b"
    a_dir.mkdir()
    b_dir.mkdir()
    for name in ("match", "mismatch", "lonely"):
        write_image(str(a_dir / (name + ".png")), synthetic_photo(32, 32))
    write_image(str(b_dir / "match.jpg"), synthetic_photo(32, 32, seed=9))
    write_image(str(b_dir / "mismatch.png"), synthetic_photo(24, 32, seed=9))
    before = tree_hashes(tmp_path)
    result = run_prep("--operation", "combine", "--input_dir", a_dir, "--b_dir", b_dir,
                        "--output_dir", tmp_path / "ab")
    assert_clean_failure(result)
    lines = failure_lines(result.stderr)
    assert len(lines) == 2
    assert any("mismatch.png" in line and "32x32" in line and "32x24" in line for line in lines)
    assert any("lonely.png" in line and "no B image named lonely" in line for line in lines)
    assert os.listdir(tmp_path / "ab") == ["match.png"]
    assert {k: v for k, v in tree_hashes(tmp_path).items() if not k.startswith("ab")} == before


def test_two_inputs_with_the_same_base_name_do_not_overwrite_each_other(tmp_path):
    folder = tmp_path / "dup"
    folder.mkdir()
    write_image(str(folder / "x.jpg"), synthetic_photo(20, 20, seed=1))
    write_image(str(folder / "x.png"), synthetic_photo(20, 20, seed=2))
    result = run_prep("--operation", "resize", "--input_dir", folder, "--output_dir", tmp_path / "out",
                        "--size", 20)
    assert result.returncode == 1
    assert "x.png: same base name as" in result.stderr
    winner = cv2.cvtColor(cv2.imread(str(folder / "x.jpg")), cv2.COLOR_BGR2RGB)  # first in sorted order
    assert np.array_equal(read_rgb(tmp_path / "out" / "x.png", exact=True), winner)


def test_rerun_skips_existing_outputs_unless_overwrite(corpus, tmp_path):
    out = tmp_path / "out"
    args = ["--operation", "resize", "--input_dir", corpus, "--output_dir", out, "--size", 16]
    run_prep(*args)
    first = tree_hashes(out)
    (out / "good_a.png").write_bytes(b"stale")  # a stand-in for an output from an older run
    again = run_prep(*args)
    assert "written 0, skipped %d, failed %d" % (len(GOOD), len(BAD)) in again.stdout
    assert (out / "good_a.png").read_bytes() == b"stale"
    forced = run_prep(*(args + ["--overwrite"]))
    assert "written %d, skipped 0" % len(GOOD) in forced.stdout
    assert tree_hashes(out) == first


def test_two_workers_write_byte_identical_outputs(corpus, tmp_path):
    trees, failures = [], []
    for workers in (1, 2):
        out = tmp_path / ("w%d" % workers)
        result = run_prep("--operation", "colorize", "--input_dir", corpus, "--output_dir", out, "--size", 24,
                            "--crops_per_image", 2, "--val_frac", 0.3, "--seed", 3, "--workers", workers)
        assert result.returncode == 1 and "Traceback" not in result.stderr  # the BAD files fail either way
        trees.append(tree_hashes(out))
        failures.append(sorted(failure_lines(result.stderr)))  # printed in completion order
    assert trees[0] == trees[1]
    assert failures[0] == failures[1] and len(failures[0]) == len(BAD)
    subsets_of_photo = {}
    for path in trees[0]:  # e.g. "val/rgba_c1.png"
        subset, name = os.path.split(path)
        subsets_of_photo.setdefault(name.rsplit("_c", 1)[0], set()).add(subset)
    assert all(len(subsets) == 1 for subsets in subsets_of_photo.values())  # crops never straddle train/val
    assert len(trees[0]) == 2 * len(GOOD)
    assert not [path for path in trees[0] if os.path.basename(path).startswith(".")]  # no temp files left


def test_changed_split_assignment_is_refused_not_duplicated(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    for index in range(4):
        write_image(str(folder / ("p%d.png" % index)), synthetic_photo(20, 20, seed=index))
    out = tmp_path / "out"
    first = run_prep("--operation", "colorize", "--input_dir", folder, "--output_dir", out, "--size", 16,
                       "--val_frac", 0.5, "--seed", 1)
    assert first.returncode == 0
    moved = None
    for seed in range(2, 30):  # find a seed that assigns some photo differently
        second = run_prep("--operation", "colorize", "--input_dir", folder, "--output_dir", out, "--size", 16,
                            "--val_frac", 0.5, "--seed", seed)
        if second.returncode != 0:
            moved = second
            break
    assert moved is not None
    assert "an earlier run put its output in" in moved.stderr and "Traceback" not in moved.stderr
    names = sum((os.listdir(out / subset) for subset in ("train", "val")), [])
    assert sorted(names) == ["p%d.png" % i for i in range(4)]  # still each photo exactly once


def test_a_folder_without_images_is_an_error(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    result = run_prep("--operation", "grayscale", "--input_dir", empty, "--output_dir", tmp_path / "out")
    assert result.returncode == 1 and "no images found" in result.stderr
