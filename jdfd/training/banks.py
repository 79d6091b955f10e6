"""Component banks: every training sketch's component vectors, for the projection."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from jdfd.config import PARTS
from jdfd.progress import Progress
from jdfd.projection import ComponentBank
from jdfd.training.data import list_images


def read_labels(path: Path) -> dict[str, str]:
    """``stem,label`` lines (CSV or TSV; a header line is skipped if its label column says 'label')."""
    text = Path(path).read_text()
    dialect = "excel-tab" if "\t" in text.splitlines()[0] else "excel"
    out = {}
    for row in csv.reader(text.splitlines(), dialect=dialect):
        if len(row) < 2 or not row[0].strip() or row[1].strip().lower() in ("label", "gender"):
            continue
        out[Path(row[0].strip()).stem] = row[1].strip()
    return out


def build_banks(model, sketch_dir: Path | list[Path], labels: dict[str, str] | None = None, batch: int = 16,
                default_name: str = "all") -> dict[str, dict[str, ComponentBank]]:
    """Encode every sketch in ``sketch_dir`` (one folder or several, in order); one bank set per
    label (or one named ``default_name``)."""
    dirs = [Path(d) for d in sketch_dir] if isinstance(sketch_dir, (list, tuple)) else [Path(sketch_dir)]
    files = [f for d in dirs for f in list_images(d)]
    if labels is not None:
        files = [f for f in files if f.stem in labels]
    if not files:
        raise FileNotFoundError(f"no (labelled) sketches in {', '.join(map(str, dirs))}")
    vecs: dict[str, list[np.ndarray]] = {p: [] for p in PARTS}
    bar = Progress(len(files), "encoding", unit="sketch")
    for i in range(0, len(files), batch):
        chunk = files[i:i + batch]
        x = np.stack([model.prepare(f) for f in chunk])
        for p, v in model.encode(x).items():
            vecs[p].append(v)
        bar.update(len(chunk))
    bar.close()
    all_vecs = {p: np.concatenate(v) for p, v in vecs.items()}
    groups = {default_name: np.arange(len(files))} if labels is None else {}
    if labels is not None:
        names = np.array([labels[f.stem] for f in files])
        for g in sorted(set(names)):
            groups[g] = np.flatnonzero(names == g)
    return {g: {p: ComponentBank(all_vecs[p][idx]) for p in PARTS} for g, idx in groups.items()}
