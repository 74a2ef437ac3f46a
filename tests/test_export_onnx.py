"""Export with --format onnx: model.onnx beside the SavedModel, checked against it, and its refusals."""

import json
import os
import pathlib
import re
import sys

import numpy as np
import pytest

from helpers import assert_clean_failure, export_options, load_benchmark, run_cli, tree_hashes
from pix2pix.errors import Pix2PixError

# Its module-scoped export is built once: all its tests run on one xdist worker (pytest.ini).
pytestmark = pytest.mark.xdist_group("export_onnx")

TOLERANCE = 1e-4


def require_onnx_tools():
    """onnxruntime, with tf2onnx there too: a skip without them, a failure under CI (which installs
    the test extra, and so both)."""
    try:
        import onnxruntime
        import tf2onnx  # noqa: F401
    except ImportError as err:
        if os.environ.get("CI"):
            raise
        pytest.skip(f'{err}: pip install ".[onnx]"')
    return onnxruntime


@pytest.fixture(scope="module")
def onnx_export(tmp_path_factory, trained_pairs):
    """conftest's trained_pairs (a pair model trained with the CLI for 2 steps, crop 32, ngf = ndf = 8)
    and its CLI export with --format onnx --deterministic: (the export directory, the export's stdout,
    the training directory)."""
    require_onnx_tools()
    out = tmp_path_factory.mktemp("onnx") / "exports" / "pairs_onnx"
    result = run_cli("--mode", "export", "--checkpoint", trained_pairs, "--output_dir", out,
                     "--format", "onnx", "--deterministic")
    return out, result.stdout, trained_pairs


