"""PyTorch pix2pix files read and run without PyTorch, against outputs PyTorch computed.

The fixtures (tests/fixtures/pytorch/) were written by tests/scripts/make_pytorch_fixtures.py
with PyTorch and the PyTorch repository's own networks.py: each network's state_dict in both
torch.save layouts, inputs, and PyTorch's outputs in train mode (batch statistics, dropout
off) and eval mode (running statistics).
"""

import os
import pickle
import shutil
import zipfile

import numpy as np
import pytest
import tensorflow as tf

from helpers import assert_one_line_error, run_cli
from pix2pix.errors import Pix2PixError
from pix2pix.io.torch_pickle import LEGACY_MAGIC, LEGACY_PROTOCOL, read_state_dict
from pix2pix.models import norms, pytorch_weights
from pix2pix.models.discriminators import build_patch_discriminator
from pix2pix.models.generators import build_resnet
from pix2pix.models.networks import count_trainable_parameters, define_generator
from pix2pix.models.pix2pix_model import Pix2Pix
from pix2pix.models.unet_pytorch import build_unet_pytorch
from pix2pix.modes.import_pytorch import discriminator_file, import_pytorch, is_pytorch_checkpoint
from pix2pix.options.record import Options
from pix2pix.options.stored import read_options_file

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures", "pytorch")
LAYOUTS = ("zip", "legacy")
TOLERANCE = 1e-4


def fixture(name):
    return os.path.join(FIXTURES, name)


def io_arrays(network):
    return np.load(fixture(f"{network}_io.npz"))


def as_inputs(pictures):
    """uint8 [N, H, W, C] -> float32 in [-1, 1], as the PyTorch side computed them."""
    return pictures.astype(np.float32) / np.float32(127.5) - np.float32(1.0)


def unet_windows(outputs, arrays):
    size = int(arrays["window"])
    return np.stack([outputs[:, y:y + size, x:x + size] for y, x in arrays["window_corners"]])


# ---------------------------------------------------------------------- the reader
@pytest.mark.parametrize("network", ["unet", "resnet", "discriminator"])
def test_both_layouts_read_the_same_tensors(network):
    zipped = read_state_dict(fixture(f"{network}_zip.pth"))
    legacy = read_state_dict(fixture(f"{network}_legacy.pth"))
    assert list(zipped) == list(legacy) and len(zipped) > 10
    for key, value in zipped.items():
        assert value.dtype == (np.int64 if key.endswith("num_batches_tracked") else np.float32), key
        np.testing.assert_array_equal(value, legacy[key], err_msg=key)


def _tensor_opcodes(offset, size, stride):
    """Pickle opcodes for torch._utils._rebuild_tensor_v2(storage 0, OFFSET, SIZE, STRIDE, False, {}),
    storage 0 being 12 float32 values (a persistent id, as torch.save writes it)."""
    def small_ints(values):
        return b"(" + b"".join(b"K" + bytes([v]) for v in values) + b"t"
    storage = b"(Vstorage\nctorch\nFloatStorage\nV0\nVcpu\nK\x0ctQ"
    return (b"ctorch._utils\n_rebuild_tensor_v2\n(" + storage + b"K" + bytes([offset])
            + small_ints(size) + small_ints(stride) + b"\x89}tR")


def test_reader_handles_strides_and_offsets(tmp_path):
    """A transposed view and a slice with an offset into one shared storage, in the zip layout."""
    payload = (b"\x80\x02}(Vtransposed\n" + _tensor_opcodes(0, (3, 4), (1, 3))
               + b"Vslice\n" + _tensor_opcodes(5, (2, 3), (4, 1)) + b"u.")
    path = tmp_path / "views.pth"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("views/data.pkl", payload)
        archive.writestr("views/data/0", np.arange(12, dtype="<f4").tobytes())
    read = read_state_dict(str(path))
    np.testing.assert_array_equal(read["transposed"], np.arange(12, dtype=np.float32).reshape(4, 3).T)
    np.testing.assert_array_equal(read["slice"], [[5, 6, 7], [9, 10, 11]])
    assert read["slice"].dtype == np.float32


