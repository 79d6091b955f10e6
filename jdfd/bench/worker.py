"""One framework's measurements, in a process of its own: ``python -m jdfd.bench.worker SPEC.json OUT.json``.

A fresh process per framework keeps the frameworks from sharing thread pools,
allocators or caches, and makes ``ru_maxrss`` (the resident-set high-water mark)
that framework's own peak memory. The spec says what to run; the result is JSON.

Frameworks: ``jittor`` (jdfd's own inference code, ``DeepFaceDrawing``),
``jittor-fast`` (:mod:`jdfd.bench.fast`), ``jittor-nodnnl`` (Jittor with oneDNN off,
set by the parent through ``use_mkl=0``), ``torch`` (eager), ``torch-compile`` (its default
mode) and ``torch-compile-max`` (``mode="max-autotune"``, its strongest CPU setting).
"""

from __future__ import annotations

import gc
import json
import os
import platform
import resource
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from jdfd.bench import workload
from jdfd.config import PARTS, ModelConfig

JITTOR_FRAMEWORKS = ("jittor", "jittor-fast", "jittor-nodnnl")
# torch.compile's mode for each PyTorch framework (None: eager)
COMPILE_MODES: dict[str, str | None] = {"torch": None, "torch-compile": "default",
                                        "torch-compile-max": "max-autotune"}
TORCH_FRAMEWORKS = tuple(COMPILE_MODES)
FRAMEWORKS = JITTOR_FRAMEWORKS + TORCH_FRAMEWORKS


