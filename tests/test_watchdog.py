"""The watchdog that stops a data-parallel job when a rank waits too long (no MPI needed)."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from jdfd.training.watchdog import Watchdog, hang_timeout


def _watch(pid: int) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "jdfd.training.watchdog", str(pid), "1", "2"],
                            stdin=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_an_overrun_phase_kills_the_rank_and_says_where():
    rank = subprocess.Popen(["sleep", "60"])
    dog = _watch(rank.pid)
    dog.stdin.write("30 step 2\n1.5 step 3 (the all-reduces)\n")
    dog.stdin.flush()
    t0 = time.monotonic()
    assert rank.wait(timeout=30) != 0
    assert time.monotonic() - t0 < 15
    err = dog.communicate(timeout=30)[1]
    assert dog.returncode == 1
    assert "rank 1 of 2" in err and "'step 3 (the all-reduces)'" in err and "stuck or has exited" in err


def test_a_closed_pipe_ends_the_watchdog_and_spares_the_rank():
    rank = subprocess.Popen(["sleep", "60"])
    try:
        dog = _watch(rank.pid)
        dog.stdin.write("1 step 1\n")
        dog.stdin.close()  # the trainer finished (or died): nothing to guard any more
        assert dog.wait(timeout=30) == 0
        time.sleep(1.5)
        assert rank.poll() is None
    finally:
        rank.terminate()  # not kill(): Jittor ends a process whose child dies of anything but SIGTERM
        rank.wait()


def test_one_process_starts_no_watchdog_and_timeout_comes_from_the_environment(monkeypatch):
    assert Watchdog(0, 1).proc is None
    monkeypatch.setenv("JDFD_HANG_TIMEOUT", "12.5")
    assert hang_timeout() == 12.5
    monkeypatch.setenv("JDFD_HANG_TIMEOUT", "soon")
    with pytest.raises(ValueError, match="JDFD_HANG_TIMEOUT"):
        hang_timeout()
