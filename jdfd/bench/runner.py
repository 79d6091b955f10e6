"""Runs the workers in interleaved rounds and gathers their numbers.

Each (configuration, mode) is measured in ``rounds`` rounds; in every round each
framework runs once, in a fresh process, in an order that rotates from round to
round, so slow drift of the machine (thermal, other load) falls on all frameworks
alike. A round's repetitions are pooled with the other rounds' for the medians.
This module imports neither Jittor nor PyTorch.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from jdfd.bench.cli import DEFAULT_FRAMEWORKS
from jdfd.bench.worker import JITTOR_FRAMEWORKS, TORCH_FRAMEWORKS
from jdfd.config import get_config

REPO_ROOT = Path(__file__).resolve().parents[2]
#: Jittor without oneDNN is ~135x slower: one configuration, batch 1, one timed run, end to end only.
NODNNL_NOTE = ("jittor-nodnnl (oneDNN off, `use_mkl=0`) is measured on one configuration only ({cfg}), batch 1, "
               "end to end, 1 timed repetition after the first run, in round 1: without oneDNN Jittor's "
               "convolutions are its own loops, one to two orders of magnitude slower.")


@dataclass
class BenchOptions:
    configs: list[str] = field(default_factory=lambda: ["paper", "compact"])
    batches: list[int] = field(default_factory=lambda: [1, 4])
    reps: int = 6
    rounds: int = 3
    warmup: int = 1
    frameworks: list[str] = field(default_factory=lambda: DEFAULT_FRAMEWORKS.split(","))
    modes: list[str] = field(default_factory=lambda: ["infer", "train"])
    device: str = "cpu"
    out: str = "outputs/bench"
    parts: bool = False
    perceptual: bool = False  # training steps with the VGG16 perceptual loss
    bank_size: int = 2000
    timeout: float = 3600.0
    nodnnl_config: str | None = None  # default: compact if measured, else the smallest configuration
    seed: int = 0


def reps_in_round(reps: int, rounds: int, r: int) -> int:
    """Split ``reps`` timed repetitions over ``rounds`` rounds as evenly as possible."""
    return reps // rounds + (1 if r < reps % rounds else 0)


# ---------------------------------------------------------------------------- the machine
def _version(pkg: str) -> str | None:
    try:
        return importlib.metadata.version(pkg)
    except importlib.metadata.PackageNotFoundError:
        return None


def machine_info(device: str = "cpu") -> dict[str, Any]:
    """CPU model, cores, memory, load and library versions (without importing Jittor or PyTorch)."""
    info: dict[str, Any] = {"platform": platform.platform(), "python": platform.python_version(),
                            "cpu_count": os.cpu_count()}
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
        models = [ln.split(":", 1)[1].strip() for ln in cpuinfo.splitlines() if ln.startswith("model name")]
        info["cpu_model"] = models[0] if models else platform.processor()
        info["logical_cpus"] = sum(1 for ln in cpuinfo.splitlines() if ln.startswith("processor"))
        flags = next((ln for ln in cpuinfo.splitlines() if ln.startswith("flags")), "")
        info["simd"] = sorted({f for f in flags.split() if f in ("avx2", "avx512f", "avx512_bf16", "amx_tile", "fma")})
    except OSError:
        info["cpu_model"] = platform.processor()
    if hasattr(os, "sched_getaffinity"):
        info["usable_cpus"] = len(os.sched_getaffinity(0))
    try:
        mem = next(ln for ln in Path("/proc/meminfo").read_text().splitlines() if ln.startswith("MemTotal"))
        info["memory_gib"] = round(int(mem.split()[1]) / 2**20, 1)
    except (OSError, StopIteration):
        pass
    if hasattr(os, "getloadavg"):
        info["load_average_at_start"] = [round(x, 2) for x in os.getloadavg()]
    info["versions"] = {p: _version(p) for p in ("jittor", "torch", "numpy", "scikit-learn", "jdfd")}
    info["threads_env"] = {k: os.environ[k] for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS") if k in os.environ}
    if device == "cuda" or shutil.which("nvidia-smi"):
        try:
            out = subprocess.run(["nvidia-smi", "--query-gpu=name,memory.total,driver_version",
                                  "--format=csv,noheader"], capture_output=True, text=True, timeout=30)
            if out.returncode == 0 and out.stdout.strip():
                info["gpus"] = [ln.strip() for ln in out.stdout.strip().splitlines()]
        except (OSError, subprocess.TimeoutExpired):
            pass
    info["device"] = device
    return info


def torch_available() -> bool:
    return importlib.util.find_spec("torch") is not None


# ---------------------------------------------------------------------------- one worker
def worker_env(framework: str, device: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    env["JDFD_DEVICE"] = device
    env.setdefault("log_silent", "1")
    # Jittor reads use_mkl once, at import (jittor/compile_extern.py): "0" leaves oneDNN out
    env["use_mkl"] = "0" if framework == "jittor-nodnnl" else "1"
    return env


def run_worker(spec: dict, timeout: float, workdir: Path) -> dict:
    """One framework measurement in a fresh interpreter; failures come back as ``{"error": ...}``."""
    tag = f"{spec['framework']}_{spec['config']['name']}_{spec['mode']}_r{spec['round']}"
    spec_path, out_path = workdir / f"{tag}.spec.json", workdir / f"{tag}.out.json"
    spec_path.write_text(json.dumps(spec))
    cmd = [sys.executable, "-m", "jdfd.bench.worker", str(spec_path), str(out_path)]
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, env=worker_env(spec["framework"], spec["device"]), capture_output=True,
                              text=True, timeout=timeout, cwd=str(REPO_ROOT))
        stderr = proc.stderr
    except subprocess.TimeoutExpired as e:
        return {"framework": spec["framework"], "mode": spec["mode"], "error": f"timed out after {timeout:.0f} s",
                "stderr_tail": str(e.stderr or "")[-2000:], "process_s": time.perf_counter() - t0}
    if out_path.exists():
        result = json.loads(out_path.read_text())
    else:
        result = {"framework": spec["framework"], "mode": spec["mode"],
                  "error": f"worker exited with code {proc.returncode} and wrote no result"}
    if "error" in result:
        result["stderr_tail"] = stderr[-2000:]
    result["process_s"] = time.perf_counter() - t0
    return result


# ---------------------------------------------------------------------------- the plan
def _nodnnl_config(opts: BenchOptions, cfgs: dict[str, dict]) -> str:
    if opts.nodnnl_config:
        return opts.nodnnl_config
    if "compact" in cfgs:
        return "compact"
    return min(cfgs, key=lambda n: cfgs[n]["image_size"])


def plan(opts: BenchOptions) -> tuple[list[dict], list[str]]:
    """Every worker spec in run order, and notes on what is left out and why."""
    notes: list[str] = []
    cfgs = {name: get_config(name).to_dict() for name in opts.configs}
    fws = list(opts.frameworks)
    if opts.device == "cuda" and "jittor-nodnnl" in fws:
        fws.remove("jittor-nodnnl")
        notes.append("jittor-nodnnl is a CPU variant; not run with --device cuda.")
    nodnnl_cfg = _nodnnl_config(opts, cfgs) if "jittor-nodnnl" in fws else None
    if nodnnl_cfg:
        notes.append(NODNNL_NOTE.format(cfg=nodnnl_cfg))
    if "jittor-fast" in fws and "train" in opts.modes:
        notes.append("jittor-fast is an inference path: training steps are jdfd's Trainer (the `jittor` column).")
    if "train" in opts.modes:
        notes.append(("Training steps run with the VGG16 perceptual loss (`--perceptual`, as real stage-II runs: "
                      "synthetic VGG weights, the same in both frameworks)" if opts.perceptual else
                      "Training steps run without the VGG16 perceptual loss in both frameworks (`--perceptual` adds "
                      "it)") + "; stage II updates D and FM+IS once each, as jdfd's Trainer does.")
    specs = []
    for r in range(opts.rounds):
        n_reps = reps_in_round(opts.reps, opts.rounds, r)
        if n_reps == 0:
            continue
        for name, cfg in cfgs.items():
            for mode in opts.modes:
                k = r % len(fws) if fws else 0
                for fw in fws[k:] + fws[:k]:  # rotate the order every round
                    spec = {"framework": fw, "config": cfg, "mode": mode, "batches": list(opts.batches),
                            "reps": n_reps, "warmup": opts.warmup, "device": opts.device, "round": r,
                            "parts": opts.parts, "bank_size": opts.bank_size, "seed": opts.seed, "stages": True,
                            "perceptual": opts.perceptual}
                    if fw == "jittor-fast" and mode == "train":
                        continue
                    if fw == "jittor-nodnnl":
                        if r != 0 or name != nodnnl_cfg or mode != "infer":
                            continue
                        spec.update(batches=[1], reps=1, warmup=0, stages=False, parts=False)
                    specs.append(spec)
    return specs, notes


# ---------------------------------------------------------------------------- aggregation
def _stat(xs: list[float]) -> dict[str, Any]:
    a = np.asarray(xs, dtype=np.float64)
    return {"median_s": float(np.median(a)), "min_s": float(a.min()), "max_s": float(a.max()), "n": int(a.size)}


def summarise(runs: list[dict]) -> list[dict]:
    """Pool every round's repetitions per (config, framework, batch, stage)."""
    pooled: dict[tuple, dict[str, Any]] = {}
    for run in runs:
        if "error" in run:
            continue
        for b, res in run["batches"].items():
            for stage, times in res["times_s"].items():
                key = (run["config"], run["framework"], int(b), stage)
                e = pooled.setdefault(key, {"times": [], "first": [], "rss": [], "gpu": []})
                e["times"] += times
                e["first"].append(res["first_s"][stage])
                rss, gpu = res["peak_rss_mb"], res.get("gpu_peak_mb")
                e["rss"].append(rss[stage] if isinstance(rss, dict) else rss)
                gpu = gpu.get(stage) if isinstance(gpu, dict) else gpu
                if gpu is not None:
                    e["gpu"].append(gpu)
                e["mode"] = run["mode"]
    rows = []
    for (cfg, fw, b, stage), e in sorted(pooled.items()):
        rows.append({"config": cfg, "framework": fw, "batch": b, "stage": stage, "mode": e["mode"],
                     **_stat(e["times"]), "first_run_s": e["first"], "peak_rss_mb": max(e["rss"]),
                     "gpu_peak_mb": max(e["gpu"]) if e["gpu"] else None})
    return rows


