"""Where a training step's time goes, operator by operator (Jittor's own profiler).

    OMP_NUM_THREADS=1 .venv/bin/python scripts/profile_training.py --stage stage1 --batch 8
    .venv/bin/python scripts/profile_training.py --stage stage2 --batch 2 --config paper
    .venv/bin/python scripts/profile_training.py --stage stage1 --batch 8 --no-kernels   # Jittor's own layers
    .venv/bin/python scripts/profile_training.py --stage stage2 --batch 2 --perceptual   # as real runs

One step of jdfd's ``Trainer`` (random weights and synthetic sketches and photos, perceptual
loss off as in ``jdfd bench --modes train`` unless ``--perceptual``) under ``jt.profile_scope``,
after warm-up steps; the step time printed first is the median of ``--reps`` plain steps before
it. Jittor's profiler does not see jdfd's kernels, so their own clock (``dfd_kernel_profile``)
is printed after it, by kind and by geometry.
Jittor fuses element-wise work into its reductions, so the kinds are: convolutions (Jittor's
``mkl_conv*`` operators: forward, backward-data, backward-weights; jdfd's blocked ``dfd_conv*``
unless ``--no-kernels``), matrix products, fused
element-wise + reductions (the norms, their backward, the losses), index maps (reflection
padding: ``reindex`` forward, ``reindex_reduce`` backward) and the rest.
"""

from __future__ import annotations

import argparse
import collections
import statistics
import time

from jdfd import config, kernels
from jdfd.bench import workload
from jdfd.bench.worker import JittorBackend
from jdfd.runtime import jittor


def kind(name: str) -> str:
    for op, what in (("dfd_conv_bwd_data", "backward-data"), ("dfd_conv_bwd_weights", "backward-weights"),
                     ("dfd_conv", "forward"), ("dfd_pack", "weight packing")):
        if name.startswith(op):
            return f"jdfd convolution {what} (blocked)"
    if name.startswith("mkl_conv_backward_x"):
        return "convolution backward-data"
    if name.startswith("mkl_conv_backward_w"):
        return "convolution backward-weights"
    if name.startswith("mkl_conv"):
        return "convolution forward"
    if name.startswith("mkl_matmul"):
        return "matrix product (linear layers)"
    if "reindex_reduce" in name.split("opkey1")[0]:
        return "index map backward (padding)"
    if "reindex" in name.split("opkey1")[0]:
        return "index map (padding)"
    if "reduce" in name or "binary" in name or "unary" in name or "ternary" in name:
        return "fused element-wise + reductions (norms, losses)"
    return "other"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", default="compact")
    ap.add_argument("--stage", choices=["stage1", "stage2", "baseline"], default="stage1")
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--reps", type=int, default=3, help="plain steps timed before the profiled one")
    ap.add_argument("--top", type=int, default=12, help="how many single operators to list")
    ap.add_argument("--no-kernels", action="store_true",
                    help="Jittor's own layers everywhere (TrainConfig.kernels off), not jdfd's blocked path")
    ap.add_argument("--perceptual", action="store_true",
                    help="with the VGG16 perceptual loss, as real stage-II and baseline runs have it")
    args = ap.parse_args()

    jt = jittor()
    cfg = config.get_config(args.config)
    step = JittorBackend(cfg, "cpu", True).trainer(args.stage, args.batch, kernels=not args.no_kernels,
                                                     perceptual=args.perceptual)
    batch = {"sketch": workload.synthetic_sketches(args.batch, cfg.image_size, 0),
             "photo": workload.synthetic_photos(args.batch, cfg.image_size, 0)}
    for _ in range(args.warmup):
        step(batch)
    times = []
    for _ in range(args.reps):
        t0 = time.perf_counter()
        step(batch)
        times.append(time.perf_counter() - t0)
    lib = None if args.no_kernels else kernels.load()
    if lib is not None:
        lib.dfd_kernel_profile(1)
    with jt.profile_scope(warmup=0, rerun=0) as report:
        step(batch)
    own_clock = lib.dfd_kernel_profile(0) if lib is not None else ""
    header, rows = report[0], report[1:]
    i_name, i_total, i_count = header.index("Name"), header.index("TotalTime"), header.index("Count")
    total = sum(float(r[i_total]) for r in rows) or 1.0
    path = "Jittor's own layers" if args.no_kernels else "jdfd's kernels"
    path += ", perceptual loss on" if args.perceptual else ""
    print(f"{cfg.name} {args.stage}, batch {args.batch}, {path}: step {1e3 * statistics.median(times):.0f} ms "
          f"(median of {args.reps}); profiled operators {total / 1e6:.0f} ms")
    kinds: dict[str, float] = collections.defaultdict(float)
    calls: dict[str, int] = collections.defaultdict(int)
    for r in rows:
        kinds[kind(r[i_name])] += float(r[i_total])
        calls[kind(r[i_name])] += int(r[i_count])
    print("\nby kind:")
    for k, ns in sorted(kinds.items(), key=lambda kv: -kv[1]):
        print(f"  {ns / 1e6:9.1f} ms  {100 * ns / total:5.1f} %  {calls[k]:5d} calls  {k}")
    print(f"\ntop {args.top} operators:")
    for r in sorted(rows, key=lambda r: -float(r[i_total]))[: args.top]:
        short = r[i_name].replace("«", " ").replace("opkey", "|")[:110]
        print(f"  {float(r[i_total]) / 1e6:9.1f} ms  {int(r[i_count]):4d}×  {short}")
    if own_clock:
        print_kernel_clock(own_clock, args.top)


def print_kernel_clock(table: str, top: int) -> None:
    """jdfd's kernels by their own clock: ``what geometry impl`` TAB calls TAB seconds, per line."""
    rows = [line.split("\t") for line in table.strip().splitlines()]
    by_kind: dict[str, float] = collections.defaultdict(float)
    for what, _, sec in rows:
        by_kind[what.split(" ")[0]] += float(sec)
    print(f"\njdfd's kernels, their own clock: {1e3 * sum(by_kind.values()):.0f} ms")
    for k, sec in sorted(by_kind.items(), key=lambda kv: -kv[1]):
        print(f"  {1e3 * sec:9.1f} ms  {k}")
    print(f"top {top} kernels (n, ic, ih, iw, oc, k, stride, pads, transposed, algo, plain; oneDNN's implementation):")
    for what, calls, sec in sorted(rows, key=lambda r: -float(r[2]))[:top]:
        print(f"  {1e3 * float(sec):9.1f} ms  {int(calls):4d}×  {what[:110]}")


if __name__ == "__main__":
    main()

