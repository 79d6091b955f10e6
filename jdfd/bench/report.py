"""The benchmark's Markdown report and bar chart, from the result dict of :func:`jdfd.bench.runner.run_benchmark`."""

from __future__ import annotations

from pathlib import Path

from jdfd.bench.worker import FRAMEWORKS
from jdfd.bench.workload import STAGES, TRAIN_PARTS, TRAIN_STAGES

STAGE_LABELS = {"end_to_end": "end to end", "encoders": "CE: 5 encoders", "projection": "projection",
                "fm": "FM: 5 decoders + paste", "generator": "IS: generator", "train_stage1": "train step, stage I",
                "train_stage2": "train step, stage II"}
PART_LABELS = {
    "train_stage1.forward": "stage I: forward (5 encoders + 5 image decoders, MSE)",
    "train_stage1.backward": "stage I: backward (all gradients)",
    "train_stage1.optimizer": "stage I: Adam update",
    "train_stage2.G_forward": "stage II: G forward (frozen CE, FM, IS)",
    "train_stage2.D_forward": "stage II: D forward (fake, real), D loss",
    "train_stage2.D_backward": "stage II: D backward",
    "train_stage2.D_optimizer": "stage II: D Adam update",
    "train_stage2.G_loss_forward": "stage II: D forward on fake, G losses",
    "train_stage2.VGG_forward": "stage II: VGG16 forward (fake, real), perceptual loss (--perceptual)",
    "train_stage2.G_backward": "stage II: G backward (through VGG16 with --perceptual, D, IS, FM)",
    "train_stage2.G_optimizer": "stage II: FM + IS Adam update",
}
STAGE_LABELS.update(PART_LABELS)


def _t(s: float) -> str:
    return f"{s * 1000:.1f} ms" if s < 1 else f"{s:.2f} s"


def _cell(r: dict) -> str:
    return f"{_t(r['median_s'])} ({_t(r['min_s'])}–{_t(r['max_s'])})"


def _order(result: dict) -> tuple[list[str], list[str], list[int], list[str]]:
    summary = result["summary"]
    configs = list(dict.fromkeys(result["options"]["configs"]))
    fws = [f for f in FRAMEWORKS if any(r["framework"] == f for r in summary)]
    batches = sorted({r["batch"] for r in summary})
    known = list(STAGES) + list(TRAIN_STAGES)
    present = {r["stage"] for r in summary}
    stages = [s for s in ["end_to_end"] + [s for s in known if s != "end_to_end"] if s in present]
    parts = [f"{s}.{p}" for s in TRAIN_STAGES for p in TRAIN_PARTS[s]]
    stages += [s for s in parts if s in present]  # training steps part by part
    stages += sorted(present - set(stages))  # per-network stages (--parts)
    return configs, fws, batches, stages


