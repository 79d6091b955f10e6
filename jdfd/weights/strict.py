"""Strict state-dict loading: a missing, extra or mis-shaped tensor is an error, never a random init."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

import numpy as np


class WeightsError(ValueError):
    """Weights that do not fit the network; the message names file and tensor."""


class LazyState(Mapping):
    """A state dict whose tensors are made (read, generated) only when indexed, and not kept.

    Loading from it streams tensor by tensor: at most one tensor is held beside the
    network's own copy, where a plain dict holds the whole state (as large as the network)
    until the load ends. Shapes are known up front, so names and shapes are checked first.
    """

    def __init__(self, shapes: Mapping[str, tuple[int, ...]], make: Callable[[str], np.ndarray]):
        self.shapes = {k: tuple(int(s) for s in v) for k, v in shapes.items()}
        self._make = make

    def __getitem__(self, name: str) -> np.ndarray:
        if name not in self.shapes:
            raise KeyError(name)
        return self._make(name)

    def __iter__(self) -> Iterator[str]:
        return iter(self.shapes)

    def __len__(self) -> int:
        return len(self.shapes)


def state_shapes(state: Mapping[str, np.ndarray]) -> dict[str, tuple[int, ...]]:
    """Name → shape, without making a lazy state's tensors."""
    if isinstance(state, LazyState):
        return dict(state.shapes)
    return {k: tuple(v.shape) for k, v in state.items()}


def check_state(expected: dict[str, tuple[int, ...]], got: Mapping[str, np.ndarray], source: str) -> None:
    got = state_shapes(got)
    missing = sorted(set(expected) - set(got))
    extra = sorted(set(got) - set(expected))
    wrong = [(k, got[k], tuple(expected[k])) for k in sorted(set(expected) & set(got))
             if got[k] != tuple(expected[k])]
    problems = []
    if missing:
        problems.append(f"missing tensor(s) {', '.join(missing[:6])}" + (" …" if len(missing) > 6 else ""))
    if extra:
        problems.append(f"unexpected tensor(s) {', '.join(extra[:6])}" + (" …" if len(extra) > 6 else ""))
    for k, g, e in wrong[:6]:
        problems.append(f"tensor {k} has shape {list(g)}, the network needs {list(e)}")
    if problems:
        raise WeightsError(f"{source}: " + "; ".join(problems))


def load_strict(module, state: Mapping[str, np.ndarray], source: str) -> None:
    """Copy ``state`` into ``module`` (a Jittor module) after checking names and shapes.

    Tensors are read one at a time (a :class:`LazyState` is never all in memory at once).
    """
    params = module.state_dict()
    check_state({k: tuple(v.shape) for k, v in params.items()}, state, source)
    for name, var in params.items():
        arr = np.asarray(state[name])
        if not np.issubdtype(arr.dtype, np.floating):
            raise WeightsError(f"{source}: tensor {name} has dtype {arr.dtype}, expected floating point")
        if not np.all(np.isfinite(arr)):
            raise WeightsError(f"{source}: tensor {name} contains NaN or infinity")
        var.update(np.asarray(arr, dtype=np.float32))  # Jittor copies: no numpy copy beside it
        del arr
    # Materialise now: pending array ops fused into later kernels have hit Jittor codegen bugs
    from jdfd.runtime import jittor  # noqa: PLC0415

    jittor().sync(list(params.values()))


def state_numpy(module) -> dict[str, np.ndarray]:
    return {k: v.numpy() for k, v in module.state_dict().items()}
