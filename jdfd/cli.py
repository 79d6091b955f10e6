"""``jdfd`` command line: generate, doctor, and the training and data commands.

Jittor is started (device chosen) only after the arguments are parsed, so
``--device`` is honoured and ``--help`` is instant.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from jdfd import __version__, shipped

MODEL_HELP = f"jdfd model folder (default: ${shipped.MODEL_ENV}, else the model shipped with jdfd)"
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".gif", ".tif", ".tiff"}


def _err(msg: str) -> None:
    print(f"jdfd: error: {msg}", file=sys.stderr)


# ---------------------------------------------------------------------------- generate
def add_generate(sub) -> None:
    p = sub.add_parser("generate", help="turn sketches into faces",
                       description="Turn 512x512 face sketches (any size is resized) into 512x512 face images.")
    p.add_argument("sketches", nargs="+", metavar="SKETCH", help="sketch image files (or folders of them)")
    p.add_argument("-o", "--out", required=True, help="output folder (or a .png path for a single sketch)")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--model", help=MODEL_HELP)
    src.add_argument("--params", help="the authors' released Params/ folder (paper configuration)")
    p.add_argument("--gender", choices=["male", "female"], help="which bank to project onto (models with two)")
    p.add_argument("--blend", default="1.0",
                   help="projection slider w in [0,1]: one value, or eye1=0.8,eye2=0.8,nose=0.5,mouth=1,remainder=0.7"
                        " (unnamed parts stay 1); 0 = the sketch's own vectors")
    p.add_argument("--k", type=int, default=15, help="neighbours used by the projection (default 15)")
    p.add_argument("--method", choices=["lle", "authors"], default="lle",
                   help="weight solve: the paper's constrained LLE, or the authors' GUI variant")
    p.add_argument("--shadow", metavar="OUT", help="also write the shadow guidance image(s) to this folder")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    p.set_defaults(func=run_generate)


def _expand(inputs: list[str]) -> list[Path]:
    out: list[Path] = []
    for s in inputs:
        p = Path(s)
        if p.is_dir():
            out += sorted(f for f in p.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
        else:
            out.append(p)
    return out


def load_model(model: str | None, params: str | None):
    """The model a command asked for; the default one (:mod:`jdfd.shipped`) otherwise.

    Without --model/--params and without a default model: :class:`jdfd.shipped.ModelNotFoundError`.
    """
    from jdfd.pipeline import DeepFaceDrawing  # noqa: PLC0415 (Jittor starts here)

    if params:
        return DeepFaceDrawing.from_authors(params)
    return DeepFaceDrawing.from_pretrained(model or shipped.default_model())


def run_generate(args) -> int:
    from jdfd import runtime  # noqa: PLC0415

    try:
        runtime.jittor(args.device)
        from jdfd.projection import parse_blend  # noqa: PLC0415

        blend = parse_blend(args.blend)
        if args.k < 1:
            raise ValueError("--k must be at least 1")
    except (ValueError, RuntimeError) as e:
        _err(str(e))
        return 2
    from PIL import Image  # noqa: PLC0415

    from jdfd.components import SketchError  # noqa: PLC0415
    from jdfd.weights.strict import WeightsError  # noqa: PLC0415

    if not args.model and not args.params:
        try:
            shipped.default_model()
        except shipped.ModelNotFoundError as e:
            _err(str(e))
            return 2
    try:
        model = load_model(args.model, args.params)
    except (WeightsError, ValueError, OSError) as e:
        _err(f"cannot load model: {e}")
        return 2
    sketches = _expand(args.sketches)
    out = Path(args.out)
    single_file = out.suffix.lower() in IMAGE_SUFFIXES
    if single_file and len(sketches) != 1:
        _err("-o names one image file, but several sketches were given: pass a folder")
        return 2
    (out.parent if single_file else out).mkdir(parents=True, exist_ok=True)
    shadow_dir = Path(args.shadow) if args.shadow else None
    if shadow_dir:
        shadow_dir.mkdir(parents=True, exist_ok=True)
    failed = 0
    for path in sketches:
        t0 = time.perf_counter()
        try:
            res = model.generate(path, blend=blend, gender=args.gender, k=args.k, shadow=bool(shadow_dir),
                                 method=args.method)
        except SketchError as e:
            _err(str(e))
            failed += 1
            continue
        except ValueError as e:  # e.g. projection asked of a model without banks
            _err(f"{path}: {e}")
            failed += 1
            continue
        target = out if single_file else out / f"{path.stem}.png"
        Image.fromarray(res.image).save(target)
        msg = f"{path} -> {target} ({time.perf_counter() - t0:.2f} s)"
        if shadow_dir and res.shadow is not None:
            Image.fromarray(res.shadow).save(shadow_dir / f"{path.stem}_shadow.png")
            msg += f", shadow -> {shadow_dir / (path.stem + '_shadow.png')}"
        print(msg)
    done = len(sketches) - failed
    print(f"{done} face(s) written to {out}" + (f", {failed} input(s) failed" if failed else ""))
    return 2 if failed else 0


# ---------------------------------------------------------------------------- doctor
def add_doctor(sub) -> None:
    p = sub.add_parser("doctor", help="show Jittor version, device, oneDNN status and cache location")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    p.set_defaults(func=run_doctor)


def run_doctor(args) -> int:
    from jdfd import runtime  # noqa: PLC0415

    info = runtime.info() if args.device == "auto" else (runtime.jittor(args.device), runtime.info())[1]
    for k, v in info.items():
        print(f"{k:>11}: {v}")
    print(f"{'model':>11}: {shipped.describe()}")
    from jdfd import kernels  # noqa: PLC0415  (compiles them the first time: set-up runs doctor)

    fast = kernels.load() is not None
    print(f"{'inference':>11}: " + ("jdfd's oneDNN kernels (jdfd/kernels)" if fast
                                      else f"Jittor's own layers ({kernels.unavailable_reason()})"))
    if info["device"] == "cpu" and not info["onednn"]:
        print("oneDNN is OFF: CPU inference will be ~100x slower. Run `make setup` (needs libdnnl-dev).")
        return 1
    return 0


# ---------------------------------------------------------------------------- main
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="jdfd", description="DeepFaceDrawing in Jittor: sketch to face.")
    parser.add_argument("--version", action="version", version=f"jdfd {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    add_generate(sub)
    add_doctor(sub)
    for module in _optional_commands():
        module.add_parser(sub)
    return parser


def _optional_commands() -> list:
    """Commands that live in their own modules (data, training, evaluation …)."""
    import importlib  # noqa: PLC0415

    mods = []
    for name in ("jdfd.sketchify", "jdfd.training.cli", "jdfd.app", "jdfd.evaluation.cli", "jdfd.bench.cli"):
        try:
            mods.append(importlib.import_module(name))
        except ModuleNotFoundError as e:
            if e.name != name:  # a real import error inside the module must surface
                raise
    return mods


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