def markdown(result: dict) -> str:
    m = result["machine"]
    opts = result["options"]
    configs, fws, batches, stages = _order(result)
    idx = {(r["config"], r["framework"], r["batch"], r["stage"]): r for r in result["summary"]}
    lines = ["# jdfd benchmark: Jittor vs PyTorch", ""]
    lines += ["## Machine", ""]
    lines.append(f"- CPU: {m.get('cpu_model')} ({m.get('logical_cpus', m.get('cpu_count'))} logical CPUs, "
                 f"{m.get('usable_cpus', '?')} usable; SIMD {', '.join(m.get('simd', [])) or '?'}), "
                 f"{m.get('memory_gib', '?')} GiB memory")
    if m.get("gpus"):
        lines.append(f"- GPU: {'; '.join(m['gpus'])}")
    lines.append(f"- device: {m.get('device')}; {m.get('platform')}; Python {m.get('python')}")
    versions = ", ".join(f"{k} {v}" for k, v in m.get("versions", {}).items() if v)
    lines.append(f"- versions: {versions}")
    for fw, info in m.get("frameworks", {}).items():
        extra = ", ".join(f"{k}={v}" for k, v in info.items() if k not in ("numpy", "python"))
        lines.append(f"- {fw}: {extra}")
    la0, la1 = m.get("load_average_at_start"), m.get("load_average_at_end")
    if la0:
        lines.append(f"- load average at start {la0}, at end {la1}")
        cpus = m.get("usable_cpus") or m.get("cpu_count") or 1
        if la0[0] > 0.5 * cpus:
            lines.append(f"- **WARNING: the machine was busy when the benchmark started (load {la0[0]} on {cpus} "
                         "CPUs): these timings are not representative.**")
    lines += ["", "## Method", ""]
    lines.append(f"Configurations {', '.join(configs)}; batches {', '.join(map(str, opts['batches']))}; "
                 f"{opts['reps']} timed repetitions per measurement, spread over {opts['rounds']} round(s). In each "
                 "round every framework runs once in a fresh process, in an order rotated between rounds, so the "
                 f"frameworks are measured side by side. Each process runs the first call (reported separately: it "
                 f"includes Jittor's kernel compilation and torch.compile's), then {opts['warmup']} untimed "
                 "warm-up call(s), then the timed ones. Times are wall-clock, numpy in and numpy out (host copies "
                 "included); cells are median (min–max). Peak memory is the process's RSS high-water mark "
                 "(`getrusage`), whole process (weights included), cumulative within a process. First runs are listed "
                 "per round: later rounds find Jittor's kernel cache and torch.compile's FX graph cache warm on disk.")
    lines.append("")
    lines.append("Frameworks: `jittor` = the Jittor networks' own `execute()` (jdfd before its kernels: "
                 "`DeepFaceDrawing(fast=False)`) and the Trainer; `jittor-fast` = jdfd's default inference path, "
                 "`jdfd.fast.FastDFD` (jdfd's oneDNN kernels where they load, see `jdfd/kernels/`); "
                 "`jittor-nodnnl` = Jittor with oneDNN off; `torch` = the PyTorch twin, eager; `torch-compile` = the "
                 "twin with every network through `torch.compile` (default mode); `torch-compile-max` = the same "
                 "in `mode=\"max-autotune\"`.")
    for n in result.get("notes", []):
        lines.append(f"- {n}")
    for cfg in configs:
        for b in batches:
            rows = [s for s in stages if s not in PART_LABELS and any((cfg, f, b, s) in idx for f in fws)]
            if not rows:
                continue
            lines += ["", f"## {cfg}, batch {b}", ""]
            lines.append("| stage | " + " | ".join(fws) + " |")
            lines.append("|---|" + "---|" * len(fws))
            for s in rows:
                cells = [_cell(idx[(cfg, f, b, s)]) if (cfg, f, b, s) in idx else "—" for f in fws]
                lines.append(f"| {STAGE_LABELS.get(s, s)} | " + " | ".join(cells) + " |")
            for s in [s for s in ("end_to_end", "train_stage1", "train_stage2") if s in rows]:
                cells = []
                for f in fws:
                    r = idx.get((cfg, f, b, s))
                    cells.append(", ".join(_t(x) for x in r["first_run_s"]) if r else "—")
                lines.append(f"| first run, {STAGE_LABELS[s]} (per round) | " + " | ".join(cells) + " |")
            for s in [s for s in ("end_to_end", "train_stage1", "train_stage2") if s in rows]:
                cells = [f"{idx[(cfg, f, b, s)]['peak_rss_mb']:.0f} MB" if (cfg, f, b, s) in idx else "—" for f in fws]
                lines.append(f"| peak RSS after {STAGE_LABELS[s]} | " + " | ".join(cells) + " |")
                gpu = [idx[(cfg, f, b, s)].get("gpu_peak_mb") if (cfg, f, b, s) in idx else None for f in fws]
                if any(g is not None for g in gpu):
                    cells = ["n/a" if g is None else f"{g:.0f} MB" for g in gpu]
                    lines.append(f"| peak GPU memory (PyTorch allocator) after {STAGE_LABELS[s]} | "
                                 + " | ".join(cells) + " |")
    lines += _train_parts(result, configs, fws, batches, idx)
    rat = result.get("ratios", [])
    if rat:
        lines += ["", "## Jittor / PyTorch (median time ratio; below 1 = Jittor faster)", ""]
        pairs = list(dict.fromkeys((r["jittor"], r["torch"]) for r in rat))
        lines.append("| config | batch | stage | " + " | ".join(f"{j} / {t}" for j, t in pairs) + " |")
        lines.append("|---|---|---|" + "---|" * len(pairs))
        ridx = {(r["config"], r["batch"], r["stage"], r["jittor"], r["torch"]): r["ratio"] for r in rat}
        for cfg in configs:
            for b in batches:
                for s in [s for s in stages if s not in PART_LABELS]:  # parts: their own table
                    vals = [ridx.get((cfg, b, s, j, t)) for j, t in pairs]
                    if all(v is None for v in vals):
                        continue
                    cells = ["—" if v is None else f"{v:.2f}" for v in vals]
                    lines.append(f"| {cfg} | {b} | {STAGE_LABELS.get(s, s)} | " + " | ".join(cells) + " |")
    if result.get("agreement"):
        lines += ["", "## Same results?", "", "Faces (uint8, model resolution) of each framework against jdfd's own "
                  "(`jittor`), same weights and sketches:", "",
                  "| config | batch | framework | max abs diff (of 255) | fraction of values differing |",
                  "|---|---|---|---|---|"]
        for a in result["agreement"]:
            lines.append(f"| {a['config']} | {a['batch']} | {a['framework']} | {a['max_abs_diff_uint8']} | "
                         f"{a['fraction_differing']:.2e} |")
    if result.get("errors"):
        lines += ["", "## Failures", ""]
        for e in result["errors"]:
            lines.append(f"- {e['framework']} {e.get('config')} {e['mode']} (round {(e.get('round') or 0) + 1}): "
                         f"{e['error']}")
    lines += ["", f"Total benchmark time {result.get('total_s', 0):.0f} s.", ""]
    return "\n".join(lines)