def test_reader_refuses_a_view_outside_its_storage(tmp_path):
    path = tmp_path / "outside.pth"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("outside/data.pkl", b"\x80\x02}(Vx\n" + _tensor_opcodes(9, (2, 3), (4, 1)) + b"u.")
        archive.writestr("outside/data/0", np.arange(12, dtype="<f4").tobytes())
    with pytest.raises(Pix2PixError, match="reaches outside its storage"):
        read_state_dict(str(path))


# ----------------------------------------------------------------- malicious files
def _malicious_pickle(marker, module="os", name="system"):
    """Protocol-0 opcodes calling MODULE.NAME('touch MARKER'), written by hand."""
    return f"c{module}\n{name}\n(V touch {marker}\ntR.".encode()


def _legacy_file(path, object_pickle, header_pickles=None):
    with open(path, "wb") as file:
        for value in header_pickles or (LEGACY_MAGIC, LEGACY_PROTOCOL,
                                        {"protocol_version": LEGACY_PROTOCOL, "little_endian": True}):
            pickle.dump(value, file, protocol=2)
        file.write(object_pickle)
        pickle.dump([], file, protocol=2)


@pytest.mark.parametrize("module, name", [("os", "system"), ("posix", "system"),
                                          ("builtins", "eval"), ("subprocess", "Popen")])
@pytest.mark.parametrize("layout", ["zip", "legacy", "legacy_header"])
def test_malicious_pickle_is_refused_and_nothing_runs(tmp_path, layout, module, name):
    marker = tmp_path / "pwned"
    payload = _malicious_pickle(marker, module, name)
    # The payload really runs under a plain unpickler (the check below could not fail otherwise).
    if (module, name) in (("os", "system"), ("posix", "system")):
        pickle.loads(payload)
        assert marker.exists()
        marker.unlink()
    path = tmp_path / "evil.pth"
    if layout == "zip":
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("evil/data.pkl", payload)
    elif layout == "legacy":
        _legacy_file(path, payload)
    else:  # the very first pickle, the magic number's, is the payload
        path.write_bytes(payload)
    with pytest.raises(Pix2PixError) as error:
        read_state_dict(str(path))
    message = str(error.value)
    assert "\n" not in message and f"{module}.{name}" in message and "refused" in message
    assert not marker.exists()


