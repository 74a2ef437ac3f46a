"""Reading the TF1 demo's ``.pict`` weight files (numpy only, nothing from the file is executed).

The TF1 pix2pix's web demo ships each generator as one ``.pict`` file: three parts, each a
4-byte big-endian length followed by that many bytes:

1. UTF-8 JSON, a list of ``{"name": TF1 variable name, "shape": [...]}``: the generator's
   trainable variables (``generator/encoder_1/conv2d/kernel``, ...) in sorted name order;
2. the codebook: 256 float32 values (little-endian, as the demo's browser reads them), the
   centres of 256 equal bins of the weights' mu-law (mu = 255) companded values, expanded back;
3. one uint8 code per weight, every variable's values flattened (C order) and concatenated in
   the order of part 1: weight = codebook[code], the nearest codebook entry to the original.

The exporter picks each weight's code by plain distance to the codebook's values, not in the
mu-law domain, so a value read back can be a little more than half a bin from the original there:
up to log_256((1 + 256^w) / 2) / w bins for a bin w wide, 0.5054 bins when the weights span
[-max, max] (w = 2/256). Its name filter also keeps batch norm's moving statistics
(.../batch_normalization/moving_mean, moving_variance), so real files carry them
(modes/import_pict.py leaves them out).
"""

import json
import math
import os
import reprlib
import struct
from typing import Dict

import numpy as np

from pix2pix.errors import Pix2PixError

PICT_SUFFIX = ".pict"
CODEBOOK_ENTRIES = 256
MU = 255
_LENGTH = struct.Struct(">L")
_PARTS = ("the variable list", "the codebook", "the codes")
# The largest demo file is a 256x256 U-Net of ngf 64: 54 million weights, one byte each.
MAX_PICT_BYTES = 1 << 30


def is_pict_file(path) -> bool:
    """True when PATH is a file named *.pict: the dispatch rule of --mode import."""
    return bool(path) and os.path.isfile(path) and path.lower().endswith(PICT_SUFFIX)


def split_parts(data: bytes, path: str):
    """The three length-prefixed parts of DATA; Pix2PixError naming PATH for any other layout."""
    parts, offset = [], 0
    while offset < len(data):
        if len(parts) == len(_PARTS):
            raise Pix2PixError(f"{path}: {len(data) - offset} bytes after the three parts of a .pict file")
        if offset + _LENGTH.size > len(data):
            raise Pix2PixError(f"{path}: truncated: the length of {_PARTS[len(parts)]} is cut off")
        (length,) = _LENGTH.unpack_from(data, offset)
        offset += _LENGTH.size
        if offset + length > len(data):
            raise Pix2PixError(f"{path}: truncated: {_PARTS[len(parts)]} announces {length} bytes, "
                               f"{len(data) - offset} are left")
        parts.append(data[offset:offset + length])
        offset += length
    if len(parts) != len(_PARTS):
        raise Pix2PixError(f"{path}: not a .pict file: {len(parts)} of its three parts "
                           f"(variable list, codebook, codes) are there")
    return parts


def _variables(part: bytes, path: str):
    """[(name, shape)] from the JSON part."""
    try:
        listed = json.loads(part.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as err:
        raise Pix2PixError(f"{path}: not a .pict file: its first part is not JSON ({err})") from None
    except RecursionError:
        raise Pix2PixError(f"{path}: not a .pict file: its variable list is nested too deep") from None
    if not isinstance(listed, list):
        raise Pix2PixError(f"{path}: not a .pict file: its first part is not a list of variables")
    variables, seen = [], set()
    for entry in listed:
        name = entry.get("name") if isinstance(entry, dict) else None
        shape = entry.get("shape") if isinstance(entry, dict) else None
        if (not isinstance(name, str) or not isinstance(shape, list)
                or not all(isinstance(n, int) and not isinstance(n, bool) and 0 <= n < 1 << 31 for n in shape)):
            raise Pix2PixError(f"{path}: variable list entry {reprlib.repr(entry)} is not "
                               "{\"name\": text, \"shape\": [whole numbers from 0 to 2^31 - 1]}")
        dimensions = 4 if name.endswith("kernel") else 1  # kernels; biases, offsets and scales
        if len(shape) != dimensions:
            raise Pix2PixError(f"{path}: variable {name[:200]} has shape {shape}; a TF1 pix2pix "
                               f"generator's {'kernels' if dimensions == 4 else 'other variables'} "
                               f"have {dimensions} dimension{'s' if dimensions > 1 else ''}")
        if name in seen:
            raise Pix2PixError(f"{path}: variable {name} is listed twice")
        seen.add(name)
        variables.append((name, tuple(shape)))
    return variables


def _codebook(part: bytes, path: str) -> np.ndarray:
    if len(part) != 4 * CODEBOOK_ENTRIES:
        raise Pix2PixError(f"{path}: the codebook has {len(part)} bytes, expected {4 * CODEBOOK_ENTRIES} "
                           f"({CODEBOOK_ENTRIES} float32 values)")
    codebook = np.frombuffer(part, dtype="<f4").astype(np.float32)
    if not np.isfinite(codebook).all():
        raise Pix2PixError(f"{path}: the codebook holds non-finite values (NaN or infinity)")
    return codebook


def read_pict(path: str) -> Dict[str, np.ndarray]:
    """{TF1 variable name: float32 array} of the .pict file PATH, in the file's order."""
    try:
        size = os.path.getsize(path)
        if size > MAX_PICT_BYTES:
            raise Pix2PixError(f"{path}: {size} bytes, more than any .pict generator "
                               f"({MAX_PICT_BYTES} at most)")
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as err:
        raise Pix2PixError(f"{path}: cannot read: {err.strerror or err}") from None
    listed, codebook_part, codes_part = split_parts(data, path)
    variables = _variables(listed, path)
    codebook = _codebook(codebook_part, path)
    sizes = [math.prod(shape) for _, shape in variables]  # Python's integers: no wrapping
    if sum(sizes) != len(codes_part):
        raise Pix2PixError(f"{path}: the variables hold {sum(sizes)} values but there are "
                           f"{len(codes_part)} codes")
    values = codebook[np.frombuffer(codes_part, dtype=np.uint8)]
    weights, offset = {}, 0
    for (name, shape), count in zip(variables, sizes):
        weights[name] = values[offset:offset + count].reshape(shape)
        offset += count
    return weights