def _train_parts(result: dict, configs: list[str], fws: list[str], batches: list[int], idx: dict) -> list[str]:
    """Training steps part by part, Jittor against the fastest PyTorch variant per part."""
    jfw = [f for f in fws if f.startswith("jittor")]
    tfw = [f for f in fws if f.startswith("torch")]
    lines: list[str] = []
    for cfg in configs:
        for b in batches:
            rows = [(s, f"{s}.{p}") for s in TRAIN_STAGES for p in TRAIN_PARTS[s]
                    if any((cfg, f, b, f"{s}.{p}") in idx for f in fws)]
            if not rows:
                continue
            if not lines:
                lines += ["", "## Training steps, part by part", "",
                          "Each part is synchronised before the clock reads (Jittor runs lazily), so a part's time "
                          "is its own; the parts' sum is the step with those synchronisations, a little above the "
                          "plain step's time. Medians over the same number of steps as the plain step."]
            lines += ["", f"### {cfg}, batch {b}", ""]
            best = " | jittor / best torch" if jfw and tfw else ""
            lines.append("| part | " + " | ".join(fws) + best + " |")
            lines.append("|---|" + "---|" * (len(fws) + bool(best)))
            sums = {f: {} for f in fws}
            for stage, key in rows:
                cells = []
                for f in fws:
                    r = idx.get((cfg, f, b, key))
                    cells.append(_t(r["median_s"]) if r else "—")
                    if r:
                        sums[f][stage] = sums[f].get(stage, 0.0) + r["median_s"]
                if best:
                    j = idx.get((cfg, jfw[0], b, key))
                    t = [idx[(cfg, f, b, key)]["median_s"] for f in tfw if (cfg, f, b, key) in idx]
                    cells.append(f"{j['median_s'] / min(t):.2f}" if j and t and min(t) > 0 else "—")
                lines.append(f"| {STAGE_LABELS.get(key, key)} | " + " | ".join(cells) + " |")
            for stage in TRAIN_STAGES:
                if not any(stage in sums[f] for f in fws):
                    continue
                cells = [_t(sums[f][stage]) if stage in sums[f] else "—" for f in fws]
                if best:
                    j, t = sums[jfw[0]].get(stage), [sums[f][stage] for f in tfw if stage in sums[f]]
                    cells.append(f"{j / min(t):.2f}" if j and t else "—")
                lines.append(f"| **sum of the parts, {STAGE_LABELS[stage]}** | " + " | ".join(cells) + " |")
    return lines


def chart(result: dict, path: str | Path) -> Path:
    """Grouped bars (median, min–max whiskers), one panel per configuration and batch, log time axis."""
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    configs, fws, batches, stages = _order(result)
    stages = [s for s in stages if s in STAGE_LABELS and s not in PART_LABELS]
    idx = {(r["config"], r["framework"], r["batch"], r["stage"]): r for r in result["summary"]}
    panels = [(c, b) for c in configs for b in batches if any(k[0] == c and k[2] == b for k in idx)] or [("", 0)]
    fig, axes = plt.subplots(len(panels), 1, figsize=(max(8.0, 1.5 * len(stages) + 2), 3.6 * len(panels)),
                             squeeze=False)
    width = 0.8 / max(1, len(fws))
    colours = plt.get_cmap("tab10")
    for ax, (cfg, b) in zip(axes[:, 0], panels):
        for i, fw in enumerate(fws):
            xs, med, lo, hi = [], [], [], []
            for j, s in enumerate(stages):
                r = idx.get((cfg, fw, b, s))
                if r is None:
                    continue
                xs.append(j + (i - (len(fws) - 1) / 2) * width)
                med.append(r["median_s"])
                lo.append(r["median_s"] - r["min_s"])
                hi.append(r["max_s"] - r["median_s"])
            if xs:
                ax.bar(xs, med, width, yerr=[lo, hi], capsize=2, label=fw, color=colours(i))
        ax.set_xticks(range(len(stages)))
        ax.set_xticklabels([STAGE_LABELS[s] for s in stages], rotation=15, fontsize=8)
        ax.set_yscale("log")
        ax.set_ylabel("seconds (log)")
        ax.set_title(f"{cfg}, batch {b}" if cfg else "no measurements")
        ax.grid(axis="y", alpha=0.3, which="both")
        if fws:
            ax.legend(fontsize=7, ncol=len(fws))
    m = result["machine"]
    fig.suptitle(f"jdfd: Jittor vs PyTorch on {m.get('cpu_model', '?')} ({m.get('device')})", fontsize=10)
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
