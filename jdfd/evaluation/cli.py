"""``jdfd eval``: measure a model on photos (default: the 100 val photos), optionally degraded."""

from __future__ import annotations

import sys
from pathlib import Path

DEFAULT_PHOTOS = Path(__file__).resolve().parent.parent.parent.parent / "shared" / "data" / "celebahq" / "val"


def _floats(text: str) -> list[float]:
    return [float(x) for x in text.split(",") if x.strip()]


def add_parser(sub) -> None:
    p = sub.add_parser("eval", help="measure a model: L1/PSNR/SSIM/FID/KID and sketch following under sketch "
                                    "degradations",
                       description="Synthesize sketches from photos, degrade them, generate faces, compare with "
                                   "the photos (and check that each face is nearest its own photo). Writes "
                                   "results.json, results.md, plots and an image grid.")
    p.add_argument("--model", help="jdfd model folder (default: $JDFD_MODEL, else the model shipped with jdfd)")
    p.add_argument("--photos", default=str(DEFAULT_PHOTOS),
                   help=f"photo folder, any >= 2 face photos (default {DEFAULT_PHOTOS})")
    p.add_argument("--sketches", help="use these sketches (same file stems) instead of synthesizing them")
    p.add_argument("--out", default="outputs/eval", help="output folder (default outputs/eval)")
    p.add_argument("--blends", default="1,0.5,0", help="projection settings to compare (default 1,0.5,0)")
    p.add_argument("--degrade", default="jitter,drop,stray,width,shift",
                   help="degradations (comma list; 'none' for clean sketches only)")
    p.add_argument("--strengths", default="0.5,1", help="degradation strengths (default 0.5,1)")
    p.add_argument("--limit", type=int, help="use only the first N photos")
    p.add_argument("--baseline", help="also evaluate this baseline model folder (jdfd train baseline)")
    p.add_argument("--merge", action="store_true",
                   help="add these methods to the results already in --out (same photos and degradations) "
                        "instead of starting afresh; e.g. --blends '' --baseline DIR --merge adds the baseline")
    p.add_argument("--sketch-style", choices=["v1", "v2"], default="v2",
                   help="how photos become sketches (jdfd sketchify --style); the shipped model was trained on v1")
    p.add_argument("--k", type=int, default=15)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-fid", action="store_true", help="skip FID/KID (no Inception weights needed)")
    p.add_argument("--wandb", action="store_true",
                   help="log the results table and figures to Weights & Biases, offline into OUT/wandb/ unless "
                        "WANDB_MODE=online (pip install 'jdfd[track]')")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    p.set_defaults(func=run)


#: The figures evaluate() writes, logged by --wandb under these keys.
FIGURES = {"metrics_vs_strength": "metrics_vs_strength.png", "grid": "grid.png", "samples": "samples.png"}


def track_results(out: Path, results: dict, model: str) -> None:
    """``--wandb``: the results table (one row per method × condition) and the figures, as one W&B run."""
    from jdfd import tracking  # noqa: PLC0415

    config = {"model": model, "photos": results.get("photos"), "n_images": results.get("n_images"),
              **results.get("spec", {})}
    tracker = tracking.start(out, "eval", config)
    tracker.log_table("results", results["rows"])
    tracker.log_images({key: out / f for key, f in FIGURES.items() if (out / f).is_file()})
    tracker.finish()


def run(args) -> int:
    from jdfd import runtime  # noqa: PLC0415

    try:
        runtime.jittor(args.device)
        from jdfd import shipped  # noqa: PLC0415
        from jdfd.evaluation.run import EvalSpec, evaluate  # noqa: PLC0415
        from jdfd.pipeline import DeepFaceDrawing  # noqa: PLC0415

        model_dir = Path(args.model) if args.model else shipped.default_model()
        model = DeepFaceDrawing.from_pretrained(model_dir)
        kinds = [k for k in args.degrade.split(",") if k.strip() and k.strip() != "none"]
        spec = EvalSpec(blends=_floats(args.blends), kinds=kinds, strengths=_floats(args.strengths),
                        limit=args.limit, seed=args.seed, fid=not args.no_fid, k=args.k,
                        sketch_style=args.sketch_style)
        methods = {f"w={b:g}": (lambda s, b=b: model.generate(s, blend=b, k=spec.k).image) for b in spec.blends}
        if args.baseline:
            from jdfd.baseline import SketchBaseline  # noqa: PLC0415

            base = SketchBaseline.from_pretrained(args.baseline)
            methods["baseline"] = lambda s: base.generate(s).image
        if not methods:
            raise ValueError("nothing to evaluate: give --blends and/or --baseline")
        res = evaluate(methods, Path(args.photos), Path(args.out), spec,
                       Path(args.sketches) if args.sketches else None, merge=args.merge)
    except (FileNotFoundError, ValueError, OSError) as e:  # WeightsError is a ValueError
        print(f"jdfd: error: {e}", file=sys.stderr)
        return 2
    if getattr(args, "wandb", False):
        track_results(Path(args.out), res, str(model_dir))
    print((Path(args.out) / "results.md").read_text())
    print(f"{len(res['rows'])} rows written to {args.out}/: results.json, results.md, metrics_vs_strength.png, "
          "grid.png, samples.png")
    return 0
