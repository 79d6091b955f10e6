"""Condense ``jdfd eval``'s results.json into the README's tables: one row per sketch condition,
FID / KID / SSIM per method side by side, then the sketch-following measures (retrieval of each
face's own photo, variety) with their chance levels; the best value of each metric in bold.

    .venv/bin/python scripts/eval_summary.py outputs/eval/results.json
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path


def _closest_to_one(values: Iterable[float]) -> float:
    # variety: 1 = as varied as the photos; above 1 is noise, not better
    return min(values, key=lambda v: abs(v - 1))


Metric = tuple[str, str, Callable, str, float]  # key, name, best of the values, format, scale
METRICS: tuple[Metric, ...] = (("fid", "FID", min, "{:.1f}", 1), ("kid", "KID×100", min, "{:.2f}", 100),
                               ("ssim", "SSIM", max, "{:.3f}", 1))
FOLLOWING: tuple[Metric, ...] = (
    ("layout_top1", "lay@1", max, "{:.0f} %", 100), ("layout_top5", "lay@5", max, "{:.0f} %", 100),
    ("inception_top1", "inc@1", max, "{:.0f} %", 100), ("inception_top5", "inc@5", max, "{:.0f} %", 100),
    ("variety", "variety", _closest_to_one, "{:.2f}", 1))
TOP_K = (1, 5)


def table(rows: list[dict], metrics: Sequence[Metric]) -> str:
    """Conditions × (metric, method); '—' where a row lacks a metric (merged from an older evaluation)."""
    methods = list(dict.fromkeys(r["method"] for r in rows))
    conds = list(dict.fromkeys((r["degradation"], r["strength"]) for r in rows))
    metrics = [m for m in metrics if any(m[0] in r for r in rows)]
    if not metrics:
        return ""
    head = "| sketches | " + " | ".join(f"{name} {m}" for _, name, _, _, _ in metrics for m in methods) + " |"
    lines = [head, "|---|" + "---|" * (len(metrics) * len(methods))]
    for kind, strength in conds:
        by = {r["method"]: r for r in rows if (r["degradation"], r["strength"]) == (kind, strength)}
        label = "clean" if kind == "none" else f"{kind} {strength:g}"
        cells = []
        for key, _, best, fmt, scale in metrics:
            values = {m: by[m][key] * scale for m in methods if m in by and key in by[m]}
            top = best(values.values()) if values else None
            for m in methods:
                if m not in values:
                    cells.append("—")
                    continue
                text = fmt.format(values[m])
                cells.append(f"**{text}**" if fmt.format(top) == text else text)
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def summary(result: dict) -> str:
    rows = result["rows"]
    text = table(rows, METRICS)
    follow = table(rows, FOLLOWING)
    if follow:
        n = result["n_images"]
        chance = ", ".join(f"top-{k} {100 * min(k, n) / n:.1f} %" for k in TOP_K)
        text += (f"\nSketch following among the {n} photos (chance: {chance}; variety: one face for every "
                 f"sketch 0, as varied as the photos about 1):\n\n{follow}")
    return text


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    path = Path(args[0] if args else "outputs/eval/results.json")
    print(summary(json.loads(path.read_text())), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
