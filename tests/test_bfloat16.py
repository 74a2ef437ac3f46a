"""--mixed_precision bfloat16 on the CPU: telling whether the CPU has it, what a run says about it,
and the features that must keep working in it: resume, SIGTERM, the non-finite guard, the zoo,
tf.distribute, and a bfloat16 export used by infer (photos and video) and serve.
(--update_order sequential in bfloat16, its non-finite guard included: test_update_order.py.)"""

import json
import os
import signal

import cv2
import numpy as np
import pytest
import tensorflow as tf

from helpers import (TINY, build_once, cli_env, export_options, random_pair_batch, read_rgb, run_cli, saved_step,
                     smooth_photo, start_cli, write_image)
from pix2pix import Options, Pix2Pix
from pix2pix.io.cpu_features import cpu_flags, native_bfloat16
from pix2pix.models.precision import precision_advice
from pix2pix.modes.export import export_mode

# /proc/cpuinfo as Linux writes it (one block per core), cut down to the lines that matter.
CPUINFO = """processor\t: {core}
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC
flags\t\t: fpu vme sse sse2 avx avx2 fma avx512f avx512bw{extra}

"""


def write_cpuinfo(path, *extra_flags):
    text = "".join(CPUINFO.format(core=core, extra="".join(" " + f for f in extra_flags)) for core in (0, 1))
    path.write_text(text)
    return path


@pytest.mark.parametrize("flags,expected", [((), ""), (("avx512_bf16",), "AVX512-BF16"),
                                            (("amx_tile", "amx_bf16", "avx512_bf16"), "AMX")])
def test_native_bfloat16_is_read_from_the_cpuinfo_flags(tmp_path, monkeypatch, flags, expected):
    path = write_cpuinfo(tmp_path / "cpuinfo", *flags)
    assert native_bfloat16(cpu_flags(str(path))) == expected
    monkeypatch.setenv("PIX2PIX_CPUINFO", str(path))
    assert native_bfloat16() == expected
    assert "avx512_bf16vme" not in cpu_flags()  # whole words


def test_no_cpuinfo_means_cannot_tell_and_nothing_is_said(tmp_path, monkeypatch):
    monkeypatch.setenv("PIX2PIX_CPUINFO", str(tmp_path / "missing"))
    assert native_bfloat16() is None
    (tmp_path / "no_flags").write_text("processor\t: 0\nmodel name\t: some ARM\n")
    assert native_bfloat16(cpu_flags(str(tmp_path / "no_flags"))) is None
    assert precision_advice(Options(mode="train", mixed_precision="bfloat16")) is None


@pytest.mark.parametrize("mode,precision,cpu,says", [
    ("train", "float32", "AVX512-BF16", "note: this CPU computes bfloat16 natively (AVX512-BF16): "
                                        "--mixed_precision bfloat16 trained the default model 1.6-2.4x faster"),
    ("train", "float32", "AMX", "(AMX): --mixed_precision bfloat16 trained the default model 2.3-2.7x faster"),
    ("train", "bfloat16", "", "warning: --mixed_precision bfloat16: this CPU has no native bfloat16"),
    ("infer", "bfloat16", "", "so it will run slower than float32 here"),
    ("train", "bfloat16", "AMX", None), ("train", "float32", "", None), ("infer", "float32", "AMX", None),
    ("train", "float16", "AMX", None)])
def test_what_a_run_says_about_bfloat16(mode, precision, cpu, says):
    advice = precision_advice(Options(mode=mode, mixed_precision=precision), cpu)
    assert (advice is None) if says is None else (says in advice and "\n" not in advice)


# ------------------------------------------------------------------------- training
def _train_args(ab_dir, out, max_steps, precision, *extra):
    args = ["--mode", "train", "--input_dir", ab_dir, "--output_dir", out, "--max_steps", max_steps,
            "--summary_freq", 0, "--progress_freq", 1, "--seed", 3, "--mixed_precision", precision, *TINY, *extra]
    return [str(arg) for arg in args]


