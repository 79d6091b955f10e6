"""Where a training step's time goes, operator by operator (Jittor's own profiler).

    OMP_NUM_THREADS=1 .venv/bin/python scripts/profile_training.py --stage stage1 --batch 8
    .venv/bin/python scripts/profile_training.py --stage stage2 --batch 2 --config paper
    .venv/bin/python scripts/profile_training.py --stage stage1 --batch 8 --no-kernels   # Jittor's own layers

One step of jdfd's ``Trainer`` (random weights and synthetic sketches and photos, perceptual
loss off, as ``jdfd bench --modes train``) under ``jt.profile_scope``, after warm-up steps; the
step time printed first is the median of ``--reps`` plain steps before it.
Jittor fuses element-wise work into its reductions, so the kinds are: convolutions (Jittor's
``mkl_conv*`` operators: forward, backward-data, backward-weights; jdfd's blocked ``dfd_conv*``
for CE and FM unless ``--no-kernels``), matrix products, fused
element-wise + reductions (the norms, their backward, the losses), index maps (reflection
padding: ``reindex`` forward, ``reindex_reduce`` backward) and the rest.
"""

from __future__ import annotations

import argparse
import collections
import statistics
import time

from jdfd import config
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
                    help="Jittor's own layers everywhere (TrainConfig.kernels off), not jdfd's blocked CE/FM path")
    args = ap.parse_args()

    jt = jittor()
    cfg = config.get_config(args.config)
    step = JittorBackend(cfg, "cpu", True).trainer(args.stage, args.batch, kernels=not args.no_kernels)
    batch = {"sketch": workload.synthetic_sketches(args.batch, cfg.image_size, 0),
             "photo": workload.synthetic_photos(args.batch, cfg.image_size, 0)}
    for _ in range(args.warmup):
        step(batch)
    times = []
    for _ in range(args.reps):
        t0 = time.perf_counter()
        step(batch)
        times.append(time.perf_counter() - t0)
    with jt.profile_scope(warmup=0, rerun=0) as report:
        step(batch)
    header, rows = report[0], report[1:]
    i_name, i_total, i_count = header.index("Name"), header.index("TotalTime"), header.index("Count")
    total = sum(float(r[i_total]) for r in rows) or 1.0
    path = "Jittor's own layers" if args.no_kernels else "jdfd's kernels for CE/FM"
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


if __name__ == "__main__":
    main()
