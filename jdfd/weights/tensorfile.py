"""The safetensors file format in plain numpy (read and write).

The format is a little-endian u64 header length, a JSON header of
``name → {dtype, shape, data_offsets}``, then raw little-endian tensor bytes. It
holds no code, so loading one is safe; writing it ourselves keeps the core free of
extra dependencies while staying readable by ``safetensors.numpy.load_file``.
"""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path

import numpy as np

_DTYPES = {"F64": np.float64, "F32": np.float32, "F16": np.float16, "I64": np.int64, "I32": np.int32,
           "U8": np.uint8, "I8": np.int8, "BOOL": np.bool_}
_CODES = {np.dtype(v): k for k, v in _DTYPES.items()}
MAX_HEADER = 100 * 1024 * 1024


class TensorFileError(ValueError):
    pass


def save(path: str | Path, tensors: dict[str, np.ndarray], metadata: dict[str, str] | None = None) -> None:
    """Write atomically: a crash mid-write leaves any previous file intact."""
    header: dict = {}
    offset = 0
    blobs = []
    for name in sorted(tensors):
        a = np.ascontiguousarray(tensors[name])
        if a.dtype not in _CODES:
            raise TensorFileError(f"{name}: dtype {a.dtype} not supported")
        data = a.astype(a.dtype.newbyteorder("<"), copy=False).tobytes()
        header[name] = {"dtype": _CODES[a.dtype], "shape": list(a.shape), "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(raw)))
        f.write(raw)
        for b in blobs:
            f.write(b)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def load(path: str | Path) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Return (tensors, metadata); every structural problem is a TensorFileError naming the file."""
    path = Path(path)
    data = path.read_bytes()
    if len(data) < 8:
        raise TensorFileError(f"{path}: too short to be a safetensors file")
    (n,) = struct.unpack("<Q", data[:8])
    if n > MAX_HEADER or 8 + n > len(data):
        raise TensorFileError(f"{path}: corrupt header length {n}")
    try:
        header = json.loads(data[8:8 + n])
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise TensorFileError(f"{path}: corrupt header ({e})") from None
    meta = header.pop("__metadata__", {}) or {}
    body = memoryview(data)[8 + n:]
    out = {}
    for name, info in header.items():
        try:
            dt = np.dtype(_DTYPES[info["dtype"]]).newbyteorder("<")
            start, end = info["data_offsets"]
            shape = tuple(int(s) for s in info["shape"])
        except (KeyError, TypeError, ValueError):
            raise TensorFileError(f"{path}: bad entry for {name!r}") from None
        count = int(np.prod(shape)) if shape else 1
        if not 0 <= start <= end <= len(body) or end - start != count * dt.itemsize:
            raise TensorFileError(f"{path}: {name!r} has offsets that do not match its shape")
        out[name] = np.frombuffer(body[start:end], dtype=dt).reshape(shape).astype(dt.newbyteorder("="))
    return out, meta
