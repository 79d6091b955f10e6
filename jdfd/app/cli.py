"""``jdfd serve``: the drawing web app on a local port.

Nothing heavy is imported here at module level: ``jdfd --help`` must stay instant and
Jittor must start only after ``--device`` is known.
"""

from __future__ import annotations

import argparse
import ipaddress
import sys
import time

LOOPBACK_NAMES = ["localhost", "127.0.0.1", "::1"]


def _err(msg: str) -> None:
    print(f"jdfd serve: error: {msg}", file=sys.stderr)


def add_parser(sub) -> argparse.ArgumentParser:
    """Register ``serve`` on a ``jdfd`` subparsers object."""
    from jdfd.cli import MODEL_HELP  # noqa: PLC0415 (late: jdfd.cli imports this module)

    p = sub.add_parser("serve", help="draw a face in the browser and watch it synthesised",
                       description="Start the local drawing web app: draw a face sketch on a 512x512 canvas and see "
                                   "the face synthesised as you draw. Needs Flask and waitress "
                                   "(pip install 'jdfd[serve]').")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--model", help=MODEL_HELP)
    src.add_argument("--params", help="the authors' released Params/ folder (paper configuration)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1: this machine only; 0.0.0.0 exposes the app)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 picks a free one)")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    p.add_argument("--k", type=int, default=15, help="neighbours used by the projection (default 15)")
    p.add_argument("--max-side", type=int, default=4096, help="largest sketch image side accepted (default 4096)")
    p.add_argument("--no-warmup", action="store_true",
                   help="skip the start-up generation that compiles Jittor's kernels before the URL is printed")
    p.set_defaults(func=run)
    return p


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _url(host: str, port: int) -> str:
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


def warm_up(model) -> float:
    """One generation on blank paper, so the person's first stroke does not wait for Jittor's compiles."""
    import numpy as np  # noqa: PLC0415

    from jdfd.config import CANVAS  # noqa: PLC0415

    t0 = time.perf_counter()
    has_banks = bool(model.banks)
    model.generate(np.full((CANVAS, CANVAS), 255, np.uint8), blend=1.0 if has_banks else 0.0, shadow=has_banks)
    return time.perf_counter() - t0


def run(args) -> int:
    """Load the model, build the app, serve until Ctrl+C. Exit code 2 on set-up errors."""
    try:
        from jdfd.app.server import create_app, make_server, server_port  # noqa: PLC0415
    except ImportError as e:
        _err(f"the web app needs Flask and waitress ({e}); install them with: pip install 'jdfd[serve]'")
        return 2
    if not 0 <= args.port <= 65535:
        _err(f"--port must be in 0..65535, got {args.port}")
        return 2
    if args.k < 1 or args.max_side < 1:
        _err("--k and --max-side must be at least 1")
        return 2
    from jdfd import runtime  # noqa: PLC0415

    try:
        runtime.jittor(args.device)
    except (ValueError, RuntimeError) as e:
        _err(str(e))
        return 2
    from jdfd import shipped  # noqa: PLC0415
    from jdfd.cli import load_model  # noqa: PLC0415
    from jdfd.weights.strict import WeightsError  # noqa: PLC0415

    try:
        model = load_model(args.model, args.params)
    except (WeightsError, ValueError, OSError) as e:  # ModelNotFoundError is an OSError
        _err(f"cannot load model: {e}")
        return 2
    name = args.params or args.model or str(shipped.default_model())
    loopback = _is_loopback(args.host)
    try:
        app = create_app(model, name=f"{model.cfg.name} ({name})", k=args.k, max_side=args.max_side,
                         trusted_hosts=LOOPBACK_NAMES if loopback else None)
    except ValueError as e:
        _err(str(e))
        return 2
    if not args.no_warmup:
        print("jdfd serve: warming up (the first run compiles Jittor kernels) ...", flush=True)
        print(f"jdfd serve: ready in {warm_up(model):.1f} s", flush=True)
    try:
        server = make_server(app, args.host, args.port)
    except (OSError, ValueError) as e:  # bind errors; ValueError: a host waitress cannot parse
        _err(f"cannot listen on {args.host}:{args.port}: {e}")
        return 2
    if not loopback:
        print(f"jdfd serve: WARNING: listening on {args.host}: anyone who can reach this machine can use the app",
              file=sys.stderr)
    print(f"jdfd serve: open {_url(args.host, server_port(server))} in a browser (Ctrl+C to stop)", flush=True)
    try:
        server.run()  # returns on Ctrl+C (waitress catches it and stops its workers)
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
    print("\njdfd serve: stopped", flush=True)
    return 0
