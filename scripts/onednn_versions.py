"""Would jdfd's kernels gain from a newer oneDNN? Its convolutions, timed under each library.

    .venv/bin/python scripts/onednn_versions.py --lib /path/to/onednn-3.x [--lib ...] [--reps 7]

jdfd's kernels build against the oneDNN that Jittor uses (Debian's 2.6, through
``scripts/setup.sh``). A newer one cannot simply be swapped in: Jittor's own ``mkl`` ops need
the 2.x API in the same process, and both libraries export the same C symbols. So this
measures first whether swapping would pay:

1. runs jdfd's real work with the kernels' own clock on (``dfd_kernel_profile``): compact
   inference end to end (batch 1) and one stage-I and one stage-II training step (batch 2),
   and collects every convolution geometry with its calls per image set or step;
2. builds ``scripts/onednn_conv_bench.cc`` (each convolution built as jdfd's kernels build it)
   against Jittor's oneDNN and against each ``--lib`` (a prefix with ``include/`` and ``lib/``;
   an unpacked ``onednn-cpu-gomp`` + ``onednn-devel-cpu-gomp`` wheel pair works, as below), and
   runs each build in a process of its own;
3. prints, per workload, the convolutions' summed time under each library (calls × median),
   and the geometries that change most, with oneDNN's implementation names.

A oneDNN 3.x with GNU OpenMP, as Jittor's is, from PyPI (``onednn`` 2026.x itself is built for
SYCL and TBB, which need Intel's runtimes)::

    pip download --no-deps -d /tmp/w onednn-cpu-gomp==2023.2.0 onednn-devel-cpu-gomp==2023.2.0
    mkdir -p /tmp/onednn32 && for f in /tmp/w/*.whl; do unzip -qo "$f" -d /tmp/onednn32; done
    .venv/bin/python scripts/onednn_versions.py --lib /tmp/onednn32
"""

from __future__ import annotations

import argparse
import collections
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from jdfd import config, kernels
from jdfd.bench import workload
from jdfd.bench.worker import JittorBackend
from jdfd.runtime import dnnl_dir

HERE = Path(__file__).parent
KINDS = ("conv", "conv-bwd-data", "conv-bwd-weights")


def collect(cfg_name: str, reps: int = 2) -> dict[str, dict[tuple[str, str], int]]:
    """{workload: {(kind, geometry key): calls in one image set or step}} from jdfd's own clock."""
    lib = kernels.load()
    if lib is None:
        raise SystemExit(f"jdfd's kernels are not in use here: {kernels.unavailable_reason()}")
    cfg = config.get_config(cfg_name)
    out: dict[str, dict[tuple[str, str], int]] = {}

    def record(name: str, fn) -> None:
        for _ in range(2):  # packs weights, creates primitives, compiles Jittor's graph
            fn()
        lib.dfd_kernel_profile(1)
        for _ in range(reps):
            fn()
        table = lib.dfd_kernel_profile(0)
        calls: dict[tuple[str, str], int] = collections.Counter()
        for line in table.strip().splitlines():
            what, n, _ = line.split("\t")
            kind, key = what.split(" ")[:2]
            if kind in KINDS:
                calls[(kind, key)] += int(n)
        out[name] = {k: round(v / reps) for k, v in calls.items()}

    be = JittorBackend(cfg, "cpu", fast=True)
    be.build(workload.synthetic_banks(cfg, 2000, 0))
    sketches = workload.synthetic_sketches(1, cfg.image_size, 0)
    record("inference, batch 1", lambda: be.end_to_end(sketches))
    batch = {"sketch": workload.synthetic_sketches(2, cfg.image_size, 0),
             "photo": workload.synthetic_photos(2, cfg.image_size, 0)}
    for stage in ("stage1", "stage2"):
        step = be.trainer(stage, 2)
        record(f"{stage} step, batch 2", lambda step=step: step(batch))
    return out


def _layout(prefix: Path) -> tuple[Path, Path, str]:
    """(include dir, lib dir, library name) of a oneDNN prefix, or of an unpacked wheel pair under it."""
    incs = [p.parent for p in prefix.rglob("dnnl.hpp") if p.parent.name != "dnnl"]
    libs = [p.parent for p in prefix.rglob("libdnnl.so")] or [p.parent for p in prefix.rglob("libmkldnn.so")]
    if not incs or not libs:
        raise SystemExit(f"{prefix}: no include/dnnl.hpp and lib/libdnnl.so under it")
    name = "dnnl" if (libs[0] / "libdnnl.so").exists() else "mkldnn"
    return incs[0], libs[0], name


