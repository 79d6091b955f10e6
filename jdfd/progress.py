"""Progress bars for long loops: :mod:`tqdm` on stderr, log-friendly when stderr is no terminal.

On a terminal this is tqdm's usual bar, redrawn in place. Written to a file or a pipe
(CI, ``make``, ``… 2> log``) a redrawn bar would be thousands of carriage returns on one
line, so there each update is its own line instead, at most one every
:data:`LOG_INTERVAL_S` seconds (plus the last). tqdm's own ``TQDM_*`` environment
variables still apply (e.g. ``TQDM_DISABLE=1``).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import IO, TypeVar

from tqdm import tqdm

T = TypeVar("T")

#: Seconds between two progress lines when stderr is not a terminal.
LOG_INTERVAL_S = 10.0


class _Lines:
    """A text stream for tqdm that turns each in-place redraw into one plain line."""

    def __init__(self, stream: IO[str]):
        self.stream = stream

    def write(self, s: str) -> None:
        line = s.replace("\r", "").rstrip()
        if line:
            self.stream.write(line + "\n")

    def flush(self) -> None:
        self.stream.flush()


def _is_terminal(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # closed or file-like objects without isatty
        return False


class Progress:
    """A tqdm bar with the interface jdfd's loops use: ``update(n, postfix)`` and ``close()``."""

    def __init__(self, total: int | None, desc: str = "", unit: str = "it", stream: IO[str] | None = None):
        stream = stream or sys.stderr
        if _is_terminal(stream):
            self.bar = tqdm(total=total, desc=desc, unit=unit, file=stream, dynamic_ncols=True)
        else:
            # ncols=0: no bar graphics, just counts, rate and ETA; ascii: no block characters in logs
            self.bar = tqdm(total=total, desc=desc, unit=unit, file=_Lines(stream), mininterval=LOG_INTERVAL_S,
                            maxinterval=LOG_INTERVAL_S, ascii=True, ncols=0)

    @property
    def n(self) -> int:
        return self.bar.n

    def update(self, n: int = 1, postfix: str | None = None) -> None:
        if postfix is not None:
            self.bar.set_postfix_str(postfix, refresh=False)
        self.bar.update(n)

    def close(self) -> None:
        self.bar.close()


def track(items: Iterable[T], total: int | None = None, desc: str = "", unit: str = "it") -> Iterator[T]:
    """Iterate over ``items`` with a progress bar (see :class:`Progress`)."""
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    bar = Progress(total, desc, unit)
    try:
        for item in items:
            yield item
            bar.update()
    finally:
        bar.close()
