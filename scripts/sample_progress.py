"""How a stage-II run's faces change with training: one JPEG from its ``samples/step_*.png``.

    .venv/bin/python scripts/sample_progress.py ~/.cache/jdfd/runs/v2_s2 --steps 500,1000,2500 \\
        -o docs/v2_stage2_progress.jpg

Each sample grid holds rows of (sketch | face | photo) for the first validation pairs; the
output has one row per pair: the sketch, its face at each of ``--steps``, then the photo, with
the step written above each column.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from PIL import Image, ImageDraw


def progress(run: Path, steps: list[int], out: Path, cell: int = 192) -> Path:
    """Write the JPEG; each ``run/samples/step_XXXXXX.png`` must be a stage-II grid (three columns)."""
    grids = []
    for s in steps:
        path = run / "samples" / f"step_{s:06d}.png"
        if not path.is_file():
            raise SystemExit(f"{path}: no such sample (steps with samples: "
                             f"{sorted(int(p.stem[5:]) for p in (run / 'samples').glob('step_*.png'))})")
        grids.append(Image.open(path).convert("RGB"))
    side = grids[0].width // 3
    if any(g.width != 3 * side or g.height % side for g in grids):
        raise SystemExit("the samples are not stage-II grids of (sketch | face | photo) rows")
    n_rows = grids[0].height // side
    label_h = 22
    sheet = Image.new("RGB", ((len(steps) + 2) * cell, label_h + n_rows * cell), "white")
    draw = ImageDraw.Draw(sheet)
    titles = ["sketch"] + [f"step {s:,}" for s in steps] + ["photo"]
    for c, title in enumerate(titles):
        draw.text((c * cell + 6, 4), title, fill="black")

    def crop(grid: Image.Image, row: int, col: int) -> Image.Image:
        return grid.crop((col * side, row * side, (col + 1) * side, (row + 1) * side)).resize((cell, cell))

    for r in range(n_rows):
        y = label_h + r * cell
        sheet.paste(crop(grids[0], r, 0), (0, y))
        for c, g in enumerate(grids):
            sheet.paste(crop(g, r, 1), ((c + 1) * cell, y))
        sheet.paste(crop(grids[-1], r, 2), ((len(steps) + 1) * cell, y))
    out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(out, quality=88)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run", type=Path, help="a stage-II or baseline run folder")
    ap.add_argument("--steps", required=True, help="comma-separated steps with samples, e.g. 500,1000,2500")
    ap.add_argument("-o", "--out", type=Path, required=True, help="the JPEG to write")
    ap.add_argument("--cell", type=int, default=192, help="pixels per image (default 192)")
    args = ap.parse_args()
    print(progress(args.run, [int(s) for s in args.steps.split(",")], args.out, args.cell))


if __name__ == "__main__":
    main()
