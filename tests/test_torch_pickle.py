"""sam_core.torch_pickle against torch.load(weights_only=True) on files written by real torch.save calls."""

from __future__ import annotations

import collections
import io
import os
import pickle
import subprocess
import sys
import zipfile

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from sam_core.torch_pickle import read_torch_pickle  # noqa: E402

UNSIGNED = {2: np.uint16, 4: np.uint32, 8: np.uint64}


def _save(tmp_path, obj, legacy: bool = False, name: str = "ckpt.pt"):
    path = tmp_path / name
    torch.save(obj, path, _use_new_zipfile_serialization=not legacy)
    return path


def _expected(tensor) -> np.ndarray:
    tensor = tensor.detach()
    return (tensor.float() if tensor.dtype == torch.bfloat16 else tensor).numpy()


def _assert_same(got: np.ndarray, want: np.ndarray, name: str = "") -> None:
    """Same dtype, shape and bits (so -0.0, NaN payloads and subnormals count), and a writable C-contiguous array."""
    assert got.dtype == want.dtype, (name, got.dtype, want.dtype)
    assert got.shape == want.shape, (name, got.shape, want.shape)
    assert got.flags.writeable and got.flags.c_contiguous, name
    if want.dtype.kind == "f":
        np.testing.assert_array_equal(got.view(UNSIGNED[want.itemsize]), want.view(UNSIGNED[want.itemsize]), name)
    np.testing.assert_array_equal(got, want, name)


def _assert_matches_torch(path, nested: str | None = None) -> dict[str, np.ndarray]:
    got = read_torch_pickle(path)
    want = torch.load(path, map_location="cpu", weights_only=True)
    want = want[nested] if nested else want
    assert list(got) == list(want)
    for key, tensor in want.items():
        _assert_same(got[key], _expected(tensor), key)
    return got


def _mixed_state() -> dict:
    generator = torch.Generator().manual_seed(0)
    special = torch.tensor([0.0, -0.0, 1e-40, -3.5e38, float("inf"), float("-inf"), float("nan"), 1 / 3])
    shared = torch.randn(20, generator=generator)
    return {
        "f32": torch.cat([torch.randn(4, 5, generator=generator).flatten(), special]),
        "f16": (torch.randn(3, 7, generator=generator) * 100).half(),
        "f64": torch.randn(3, generator=generator, dtype=torch.float64),
        # bf16 keeps float32's range: values fp16 cannot hold, a subnormal and specials.
        "bf16": torch.cat([torch.randn(6, generator=generator) * 1e30, special]).bfloat16(),
        "i64": torch.tensor([-(2**62), -1, 0, 7, 2**62 + 3]),
        "i32": torch.tensor([[-5, 2**30], [3, -(2**31)]], dtype=torch.int32),
        "u8": torch.arange(250, 256, dtype=torch.uint8),
        "bool": torch.tensor([[True, False, True], [False, False, True]]),
        "scalar": torch.tensor(2.5),
        "scalar_i64": torch.tensor(-9),
        "empty": torch.zeros(0, 3),
        "transposed": torch.arange(12, dtype=torch.float32).reshape(3, 4).t(),
        "strided": torch.arange(30, dtype=torch.int64).reshape(5, 6)[1:4, ::2],
        "share_a": shared[3:9],
        "share_b": shared[10:].view(2, 5),
        "share_all": shared,
        "param": torch.nn.Parameter(torch.randn(2, 3, generator=generator)),
    }


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_matches_torch_load_bit_exactly(tmp_path, legacy):
    got = _assert_matches_torch(_save(tmp_path, _mixed_state(), legacy))
    assert got["bf16"].dtype == np.float32 and got["scalar"].shape == () and got["empty"].shape == (0, 3)
    np.testing.assert_array_equal(got["transposed"], np.arange(12, dtype=np.float32).reshape(3, 4).T)
    np.testing.assert_array_equal(got["strided"], np.arange(30).reshape(5, 6)[1:4, ::2])
    np.testing.assert_array_equal(got["share_b"].ravel(), got["share_all"][10:])
    got["share_all"][:] = 0  # arrays cut from one storage are independent copies
    assert np.all(got["share_a"] != 0)


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_module_state_dict_with_buffers(tmp_path, legacy):
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.Linear(3, 2))
    model.train()(torch.randn(2, 3, 7, 5))  # moves the running statistics off their initial values
    state = model.state_dict()
    assert isinstance(state, collections.OrderedDict) and int(state["1.num_batches_tracked"]) == 1
    got = _assert_matches_torch(_save(tmp_path, state, legacy))
    assert got["1.num_batches_tracked"].dtype == np.int64 and got["1.num_batches_tracked"] == 1


@pytest.mark.parametrize("wrapper", ["state_dict", "model"])
def test_nested_state_dict_is_unwrapped(tmp_path, wrapper):
    inner = {"layer.weight": torch.randn(3, 2), "layer.bias": torch.arange(3.0)}
    path = _save(tmp_path, {"epoch": 3, "optimizer": {"lr": 0.1}, wrapper: inner})
    _assert_matches_torch(path, nested=wrapper)


def test_tensor_and_parameter_with_python_attributes(tmp_path):
    parameter, tensor = torch.nn.Parameter(torch.randn(2, 2)), torch.arange(4.0)
    parameter.note, tensor.tag = "x", 5  # pickled through _rebuild_parameter_with_state / _rebuild_from_type_v2
    _assert_matches_torch(_save(tmp_path, {"p": parameter, "t": tensor}))


