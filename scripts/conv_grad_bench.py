"""One convolution's forward + backward: Jittor's own (NCHW) against jdfd's blocked training ops.

    OMP_NUM_THREADS=1 .venv/bin/python scripts/conv_grad_bench.py [--reps 7]

For each geometry of the compact model's training step (batch 8 for stage I's maps, 2 for
the generator's), times ``y = conv(x)`` and the gradients of x, w and b, synchronised:

- **jittor**: ``nn.conv2d`` on NCHW (Jittor's ``mkl_conv``, ``mkl_conv_backward_x``,
  ``mkl_conv_backward_w``: each reorders its activations to oneDNN's blocked layout and back);
- **blocked**: :func:`jdfd.kernels.training.blocked_conv` on maps already in the blocked layout,
  as a chain of blocked layers would hand them over, direct and Winograd.

The two jittor timings bracket the blocked ones (noise check); the ratio uses the faster.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from jdfd import kernels
from jdfd.kernels.blocked import to_blocked
from jdfd.kernels.training import blocked_conv
from jdfd.runtime import jittor

# (batch, in, size after padding, out, kernel, stride, padding): compact's stage-I and stage-II layers
GEOMETRIES = [
    (8, 16, 130, 16, 3, 1, 0),   # remainder encoder/decoder res block at 128²
    (8, 32, 66, 32, 3, 1, 0),    # at 64²
    (8, 64, 34, 64, 3, 1, 0),    # at 32²
    (8, 16, 128, 32, 4, 2, 1),   # encoder stride-2 conv
    (2, 24, 262, 24, 3, 1, 0),   # FM output at 256², generator's first width
    (2, 192, 34, 192, 3, 1, 0),  # generator res block
]


def clock(fn, reps: int) -> float:
    """Median milliseconds of ``fn`` after two warm-up calls."""
    fn()
    fn()
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return 1e3 * statistics.median(ts)


def time_geometry(lib, geometry: tuple, reps: int, rng: np.random.Generator) -> tuple[float, float, float, float]:
    """(jittor, blocked direct, blocked Winograd or nan, jittor again) in ms for one geometry."""
    jt = jittor()
    n, cin, size, cout, k, s, p = geometry
    layer = jt.nn.Conv(cin, cout, k, stride=s, padding=p)
    x = jt.array(rng.standard_normal((n, cin, size, size)).astype(np.float32))
    gy = jt.array(rng.standard_normal(tuple(layer(x).shape)).astype(np.float32))
    xb, gyb = to_blocked(x), to_blocked(gy)
    jt.sync([xb, gyb])
    params = [layer.weight, layer.bias]

    def own():
        jt.sync(jt.grad((layer(x) * gy).sum(), [x, *params]))

    def blocked(wino: bool):
        return lambda: jt.sync(jt.grad((blocked_conv(lib, layer, xb, wino) * gyb).sum(), [xb, *params]))

    a = clock(own, reps)
    d = clock(blocked(False), reps)
    w = clock(blocked(True), reps) if k == 3 and s == 1 else float("nan")
    return a, d, w, clock(own, reps)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--reps", type=int, default=7)
    args = ap.parse_args()
    lib = kernels.load()
    if lib is None:
        raise SystemExit(f"jdfd's oneDNN kernels are not in use here: {kernels.unavailable_reason()}")
    rng = np.random.default_rng(0)
    print(f"{'geometry (n, in, size, out, k, stride, pad)':44s} {'jittor':>9s} {'direct':>9s} {'winograd':>9s}  "
          "blocked / jittor")
    for geometry in GEOMETRIES:
        a, d, w, a2 = time_geometry(lib, geometry, args.reps, rng)
        best = min(d, w) if w == w else d
        print(f"{str(geometry):44s} {min(a, a2):7.1f}ms {d:7.1f}ms {w:7.1f}ms  "
              f"{best / min(a, a2):.2f}  (jittor {a:.1f} / {a2:.1f})")


if __name__ == "__main__":
    main()