def test_malicious_file_is_refused_by_the_cli(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "latest_net_G.pth"
    _legacy_file(path, _malicious_pickle(marker))
    result = run_cli("--mode", "import", "--checkpoint", path, "--output_dir", tmp_path / "out",
                     check=False, timeout=300)
    assert_one_line_error(result, 1, "os.system", "refused")
    assert not marker.exists() and not (tmp_path / "out").exists()


def test_a_file_cannot_alter_the_readers_stand_ins(tmp_path):
    """BUILD on the shared torch.FloatStorage stand-in (to change the element type for the
    files read after it) is refused, and later files read as before."""
    path = tmp_path / "build.pth"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("build/data.pkl", b"\x80\x02ctorch\nFloatStorage\n}Vdtype\nV<f8\nsb.")
    with pytest.raises(Pix2PixError, match="not a readable PyTorch file"):
        read_state_dict(str(path))
    assert read_state_dict(fixture("discriminator_zip.pth"))["model.0.weight"].shape == (4, 6, 4, 4)


@pytest.mark.parametrize("content, expected", [
    (b"", "not a readable PyTorch file"),
    (b"\x80\x02K\x07.", "no torch.save magic number"),
])
def test_not_a_pytorch_file(tmp_path, content, expected):
    path = tmp_path / "broken.pth"
    path.write_bytes(content)
    with pytest.raises(Pix2PixError, match=expected):
        read_state_dict(str(path))


def test_truncated_legacy_file(tmp_path):
    data = open(fixture("discriminator_legacy.pth"), "rb").read()
    path = tmp_path / "cut.pth"
    path.write_bytes(data[:-100])
    with pytest.raises(Pix2PixError, match="truncated|holds"):
        read_state_dict(str(path))


# -------------------------------------------------------------- parity with PyTorch
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("bn_statistics, expected", [("batch", "train_windows"),
                                                     ("running", "eval_windows")])
def test_unet_matches_pytorch(layout, bn_statistics, expected):
    arrays = io_arrays("unet")
    model = build_unet_pytorch(3, 3, ngf=2, depth=8, bn_statistics=bn_statistics)
    facts = pytorch_weights.load_generator(model, read_state_dict(fixture(f"unet_{layout}.pth")), "unet")
    assert (facts.netG, facts.ngf, facts.depth, facts.norm) == ("unet_pytorch", 2, 8, "batch")
    outputs = model(as_inputs(arrays["inputs"]), training=False).numpy()
    np.testing.assert_allclose(unet_windows(outputs, arrays), arrays[expected], atol=TOLERANCE, rtol=0)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_resnet_matches_pytorch(layout):
    arrays = io_arrays("resnet")
    state = read_state_dict(fixture(f"resnet_{layout}.pth"))
    facts = pytorch_weights.describe_generator(pytorch_weights.clean_keys(state), "resnet")
    assert (facts.netG, facts.ngf, facts.norm, facts.dropout) == ("resnet_6blocks", 4, "instance", True)
    model = build_resnet(3, 3, ngf=4, blocks=6, norm="instance", dropout=True)
    pytorch_weights.load_generator(model, state, "resnet")
    outputs = model(as_inputs(arrays["inputs"]), training=False).numpy()
    np.testing.assert_allclose(outputs, arrays["train"], atol=TOLERANCE, rtol=0)


def _discriminator(bn_statistics):
    with norms.building_with(bn_statistics):
        return build_patch_discriminator(3, 3, ndf=4, n_layers=3, norm="batch", sigmoid=False)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("bn_statistics, expected", [("batch", "train"), ("running", "eval")])
def test_discriminator_matches_pytorch(layout, bn_statistics, expected):
    arrays = io_arrays("discriminator")
    model = _discriminator(bn_statistics)
    pytorch_weights.load_discriminator(model, read_state_dict(fixture(f"discriminator_{layout}.pth")), "D")
    pictures = as_inputs(arrays["inputs"])
    scores = model([pictures[..., :3], pictures[..., 3:]], training=False).numpy()
    np.testing.assert_allclose(scores, arrays[expected], atol=TOLERANCE, rtol=0)


def test_running_statistics_move_as_pytorchs():
    """From the state before PyTorch's train-mode passes (three warm-up pictures, then the batch
    of two whose train-mode scores the fixture holds), the same passes here give the running
    mean and variance PyTorch saved (momentum 0.1, unbiased variance)."""
    arrays = io_arrays("discriminator")
    state = read_state_dict(fixture("discriminator_zip.pth"))
    model = _discriminator("running")
    pytorch_weights.load_discriminator(model, state, "D")
    layers = {"model.3": "layer_2_bn", "model.6": "layer_3_bn", "model.9": "layer_4_bn"}
    for module, name in layers.items():
        layer = model.get_layer(name)
        layer.moving_mean.assign(arrays[f"before.{module}.running_mean"])
        layer.moving_variance.assign(arrays[f"before.{module}.running_var"])
        assert not np.allclose(arrays[f"before.{module}.running_mean"], state[f"{module}.running_mean"])
    for pictures in [*as_inputs(arrays["warm_up_inputs"]), as_inputs(arrays["inputs"])]:
        model([pictures[..., :3], pictures[..., 3:]], training=True)
    for module, name in layers.items():
        layer = model.get_layer(name)
        np.testing.assert_allclose(layer.moving_mean.numpy(), state[f"{module}.running_mean"], atol=1e-5)
        np.testing.assert_allclose(layer.moving_variance.numpy(), state[f"{module}.running_var"],
                                   rtol=1e-4, atol=1e-5)


# --------------------------------------------------------------- parameter counts
@pytest.mark.parametrize("network, build", [
    ("unet", lambda: build_unet_pytorch(3, 3, ngf=2, depth=8)),
    ("resnet", lambda: build_resnet(3, 3, ngf=4, blocks=6, norm="instance")),
    ("discriminator", lambda: _discriminator("batch")),
])
def test_parameter_counts_equal_pytorchs(network, build):
    """PyTorch's count of parameters (its buffers, running statistics, are not parameters).
    The PatchGAN here keeps a bias on every convolution; PyTorch drops those before batch norm
    (3 layers: 8 + 16 + 32 biases at ndf 4), which import sets to zero."""
    extra = {"discriminator": 8 + 16 + 32}.get(network, 0)
    assert count_trainable_parameters(build()) == int(io_arrays(network)["parameters"]) + extra


def test_unet_256_parameter_count_at_ngf_64():
    """54,413,955: PyTorch's UnetGenerator(3, 3, 8, 64, BatchNorm2d), counted with torch."""
    options = Options(netG="unet_pytorch", crop_size=256, output_dir="unused")
    assert count_trainable_parameters(define_generator(options)) == 54_413_955


def test_only_asked_for_models_carry_running_statistics():
    plain = define_generator(Options(netG="unet", crop_size=32, ngf=2, output_dir="x"))
    assert not plain.non_trainable_weights
    running = define_generator(Options(netG="unet", crop_size=32, ngf=2, output_dir="x",
                                       bn_statistics="running"))
    assert {w.name for w in running.non_trainable_weights} == {"moving_mean", "moving_variance"}
    pytorch = define_generator(Options(netG="unet_pytorch", crop_size=32, ngf=2, output_dir="x"))
    assert len(pytorch.non_trainable_weights) == 2 * (2 * 5 - 3)  # every batch norm of 5 levels


# ------------------------------------------------------------------ mapping errors
def test_unknown_key_is_refused():
    state = read_state_dict(fixture("unet_zip.pth"))
    state["model.model.1.model.7.weight"] = np.zeros((2, 2, 4, 4), np.float32)
    model = build_unet_pytorch(3, 3, ngf=2, depth=8)
    with pytest.raises(Pix2PixError, match=r"key model\.model\.1\.model\.7\.weight has no place"):
        pytorch_weights.load_generator(model, state, "unet.pth")


def test_shape_mismatch_is_refused():
    state = read_state_dict(fixture("unet_zip.pth"))
    model = build_unet_pytorch(3, 3, ngf=4, depth=8)
    with pytest.raises(Pix2PixError, match="shape mismatch") as error:
        pytorch_weights.load_generator(model, state, "unet.pth")
    assert "\n" not in str(error.value)


def test_biases_before_batch_norm_are_folded_exactly():
    """networks.py of 2017 biased every convolution; before a batch norm the bias is folded
    into the running mean, which gives the same outputs in both statistics modes."""
    state = read_state_dict(fixture("unet_zip.pth"))
    arrays = io_arrays("unet")
    biased = dict(state)
    rng = np.random.default_rng(0)
    conv = "model.model.1.model.3.model.1"  # encoder_3_conv, batch norm model...model.2 after it
    biased[conv + ".bias"] = rng.normal(0, 0.5, state[conv + ".weight"].shape[0]).astype(np.float32)
    mean = "model.model.1.model.3.model.2.running_mean"
    biased[mean] = state[mean] + biased[conv + ".bias"]  # what PyTorch would have tracked
    for bn_statistics, expected in (("batch", "train_windows"), ("running", "eval_windows")):
        model = build_unet_pytorch(3, 3, ngf=2, depth=8, bn_statistics=bn_statistics)
        pytorch_weights.load_generator(model, biased, "biased")
        outputs = model(as_inputs(arrays["inputs"]), training=False).numpy()
        np.testing.assert_allclose(unet_windows(outputs, arrays), arrays[expected], atol=TOLERANCE)
    biased["model.model.0.bias"] = np.zeros(2, np.float32)  # no norm after the first conv
    with pytest.raises(Pix2PixError, match="model.model.0.bias has no place"):
        pytorch_weights.load_generator(build_unet_pytorch(3, 3, ngf=2, depth=8), biased, "biased")


def test_not_a_generator():
    with pytest.raises(Pix2PixError, match="not a PyTorch pix2pix generator"):
        pytorch_weights.describe_generator({"fc.weight": np.zeros((2, 2), np.float32)}, "x.pth")


# ------------------------------------------------------------------- import mode
@pytest.fixture()
def pytorch_run(tmp_path):
    """A PyTorch training directory: latest_net_G.pth (legacy layout) and latest_net_D.pth."""
    directory = tmp_path / "checkpoints"
    directory.mkdir()
    shutil.copy(fixture("unet_legacy.pth"), directory / "latest_net_G.pth")
    shutil.copy(fixture("discriminator_zip.pth"), directory / "latest_net_D.pth")
    return directory


def test_dispatch_rule_and_discriminator_file(pytorch_run, tmp_path):
    generator = str(pytorch_run / "latest_net_G.pth")
    assert is_pytorch_checkpoint(generator) and not is_pytorch_checkpoint(str(pytorch_run))
    assert discriminator_file(generator) == str(pytorch_run / "latest_net_D.pth")
    assert discriminator_file(fixture("unet_zip.pth")) is None


def test_import_writes_a_training_directory_that_export_uses(pytorch_run, tmp_path):
    out = tmp_path / "imported"
    options = Options(mode="import", checkpoint=str(pytorch_run / "latest_net_G.pth"),
                      output_dir=str(out), bn_statistics="running")
    prefix = import_pytorch(options, explicit={"mode", "checkpoint", "output_dir", "bn_statistics"})
    stored = read_options_file(str(out))
    assert {k: stored[k] for k in ("netG", "ngf", "crop_size", "norm", "ndf", "netD",
                                   "condition_GAN", "bn_statistics")} == {
        "netG": "unet_pytorch", "ngf": 2, "crop_size": 256, "norm": "batch", "ndf": 4,
        "netD": "basic", "condition_GAN": True, "bn_statistics": "running"}
    assert not [name for name in os.listdir(tmp_path) if ".partial-" in name]

    # Restored as training and test restore it: both networks are PyTorch's.
    restored = Pix2Pix(Options(**{**stored, "mode": "test", "checkpoint": str(out)}))
    restored.checkpoint().restore(prefix).expect_partial()
    unet, discriminator = io_arrays("unet"), io_arrays("discriminator")
    outputs = restored.generator(as_inputs(unet["inputs"]), training=False).numpy()
    np.testing.assert_allclose(unet_windows(outputs, unet), unet["eval_windows"], atol=TOLERANCE)
    pictures = as_inputs(discriminator["inputs"])
    logits = restored.discriminator([pictures[..., :3], pictures[..., 3:]], training=False)
    np.testing.assert_allclose(tf.math.log(logits / (1 - logits)), discriminator["eval"], atol=1e-3)

    # Exported through the CLI, deterministic (dropout off): PyTorch's --eval outputs.
    exported = tmp_path / "exported"
    run_cli("--mode", "export", "--checkpoint", out, "--output_dir", exported, "--deterministic",
            timeout=600)
    saved = tf.saved_model.load(str(exported))
    outputs = saved.signatures["tensors"](inputs=tf.constant(as_inputs(unet["inputs"])))["outputs"]
    np.testing.assert_allclose(unet_windows(outputs.numpy(), unet), unet["eval_windows"], atol=TOLERANCE)


def test_import_refuses_a_conflicting_flag(pytorch_run, tmp_path):
    options = Options(mode="import", checkpoint=str(pytorch_run / "latest_net_G.pth"),
                      output_dir=str(tmp_path / "out"), ngf=64)
    with pytest.raises(Pix2PixError, match=r"--ngf: .*latest_net_G.pth holds a network with ngf=2, not 64"):
        import_pytorch(options, explicit={"mode", "checkpoint", "output_dir", "ngf"})
    assert not (tmp_path / "out").exists()


def test_a_conflicting_import_flag_is_a_usage_error_exit_2(pytorch_run, tmp_path):
    """A flag that contradicts the file is a command line that cannot work: exit 2, as the same
    conflict with a training directory's options.json."""
    result = run_cli("--mode", "import", "--checkpoint", pytorch_run / "latest_net_G.pth",
                     "--output_dir", tmp_path / "out", "--ngf", 64, check=False)
    assert_one_line_error(result, 2, "--ngf:", "holds a network with ngf=2, not 64")
    assert not (tmp_path / "out").exists()


def test_import_refuses_wrong_channels(pytorch_run, tmp_path):
    options = Options(mode="import", checkpoint=str(pytorch_run / "latest_net_G.pth"),
                      output_dir=str(tmp_path / "out"), task="lab")
    with pytest.raises(Pix2PixError, match="--task: .* maps 3 -> 3 channels"):
        import_pytorch(options, explicit={"mode", "checkpoint", "output_dir", "task"})