def test_bfloat16_training_stops_on_sigterm_resumes_and_says_what_the_cpu_can_do(tmp_path, ab_dir, monkeypatch):
    """On a CPU without native bfloat16 the run warns, trains, stops on SIGTERM with every step
    saved; resumed in float32 on a CPU with AVX512-BF16 it says the flag would be faster."""
    out = tmp_path / "train"
    plain_cpu = write_cpuinfo(tmp_path / "plain_cpuinfo")
    proc = start_cli(*_train_args(ab_dir, out, 10_000, "bfloat16", "--save_freq", 5000), interruptible=True,
                     env=cli_env(PIX2PIX_CPUINFO=str(plain_cpu)))
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if line.startswith("progress"):
            break
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=120)
    stdout = "".join(lines) + stdout
    assert proc.returncode == 128 + signal.SIGTERM and "Traceback" not in stderr, stderr
    assert stdout.count("warning: --mixed_precision bfloat16: this CPU has no native bfloat16") == 1
    stopped_at = int(stdout.split("stopped by SIGTERM at step ")[1].split(";")[0])
    assert stopped_at >= 1 and saved_step(out) == stopped_at
    assert json.loads((out / "options.json").read_text())["mixed_precision"] == "bfloat16"
    reader = tf.train.load_checkpoint(str(out))
    kinds = reader.get_variable_to_dtype_map()
    floating = {kinds[name] for name in kinds if kinds[name].is_floating}
    assert floating == {tf.float32}  # weights, Adam's state, loss averages

    # The resume is not about signals: forked (helpers.run_cli), the CPU it plays given in its environment.
    monkeypatch.setenv("PIX2PIX_CPUINFO", str(write_cpuinfo(tmp_path / "bf16", "avx512_bf16")))
    resumed = run_cli(*_train_args(ab_dir, out, stopped_at + 2, "float32", "--checkpoint", out))
    assert "resumed from" in resumed.stdout and saved_step(out) == stopped_at + 2
    assert "note: this CPU computes bfloat16 natively (AVX512-BF16): --mixed_precision bfloat16" in resumed.stdout


def _options(**extra):
    return Options(mode="train", output_dir="unused", crop_size=32, ngf=8, ndf=8, seed=1,
                   mixed_precision="bfloat16", **extra)


def _state(model):
    """Weights and optimiser state (not dropout's random state, which moves on every call)."""
    return [v.numpy().copy() for v in model.generator.trainable_variables + model.discriminator.trainable_variables
            + model.generator_optimizer.variables + model.discriminator_optimizer.variables]


def test_a_non_finite_loss_in_bfloat16_changes_nothing():
    model = Pix2Pix(_options())
    x, y = random_pair_batch()
    assert bool(model.train_step(x, y)["applied"])
    before, averages = _state(model), model.loss_averages.read()
    assert not bool(model.train_step(x, tf.fill(y.shape, float("nan")))["applied"])
    for a, b in zip(before, _state(model)):
        np.testing.assert_array_equal(a, b)
    assert model.loss_averages.read() == averages and int(model.global_step.numpy()) == 1
    assert bool(model.train_step(x, y)["applied"])


@pytest.mark.parametrize("netG,netD,extra", [
    ("resnet_6blocks", "pixel", {"norm": "instance", "gan_mode": "lsgan"}),
    ("unet", "n_layers", {"n_layers_D": 2, "batch_size": 2}),
    ("encoder_decoder", "basic", {"gan_mode": "wgangp"})])
def test_zoo_networks_train_in_bfloat16_with_float32_variables_and_outputs(netG, netD, extra):
    model = Pix2Pix(_options(netG=netG, netD=netD, **extra))
    rng = np.random.default_rng(0)
    x, y = (tf.constant(rng.uniform(-1, 1, (extra.get("batch_size", 1), 32, 32, 3)).astype(np.float32))
            for _ in range(2))
    for _ in range(2):
        result = model.train_step(x, y)
        assert bool(result["applied"])
    assert all(np.isfinite(float(result[name])) for name in model.loss_names)
    assert result["outputs"].dtype == tf.float32 and result["predict_fake"].dtype == tf.float32
    variables = model.generator.trainable_variables + model.discriminator.trainable_variables
    assert all(v.dtype == tf.float32 for v in variables)
    convolutions = [layer for layer in model.generator.layers + model.discriminator.layers
                    if isinstance(layer, (tf.keras.layers.Conv2D, tf.keras.layers.Dense))]
    assert convolutions and all(layer.compute_dtype == "bfloat16" for layer in convolutions)


