"""Experiment tracking: ``--wandb`` leaves an offline W&B run in the run folder; failures never stop a run."""

from __future__ import annotations

import json
import struct
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import draw_sketch
from PIL import Image

from jdfd import tracking
from jdfd.cli import main


# ---------------------------------------------------------------------------- reading an offline run
def wandb_records(path: Path) -> list:
    """The records of a ``run-*.wandb`` file: W&B's 7-byte header, then LevelDB-log framing
    (32 KiB blocks; chunks of crc32 u32, length u16, type u8) around protobuf ``Record``s."""
    from wandb.proto import wandb_internal_pb2 as pb  # noqa: PLC0415

    data, block = path.read_bytes(), 32768
    assert data[:4] == b":W&B", "not a W&B transaction log"
    pos, buf, out = 7, b"", []
    while pos + 7 <= len(data):
        left = block - pos % block
        _crc, length, kind = struct.unpack("<IHB", data[pos:pos + 7])
        if left < 7 or (kind == 0 and length == 0):  # block trailer / padding
            pos += left
            continue
        chunk = data[pos + 7:pos + 7 + length]
        pos += 7 + length
        buf = chunk if kind in (1, 2) else buf + chunk  # FULL/FIRST start a record, MIDDLE/LAST continue it
        if kind in (1, 4):
            rec = pb.Record()
            rec.ParseFromString(buf)
            out.append(rec)
    return out


def offline_run(folder: Path) -> tuple[Path, dict, list[dict]]:
    """(the offline run's folder, its config, its history rows) from ``folder/wandb``."""
    runs = sorted((folder / "wandb").glob("offline-run-*"))
    assert len(runs) == 1, runs
    files = list(runs[0].glob("run-*.wandb"))
    assert len(files) == 1
    config, history = {}, []
    # a finished run, complete for `wandb sync`; wandb's service process may still be writing the
    # file when finish() returns (seen under load: no records yet), so allow it a minute
    deadline = time.monotonic() + 60
    while True:
        try:
            records = wandb_records(files[0])
        except Exception:  # noqa: BLE001  (a record cut off mid-write)
            records = []
        if "exit" in {r.WhichOneof("record_type") for r in records}:
            break
        assert time.monotonic() < deadline, "the offline run has no exit record"
        time.sleep(0.5)
    for rec in records:
        kind = rec.WhichOneof("record_type")
        if kind == "run":
            config.update({i.key: json.loads(i.value_json) for i in rec.run.config.update})
        elif kind == "config":
            config.update({i.key: json.loads(i.value_json) for i in rec.config.update})
        elif kind == "history":
            history.append({(i.key or "/".join(i.nested_key)): json.loads(i.value_json) for i in rec.history.item})
    return runs[0], config, history


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    for sub in ("sketches", "photos"):
        (root / sub).mkdir()
    for i in range(3):
        sk = draw_sketch(i)
        Image.fromarray(sk).save(root / "sketches" / f"f{i}.png")
        Image.fromarray(np.where(sk[:, :, None] < 128, 30, 90 + 40 * i).astype(np.uint8).repeat(3, 2)).save(
            root / "photos" / f"f{i}.jpg")
    return root


@pytest.fixture()
def offline(monkeypatch):
    pytest.importorskip("wandb", reason="tracking needs wandb (pip install -e '.[track]')")
    for var in ("WANDB_MODE", "WANDB_DIR", "WANDB_PROJECT", "WANDB_API_KEY", "WANDB_RUN_ID"):
        monkeypatch.delenv(var, raising=False)


# ---------------------------------------------------------------------------- train and eval
def test_train_wandb_leaves_an_offline_run_with_losses_samples_and_checkpoints(tmp_path, data_dir, offline, capsys):
    run = tmp_path / "run"
    assert main(["train", "stage1", "--config", "tiny_stage1", "--data", str(data_dir / "sketches"), "--out", str(run),
                 "--steps", "2", "--wandb", "--device", "cpu"]) == 0
    out = capsys.readouterr()
    assert "WARNING" not in out.err, out.err
    folder, config, history = offline_run(run)
    assert f"wandb sync {folder}" in out.out
    assert config["stage"] == "stage1" and config["steps"] == 2 and config["model"]["name"] == "tiny"
    logged = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    losses = [h for h in history if "train/loss" in h]
    assert [h["_step"] for h in losses] == [r["step"] for r in logged] == [1, 2]
    for h, r in zip(losses, logged):  # what log.jsonl holds, value for value
        for key in ("loss", "lr", "images_per_s", "mse_eye1", "mse_remainder"):
            assert h[f"train/{key}"] == pytest.approx(r[key], rel=1e-6), key
    snap = [h for h in history if "checkpoint/step" in h]
    assert [h["checkpoint/step"] for h in snap] == [2]
    for key in ("samples", "plots/losses"):
        assert snap[0][f"{key}/_type"] == "image-file" and (folder / "files" / snap[0][f"{key}/path"]).is_file()
    grid = Image.open(folder / "files" / snap[0]["samples/path"])
    assert grid.size == Image.open(run / "samples" / "step_000002.png").size


