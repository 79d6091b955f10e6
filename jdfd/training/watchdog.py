"""Stop a data-parallel job that hangs, instead of spinning forever.

Under ``mpirun`` a rank that waits in a collective (a gradient all-reduce, a BatchNorm
statistics sync, a barrier) for a rank that is stuck, or that left early, spins at full
CPU forever: Jittor holds the GIL while it waits, so no Python thread can notice. The
watchdog therefore runs as a small separate process. The trainer tells it, through a
pipe, what it is about to do ("step 57", "end of run: waiting for the other ranks") and
how long that may take; if a phase lasts longer, the watchdog prints which rank waited
where and for how long, and kills that rank. mpirun then ends the whole job with a
non-zero exit code. When the trainer exits, the pipe closes and the watchdog exits too.

Single-process runs do not start one: nothing can wait on another rank there.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time

#: Default seconds a phase may last before the job is stopped; ``JDFD_HANG_TIMEOUT`` overrides.
#: Generous, because a rank waits for rank 0 while it writes snapshots; the first step, which
#: compiles (minutes on a warm machine, over 30 on a new one), gets 4× (``trainer.FIRST_STEP_FACTOR``).
DEFAULT_TIMEOUT = 1800.0


def hang_timeout() -> float:
    """Seconds from ``JDFD_HANG_TIMEOUT``, or :data:`DEFAULT_TIMEOUT`."""
    text = os.environ.get("JDFD_HANG_TIMEOUT", "")
    try:
        return float(text) if text else DEFAULT_TIMEOUT
    except ValueError as e:
        raise ValueError(f"JDFD_HANG_TIMEOUT must be a number of seconds, not {text!r}") from e


class Watchdog:
    """The trainer's side: announce phases to a watchdog process (no-op when ``world == 1``)."""

    def __init__(self, rank: int, world: int, timeout: float | None = None):
        self.rank, self.world = rank, world
        self.timeout = hang_timeout() if timeout is None else timeout
        self.proc: subprocess.Popen | None = None
        if world > 1 and self.timeout > 0:
            # exec'd at once (no Python fork of an MPI process), and outside mpirun's own bookkeeping
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "jdfd.training.watchdog", str(os.getpid()), str(rank), str(world)],
                stdin=subprocess.PIPE, text=True, bufsize=1)

    def phase(self, what: str, timeout: float | None = None) -> None:
        """From now on, we are doing ``what``; stop the job if it takes over ``timeout`` seconds."""
        if self.proc is None:
            return
        limit = self.timeout if timeout is None else timeout
        try:
            self.proc.stdin.write(f"{limit:.1f} {what}\n")
        except (BrokenPipeError, OSError):
            self.proc = None  # the watchdog is gone; training goes on unguarded

    def close(self) -> None:
        if self.proc is not None:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
            self.proc.wait(timeout=10)
            self.proc = None


def _alive(pid: int) -> bool:
    """Whether ``pid`` still runs (a zombie waiting for its parent does not)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:  # gone, or no /proc: ask the kernel
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True


def _watch(pid: int, rank: int, world: int) -> int:
    """The watchdog process: read phases from stdin, kill ``pid`` when one overruns."""
    what, limit, since = "start-up", None, time.monotonic()
    buf = ""
    while True:
        wait = None if limit is None else max(0.0, since + limit - time.monotonic())
        ready, _, _ = select.select([sys.stdin], [], [], wait)
        if ready:
            chunk = os.read(sys.stdin.fileno(), 4096).decode(errors="replace")
            if not chunk:  # the trainer closed the pipe or exited
                return 0
            buf += chunk
            *lines, buf = buf.split("\n")
            for line in lines:
                head, _, rest = line.partition(" ")
                limit, what, since = float(head), rest, time.monotonic()
            continue
        waited = time.monotonic() - since
        print(f"jdfd train: rank {rank} of {world} has spent {waited:.0f} s in '{what}' (limit {limit:.0f} s; "
              f"JDFD_HANG_TIMEOUT sets it): another rank is stuck or has exited. Stopping the job.",
              file=sys.stderr, flush=True)
        try:
            os.kill(pid, signal.SIGTERM)
            for _ in range(50):
                time.sleep(0.1)
                if not _alive(pid):
                    return 1
            os.kill(pid, signal.SIGKILL)  # still there: a rank spinning in MPI may not act on SIGTERM
        except ProcessLookupError:
            pass
        return 1


if __name__ == "__main__":
    sys.exit(_watch(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])))