def test_mirrored_bfloat16_on_two_replicas_follows_float32_and_keeps_the_guard(mirrored_checks):
    """MirroredStrategy on 2 logical CPUs in bfloat16 (tests/scripts/mirrored_checks.py's bfloat16
    check: its measured numbers): the first step against the same mirrored step in float32 from the
    same weights, later steps, and a NaN on one replica leaving everything unchanged."""
    check = mirrored_checks["bfloat16"]
    assert "error" not in check, check.get("error")
    np.testing.assert_allclose(check["losses"], check["float32_losses"], rtol=3e-2)  # bfloat16 rounding
    assert check["variable_dtypes"] == ["float32"]
    assert check["later_steps_applied"] == [True, True] and check["global_step"] == 3
    # The second replica's targets NaN: not applied, no weight, statistic or optimiser state changed.
    assert check["nan_applied"] is False and check["nan_changed"] == [] and check["nan_global_step"] == 3, check


# ------------------------------------------------------------------------ inference
@pytest.fixture(scope="session")
def exports(served_models, shared_dir):
    """A Lab colorization run (untrained, 32x32) and its --deterministic exports in float32 and bfloat16:
    the session's served_models (its run and version 1, the float32 export) and a bfloat16 export of
    that run, built once per test run (helpers.build_once; read-only to the tests)."""
    run, versions = served_models

    def export_bfloat16(base):
        export_mode(export_options(run, base / "bfloat16", deterministic=True, mixed_precision="bfloat16"))

    bfloat16 = build_once(shared_dir, "bfloat16_export", export_bfloat16) / "bfloat16"
    return run, {"float32": str(versions / "1"), "bfloat16": str(bfloat16)}


def _graph_dtypes(saved_model, signature="tensors"):
    """The T of every Conv2D-like op in the SIGNATURE function of SAVED_MODEL (nested functions included)."""
    loaded = tf.saved_model.load(saved_model)
    function = loaded.signatures[signature]
    graphs = [function.graph.as_graph_def()]
    types = set()
    for graph in graphs:
        nodes = list(graph.node) + [n for f in graph.library.function for n in f.node_def]
        for node in nodes:
            if node.op in ("Conv2D", "Conv2DBackpropInput", "MatMul", "BatchMatMulV2", "_FusedConv2D"):
                types.add(tf.dtypes.as_dtype(node.attr["T"].type).name)
    return loaded, types


def test_a_bfloat16_export_computes_in_bfloat16_behind_the_same_signatures(exports):
    _, paths = exports
    plain, plain_types = _graph_dtypes(paths["float32"])
    fast, fast_types = _graph_dtypes(paths["bfloat16"])
    assert plain_types == {"float32"} and "bfloat16" in fast_types
    assert set(plain.signatures) == set(fast.signatures)
    for name in plain.signatures:
        assert plain.signatures[name].structured_input_signature == fast.signatures[name].structured_input_signature
        assert plain.signatures[name].structured_outputs == fast.signatures[name].structured_outputs
    assert json.loads(open(os.path.join(paths["bfloat16"], "assets", "options.json")).read())[
        "mixed_precision"] == "bfloat16"
    x = tf.random.uniform([1, 32, 32, 1], -1, 1, seed=4)
    a, b = (model.signatures["tensors"](inputs=x)["outputs"] for model in (plain, fast))
    assert b.dtype == tf.float32
    difference = float(tf.reduce_max(tf.abs(a - b)))
    assert 0 < difference < 0.1  # bfloat16 rounding, not another model


def _psnr(a, b):
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 10 * np.log10(255.0 ** 2 / mse) if mse else float("inf")


