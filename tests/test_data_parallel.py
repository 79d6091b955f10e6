"""Data-parallel training through the README's command: ``mpirun -np 2 jdfd train ...``.

Each run is a real ``mpirun`` of the ``jdfd`` command on the tiny configuration, so the end
of a run (the last all-reduce, rank 0's export, the other ranks leaving) is exercised the
way a user meets it. A hung or killed rank must end the job, not leave it spinning.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO

from jdfd.cli import main
from jdfd.weights.strict import state_numpy

pytestmark = pytest.mark.skipif(shutil.which("mpirun") is None, reason="OpenMPI is not installed")

JDFD = Path(sys.executable).with_name("jdfd")
CONFIGS = REPO / "jdfd" / "configs"
MPI_ENV = {"OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
           "OMPI_MCA_rmaps_base_oversubscribe": "1"}


def mpirun_cmd(stage: str, data: Path, out: Path, *extra: str) -> list[str]:
    """The README's data-parallel command, on two processes."""
    return ["mpirun", "-np", "2", str(JDFD), "train", stage, "--config", f"tiny_{stage}", "--data", str(data),
            "--out", str(out), *extra]


def mpirun(stage: str, data: Path, out: Path, *extra: str, timeout: float = 600) -> subprocess.CompletedProcess:
    proc = subprocess.run(mpirun_cmd(stage, data, out, *extra), env={**os.environ, **MPI_ENV},
                          capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


def exported_state(model_dir: Path) -> dict[str, np.ndarray]:
    from jdfd.pipeline import DeepFaceDrawing  # noqa: PLC0415

    return state_numpy(DeepFaceDrawing.from_pretrained(model_dir).nets)


@pytest.fixture(scope="module")
def mpi_stage1(data_dir, tmp_path_factory) -> Path:
    """Stage I, 4 steps of 2 × 2 sketches, uninterrupted."""
    run = tmp_path_factory.mktemp("mpi") / "s1"
    proc = mpirun("stage1", data_dir / "sketches", run, "--steps", "4")
    (run.parent / "stdout.txt").write_text(proc.stdout)
    return run


def test_readme_command_finishes_and_exports(mpi_stage1):
    # every rank fingerprinted its weights and Adam state at the end, and they matched rank 0's
    assert "all 2 ranks hold the same weights and optimiser state" in (mpi_stage1.parent / "stdout.txt").read_text()
    for f in ("export/config.json", "export/model.safetensors", "samples/step_000004.png", "checkpoint.safetensors"):
        assert (mpi_stage1 / f).exists(), f
    steps = [json.loads(ln)["step"] for ln in (mpi_stage1 / "log.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4]
    assert exported_state(mpi_stage1 / "export")


def test_baseline_matches_one_process_with_the_global_batch(data_dir, tmp_path):
    """The baseline normalises per sample (InstanceNorm), so 2 ranks × 2 samples is one process
    with 4: the same samples and augmentation (both keyed by the global sample counter) and
    the same mean gradient. Only the order of float sums differs, and Adam turns the rounding
    of near-zero gradients into updates of either sign, so the faces differ by a grey level
    here and there. To show that this is rounding and not other maths, the gap must be far
    below the gap to a run that differs only in its data (one process with half the batch).
    (Stage I and II normalise with BatchNorm over each rank's own batch: no one-process twin.)"""
    from PIL import Image  # noqa: PLC0415

    from jdfd.baseline import SketchBaseline  # noqa: PLC0415

    mpirun("baseline", data_dir, tmp_path / "mpi", "--steps", "3")
    cfg = json.loads((CONFIGS / "tiny_baseline.json").read_text())
    runs = {"mpi": tmp_path / "mpi"}
    for name, batch in (("one", cfg["batch_size"] * 2), ("half", cfg["batch_size"])):
        (tmp_path / f"{name}.json").write_text(json.dumps({**cfg, "batch_size": batch}))
        assert main(["train", "baseline", "--config", str(tmp_path / f"{name}.json"), "--data", str(data_dir),
                     "--out", str(tmp_path / name), "--steps", "3"]) == 0
        runs[name] = tmp_path / name
    models = {k: SketchBaseline.from_pretrained(v / "export") for k, v in runs.items()}
    sketches = [np.asarray(Image.open(f).convert("L")) for f in sorted((data_dir / "sketches").iterdir())[:3]]
    faces = {k: np.stack([m.generate(sk).image for sk in sketches]).astype(int) for k, m in models.items()}
    rounding = np.abs(faces["mpi"] - faces["one"])
    other_data = float(np.abs(faces["half"] - faces["one"]).mean())
    assert rounding.max() <= 8 and rounding.mean() < 0.2 * other_data, (rounding.max(), rounding.mean(), other_data)


def test_resume_under_mpi_is_bit_exact(mpi_stage1, data_dir, tmp_path):
    run = tmp_path / "s1"
    mpirun("stage1", data_dir / "sketches", run, "--steps", "4", "--max-steps", "2")
    assert not (run / "export").exists()
    proc = mpirun("stage1", data_dir / "sketches", run, "--steps", "4", "--resume")
    assert "resumed" in proc.stdout and "at step 2" in proc.stdout
    from jdfd.weights import tensorfile  # noqa: PLC0415

    a, _ = tensorfile.load(run / "checkpoint.safetensors")
    b, _ = tensorfile.load(mpi_stage1 / "checkpoint.safetensors")
    assert a.keys() == b.keys()
    for k in a:
        assert np.array_equal(a[k], b[k]), k


def test_stage2_finishes_under_mpi(mpi_stage1, data_dir, tmp_path):
    mpirun("stage2", data_dir, tmp_path / "s2", "--init", str(mpi_stage1 / "export"), "--steps", "2")
    assert exported_state(tmp_path / "s2" / "export")
    assert (tmp_path / "s2" / "samples" / "step_000002.png").exists()


def _rank_pid(marker: str, rank: int) -> int | None:
    """The pid of the training process of ``rank`` among those started with env ``JDFD_TEST_MARK=marker``."""
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            env = (d / "environ").read_bytes().split(b"\0")
            cmd = (d / "cmdline").read_bytes()
        except OSError:
            continue
        if (f"JDFD_TEST_MARK={marker}".encode() in env and f"OMPI_COMM_WORLD_RANK={rank}".encode() in env
                and b"train" in cmd and b"watchdog" not in cmd):
            return int(d.name)
    return None


@pytest.mark.parametrize("how", ["stop", "kill"])
def test_a_hung_or_killed_rank_ends_the_job(how, data_dir, tmp_path, mpi_stage1):
    """SIGSTOP: rank 1 hangs, rank 0 waits in an all-reduce: the watchdog stops the job.
    SIGKILL: rank 1 dies: the job ends too (mpirun sees it, or the watchdog does)."""
    marker = f"{os.getpid()}-{how}"
    run = tmp_path / "run"
    env = {**os.environ, **MPI_ENV, "JDFD_TEST_MARK": marker, "JDFD_HANG_TIMEOUT": "15"}
    proc = subprocess.Popen(mpirun_cmd("stage1", data_dir / "sketches", run, "--steps", "100000"), env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 300
        while not ((run / "log.jsonl").exists() and len((run / "log.jsonl").read_text().splitlines()) >= 3):
            assert proc.poll() is None and time.monotonic() < deadline, "the run did not start"
            time.sleep(0.5)
        pid = _rank_pid(marker, 1)
        assert pid is not None
        os.kill(pid, signal.SIGSTOP if how == "stop" else signal.SIGKILL)
        t0 = time.monotonic()
        out, err = proc.communicate(timeout=180)
        took = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            proc.terminate()  # not kill(): Jittor ends a process whose child dies of anything but SIGTERM
            proc.communicate()
        pid = _rank_pid(marker, 1)
        if pid is not None:
            os.kill(pid, signal.SIGKILL)
    assert proc.returncode != 0
    assert took < 120, took
    if how == "stop":
        assert "another rank is stuck or has exited" in err, err[-2000:]