def peak_rss_mb() -> float:
    """This process's resident-set high-water mark (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _clock(fn: Callable[[Any], Any], arg: Any) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn(arg)
    return time.perf_counter() - t0, out


# ---------------------------------------------------------------------------- Jittor
class JittorBackend:
    """jdfd's real inference code (or the fast path), timed stage by stage."""

    def __init__(self, cfg: ModelConfig, device: str, fast: bool):
        from jdfd import runtime  # noqa: PLC0415

        self.jt = runtime.jittor(device)
        self.cfg, self.device, self.fast = cfg, device, fast
        self.info = {"jittor": self.jt.__version__, "onednn": runtime.dnnl_active() if device == "cpu" else None,
                     "use_cuda": int(self.jt.flags.use_cuda)}

    def build(self, banks: dict) -> None:
        from jdfd.fast import FastDFD  # noqa: PLC0415
        from jdfd.model import DFDNetworks  # noqa: PLC0415
        from jdfd.pipeline import DeepFaceDrawing  # noqa: PLC0415
        from jdfd.weights.strict import load_strict  # noqa: PLC0415

        nets = DFDNetworks(self.cfg)
        load_strict(nets, workload.synthetic_state(_shapes(nets)), "synthetic weights")
        # `jittor` times the networks' own execute(), jdfd before its kernels; `jittor-fast` jdfd's default path
        self.model = DeepFaceDrawing(self.cfg, nets, {"bench": banks}, "bench", fast=False)
        self.nets = nets
        self.engine = FastDFD(nets) if self.fast else None
        if self.engine is not None:
            self.info["kernels"] = self.engine.kernels

    # inference stages: numpy in, numpy out (the host copy is part of every stage)
    def encoders(self, crops: dict) -> dict:
        if self.engine is not None:
            return self.engine.encode_crops(crops)
        jt = self.jt
        with jt.no_grad():
            return {p: v.numpy() for p, v in self.nets.encode({p: jt.array(c) for p, c in crops.items()}).items()}

    def encoder(self, part: str) -> Callable:
        jt = self.jt

        def run(x: np.ndarray) -> np.ndarray:
            with jt.no_grad():
                return self.nets.encoders[part](jt.array(x)).numpy()
        return run

    def fm_decoder(self, part: str) -> Callable:
        jt = self.jt

        def run(z: np.ndarray) -> np.ndarray:
            with jt.no_grad():
                return self.nets.fm.decoder(part)(jt.array(z)).numpy()
        return run

    def fm(self, codes: dict) -> np.ndarray:
        if self.engine is not None:
            return self.engine.feature_map(codes)
        jt = self.jt
        with jt.no_grad():
            return self.nets.fm({p: jt.array(v) for p, v in codes.items()}).numpy()

    def generator(self, fmap: np.ndarray) -> np.ndarray:
        if self.engine is not None:
            return self.engine.generator(fmap)
        jt = self.jt
        with jt.no_grad():
            return self.nets.G(jt.array(fmap)).numpy()

    def end_to_end(self, sketches: np.ndarray) -> np.ndarray:
        if self.engine is not None:
            return self.engine.faces(sketches, lambda codes: self.model.project(codes)[0])
        codes, _ = self.model.project(self.model.encode(sketches))
        return self.model.synthesize(codes)

    # training: jdfd's own Trainer, perceptual loss off unless asked for (--perceptual)
    def trainer(self, stage: str, batch_size: int, kernels: bool = True,
                perceptual: bool = False) -> Callable[[dict], dict]:
        """``perceptual``: with the VGG16 perceptual loss as real runs have it (random weights: same time)."""
        from jdfd.training.perceptual import PerceptualLoss, VGG16Features  # noqa: PLC0415
        from jdfd.training.trainer import TrainConfig, Trainer  # noqa: PLC0415
        from jdfd.weights.strict import load_strict  # noqa: PLC0415

        tc = TrainConfig(stage=stage, model=self.cfg.to_dict(), batch_size=batch_size, perceptual=perceptual,
                         steps=10**6, kernels=kernels)
        vgg = None
        if perceptual and stage != "stage1":  # synthetic weights, the same as the twin's
            net = VGG16Features()
            load_strict(net, workload.synthetic_state(_shapes(net), seed=2), "synthetic VGG16 weights")
            vgg = PerceptualLoss(net)
        # the run folder is only written by fit(), which is never called here
        tr = Trainer(tc, Path(tempfile.gettempdir()) / "jdfd-bench-run", None, perceptual=vgg)
        load_strict(tr.nets, workload.synthetic_state(_shapes(tr.nets)), "synthetic weights")
        if tr.D is not None:
            load_strict(tr.D, workload.synthetic_state(_shapes(tr.D), seed=1), "synthetic D weights")
        return tr.train_step

    @staticmethod
    def step_parts(step: Callable) -> Callable[[dict], tuple[dict, dict]]:
        """``step``'s Trainer, synchronised after each part → (losses, {part: seconds})."""
        return lambda batch: jittor_step_parts(step.__self__, batch)

    def settle(self) -> None:
        pass

    def gpu_peak_mb(self) -> float | None:
        return None  # Jittor keeps no peak counter; the report says so

    def release(self) -> None:
        gc.collect()
        self.jt.gc()


def _grads_and_state(opt) -> tuple[list, list]:
    """An optimiser's gradients, and its parameters with their moments (what its step writes)."""
    grads = [g for pg in opt.param_groups for g in pg.get("grads", [])]
    state = [v for pg in opt.param_groups for k in ("params", "m", "values") for v in pg.get(k, [])]
    return grads, state


