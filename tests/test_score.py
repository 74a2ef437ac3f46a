"""`pix2pix --mode score` on real folders: matching by stem, problems named, sizes.

(Scoring test mode's own images/ folder and FID through the CLI are in test_metrics.py, next to
the trained model and the InceptionV3 weights file.)
"""

import csv
import dataclasses
import json

import cv2
import numpy as np
import pytest

from helpers import run_cli, smooth_photo, write_image
from pix2pix import metrics
from pix2pix.errors import Pix2PixError
from pix2pix.options.record import Options
from pix2pix.modes.score import match_folders, score_mode


def _csv(path):
    with open(path, newline="", encoding="utf-8") as f:
        return {row.pop("name"): {k: float(v) for k, v in row.items()} for row in csv.DictReader(f)}


@pytest.fixture
def folders(tmp_path):
    """pred/ and target/ with three good pairs (names 1, 2, 10), as PNG and JPEG."""
    rng = np.random.default_rng(7)
    pred, target = tmp_path / "pred", tmp_path / "target"
    pred.mkdir()
    target.mkdir()
    pictures = {}
    for name in ("1", "2", "10"):
        truth = smooth_photo(rng, 24, 32)
        guess = np.clip(truth.astype(int) + rng.integers(-30, 30, truth.shape), 0, 255).astype(np.uint8)
        write_image(pred / f"{name}.png", guess)
        write_image(target / f"{name}.png", truth)
        pictures[name] = (guess, truth)
    return pred, target, pictures


def test_score_two_folders(folders, tmp_path):
    pred, target, pictures = folders
    out = tmp_path / "out"
    result = run_cli("--mode", "score", "--input_dir", pred, "--target_dir", target, "--output_dir", out)
    rows = _csv(out / "metrics.csv")
    assert list(rows) == ["1", "2", "10"]  # numeric names in numeric order, as everywhere in pix2pix
    for name, (guess, truth) in pictures.items():
        assert rows[name] == pytest.approx(metrics.score_pair(guess, truth), rel=1e-12)
    summary = json.loads((out / "metrics.json").read_text())
    assert summary["count"] == 3 and set(summary["definitions"]) >= set(metrics.COLUMNS)
    page = (out / "index.html").read_text()
    assert "<th>name</th><th>output</th><th>target</th><th>l1</th>" in page
    assert "<img src='../pred/10.png'></td><td><img src='../target/10.png'>" in page
    assert "mean of 3" in page and "metrics (means of 3 images)" in result.stdout
    assert "resized" not in result.stdout


def test_problems_are_named_the_rest_scored_and_the_status_is_1(folders, tmp_path):
    pred, target, pictures = folders
    rng = np.random.default_rng(8)
    big_guess = smooth_photo(rng, 48, 64)  # twice its target's size: area-averaged down
    write_image(pred / "big.png", big_guess)
    write_image(target / "big.png", pictures["1"][1])
    write_image(pred / "extra.png", pictures["1"][0])  # no target
    write_image(target / "lonely.jpg", pictures["2"][1])  # no prediction
    (pred / "broken.png").write_text("this is not a PNG")
    write_image(target / "broken.png", pictures["2"][1])
    write_image(pred / "twice.png", pictures["2"][0])  # two predictions of one name
    write_image(pred / "twice.jpg", pictures["2"][0])
    write_image(target / "twice.png", pictures["2"][1])
    (pred / "notes.txt").write_text("not a picture: ignored")
    before = sorted(p.name for p in pred.iterdir())

    out = tmp_path / "out"
    result = run_cli("--mode", "score", "--input_dir", pred, "--target_dir", target, "--output_dir", out,
                     check=False)
    assert result.returncode == 1, result.stderr
    assert "extra" in result.stderr and "lonely" in result.stderr
    assert f"{pred / 'broken.png'}: " in result.stderr
    assert "'twice' is given by 2 files" in result.stderr
    assert "pix2pix: error: 4 problem(s), listed above; the 4 pair(s) that could be scored" in result.stderr
    assert "Traceback" not in result.stderr
    assert f"resized {pred / 'big.png'} from 64x48 to its target's 32x24 (area averaging)" in result.stdout

    rows = _csv(out / "metrics.csv")
    assert list(rows) == ["1", "10", "2", "big"]  # not all numeric: by name
    shrunk = cv2.resize(big_guess, (32, 24), interpolation=cv2.INTER_AREA)
    assert rows["big"] == pytest.approx(metrics.score_pair(shrunk, pictures["1"][1]), rel=1e-12)
    assert sorted(p.name for p in pred.iterdir()) == before  # inputs untouched


def test_suffixes_select_and_strip(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    rng = np.random.default_rng(9)
    for name in ("a", "b"):
        for kind in ("inputs", "outputs", "targets"):
            write_image(images / f"{name}-{kind}.png", smooth_photo(rng, 16, 16))
    matching = match_folders(str(images), str(images), "-outputs", "-targets")
    assert [(n, p.rsplit("/", 1)[1], t.rsplit("/", 1)[1]) for n, p, t in matching.pairs] == [
        ("a", "a-outputs.png", "a-targets.png"), ("b", "b-outputs.png", "b-targets.png")]
    assert matching.problems == []
    without = match_folders(str(images), str(images))  # every file is its own pair
    assert len(without.pairs) == 6 and without.problems == []


def _options(tmp_path, **values):
    return dataclasses.replace(Options(mode="score", output_dir=str(tmp_path / "out")), **values)


def test_nothing_to_score_is_an_error_and_writes_nothing(folders, tmp_path):
    pred, _, _ = folders
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    write_image(elsewhere / "unrelated.png", np.zeros([16, 16, 3], np.uint8))
    with pytest.raises(Pix2PixError, match="no prediction has a target of the same name"):
        score_mode(_options(tmp_path, input_dir=str(pred), target_dir=str(elsewhere)))
    with pytest.raises(Pix2PixError, match="--target_dir: is required"):
        score_mode(_options(tmp_path, input_dir=str(pred)))
    with pytest.raises(Pix2PixError, match="--input_dir: .*nowhere does not exist"):
        score_mode(_options(tmp_path, input_dir=str(tmp_path / "nowhere"), target_dir=str(pred)))
    with pytest.raises(Pix2PixError, match="--fid_weights: .*absent.weights.h5 is not a file"):
        score_mode(_options(tmp_path, input_dir=str(pred), target_dir=str(pred),
                            fid_weights=str(tmp_path / "absent.weights.h5")))
    assert not (tmp_path / "out").exists()