def ratios(summary: list[dict]) -> list[dict]:
    """Jittor / PyTorch median-time ratios (below 1: Jittor faster), for every pair measured side by side."""
    idx = {(r["config"], r["framework"], r["batch"], r["stage"]): r for r in summary}
    out = []
    for (cfg, fw, b, stage), r in sorted(idx.items()):
        if fw not in JITTOR_FRAMEWORKS:
            continue
        for tfw in TORCH_FRAMEWORKS:
            t = idx.get((cfg, tfw, b, stage))
            if t is not None and t["median_s"] > 0:
                out.append({"config": cfg, "batch": b, "stage": stage, "jittor": fw, "torch": tfw,
                            "ratio": r["median_s"] / t["median_s"]})
    return out


def agreement(saved: dict[tuple[str, str], Path]) -> list[dict]:
    """Largest uint8 difference of every framework's faces from jdfd's own (``jittor``) ones."""
    out = []
    for (cfg, fw), d in sorted(saved.items()):
        ref_dir = saved.get((cfg, "jittor"))
        if fw == "jittor" or ref_dir is None:
            continue
        for f in sorted(d.glob("faces_b*.npy")):
            ref = ref_dir / f.name
            if not ref.exists():
                continue
            a, b = np.load(ref).astype(np.int16), np.load(f).astype(np.int16)
            out.append({"config": cfg, "framework": fw, "batch": int(f.stem.split("_b")[1]), "vs": "jittor",
                        "max_abs_diff_uint8": int(np.abs(a - b).max()), "fraction_differing": float((a != b).mean())})
    return out