def jittor_step_parts(tr, batch: dict) -> tuple[dict[str, float], dict[str, float]]:
    """:meth:`Trainer.train_step`, part by part, each part synchronised before the clock reads.

    Jittor runs lazily, so a plain step's work lands wherever the graph is next synchronised;
    here every part is forced to finish before the next starts (the sum is a little above the
    plain step's time). Same calls as ``train_step``: the optimisers' ``step`` is split into
    ``backward`` (gradients) and ``step()`` (the Adam update).
    """
    from jdfd.runtime import jittor  # noqa: PLC0415

    jt = jittor()
    parts: dict[str, float] = {}
    clock = [time.perf_counter()]

    def done(name: str, vars_: list) -> None:
        jt.sync(vars_)
        now = time.perf_counter()
        parts[name] = now - clock[0]
        clock[0] = now

    def update(opt, loss, prefix: str) -> None:
        opt.backward(loss)
        done(f"{prefix}backward", _grads_and_state(opt)[0])
        opt.step()
        done(f"{prefix}optimizer", _grads_and_state(opt)[1])

    f = tr._lr_factor(tr.step)
    if tr.cfg.stage == "stage1":
        tr.opt_g.lr = tr.cfg.lr * f
        out = tr.stage1_losses(batch)
        done("forward", list(out.values()))
        update(tr.opt_g, out["loss"], "")
    else:
        tr.opt_g.lr, tr.opt_d.lr = tr.cfg.lr * f, tr.cfg.lr_d * f
        sketch, fake, real = tr._stage2_forward(batch)
        done("G_forward", [fake])
        d = tr.d_losses(sketch, fake, real)
        pred_real = [[t.detach() for t in scale] for scale in d.pop("_pred_real")]
        done("D_forward", list(d.values()) + [t for s in pred_real for t in s])
        update(tr.opt_d, d["loss_d"], "D_")
        g = tr.g_losses(sketch, fake, real, pred_real, perceptual=False)
        done("G_loss_forward", list(g.values()))
        if tr.perceptual is not None and tr.cfg.lambda_vgg > 0:
            g["g_vgg"] = tr.perceptual_loss(fake, real)
            g["loss_g"] = g["loss_g"] + tr.cfg.lambda_vgg * g["g_vgg"]
            done("VGG_forward", [g["loss_g"]])
        update(tr.opt_g, g["loss_g"], "G_")
        out = {**d, **g}
    tr.step += 1
    return {k: float(v.item()) for k, v in out.items() if not k.startswith("_")}, parts


def _shapes(module) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in module.state_dict().items()}


# ---------------------------------------------------------------------------- PyTorch
class TorchBackend:
    """The PyTorch twin, eager (``compile_mode=None``) or through ``torch.compile`` in that mode,
    each network compiled on its own."""

    def __init__(self, cfg: ModelConfig, device: str, compile_mode: str | None):
        import torch  # noqa: PLC0415

        self.torch = torch
        self.cfg, self.compile = cfg, compile_mode
        self.dev = torch.device(device)
        self.info = {"torch": torch.__version__, "threads": torch.get_num_threads(),
                     "mkldnn": bool(torch.backends.mkldnn.is_available())}
        if device == "cuda":
            self.info["gpu"] = torch.cuda.get_device_name(0)

    def _c(self, fn: Callable) -> Callable:
        from jdfd.bench.torch_train import compiler  # noqa: PLC0415

        return compiler(self.compile)(fn)

    def build(self, banks: dict) -> None:
        from jdfd.bench.torch_twin import TwinNetworks, assemble  # noqa: PLC0415
        from jdfd.bench.transfer import load_torch  # noqa: PLC0415

        nets = TwinNetworks(self.cfg)
        load_torch(nets, workload.synthetic_state(_shapes(nets)), "synthetic weights")
        self.nets = nets.to(self.dev).eval()
        self.banks = banks
        self.assemble = assemble
        self.enc = {p: self._c(nets.encoders[p]) for p in PARTS}
        self.dec = {p: self._c(nets.fm.decoder(p)) for p in PARTS}
        self.G = self._c(nets.G)

    def _in(self, a: np.ndarray):
        return self.torch.from_numpy(np.ascontiguousarray(a)).to(self.dev)

    @staticmethod
    def _out(t) -> np.ndarray:
        return t.detach().cpu().numpy()

    def encoders(self, crops: dict) -> dict:
        with self.torch.no_grad():
            return {p: self._out(self.enc[p](self._in(crops[p]))) for p in PARTS}

    def encoder(self, part: str) -> Callable:
        def run(x: np.ndarray) -> np.ndarray:
            with self.torch.no_grad():
                return self._out(self.enc[part](self._in(x)))
        return run

    def fm_decoder(self, part: str) -> Callable:
        def run(z: np.ndarray) -> np.ndarray:
            with self.torch.no_grad():
                return self._out(self.dec[part](self._in(z)))
        return run

    def _fm(self, codes: dict):
        return self.assemble({p: self.dec[p](self._in(np.asarray(codes[p], np.float32))) for p in PARTS},
                             self.nets.fm.boxes, self.nets.fm.nose_crop)

    def fm(self, codes: dict) -> np.ndarray:
        with self.torch.no_grad():
            return self._out(self._fm(codes))

    def generator(self, fmap: np.ndarray) -> np.ndarray:
        with self.torch.no_grad():
            return self._out(self.G(self._in(fmap)))

    def end_to_end(self, sketches: np.ndarray) -> np.ndarray:
        codes = workload.project_codes(self.encoders(workload.crops_of(sketches, self.cfg)), self.banks)
        with self.torch.no_grad():
            return workload.to_uint8_rgb(self._out(self.G(self._fm(codes))))

    def trainer(self, stage: str, batch_size: int, perceptual: bool = False) -> Callable[[dict], dict]:
        from jdfd.bench.torch_train import TorchTrainer  # noqa: PLC0415

        return TorchTrainer(self.cfg, stage, self.dev, self.compile, perceptual).step

    @staticmethod
    def step_parts(step: Callable) -> Callable[[dict], tuple[dict, dict]]:
        """``step``'s trainer, clocked part by part → (losses, {part: seconds})."""
        return step.__self__.step_parts

    def gpu_peak_mb(self) -> float | None:
        if self.dev.type != "cuda":
            return None
        return self.torch.cuda.max_memory_allocated(self.dev) / 2**20

    def settle(self) -> None:
        """After warm-up: stop torch.compile's compile-worker processes, which otherwise keep taking CPU time."""
        if self.compile:
            try:
                from torch._inductor.async_compile import shutdown_compile_workers  # noqa: PLC0415

                shutdown_compile_workers()
            except (ImportError, AttributeError):
                pass

    def release(self) -> None:
        gc.collect()


