"""pix2pix.reporting.metrics against scikit-image and hand-checked cases, and test mode's metrics files.

The tiny models trained once per test run (conftest's trained_pairs and trained_lab) are tested
through the CLI; the saved PNGs are re-scored with scikit-image (a test-only dependency) and with --mode score.
"""

import csv
import json
import math
import subprocess
import sys

import numpy as np
import pytest
import scipy.linalg
from skimage.color import deltaE_ciede2000, rgb2lab
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from helpers import REPO, read_rgb, run_cli, smooth_photo, write_image
from pix2pix import metrics
from pix2pix.reporting import fid
from pix2pix.errors import Pix2PixError

# Its module-scoped fixtures are built once: all its tests run on one xdist worker (pytest.ini).
pytestmark = pytest.mark.xdist_group("metrics")

RELATIVE = 1e-3


def _csv_rows(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def tested(tmp_path_factory, trained_pairs):
    """Test mode of a tiny pair model (trained 2 steps) over five A|B pairs of unrelated halves."""
    root = tmp_path_factory.mktemp("metrics_run")
    rng = np.random.default_rng(3)
    pairs = root / "pairs"
    pairs.mkdir()
    for i in range(1, 6):
        a = smooth_photo(rng, 40, 40)
        write_image(pairs / f"{i}.png", np.concatenate([a, smooth_photo(rng, 40, 40)], axis=1))
    test = root / "test"
    result = run_cli("--mode", "test", "--input_dir", pairs, "--output_dir", test, "--checkpoint", trained_pairs)
    return test, result


# ------------------------------------------------------------------ test mode, real outputs
def test_test_mode_figures_agree_with_scikit_image(tested):
    test, _ = tested
    rows = _csv_rows(test / "metrics.csv")
    assert [row["name"] for row in rows] == ["1", "2", "3", "4", "5"]
    for row in rows:
        output = read_rgb(test / "images" / f"{row['name']}-outputs.png")
        target = read_rgb(test / "images" / f"{row['name']}-targets.png")
        expected = {
            "psnr": peak_signal_noise_ratio(target, output, data_range=255),
            "ssim": structural_similarity(output, target, channel_axis=2, data_range=255, gaussian_weights=True,
                                          sigma=1.5, use_sample_covariance=False),
            "delta_e2000": deltaE_ciede2000(rgb2lab(output), rgb2lab(target)).mean(),
            "ab_mae": np.abs(rgb2lab(output)[..., 1:] - rgb2lab(target)[..., 1:]).mean(),
            "l1": np.abs(output.astype(float) - target.astype(float)).mean(),
        }
        for column, value in expected.items():
            assert float(row[column]) == pytest.approx(value, rel=RELATIVE), (row["name"], column)
        assert float(row["colourfulness_target"]) == metrics.colourfulness(target)
        assert float(row["colourfulness_output"]) == metrics.colourfulness(output)
        assert 0 < float(row["ssim"]) < 1 and float(row["delta_e2000"]) > 1  # a 2-step model is far off


def test_test_mode_writes_summary_index_and_means(tested):
    test, result = tested
    lines = (test / "metrics.csv").read_text().splitlines()
    assert lines[0] == "name,l1,psnr,ssim,delta_e2000,ab_mae,colourfulness_output,colourfulness_target"
    rows = _csv_rows(test / "metrics.csv")
    summary = json.loads((test / "metrics.json").read_text())
    assert summary["count"] == 5
    for column in metrics.COLUMNS:
        assert summary["means"][column] == pytest.approx(np.mean([float(r[column]) for r in rows]), rel=1e-12)
        assert column in summary["definitions"]
    assert summary["colourfulness_ratio"] == pytest.approx(
        summary["means"]["colourfulness_output"] / summary["means"]["colourfulness_target"])
    assert "fid" not in summary  # only with --fid_weights
    assert "baselines" not in summary  # an A|B pair's input is no prediction of its target
    page = (test / "index.html").read_text()
    assert ("<th>name</th><th>input</th><th>output</th><th>target</th><th>l1</th><th>psnr</th><th>ssim</th>"
            "<th>delta_e2000</th><th>ab_mae</th><th>colourfulness_output</th><th>colourfulness_target</th>") in page
    assert f"<td>{float(rows[0]['ssim']):.4f}</td>" in page
    assert (f"<tr class='summary'><td>mean of 5</td><td></td><td></td><td></td>"
            f"<td>{summary['means']['l1']:.2f}</td>") in page
    assert f"metrics (means of 5 images): l1 {summary['means']['l1']:.2f}  psnr" in result.stdout
    assert (test / "results.png").is_file()


def test_score_of_test_modes_images_folder_matches_its_metrics(tested, tmp_path):
    test, _ = tested
    out = tmp_path / "score"
    result = run_cli("--mode", "score", "--input_dir", test / "images", "--target_dir", test / "images",
                     "--pred_suffix", "-outputs", "--target_suffix", "-targets", "--output_dir", out)
    assert (out / "metrics.csv").read_text() == (test / "metrics.csv").read_text()  # the same figures, exactly
    scored, tested_summary = (json.loads((d / "metrics.json").read_text()) for d in (out, test))
    assert scored["means"] == tested_summary["means"] and scored["count"] == 5
    assert "resized" not in result.stdout  # -inputs files are left out, not reported
    assert "<img src='../" in (out / "index.html").read_text()


def test_colorization_test_mode_scores_the_grey_input_as_a_baseline(photo_dir, tmp_path, trained_lab):
    test = tmp_path / "test"
    result = run_cli("--mode", "test", "--input_dir", photo_dir, "--output_dir", test, "--checkpoint", trained_lab)
    summary = json.loads((test / "metrics.json").read_text())
    grey = summary["baselines"]["grey"]
    assert "the input's lightness as a grey RGB picture" in grey["definition"]
    by_hand = [metrics.score_pair(read_rgb(test / "images" / f"photo{i}-inputs.png"),
                                  read_rgb(test / "images" / f"photo{i}-targets.png")) for i in range(4)]
    for column in metrics.COLUMNS:
        assert grey["means"][column] == pytest.approx(np.mean([row[column] for row in by_hand]), rel=1e-9)
    assert grey["means"]["colourfulness_output"] < 1.0  # grey has (almost) no colour
    assert grey["colourfulness_ratio"] < 0.05
    lines = result.stdout.splitlines()
    baseline = next(i for i, line in enumerate(lines) if line.startswith("grey baseline (means of 4 images): "))
    assert f"l1 {grey['means']['l1']:.2f}" in lines[baseline]
    assert lines[baseline + 1].startswith("how to read: PSNR and SSIM favour the grey input")  # right under it


# ------------------------------------------------------------------ hand-checked cases
def test_identical_pictures():
    picture = smooth_photo(np.random.default_rng(0), 24, 30)
    figures = metrics.score_pair(picture, picture)
    assert list(figures) == list(metrics.COLUMNS)
    assert figures["l1"] == 0 and figures["psnr"] == 100 and figures["ssim"] == pytest.approx(1, abs=1e-12)
    assert figures["delta_e2000"] == 0 and figures["ab_mae"] == 0
    assert figures["colourfulness_output"] == figures["colourfulness_target"] > 0


def test_uniform_pictures_by_hand():
    dark, light = np.full([16, 16, 3], 100, np.uint8), np.full([16, 16, 3], 120, np.uint8)
    assert metrics.l1(dark, light) == 20
    assert metrics.psnr(dark, light) == pytest.approx(10 * math.log10(255 ** 2 / 400))
    c1 = (0.01 * 255) ** 2  # no variance: SSIM is the luminance term alone
    assert metrics.ssim(dark, light) == pytest.approx((2 * 100 * 120 + c1) / (100 ** 2 + 120 ** 2 + c1))
    assert metrics.colourfulness(dark) == 0 and metrics.ab_mae(dark, light) == pytest.approx(0, abs=1e-9)
    assert metrics.delta_e2000(dark, light) > 0


def test_psnr_is_capped_at_100_db():
    target = np.zeros([256, 256, 3], np.uint8)
    nearly = target.copy()
    nearly[0, 0, 0] = 1  # 10*log10(255^2 * 196608) = 101.07 dB
    assert peak_signal_noise_ratio(target, nearly, data_range=255) > 101
    assert metrics.psnr(nearly, target) == 100.0
    nearly[:2, :2] = 1  # 12 values off by one: 90.3 dB, under the cap
    assert metrics.psnr(nearly, target) == pytest.approx(10 * math.log10(255 ** 2 * 196608 / 12))


def test_lab_of_white_and_black():
    lab = metrics.srgb_to_lab(np.array([[255, 255, 255], [0, 0, 0]], np.uint8))
    assert lab == pytest.approx(np.array([[100, 0, 0], [0, 0, 0]]), abs=1e-9)


# Sharma, Wu & Dalal (2005), "The CIEDE2000 color-difference formula", Table 1: a selection.
SHARMA_PAIRS = [
    ((50.0, 2.6772, -79.7751), (50.0, 0.0, -82.7485), 2.0425),
    ((50.0, -1.3802, -84.2814), (50.0, 0.0, -82.7485), 1.0000),
    ((50.0, 0.0, 0.0), (50.0, -1.0, 2.0), 2.3669),
    ((50.0, 2.49, -0.001), (50.0, -2.49, 0.0009), 7.1792),
    ((50.0, 2.49, -0.001), (50.0, -2.49, 0.0011), 7.2195),
    ((50.0, 2.5, 0.0), (50.0, 0.0, -2.5), 4.3065),
    ((60.2574, -34.0099, 36.2677), (60.4626, -34.1751, 39.4387), 1.2644),
    ((22.7233, 20.0904, -46.6940), (23.0331, 14.9730, -42.5619), 2.0373),
    ((90.9257, -0.5406, -0.9208), (88.6381, -0.8985, -0.7239), 1.5381),
    ((2.0776, 0.0795, -1.1350), (0.9033, -0.0636, -0.5514), 0.9082),
]


def test_ciede2000_matches_sharmas_table_both_ways():
    first, second, expected = (np.array(column) for column in zip(*SHARMA_PAIRS))
    assert metrics.ciede2000(first, second) == pytest.approx(expected, abs=1e-4)
    assert metrics.ciede2000(second, first) == pytest.approx(expected, abs=1e-4)


def test_summary_ratio_is_none_for_grey_targets():
    grey = np.full([12, 12, 3], 128, np.uint8)
    colour = smooth_photo(np.random.default_rng(1), 12, 12)
    summary = metrics.summarize([metrics.score_pair(colour, grey)])
    assert summary["count"] == 1 and summary["colourfulness_ratio"] is None
    assert summary["means"]["colourfulness_target"] == 0
    assert metrics.summarize([])["means"]["l1"] is None


def test_bad_shapes_are_refused():
    with pytest.raises(ValueError, match="differ in size"):
        metrics.score_pair(np.zeros([16, 16, 3]), np.zeros([16, 17, 3]))
    with pytest.raises(ValueError, match="RGB array"):
        metrics.l1(np.zeros([16, 16]), np.zeros([16, 16]))
    with pytest.raises(ValueError, match="at least 11x11"):
        metrics.ssim(np.zeros([10, 16, 3]), np.zeros([10, 16, 3]))


def test_importing_metrics_loads_no_tensorflow():
    code = "import sys, pix2pix.reporting.metrics; assert 'tensorflow' not in sys.modules, 'TF loaded'"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO, env={"PYTHONPATH": REPO}, timeout=120)


