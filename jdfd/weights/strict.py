"""Strict state-dict loading: a missing, extra or mis-shaped tensor is an error, never a random init."""

from __future__ import annotations

import numpy as np


class WeightsError(ValueError):
    """Weights that do not fit the network; the message names file and tensor."""


def check_state(expected: dict[str, tuple[int, ...]], got: dict[str, np.ndarray], source: str) -> None:
    missing = sorted(set(expected) - set(got))
    extra = sorted(set(got) - set(expected))
    wrong = [(k, tuple(got[k].shape), tuple(expected[k])) for k in sorted(set(expected) & set(got))
             if tuple(got[k].shape) != tuple(expected[k])]
    problems = []
    if missing:
        problems.append(f"missing tensor(s) {', '.join(missing[:6])}" + (" …" if len(missing) > 6 else ""))
    if extra:
        problems.append(f"unexpected tensor(s) {', '.join(extra[:6])}" + (" …" if len(extra) > 6 else ""))
    for k, g, e in wrong[:6]:
        problems.append(f"tensor {k} has shape {list(g)}, the network needs {list(e)}")
    if problems:
        raise WeightsError(f"{source}: " + "; ".join(problems))


def load_strict(module, state: dict[str, np.ndarray], source: str) -> None:
    """Copy ``state`` into ``module`` (a Jittor module) after checking names and shapes."""
    params = module.state_dict()
    check_state({k: tuple(v.shape) for k, v in params.items()}, state, source)
    for name, var in params.items():
        arr = np.asarray(state[name])
        if not np.issubdtype(arr.dtype, np.floating):
            raise WeightsError(f"{source}: tensor {name} has dtype {arr.dtype}, expected floating point")
        if not np.all(np.isfinite(arr)):
            raise WeightsError(f"{source}: tensor {name} contains NaN or infinity")
        var.update(arr.astype(np.float32))
    # Materialise now: pending array ops fused into later kernels have hit Jittor codegen bugs
    from jdfd.runtime import jittor  # noqa: PLC0415

    jittor().sync(list(params.values()))


def state_numpy(module) -> dict[str, np.ndarray]:
    return {k: v.numpy() for k, v in module.state_dict().items()}