def test_big_endian_archive(tmp_path):
    """A zip whose byteorder record says big, with every storage byteswapped, reads back the same values."""
    state = {"f32": torch.randn(3, 4).t(), "bf16": torch.randn(5).bfloat16(), "i64": torch.tensor([1, -2, 2**40])}
    little = _save(tmp_path, state, name="little.pt")
    itemsize = {}
    for name, tensor in state.items():
        itemsize[str(list(state).index(name))] = tensor.element_size()
    big = tmp_path / "big.pt"
    with zipfile.ZipFile(little) as source, zipfile.ZipFile(big, "w", zipfile.ZIP_STORED) as target:
        for info in source.infolist():
            data = source.read(info)
            folder, _, leaf = info.filename.rpartition("/")
            if leaf == "byteorder":
                data = b"big"
            elif folder.endswith("/data") and leaf.isdigit():
                data = np.frombuffer(data, f"u{itemsize[leaf]}").byteswap().tobytes()
            target.writestr(info.filename.replace("little/", "big/"), data)
    got = read_torch_pickle(big)
    for key, tensor in state.items():
        _assert_same(got[key], _expected(tensor), key)
    want = torch.load(big, weights_only=True)  # torch agrees on what the big-endian file holds
    for key, tensor in want.items():
        _assert_same(got[key], _expected(tensor), key)


class _Exploit:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return os.system, (f"touch '{self.marker}'",)


def _torch_like_zip(path, payload: bytes, records: dict[str, bytes] | None = None) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("evil/data.pkl", payload)
        archive.writestr("evil/byteorder", "little")
        archive.writestr("evil/version", "3\n")
        for name, data in (records or {}).items():
            archive.writestr(name, data)


@pytest.mark.parametrize("container", ["zip", "plain"])
def test_code_execution_is_refused(tmp_path, container):
    control = tmp_path / "control"
    pickle.loads(pickle.dumps(_Exploit(control), protocol=2))
    assert control.exists(), "the payload must be live for this test to mean anything"
    marker = tmp_path / "marker"
    payload = pickle.dumps({"evil": _Exploit(marker), "weight": torch.ones(2)}, protocol=2)
    path = tmp_path / "evil.pt"
    _torch_like_zip(path, payload) if container == "zip" else path.write_bytes(payload)
    with pytest.raises(ValueError, match="unpickling") as error:
        read_torch_pickle(path)
    assert str(path) in str(error.value) and "system" in str(error.value)
    assert not marker.exists()
    with pytest.raises(pickle.UnpicklingError):  # torch refuses the same file
        torch.load(path, weights_only=True)


_STORAGE = object()  # stands for storage "0" of a forged archive


class _ForgedTensor:
    def __init__(self, offset, size, stride):
        self.args = (_STORAGE, offset, size, stride, False, collections.OrderedDict())

    def __reduce__(self):
        return torch._utils._rebuild_tensor_v2, self.args


class _ForgingPickler(pickle.Pickler):
    def persistent_id(self, obj):
        return ("storage", torch.FloatStorage, "0", "cpu", 10) if obj is _STORAGE else None


def _forged_archive(path, offset, size, stride) -> None:
    """A torch-layout zip over the float32 storage 0..9 whose one tensor has the given geometry."""
    payload = io.BytesIO()
    _ForgingPickler(payload, protocol=2).dump({"w": _ForgedTensor(offset, size, stride)})
    _torch_like_zip(path, payload.getvalue(), {"evil/data/0": np.arange(10, dtype="<f4").tobytes()})


def test_forged_geometry_within_the_storage_is_read_like_torch(tmp_path):
    path = tmp_path / "forged.pt"
    _forged_archive(path, 2, (3,), (3,))
    got = read_torch_pickle(path)["w"]
    _assert_same(got, np.array([2.0, 5.0, 8.0], np.float32))
    _assert_same(got, torch.load(path, weights_only=True)["w"].numpy())


OUT_OF_BOUNDS = [(0, (11,), (1,)), (9, (2,), (1,)), (0, (2, 6), (5, 1)), (5, (3,), (-1,)), (-1, (2,), (1,))]


@pytest.mark.parametrize("geometry", OUT_OF_BOUNDS)
def test_forged_geometry_outside_the_storage_is_refused(tmp_path, geometry):
    """A tensor reaching past (or before) its storage must not read foreign memory."""
    path = tmp_path / "forged.pt"
    _forged_archive(path, *geometry)
    with pytest.raises(ValueError, match="truncated or corrupt"):
        read_torch_pickle(path)


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
@pytest.mark.parametrize("keep", [0.5, 0.97])
def test_truncated_file(tmp_path, legacy, keep):
    path = _save(tmp_path, {"w": torch.randn(64, 64), "b": torch.arange(10)}, legacy)
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(ValueError, match=r"is not a readable torch checkpoint \(truncated or corrupt\?\)"):
        read_torch_pickle(path)


def test_garbage_and_missing_files(tmp_path):
    garbage = tmp_path / "garbage.bin"
    garbage.write_bytes(b"\x00not a checkpoint" * 10)
    for path in (garbage, tmp_path / "missing.pt"):
        with pytest.raises(ValueError, match="truncated or corrupt"):
            read_torch_pickle(path)


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
@pytest.mark.parametrize("state", [{"w": torch.ones(2), "name": "sam"}, [torch.ones(2)], {"w": {"x": torch.ones(1)}}])
def test_values_that_are_not_tensors(tmp_path, legacy, state):
    with pytest.raises(ValueError, match="does not hold a state dict of tensors"):
        read_torch_pickle(_save(tmp_path, state, legacy))


def test_import_loads_no_framework():
    code = (
        "import sys, sam_core.torch_pickle; "
        "loaded = [m for m in ('torch', 'tensorflow', 'keras', 'jax') if m in sys.modules]; "
        "assert not loaded, loaded"
    )
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    result = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
