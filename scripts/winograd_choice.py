"""Winograd or direct, per pass, for each 3×3 convolution of a training step: the data behind
``jdfd.kernels.training.winograd_passes``.

    .venv/bin/python scripts/winograd_choice.py --config compact --batch 2
    OMP_NUM_THREADS=1 .venv/bin/python scripts/winograd_choice.py --config compact --batch 8 --stages stage1
    .venv/bin/python scripts/winograd_choice.py --config paper --batch 1 --reps 3

Runs one profiled step of each stage to collect the 3×3 stride-1 geometries the blocked training
path meets (with their call counts), then times each pass alone on random maps, both ways:
the forward with its weight packing (weights change every step, so training packs on every
call), backward-data and backward-weights. Per pass and stage it totals Winograd everywhere,
direct everywhere, the faster of the two per layer, and what ``winograd_passes`` picks; a layer
where the rule's pick is more than 15 % slower than the other is listed.
"""

from __future__ import annotations

import argparse
import collections

import numpy as np
from conv_grad_bench import clock  # scripts/ is on the path when a script runs

from jdfd import config, kernels
from jdfd.bench import workload
from jdfd.bench.worker import JittorBackend
from jdfd.kernels.blocked import BLOCK
from jdfd.kernels.training import winograd_passes
from jdfd.runtime import jittor

PASSES = ("forward+pack", "backward-data", "backward-weights")


def step_geometries(cfg, stage: str, batch: int, lib) -> collections.Counter:
    """The 3×3 stride-1 blocked convolutions of one training step, with their call counts."""
    step = JittorBackend(cfg, "cpu", True).trainer(stage, batch)
    data = {"sketch": workload.synthetic_sketches(batch, cfg.image_size, 0),
            "photo": workload.synthetic_photos(batch, cfg.image_size, 0)}
    step(data)
    lib.dfd_kernel_profile(1)
    step(data)
    found: collections.Counter = collections.Counter()
    for line in lib.dfd_kernel_profile(0).strip().splitlines():
        what, calls, _ = line.split("\t")
        kind, geom = what.split(" ")[:2]
        if kind != "conv":
            continue
        g = tuple(int(v) for v in geom.split(","))
        if g[5] == 3 and g[6] == 1 and not g[11]:
            found[g[:10] + (0, 0)] += int(calls)
    return found


def pass_times(ops, jt, g: tuple, reps: int) -> list[tuple[float, float]]:
    """[(Winograd ms, direct ms)] for the forward with packing, backward-data and backward-weights."""
    n, ic, ih, iw, oc, k = g[:6]
    oh, ow = ih + g[7] + g[8] - k + 1, iw + g[7] + g[8] - k + 1
    rng = np.random.default_rng(0)
    x = jt.array(rng.random((n, -(-ic // BLOCK), ih, iw, BLOCK), np.float32))
    dy = jt.array(rng.random((n, -(-oc // BLOCK), oh, ow, BLOCK), np.float32))
    w = jt.array(rng.random((oc, ic, k, k), np.float32))
    b = jt.zeros((oc,))
    jt.sync([x, dy, w, b])
    out = []
    # the forward's Winograd is algo 2, as the training path runs it: blocked weights, transformed inside
    # oneDNN's kernel (algo 1, its pre-transformed layout, costs a slow reorder on every call)
    for run, wino in ((lambda a: ops.dfd_conv(x, ops.dfd_pack(w, *a), b, *a).sync(), 2),
                      (lambda a: ops.dfd_conv_bwd_data(dy, w, *a).sync(), 1),
                      (lambda a: jt.sync(list(ops.dfd_conv_bwd_weights(x, dy, *a))), 1)):
        out.append(tuple(clock(lambda a=g[:10] + (algo, 0), f=run: f(a), reps) for algo in (wino, 0)))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", default="compact")
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--stages", default="stage1,stage2")
    ap.add_argument("--reps", type=int, default=5)
    args = ap.parse_args()

    jt = jittor()
    lib = kernels.load()
    if lib is None:
        raise SystemExit(f"jdfd's kernels did not load: {kernels.unavailable_reason()}")
    cfg = config.get_config(args.config)
    print(f"{cfg.name}, batch {args.batch}: ms per call, Winograd / direct (* the rule's pick)")
    print(f"{'stage':7} {'n, ic, ih, iw, oc':22} {'calls':>5}  " + "  ".join(f"{p:>18}" for p in PASSES))
    for stage in args.stages.split(","):
        totals = collections.defaultdict(lambda: [0.0, 0.0, 0.0, 0.0])  # Winograd, direct, faster, rule
        misses = []
        for g, calls in sorted(step_geometries(cfg, stage, args.batch, lib).items()):
            times, picks = pass_times(lib.ops, jt, g, args.reps), winograd_passes(g)
            cells = []
            for name, (wino, direct), pick in zip(PASSES, times, picks):
                t = totals[name]
                chosen, other = (wino, direct) if pick else (direct, wino)
                t[0], t[1], t[2], t[3] = t[0] + calls * wino, t[1] + calls * direct, \
                    t[2] + calls * min(wino, direct), t[3] + calls * chosen
                cells.append(f"{wino:7.2f}{'*' if pick else ' '}/{direct:7.2f}{' ' if pick else '*'}")
                if chosen > 1.15 * other + 0.05:
                    misses.append(f"{stage} {g[:5]} {name}: {chosen:.2f} ms against {other:.2f}")
            print(f"{stage:7} {str(g[:5]):22} {calls:5d}  " + "  ".join(f"{c:>18}" for c in cells))
        for name, (wino, direct, best, rule) in totals.items():
            print(f"{stage} {name}: Winograd {wino:.1f} ms, direct {direct:.1f}, faster per layer {best:.1f}, "
                  f"winograd_passes {rule:.1f}")
        print("\n".join(misses) or f"{stage}: the rule is within 15 % of the faster pass on every layer")


if __name__ == "__main__":
    main()
