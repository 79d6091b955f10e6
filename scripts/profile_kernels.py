"""Where jdfd's CPU inference spends its time, kernel by kernel (jdfd's oneDNN kernels).

    .venv/bin/python scripts/profile_kernels.py                  # the shipped model, batch 1
    .venv/bin/python scripts/profile_kernels.py --config paper   # paper networks, random weights

Times FM + IS (``DeepFaceDrawing.synthesize``) with the kernels' own timers on
(``dfd_kernel_profile``): each kernel's wall time, summed over its calls, per image set.
Convolutions are named by their geometry (batch, in, height, width, out, kernel, stride,
padding, transposed, algorithm, plain input) and oneDNN's implementation.
"""

from __future__ import annotations

import argparse
import collections
import time

from jdfd import config, kernels
from jdfd.bench.workload import synthetic_sketches
from jdfd.pipeline import DeepFaceDrawing


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="pretrained", help="a jdfd model folder (default: pretrained)")
    ap.add_argument("--config", help="profile these networks with random weights instead (compact, paper)")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--top", type=int, default=20, help="how many single kernels to list")
    args = ap.parse_args()

    lib = kernels.load()
    if lib is None:
        raise SystemExit(f"jdfd's oneDNN kernels are not in use here: {kernels.unavailable_reason()}")
    if args.config:
        model = DeepFaceDrawing(config.get_config(args.config))
    else:
        model = DeepFaceDrawing.from_pretrained(args.model)
    codes = model.encode(synthetic_sketches(args.batch, model.cfg.image_size))
    for _ in range(2):  # packs the weights and creates the primitives
        model.synthesize(codes)
    lib.dfd_kernel_profile(1)
    start = time.perf_counter()
    for _ in range(args.reps):
        model.synthesize(codes)
    wall = (time.perf_counter() - start) / args.reps * 1e3
    rows = [line.split("\t") for line in lib.dfd_kernel_profile(0).strip().splitlines()]
    rows = [(name, int(calls) // args.reps, float(sec) / args.reps * 1e3) for name, calls, sec in rows]
    total = sum(ms for _, _, ms in rows)
    print(f"{model.cfg.name}, batch {args.batch}: FM + IS {wall:.1f} ms per call, of which kernels {total:.1f} ms")
    kinds: dict[str, float] = collections.defaultdict(float)
    for name, _, ms in rows:
        kinds[name.split()[0] + (" " + name.split()[-1] if name.startswith("conv") else "")] += ms
    print("\nby kind:")
    for kind, ms in sorted(kinds.items(), key=lambda kv: -kv[1]):
        print(f"  {ms:8.2f} ms  {100 * ms / total:5.1f} %  {kind}")
    print(f"\ntop {args.top} kernels (ms per call of synthesize, calls):")
    for name, calls, ms in sorted(rows, key=lambda r: -r[2])[: args.top]:
        print(f"  {ms:8.2f} ms  {calls:3d}×  {name}")


if __name__ == "__main__":
    main()
