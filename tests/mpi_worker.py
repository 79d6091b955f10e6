"""Run under ``mpirun -np 2``: a few tiny stage-I steps, then each rank dumps its weights."""

import json
import sys
from pathlib import Path

import numpy as np

from jdfd.runtime import jittor

jt = jittor()

from jdfd.training.data import PairDataset  # noqa: E402
from jdfd.training.trainer import TrainConfig, Trainer  # noqa: E402

data_dir, out = Path(sys.argv[1]), Path(sys.argv[2])
out.mkdir(parents=True, exist_ok=True)
cfg = TrainConfig.load(Path(__file__).resolve().parent.parent / "jdfd" / "configs" / "tiny_stage1.json")
cfg.steps = 3
tr = Trainer(cfg, out / "run", PairDataset(data_dir / "sketches", None, 64))
assert jt.in_mpi, "not started under mpirun"
tr.fit()
rows = tr.data.batch(0, cfg.batch_size, tr.rank, tr.world)["rows"].tolist()
np.savez(out / f"rank{tr.rank}.npz", **tr.state())
(out / f"rank{tr.rank}.json").write_text(json.dumps({"world": tr.world, "step": tr.step, "rows": rows}))
