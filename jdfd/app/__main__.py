"""``python -m jdfd.app [--model DIR] [--port N]``: the same as ``jdfd serve``."""

from __future__ import annotations

import argparse
import sys

from jdfd.app.cli import add_parser


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m jdfd.app")
    sub = parser.add_subparsers(dest="command")
    add_parser(sub)
    args = parser.parse_args(["serve", *(sys.argv[1:] if argv is None else argv)])
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