def test_onnx_model_agrees_with_the_saved_models_tensors_signature(onnx_export):
    import tensorflow as tf

    out, stdout, _ = onnx_export
    assert {"saved_model.pb", "variables", "assets", "model.onnx"} <= set(os.listdir(out))
    assert os.listdir(out.parent) == [out.name]  # no staging directory left beside it
    lines = stdout.strip().splitlines()
    summary = re.search(r"model\.onnx \(opset 15, from tensors\): largest difference from TensorFlow "
                        r"(\S+) on a 1x32x32x3 input$", lines[-1])
    assert summary and float(summary.group(1)) <= TOLERANCE, stdout
    with open(out / "assets" / "options.json", encoding="utf-8") as handle:
        stored = json.load(handle)
    assert stored["format"] == "onnx" and stored["deterministic"] is True

    # Our own input (not the mode's seed-0 crop): a batch of two, twice the trained size.
    inputs = np.random.default_rng(7).uniform(-1, 1, (2, 64, 64, 3)).astype(np.float32)
    session = require_onnx_tools().InferenceSession(str(out / "model.onnx"), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["inputs"]
    assert [o.name for o in session.get_outputs()] == ["outputs"]
    onnx_outputs = session.run(["outputs"], {"inputs": inputs})[0]
    model = tf.saved_model.load(str(out))
    tf_outputs = model.signatures["tensors"](inputs=tf.constant(inputs))["outputs"].numpy()
    assert onnx_outputs.shape == tf_outputs.shape == (2, 64, 64, 3)
    assert np.abs(tf_outputs).max() > 0.01  # a real picture, not a constant both could agree on
    assert np.abs(onnx_outputs - tf_outputs).max() <= TOLERANCE


def test_the_weights_go_around_grappler_and_tf2onnx_is_left_as_it_was():
    """The conversion's memory savings (onnx_export._lean_conversion): constants of more than WEIGHT_ELEMENTS
    elements become placeholders of their dtype and shape (the rest is copied as it is), and tf2onnx's
    functions and TF2ONNX_CATCH_ERRORS are put back afterwards. That the graph converted this way still
    agrees with TensorFlow is the export's check (the tests above)."""
    require_onnx_tools()
    import tensorflow as tf
    from tf2onnx import graph, tf_loader

    from pix2pix.inference import onnx_export as conversion

    with tf.Graph().as_default() as built:
        inputs = tf.compat.v1.placeholder(tf.float32, [None, 33], name="inputs")
        weights = tf.constant(np.arange(33 * 32, dtype=np.float32).reshape(33, 32), name="weights")  # 1056 elements
        bias = tf.constant(np.ones(32, np.float32), name="bias")
        tf.nn.bias_add(tf.matmul(inputs, weights), bias, name="outputs")
    graph_def = built.as_graph_def(add_shapes=True)
    stripped, light = conversion._weights_as_placeholders(graph_def)
    assert list(stripped) == ["weights"] and stripped["weights"].op == "Const"
    nodes = {node.name: node for node in light.node}
    assert nodes["weights"].op == "Placeholder" and "value" not in nodes["weights"].attr
    assert [d.size for d in nodes["weights"].attr["shape"].shape.dim] == [33, 32]
    assert nodes["weights"].attr["dtype"].type == tf.float32.as_datatype_enum
    assert nodes["bias"] == next(node for node in graph_def.node if node.name == "bias")  # small: as it was
    assert light.ByteSize() < graph_def.ByteSize() - 4 * 1056

    originals = (tf_loader.from_function, tf_loader.tf_optimize, graph.Node.update_proto)
    catch_errors = os.environ.get("TF2ONNX_CATCH_ERRORS")
    with conversion._lean_conversion():
        assert os.environ["TF2ONNX_CATCH_ERRORS"] == "FALSE"
        assert (tf_loader.from_function, tf_loader.tf_optimize, graph.Node.update_proto) != originals
    assert (tf_loader.from_function, tf_loader.tf_optimize, graph.Node.update_proto) == originals
    assert os.environ.get("TF2ONNX_CATCH_ERRORS") == catch_errors


def test_a_failed_check_leaves_the_earlier_export_as_it_was(onnx_export, monkeypatch):
    from pix2pix.inference import onnx_export as conversion
    from pix2pix.modes.export import export_mode

    out, _, train = onnx_export
    before = tree_hashes(out)
    # The conversion is the other tests' subject, the check and what a failed one leaves this one's: the earlier
    # export's model.onnx (tf2onnx's conversion of this model's tensors signature) stands in for converting the
    # same signature again, and the check runs it against the new SavedModel.
    earlier = (out / "model.onnx").read_bytes()
    monkeypatch.setattr(conversion, "convert", lambda signature, output: pathlib.Path(output).write_bytes(earlier))
    monkeypatch.setattr(conversion, "TOLERANCE", -1.0)  # no difference passes: the check fails after converting
    with pytest.raises(Pix2PixError, match=r"^--format onnx: the ONNX model differs from the SavedModel by .* "
                                           r"on a seeded 1x32x32x3 input; nothing was written"):
        export_mode(export_options(train, out, deterministic=True, format="onnx"))
    assert tree_hashes(out) == before
    assert os.listdir(out.parent) == [out.name]


def test_benchmark_converts_and_compares_with_the_same_module(onnx_export, monkeypatch, capsys):
    # The script's main() in this process, with its command line: its conversion and comparison are the
    # subject, not an interpreter's start-up (load_benchmark, as test_export_tflite does with tflite_check).
    out, _, _ = onnx_export
    monkeypatch.setattr(sys, "argv", ["onnx_check.py", "--saved_model", str(out), "--batch", "2", "--seed", "3"])
    capsys.readouterr()
    returncode = load_benchmark("onnx_check").main()
    captured = capsys.readouterr()
    assert returncode == 0, captured.err[-3000:]
    report = json.loads(captured.out)
    assert report["inputs"] == [2, 32, 32, 3] and report["opset"] == 15
    assert report["max_abs_difference"] <= TOLERANCE


def test_format_onnx_with_dropout_on_is_a_usage_error(tmp_path):
    """Refused from the flags alone, before any model is read (the checkpoint is an empty folder)."""
    (tmp_path / "train").mkdir()
    result = run_cli("--mode", "export", "--checkpoint", tmp_path / "train", "--output_dir", tmp_path / "out",
                     "--format", "onnx", "--nodeterministic", check=False)
    assert result.returncode == 2, result
    assert_clean_failure(result)
    assert "--nodeterministic" in result.stderr and "dropout" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_missing_tf2onnx_and_onnxruntime_say_how_to_install_them(tmp_path):
    """Told from the flags alone too, as `pip install ".[onnx]"`, exit 1."""
    (tmp_path / "train").mkdir()
    (tmp_path / "without_onnx.py").write_text(
        "import sys\n"
        "sys.modules['tf2onnx'] = sys.modules['onnxruntime'] = None  # what import and find_spec see as absent\n"
        "from pix2pix.commands.main import entry_point\n"
        "entry_point()\n")
    result = run_cli("--mode", "export", "--checkpoint", tmp_path / "train", "--output_dir", tmp_path / "out",
                     "--format", "onnx", "--deterministic", module="without_onnx", extra_paths=[tmp_path],
                     check=False)
    assert result.returncode == 1, result
    assert_clean_failure(result)
    assert result.stderr.strip() == ('pix2pix: error: --format onnx needs tf2onnx and onnxruntime (not installed): '
                                     'pip install ".[onnx]"')
    assert not (tmp_path / "out").exists()