# ------------------------------------------------------------------ FID
def _reference_fid(a, b):
    """The textbook formula with scipy's sqrtm."""
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root = scipy.linalg.sqrtm(cov_a @ cov_b).real
    return np.sum((a.mean(0) - b.mean(0)) ** 2) + np.trace(cov_a + cov_b - 2 * root)


@pytest.mark.parametrize("images, dims", [(12, 40), (300, 20)])  # fewer and more images than dimensions
def test_frechet_distance_matches_the_textbook_formula(images, dims):
    rng = np.random.default_rng(images)
    a = rng.normal(size=[images, dims])
    b = rng.normal(size=[images, dims]) @ rng.normal(size=[dims, dims]) * 0.3 + 0.5
    assert fid.frechet_distance(a, b) == pytest.approx(_reference_fid(a, b), rel=1e-6)
    assert fid.frechet_distance(a, b) == pytest.approx(fid.frechet_distance(b, a), rel=1e-12)
    assert fid.frechet_distance(a, a) == pytest.approx(0, abs=1e-9)


@pytest.fixture(scope="module")
def inception_weights(tmp_path_factory):
    """A randomly initialised InceptionV3 (no top, average pool), saved as a weights file."""
    import tensorflow as tf

    path = tmp_path_factory.mktemp("inception") / "random_inception.weights.h5"
    tf.keras.utils.set_random_seed(0)
    model = tf.keras.applications.InceptionV3(include_top=False, pooling="avg", weights=None)
    model.save_weights(str(path))
    return path


