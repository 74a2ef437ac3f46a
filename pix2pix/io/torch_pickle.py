"""Read a PyTorch `torch.save` file of tensors (a state_dict) without PyTorch and without running
anything the file asks for.

    read_state_dict(path) -> {name: numpy array}

Both layouts torch.save has written are read:

- zip (PyTorch 1.6 and later): an archive holding DIR/data.pkl, the pickled object, and one
  member DIR/data/KEY of raw little-endian bytes per storage (DIR/byteorder may say "big").
- legacy (before 1.6, and `_use_new_zipfile_serialization=False`): five pickles in a row (a
  magic number, the protocol version, a dict about the writing machine, the object, the sorted
  list of storage keys), then each storage as an 8-byte element count followed by its bytes.

A pickle is a program: unpickled naively, a file can call any importable function (os.system).
Here the unpickler knows only the names a state_dict uses (collections.OrderedDict, the tensor
rebuild functions of torch._utils and the torch.*Storage types) and stands them in with its own
inert functions; any other name is refused with a Pix2PixError before anything is called.
Floating-point tensors come back as float32, integer ones (num_batches_tracked) as int64.

Nothing is allocated on the file's word alone: the pickle is read with a cap (MAX_PICKLE_BYTES),
each zip member's size is checked against what its storage needs from the zip header and no
more than that is inflated, every storage and every
tensor's element count (from its sizes and strides) is bounded (MAX_ELEMENTS, all tensors
together MAX_TOTAL_ELEMENTS) before any array is made, and the walk over the pickled dicts visits
each dict once (a dict met twice, or nested deeper than MAX_NESTING, is refused).
"""

import collections
import io
import os
import pickle
import zipfile
import zlib
from typing import Dict

import numpy as np

from pix2pix.errors import Pix2PixError

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL = 1001

# Bounds on what one file may make this reader allocate. The largest pix2pix network (a U-Net of
# ngf 64 for 256x256 pictures) holds 54 million weights, its largest tensor 4.2 million.
MAX_PICKLE_BYTES = 64 << 20  # the pickled object (a state_dict's is a few KB)
MAX_ELEMENTS = 1 << 26  # one storage, one tensor (67 million values)
MAX_TOTAL_ELEMENTS = 1 << 27  # all tensors of a file together (134 million: 512 MB as float32)
MAX_NESTING = 64  # dicts inside dicts

# torch.<Name>Storage -> element type; cuda storages hold the same bytes once on disk.
_STORAGE_DTYPES = {
    "FloatStorage": "<f4", "DoubleStorage": "<f8", "HalfStorage": "<f2", "BFloat16Storage": "bf16",
    "LongStorage": "<i8", "IntStorage": "<i4", "ShortStorage": "<i2", "CharStorage": "i1",
    "ByteStorage": "u1", "BoolStorage": "?",
}


class _Sealed:
    """The pickle's BUILD opcode sets state on an object it holds; the shared stand-ins below
    refuse it, so a file cannot alter them for the files read after it."""

    __slots__ = ()

    def __setstate__(self, state):
        raise pickle.UnpicklingError(f"{type(self).__name__} takes no state")


class _StorageType(_Sealed):
    """Stands for torch.<name>Storage in a pickle: only its element type is used."""

    __slots__ = ("name", "dtype")

    def __init__(self, name):
        self.name, self.dtype = name, _STORAGE_DTYPES[name]


class _Function(_Sealed):
    """A sealed callable: what find_class hands out for an allowed function."""

    __slots__ = ("function",)

    def __init__(self, function):
        self.function = function

    def __call__(self, *args):
        return self.function(*args)


class _Storage:
    """A storage the pickle refers to by key; its bytes arrive later (legacy) or on demand (zip)."""

    def __init__(self, key, storage_type, numel):
        self.key, self.storage_type, self.numel = key, storage_type, numel
        self.values = None  # 1-D numpy array once read


