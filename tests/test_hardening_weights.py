"""Weight files that claim more than they hold: PyTorch `.pth` files and the TF1 demo's `.pict`.

Every bomb is a small file made here. Each is refused with one line naming the file, before an
array or a network of the claimed size is made: the refusing process (a fresh interpreter, its
peak resident memory read by /usr/bin/time) stays far under 1.5 GB.
"""

import json
import math
import os
import struct
import sys
import zipfile

import numpy as np
import pytest

from helpers import run_measuring_peak
from pix2pix.errors import Pix2PixError
from pix2pix.io import torch_pickle
from pix2pix.io.pict import read_pict
from pix2pix.io.torch_pickle import read_state_dict
from pix2pix.models import pytorch_weights
from pix2pix.modes.importing import import_mode
from pix2pix.options.record import Options

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures", "pytorch")
PEAK_LIMIT_MB = 400  # far under the 1.5 GB the bombs are judged against; Python + numpy is ~40 MB


# ------------------------------------------------------------------------ measuring
def read_in_child(path, tmp_path, reader="pix2pix.io.torch_pickle:read_state_dict"):
    """(the reader's one-line refusal, peak MB) of reading PATH in a fresh interpreter."""
    module, function = reader.split(":")
    code = (f"import sys; from {module} import {function}; from pix2pix.errors import Pix2PixError\n"
            f"try:\n    {function}(sys.argv[1])\nexcept Pix2PixError as err:\n    print(err); sys.exit(1)\n")
    result, peak = run_measuring_peak([sys.executable, "-c", code, path], tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert result.stdout.count("\n") == 1, result.stdout
    print(f"{os.path.basename(str(path))} refused; peak {peak:.0f} MB")
    return result.stdout.strip(), peak


# ------------------------------------------------------------------ writing pickles
def _int(value):
    if 0 <= value < 1 << 31:
        return b"J" + struct.pack("<i", value)
    length = (value.bit_length() + 8) // 8  # LONG1: two's complement, little-endian
    return b"\x8a" + bytes([length]) + value.to_bytes(length, "little", signed=True)


def _text(value):
    data = value.encode()
    return b"X" + struct.pack("<I", len(data)) + data


def _tuple(values):
    return b"(" + b"".join(_int(v) for v in values) + b"t"


def tensor(size, stride, offset=0, numel=1, key="0"):
    """Pickle opcodes for torch._utils._rebuild_tensor_v2(FloatStorage KEY of NUMEL values,
    OFFSET, SIZE, STRIDE, False, {}), as torch.save writes a tensor."""
    storage = b"(" + _text("storage") + b"ctorch\nFloatStorage\n" + _text(key) + _text("cpu") + _int(numel) + b"tQ"
    return (b"ctorch._utils\n_rebuild_tensor_v2\n(" + storage + _int(offset) + _tuple(size) + _tuple(stride)
            + b"\x89}tR")


def state_pickle(tensors):
    """A pickled dict {name: tensor opcodes}."""
    return b"\x80\x02}(" + b"".join(_text(name) + opcodes for name, opcodes in tensors.items()) + b"u."


def write_pth(path, pickled, storages=None):
    """A zip-layout .pth: DIR/data.pkl and DIR/data/KEY for each of STORAGES ({key: bytes})."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("bomb/data.pkl", pickled)
        for key, data in (storages or {"0": np.zeros(1, "<f4").tobytes()}).items():
            archive.writestr(f"bomb/data/{key}", data)
    return str(path)


def understate_member_size(path, member, claimed):
    """Rewrite the zip's central directory so MEMBER claims CLAIMED uncompressed bytes."""
    data = bytearray(open(path, "rb").read())
    name = member.encode()
    at = data.find(b"PK\x01\x02")
    while at >= 0:
        name_length = struct.unpack_from("<H", data, at + 28)[0]
        if data[at + 46:at + 46 + name_length] == name:
            struct.pack_into("<I", data, at + 24, claimed)
            open(path, "wb").write(bytes(data))
            return
        at = data.find(b"PK\x01\x02", at + 4)
    raise AssertionError(f"no central directory entry for {member}")


# --------------------------------------------------------------------- .pth bombs
def test_a_stride_zero_tensor_of_400_million_values_over_one_value_is_refused_unallocated(tmp_path):
    path = write_pth(tmp_path / "stride0.pth", state_pickle({"w": tensor((20000, 20000), (0, 0))}))
    message, peak = read_in_child(path, tmp_path)
    assert message.startswith(path) and "tensor w claims shape 20000x20000" in message
    assert peak < PEAK_LIMIT_MB, peak
    # the same, many times over one storage, each within the single-tensor bound
    many = {f"w{i}": tensor((8000, 8000), (0, 0)) for i in range(4)}
    with pytest.raises(Pix2PixError, match="tensors hold more than 134,217,728 values together"):
        read_state_dict(write_pth(tmp_path / "many.pth", state_pickle(many)))


@pytest.mark.parametrize("size, words", [
    ((1 << 70,), "claims shape 1180591620717411303424"),  # a size of 2^70
    ((-1, 4), "claims shape -1x4"),
])
def test_a_tensor_size_of_2_to_the_70_or_negative_is_one_line(tmp_path, size, words):
    path = write_pth(tmp_path / "huge.pth", state_pickle({"w": tensor(size, (0,) * len(size))}))
    with pytest.raises(Pix2PixError, match=words) as error:
        read_state_dict(path)
    assert "\n" not in str(error.value)


def test_a_storage_claiming_2_to_the_70_values_is_refused(tmp_path):
    path = write_pth(tmp_path / "storage.pth", state_pickle({"w": tensor((1,), (1,), numel=1 << 70)}))
    with pytest.raises(Pix2PixError, match="storage 0 claims 1180591620717411303424 elements"):
        read_state_dict(path)


def test_a_member_inflating_past_its_storage_is_refused_by_its_header_and_by_the_cap(tmp_path):
    """A 256 MB member (256 KB deflated) behind a storage of one value: refused from the size in
    the zip header; with the header rewritten to claim 4 bytes, refused once 4 are inflated."""
    zeros = bytes(256 << 20)
    path = write_pth(tmp_path / "inflate.pth", state_pickle({"w": tensor((1,), (1,))}), {"0": zeros})
    del zeros
    assert os.path.getsize(path) < 1 << 20
    with pytest.raises(Pix2PixError, match=r"member bomb/data/0 claims 268,435,456 bytes, more than the 4"):
        read_state_dict(path)
    understate_member_size(path, "bomb/data/0", 4)
    message, peak = read_in_child(path, tmp_path)
    assert message == f"{path}: cannot read: Bad CRC-32 for file 'bomb/data/0'"
    assert peak < PEAK_LIMIT_MB, peak


def test_dicts_sharing_references_40_deep_are_refused_at_once(tmp_path):
    """A 1 KB pickle whose dicts each hold the one below twice: 2^40 paths for a naive walk."""
    import pickle
    level = {"leaf": 0}
    for _ in range(40):
        level = {"a": level, "b": level}
    path = write_pth(tmp_path / "shared.pth", pickle.dumps(level, protocol=2))
    assert os.path.getsize(path) < 2048
    message, peak = read_in_child(path, tmp_path)
    assert "appears more than once; a state_dict is a tree of tensors" in message
    assert peak < PEAK_LIMIT_MB, peak


@pytest.mark.parametrize("layout", ["zip", "legacy"])
def test_dicts_nested_100000_deep_are_one_line(tmp_path, layout):
    depth = 100_000
    pickled = b"\x80\x02" + (b"}" + _text("k")) * depth + b"}" + b"s" * depth + b"."
    if layout == "zip":
        path = write_pth(tmp_path / "deep.pth", pickled)
    else:
        path = str(tmp_path / "deep.pth")
        with open(path, "wb") as file:
            import pickle
            for value in (torch_pickle.LEGACY_MAGIC, torch_pickle.LEGACY_PROTOCOL, {"little_endian": True}):
                pickle.dump(value, file, protocol=2)
            file.write(pickled)
            pickle.dump([], file, protocol=2)
    with pytest.raises(Pix2PixError, match="dicts nested more than 64 deep") as error:
        read_state_dict(path)
    assert "\n" not in str(error.value)


# ------------------------------------------------------- network sizes, NaN, the CLI
def _unet_keys(first_shape, last_shape):
    """A state_dict that looks like a 5-level PyTorch U-Net: first and last convolutions of the
    given shapes (views of one value: no memory), a tiny tensor on each deeper level."""
    state = {"model.model.0.weight": np.broadcast_to(np.float32(0), first_shape),
             "model.model.3.weight": np.broadcast_to(np.float32(0), last_shape)}
    prefix = "model.model.1.model."
    for _ in range(4):
        state[prefix + "1.weight"] = np.zeros((1, 1, 1, 1), np.float32)
        prefix += "3.model."
    return state


def test_network_sizes_the_file_cannot_fill_are_refused_before_building():
    state = _unet_keys((1000, 3, 4, 4), (2000, 3, 4, 4))
    with pytest.raises(Pix2PixError, match=r"g\.pth: its sizes describe a U-Net of ngf 1000 and 5 levels, whose "
                                           r"kernels alone hold 4,064,144,000 values, but the file holds 144,004"):
        pytorch_weights.describe_generator(state, "g.pth")
    # the count is exact for real files: each fixture holds precisely the kernels it needs
    for name, describe in (("unet", pytorch_weights.describe_generator),
                           ("resnet", pytorch_weights.describe_generator),
                           ("discriminator", pytorch_weights.describe_discriminator)):
        fixture = pytorch_weights.clean_keys(read_state_dict(os.path.join(FIXTURES, f"{name}_zip.pth")))
        facts = describe(fixture, name)  # accepted
        held = sum(value.size for value in fixture.values() if value.ndim == 4)
        assert pytorch_weights.kernel_values(facts) == held, name


@pytest.mark.parametrize("key", ["model.model.0.weight", "model.model.1.model.2.running_var",
                                 "model.model.1.model.2.running_mean"])
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_or_infinity_in_a_pytorch_file_is_refused_by_name(tmp_path, key, bad):
    state = pytorch_weights.clean_keys(read_state_dict(os.path.join(FIXTURES, "unet_zip.pth")))
    state[key] = state[key].copy()
    state[key].flat[1] = bad
    with pytest.raises(Pix2PixError, match=rf"g\.pth: {key.replace('.', '[.]')} holds 1 non-finite value "
                                           r"\(NaN or infinity\) of \d+; nothing was imported"):
        pytorch_weights.describe_generator(state, "g.pth")


def test_import_of_a_pth_bomb_is_one_line_and_small(tmp_path):
    """The CLI: a 1 KB file whose first convolution says ngf 1000 (a network of 13 GB)."""
    tensors = {"model.model.0.weight": tensor((1000, 3, 4, 4), (0, 0, 0, 0)),
               "model.model.3.weight": tensor((2000, 3, 4, 4), (0, 0, 0, 0))}
    prefix = "model.model.1.model."
    for _ in range(4):
        tensors[prefix + "1.weight"] = tensor((1, 1, 1, 1), (1, 1, 1, 1))
        prefix += "3.model."
    path = write_pth(tmp_path / "latest_net_G.pth", state_pickle(tensors))
    out = tmp_path / "imported"
    result, peak = run_measuring_peak([sys.executable, "-m", "pix2pix", "--mode", "import", "--checkpoint", path,
                                       "--output_dir", out], tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith(f"pix2pix: error: {path}: its sizes describe")
    assert not out.exists()
    print(f"import of a .pth declaring ngf 1000 refused; peak {peak:.0f} MB")
    assert peak < 1024, peak  # TensorFlow's import alone is most of it


# --------------------------------------------------------------------------- .pict
def write_pict(path, variables, codes=None):
    """A .pict of VARIABLES ([{"name", "shape"}] or raw JSON bytes), a zero codebook, CODES."""
    listed = variables if isinstance(variables, bytes) else json.dumps(variables).encode()
    if codes is None:
        codes = bytes(sum(math.prod(v["shape"]) for v in variables))
    parts = (listed, bytes(1024), codes)
    path.write_bytes(b"".join(struct.pack(">L", len(part)) + part for part in parts))
    return str(path)


@pytest.mark.parametrize("variables, words", [
    ([{"name": "generator/encoder_1/conv2d/kernel", "shape": [4, 4]}], "has shape [4, 4]; a TF1 pix2pix "
     "generator's kernels have 4 dimensions"),
    ([{"name": "generator/encoder_1/conv2d/bias", "shape": []}], "has shape []"),
    ([{"name": "generator/encoder_1/conv2d/kernel", "shape": [1 << 30, 1 << 30, 1 << 30, 16]}],
     "hold 19807040628566084398385987584 values but there are 0 codes"),  # 2^94: 0 in int64
    ([{"name": "generator/encoder_1/conv2d/kernel", "shape": [4, 4, 3, 1 << 63]}], "whole numbers from 0"),
    (b"[" * 100_000 + b"]" * 100_000, "nested too deep"),
    ([[[[[[[[[[[]]]]]]]]]]], "variable list entry [[[[[[[...]]]]]]] is not"),
])
def test_odd_pict_variable_lists_are_one_line(tmp_path, variables, words):
    path = write_pict(tmp_path / "odd.pict", variables, codes=b"")
    with pytest.raises(Pix2PixError) as error:
        read_pict(path)
    assert words in str(error.value) and "\n" not in str(error.value)


def test_a_pict_declaring_ngf_1000_is_refused_before_building(tmp_path):
    """267 KB: a first kernel of [4, 4, 3, 1000] on a 5-level U-Net would build 13 GB."""
    variables = [{"name": "generator/encoder_1/conv2d/kernel", "shape": [4, 4, 3, 1000]},
                 {"name": "generator/decoder_1/conv2d_transpose/kernel", "shape": [4, 4, 3, 2000]}]
    variables += [{"name": f"generator/encoder_{k}/conv2d/bias", "shape": [1]} for k in range(2, 6)]
    path = write_pict(tmp_path / "big.pict", variables)
    out = tmp_path / "imported"
    with pytest.raises(Pix2PixError, match=r"big\.pict: its sizes describe a U-Net of ngf 1000 and 5 levels"):
        import_mode(Options(mode="import", checkpoint=path, output_dir=str(out)))
    assert not out.exists()
