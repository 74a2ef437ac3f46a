"""Export with --format tflite: model.tflite beside the SavedModel in float32, float16 and int8, run with the
TFLite interpreter against the SavedModel, and the refusals."""

import json
import functools
import os
import re
import shutil

import numpy as np
import pytest

from helpers import assert_one_line_error, export_options, load_benchmark, run_cli, tree_hashes
from pix2pix.errors import Pix2PixError

# Its module-scoped exports are built once: all its tests run on one xdist worker (pytest.ini).
pytestmark = [pytest.mark.xdist_group("export_tflite"),
              pytest.mark.filterwarnings("ignore:.*tf.lite.Interpreter is deprecated:UserWarning")]

TOLERANCE = 1e-4


def _export(train, out, **flags):
    from pix2pix.modes.export import export_mode

    return export_mode(export_options(train, out, **flags))


@pytest.fixture(scope="module")
def exports(tmp_path_factory, trained_pairs, exported_pairs):
    """conftest's trained_pairs (a pair model trained with the CLI for 2 steps on three 40x80 A|B pairs, crop 32,
    ngf = ndf = 8) exported with --format tflite: float32 by the CLI (conftest's exported_pairs, shared with
    test_export), float16 in this process, int8 with the CLI (calibrated on the training's folder, read from its
    options.json): ({quantize: export directory}, the int8 CLI run's stdout, the training directory)."""
    base = tmp_path_factory.mktemp("tflite") / "exports"
    outs = {"none": exported_pairs, **{quantize: base / f"pairs_{quantize}" for quantize in ("float16", "int8")}}
    _export(trained_pairs, outs["float16"], format="tflite", quantize="float16")
    result = run_cli("--mode", "export", "--checkpoint", trained_pairs, "--output_dir", outs["int8"],
                     "--format", "tflite", "--quantize", "int8")
    assert "XNNPACK" not in result.stderr and "fully_quantize" not in result.stderr  # TFLite's C++ lines: hidden
    return outs, result.stdout, trained_pairs


def _tflite(path):
    from pix2pix.inference.tflite_export import interpreter

    with open(path, "rb") as handle:
        return interpreter(handle.read())


@functools.lru_cache(maxsize=None)
def _saved_model(export):
    """EXPORT's SavedModel, loaded once per module (the tests that convert it again change only model.tflite)."""
    import tensorflow as tf

    return tf.saved_model.load(export)


def _compare(export, inputs):
    """(TFLite's outputs, the SavedModel's) of EXPORT's model.tflite and `tensors` signature on INPUTS."""
    import tensorflow as tf

    from pix2pix.inference.tflite_export import run_tflite

    lite = run_tflite(_tflite(export / "model.tflite"), inputs)
    saved = _saved_model(str(export)).signatures["tensors"](inputs=tf.constant(inputs))["outputs"].numpy()
    assert lite.shape == saved.shape and lite.dtype == np.float32
    assert np.abs(saved).max() > 0.01  # a real picture, not a constant both could agree on
    return lite, saved


def _psnr(lite, saved):
    return 10 * np.log10(4 / np.mean((lite.astype(np.float64) - saved) ** 2))


def test_float32_agrees_with_the_saved_models_tensors_signature(exports):
    outs, _, _ = exports
    out = outs["none"]
    assert {"saved_model.pb", "variables", "assets", "model.tflite"} <= set(os.listdir(out))
    for export in outs.values():  # no staging directory left beside any of them
        assert sorted(os.listdir(export.parent)) == sorted(p.name for p in outs.values() if p.parent == export.parent)
    with open(out / "assets" / "options.json", encoding="utf-8") as handle:
        stored = json.load(handle)
    assert stored["format"] == "tflite" and stored["quantize"] == "none" and stored["deterministic"] is True
    details = _tflite(out / "model.tflite").get_signature_list()
    assert details == {"tensors": {"inputs": ["inputs"], "outputs": ["outputs"]}}
    # Our own input (not the mode's seed-0 crop): a batch of two, twice the trained size.
    inputs = np.random.default_rng(7).uniform(-1, 1, (2, 64, 64, 3)).astype(np.float32)
    lite, saved = _compare(out, inputs)
    assert lite.shape == (2, 64, 64, 3)
    assert np.abs(lite - saved).max() <= TOLERANCE


def test_float16_and_int8_stay_above_their_psnr_floor(exports):
    from pix2pix.inference.tflite_export import MIN_PSNR

    outs, stdout, _ = exports
    sizes = {quantize: os.path.getsize(out / "model.tflite") for quantize, out in outs.items()}
    assert sizes["float16"] < 0.6 * sizes["none"] and sizes["int8"] < 0.4 * sizes["none"], sizes
    inputs = np.random.default_rng(8).uniform(-1, 1, (1, 32, 32, 3)).astype(np.float32)
    for quantize in ("float16", "int8"):
        psnr = _psnr(*_compare(outs[quantize], inputs))
        print(f"{quantize}: PSNR {psnr:.1f} dB against the SavedModel (floor {MIN_PSNR[quantize]:g} dB)")
        assert MIN_PSNR[quantize] <= psnr < 200  # quantized: close, not equal
    # int8 holds integer convolutions; its calibration pictures were the training's three pairs.
    tensors = _tflite(outs["int8"] / "model.tflite").get_tensor_details()
    assert sum(t["dtype"] == np.int8 for t in tensors) > 10
    summary = re.search(r"; model\.tflite \(int8, from tensors, [\d.]+ MB, calibrated on 3 images\): PSNR ([\d.]+) "
                        r"dB against TensorFlow \(largest difference \S+\) on a 1x32x32x3 input$", stdout.strip())
    assert summary and float(summary.group(1)) >= MIN_PSNR["int8"], stdout


