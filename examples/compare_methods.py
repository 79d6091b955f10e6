"""Sketches no photo stands behind, through each method: projection on, half, off, and the baseline.

``jdfd eval`` measures the paper's claim on sketches synthesized from photos. Real
drawings have no photo to compare with, so this script shows them instead: one row
per sketch, then the face at each projection setting w, then (with ``--baseline``)
the pix2pixHD-style generator that takes the raw sketch.

    python examples/compare_methods.py --baseline runs/baseline/export
    python examples/compare_methods.py my_sketches/ --blends 1,0 --cell 192
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the sibling script's helpers, however we are loaded
from sketch_to_face import DEFAULT_MODEL, DEFAULT_SKETCHES, REPO, grid, open_inputs  # noqa: E402

DEFAULT_OUT = REPO / "outputs" / "examples" / "compare_methods"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Each sketch through every projection setting (and the baseline).")
    ap.add_argument("sketches", nargs="*", default=[str(DEFAULT_SKETCHES)],
                    help=f"sketch files or folders (default: {DEFAULT_SKETCHES})")
    ap.add_argument("--model", default=str(DEFAULT_MODEL), help=f"jdfd model folder (default: {DEFAULT_MODEL})")
    ap.add_argument("--baseline", help="baseline model folder (jdfd train baseline ... → export)")
    ap.add_argument("--blends", default="1,0.5,0", help="projection settings w, comma list (default 1,0.5,0)")
    ap.add_argument("--out", default=str(DEFAULT_OUT), help=f"output folder (default: {DEFAULT_OUT})")
    ap.add_argument("--cell", type=int, default=192, help="side of one cell in pixels (default 192)")
    args = ap.parse_args(argv)

    try:
        blends = [float(b) for b in args.blends.split(",") if b.strip()]
    except ValueError:
        print(f"--blends: not a comma list of numbers: {args.blends!r}", file=sys.stderr)
        return 2
    if any(not 0 <= b <= 1 for b in blends):
        print("--blends: every w must be in [0, 1]", file=sys.stderr)
        return 2
    opened = open_inputs(args.sketches, args.model)
    if opened is None:
        return 2
    sketches, model = opened
    from jdfd.components import SketchError, load_sketch

    baseline = None
    if args.baseline:
        from jdfd.baseline import SketchBaseline
        from jdfd.weights.strict import WeightsError

        try:
            baseline = SketchBaseline.from_pretrained(args.baseline)
        except (WeightsError, OSError) as e:
            print(f"cannot load the baseline: {e}", file=sys.stderr)
            return 2
    labels = ["sketch"] + [f"w={b:g}" for b in blends] + (["baseline"] if baseline else [])
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for path in sketches:
        try:
            sketch = load_sketch(path)
        except SketchError as e:
            print(f"skipped {path}: {e}", file=sys.stderr)
            continue
        faces = [model.generate(sketch, blend=b).image for b in blends]
        if baseline:
            faces.append(baseline.generate(sketch).image)
        for label, face in zip(labels[1:], faces):
            Image.fromarray(face).save(out / f"{path.stem}_{label.replace('=', '')}.png")
        rows.append((path.stem, [sketch] + faces))
        print(f"{path}: {', '.join(labels[1:])}")
    if not rows:
        return 2
    target = out / "comparison.png"
    grid(rows, args.cell, labels).save(target)
    print(f"{len(rows)} sketch(es) × {len(labels) - 1} method(s) -> {target}")
    return 0 if len(rows) == len(sketches) else 1


if __name__ == "__main__":
    sys.exit(main())