class _Tensor:
    """What torch._utils._rebuild_tensor(_v2) would build, kept as a view description."""

    def __init__(self, storage, offset, size, stride):
        self.storage, self.offset = storage, int(offset)
        self.size, self.stride = tuple(int(s) for s in size), tuple(int(s) for s in stride)
        if len(self.size) > 32:
            raise pickle.UnpicklingError(f"a tensor of {len(self.size)} dimensions")
        self.numel = 1
        for n in self.size:
            self.numel *= n


def _rebuild_tensor(storage, storage_offset, size, stride, *unused):
    # *unused: requires_grad, backward_hooks and, in newer files, metadata (all irrelevant here)
    if not isinstance(storage, _Storage) or len(size) != len(stride):
        raise pickle.UnpicklingError("a tensor without a storage, or with mismatched size and stride")
    return _Tensor(storage, storage_offset, size, stride)


def _rebuild_parameter(data, requires_grad, backward_hooks, *unused):
    return data


# (module, name) -> the inert stand-in the unpickler gives for it. Nothing else is resolved.
_ALLOWED = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor"): _Function(_rebuild_tensor),
    ("torch._utils", "_rebuild_tensor_v2"): _Function(_rebuild_tensor),
    ("torch._utils", "_rebuild_parameter"): _Function(_rebuild_parameter),
}
for _name in _STORAGE_DTYPES:
    _ALLOWED[("torch", _name)] = _StorageType(_name)
    _ALLOWED[("torch.cuda", _name)] = _ALLOWED[("torch", _name)]


class _RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that resolves only the names in _ALLOWED and records storage references."""

    def __init__(self, file, path):
        super().__init__(file)
        self.path = path
        self.storages: Dict[str, _Storage] = {}

    def find_class(self, module, name):
        found = _ALLOWED.get((module, name))
        if found is None:
            raise Pix2PixError(f"{self.path}: refused to load: its pickle asks for {module}.{name}, "
                               "which is not part of a PyTorch state_dict (only tensors are read)")
        return found

    def persistent_load(self, pid):
        # ('storage', storage type, key, location, element count[, view metadata])
        if (not isinstance(pid, tuple) or len(pid) < 5 or pid[0] != "storage"
                or not isinstance(pid[1], _StorageType)):
            raise Pix2PixError(f"{self.path}: not a PyTorch tensor file (unexpected persistent id "
                               f"{str(pid)[:80]})")
        if len(pid) > 5 and pid[5] is not None:
            raise Pix2PixError(f"{self.path}: uses storage views (a PyTorch 0.3-era feature) that "
                               "are not supported; re-save it with a newer PyTorch")
        key = str(pid[2])[:200]
        if key not in self.storages:
            numel = pid[4]
            if not isinstance(numel, int) or not 0 <= numel <= MAX_ELEMENTS:
                raise Pix2PixError(f"{self.path}: storage {key} claims {str(numel)[:40]} elements; "
                                   f"at most {MAX_ELEMENTS:,} are read")
            self.storages[key] = _Storage(key, pid[1], numel)
        return self.storages[key]


def _unpickle(file, path):
    unpickler = _RestrictedUnpickler(file, path)
    try:
        return unpickler.load(), unpickler.storages
    except Pix2PixError:
        raise
    except Exception as err:  # a truncated or corrupt pickle: any unpickling error
        raise Pix2PixError(f"{path}: not a readable PyTorch file ({type(err).__name__}: "
                           f"{_first_line(err)})") from None


def _first_line(err) -> str:
    text = str(err).strip()
    return text.splitlines()[0][:120] if text else ""


def _decode(raw: bytes, storage: _Storage, big_endian: bool, path: str) -> np.ndarray:
    dtype = storage.storage_type.dtype
    if dtype == "bf16":  # bfloat16: the top half of a float32
        halves = np.frombuffer(raw, dtype=">u2" if big_endian else "<u2")
        values = (halves.astype(np.uint32) << 16).view(np.float32)
    else:
        values = np.frombuffer(raw, dtype=np.dtype(dtype).newbyteorder(">" if big_endian else "<"))
    if values.size != storage.numel:
        raise Pix2PixError(f"{path}: storage {storage.key} holds {values.size} elements, "
                           f"its header says {storage.numel} (truncated file?)")
    return values


def _check_elements(tensor: _Tensor, name: str, path: str, total: int) -> int:
    """TOTAL plus TENSOR's element count, after refusing one over MAX_ELEMENTS or a running total
    over MAX_TOTAL_ELEMENTS: checked from the sizes alone, before anything is allocated."""
    if any(n < 0 for n in tensor.size) or tensor.numel > MAX_ELEMENTS:
        shape = "x".join(str(n)[:24] for n in tensor.size[:8])
        raise Pix2PixError(f"{path}: tensor {name or '(top)'} claims shape {shape}; at most "
                           f"{MAX_ELEMENTS:,} values a tensor are read")
    total += tensor.numel
    if total > MAX_TOTAL_ELEMENTS:
        raise Pix2PixError(f"{path}: its tensors hold more than {MAX_TOTAL_ELEMENTS:,} values "
                           f"together (at {name}); no pix2pix network is that large")
    return total


def _to_array(tensor: _Tensor, path: str) -> np.ndarray:
    values = tensor.storage.values
    if values is None:
        raise Pix2PixError(f"{path}: storage {tensor.storage.key} is missing")
    itemsize = values.dtype.itemsize
    needed = tensor.offset + sum((n - 1) * s for n, s in zip(tensor.size, tensor.stride)) + 1
    if tensor.offset < 0 or any(s < 0 for s in tensor.stride + tensor.size) or (
            min(tensor.size, default=1) > 0 and needed > values.size):
        raise Pix2PixError(f"{path}: a tensor reaches outside its storage {tensor.storage.key}")
    view = np.lib.stride_tricks.as_strided(
        values[tensor.offset:], shape=tensor.size,
        strides=[s * itemsize for s in tensor.stride], writeable=False)
    kind = {"f": np.float32, "b": np.bool_}.get(values.dtype.kind, np.int64)
    return np.array(view, dtype=kind)  # a native-endian, contiguous copy


def _itemsize(storage: _Storage) -> int:
    dtype = storage.storage_type.dtype
    return 2 if dtype == "bf16" else np.dtype(dtype).itemsize


def _read_member(archive, name: str, cap: int, path: str) -> bytes:
    """Member NAME's bytes, refused when its zip header claims more than CAP bytes, then inflated
    no further than that claim (zipfile's read() of a whole member would inflate all its data
    first) and checked against the header's CRC (a header that understates the size fails it)."""
    info = archive.getinfo(name)
    if info.file_size > cap:
        raise Pix2PixError(f"{path}: archive member {name} claims {info.file_size:,} bytes, more "
                           f"than the {cap:,} it may hold")
    with archive.open(info) as member:
        data = member.read(info.file_size)
    if len(data) != info.file_size or zlib.crc32(data) != info.CRC:
        raise Pix2PixError(f"{path}: archive member {name} does not match the size and checksum "
                           "its zip header gives")
    return data