# ---------------------------------------------------------------------------- the measurements
def run_infer(backend, cfg: ModelConfig, spec: dict) -> dict:
    out: dict[str, Any] = {}
    for b in spec["batches"]:
        sketches = workload.synthetic_sketches(b, cfg.image_size, spec.get("seed", 0))
        crops = workload.crops_of(sketches, cfg)
        first: dict[str, float] = {}
        first["end_to_end"], faces = _clock(backend.end_to_end, sketches)  # cold: includes compilation
        calls: dict[str, tuple[Callable, Any]] = {}
        if spec.get("stages", True):
            first["encoders"], codes = _clock(backend.encoders, crops)
            first["projection"], pcodes = _clock(lambda c: workload.project_codes(c, backend.banks), codes)
            first["fm"], fmap = _clock(backend.fm, pcodes)
            first["generator"], _ = _clock(backend.generator, fmap)
            calls = {"encoders": (backend.encoders, crops),
                     "projection": (lambda c: workload.project_codes(c, backend.banks), codes),
                     "fm": (backend.fm, pcodes), "generator": (backend.generator, fmap)}
            if spec.get("parts"):
                for p in PARTS:
                    for name, fn, arg in ((f"encoder.{p}", backend.encoder(p), crops[p]),
                                          (f"fm_decoder.{p}", backend.fm_decoder(p), pcodes[p])):
                        first[name], _ = _clock(fn, arg)
                        calls[name] = (fn, arg)
        calls["end_to_end"] = (backend.end_to_end, sketches)
        for _ in range(spec.get("warmup", 1)):
            for fn, arg in calls.values():
                fn(arg)
        backend.settle()
        times: dict[str, list[float]] = {k: [] for k in calls}
        for _ in range(spec["reps"]):
            for name, (fn, arg) in calls.items():
                times[name].append(_clock(fn, arg)[0])
        if spec.get("save_dir"):
            np.save(Path(spec["save_dir"]) / f"faces_b{b}.npy", faces)
        out[str(b)] = {"first_s": first, "times_s": times, "peak_rss_mb": peak_rss_mb(),
                       "gpu_peak_mb": backend.gpu_peak_mb()}
    return out


