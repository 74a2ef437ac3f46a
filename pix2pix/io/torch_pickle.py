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
"""

import collections
import io
import os
import pickle
import zipfile
from typing import Dict

import numpy as np

from pix2pix.errors import Pix2PixError

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL = 1001

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
        key = str(pid[2])
        if key not in self.storages:
            self.storages[key] = _Storage(key, pid[1], int(pid[4]))
        return self.storages[key]


def _unpickle(file, path):
    unpickler = _RestrictedUnpickler(file, path)
    try:
        return unpickler.load(), unpickler.storages
    except Pix2PixError:
        raise
    except Exception as err:  # a truncated or corrupt pickle: any unpickling error
        raise Pix2PixError(f"{path}: not a readable PyTorch file ({type(err).__name__}: "
                           f"{str(err)[:120]})") from None


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


def _read_zip(path: str):
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        pickles = [n for n in names if n.endswith("/data.pkl") or n == "data.pkl"]
        if len(pickles) != 1:
            raise Pix2PixError(f"{path}: a zip file but not a PyTorch file (no single data.pkl)")
        root = pickles[0][:-len("data.pkl")]
        big_endian = (root + "byteorder" in names
                      and archive.read(root + "byteorder").strip() == b"big")
        obj, storages = _unpickle(io.BytesIO(archive.read(pickles[0])), path)
        for key, storage in storages.items():
            member = f"{root}data/{key}"
            if member not in names:
                raise Pix2PixError(f"{path}: storage {key} is missing from the archive")
            storage.values = _decode(archive.read(member), storage, big_endian, path)
    return obj


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
            size = np.dtype("<u2" if storage.storage_type.dtype == "bf16"
                            else storage.storage_type.dtype).itemsize
            remaining -= 8 + numel * size
            if remaining < 0:
                raise Pix2PixError(f"{path}: storage {key} is truncated")
            storage.numel = numel
            storage.values = _decode(file.read(numel * size), storage, big_endian, path)
    return obj


def _arrays(obj, path: str, prefix=""):
    """{dotted name: array} for every tensor in OBJ (a dict of tensors, possibly nested)."""
    if isinstance(obj, _Tensor):
        return {prefix: _to_array(obj, path)}
    if isinstance(obj, dict):
        found = {}
        for key, value in obj.items():
            found.update(_arrays(value, path, f"{prefix}.{key}" if prefix else str(key)))
        return found
    if isinstance(obj, (int, float, str, type(None))):  # e.g. an epoch number saved beside
        return {}
    raise Pix2PixError(f"{path}: holds a {type(obj).__name__} at {prefix or 'the top'}; "
                       "expected a state_dict (a dict of tensors)")


def read_state_dict(path: str) -> Dict[str, np.ndarray]:
    """{key: numpy array} of the state_dict torch.save wrote to PATH (either layout)."""
    if not os.path.isfile(path):
        raise Pix2PixError(f"{path}: no such file")
    try:
        obj = _read_zip(path) if zipfile.is_zipfile(path) else _read_legacy(path)
    except (OSError, zipfile.BadZipFile) as err:
        raise Pix2PixError(f"{path}: cannot read: {err}") from None
    if not isinstance(obj, dict):
        raise Pix2PixError(f"{path}: holds a {type(obj).__name__}, not a state_dict")
    return _arrays(obj, path)
