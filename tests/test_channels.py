"""Data beyond 8-bit RGB (docs/channels.md): --input_nc/--output_nc, paired folders A/ and B/, PNG at 8
and 16 bits, TIFF and .npy read and written at their own depth, through train, resume, test, export and
infer (and serve, for the 16-bit one), one CLI chain per case (built once per module, each case on one
xdist worker); files that do not fit the model refused by name."""

import json
import os
import pathlib

import numpy as np
import pytest

from helpers import TINY, ServerProcess, assert_one_line_error, call, load_benchmark, run_cli
from pix2pix.io.arrays import encode_array, read_array, read_layout, write_array
from pix2pix.io.images import ImageError
from pix2pix.io.samples import value_mapping

LIMIT = 100_000_000


def _dataset(directory, kind, count=3, size=40):
    return load_benchmark("channels_dataset").write_dataset(str(directory), kind, count=count, size=size)


def _chain(base, kind, *flags, train_flags=()):
    """One CLI chain on a KIND dataset: train 1 step, resume to 2, test, export, infer on the export;
    {"data", "train", "test", "export", "infer"} paths and the resumed run's stdout."""
    data = pathlib.Path(_dataset(base / "data", kind))
    paths = {name: base / name for name in ("train", "test", "export", "infer")}
    paths["data"] = base / "data"
    run_cli("--mode", "train", "--input_dir", data, "--output_dir", paths["train"], "--max_steps", 1, "--seed", 1,
            *flags, *train_flags, *TINY)
    paths["resumed"] = run_cli("--mode", "train", "--input_dir", data, "--output_dir", paths["train"],
                               "--checkpoint", paths["train"], "--max_steps", 2, *train_flags).stdout
    run_cli("--mode", "test", "--input_dir", data, "--output_dir", paths["test"], "--checkpoint", paths["train"])
    run_cli("--mode", "export", "--checkpoint", paths["train"], "--output_dir", paths["export"])
    run_cli("--mode", "infer", "--checkpoint", paths["export"], "--input_dir", data / "A", "--output_dir",
            paths["infer"])
    return paths


@pytest.fixture(scope="module")
def grey16(tmp_path_factory):
    """1 -> 1 channel, 16-bit PNGs in paired folders (the default --preprocess resize_and_crop)."""
    return _chain(tmp_path_factory.mktemp("grey16"), "grey16", "--input_nc", 1, "--output_nc", 1)


@pytest.fixture(scope="module")
def rgbd(tmp_path_factory):
    """4 -> 3 channels: 16-bit RGB + depth TIFFs to 8-bit RGB PNGs."""
    return _chain(tmp_path_factory.mktemp("rgbd"), "rgbd", "--input_nc", 4, "--output_nc", 3)


@pytest.fixture(scope="module")
def bands(tmp_path_factory):
    """8 -> 1 channels: float32 .npy bands to a 16-bit PNG index, --preprocess crop (test and infer at
    each file's own size)."""
    return _chain(tmp_path_factory.mktemp("bands"), "bands", "--input_nc", 8, "--output_nc", 1,
                  train_flags=("--preprocess", "crop"))


def _saved_signature(export):
    import tensorflow as tf

    function = tf.saved_model.load(str(export)).signatures["serving_default"]
    (spec,) = function.structured_input_signature[1].values()
    (output,) = function.structured_outputs.values()
    return spec, output


def _check_chain(paths, input_nc, output_nc, data_types, output_type, test_size):
    stored = json.loads((paths["train"] / "options.json").read_text())
    assert (stored["input_nc"], stored["output_nc"], stored["data_types"]) == (input_nc, output_nc, data_types)
    assert "at step 1" in paths["resumed"], paths["resumed"]
    assert "done: step 2" in paths["resumed"]
    names = sorted(os.listdir(paths["data"] / "A"))
    metrics = json.loads((paths["test"] / "metrics.json").read_text())
    assert metrics["count"] == len(names)
    for name in names:
        stem = os.path.splitext(name)[0]
        source = read_array(str(paths["data"] / "A" / name), LIMIT)
        (tested,) = (paths["test"] / "outputs").glob(stem + ".*")
        (inferred,) = paths["infer"].glob(stem + ".*")
        for path, size in ((tested, test_size or source.shape[:2]), (inferred, source.shape[:2])):
            array = read_array(str(path), LIMIT)
            assert (array.dtype.name, array.shape) == (output_type, (*size, output_nc)), path
        for kind in ("input", "output"):  # index.html's 8-bit previews
            preview = read_array(str(paths["infer"] / "previews" / f"{stem}-{kind}.png"), LIMIT)
            assert (preview.dtype.name, preview.shape) == ("uint8", (*source.shape[:2], 3))
    spec, output = _saved_signature(paths["export"])
    assert (spec.dtype.name, spec.shape.as_list()) == (data_types.split(",")[0], [None, None, None, input_nc])
    assert (output.dtype.name, output.shape.as_list()[-1]) == (output_type, output_nc)
    return metrics