def run_train(backend, cfg: ModelConfig, spec: dict) -> dict:
    out: dict[str, Any] = {}
    for b in spec["batches"]:
        batch = {"sketch": workload.synthetic_sketches(b, cfg.image_size, spec.get("seed", 0)),
                 "photo": workload.synthetic_photos(b, cfg.image_size, spec.get("seed", 0))}
        res: dict[str, Any] = {"first_s": {}, "times_s": {}, "setup_s": {}, "losses": {}, "peak_rss_mb": {}}
        for stage in ("stage1", "stage2"):
            name = f"train_{stage}"
            t0 = time.perf_counter()
            step = backend.trainer(stage, b, perceptual=spec.get("perceptual", False))
            res["setup_s"][name] = time.perf_counter() - t0
            res["first_s"][name], losses = _clock(step, batch)
            for _ in range(spec.get("warmup", 1)):
                step(batch)
            backend.settle()
            ts = []
            for _ in range(spec["reps"]):
                dt, losses = _clock(step, batch)
                ts.append(dt)
            res["times_s"][name] = ts
            res["losses"][name] = {k: float(v) for k, v in losses.items()}
            # then the same number of steps clocked part by part (G, D, optimisers: where the time goes)
            # (Jittor compiles other fused kernels when synchronised part by part: a first call, warm-up)
            parts_step = backend.step_parts(step)
            for part, dt in parts_step(batch)[1].items():
                res["first_s"][f"{name}.{part}"] = dt
            for _ in range(spec.get("warmup", 1)):
                parts_step(batch)
            for _ in range(spec["reps"]):
                for part, dt in parts_step(batch)[1].items():
                    res["times_s"].setdefault(f"{name}.{part}", []).append(dt)
            res["peak_rss_mb"][name] = peak_rss_mb()
            for key in res["times_s"]:
                res["peak_rss_mb"].setdefault(key, res["peak_rss_mb"][name])
            res.setdefault("gpu_peak_mb", {})[name] = backend.gpu_peak_mb()
            del step, parts_step
            backend.release()
        out[str(b)] = res
    return out


def run_spec(spec: dict) -> dict:
    t0 = time.perf_counter()
    fw = spec["framework"]
    cfg = ModelConfig.from_dict(spec["config"])
    device = spec.get("device", "cpu")
    if fw in JITTOR_FRAMEWORKS:
        backend: Any = JittorBackend(cfg, device, fast=fw == "jittor-fast")
    elif fw in TORCH_FRAMEWORKS:
        backend = TorchBackend(cfg, device, compile_mode=COMPILE_MODES[fw])
    else:
        raise ValueError(f"unknown framework {fw!r} (one of {', '.join(FRAMEWORKS)})")
    result: dict[str, Any] = {"framework": fw, "config": cfg.name, "mode": spec["mode"], "device": device,
                              "info": {**backend.info, "numpy": np.__version__, "python": platform.python_version(),
                                       "omp_num_threads": os.environ.get("OMP_NUM_THREADS")},
                              "import_s": time.perf_counter() - t0}
    banks = workload.synthetic_banks(cfg, spec.get("bank_size", 2000), spec.get("seed", 0))
    backend.banks = banks
    if spec["mode"] == "infer":
        t1 = time.perf_counter()
        backend.build(banks)
        result["build_s"] = time.perf_counter() - t1
        result["info"].update(backend.info)  # build() adds what it chose (jittor-fast: which kernels)
        result["batches"] = run_infer(backend, cfg, spec)
    elif spec["mode"] == "train":
        result["batches"] = run_train(backend, cfg, spec)
    else:
        raise ValueError(f"unknown mode {spec['mode']!r}")
    result["peak_rss_mb"] = peak_rss_mb()
    result["wall_s"] = time.perf_counter() - t0
    return result


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m jdfd.bench.worker SPEC.json OUT.json", file=sys.stderr)
        return 2
    spec = json.loads(Path(args[0]).read_text())
    try:
        result = run_spec(spec)
        rc = 0
    except Exception as e:  # noqa: BLE001  (the parent records the failure and goes on)
        result = {"framework": spec.get("framework"), "mode": spec.get("mode"),
                  "error": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc(limit=20),
                  "peak_rss_mb": peak_rss_mb()}
        rc = 1
    Path(args[1]).write_text(json.dumps(result, indent=1) + "\n")
    return rc


if __name__ == "__main__":
    sys.exit(main())