def _read_zip(path: str):
    with zipfile.ZipFile(path) as archive:
        names = set(archive.namelist())
        pickles = [n for n in names if n.endswith("/data.pkl") or n == "data.pkl"]
        if len(pickles) != 1:
            raise Pix2PixError(f"{path}: a zip file but not a PyTorch file (no single data.pkl)")
        root = pickles[0][:-len("data.pkl")]
        big_endian = (root + "byteorder" in names
                      and _read_member(archive, root + "byteorder", 16, path).strip() == b"big")
        pickled = _read_member(archive, pickles[0], MAX_PICKLE_BYTES, path)
        obj, storages = _unpickle(io.BytesIO(pickled), path)
        _check_storage_total(storages, path)
        for key, storage in storages.items():
            member = f"{root}data/{key}"
            if member not in names:
                raise Pix2PixError(f"{path}: storage {key} is missing from the archive")
            raw = _read_member(archive, member, storage.numel * _itemsize(storage), path)
            storage.values = _decode(raw, storage, big_endian, path)
    return obj


def _check_storage_total(storages, path: str) -> None:
    """Refuse storages claiming more than MAX_TOTAL_ELEMENTS together, before any is read."""
    total = sum(storage.numel for storage in storages.values())
    if total > MAX_TOTAL_ELEMENTS:
        raise Pix2PixError(f"{path}: its storages claim {total:,} values together, more than the "
                           f"{MAX_TOTAL_ELEMENTS:,} read; no pix2pix network is that large")


