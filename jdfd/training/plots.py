"""Loss curves from a run's log.jsonl (matplotlib, headless)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def read_log(path: Path) -> list[dict]:
    if not Path(path).exists():
        return []
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def _smooth(y: np.ndarray, n: int) -> np.ndarray:
    if len(y) < n or n <= 1:
        return y
    k = np.ones(n) / n
    return np.convolve(np.pad(y, (n - 1, 0), mode="edge"), k, mode="valid")


def plot_losses(log: Path, out: Path) -> Path | None:
    """One panel per loss, raw in light colour and a moving average on top."""
    rows = read_log(log)
    if not rows:
        return None
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    keys = [k for k in rows[-1] if k not in ("step", "time", "images_per_s", "lr")]
    steps = np.array([r["step"] for r in rows])
    cols = min(3, len(keys))
    nrows = int(np.ceil(len(keys) / cols))
    fig, axes = plt.subplots(nrows, cols, figsize=(4.5 * cols, 3 * nrows), squeeze=False)
    for ax, k in zip(axes.flat, keys):
        y = np.array([r.get(k, np.nan) for r in rows], dtype=float)
        ax.plot(steps, y, color="tab:blue", alpha=0.25, lw=0.8)
        ax.plot(steps, _smooth(y, max(1, len(y) // 30)), color="tab:blue", lw=1.6)
        ax.set_title(k)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(keys):]:
        ax.axis("off")
    rates = [r["images_per_s"] for r in rows if "images_per_s" in r]
    speed = f", median {np.median(rates[1:] or rates):.2f} images/s" if rates else ""
    fig.suptitle(f"{Path(log).parent.name}: {len(rows)} log points{speed}")
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=90)
    plt.close(fig)
    return out
