"""Stage I and stage II training: one resumable loop with snapshots, logs, plots and samples.

Run folder::

    RUN/train_config.json     what was asked (TrainConfig, with the model config inside)
    RUN/checkpoint.safetensors networks, discriminator, optimiser moments, step (atomic)
    RUN/log.jsonl             one line per logged step: every loss, images/s
    RUN/plots/losses.png      loss curves, redrawn at every snapshot
    RUN/samples/step_NNNNNN.png  sample grids
    RUN/val.jsonl             stage I: validation reconstruction MSE at each snapshot (plots/val.png)
    RUN/export/               the result in jdfd's pretrained format

Data parallel: under ``mpirun -np N`` every rank takes its own share of each global
batch, Jittor's optimisers average gradients across ranks, and rank 0 alone writes.
Every collective must run on every rank in the same order, so each step ends with all
of its lazy work executed (see :meth:`Trainer.train_step`), and a watchdog process
stops the job if a rank waits on the others far longer than a step takes.
"""

from __future__ import annotations

import dataclasses
import json
import math
import sys
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np

from jdfd import components
from jdfd.baseline import BaselineNetworks, SketchBaseline, sketch_input
from jdfd.config import PARTS, ModelConfig, get_config
from jdfd.model import DFDNetworks
from jdfd.networks import define_D
from jdfd.pipeline import DeepFaceDrawing
from jdfd.progress import Progress
from jdfd.runtime import jittor
from jdfd.tracking import Tracker
from jdfd.training import losses
from jdfd.training.data import AugmentConfig, PairDataset
from jdfd.training.optim import adam
from jdfd.training.watchdog import Watchdog
from jdfd.weights import tensorfile
from jdfd.weights.strict import load_strict, state_numpy

jt = jittor()

CHECKPOINT = "checkpoint.safetensors"
#: ``touch RUN_DIR/STOP``: every rank stops after its current step, the run writes its checkpoint and
#: exits (the file is removed); ``--resume`` goes on from there. For ending a long run at a set time.
STOP_FILE = "STOP"
STAGES = ("stage1", "stage2", "baseline")


@dataclass
class TrainConfig:
    stage: str = "stage1"  # stage1: CE autoencoders; stage2: FM + IS against D; baseline: sketch → G directly
    model: str | dict = "compact"  # preset name or a ModelConfig dict
    steps: int = 2000
    batch_size: int = 4
    lr: float = 2e-4
    lr_d: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    decay_from: float = 0.5  # fraction of steps after which the learning rate falls linearly to 0
    lambda_gan: float = 1.0
    lambda_feat: float = 10.0
    lambda_l1: float = 10.0
    lambda_vgg: float = 0.17  # Caffe-scale VGG features are ~58× pix2pixHD's: 10/58
    perceptual: bool = True
    perceptual_size: int = 256  # images are resized to this before VGG (saves CPU time)
    log_every: int = 10
    snapshot_every: int = 250
    num_samples: int = 4
    val_count: int = 100  # stage I: validation sketches whose reconstruction is measured at each snapshot
    seed: int = 0
    # every network on jdfd's oneDNN kernels (jdfd.kernels.training): stage I steps 0.74x, stage II (with
    # the perceptual loss) 0.63x; where the kernels do not load (CUDA, no oneDNN) Jittor's own layers run,
    # with one warning
    kernels: bool = True
    augment: AugmentConfig = field(default_factory=AugmentConfig)

    def model_config(self) -> ModelConfig:
        return ModelConfig.from_dict(self.model) if isinstance(self.model, dict) else get_config(self.model)

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["model"] = self.model_config().to_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        d = dict(d)
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown training config keys: {sorted(unknown)}")
        if isinstance(d.get("augment"), dict):
            d["augment"] = AugmentConfig(**d["augment"])
        cfg = cls(**d)
        if cfg.stage not in STAGES:
            raise ValueError(f"stage must be one of {', '.join(STAGES)}, not {cfg.stage!r}")
        return cfg

    @classmethod
    def load(cls, path: str | Path) -> TrainConfig:
        return cls.from_dict(json.loads(Path(path).read_text()))


def mpi_rank_world() -> tuple[int, int]:
    if jt.in_mpi:
        return int(jt.rank), int(jt.world_size)
    return 0, 1


