"""Reading ``torch.save`` files that hold a state dict of tensors, with numpy only: no torch, and no arbitrary code.

Two containers exist. The zip archive (the default since torch 1.6) holds ``<name>/data.pkl``, one raw record per
storage at ``<name>/data/<key>`` and ``<name>/byteorder``. The legacy stream (``_use_new_zipfile_serialization=False``)
is a magic number, protocol and system-info pickles, the object pickle, the list of storage keys, then each storage
as an 8-byte little-endian element count and its little-endian bytes. In both, the object pickle names a storage by
the persistent id ``("storage", torch.<Kind>Storage, key, location, numel[, view])`` and rebuilds each tensor with
``torch._utils._rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks[, metadata])``.

The unpickler here resolves only those globals (plus ``collections.OrderedDict``, the parameter rebuilders and
``_rebuild_from_type_v2`` of plain tensors), to inert placeholders; any other global only full unpickling could build,
so the file is refused, as ``torch.load(weights_only=True)`` refuses it. No ``__reduce__`` of anything else runs.
"""

from __future__ import annotations

import collections
import os
import pickle
import sys
import types
import zipfile
from collections.abc import Callable
from typing import Any, BinaryIO, NamedTuple

import numpy as np

#: Storage class -> element dtype as stored; bfloat16 is read as its uint16 bits and widened to float32.
_STORAGE_DTYPES = {
    "FloatStorage": "f4", "DoubleStorage": "f8", "HalfStorage": "f2", "BFloat16Storage": "u2", "LongStorage": "i8",
    "IntStorage": "i4", "ShortStorage": "i2", "CharStorage": "i1", "ByteStorage": "u1", "BoolStorage": "?",
}
_LEGACY_MAGIC, _LEGACY_PROTOCOL = 0x1950A86A20F9469CFC6C, 1001
_CHUNK = 1 << 24  # bytes per read, so a storage is never held twice while it is read


class _StorageKind(NamedTuple):  # what ``torch.FloatStorage`` and the like unpickle to
    name: str


class _Storage(NamedTuple):  # elements [start, start + length) of the record ``key`` (only legacy views start > 0)
    key: str
    start: int
    length: int


class _Tensor(NamedTuple):  # offset and stride in elements
    storage: _Storage
    offset: int
    shape: tuple[int, ...]
    stride: tuple[int, ...]


class _Verdict(ValueError):  # a final answer about the file (refused, or not a state dict), raised as it is
    pass


def _rebuild_tensor(storage: Any, offset: Any, shape: Any, stride: Any, *_unused: Any) -> _Tensor:
    if not isinstance(storage, _Storage) or len(shape) != len(stride):
        raise pickle.UnpicklingError("malformed tensor record")
    return _Tensor(storage, int(offset), tuple(int(n) for n in shape), tuple(int(s) for s in stride))


def _rebuild_parameter(data: Any, *_unused: Any) -> Any:
    return data  # requires_grad, hooks and Python attributes do not matter to a state dict


_TENSOR_CLASS = object()  # what ``torch.Tensor`` unpickles to: inert, not callable


def _rebuild_from_type(function: Any, cls: Any, args: Any, _state: Any) -> Any:
    if cls is not _TENSOR_CLASS:  # a plain tensor with Python attributes; ``function`` is an allowlisted global
        raise pickle.UnpicklingError("only plain tensors can be rebuilt")
    return function(*args)


_ALLOWED: dict[tuple[str, str], Any] = {
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
    ("torch._tensor", "_rebuild_from_type_v2"): _rebuild_from_type,
    ("torch", "Tensor"): _TENSOR_CLASS,
    ("collections", "OrderedDict"): collections.OrderedDict,
    **{("torch", name): _StorageKind(name) for name in _STORAGE_DTYPES},
}


def _text(value: Any) -> str:
    return value.decode("ascii") if isinstance(value, bytes) else str(value)