def test_a_lab_model_keeps_the_luminance_outside_as_the_tensors_signature_does(tmp_path, trained_lab):
    """L in (1 channel), ab out (2). int8 is calibrated on the training photos' L (its export's check passed);
    the same SavedModel converted in float32 agrees within TOLERANCE."""
    from pix2pix.inference.tflite_export import MIN_PSNR, convert

    out = tmp_path / "lab_int8"
    _export(trained_lab, out, format="tflite", quantize="int8")
    inputs = np.random.default_rng(9).uniform(-1, 1, (1, 32, 32, 1)).astype(np.float32)
    lite, saved = _compare(out, inputs)
    assert lite.shape == (1, 32, 32, 2) and _psnr(lite, saved) >= MIN_PSNR["int8"]
    (out / "model.tflite").write_bytes(convert(str(out), "none"))
    lite, saved = _compare(out, inputs)
    assert np.abs(lite - saved).max() <= TOLERANCE


def test_a_failed_check_leaves_the_earlier_export_as_it_was(exports, tmp_path, monkeypatch):
    from pix2pix.inference import tflite_export

    outs, _, train = exports
    out = tmp_path / "exports" / "pairs_none"
    shutil.copytree(outs["none"], out)  # an earlier export: a copy, conftest's shared one is read only
    before = tree_hashes(out)
    # The conversion is the other tests' subject, the check and what a failed one leaves this one's: the earlier
    # export's model.tflite (TFLiteConverter's float32 conversion of this model's tensors signature) stands in
    # for converting the same signature again, and the check runs it against the new SavedModel.
    converted = (out / "model.tflite").read_bytes()
    monkeypatch.setattr(tflite_export, "convert", lambda saved_model, quantize, calibration: converted)
    monkeypatch.setattr(tflite_export, "TOLERANCE", -1.0)  # no difference passes: the check fails after converting
    with pytest.raises(Pix2PixError, match=r"^--format tflite: the TFLite model differs from the SavedModel by .* "
                                           r"on a seeded 1x32x32x3 input; nothing was written"):
        _export(train, out, format="tflite")
    assert tree_hashes(out) == before
    assert os.listdir(out.parent) == [out.name]


def test_calibration_takes_at_most_its_count_spread_over_the_folder(tmp_path):
    from pix2pix.inference.tflite_export import CALIBRATION_IMAGES, calibration_files
    from pix2pix.options.record import Options

    for i in range(1, 2 * CALIBRATION_IMAGES + 2):
        (tmp_path / f"{i}.png").write_bytes(b"")  # listed by name; calibration_inputs decodes them
    paths = calibration_files(Options(mode="export", input_dir=str(tmp_path)))
    names = [int(os.path.basename(path)[:-4]) for path in paths]
    assert len(names) == CALIBRATION_IMAGES and names[0] == 1 and names == sorted(names)
    assert names[-1] > 2 * CALIBRATION_IMAGES - 2  # from the whole folder, not its first files


def test_int8_without_calibration_images_names_the_training_folder(tmp_path):
    from pix2pix.inference.tflite_export import calibration_files
    from pix2pix.options.record import Options

    train, gone = tmp_path / "train", tmp_path / "photos_moved_away"
    train.mkdir()
    options = Options(mode="export", checkpoint=str(train), format="tflite", quantize="int8")
    (train / "options.json").write_text(json.dumps({"input_dir": str(gone)}))
    with pytest.raises(Pix2PixError, match=rf"^--quantize int8: the training folder \(from {train}\) {gone} does "
                                           r"not exist .*; give --input_dir"):
        calibration_files(options)
    (train / "options.json").write_text(json.dumps({"input_dir": None}))
    with pytest.raises(Pix2PixError, match=r"options.json names no training folder; give --input_dir"):
        calibration_files(options)


def test_benchmark_times_and_compares_with_the_same_module(exports):
    outs, _, _ = exports
    report = load_benchmark("tflite_check").measure(str(outs["none"]), ("none",), rounds=1)
    assert report["model"] == {"task": "pairs", "ngf": 8, "crop_size": 32}
    assert report["models"]["none"]["max_abs_difference"] <= TOLERANCE and report["calibration_images"] == 0
    assert set(report["ms_per_picture"]) == {"none", "savedmodel"}


@pytest.mark.parametrize("flags, code, words", [
    (["--quantize", "float16"], 2, ["--quantize: float16 applies to --format tflite or web, not savedmodel"]),
    (["--format", "onnx", "--quantize", "int8"], 2, ["--quantize: int8", "not onnx"]),
    (["--format", "tflite", "--nodeterministic"], 2, ["--format: tflite needs dropout off", "--nodeterministic"]),
    (["--format", "tflite", "--mixed_precision", "bfloat16"], 2, ["--mixed_precision: --format tflite exports "
                                                                  "float32 only, not bfloat16"]),
    (["--format", "tflite", "--quantize", "int8", "--input_dir", "EMPTY"], 1,
     ["--quantize int8: --input_dir", "EMPTY", "holds no images to calibrate on"]),
])
def test_refusals_are_one_line_errors_before_any_model_is_read(tmp_path, flags, code, words):
    """Refused from the flags (and the calibration folder's listing) alone: the checkpoint is an empty folder."""
    (tmp_path / "train").mkdir()
    (tmp_path / "EMPTY").mkdir()
    flags = [str(tmp_path / "EMPTY") if flag == "EMPTY" else flag for flag in flags]
    result = run_cli("--mode", "export", "--checkpoint", tmp_path / "train", "--output_dir", tmp_path / "out",
                     *flags, check=False)
    assert_one_line_error(result, code, *[str(tmp_path / "EMPTY") if w == "EMPTY" else w for w in words])
    assert not (tmp_path / "out").exists()