@pytest.mark.xdist_group("channels_grey16")
def test_1_to_1_at_16_bits_keeps_depth_channels_and_size(grey16):
    metrics = _check_chain(grey16, 1, 1, "uint16,uint16", "uint16", test_size=(32, 32))
    assert metrics["full_depth"]["data_range"] == 65535 and metrics["full_depth"]["sample_type"] == "uint16"
    assert metrics["means"]["ab_mae"] is None and metrics["means"]["psnr"] > 0
    assert "full depth" in metrics["definitions"]["psnr"]


@pytest.mark.xdist_group("channels_grey16")
def test_16_bit_round_trip_through_the_pipeline_within_one_step(tmp_path, grey16):
    """Full-range 16-bit data read by the training pipeline (test mode's, 32x32 files at crop 32: no
    resize) and mapped back comes out within 1 LSB, written and read again exactly."""
    from pix2pix.data.pipeline import paired_dataset
    from pix2pix.modes.preparation import prepare_for
    from pix2pix.options.record import Options

    rng = np.random.default_rng(0)
    samples = {}
    for side in ("A", "B"):
        (tmp_path / side).mkdir()
        for number in (1, 2):
            array = rng.integers(0, 65536, size=(32, 32, 1), dtype=np.uint16)
            array[0, 0], array[0, 1] = 0, 65535
            write_array(str(tmp_path / side / f"{number}.png"), array)
            samples[side, number] = array
    side_by_side = tmp_path / "ab"  # the same pairs as A|B files: the default layout
    side_by_side.mkdir()
    for number in (1, 2):
        write_array(str(side_by_side / f"{number}.png"),
                    np.concatenate([samples["A", number], samples["B", number]], axis=1))
    mapping = value_mapping("uint16")
    for folder in (tmp_path, side_by_side):
        options = prepare_for("test", Options(input_dir=str(folder), output_dir=str(tmp_path / "out"),
                                              checkpoint=str(grey16["train"]), batch_size=2))
        (batch,) = list(paired_dataset(options, training=False).dataset)
        for index, number in enumerate((1, 2)):
            for key, side in (("inputs", "A"), ("targets", "B")):
                back = mapping.from_network(batch[key][index].numpy())
                assert np.abs(back.astype(np.int64) - samples[side, number]).max() <= 1
                write_array(str(tmp_path / "again.png"), back)
                assert np.array_equal(read_array(str(tmp_path / "again.png"), LIMIT), back)


@pytest.mark.xdist_group("channels_grey16")
def test_web_and_int8_exports_refuse_a_model_of_data_at_its_own_depth(tmp_path, grey16):
    for flags in (("--format", "web"), ("--format", "tflite", "--quantize", "int8")):
        result = run_cli("--mode", "export", "--checkpoint", grey16["train"], "--output_dir", tmp_path / "export",
                         *flags, check=False)
        assert_one_line_error(result, 2, "data at its own depth", flags[1])
        assert not (tmp_path / "export").exists()


def test_channel_flags_are_checked_before_anything_runs():
    from pix2pix.errors import UsageError
    from pix2pix.options.record import Options

    for flags, words in (({"task": "lab", "input_nc": 2}, "--input_nc: only the pairs task"),
                         ({"value_range": "1,0"}, "--value_range: must be two finite numbers LOW < HIGH"),
                         ({"data_types": "uint16,int8"}, "--data_types: must be INPUT,TARGET"),
                         ({"output_nc": 0}, "--output_nc: must be in [1, 1024]")):
        with pytest.raises(UsageError, match=words.replace("[", r"\[").replace("]", r"\]")):
            Options(output_dir="out", **flags).validate()


