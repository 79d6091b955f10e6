"""Progress output: a bar on a terminal, plain lines in logs (files, pipes, CI)."""

from __future__ import annotations

import io

from jdfd import progress


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_log_output_is_one_line_per_update(monkeypatch):
    monkeypatch.setattr(progress, "LOG_INTERVAL_S", 0.0)  # every update is due
    out = io.StringIO()
    bar = progress.Progress(50, "train", unit="step", stream=out)
    for i in range(50):
        bar.update(1, f"loss {i:.3f}")
    bar.close()
    text = out.getvalue()
    assert "\r" not in text and "\x1b" not in text
    lines = text.splitlines()
    assert len(lines) >= 50 and all(line.startswith("train:") for line in lines)
    assert "50/50" in lines[-1] and "loss 49.000" in lines[-1]


def test_log_output_is_rate_limited():
    out = io.StringIO()
    bar = progress.Progress(10_000, "eval", unit="face", stream=out)
    for _ in range(10_000):
        bar.update()
    bar.close()
    lines = out.getvalue().splitlines()
    assert 2 <= len(lines) <= 4 and "10000/10000" in lines[-1]  # first, (maybe one more,) last


def test_terminal_gets_a_bar_redrawn_in_place():
    out = FakeTerminal()
    bar = progress.Progress(5, "sketchify", unit="img", stream=out)
    for _ in range(5):
        bar.update()
    bar.close()
    assert "\r" in out.getvalue() and "5/5" in out.getvalue()


def test_track_yields_every_item(capsys):
    assert list(progress.track(iter(range(7)), total=7, desc="x")) == list(range(7))
    assert "7/7" in capsys.readouterr().err