class _Unpickler(pickle.Unpickler):
    """Builds only allowlisted globals; notes each storage's kind and element count by key."""

    def __init__(self, file: BinaryIO, path: str) -> None:
        super().__init__(file)
        self.path, self.records = path, {}  # records: storage key -> (kind, element count)

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED:
            raise _Verdict(
                f"{self.path} needs full unpickling, which can run arbitrary code, so it is refused (it references "
                f"{module}.{name}). Convert it to safetensors in a trusted environment."
            )
        target = _ALLOWED[(module, name)]
        # A fresh wrapper: a BUILD opcode may set attributes on the function it gets, which must not be ours.
        return (lambda *args: target(*args)) if isinstance(target, types.FunctionType) else target

    def persistent_load(self, pid: Any) -> _Storage:
        if not isinstance(pid, tuple) or len(pid) not in (5, 6) or _text(pid[0]).lower() != "storage":
            raise pickle.UnpicklingError(f"unexpected persistent id {pid!r}")
        kind, key, numel = pid[1], _text(pid[2]), int(pid[4])
        if not isinstance(kind, _StorageKind) or self.records.setdefault(key, (kind.name, numel)) != (kind.name, numel):
            raise pickle.UnpicklingError(f"inconsistent storage record {key!r}")
        view = pid[5] if len(pid) == 6 else None  # legacy: (view_key, element offset, element count) or None
        return _Storage(key, 0, numel) if view is None else _Storage(key, int(view[1]), int(view[2]))


def _tensors_of(state: Any, path: str) -> dict[str, _Tensor]:
    for nested in ("state_dict", "model"):  # Lightning's and some of Meta's files wrap the state dict
        if isinstance(state, dict) and isinstance(state.get(nested), dict):
            state = state[nested]
            break
    if not isinstance(state, dict) or not all(isinstance(k, str) and isinstance(v, _Tensor) for k, v in state.items()):
        raise _Verdict(f"{path} does not hold a state dict of tensors")
    return dict(state)


def _read_exact(handle: BinaryIO, nbytes: int, available: int) -> bytearray:
    if nbytes > available:
        raise EOFError(f"a storage needs {nbytes} bytes, only {available} remain")
    buffer, done = bytearray(nbytes), 0
    view = memoryview(buffer)
    while done < nbytes:
        got = handle.readinto(view[done : done + _CHUNK])
        if not got:
            raise EOFError("the file ends inside a storage")
        done += got
    return buffer


def _materialize(flat: np.ndarray, tensor: _Tensor, kind: str, sole_user: bool) -> np.ndarray:
    """One tensor as a writable C-contiguous array; ``flat`` is its record's elements in native byte order."""
    shape, stride = tensor.shape, tensor.stride
    start, end = tensor.storage.start + tensor.offset, min(tensor.storage.start + tensor.storage.length, flat.size)
    if min(shape, default=0) < 0 or min(stride, default=0) < 0 or start < 0:
        raise EOFError(f"a tensor has a negative size, stride or offset: {shape}, {stride}, {start}")
    if 0 in shape:
        view = np.zeros(shape, flat.dtype)
    elif start + sum((n - 1) * s for n, s in zip(shape, stride)) >= end:
        raise EOFError(f"a tensor of shape {shape} reaches past its storage")
    else:
        strides = [s * flat.itemsize for s in stride]
        view = np.lib.stride_tricks.as_strided(flat[start:], shape, strides, writeable=False)
    if kind == "BFloat16Storage":
        wide = view.astype(np.uint32)
        wide <<= 16
        return wide.view(np.float32)
    if sole_user and start == 0 and view.size == flat.size and view.flags.c_contiguous:
        return flat.reshape(shape)  # the record's own writable buffer: no second copy
    return view.copy()


