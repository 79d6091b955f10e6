"""Every example sketch → a face, plus one grid image (sketch | face per row).

    python examples/sketch_to_face.py                       # examples/sketches → outputs/examples/sketch_to_face
    python examples/sketch_to_face.py --blend 0.5 --gender female my_sketch.png
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

REPO = Path(__file__).resolve().parent.parent
DEFAULT_MODEL = REPO / "pretrained"
DEFAULT_SKETCHES = REPO / "examples" / "sketches"
DEFAULT_OUT = REPO / "outputs" / "examples" / "sketch_to_face"
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp"}


def load_model(path: Path):
    """The trained model, or None after saying why (no model is the usual first-run problem)."""
    from jdfd.runtime import jittor

    jittor()  # decides the device before any network module is imported
    from jdfd.pipeline import DeepFaceDrawing
    from jdfd.weights.strict import WeightsError

    try:
        return DeepFaceDrawing.from_pretrained(path)
    except (WeightsError, OSError, ValueError) as e:
        print(f"cannot load a model from {path}: {e}\n(train one, or point --model at a model folder)",
              file=sys.stderr)
        return None


def find_sketches(inputs: list[str]) -> list[Path]:
    out: list[Path] = []
    for s in inputs:
        p = Path(s)
        out += sorted(f for f in p.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES) if p.is_dir() else [p]
    return out


def open_inputs(inputs: list[str], model_path: str):
    """(sketch paths, model), or None after saying why: what every example script starts with."""
    sketches = find_sketches(inputs)
    if not sketches:
        print(f"no sketches found in {', '.join(inputs)}", file=sys.stderr)
        return None
    model = load_model(Path(model_path))
    return None if model is None else (sketches, model)


def font(size: int) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has only the fixed bitmap font
        return ImageFont.load_default()


def grid(rows: list[tuple[str, list[np.ndarray]]], cell: int, labels: list[str] | None = None) -> Image.Image:
    """One row per sketch: its images side by side (name in the corner), under a band of column labels if given."""
    cols = max(len(images) for _, images in rows)
    head = max(14, cell // 10) if labels else 0
    sheet = Image.new("RGB", (cols * cell, head + len(rows) * cell), "white")
    draw = ImageDraw.Draw(sheet)
    for j, label in enumerate(labels or []):
        draw.text((j * cell + 4, 2), label, fill=(60, 60, 60), font=font(max(10, head - 4)))
    for i, (name, images) in enumerate(rows):
        y = head + i * cell
        for j, a in enumerate(images):
            sheet.paste(Image.fromarray(a).convert("RGB").resize((cell, cell), Image.LANCZOS), (j * cell, y))
        draw.text((4, y + 2), name, fill=(120, 120, 120), font=font(max(10, cell // 16)))
        draw.line([0, y, cols * cell, y], fill=(200, 200, 200))  # row separator
    return sheet


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Turn every sketch into a face and write a sketch|face grid.")
    ap.add_argument("sketches", nargs="*", default=[str(DEFAULT_SKETCHES)],
                    help=f"sketch files or folders (default: {DEFAULT_SKETCHES})")
    ap.add_argument("--model", default=str(DEFAULT_MODEL), help=f"jdfd model folder (default: {DEFAULT_MODEL})")
    ap.add_argument("--out", default=str(DEFAULT_OUT), help=f"output folder (default: {DEFAULT_OUT})")
    ap.add_argument("--blend", default="1.0",
                    help="projection slider: one value in [0,1] or per part, e.g. eye1=0.8,nose=0.5 (default 1.0)")
    ap.add_argument("--gender", choices=["male", "female"], help="which component bank to project onto")
    ap.add_argument("--k", type=int, default=15, help="neighbours used by the projection (default 15)")
    ap.add_argument("--cell", type=int, default=256, help="side of one grid cell in pixels (default 256)")
    args = ap.parse_args(argv)

    opened = open_inputs(args.sketches, args.model)
    if opened is None:
        return 2
    sketches, model = opened
    from jdfd.components import SketchError, load_sketch
    from jdfd.projection import parse_blend

    try:
        blend = parse_blend(args.blend)
    except ValueError as e:
        print(f"--blend: {e}", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for path in sketches:
        try:
            sketch = load_sketch(path)
            face = model.generate(sketch, blend=blend, gender=args.gender, k=args.k).image
        except (SketchError, ValueError) as e:  # a bad file, or projection asked of a bank-less model
            print(f"skipped {path}: {e}", file=sys.stderr)
            continue
        target = out / f"{path.stem}.png"
        Image.fromarray(face).save(target)
        print(f"{path} -> {target}")
        rows.append((path.stem, [sketch, face]))
    if not rows:
        return 2
    grid_path = out / "grid.png"
    grid(rows, args.cell).save(grid_path)
    print(f"grid of {len(rows)} sketch/face pairs -> {grid_path}")
    return 0 if len(rows) == len(sketches) else 1


if __name__ == "__main__":
    sys.exit(main())