# ---------------------------------------------------------------------------- everything
def run_benchmark(opts: BenchOptions, log: Callable[[str], None] = print) -> dict:
    """Measure, then write ``results.json``, ``report.md`` and ``chart.png`` into ``opts.out``."""
    from jdfd.bench import report  # noqa: PLC0415

    out = Path(opts.out)
    out.mkdir(parents=True, exist_ok=True)
    specs, notes = plan(opts)
    machine = machine_info(opts.device)
    runs: list[dict] = []
    saved: dict[tuple[str, str], Path] = {}
    t_start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="jdfd-bench-") as tmp:
        work = Path(tmp)
        for i, spec in enumerate(specs, 1):
            cname = spec["config"]["name"]
            if spec["round"] == 0 and spec["mode"] == "infer":
                d = work / f"faces_{cname}_{spec['framework']}"
                d.mkdir(exist_ok=True)
                spec["save_dir"] = str(d)
                saved[(cname, spec["framework"])] = d
            log(f"[{i}/{len(specs)}] round {spec['round'] + 1}: {cname} {spec['mode']} {spec['framework']} "
                f"(batches {','.join(map(str, spec['batches']))}, {spec['reps']} rep(s)) ...")
            res = run_worker(spec, opts.timeout, work)
            res["round"] = spec["round"]
            res.setdefault("config", cname)
            runs.append(res)
            status = f"error: {res['error']}" if "error" in res else f"{res['process_s']:.1f} s"
            log(f"    {status}")
        agree = agreement(saved)
    if hasattr(os, "getloadavg"):
        machine["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    infos = {}
    for run in runs:
        if "info" in run:
            infos.setdefault(run["framework"], run["info"])
    machine["frameworks"] = infos
    summary = summarise(runs)
    result = {"machine": machine, "options": asdict(opts), "notes": notes, "summary": summary,
              "ratios": ratios(summary), "agreement": agree,
              "errors": [{k: r.get(k) for k in ("framework", "config", "mode", "round", "error", "stderr_tail")}
                         for r in runs if "error" in r],
              "runs": runs, "total_s": time.perf_counter() - t_start}
    (out / "results.json").write_text(json.dumps(result, indent=1) + "\n")
    (out / "report.md").write_text(report.markdown(result))
    report.chart(result, out / "chart.png")
    log(f"wrote {out / 'results.json'}, {out / 'report.md'}, {out / 'chart.png'}")
    return result