def mpi_barrier() -> None:
    """Wait until every rank gets here (a one-number all-reduce; nothing when alone)."""
    if jt.in_mpi:
        jt.array(np.ones(1, np.float32)).mpi_all_reduce("add").sync()


# ---------------------------------------------------------------------------- optimiser state
def _adam_state(opt, prefix: str) -> dict[str, np.ndarray]:
    out = {}
    for gi, pg in enumerate(opt.param_groups):
        for i, (m, v) in enumerate(zip(pg["m"], pg["values"])):
            out[f"{prefix}.{gi}.{i}.m"] = m.numpy()
            out[f"{prefix}.{gi}.{i}.v"] = v.numpy()
    return out


def _load_adam_state(opt, state: dict[str, np.ndarray], prefix: str, n_step: int) -> None:
    for gi, pg in enumerate(opt.param_groups):
        for i, (m, v) in enumerate(zip(pg["m"], pg["values"])):
            m.update(state[f"{prefix}.{gi}.{i}.m"])
            v.update(state[f"{prefix}.{gi}.{i}.v"])
        jt.sync(list(pg["m"]) + list(pg["values"]))  # materialise (see weights.strict.load_strict)
    opt.n_step = n_step


def fingerprints(state: dict[str, np.ndarray], keys: list[str]) -> np.ndarray:
    """len(keys)×2 float64: each tensor's sum and sum of squares (equal states give equal bits)."""
    return np.array([[np.sum(state[k], dtype=np.float64), np.sum(np.square(state[k], dtype=np.float64))]
                     for k in keys], np.float64).reshape(len(keys), 2)


def _local_batchnorm(module) -> None:
    """Under MPI, BatchNorm uses each rank's own batch statistics (as PyTorch's DDP does).

    Jittor's BatchNorm syncs its statistics with all-reduces that, unlike the optimiser's
    gradient all-reduces, are not chained into one order: with several layers the ranks
    can pair one layer's all-reduce with another's (we measured gradients 10-25 % off one
    process with the global batch), or wait on each other forever. Only the gradient
    all-reduces remain, and those Jittor orders.
    """
    for m in module.modules():
        if isinstance(m, jt.nn.BatchNorm):
            m.sync = False


def _training_runner(cfg: TrainConfig):
    """jdfd's blocked-layout training path (every network of the step), or None (Jittor's own layers)."""
    if not cfg.kernels:
        return None
    from jdfd import kernels  # noqa: PLC0415
    from jdfd.kernels.training import TrainingRunner  # noqa: PLC0415

    lib = kernels.load()
    if lib is None:
        if not _warned:
            _warned.append(True)
            print(f"WARNING: training on Jittor's own layers: {kernels.unavailable_reason()}", file=sys.stderr)
        return None
    return TrainingRunner(lib)


_warned: list = []  # the fallback warning is printed once per process

#: The watchdog allows a process's first step this many times its limit (``JDFD_HANG_TIMEOUT``).
FIRST_STEP_FACTOR = 4


def _params(*modules) -> list:
    return [p for m in modules for p in m.parameters()]