def _read_legacy(path: str):
    with open(path, "rb") as file:
        if _unpickle(file, path)[0] != LEGACY_MAGIC:
            raise Pix2PixError(f"{path}: not a PyTorch file (no torch.save magic number)")
        protocol = _unpickle(file, path)[0]
        if protocol != LEGACY_PROTOCOL:
            raise Pix2PixError(f"{path}: PyTorch file protocol {protocol} is not supported")
        info = _unpickle(file, path)[0]
        info = info if isinstance(info, dict) else {}
        big_endian = not info.get("little_endian", True)
        obj, storages = _unpickle(file, path)
        keys, _ = _unpickle(file, path)
        remaining = os.fstat(file.fileno()).st_size - file.tell()
        for key in keys:  # the storages follow in this order: 8-byte count, then the bytes
            storage = storages.get(str(key))
            count = file.read(8)
            if storage is None or len(count) != 8:
                raise Pix2PixError(f"{path}: storage {key} is missing or truncated")
            numel = int.from_bytes(count, "big" if big_endian else "little")
            if numel > MAX_ELEMENTS:
                raise Pix2PixError(f"{path}: storage {key} claims {numel:,} elements; at most "
                                   f"{MAX_ELEMENTS:,} are read")
            size = _itemsize(storage)
            remaining -= 8 + numel * size
            if remaining < 0:
                raise Pix2PixError(f"{path}: storage {key} is truncated")
            storage.numel = numel
            _check_storage_total(storages, path)
            storage.values = _decode(file.read(numel * size), storage, big_endian, path)
    return obj


def _tensors(obj, path: str):
    """{dotted name: _Tensor} for every tensor in OBJ (a dict of tensors, possibly nested).

    Iterative and linear in the pickle: every dict is visited once (a pickle can refer to one
    dict from many places, which a naive walk would follow again each time, exponentially), and
    no deeper than MAX_NESTING; the element counts are bounded (_check_elements) on the way."""
    found, seen, total = {}, set(), 0
    pending = [(obj, "", 0)]
    while pending:
        value, name, depth = pending.pop()
        if isinstance(value, _Tensor):
            total = _check_elements(value, name, path, total)
            found[name] = value
        elif isinstance(value, dict):
            if id(value) in seen:
                raise Pix2PixError(f"{path}: the dict at {name[:200] or 'the top'} appears more than "
                                   "once; a state_dict is a tree of tensors")
            if depth >= MAX_NESTING:
                raise Pix2PixError(f"{path}: dicts nested more than {MAX_NESTING} deep (at "
                                   f"{name[:200]}...); not a state_dict")
            seen.add(id(value))
            for key, item in reversed(list(value.items())):
                key = str(key)[:200]
                pending.append((item, f"{name}.{key}" if name else key, depth + 1))
        elif not isinstance(value, (int, float, str, type(None))):  # e.g. an epoch number saved beside
            raise Pix2PixError(f"{path}: holds a {type(value).__name__} at {name[:200] or 'the top'}; "
                               "expected a state_dict (a dict of tensors)")
    return found


def read_state_dict(path: str) -> Dict[str, np.ndarray]:
    """{key: numpy array} of the state_dict torch.save wrote to PATH (either layout)."""
    if not os.path.isfile(path):
        raise Pix2PixError(f"{path}: no such file")
    try:
        obj = _read_zip(path) if zipfile.is_zipfile(path) else _read_legacy(path)
    except (OSError, zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError) as err:
        raise Pix2PixError(f"{path}: cannot read: {_first_line(err)}") from None
    except (TypeError, RecursionError) as err:  # a pickle of the wrong structure (a list of keys that is not one)
        raise Pix2PixError(f"{path}: not a PyTorch file ({type(err).__name__})") from None
    if not isinstance(obj, dict):
        raise Pix2PixError(f"{path}: holds a {type(obj).__name__}, not a state_dict")
    return {name: _to_array(tensor, path) for name, tensor in _tensors(obj, path).items()}