def test_eval_wandb_logs_the_results_table_and_figures(tmp_path, data_dir, tiny_model_dir, offline, capsys):
    out = tmp_path / "eval"
    assert main(["eval", "--model", str(tiny_model_dir), "--photos", str(data_dir / "photos"), "--out", str(out),
                 "--blends", "1,0", "--degrade", "drop", "--strengths", "1", "--no-fid", "--k", "3", "--limit", "2",
                 "--wandb", "--device", "cpu"]) == 0
    assert "WARNING" not in capsys.readouterr().err
    folder, config, history = offline_run(out)
    rows = json.loads((out / "results.json").read_text())["rows"]
    assert config["model"] == str(tiny_model_dir) and config["blends"] == [1, 0] and config["n_images"] == 2
    logged = {k: v for row in history for k, v in row.items()}  # the table, then the figures
    assert logged["results/_type"] == "table-file" and logged["results/nrows"] == len(rows) == 4
    table = json.loads((folder / "files" / logged["results/path"]).read_text())
    assert table["columns"][:3] == list(rows[0])[:3]
    assert [r[table["columns"].index("method")] for r in table["data"]] == [r["method"] for r in rows]
    for key in tracking_figures(out):
        assert logged[f"{key}/_type"] == "image-file" and (folder / "files" / logged[f"{key}/path"]).is_file()


def tracking_figures(out: Path) -> list[str]:
    from jdfd.evaluation.cli import FIGURES  # noqa: PLC0415

    keys = [k for k, f in FIGURES.items() if (out / f).is_file()]
    assert {"grid", "samples", "metrics_vs_strength"} <= set(keys)
    return keys


# ---------------------------------------------------------------------------- failures
def test_without_wandb_the_run_goes_on_with_one_warning(tmp_path, data_dir, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "wandb", None)  # import wandb → ImportError
    run = tmp_path / "run"
    assert main(["train", "stage1", "--config", "tiny_stage1", "--data", str(data_dir / "sketches"), "--out", str(run),
                 "--steps", "1", "--wandb", "--device", "cpu"]) == 0
    err = capsys.readouterr().err
    assert err.count("WARNING") == 1 and "wandb package is not installed" in err and "jdfd[track]" in err
    assert (run / "checkpoint.safetensors").exists() and not (run / "wandb").exists()


def test_a_failing_wandb_init_is_one_warning(tmp_path, offline, monkeypatch, capsys):
    import wandb  # noqa: PLC0415

    def refuse(**kwargs):
        raise RuntimeError("no W&B here")

    monkeypatch.setattr(wandb, "init", refuse)
    tracker = tracking.start(tmp_path, "train", {"a": 1})
    tracker.log({"x": 1.0}, 1)
    tracker.finish()
    err = capsys.readouterr().err
    assert not tracker.active and err.count("WARNING") == 1 and "RuntimeError: no W&B here" in err


def test_w_and_b_failing_mid_run_is_one_warning_then_silence(tmp_path, capsys):
    class BrokenRun:
        offline, dir = True, str(tmp_path)

        def log(self, values, step=None):
            raise OSError("disk full")

        def finish(self, exit_code=0, quiet=None):
            pass

    tracker = tracking.WandbTracker(BrokenRun(), wandb=None, run_dir=tmp_path)
    for step in range(5):
        tracker.log({"train/loss": 1.0}, step)
        tracker.log_table("results", [{"a": 1}])
    tracker.finish()
    err = capsys.readouterr().err
    assert err.count("WARNING") == 1 and "OSError: disk full" in err and not tracker.active
