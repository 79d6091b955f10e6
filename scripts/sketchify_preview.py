"""Photo | v1 sketch | v2 sketch grid for the README (docs/sketchify_v2.jpg).

    python scripts/sketchify_preview.py ../shared/data/celebahq/val -o docs/sketchify_v2.jpg \\
        --stems 082a14e5d075482ea686189040b251dc,...

Without ``--stems`` it takes the photos at ``--picks`` (indices into the sorted folder).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from PIL import Image, ImageDraw

from jdfd.sketchify import SketchParams, ink_density, read_rgb, sketchify_image

# val photos chosen by eye: short/spiky, fringe, curly, full beard, bald + glasses + beard,
# blond side fringe, shaved head, receding with long sides
DEFAULT_PICKS = "2,1,4,94,85,7,88,29"


def preview(photos: list[Path], out: Path, cell: int = 256, per_row: int = 2) -> None:
    """Write a JPEG grid with one photo | v1 | v2 triple per cell group, density printed on each sketch."""
    label_h = 24
    rows = -(-len(photos) // per_row)
    grid = Image.new("RGB", (3 * per_row * cell, label_h + rows * cell), "white")
    draw = ImageDraw.Draw(grid)
    for c in range(per_row):
        for j, name in enumerate(("photo", "sketchify v1", "sketchify v2")):
            draw.text((3 * c * cell + j * cell + 8, 6), name, fill="black")
    for i, path in enumerate(photos):
        rgb = read_rgb(path)
        x, y = (i % per_row) * 3 * cell, label_h + (i // per_row) * cell
        grid.paste(Image.fromarray(rgb).resize((cell, cell), Image.LANCZOS), (x, y))
        for j, style in enumerate(("v1", "v2"), start=1):
            sketch = sketchify_image(rgb, 512, SketchParams(style=style))
            grid.paste(Image.fromarray(sketch).resize((cell, cell), Image.LANCZOS).convert("RGB"), (x + j * cell, y))
            draw.text((x + j * cell + 6, y + cell - 16), f"ink {100 * ink_density(sketch):.1f}%", fill=(200, 0, 0))
        # thin separators so the triples read as units
        draw.line([(x, y), (x + 3 * cell, y)], fill=(200, 200, 200))
        draw.line([(x + 3 * cell - 1, y), (x + 3 * cell - 1, y + cell)], fill=(120, 120, 120), width=2)
    out.parent.mkdir(parents=True, exist_ok=True)
    grid.save(out, format="JPEG", quality=85, optimize=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("photos", type=Path, help="folder of aligned face photos")
    ap.add_argument("-o", "--out", type=Path, default=Path("docs/sketchify_v2.jpg"))
    ap.add_argument("--picks", default=DEFAULT_PICKS, help="comma-separated indices into the sorted folder")
    ap.add_argument("--stems", default="", help="comma-separated file stems (overrides --picks)")
    ap.add_argument("--cell", type=int, default=256)
    args = ap.parse_args(argv)
    files = sorted(p for p in args.photos.iterdir() if p.is_file() and not p.name.startswith("."))
    if args.stems:
        by_stem = {p.stem: p for p in files}
        chosen = [by_stem[s] for s in args.stems.split(",") if s in by_stem]
    else:
        chosen = [files[int(i)] for i in args.picks.split(",") if int(i) < len(files)]
    if not chosen:
        print("no photos chosen", file=sys.stderr)
        return 2
    preview(chosen, args.out, args.cell)
    print(f"{args.out}: {len(chosen)} photos, {args.out.stat().st_size // 1024} KB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
