"""Mix faces part by part: eyes and the rest from sketch A, nose and mouth from sketch B.

DeepFaceDrawing encodes each component (eye1, eye2, nose, mouth, remainder) into
its own vector, so a new face can take any component from any sketch: we swap the
vectors returned by ``encode()``, project them as usual and synthesize. The middle
sketch in the panel is a collage of the two drawings' component boxes, only to show
which pieces came from where; the face is made from the mixed vectors.

    python examples/mix_components.py                                     # 01 + nose, mouth of 04
    python examples/mix_components.py --a examples/sketches/02_short_hair_man.png \\
        --b examples/sketches/10_beard.png --from-b eye1,eye2
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

REPO = Path(__file__).resolve().parent.parent
DEFAULT_MODEL = REPO / "pretrained"
SKETCHES = REPO / "examples" / "sketches"
DEFAULT_A = SKETCHES / "01_clean_long_hair.png"
DEFAULT_B = SKETCHES / "04_open_smile.png"
DEFAULT_OUT = REPO / "outputs" / "examples" / "mix_components"
PARTS = ("eye1", "eye2", "nose", "mouth", "remainder")  # jdfd.config.PARTS, without starting Jittor for --help


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


def font(size: int) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has only the fixed bitmap font
        return ImageFont.load_default()


def collage(a: np.ndarray, b: np.ndarray, from_b: list[str]) -> np.ndarray:
    """The two drawings cut along the component boxes, overlapping boxes in the generator's paste order."""
    from jdfd.config import PAPER_BOXES, PASTE_ORDER

    out = (b if "remainder" in from_b else a).copy()
    for part in PASTE_ORDER:
        x, y, n = PAPER_BOXES[part]
        out[y:y + n, x:x + n] = (b if part in from_b else a)[y:y + n, x:x + n]
    return out


def panel(sketches: list[np.ndarray], faces: list[np.ndarray], titles: list[str], cell: int) -> Image.Image:
    """Titles on top, the sketches in the first row, their faces in the second."""
    band = max(20, cell // 9)
    out = Image.new("RGB", (len(faces) * cell, band + 2 * cell), "white")
    draw = ImageDraw.Draw(out)
    f = font(max(10, band * 2 // 3))
    for i, (sk, face, title) in enumerate(zip(sketches, faces, titles)):
        out.paste(Image.fromarray(sk).convert("RGB").resize((cell, cell), Image.LANCZOS), (i * cell, band))
        out.paste(Image.fromarray(face).resize((cell, cell), Image.LANCZOS), (i * cell, band + cell))
        draw.text((i * cell + cell / 2, band / 2), title, fill="black", font=f, anchor="mm")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Make a face from the components of two sketches.")
    ap.add_argument("--a", default=str(DEFAULT_A), help=f"sketch A (default: {DEFAULT_A})")
    ap.add_argument("--b", default=str(DEFAULT_B), help=f"sketch B (default: {DEFAULT_B})")
    ap.add_argument("--from-b", default="nose,mouth",
                    help=f"comma-separated parts taken from B; the rest come from A (parts: {', '.join(PARTS)}; "
                         "default: nose,mouth)")
    ap.add_argument("--model", default=str(DEFAULT_MODEL), help=f"jdfd model folder (default: {DEFAULT_MODEL})")
    ap.add_argument("--out", default=str(DEFAULT_OUT), help=f"output folder (default: {DEFAULT_OUT})")
    ap.add_argument("--blend", default="1.0",
                    help="projection slider: one value in [0,1] or per part, e.g. eye1=0.8,nose=0.5 (default 1.0)")
    ap.add_argument("--gender", choices=["male", "female"], help="which component bank to project onto")
    ap.add_argument("--k", type=int, default=15, help="neighbours used by the projection (default 15)")
    ap.add_argument("--cell", type=int, default=256, help="side of one image in the panel (default 256)")
    args = ap.parse_args(argv)

    from_b = [p.strip() for p in args.from_b.split(",") if p.strip()]
    bad = [p for p in from_b if p not in PARTS]
    if bad or not from_b:
        ap.error(f"--from-b: unknown {', '.join(bad) or '(none given)'}; choose from {', '.join(PARTS)}")
    model = load_model(Path(args.model))
    if model is None:
        return 2
    from jdfd.components import SketchError, load_sketch, resize_rgb
    from jdfd.config import CANVAS

    try:
        a, b = load_sketch(args.a), load_sketch(args.b)
    except SketchError as e:
        print(e, file=sys.stderr)
        return 2
    codes = model.encode(np.stack([model.prepare(a), model.prepare(b)]))  # row 0 = A, row 1 = B
    # row 2: the mix, each part's vector copied from A or from B
    codes = {p: np.concatenate([v, v[1:2] if p in from_b else v[0:1]]) for p, v in codes.items()}
    try:
        codes, _ = model.project(codes, args.blend, gender=args.gender, k=args.k)
    except ValueError as e:  # a bad --blend, or a model without component banks
        print(f"cannot project: {e}", file=sys.stderr)
        return 2
    faces = [resize_rgb(img, CANVAS) for img in model.synthesize(codes)]

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name, face in zip(("a", "b", "mix"), faces):
        target = out / f"{name}.png"
        Image.fromarray(face).save(target)
        print(f"face {name} -> {target}")
    titles = [f"A: {Path(args.a).stem}", f"B: {Path(args.b).stem}", f"A with B's {'+'.join(from_b)}"]
    panel_path = out / "mix_panel.png"
    panel([a, b, collage(a, b, from_b)], faces, titles, args.cell).save(panel_path)
    print(f"panel (sketches on top, faces below) -> {panel_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
