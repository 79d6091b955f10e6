"""``jdfd train``, ``jdfd build-bank`` and ``jdfd export``.

Nothing here imports Jittor at module level, so ``jdfd --help`` stays instant and
``--device`` is honoured.
"""

from __future__ import annotations

import sys
from pathlib import Path

CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"


def resolve_train_config(name: str) -> Path:
    p = Path(name)
    if p.is_file():
        return p
    q = CONFIG_DIR / f"{name}.json"
    if q.is_file():
        return q
    known = ", ".join(sorted(f.stem for f in CONFIG_DIR.glob("*.json")))
    raise FileNotFoundError(f"no training config {name!r} (a JSON file, or one of: {known})")


def _data_dirs(data: str, photos: str | None) -> tuple[list[Path], list[Path] | None]:
    """Sketch folders and their photo folders; each argument may list several, comma-separated."""
    sketch_dirs, photo_dirs = [], []
    for d in (Path(x) for x in data.split(",") if x):
        if not d.is_dir():
            raise FileNotFoundError(f"{d}: no such folder")
        if photos is None and (d / "sketches").is_dir():
            sketch_dirs.append(d / "sketches")
            photo_dirs.append((d / "photos") if (d / "photos").is_dir() else None)
        else:
            sketch_dirs.append(d)
    if photos is not None:
        photo_dirs = [Path(x) for x in photos.split(",") if x]
        if len(photo_dirs) != len(sketch_dirs):
            raise ValueError(f"--photos names {len(photo_dirs)} folders for {len(sketch_dirs)} in --data")
    if not photo_dirs or any(p is None for p in photo_dirs):
        return sketch_dirs, None
    return sketch_dirs, photo_dirs


def add_parser(sub) -> None:
    t = sub.add_parser("train", help="train stage I (component autoencoders), stage II (FM + IS) or the baseline",
                       description="Resumable training. Writes checkpoints, log.jsonl, plots/, samples/ and "
                                   "export/ into the run folder.")
    t.add_argument("stage", choices=["stage1", "stage2", "baseline"],
                   help="baseline: the pix2pixHD-style sketch-to-image generator the paper compares against")
    t.add_argument("--config", required=True, help="training config JSON, or a shipped name (e.g. compact_stage1)")
    t.add_argument("--data", required=True,
                   help="sketch folder (or a folder with sketches/ and photos/); several, comma-separated, "
                        "are read as one set (e.g. train,extra)")
    t.add_argument("--photos", help="photo folder, files named like the sketches (stage II); one per --data folder")
    t.add_argument("--out", required=True, help="run folder")
    t.add_argument("--init", help="stage II: the stage-I model folder (with banks) to start from")
    t.add_argument("--resume", action="store_true", help="continue from RUN/checkpoint.safetensors")
    t.add_argument("--steps", type=int, help="override the config's total steps")
    t.add_argument("--max-steps", type=int, help="stop after this many more steps (resume later); "
                   "`touch RUN/STOP` ends a running one after its current step, with a checkpoint")
    t.add_argument("--val-data", help="sketches for the sample grids (default: the training data)")
    t.add_argument("--val-photos", help="photos for the sample grids")
    t.add_argument("--limit", type=int, help="use only the first N training pairs")
    t.add_argument("--no-perceptual", action="store_true", help="train stage II without the VGG loss")
    t.add_argument("--wandb", action="store_true",
                   help="track the run in Weights & Biases, offline into RUN/wandb/ unless WANDB_MODE=online "
                        "(pip install 'jdfd[track]')")
    t.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    t.set_defaults(func=run_train)

    b = sub.add_parser("build-bank", help="encode training sketches into the projection's component banks")
    b.add_argument("--model", required=True, help="jdfd model folder whose encoders to use (updated in place)")
    b.add_argument("--data", required=True, help="training sketch folder (several: comma-separated)")
    b.add_argument("--labels", help="CSV/TSV of 'file,label' (e.g. male/female): one bank set per label")
    b.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    b.set_defaults(func=run_build_bank)

    e = sub.add_parser("export", help="export a run's checkpoint as a jdfd model folder")
    e.add_argument("run", help="run folder")
    e.add_argument("-o", "--out", required=True, help="model folder to write")
    e.add_argument("--dtype", choices=["float16", "float32"], default="float16")
    e.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    e.set_defaults(func=run_export)


