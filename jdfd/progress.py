"""A small progress bar for long loops (stderr, one line, rate and ETA)."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")


class Progress:
    def __init__(self, total: int | None, desc: str = "", unit: str = "it", stream=None, min_interval: float = 0.5):
        self.total, self.desc, self.unit = total, desc, unit
        self.stream = stream or sys.stderr
        self.n = 0
        self.start = time.perf_counter()
        self._last = 0.0
        self.min_interval = min_interval
        self.postfix = ""

    def update(self, n: int = 1, postfix: str | None = None) -> None:
        self.n += n
        if postfix is not None:
            self.postfix = postfix
        now = time.perf_counter()
        if now - self._last >= self.min_interval or (self.total is not None and self.n >= self.total):
            self._last = now
            self._draw(now)

    def _draw(self, now: float) -> None:
        elapsed = now - self.start
        rate = self.n / elapsed if elapsed > 0 else 0.0
        if self.total:
            frac = min(1.0, self.n / self.total)
            bar = "#" * int(frac * 20)
            eta = (self.total - self.n) / rate if rate > 0 else 0.0
            head = f"{self.desc} [{bar:<20}] {self.n}/{self.total} eta {eta:5.0f}s"
        else:
            head = f"{self.desc} {self.n}"
        line = f"\r{head} {rate:.2f} {self.unit}/s {self.postfix}"
        self.stream.write(line[:200])
        self.stream.flush()

    def close(self) -> None:
        self._draw(time.perf_counter())
        self.stream.write("\n")
        self.stream.flush()


def track(items: Iterable[T], total: int | None = None, desc: str = "", unit: str = "it") -> Iterator[T]:
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    bar = Progress(total, desc, unit)
    try:
        for item in items:
            yield item
            bar.update()
    finally:
        bar.close()