# ---------------------------------------------------------------------------- the trainer
class Trainer:
    def __init__(self, cfg: TrainConfig, run_dir: str | Path, data: PairDataset | None, init: str | Path | None = None,
                 val: PairDataset | None = None, perceptual=None):
        self.cfg = cfg
        self.mcfg = cfg.model_config()
        self.run = Path(run_dir)
        self.data = data
        self.val = val or data
        self.rank, self.world = mpi_rank_world()
        self.tracker: Tracker = Tracker()  # W&B when asked for (jdfd.tracking.for_training); rank 0 only
        self.step = 0
        self.banks = {}
        self.default_gender = None
        jt.set_global_seed(cfg.seed)
        self.nets = BaselineNetworks(self.mcfg) if cfg.stage == "baseline" else DFDNetworks(self.mcfg)
        if self.world > 1:
            _local_batchnorm(self.nets)
        self._initialised = init is not None or cfg.stage == "baseline"  # only stage II needs an init model
        if init is not None:
            self._load_init(Path(init))
        self.boxes = self.mcfg.boxes()
        self.runner = _training_runner(cfg)
        ops = self.runner.kernels.ops if self.runner else None  # the fused Adam runs beside the kernels
        if cfg.stage == "stage1":
            self.trainable = [self.nets.encoders, self.nets.image_decoders]
            self.opt_g = adam(_params(*self.trainable), cfg.lr, (cfg.beta1, cfg.beta2), ops)
            self.D = None
        else:
            if data is not None and not data.has_photos:
                raise ValueError(f"{cfg.stage} needs photos beside the sketches (--photos)")
            if cfg.stage == "baseline":
                self.trainable = [self.nets.G]
            else:
                # CE is frozen: no gradients, and BatchNorm keeps its stage-I statistics
                for p in _params(self.nets.encoders, self.nets.image_decoders):
                    p.stop_grad()
                self.trainable = [self.nets.fm, self.nets.G]
            self.D = define_D(self.mcfg)
            self.opt_g = adam(_params(*self.trainable), cfg.lr, (cfg.beta1, cfg.beta2), ops)
            self.opt_d = adam(_params(self.D), cfg.lr_d, (cfg.beta1, cfg.beta2), ops)
            self.perceptual = perceptual
        self._broadcast()
        self._set_modes()

    def _load_init(self, init: Path) -> None:
        """Take the CE (encoders, stage-I decoders) and banks of a stage-I model.

        In stage I the FM and IS networks are never trained, so only CE must match:
        stage II may use a different generator or discriminator width.
        """
        src = DeepFaceDrawing.from_pretrained(init)
        ce_fields = ("image_size", "latent_dim", "latent_dims", "encoder_channels", "image_decoder_channels")
        diff = [f for f in ce_fields if getattr(src.cfg, f) != getattr(self.mcfg, f)]
        if diff:
            raise ValueError(f"{init}: its component embedding differs from this run's model in {', '.join(diff)}")
        for group in ("encoders", "image_decoders"):
            load_strict(getattr(self.nets, group), state_numpy(getattr(src.nets, group)), f"{init} ({group})")
        self.banks, self.default_gender = src.banks, src.default_gender

    def _broadcast(self) -> None:
        """Under MPI every rank starts from rank 0's weights, the untrained ones included."""
        if not jt.in_mpi:
            return
        modules = [self.nets] + ([self.D] if self.D is not None else [])
        for m in modules:
            for v in m.state_dict().values():
                v.update(v.mpi_broadcast(0))
        jt.sync_all()

    def _set_modes(self) -> None:
        self.nets.train()
        if self.cfg.stage == "stage2":
            self.nets.encoders.eval()
            self.nets.image_decoders.eval()
        if self.D is not None:
            self.D.train()

    @classmethod
    def for_export(cls, cfg: TrainConfig, run_dir: str | Path) -> Trainer:
        """A trainer without data, to load a checkpoint and export it."""
        return cls(cfg, run_dir, None)

    # ------------------------------------------------------------------ one step
    def _inputs(self, batch: dict):
        crops = components.crop_components(batch["sketch"], self.boxes)
        x = {p: jt.array(components.normalise(c)[:, None]) for p, c in crops.items()}
        return x

    def _lr_factor(self, step: int) -> float:
        start = int(self.cfg.decay_from * self.cfg.steps)
        if step < start or self.cfg.steps <= start:
            return 1.0
        return max(0.0, 1.0 - (step - start) / (self.cfg.steps - start))

    def stage1_losses(self, batch: dict) -> dict:
        x = self._inputs(batch)
        out = {}
        for p in PARTS:
            enc, dec = self.nets.encoders[p], self.nets.image_decoders[p]
            rec = self.runner.decoder(dec, self.runner.encoder(enc, x[p])) if self.runner else dec(enc(x[p]))
            out[f"mse_{p}"] = losses.mse(rec, x[p])
        out["loss"] = sum(out[f"mse_{p}"] for p in PARTS)
        return out

    def _stage2_forward(self, batch: dict):
        sketch = sketch_input(batch["sketch"])
        r = self.runner
        if self.cfg.stage == "baseline":
            fake = r.generator(self.nets.G, sketch, plain_input=True) if r else self.nets.G(sketch)
            return sketch, fake, jt.array(batch["photo"])
        x = self._inputs(batch)
        with jt.no_grad():
            codes = {p: c.detach() for p, c in self.nets.encode(x, r).items()}
        fake = self.nets.synthesize(codes, r)
        real = jt.array(batch["photo"])
        return sketch, fake, real

    def _D(self, x) -> list[list]:
        return self.runner.discriminator(self.D, x) if self.runner else self.D(x)

    def d_losses(self, sketch, fake, real) -> dict:
        pred_fake = self._D(jt.concat([sketch, fake.detach()], 1))
        pred_real = self._D(jt.concat([sketch, real], 1))
        d_fake, d_real = losses.lsgan(pred_fake, False), losses.lsgan(pred_real, True)
        return {"d_fake": d_fake, "d_real": d_real, "loss_d": 0.5 * (d_fake + d_real), "_pred_real": pred_real}

    def g_losses(self, sketch, fake, real, pred_real, perceptual: bool = True) -> dict:
        """G's losses; ``perceptual=False`` leaves the VGG term out (``jdfd bench`` clocks it on its own)."""
        c = self.cfg
        pred_fake = self._D(jt.concat([sketch, fake], 1))
        out = {"g_gan": losses.lsgan(pred_fake, True),
               "g_feat": losses.feature_matching(pred_fake, pred_real, self.mcfg.n_layers_d),
               "g_l1": losses.l1(fake, real)}
        total = c.lambda_gan * out["g_gan"] + c.lambda_feat * out["g_feat"] + c.lambda_l1 * out["g_l1"]
        if perceptual and self.perceptual is not None and c.lambda_vgg > 0:
            out["g_vgg"] = self.perceptual_loss(fake, real)
            total = total + c.lambda_vgg * out["g_vgg"]
        out["loss_g"] = total
        return out

    def perceptual_loss(self, fake, real):
        """The VGG16 loss at ``perceptual_size``, on the kernels when the step runs on them."""
        size = self.cfg.perceptual_size
        if size and size < fake.shape[-1]:
            fake = jt.nn.interpolate(fake, size=(size, size), mode="bilinear")
            real = jt.nn.interpolate(real, size=(size, size), mode="bilinear")
        features = partial(self.runner.vgg, self.perceptual.vgg) if self.runner else None
        return self.perceptual(fake, real, features)

    def train_step(self, batch: dict) -> dict[str, float]:
        f = self._lr_factor(self.step)
        if self.cfg.stage == "stage1":
            self.opt_g.lr = self.cfg.lr * f
            out = self.stage1_losses(batch)
            self.opt_g.step(out["loss"])
        else:
            self.opt_g.lr, self.opt_d.lr = self.cfg.lr * f, self.cfg.lr_d * f
            sketch, fake, real = self._stage2_forward(batch)
            d = self.d_losses(sketch, fake, real)
            pred_real = [[t.detach() for t in scale] for scale in d.pop("_pred_real")]
            jt.sync([fake] + [t for s in pred_real for t in s])
            self.opt_d.step(d["loss_d"])
            g = self.g_losses(sketch, fake, real, pred_real)
            self.opt_g.step(g["loss_g"])
            out = {**d, **g}
        # Jittor's optimisers leave the parameter update, and with it the gradient all-reduce,
        # pending until the next step needs the parameters. Run it now, on every rank: otherwise
        # rank 0 alone would run the last step's all-reduce when it saves, and wait forever for
        # ranks that have already left.
        jt.sync_all()
        self.step += 1
        return {k: float(v.item()) for k, v in out.items() if not k.startswith("_")}

    def eval_losses(self, batch: dict) -> dict[str, float]:
        """The losses on a batch without updating anything (for tests and monitoring)."""
        with jt.no_grad():
            if self.cfg.stage == "stage1":
                out = self.stage1_losses(batch)
            else:
                sketch, fake, real = self._stage2_forward(batch)
                d = self.d_losses(sketch, fake, real)
                out = {**d, **self.g_losses(sketch, fake, real, d.pop("_pred_real"))}
        return {k: float(v.item()) for k, v in out.items() if not k.startswith("_")}

    # ------------------------------------------------------------------ checkpoints
    def state(self) -> dict[str, np.ndarray]:
        s = {f"nets.{k}": v for k, v in state_numpy(self.nets).items()}
        s.update(_adam_state(self.opt_g, "opt_g"))
        if self.D is not None:
            s.update({f"D.{k}": v for k, v in state_numpy(self.D).items()})
            s.update(_adam_state(self.opt_d, "opt_d"))
        return s

    def save_checkpoint(self) -> Path | None:
        if self.rank != 0:
            return None
        meta = {"step": str(self.step), "opt_g_n_step": str(self.opt_g.n_step),
                "opt_d_n_step": str(self.opt_d.n_step if self.D is not None else 0),
                "train_config": json.dumps(self.cfg.to_dict())}
        banks = {f"bank.{g}.{p}": b.vectors for g, parts in self.banks.items() for p, b in parts.items()}
        if self.default_gender:
            meta["default_gender"] = self.default_gender
        path = self.run / CHECKPOINT
        tensorfile.save(path, {**self.state(), **banks}, meta)  # atomic: temp file + rename
        return path

    def load_checkpoint(self, path: Path | None = None) -> None:
        from jdfd.projection import ComponentBank  # noqa: PLC0415

        state, meta = tensorfile.load(path or self.run / CHECKPOINT)
        saved = json.loads(meta["train_config"])
        if saved["model"] != self.mcfg.to_dict() or saved["stage"] != self.cfg.stage:
            raise ValueError("the checkpoint was written by a run with another model or stage")
        load_strict(self.nets, {k[5:]: v for k, v in state.items() if k.startswith("nets.")}, "checkpoint nets")
        _load_adam_state(self.opt_g, state, "opt_g", int(meta["opt_g_n_step"]))
        if self.D is not None:
            load_strict(self.D, {k[2:]: v for k, v in state.items() if k.startswith("D.")}, "checkpoint D")
            _load_adam_state(self.opt_d, state, "opt_d", int(meta["opt_d_n_step"]))
        banks: dict = {}
        for k, v in state.items():
            if k.startswith("bank."):
                _, g, p = k.split(".", 2)
                banks.setdefault(g, {})[p] = ComponentBank(v)
        self.banks = banks or self.banks
        self.default_gender = meta.get("default_gender", self.default_gender)
        self.step = int(meta["step"])
        self._initialised = True
        if self.cfg.stage == "stage2":
            for p in _params(self.nets.encoders, self.nets.image_decoders):
                p.stop_grad()
        self._set_modes()

    # ------------------------------------------------------------------ outputs
    def export(self, out: Path | None = None, dtype: str = "float32") -> Path:
        if self.cfg.stage == "baseline":
            model = SketchBaseline(self.mcfg, self.nets)
        else:
            model = DeepFaceDrawing(self.mcfg, self.nets, self.banks, self.default_gender)
        path = model.save_pretrained(out or self.run / "export", dtype=dtype,
                                     extra={"trained": {"stage": self.cfg.stage, "steps": self.step}})
        self._set_modes()  # DeepFaceDrawing() switched the networks to eval
        return path

    def sample_grid(self) -> np.ndarray:
        """Rows of (sketch, output, target) for the first validation samples."""
        n = min(self.cfg.num_samples, len(self.val))
        rows = []
        self.nets.eval()
        with jt.no_grad():
            for i in range(n):
                sk = self.val.sketch(i)
                x = self._inputs({"sketch": sk[None]})
                sk_rgb = np.repeat(sk[:, :, None], 3, axis=2)
                if self.cfg.stage == "stage1":
                    recon = np.full(sk.shape, 255, np.uint8)
                    for p in ("remainder", "mouth", "nose", "eye1", "eye2"):
                        xx, yy, s = self.boxes[p]
                        dec = self.nets.image_decoders[p](self.nets.encoders[p](x[p])).numpy()[0, 0]
                        recon[yy:yy + s, xx:xx + s] = np.clip((dec + 1) * 127.5, 0, 255).astype(np.uint8)
                    rows.append([sk_rgb, np.repeat(recon[:, :, None], 3, axis=2)])
                else:
                    if self.cfg.stage == "baseline":
                        fake = self.nets.G(sketch_input(sk[None])).numpy()
                    else:
                        fake = self.nets.synthesize(self.nets.encode(x)).numpy()
                    photo = np.clip((self.val.photo(i) + 1) * 127.5, 0, 255).astype(np.uint8)
                    rows.append([sk_rgb, np.clip((fake[0].transpose(1, 2, 0) + 1) * 127.5, 0, 255).astype(np.uint8),
                                 photo])
        self._set_modes()  # back to training modes (CE stays in eval in stage II)
        return np.concatenate([np.concatenate(r, axis=1) for r in rows], axis=0)

    def val_losses(self) -> dict[str, float]:
        """Stage I: mean reconstruction MSE per part (and summed) over the first ``val_count`` validation sketches.

        Run in eval mode, as the model is used: BatchNorm on its running statistics.
        """
        n = min(len(self.val), self.cfg.val_count)
        sums: dict[str, float] = {}
        self.nets.eval()
        with jt.no_grad():
            for i in range(0, n, self.cfg.batch_size):
                rows = range(i, min(n, i + self.cfg.batch_size))
                out = self.stage1_losses({"sketch": np.stack([self.val.sketch(r) for r in rows])})
                for k, v in out.items():
                    sums[k] = sums.get(k, 0.0) + float(v.item()) * len(rows)
        self._set_modes()
        return {f"val_{k}": v / n for k, v in sums.items()}

    def snapshot(self) -> None:
        if self.rank != 0:
            return
        from PIL import Image  # noqa: PLC0415

        from jdfd.training.plots import plot_losses  # noqa: PLC0415

        checkpoint = self.save_checkpoint()
        (self.run / "samples").mkdir(exist_ok=True)
        grid = self.run / "samples" / f"step_{self.step:06d}.png"
        Image.fromarray(self.sample_grid()).save(grid)
        plot = plot_losses(self.run / "log.jsonl", self.run / "plots" / "losses.png")
        figures = {"samples": grid, "plots/losses": plot}
        if self.cfg.stage == "stage1":  # is the reconstruction of unseen sketches still improving?
            vals = self.val_losses()
            with open(self.run / "val.jsonl", "a") as f:
                f.write(json.dumps({"step": self.step, **vals}) + "\n")
            figures["plots/val"] = plot_losses(self.run / "val.jsonl", self.run / "plots" / "val.png")
            self.tracker.log(vals, self.step)
        self.tracker.log_snapshot(self.step, checkpoint, figures)

    # ------------------------------------------------------------------ the loop
    def fit(self, resume: bool = False, max_steps: int | None = None) -> None:
        """Train to ``cfg.steps`` (or ``max_steps`` more), snapshotting on the way and at the end."""
        self.run.mkdir(parents=True, exist_ok=True)
        log = self.run / "log.jsonl"
        if resume and (self.run / CHECKPOINT).exists():
            self.load_checkpoint()
            if self.rank == 0:
                # drop log lines past the checkpoint: they will be trained again
                for path in (log, self.run / "val.jsonl"):
                    if path.exists():
                        kept = [ln for ln in path.read_text().splitlines()
                                if ln and json.loads(ln)["step"] <= self.step]
                        path.write_text("".join(ln + "\n" for ln in kept))
            self._say(f"resumed {self.run} at step {self.step}")
        elif resume:
            self._say(f"no checkpoint in {self.run}: starting from step 0")
        if self.cfg.stage == "stage2" and not self._initialised:
            raise ValueError("stage 2 starts from a stage-I model: pass --init MODEL_DIR")
        if self.rank == 0:
            (self.run / "train_config.json").write_text(json.dumps(self.cfg.to_dict(), indent=2) + "\n")
        end = self.cfg.steps if max_steps is None else min(self.cfg.steps, self.step + max_steps)
        bar = Progress(end - self.step, f"{self.cfg.stage}", unit="step") if self.rank == 0 else None
        dog = Watchdog(self.rank, self.world)
        t_start, done0 = time.perf_counter(), self.step
        t_last, imgs = time.perf_counter(), 0
        step_times: list[float] = []
        slow_next = True  # the first steps compile, and a step after a snapshot waits for rank 0
        stopped = False
        try:
            while self.step < end:
                # a step waits on the other ranks in its all-reduces: allow far longer than a step takes
                if not step_times:  # Jittor compiles the whole step: on a new machine's cold cache, beside
                    limit = FIRST_STEP_FACTOR * dog.timeout  # other work, that took over 30 min
                elif slow_next:
                    limit = dog.timeout
                else:
                    limit = min(dog.timeout, max(300.0, 50.0 * float(np.median(step_times[-50:]))))
                dog.phase(f"step {self.step + 1} (forward, backward and the all-reduces of every rank)", limit)
                t0 = time.perf_counter()
                batch = self.data.batch(self.step, self.cfg.batch_size, self.rank, self.world)
                vals = self.train_step(batch)
                step_times.append(time.perf_counter() - t0)
                slow_next = len(step_times) < 3
                imgs += self.cfg.batch_size * self.world
                if any(not math.isfinite(v) for v in vals.values()):
                    raise FloatingPointError(f"non-finite loss at step {self.step}: {vals}")
                if self.rank == 0:
                    now = time.perf_counter()
                    if self.step % self.cfg.log_every == 0 or self.step == end:
                        rate = imgs / max(now - t_last, 1e-9)
                        t_last, imgs = now, 0
                        with open(log, "a") as f:
                            f.write(json.dumps({"step": self.step, "time": time.time(), "images_per_s": rate,
                                                "lr": self.opt_g.lr, **vals}) + "\n")
                        self.tracker.log({f"train/{k}": v for k, v in
                                          {"images_per_s": rate, "lr": self.opt_g.lr, **vals}.items()}, self.step)
                    main = vals.get("loss", vals.get("loss_g", 0.0))
                    extra = f" d {vals['loss_d']:.3f}" if "loss_d" in vals else ""
                    ips = (self.step - done0) * self.cfg.batch_size * self.world / max(now - t_start, 1e-9)
                    bar.update(1, f"{ips:.1f} img/s loss {main:.4f}{extra}")
                if self.step % self.cfg.snapshot_every == 0 and self.step < end:
                    dog.phase(f"snapshot at step {self.step}")
                    self.snapshot()  # rank 0 writes; the others wait for it in the next step
                    slow_next = True
                if self._stop_requested():
                    stopped = True
                    break
            # Every rank leaves the loop together, so no rank is still waiting in a collective
            # when the others exit; after this, rank 0 writes alone and runs no collective.
            dog.phase(f"end of run at step {self.step}: waiting for every rank to finish its last step")
            mpi_barrier()
            dog.phase(f"end of run at step {self.step}: checking that every rank holds the same weights")
            self.check_ranks_agree()
            if self.step > done0:
                dog.phase(f"final snapshot at step {self.step}")
                self.snapshot()
        finally:
            dog.close()
            if bar is not None:
                bar.close()
        if stopped:
            if self.rank == 0:
                (self.run / STOP_FILE).unlink(missing_ok=True)
            self._say(f"stopped at step {self.step} ({self.run / STOP_FILE} was found); checkpoint written: "
                      "run again with --resume to go on")
        if self.rank == 0 and self.step >= self.cfg.steps:
            path = self.export()
            self._say(f"finished {self.cfg.steps} steps; model exported to {path}")

    def _stop_requested(self) -> bool:
        """Whether ``RUN_DIR/STOP`` exists, as every rank agrees (rank 0 looks; one small all-reduce
        a step under MPI, so all ranks leave the loop after the same step)."""
        seen = self.rank == 0 and (self.run / STOP_FILE).exists()
        if self.world == 1:
            return seen
        return int(jt.array(np.array([int(seen)], np.int32)).mpi_all_reduce("add").item()) > 0

    def check_ranks_agree(self) -> None:
        """Under MPI, stop with the tensors' names if any rank's weights or Adam state differ from rank 0's.

        Rank 0 alone writes the checkpoint and the export, so a rank that silently drifted (as
        Jittor's synced BatchNorm made them) would go unnoticed. Each rank fingerprints every
        tensor (float64 sum and sum of squares, sent bit for bit); BatchNorm's running statistics
        are each rank's own (see ``_local_batchnorm``) and left out. Two collectives, every rank.
        """
        if self.world == 1:
            return
        state = self.state()
        keys = sorted(k for k in state if not k.endswith(("running_mean", "running_var")))
        mine = fingerprints(state, keys)
        ref = jt.array(mine.view(np.int32)).mpi_broadcast(root=0).numpy().view(np.float64).reshape(mine.shape)
        bad = [k for k, a, b in zip(keys, mine, ref) if not np.array_equal(a, b)]
        n_bad = int(jt.array(np.array([len(bad)], np.int32)).mpi_all_reduce("add").item())
        if n_bad:
            if bad:
                print(f"rank {self.rank} of {self.world}: {len(bad)} of {len(keys)} tensors differ from rank 0's, "
                      f"e.g. {', '.join(bad[:5])}", file=sys.stderr, flush=True)
            raise RuntimeError(f"the {self.world} ranks ended with different weights ({n_bad} tensor(s) in all): "
                               "the data-parallel run is not one model; not exporting it")
        self._say(f"all {self.world} ranks hold the same weights and optimiser state ({len(keys)} tensors)")

    def _say(self, msg: str) -> None:
        if self.rank == 0:
            print(msg, flush=True)