def test_fid_of_inception_features(inception_weights):
    rng = np.random.default_rng(5)
    set_a = [smooth_photo(rng, 75, 75) for _ in range(4)]
    set_b = [255 - smooth_photo(rng, 80, 96) for _ in range(4)]  # any size: resized to 299x299
    network = fid.InceptionFeatures(str(inception_weights))
    features_a, features_b = network(set_a), network(set_b)
    assert features_a.shape == (4, 2048)
    between = fid.frechet_distance(features_a, features_b)
    assert between > 0
    assert fid.frechet_distance(features_b, features_a) == pytest.approx(between, rel=1e-9)
    assert fid.frechet_distance(features_a, network(set_a)) < 1e-6 * between


def test_bad_fid_weights_are_named(tmp_path):
    with pytest.raises(Pix2PixError, match="--fid_weights: .*missing.weights.h5 is not a file"):
        fid.InceptionFeatures(str(tmp_path / "missing.weights.h5"))
    junk = tmp_path / "junk.weights.h5"
    junk.write_text("not weights")
    with pytest.raises(Pix2PixError, match="--fid_weights: cannot load .*junk.weights.h5"):
        fid.InceptionFeatures(str(junk))


def test_test_mode_with_fid(tested, trained_pairs, inception_weights, tmp_path):
    test, _ = tested
    checkpoint = trained_pairs
    out = tmp_path / "test_fid"
    result = run_cli("--mode", "test", "--input_dir", test.parent / "pairs", "--output_dir", out,
                     "--checkpoint", checkpoint, "--fid_weights", inception_weights)
    summary = json.loads((out / "metrics.json").read_text())
    assert summary["fid"] > 0 and summary["fid_weights"] == str(inception_weights)
    assert "compare runs of this project only" in summary["definitions"]["fid"]
    assert "fewer than 2048 images is biased" in summary["definitions"]["fid"]
    assert f"fid {summary['fid']:.4g}" in result.stdout and "(< 2048) is biased" in result.stdout
    assert (out / "metrics.csv").read_text() == (test / "metrics.csv").read_text()  # FID adds, changes nothing
