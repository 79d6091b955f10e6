"""Experiment tracking in Weights & Biases (``jdfd train … --wandb``, ``jdfd eval … --wandb``).

Offline by default: the W&B run is written into the run folder (``RUN/wandb/offline-run-*``),
ready for ``wandb sync RUN/wandb/offline-run-*`` on a machine that reaches a W&B server;
``WANDB_MODE=online`` logs live instead (``WANDB_PROJECT``, default ``jdfd``, names the project).
Each ``jdfd train`` session is one W&B run, grouped by run folder, so a resumed run
shows as several runs of one group.

``wandb`` (``pip install 'jdfd[track]'``) is imported only when tracking is asked for.
Tracking never stops a run: without wandb, or when W&B fails at any point, the run goes
on untracked and exactly one warning says why.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

DEFAULT_PROJECT = "jdfd"
WANDB_DIR = "wandb"  # inside the run folder


def _warn(msg: str) -> None:
    print(f"WARNING: {msg}", file=sys.stderr, flush=True)


class Tracker:
    """No tracking: what runs get without ``--wandb``, and after W&B failed."""

    active = False

    def log(self, values: Mapping[str, Any], step: int | None = None) -> None:
        """Scalars (or anything W&B logs) at ``step``."""

    def log_images(self, images: Mapping[str, Path | None], step: int | None = None) -> None:
        """Image files under their keys (``None`` entries are skipped)."""

    def log_snapshot(self, step: int, checkpoint: Path | None, images: Mapping[str, Path | None]) -> None:
        """A training snapshot: the checkpoint's step and the images written with it."""

    def log_table(self, key: str, rows: list[dict]) -> None:
        """Rows of dicts as one table (columns: every key, in first-seen order)."""

    def finish(self, exit_code: int = 0) -> None:
        """Close the run (writes the offline run's last records)."""


class WandbTracker(Tracker):
    """A live wandb run; the first failure warns once and turns the tracker off."""

    active = True

    def __init__(self, run, wandb, run_dir: Path):
        self.run, self.wandb, self.run_dir = run, wandb, run_dir

    def _failed(self, what: str, e: Exception) -> None:
        _warn(f"W&B {what} failed ({type(e).__name__}: {e}); the run goes on without experiment tracking")
        self.active = False
        try:
            self.run.finish(exit_code=1, quiet=True)
        except Exception:  # noqa: BLE001  (already warned; W&B is out of the picture)
            pass

    def log(self, values: Mapping[str, Any], step: int | None = None) -> None:
        if not self.active:
            return
        try:
            self.run.log(dict(values), step=step)
        except Exception as e:  # noqa: BLE001  (tracking must never stop training)
            self._failed("logging", e)

    def log_images(self, images: Mapping[str, Path | None], step: int | None = None) -> None:
        if not self.active:
            return
        try:
            self.log({k: self.wandb.Image(str(p), caption=Path(p).name) for k, p in images.items() if p}, step)
        except Exception as e:  # noqa: BLE001
            self._failed("image logging", e)

    def log_snapshot(self, step: int, checkpoint: Path | None, images: Mapping[str, Path | None]) -> None:
        if checkpoint is not None:
            self.log({"checkpoint/step": step}, step)
        self.log_images(images, step)

    def log_table(self, key: str, rows: list[dict]) -> None:
        if not self.active:
            return
        try:
            columns = list(dict.fromkeys(k for r in rows for k in r))
            self.log({key: self.wandb.Table(columns=columns, data=[[r.get(c) for c in columns] for r in rows])})
        except Exception as e:  # noqa: BLE001
            self._failed("table logging", e)

    def finish(self, exit_code: int = 0) -> None:
        if not self.active:
            return
        self.active = False
        try:
            self.run.finish(exit_code=exit_code)
        except Exception as e:  # noqa: BLE001
            _warn(f"W&B could not close its run ({type(e).__name__}: {e}); its records may be incomplete")
            return
        if getattr(self.run, "offline", True):
            where = Path(self.run.dir).parent if getattr(self.run, "dir", None) else self.run_dir / WANDB_DIR
            print(f"W&B run (offline) in {where}: upload it with `wandb sync {where}`", flush=True)


def start(run_dir: str | Path, job_type: str, config: Mapping[str, Any], name: str | None = None) -> Tracker:
    """A W&B run logging into ``run_dir/wandb``; a no-op :class:`Tracker` (and one warning) when W&B can't be used."""
    try:
        import wandb  # noqa: PLC0415  (only when --wandb is given)
    except ImportError as e:
        _warn(f"--wandb: the wandb package is not installed ({e}); install it with pip install 'jdfd[track]'. "
              "The run goes on without experiment tracking")
        return Tracker()
    run_dir = Path(run_dir)
    name = name or run_dir.resolve().name
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        run = wandb.init(dir=str(run_dir), mode=os.environ.get("WANDB_MODE") or "offline",
                         project=os.environ.get("WANDB_PROJECT") or DEFAULT_PROJECT, job_type=job_type,
                         name=name, group=name, config=dict(config),
                         settings=wandb.Settings(silent=True, console="off", save_code=False, disable_git=True))
    except Exception as e:  # noqa: BLE001  (wandb raises many kinds; none may stop the run)
        _warn(f"--wandb: W&B did not start ({type(e).__name__}: {e}); the run goes on without experiment tracking")
        return Tracker()
    return WandbTracker(run, wandb, run_dir)


@contextmanager
def for_training(trainer, run_dir: str | Path, enabled: bool) -> Iterator[Tracker]:
    """Track a :class:`jdfd.training.trainer.Trainer` for the block's duration (rank 0 only under MPI)."""
    if not enabled or getattr(trainer, "rank", 0) != 0:
        yield trainer.tracker
        return
    tracker = start(run_dir, "train", trainer.cfg.to_dict())
    trainer.tracker = tracker
    try:
        yield tracker
    except BaseException:
        tracker.finish(exit_code=1)
        raise
    finally:
        tracker.finish()  # no-op after the one above
        trainer.tracker = Tracker()