def _collect(
    tensors: dict[str, _Tensor], records: dict[str, tuple[str, int]], keys: list[str], order: str,
    read: Callable[[str, int, bool], bytearray | None],
) -> dict[str, np.ndarray]:
    """Reads each record in ``keys`` order once (``read(key, nbytes, needed)``) and cuts its tensors out of it."""
    users: dict[str, list[str]] = collections.defaultdict(list)
    for name, tensor in tensors.items():
        users[tensor.storage.key].append(name)
    out: dict[str, np.ndarray] = {}
    for key in keys:
        kind, numel = records[key]
        dtype = np.dtype(_STORAGE_DTYPES[kind])
        buffer = read(key, numel * dtype.itemsize, key in users)
        if buffer is None:
            continue
        flat = np.frombuffer(buffer, dtype)  # writable: the buffer is a bytearray
        if order != sys.byteorder:
            flat.byteswap(inplace=True)
        names = users.pop(key, [])
        for name in names:
            out[name] = _materialize(flat, tensors[name], kind, sole_user=len(names) == 1)
        del buffer, flat  # before the next record is read
    if users:
        raise EOFError(f"storages {sorted(users)} have no data")
    return {name: out[name] for name in tensors}


def _read_zip(path: str) -> dict[str, np.ndarray]:
    with zipfile.ZipFile(path) as archive:
        prefix = archive.namelist()[0].split("/")[0] + "/"  # torch names the archive's folder after the file
        names = set(archive.namelist())
        order = archive.read(prefix + "byteorder").decode() if prefix + "byteorder" in names else "little"
        if order not in ("little", "big"):
            raise EOFError(f"unknown byteorder {order!r}")
        with archive.open(prefix + "data.pkl") as handle:
            unpickler = _Unpickler(handle, path)
            tensors = _tensors_of(unpickler.load(), path)

        def read(key: str, nbytes: int, needed: bool) -> bytearray | None:
            if not needed:
                return None
            info = archive.getinfo(f"{prefix}data/{key}")
            with archive.open(info) as record:
                return _read_exact(record, nbytes, info.file_size)

        return _collect(tensors, unpickler.records, list(unpickler.records), order, read)


def _read_legacy(path: str) -> dict[str, np.ndarray]:
    with open(path, "rb") as handle:
        magic, protocol, _system_info = (_Unpickler(handle, path).load() for _ in range(3))  # data are little-endian
        if magic != _LEGACY_MAGIC or protocol != _LEGACY_PROTOCOL:
            raise EOFError("neither a zip archive nor a legacy torch stream (no magic number)")
        unpickler = _Unpickler(handle, path)
        tensors = _tensors_of(unpickler.load(), path)
        keys = [_text(key) for key in _Unpickler(handle, path).load()]
        size, numels = os.fstat(handle.fileno()).st_size, {k: numel for k, (_, numel) in unpickler.records.items()}

        def read(key: str, nbytes: int, needed: bool) -> bytearray | None:
            count, expected = int.from_bytes(_read_exact(handle, 8, size - handle.tell()), "little"), numels[key]
            if count != expected:
                raise EOFError(f"storage {key!r} holds {count} elements, its tensors expect {expected}")
            if needed:
                return _read_exact(handle, nbytes, size - handle.tell())
            handle.seek(nbytes, os.SEEK_CUR)
            return None

        return _collect(tensors, unpickler.records, keys, "little", read)


def read_torch_pickle(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Reads a ``torch.save`` file of a state dict of tensors into numpy arrays, without torch or arbitrary code.

    Args:
        path: a zip-archive (torch >= 1.6 default) or legacy-stream file; a top-level dict whose ``"state_dict"``
            (or ``"model"``) entry is a dict yields that entry.

    Returns:
        Name -> writable C-contiguous array of the tensor's shape (0-d tensors give shape ``()``); views and tensors
        sharing a storage become independent arrays; bfloat16 becomes float32 exactly, other dtypes are kept.

    Raises:
        ValueError: the pickle references anything a state dict of tensors does not need (only full unpickling,
            which can run arbitrary code, could read it); the file is truncated or corrupt; or the values are not
            all tensors.
    """
    path = os.fspath(path)
    try:
        return _read_zip(path) if zipfile.is_zipfile(path) else _read_legacy(path)
    except _Verdict as error:
        raise ValueError(str(error)) from None
    except Exception as error:  # any failure of a malformed pickle, zip or record
        raise ValueError(f"{path} is not a readable torch checkpoint (truncated or corrupt?): {error}") from error
