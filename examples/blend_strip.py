"""The projection slider: one sketch, blend weight w from 0 to 1, as a labelled strip.

w = 0 feeds the sketch's own component vectors to the generator (faithful to the
strokes, but a rough sketch gives a rough face); w = 1 replaces each vector by its
projection onto the manifold of real faces (plausible, but less like the drawing).
The paper's interface exposes this as one slider per component.

    python examples/blend_strip.py                                   # 07_rough_scribble, 6 steps, all parts
    python examples/blend_strip.py --sketch examples/sketches/05_no_mouth.png --steps 4 --parts nose,mouth
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

REPO = Path(__file__).resolve().parent.parent
DEFAULT_MODEL = REPO / "pretrained"
DEFAULT_SKETCH = REPO / "examples" / "sketches" / "07_rough_scribble.png"
DEFAULT_OUT = REPO / "outputs" / "examples" / "blend_strip"
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


def strip(images: list[np.ndarray], labels: list[str], cell: int) -> Image.Image:
    """Images side by side, each with its label centred in a band underneath."""
    band = max(20, cell // 9)
    out = Image.new("RGB", (len(images) * cell, cell + band), "white")
    draw = ImageDraw.Draw(out)
    f = font(max(10, band * 2 // 3))
    for i, (img, label) in enumerate(zip(images, labels)):
        out.paste(Image.fromarray(img).convert("RGB").resize((cell, cell), Image.LANCZOS), (i * cell, 0))
        draw.text((i * cell + cell / 2, cell + band / 2), label, fill="black", font=f, anchor="mm")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Sweep the projection slider w from 0 to 1 for one sketch.")
    ap.add_argument("--sketch", default=str(DEFAULT_SKETCH), help=f"the sketch (default: {DEFAULT_SKETCH})")
    ap.add_argument("--model", default=str(DEFAULT_MODEL), help=f"jdfd model folder (default: {DEFAULT_MODEL})")
    ap.add_argument("--out", default=str(DEFAULT_OUT), help=f"output folder (default: {DEFAULT_OUT})")
    ap.add_argument("--steps", type=int, default=6, help="number of w values from 0 to 1 (default 6)")
    ap.add_argument("--parts", default=",".join(PARTS),
                    help="comma-separated parts the slider moves; the others stay at w = 1 (default: all)")
    ap.add_argument("--gender", choices=["male", "female"], help="which component bank to project onto")
    ap.add_argument("--k", type=int, default=15, help="neighbours used by the projection (default 15)")
    ap.add_argument("--cell", type=int, default=256, help="side of one face in the strip (default 256)")
    args = ap.parse_args(argv)

    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    bad = [p for p in parts if p not in PARTS]
    if bad or not parts:
        ap.error(f"--parts: unknown {', '.join(bad) or '(none given)'}; choose from {', '.join(PARTS)}")
    if args.steps < 2:
        ap.error("--steps must be at least 2")
    model = load_model(Path(args.model))
    if model is None:
        return 2
    from jdfd.components import SketchError, load_sketch, resize_rgb
    from jdfd.config import CANVAS

    try:
        sketch = load_sketch(args.sketch)
    except SketchError as e:
        print(e, file=sys.stderr)
        return 2
    codes = model.encode(model.prepare(sketch)[None])  # encode once; only the projection changes along the strip
    ws = np.linspace(0.0, 1.0, args.steps)
    steps = []
    try:
        for w in ws:
            blended, _ = model.project(codes, {p: (float(w) if p in parts else 1.0) for p in PARTS},
                                       gender=args.gender, k=args.k)
            steps.append(blended)
    except ValueError as e:  # e.g. a model without component banks
        print(f"cannot project: {e}", file=sys.stderr)
        return 2
    # one batched pass through the generator (its normalisation is per sample, so batching changes nothing)
    batch = {p: np.concatenate([s[p] for s in steps]) for p in PARTS}
    faces = [resize_rgb(img, CANVAS) for img in model.synthesize(batch)]

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = Path(args.sketch).stem
    for w, face in zip(ws, faces):
        target = out / f"{stem}_w{w:.2f}.png"
        Image.fromarray(face).save(target)
        print(f"w = {w:.2f} -> {target}")
    first = "sketch" if len(parts) == len(PARTS) else f"sketch; w moves {'+'.join(parts)}"
    labels = [first] + [f"w = {w:.2f}" for w in ws]
    strip_path = out / f"{stem}_strip.png"
    strip([sketch, *faces], labels, args.cell).save(strip_path)
    print(f"strip -> {strip_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