def test_infer_takes_the_flag_on_a_training_dir_and_reads_it_from_an_export(tmp_path, exports):
    run, paths = exports
    photos = tmp_path / "photos"
    photos.mkdir()
    write_image(photos / "photo.jpg", smooth_photo(np.random.default_rng(2), 48, 40))
    outputs = {}
    for name, checkpoint, flags in (("run32", run, ()), ("run16", run, ("--mixed_precision", "bfloat16")),
                                    ("export16", paths["bfloat16"], ())):
        run_cli("--mode", "infer", "--checkpoint", checkpoint, "--input_dir", photos,
                "--output_dir", tmp_path / name, "--deterministic", *flags)
        outputs[name] = read_rgb(tmp_path / name / "photo.png")
    np.testing.assert_array_equal(outputs["run16"], outputs["export16"])  # the same generator, both ways
    assert 25 < _psnr(outputs["run32"], outputs["run16"]) < float("inf")
    refused = run_cli("--mode", "infer", "--checkpoint", paths["bfloat16"], "--input_dir", photos,
                      "--output_dir", tmp_path / "refused", "--mixed_precision", "float32", check=False)
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert "--mixed_precision: the SavedModel in" in refused.stderr and "bfloat16" in refused.stderr


def test_infer_translates_a_video_with_the_bfloat16_export(tmp_path, exports):
    _, paths = exports
    clips = tmp_path / "clips"
    clips.mkdir()
    writer = cv2.VideoWriter(str(clips / "clip.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (48, 32))
    rng = np.random.default_rng(3)
    for _ in range(6):
        writer.write(smooth_photo(rng, 32, 48)[..., ::-1].copy())
    writer.release()
    run_cli("--mode", "infer", "--checkpoint", paths["bfloat16"], "--input_dir", clips,
            "--output_dir", tmp_path / "out")
    capture = cv2.VideoCapture(str(tmp_path / "out" / "clip.mp4"))
    frames = 0
    while capture.read()[0]:
        frames += 1
    assert frames == 6


def test_serve_answers_from_a_training_dir_in_bfloat16(exports):
    from helpers import ServerProcess, b64, call, encode_png

    run, _ = exports
    server = ServerProcess("--checkpoint", run, "--mixed_precision", "bfloat16", "--deterministic",
                           "--model_name", "color")
    try:
        picture = encode_png(smooth_photo(np.random.default_rng(5), 40, 40))
        reply = call("POST", server.model_url() + ":predict", {"instances": [{"b64": b64(picture)}]})
        assert reply.status == 200, reply.body
        assert set(reply.json()["predictions"][0]) == {"b64"}
    finally:
        server.kill()


def test_onnx_export_refuses_bfloat16_naming_the_flag(tmp_path, exports):
    run, _ = exports
    result = run_cli("--mode", "export", "--checkpoint", run, "--output_dir", tmp_path / "onnx",
                     "--format", "onnx", "--deterministic", "--mixed_precision", "bfloat16", check=False)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "--mixed_precision: --format onnx exports float32 only" in result.stderr
    assert not (tmp_path / "onnx").exists()


@pytest.mark.parametrize("norm", ["instance", "batch"])
def test_norm_statistics_are_taken_in_float32_in_bfloat16(norm):
    """Off-centre activations (mean 20, std 0.5, where bfloat16's step is 0.125): a mean taken, or
    subtracted, in bfloat16 would shift the whole map by up to a quarter of its standard deviation.
    Out comes float32's result on the same input, up to bfloat16's rounding of the output."""
    from pix2pix.models.norms import NORMS
    from pix2pix.models.precision import dtype_policy

    rng = np.random.default_rng(0)
    x = tf.cast(tf.constant(rng.normal(20.0, 0.5, (2, 16, 16, 4)).astype(np.float32)), tf.bfloat16)
    with dtype_policy("bfloat16"):
        layer = NORMS.get(norm)(f"{norm}_bf16")
    reference = NORMS.get(norm)(f"{norm}_f32")
    layer.build(x.shape)
    reference.build(x.shape)
    reference.set_weights(layer.get_weights())
    y = layer(x, training=True)
    expected = reference(tf.cast(x, tf.float32), training=True)
    assert y.dtype == tf.bfloat16
    # bfloat16 keeps 8 significant bits: outputs within +-4 are rounded by at most 2**-6.
    np.testing.assert_allclose(tf.cast(y, tf.float32), expected, atol=2.0 ** -5)
