"""safetensors files (read and write) through the ``safetensors`` library.

A thin layer over :mod:`safetensors.numpy` that adds what jdfd relies on: the
metadata dict comes back with the tensors, writes are atomic (a crash mid-write
leaves any previous file intact), and every structural problem is a
:class:`TensorFileError` naming the file. The format holds no code, so loading one is
safe. Files written by earlier jdfd versions (its own numpy writer) are ordinary
safetensors files and load unchanged.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from safetensors import SafetensorError, safe_open
from safetensors.numpy import save_file

from jdfd.weights.strict import LazyState


class TensorFileError(ValueError):
    pass


def save(path: str | Path, tensors: dict[str, np.ndarray], metadata: dict[str, str] | None = None) -> None:
    """Write atomically: the tensors go to a temporary file that then replaces ``path``."""
    # safetensors stores little-endian C-ordered data; numpy views of other layouts are made so first
    # (np.ascontiguousarray would turn a 0-d array into 1-d)
    arrays = {name: np.asarray(a, dtype=np.asarray(a).dtype.newbyteorder("<"), order="C")
              for name, a in tensors.items()}
    meta = {str(k): str(v) for k, v in metadata.items()} if metadata else None
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    try:
        save_file(arrays, str(tmp), metadata=meta)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
    except (SafetensorError, ValueError, TypeError) as e:
        tmp.unlink(missing_ok=True)
        raise TensorFileError(f"{path}: cannot write ({e})") from None
    os.replace(tmp, path)


def load(path: str | Path) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Return (tensors, metadata); a missing file is FileNotFoundError, a damaged one TensorFileError."""
    state, meta = load_lazy(path)
    return {name: state[name] for name in state}, meta


def load_lazy(path: str | Path) -> tuple[LazyState, dict[str, str]]:
    """(tensors, metadata) with each tensor read from the file only when indexed (and not kept).

    For loading weights into a network: one tensor at a time is held beside the network's copy.
    A missing file is FileNotFoundError, a damaged one TensorFileError.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    try:
        f = safe_open(str(path), framework="numpy")  # closed when the LazyState is dropped
        meta = f.metadata() or {}
        shapes = {name: tuple(f.get_slice(name).get_shape()) for name in f.keys()}
    except SafetensorError as e:
        raise TensorFileError(f"{path}: not a readable safetensors file ({e})") from None

    def read(name: str) -> np.ndarray:
        try:
            return f.get_tensor(name)
        except SafetensorError as e:
            raise TensorFileError(f"{path}: tensor {name} is unreadable ({e})") from None

    return LazyState(shapes, read), dict(meta)
