"""The authors' released ``Params/`` folder, loaded strictly and safely.

Layout (the remainder's part name is the empty string)::

    AE_whole/latest_net_encoder_{part}.pkl         CE encoders
    AE_whole/latest_net_decoder_{part}_image.pkl   stage-I image decoders (shadow)
    AE_whole/{man,female}_{part}_feature.bin       banks, raw float32 N×512
    Combine/latest_net_DE_{part}.pkl               FM decoders
    Combine/latest_net_G.pkl                       IS generator

Their ``.pkl`` files are Python pickles of ``{name: array}``. A pickle can run
arbitrary code on load, so :class:`SafeUnpickler` resolves only numpy array
reconstruction (pickle protocols 2 to 5, numpy 1 and 2 module names), dtypes, ordered dicts and Jittor's Var
(turned into its array).
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path

import numpy as np

from jdfd.config import PARTS, authors_part_name
from jdfd.weights.strict import WeightsError

GENDERS = {"male": "man", "female": "female"}


def _var_from_array(*args):
    # Jittor pickles a Var as Var(ndarray); we want the array, without importing Jittor
    if len(args) != 1 or not isinstance(args[0], np.ndarray):
        raise pickle.UnpicklingError("unexpected arguments for a Jittor Var")
    return args[0]


def _array_from_buffer(buf, dtype, shape, order="C"):
    # Protocol 5 pickles arrays as numpy's _frombuffer(bytes, dtype, shape, order): bytes in,
    # an array out. We rebuild it ourselves, checking the arguments, rather than trust the name.
    if not isinstance(buf, (bytes, bytearray, memoryview, pickle.PickleBuffer)) or not isinstance(dtype, np.dtype):
        raise pickle.UnpicklingError("unexpected arguments for an array from a buffer")
    if dtype.hasobject or order not in ("C", "F") or not all(isinstance(n, int) for n in shape):
        raise pickle.UnpicklingError("unexpected arguments for an array from a buffer")
    return np.frombuffer(buf, dtype=dtype).reshape(shape, order=order)


def _latin1_bytes(text, encoding="latin1"):
    # Protocols < 3 have no bytes type: they store an array's data as _codecs.encode(str, "latin1")
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError("unexpected arguments for bytes from text")
    return text.encode("latin1")


_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"): None,
    ("numpy._core.multiarray", "_reconstruct"): None,
    ("numpy.core.multiarray", "scalar"): None,
    ("numpy._core.multiarray", "scalar"): None,
    ("numpy.core.numeric", "_frombuffer"): _array_from_buffer,  # numpy < 2 names it so
    ("numpy._core.numeric", "_frombuffer"): _array_from_buffer,  # numpy ≥ 2
    ("_codecs", "encode"): _latin1_bytes,  # array data in protocol-2 pickles
    ("numpy", "ndarray"): None,
    ("numpy", "dtype"): None,
    ("collections", "OrderedDict"): None,
    ("jittor", "jittor_core.Var"): _var_from_array,
    ("jittor_core", "Var"): _var_from_array,
    ("jittor.jittor_core", "Var"): _var_from_array,
}


class SafeUnpickler(pickle.Unpickler):
    """Unpickler that refuses every global outside a short allow-list."""

    def find_class(self, module: str, name: str):
        key = (module, name)
        if key not in _ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}: only arrays are allowed in weight files")
        replacement = _ALLOWED[key]
        if replacement is not None:
            return replacement
        return super().find_class(module, name)


def load_pickle(path: str | Path) -> dict[str, np.ndarray]:
    """Read one of the authors' weight pickles as ``{name: float array}``."""
    p = Path(path)
    if not p.is_file():
        raise WeightsError(f"{p}: file not found")
    try:
        obj = SafeUnpickler(io.BytesIO(p.read_bytes())).load()
    except pickle.UnpicklingError as e:
        raise WeightsError(f"{p}: {e}") from None
    except Exception as e:  # truncated or foreign files raise many kinds of error
        raise WeightsError(f"{p}: not a readable weight pickle ({type(e).__name__}: {e})") from None
    if not isinstance(obj, dict):
        raise WeightsError(f"{p}: expected a dict of tensors, found {type(obj).__name__}")
    out = {}
    for k, v in obj.items():
        if not isinstance(k, str) or not isinstance(v, np.ndarray):
            raise WeightsError(f"{p}: entry {k!r} is not a named array")
        out[k] = v
    return out


def save_pickle(path: str | Path, state: dict[str, np.ndarray]) -> None:
    """Write ``{name: float32 array}`` the way the authors' Jittor saves it (for round trips)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        pickle.dump({k: np.asarray(v, dtype=np.float32) for k, v in state.items()}, f, protocol=4)


def file_layout() -> dict[str, tuple[str, str]]:
    """Relative path of every weight file → (network group, part)."""
    out = {}
    for part in PARTS:
        a = authors_part_name(part)
        out[f"AE_whole/latest_net_encoder_{a}.pkl"] = ("encoders", part)
        out[f"AE_whole/latest_net_decoder_{a}_image.pkl"] = ("image_decoders", part)
        out[f"Combine/latest_net_DE_{a}.pkl"] = ("fm", part)
    out["Combine/latest_net_G.pkl"] = ("G", "")
    return out


def bank_path(root: Path, gender: str, part: str) -> Path:
    return Path(root) / "AE_whole" / f"{GENDERS[gender]}_{authors_part_name(part)}_feature.bin"
