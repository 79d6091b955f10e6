"""Training throughput of 1 process against ``mpirun -np N``, through the ``jdfd train`` command.

Each configuration runs the same stage for ``--steps`` steps in a fresh run folder; the
images/s of the steps after the first ``--skip`` (compile and warm-up) are read back from
``log.jsonl``. Under MPI each rank trains ``batch_size`` samples of every step, so N ranks
do N times the work per step: compare images/s, not steps/s.

    .venv/bin/python scripts/data_parallel_scaling.py --data SKETCHES [--photos PHOTOS] \\
        --config compact_stage1 --steps 40 --ranks 1,2
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

JDFD = Path(sys.executable).with_name("jdfd")


def run_once(stage: str, config: str, data: str, photos: str | None, ranks: int, steps: int, threads: int,
             out: Path) -> tuple[float, list[float]]:
    cmd = [str(JDFD), "train", stage, "--config", config, "--data", data, "--out", str(out), "--steps", str(steps)]
    if photos:
        cmd += ["--photos", photos]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    if ranks > 1:
        cmd = ["mpirun", "-np", str(ranks), "--bind-to", "none", *cmd]
        env.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    t0 = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    rates = [json.loads(ln)["images_per_s"] for ln in (out / "log.jsonl").read_text().splitlines()]
    return wall, rates


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--stage", default="stage1")
    ap.add_argument("--config", default="compact_stage1")
    ap.add_argument("--data", required=True, help="sketch folder")
    ap.add_argument("--photos", help="photo folder (stage II, baseline)")
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--skip", type=int, default=10, help="logged steps to leave out (compile, warm-up)")
    ap.add_argument("--ranks", default="1,2", help="process counts to compare")
    ap.add_argument("--threads", default=None,
                    help="OpenMP threads per process, per rank count (default: cores / ranks)")
    args = ap.parse_args()
    ranks = [int(r) for r in args.ranks.split(",")]
    cores = os.cpu_count() or 1
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in ranks:
            threads = max(1, cores // n) if args.threads is None else int(args.threads)
            out = Path(tmp) / f"np{n}"
            # logging every step is what lets us take a median over steps
            cfg = json.loads(Path(_config_path(args.config)).read_text())
            cfg.update(log_every=1, snapshot_every=10**9)
            cfg_path = Path(tmp) / f"cfg{n}.json"
            cfg_path.write_text(json.dumps(cfg))
            wall, rates = run_once(args.stage, str(cfg_path), args.data, args.photos, n, args.steps, threads, out)
            timed = rates[args.skip:]
            rows.append((n, threads, float(np.median(timed)), wall))
            shutil.rmtree(out, ignore_errors=True)
    base = rows[0][2]
    print(f"{args.stage} {args.config}, {args.steps} steps, median images/s of steps {args.skip + 1}..{args.steps}")
    print("| processes | threads each | images/s | vs first | wall s |")
    print("|---|---|---|---|---|")
    for n, threads, ips, wall in rows:
        print(f"| {n} | {threads} | {ips:.2f} | {ips / base:.2f}x | {wall:.0f} |")
    return 0


def _config_path(name: str) -> Path:
    from jdfd.training.cli import resolve_train_config  # noqa: PLC0415

    return resolve_train_config(name)


if __name__ == "__main__":
    sys.exit(main())
