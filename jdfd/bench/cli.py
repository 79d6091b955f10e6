"""``jdfd bench``: Jittor vs PyTorch, stage by stage, in interleaved rounds of fresh processes.

Wire into ``jdfd.cli`` with ``add_parser(subparsers)``; the parser sets ``func=run``.
Neither Jittor nor PyTorch is imported here: each measurement runs in a worker process.
"""

from __future__ import annotations

import argparse
import sys

# also BenchOptions' default; torch-compile-max is left out: it compiles for 9-11 minutes per training stage on 2 cores
DEFAULT_FRAMEWORKS = "jittor,jittor-fast,jittor-nodnnl,torch,torch-compile"


def _csv(text: str) -> list[str]:
    return [s.strip() for s in text.split(",") if s.strip()]


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "bench", help="time Jittor against PyTorch, stage by stage (needs the bench extra)",
        description="Time jdfd's networks in Jittor (oneDNN on and off, and an optimised path) against a PyTorch "
                    "twin (eager and torch.compile): each stage and end to end at each batch size, one stage-I and "
                    "one stage-II training step, first-run (compile) time and peak memory. Every measurement runs "
                    "in a fresh process; frameworks alternate in rounds. Writes results.json, report.md and "
                    "chart.png. PyTorch comes with `pip install -e .[bench]`. Run it on a quiet machine.")
    p.add_argument("--configs", default=None,
                   help="model configurations: preset names or JSON files (default paper,compact; --quick: compact)")
    p.add_argument("--batches", default="1,4", help="batch sizes (default 1,4)")
    p.add_argument("--reps", type=int, default=None, help="timed repetitions per measurement (default 6; --quick: 3)")
    p.add_argument("--rounds", type=int, default=None,
                   help="rounds of fresh processes the repetitions are spread over (default 3; --quick: 1)")
    p.add_argument("--warmup", type=int, default=1, help="untimed calls after the first run (default 1)")
    p.add_argument("--frameworks", default=DEFAULT_FRAMEWORKS, help=f"which to measure (default {DEFAULT_FRAMEWORKS})")
    p.add_argument("--modes", default="infer,train",
                   help="infer (stages, end to end) and/or train (one step each) (default infer,train)")
    p.add_argument("--parts", action="store_true", help="also time each encoder and FM decoder on its own")
    p.add_argument("--perceptual", action="store_true",
                   help="training steps with the VGG16 perceptual loss, as real stage-II runs have it")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu",
                   help="both frameworks on this device (default cpu)")
    p.add_argument("--bank-size", type=int, default=2000, help="vectors per synthetic component bank (default 2000)")
    p.add_argument("--timeout", type=float, default=3600.0, help="seconds allowed to one worker process (default 3600)")
    p.add_argument("--quick", action="store_true", help="compact configuration only, 3 repetitions, 1 round")
    p.add_argument("-o", "--out", default="outputs/bench", help="output folder (default outputs/bench)")
    p.set_defaults(func=run)
    return p


def options_from_args(args: argparse.Namespace):
    """The :class:`jdfd.bench.runner.BenchOptions` that the command line asks for (raises ValueError)."""
    from jdfd.bench.runner import BenchOptions  # noqa: PLC0415
    from jdfd.bench.worker import FRAMEWORKS  # noqa: PLC0415

    configs = _csv(args.configs) if args.configs else (["compact"] if args.quick else ["paper", "compact"])
    try:
        batches = [int(b) for b in _csv(args.batches)]
    except ValueError:
        raise ValueError(f"--batches must be integers, got {args.batches!r}") from None
    if not batches or min(batches) < 1:
        raise ValueError("--batches must be positive integers")
    frameworks = _csv(args.frameworks)
    unknown = [f for f in frameworks if f not in FRAMEWORKS]
    if unknown or not frameworks:
        raise ValueError(f"unknown framework(s) {', '.join(unknown) or '(none)'}: choose from {', '.join(FRAMEWORKS)}")
    modes = _csv(args.modes)
    if not modes or any(m not in ("infer", "train") for m in modes):
        raise ValueError(f"--modes must be infer and/or train, got {args.modes!r}")
    reps = args.reps if args.reps is not None else (3 if args.quick else 6)
    rounds = args.rounds if args.rounds is not None else (1 if args.quick else 3)
    if reps < 1 or rounds < 1 or args.warmup < 0:
        raise ValueError("--reps and --rounds must be at least 1, --warmup at least 0")
    return BenchOptions(configs=configs, batches=sorted(set(batches)), reps=reps, rounds=min(rounds, reps),
                        warmup=args.warmup, frameworks=frameworks, modes=modes, device=args.device, out=args.out,
                        parts=args.parts, perceptual=args.perceptual, bank_size=args.bank_size, timeout=args.timeout)


def run(args: argparse.Namespace) -> int:
    from jdfd.bench import runner  # noqa: PLC0415
    from jdfd.config import get_config  # noqa: PLC0415

    try:
        opts = options_from_args(args)
        for c in opts.configs:
            get_config(c)
    except (ValueError, FileNotFoundError) as e:
        print(f"jdfd: error: {e}", file=sys.stderr)
        return 2
    wants_torch = [f for f in opts.frameworks if f.startswith("torch")]
    if wants_torch and not runner.torch_available():
        if args.frameworks != DEFAULT_FRAMEWORKS:
            print("jdfd: error: PyTorch is not installed: `pip install -e .[bench]`", file=sys.stderr)
            return 2
        print("note: PyTorch is not installed (`pip install -e .[bench]`): measuring Jittor only", file=sys.stderr)
        opts.frameworks = [f for f in opts.frameworks if f not in wants_torch]
    if opts.device == "cuda":
        from jdfd.runtime import gpu_present  # noqa: PLC0415  (no Jittor import: it only asks nvidia-smi)

        if not gpu_present():
            print("jdfd: error: --device cuda was asked for, but no NVIDIA GPU answers (nvidia-smi -L)",
                  file=sys.stderr)
            return 2
    result = runner.run_benchmark(opts, log=lambda s: print(s, flush=True))
    failed = len(result["errors"])
    if failed:
        print(f"{failed} measurement(s) failed; see {opts.out}/report.md", file=sys.stderr)
    ok = any(r["framework"].startswith("jittor") for r in result["summary"])
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry (``python -m jdfd.bench.cli``) until ``jdfd bench`` is wired in."""
    parser = argparse.ArgumentParser(prog="jdfd")
    add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["bench"] + (sys.argv[1:] if argv is None else argv))
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
