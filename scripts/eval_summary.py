"""Condense ``jdfd eval``'s results.json into the README's table: one row per sketch condition,
FID / KID / SSIM per method side by side, the best value of each metric in bold.

    .venv/bin/python scripts/eval_summary.py outputs/eval/results.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

METRICS = (("fid", "FID", min, "{:.1f}"), ("kid", "KID×100", min, "{:.2f}"), ("ssim", "SSIM", max, "{:.3f}"))


def summary(result: dict) -> str:
    rows = result["rows"]
    methods = list(dict.fromkeys(r["method"] for r in rows))
    conds = list(dict.fromkeys((r["degradation"], r["strength"]) for r in rows))
    metrics = [m for m in METRICS if all(m[0] in r for r in rows)]
    head = "| sketches | " + " | ".join(f"{name} {m}" for _, name, _, _ in metrics for m in methods) + " |"
    lines = [head, "|---|" + "---|" * (len(metrics) * len(methods))]
    for kind, strength in conds:
        by = {r["method"]: r for r in rows if (r["degradation"], r["strength"]) == (kind, strength)}
        label = "clean" if kind == "none" else f"{kind} {strength:g}"
        cells = []
        for key, _, best, fmt in metrics:
            scale = 100 if key == "kid" else 1
            values = {m: by[m][key] * scale for m in methods if m in by}
            top = best(values.values())
            for m in methods:
                if m not in values:
                    cells.append("—")
                    continue
                text = fmt.format(values[m])
                cells.append(f"**{text}**" if fmt.format(top) == text else text)
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    path = Path(args[0] if args else "outputs/eval/results.json")
    print(summary(json.loads(path.read_text())), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
