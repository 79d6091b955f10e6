"""Weights both ways between jdfd's Jittor networks and the PyTorch twin, by name.

The two state dicts have the same keys and shapes (ConvTranspose weights are
(in, out, k, k) in both frameworks), so transfer is a strict, checked copy through
numpy float32; a missing, extra or mis-shaped tensor raises
:class:`jdfd.weights.strict.WeightsError`.
"""

from __future__ import annotations

import numpy as np
import torch

from jdfd.weights.strict import WeightsError, check_state, load_strict, state_numpy


def torch_state_numpy(module: torch.nn.Module) -> dict[str, np.ndarray]:
    """A torch module's state dict as float32 numpy arrays (copies)."""
    return {k: v.detach().cpu().numpy().astype(np.float32, copy=True) for k, v in module.state_dict().items()}


def load_torch(module: torch.nn.Module, state: dict[str, np.ndarray], source: str = "state") -> None:
    """Copy a name→array dict (e.g. a Jittor state) into a torch module, checking every name and shape."""
    params = module.state_dict()
    check_state({k: tuple(v.shape) for k, v in params.items()}, state, source)
    with torch.no_grad():
        for name, t in params.items():
            arr = np.asarray(state[name])
            if not np.issubdtype(arr.dtype, np.floating):
                raise WeightsError(f"{source}: tensor {name} has dtype {arr.dtype}, expected floating point")
            t.copy_(torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float32)))


def jittor_to_torch(jt_module, torch_module: torch.nn.Module) -> None:
    """Jittor module → torch module (same architecture, same names)."""
    load_torch(torch_module, state_numpy(jt_module), f"Jittor {type(jt_module).__name__}")


def torch_to_jittor(torch_module: torch.nn.Module, jt_module) -> None:
    """Torch module → Jittor module (same architecture, same names)."""
    load_strict(jt_module, torch_state_numpy(torch_module), f"torch {type(torch_module).__name__}")