def _fail(msg: str) -> int:
    print(f"jdfd: error: {msg}", file=sys.stderr)
    return 2


def make_trainer(args, cfg_path: Path):
    from jdfd.training.data import PairDataset  # noqa: PLC0415
    from jdfd.training.trainer import TrainConfig, Trainer  # noqa: PLC0415

    cfg = TrainConfig.load(cfg_path)
    if cfg.stage != args.stage:
        raise ValueError(f"{cfg_path} is a {cfg.stage} config, but {args.stage} was asked for")
    if args.steps:
        cfg.steps = args.steps
    if args.no_perceptual:
        cfg.perceptual = False
    mcfg = cfg.model_config()
    sketches, photos = _data_dirs(args.data, args.photos)
    data = PairDataset(sketches, photos if args.stage != "stage1" else None, mcfg.image_size, cfg.augment,
                       cfg.seed, args.limit)
    val = None
    if args.val_data:
        vs, vp = _data_dirs(args.val_data, args.val_photos)
        val = PairDataset(vs, vp if args.stage != "stage1" else None, mcfg.image_size)
    perceptual = None
    if args.stage != "stage1":
        if cfg.perceptual:
            from jdfd.training.perceptual import PerceptualLoss  # noqa: PLC0415

            perceptual = PerceptualLoss.from_cache()
            if perceptual is None:
                print("WARNING: VGG16 weights unavailable: training WITHOUT the perceptual loss "
                      "(as with --no-perceptual)", file=sys.stderr)
        else:
            print("perceptual loss off (--no-perceptual)", file=sys.stderr)
    return Trainer(cfg, args.out, data, init=args.init, val=val, perceptual=perceptual)


def run_train(args) -> int:
    from jdfd import runtime  # noqa: PLC0415

    try:
        runtime.jittor(args.device)
        cfg_path = resolve_train_config(args.config)
        trainer = make_trainer(args, cfg_path)
        from jdfd.tracking import for_training  # noqa: PLC0415

        with for_training(trainer, args.out, enabled=getattr(args, "wandb", False)):
            trainer.fit(resume=args.resume, max_steps=args.max_steps)
    except (FileNotFoundError, ValueError, RuntimeError) as e:
        return _fail(str(e))
    return 0


def run_build_bank(args) -> int:
    from jdfd import runtime  # noqa: PLC0415

    try:
        runtime.jittor(args.device)
        from jdfd.pipeline import DeepFaceDrawing  # noqa: PLC0415
        from jdfd.training.banks import build_banks, read_labels  # noqa: PLC0415

        model = DeepFaceDrawing.from_pretrained(args.model)
        labels = read_labels(Path(args.labels)) if args.labels else None
        model.banks = build_banks(model, _data_dirs(args.data, None)[0], labels)
    except (FileNotFoundError, ValueError, OSError) as e:
        return _fail(str(e))
    model.default_gender = next(iter(model.banks))
    model.save_banks(args.model)
    sizes = ", ".join(f"{g}: {len(b['remainder'])}" for g, b in model.banks.items())
    print(f"banks written to {Path(args.model) / 'banks.safetensors'} ({sizes} sketches)")
    return 0


def run_export(args) -> int:
    from jdfd import runtime  # noqa: PLC0415

    try:
        runtime.jittor(args.device)
        from jdfd.training.trainer import CHECKPOINT, TrainConfig, Trainer  # noqa: PLC0415

        run = Path(args.run)
        if not (run / CHECKPOINT).is_file():
            raise FileNotFoundError(f"{run}: no {CHECKPOINT}")
        cfg = TrainConfig.load(run / "train_config.json")
        trainer = Trainer.for_export(cfg, run)
        trainer.load_checkpoint()
        path = trainer.export(Path(args.out), dtype=args.dtype)
    except (FileNotFoundError, ValueError) as e:
        return _fail(str(e))
    print(f"exported step {trainer.step} of {args.run} to {path} ({args.dtype})")
    return 0
