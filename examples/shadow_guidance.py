"""Shadow guidance: what the drawing interface shows under an unfinished sketch.

For every component the model looks up the K training sketches nearest to what has
been drawn and blends their decoded sketches by the projection weights. Drawn
faintly under the user's strokes, this "shadow" suggests where the missing lines
(here: nose, mouth, brows, hair) could go. This script writes the shadow itself,
the overlay as the interface would display it, the face, and a panel of all four.

    python examples/shadow_guidance.py                       # 06_outline_and_eyes
    python examples/shadow_guidance.py --sketch examples/sketches/05_no_mouth.png --opacity 0.5
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

REPO = Path(__file__).resolve().parent.parent
DEFAULT_MODEL = REPO / "pretrained"
DEFAULT_SKETCH = REPO / "examples" / "sketches" / "06_outline_and_eyes.png"
DEFAULT_OUT = REPO / "outputs" / "examples" / "shadow_guidance"
#: Colour of the shadow's darkest ink in the overlay: a cool grey, so it reads as a hint, not a stroke.
SHADOW_TINT = np.array([70, 95, 150], dtype=np.float32)


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


def overlay(sketch: np.ndarray, shadow: np.ndarray, opacity: float) -> np.ndarray:
    """The user's strokes in black over a faint, tinted shadow (both 255 = paper) → H×W×3 uint8."""
    dark = opacity * (255.0 - shadow.astype(np.float32))[..., None] / 255.0  # 0 = paper, opacity = full shadow
    page = 255.0 * (1.0 - dark) + SHADOW_TINT * dark
    ink = sketch.astype(np.float32)[..., None] / 255.0  # multiply: black strokes stay black on top
    return np.clip(page * ink, 0, 255).astype(np.uint8)


def panel(images: list[np.ndarray], labels: list[str], cell: int) -> Image.Image:
    band = max(20, cell // 9)
    out = Image.new("RGB", (len(images) * cell, cell + band), "white")
    draw = ImageDraw.Draw(out)
    f = font(max(10, band * 2 // 3))
    for i, (img, label) in enumerate(zip(images, labels)):
        out.paste(Image.fromarray(img).convert("RGB").resize((cell, cell), Image.LANCZOS), (i * cell, 0))
        draw.text((i * cell + cell / 2, cell + band / 2), label, fill="black", font=f, anchor="mm")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Sketch → shadow guidance, its overlay under the sketch, and the face.")
    ap.add_argument("--sketch", default=str(DEFAULT_SKETCH), help=f"the sketch (default: {DEFAULT_SKETCH})")
    ap.add_argument("--model", default=str(DEFAULT_MODEL), help=f"jdfd model folder (default: {DEFAULT_MODEL})")
    ap.add_argument("--out", default=str(DEFAULT_OUT), help=f"output folder (default: {DEFAULT_OUT})")
    ap.add_argument("--opacity", type=float, default=0.4,
                    help="strength of the shadow in the overlay, 0..1 (default 0.4)")
    ap.add_argument("--blend", default="1.0", help="projection slider for the face (default 1.0)")
    ap.add_argument("--gender", choices=["male", "female"], help="which component bank to look neighbours up in")
    ap.add_argument("--k", type=int, default=15, help="neighbours blended into the shadow (default 15)")
    ap.add_argument("--cell", type=int, default=256, help="side of one image in the panel (default 256)")
    args = ap.parse_args(argv)
    if not 0.0 <= args.opacity <= 1.0:
        ap.error("--opacity must be in [0, 1]")

    model = load_model(Path(args.model))
    if model is None:
        return 2
    from jdfd.components import SketchError, load_sketch

    try:
        sketch = load_sketch(args.sketch)
        res = model.generate(sketch, blend=args.blend, gender=args.gender, k=args.k, shadow=True)
    except SketchError as e:
        print(e, file=sys.stderr)
        return 2
    except ValueError as e:  # a bad --blend, or a model without component banks (no neighbours, no shadow)
        print(f"cannot make the shadow: {e}", file=sys.stderr)
        return 2

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = Path(args.sketch).stem
    over = overlay(sketch, res.shadow, args.opacity)
    written = {"shadow": res.shadow, "overlay": over, "face": res.image}
    for name, img in written.items():
        target = out / f"{stem}_{name}.png"
        Image.fromarray(img).save(target)
        print(f"{name} -> {target}")
    panel_path = out / f"{stem}_panel.png"
    panel([sketch, res.shadow, over, res.image], ["sketch", "shadow", "overlay (as drawn on)", "face"],
          args.cell).save(panel_path)
    print(f"panel -> {panel_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