def build(prefix: Path, out: Path) -> Path:
    inc, lib, name = _layout(prefix)
    exe = out / f"conv_bench_{abs(hash(str(prefix)))}"
    cmd = ["g++", "-O2", "-std=c++17", f"-DDFD_BLOCK={kernels.block()}", f"-I{inc}", str(HERE / "onednn_conv_bench.cc"),
           "-o", str(exe), f"-L{lib}", f"-l{name}", f"-Wl,-rpath,{lib}", "-fopenmp"]
    subprocess.run(cmd, check=True)
    return exe


def run(exe: Path, geoms: list[tuple[str, str]], reps: int) -> tuple[str, dict[tuple[str, str], tuple[float, str]]]:
    """(oneDNN's version line, {(kind, key): (median ms, implementation)})."""
    text = "".join(f"{kind} {key.replace(',', ' ')}\n" for kind, key in geoms)
    env = {k: v for k, v in os.environ.items() if k != "LD_LIBRARY_PATH"}
    p = subprocess.run([str(exe), str(reps)], input=text, capture_output=True, text=True, check=True, env=env)
    res = {}
    for line in p.stdout.splitlines():
        kind, key, med, _lo, impl = line.split(" ", 4)
        res[(kind, key)] = (float(med), impl)
    return p.stderr.strip().splitlines()[-1], res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lib", action="append", type=Path, default=[], help="a newer oneDNN's prefix (repeatable)")
    ap.add_argument("--config", default="compact")
    ap.add_argument("--reps", type=int, default=7, help="timed calls per convolution (median)")
    ap.add_argument("--rounds", type=int, default=2,
                    help="runs of each library, alternating; each geometry keeps its fastest median (default 2)")
    ap.add_argument("--top", type=int, default=8, help="geometries listed per workload")
    args = ap.parse_args()

    work = collect(args.config)
    geoms = sorted({g for calls in work.values() for g in calls})
    libs = [Path(dnnl_dir())] + args.lib
    results: list[tuple[str, dict]] = [("", {}) for _ in libs]
    with tempfile.TemporaryDirectory() as tmp:
        exes = [build(prefix, Path(tmp)) for prefix in libs]
        for _ in range(args.rounds):  # alternating, so the machine's drift falls on every library
            for i, (prefix, exe) in enumerate(zip(libs, exes)):
                version, res = run(exe, geoms, args.reps)
                best = results[i][1]
                for g, (ms, impl) in res.items():
                    if g not in best or 0 <= ms < best[g][0]:
                        best[g] = (ms, impl)
                results[i] = (version, best)
                print(f"{prefix}: {version}", file=sys.stderr)
    names = [v.split(",")[0] for v, _ in results]
    print(f"{args.config}: {len(geoms)} convolution geometries; {kernels.block()}-channel blocks; "
          f"median of {args.reps} calls, fastest of {args.rounds} runs each")
    for name, calls in work.items():
        print(f"\n{name}: convolutions, calls x median")
        by_kind = collections.defaultdict(lambda: [0.0] * len(results))
        for g, n in calls.items():
            for i, (_, res) in enumerate(results):
                by_kind[g[0]][i] += n * max(res[g][0], 0.0)  # -1: the library could not build it
        totals = [sum(ts[i] for ts in by_kind.values()) for i in range(len(results))]
        for lib_name, total in zip(names, totals):
            ratio = f"  ({total / totals[0]:.2f}x {names[0]})" if totals[0] else ""
            print(f"  {lib_name:>14}: {total:9.1f} ms{ratio}")
        for kind, ts in sorted(by_kind.items()):
            print(f"    {kind:>16}: " + " / ".join(f"{t:.1f}" for t in ts) + " ms")
        if len(results) > 1:
            diff = sorted(calls, key=lambda g: -abs(calls[g] * (results[1][1][g][0] - results[0][1][g][0])))
            print(f"  largest changes ({names[1]} - {names[0]}, x calls):")
            for g in diff[: args.top]:
                a, b = results[0][1][g], results[1][1][g]
                print(f"    {calls[g]:3d}x {g[0]:>16} {g[1]:<34} {a[0]:8.2f} -> {b[0]:8.2f} ms  {a[1]} -> {b[1]}")


if __name__ == "__main__":
    main()
