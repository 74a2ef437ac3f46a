"""Importing the TF1 demo's quantised generators (`--mode import --checkpoint FILE.pict`).

The .pict files are written here by `write_pict`, which takes the steps of the TF1 demo's
export script: the generator's variables (no moving averages) sorted by name and flattened
into one vector; a 256-entry codebook from a 256-bin histogram of the mu-law (mu = 255)
companded values, bin centres expanded back; each value coded as its nearest codebook entry;
three parts, each behind a 4-byte big-endian length.
"""

import json
import os
import struct

import numpy as np
import pytest

from pix2pix.errors import Pix2PixError
from pix2pix.io.pict import read_pict
from pix2pix.models.checkpoints import restore_generator
from pix2pix.models.networks import define_generator
from pix2pix.models.pix2pix_model import Pix2Pix
from pix2pix.modes.import_tf1 import tf1_names
from pix2pix.modes.importing import import_mode
from pix2pix.modes.preparation import prepare_test_options
from pix2pix.options.record import Options

MU = 255
NGF, CROP = 8, 32  # a 5-level U-Net


def trained_looking_weights(seed=0):
    """{TF1 name: array} of a tiny generator, perturbed so biases and betas are not all zero."""
    generator = Pix2Pix(Options(ngf=NGF, ndf=8, crop_size=CROP)).generator
    rng = np.random.default_rng(seed)
    return {name: (variable.numpy() + rng.normal(0, 0.05, variable.shape)).astype(np.float32)
            for name, variable in tf1_names(generator).items()}


def mu_law_codebook(flat):
    """The 256 codebook values, as the demo's exporter computes them."""
    scale = np.max(np.abs(flat))
    companded = np.sign(flat) * np.log1p(MU * np.abs(flat / scale)) / np.log1p(MU)
    edges = np.histogram(companded, bins=256)[1]
    centres = (edges[:-1] + edges[1:]) / 2
    return (np.sign(centres) * ((1 + MU) ** np.abs(centres) - 1) / MU * scale).astype(np.float32), companded, edges


def write_pict(path, weights):
    """Write WEIGHTS as the demo's exporter does; returns (codebook, decoded {name: array})."""
    names = sorted(weights)
    flat = np.hstack([weights[name].reshape(-1) for name in names])
    codebook = mu_law_codebook(flat)[0]
    codes = np.concatenate([np.abs(codebook[None, :] - chunk[:, None]).argmin(axis=1)
                            for chunk in np.array_split(flat, max(1, flat.size // 4096))]).astype(np.uint8)
    listed = json.dumps([{"name": name, "shape": list(weights[name].shape)} for name in names]).encode("utf8")
    with open(path, "wb") as handle:
        for part in (listed, codebook.astype("<f4").tobytes(), codes.tobytes()):
            handle.write(struct.pack(">L", len(part)))
            handle.write(part)
    decoded, offset = {}, 0
    for name in names:
        decoded[name] = codebook[codes[offset:offset + weights[name].size]].reshape(weights[name].shape)
        offset += weights[name].size
    return codebook, decoded


def quantisation_bound(flat):
    """Per value, how far its nearest codebook entry can be: within half a bin of the mu-law domain
    (twice that when the bin straddles zero), expanded back to values."""
    scale = np.max(np.abs(flat))
    _, companded, edges = mu_law_codebook(flat)
    half_bin = (edges[1] - edges[0]) / 2
    return 2 * scale / MU * (1 + MU) ** np.abs(companded) * ((1 + MU) ** half_bin - 1) + 1e-7


@pytest.fixture(scope="module")
def weights():
    return trained_looking_weights()


def test_import_gives_the_generator_within_the_quantisation_error(tmp_path, weights):
    pict = tmp_path / "facades_BtoA.pict"
    _, decoded = write_pict(pict, weights)
    out = tmp_path / "imported"
    import_mode(Options(mode="import", checkpoint=str(pict), output_dir=str(out)))

    options = prepare_test_options(Options(mode="test", checkpoint=str(out), output_dir=str(tmp_path)))
    assert (options.ngf, options.crop_size, options.separable_conv) == (NGF, CROP, False)
    generator = define_generator(options)
    restore_generator(generator, str(out))
    imported = {name: variable.numpy() for name, variable in tf1_names(generator).items()}
    assert sorted(imported) == sorted(weights)
    names = sorted(weights)
    original = np.hstack([weights[name].reshape(-1) for name in names])
    restored = np.hstack([imported[name].reshape(-1) for name in names])
    np.testing.assert_array_equal(restored, np.hstack([decoded[name].reshape(-1) for name in names]))
    error = np.abs(restored - original)
    assert (error <= quantisation_bound(original)).all()
    assert 0 < error.max() < 0.05 * np.abs(original).max()  # quantised, and closely
    assert not [name for name in os.listdir(tmp_path) if ".partial-" in name]


def test_reader_refuses_damaged_files_with_one_line(tmp_path, weights):
    pict = tmp_path / "model.pict"
    write_pict(pict, weights)
    data = pict.read_bytes()
    cases = {
        "truncated.pict": (data[:-10], "truncated: the codes announces"),
        "extra.pict": (data + b"\0\0\0\1x", "5 bytes after the three parts"),
        "two_parts.pict": (data[:4 + struct.unpack(">L", data[:4])[0]], "1 of its three parts"),
    }
    for name, (content, words) in cases.items():
        (tmp_path / name).write_bytes(content)
        with pytest.raises(Pix2PixError, match=words):
            read_pict(str(tmp_path / name))
    listed = json.dumps([{"name": "generator/encoder_1/conv2d/kernel", "shape": [4, 4, 3, 9]}]).encode()
    short = b"".join(struct.pack(">L", len(part)) + part for part in (listed, b"\0" * 1024, b"\0" * 10))
    (tmp_path / "short.pict").write_bytes(short)
    with pytest.raises(Pix2PixError, match="the variables hold 432 values but there are 10 codes"):
        read_pict(str(tmp_path / "short.pict"))


def test_import_refuses_a_file_that_does_not_fit_and_writes_nothing(tmp_path, weights):
    missing = dict(weights)
    del missing["generator/decoder_2/batch_normalization/gamma"]
    pict = tmp_path / "missing.pict"
    write_pict(pict, missing)
    out = tmp_path / "imported"
    with pytest.raises(Pix2PixError, match="has no variable generator/decoder_2/batch_normalization/gamma"):
        import_mode(Options(mode="import", checkpoint=str(pict), output_dir=str(out)))
    pict = tmp_path / "full.pict"
    write_pict(pict, weights)
    with pytest.raises(Pix2PixError, match="--ngf: .* holds a network with ngf=8, not 16"):
        import_mode(Options(mode="import", checkpoint=str(pict), output_dir=str(out), ngf=16), {"ngf"})
    assert sorted(os.listdir(tmp_path)) == ["full.pict", "missing.pict"]