@pytest.mark.xdist_group("channels_rgbd")
def test_4_to_3_tiff_in_png_out(rgbd):
    metrics = _check_chain(rgbd, 4, 3, "uint16,uint8", "uint8", test_size=(32, 32))
    assert "full_depth" not in metrics and metrics["means"]["ab_mae"] is not None  # 8-bit RGB: scored as pictures


@pytest.mark.xdist_group("channels_bands")
def test_8_to_1_npy_in_16_bit_png_out(bands):
    metrics = _check_chain(bands, 8, 1, "float32,uint16", "uint16", test_size=None)
    assert metrics["full_depth"]["channels"] == 1


@pytest.mark.xdist_group("channels_bands")
def test_a_file_of_other_channels_is_refused_by_name(bands, tmp_path):
    wrong = tmp_path / "photos"
    wrong.mkdir()
    np.save(wrong / "1.npy", np.zeros((40, 40, 8), np.float32))
    np.save(wrong / "2.npy", np.zeros((40, 40, 3), np.float32))
    result = run_cli("--mode", "infer", "--checkpoint", bands["export"], "--input_dir", wrong, "--output_dir",
                     tmp_path / "out", check=False)
    assert_one_line_error(result, 1, str(wrong / "2.npy"), "3 channels of float32", "8 channels of float32")
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").glob("*.png"))


@pytest.mark.xdist_group("channels_bands")
def test_training_refuses_a_file_of_another_type_by_name(bands, tmp_path):
    data = pathlib.Path(_dataset(tmp_path / "data", "bands", count=2))
    np.save(tmp_path / "data" / "A" / "2.npy", np.zeros((40, 40, 8), np.uint16))
    result = run_cli("--mode", "train", "--input_dir", data, "--output_dir", tmp_path / "run", "--input_nc", 8,
                     "--output_nc", 1, "--max_steps", 1, *TINY, check=False)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert str(tmp_path / "data" / "A" / "2.npy") in result.stderr and "8 channels of float32" in result.stderr
    side_by_side = run_cli("--mode", "train", "--input_dir", tmp_path / "data" / "B", "--output_dir",
                           tmp_path / "run", "--input_nc", 8, "--output_nc", 1, "--max_steps", 1, check=False)
    assert_one_line_error(side_by_side, 2, "--output_nc", "paired folders A/ and B/")


# ------------------------------------------------------------------ the formats, no model
@pytest.mark.parametrize("dtype", ["uint8", "uint16"])
@pytest.mark.parametrize("channels", [1, 3, 4])
def test_png_keeps_channels_depth_and_rgb_order(tmp_path, dtype, channels):
    import cv2

    top = np.iinfo(dtype).max
    array = np.random.default_rng(channels).integers(0, top + 1, size=(9, 7, channels), dtype=dtype)
    path = str(tmp_path / "x.png")
    write_array(path, array)
    assert np.array_equal(read_array(path, LIMIT), array)
    raw = cv2.imread(path, cv2.IMREAD_UNCHANGED)  # what other tools see: OpenCV's BGR(A) order
    if channels >= 3:
        assert np.array_equal(raw[..., 2], array[..., 0]) and np.array_equal(raw[..., 0], array[..., 2])
    assert read_layout(path, LIMIT).describe() == f"{channels} channel{'s' if channels > 1 else ''} of {dtype}"


@pytest.mark.parametrize("dtype", ["uint8", "uint16", "float32"])
def test_tiff_and_npy_keep_any_channel_count(tmp_path, dtype):
    array = (np.random.default_rng(1).random((6, 5, 7)) * (255 if dtype == "uint8" else 1000)).astype(dtype)
    for extension in (".tif", ".npy"):
        path = str(tmp_path / f"x{extension}")
        write_array(path, array)
        assert np.array_equal(read_array(path, LIMIT), array)
        assert (read_layout(path, LIMIT).channels, read_layout(path, LIMIT).sample_type) == (7, dtype)


def test_npy_limits_hold_before_loading(tmp_path):
    header = tmp_path / "bomb.npy"  # a header claiming 100000 x 100000 x 3, a few bytes of data
    data = encode_array(np.zeros((1, 1, 3), np.uint8), ".npy").replace(b"(1, 1, 3)", b"(100000, 100000, 3)")
    header.write_bytes(data)
    with pytest.raises(ImageError, match="over the limit .*--max_pixels"):
        read_array(str(header), LIMIT)
    pickled = tmp_path / "objects.npy"
    np.save(pickled, np.array([[{"a": 1}]], dtype=object), allow_pickle=True)
    with pytest.raises(ImageError, match="pickles are never loaded"):
        read_array(str(pickled), LIMIT)


def test_float_values_map_by_value_range():
    mapping = value_mapping("float32", "-10,30")
    values = mapping.to_network(np.array([-10.0, 10.0, 30.0], np.float32))
    assert np.allclose(values, [-1.0, 0.0, 1.0])
    assert np.allclose(mapping.from_network(values), [-10.0, 10.0, 30.0])
    assert value_mapping("uint16").from_network(np.array([-2.0, 2.0])).tolist() == [0, 65535]


@pytest.mark.xdist_group("channels_grey16")
def test_serve_answers_a_16_bit_model_with_infer_s_values_over_tf_serving_json(grey16):
    """--mode serve on the 16-bit export: serving_default's nested lists of uint16 in and out, row and
    columnar, each at the request's own size, equal to --mode infer's files; bad values are 400s."""
    pytest.importorskip("starlette")
    pytest.importorskip("uvicorn")
    server = ServerProcess("--checkpoint", grey16["export"], "--model_name", "grey16")
    try:
        names = sorted(os.listdir(grey16["data"] / "A"))[:2]
        inputs = [read_array(str(grey16["data"] / "A" / name), LIMIT) for name in names]
        row = call("POST", server.model_url("grey16") + ":predict", {"instances": [a.tolist() for a in inputs]})
        assert row.status == 200, row
        for name, prediction in zip(names, row.json()["predictions"]):
            assert np.array_equal(np.array(prediction, np.uint16), read_array(str(grey16["infer"] / name), LIMIT))
        part = inputs[0][:10, :24]
        columnar = call("POST", server.model_url("grey16") + ":predict", {"inputs": [part.tolist()]})
        outputs = np.array(columnar.json()["outputs"])
        assert outputs.shape == (1, 10, 24, 1) and outputs.min() >= 0 and outputs.max() <= 65535
        for values, words in (([np.zeros((4, 4, 3), int).tolist()], ("3 values per pixel", "1 channel of uint16")),
                              ([np.zeros((4, 4), int).tolist()], ("H x W x 1",)),
                              ([[[[65536]]]], ("65536 is out of range for uint16",)),
                              ([[[["1"]]]], ("expected uint16 values, got str",))):
            wrong = call("POST", server.model_url("grey16") + ":predict", {"instances": values})
            assert wrong.status == 400 and all(word in wrong.json()["error"] for word in words), wrong
        metadata = call("GET", server.model_url("grey16") + "/metadata").json()["metadata"]
        serving = metadata["signature_def"]["signature_def"]["serving_default"]
        assert serving["inputs"]["inputs"]["dtype"] == serving["outputs"]["outputs"]["dtype"] == "DT_UINT16"
        page = call("GET", server.url + "/")
        assert page.status == 200 and "cannot show such data" in page.body.decode()
        assert "1 channel of uint16" in page.body.decode() and "/v1/models/grey16:predict" in page.body.decode()
        assert server.terminate() == 0
    finally:
        server.kill()


@pytest.mark.xdist_group("channels_grey16")
def test_serve_takes_the_16_bit_training_directory_too(grey16):
    """The training directory's traced serving_default (positional inputs), through the protocol in-process:
    infer's values, and no page of pictures."""
    from pix2pix.modes.preparation import prepare
    from pix2pix.options.record import Options
    from pix2pix.serving.app import data_model_page
    from pix2pix.serving.model import load_served_model
    from pix2pix.serving.protocol import prepare_inputs, request_columns, run_signature

    model = load_served_model(prepare(Options(mode="serve", checkpoint=str(grey16["train"]))), "grey16", 1)
    assert model.takes_arrays and model.sides() == ("1 channel of uint16", "1 channel of uint16")
    signature = model.signatures["serving_default"]
    name = sorted(os.listdir(grey16["data"] / "A"))[-1]
    body = {"instances": [read_array(str(grey16["data"] / "A" / name), LIMIT).tolist()]}
    (output,) = run_signature(signature, prepare_inputs(model, signature, *request_columns(body, signature))).values()
    assert np.array_equal(output[0], read_array(str(grey16["infer"] / name), LIMIT))
    assert "1 channel of uint16 per pixel in" in data_model_page(model)
