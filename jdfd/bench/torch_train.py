"""One stage-I or stage-II optimisation step of jdfd's trainer, in PyTorch (for timing).

It does the work of :class:`jdfd.training.trainer.Trainer.train_step`: stage I is the
five autoencoders under summed MSE; stage II runs the frozen encoders, FM and IS against
the multi-scale discriminator with LSGAN, feature matching and L1 (pix2pixHD weights from
``TrainConfig``), and with ``perceptual`` the VGG16 perceptual loss too. Adam as in
the trainer. Gradients are computed for the updated networks only, as Jittor does.
"""

from __future__ import annotations

import time

import numpy as np
import torch
import torch.nn.functional as F

from jdfd import components
from jdfd.bench import workload
from jdfd.bench.torch_twin import TwinNetworks, VGG16Features, assemble, define_D
from jdfd.bench.transfer import load_torch
from jdfd.config import PARTS, ModelConfig
from jdfd.training.vgg16_layers import DEFAULT_LAYER_WEIGHTS

LAMBDA_FEAT = 10.0
LAMBDA_L1 = 10.0
LAMBDA_VGG = 0.17  # TrainConfig.lambda_vgg (tests/test_bench.py compares the losses)
LR, BETAS = 2e-4, (0.5, 0.999)


def _lsgan(preds: list[list[torch.Tensor]], real: bool) -> torch.Tensor:
    target = 1.0 if real else 0.0
    return sum(((s[-1] - target) ** 2).mean() for s in preds) / len(preds)


def _feature_matching(fake: list[list[torch.Tensor]], real: list[list[torch.Tensor]], n_layers: int) -> torch.Tensor:
    w = 4.0 / (n_layers + 1) / len(fake)
    return sum((f - r).abs().mean() * w for fs, rs in zip(fake, real) for f, r in zip(fs[:-1], rs[:-1]))


def compiler(mode: str | None):
    """``torch.compile`` in ``mode`` (each network on its own), or the network as it is where ``mode`` is None."""
    return (lambda m: torch.compile(m, mode=mode)) if mode else (lambda m: m)


class TorchTrainer:
    def __init__(self, cfg: ModelConfig, stage: str, device: torch.device, compile_mode: str | None = None,
                 perceptual: bool = False):
        self.cfg, self.stage, self.dev = cfg, stage, device
        self.vgg = None
        nets = TwinNetworks(cfg)
        load_torch(nets, workload.synthetic_state({k: tuple(v.shape) for k, v in nets.state_dict().items()}))
        self.nets = nets.to(device).train()
        c = compiler(compile_mode)
        self.enc = {p: c(nets.encoders[p]) for p in PARTS}
        if stage == "stage1":
            self.imdec = {p: c(nets.image_decoders[p]) for p in PARTS}
            params = list(nets.encoders.parameters()) + list(nets.image_decoders.parameters())
            self.opt_g = torch.optim.Adam(params, LR, betas=BETAS)
            self.D = None
        elif stage == "stage2":
            for m in (nets.encoders, nets.image_decoders):  # CE frozen, BatchNorm on its running statistics
                m.eval().requires_grad_(False)
            self.dec = {p: c(nets.fm.decoder(p)) for p in PARTS}
            self.G = c(nets.G)
            D = define_D(cfg)
            load_torch(D, workload.synthetic_state({k: tuple(v.shape) for k, v in D.state_dict().items()}, seed=1))
            self.D_module = D.to(device).train()
            self.D = c(self.D_module)
            self.opt_g = torch.optim.Adam(list(nets.fm.parameters()) + list(nets.G.parameters()), LR, betas=BETAS)
            self.opt_d = torch.optim.Adam(D.parameters(), LR, betas=BETAS)
            if perceptual:  # synthetic weights, the same as jdfd.bench.worker gives jdfd's VGG16
                vgg = VGG16Features()
                load_torch(vgg, workload.synthetic_state({k: tuple(v.shape) for k, v in vgg.state_dict().items()},
                                                         seed=2))
                self.vgg = c(vgg.to(device).eval())
        else:
            raise ValueError(f"stage must be stage1 or stage2, not {stage!r}")

    def _t(self, a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)).to(self.dev)

    def step(self, batch: dict) -> dict[str, float]:
        return self.step_parts(batch)[0]

    def step_parts(self, batch: dict) -> tuple[dict[str, float], dict[str, float]]:
        """One step → (losses, {part: seconds}), parts named as :func:`jdfd.bench.worker.jittor_step_parts` names them.

        PyTorch on the CPU runs each call to the end before returning, so the clock needs no
        synchronisation and a step with parts is the plain step.
        """
        parts: dict[str, float] = {}
        clock = [time.perf_counter()]

        def done(name: str) -> None:
            now = time.perf_counter()
            parts[name] = now - clock[0]
            clock[0] = now

        def update(opt: torch.optim.Optimizer, loss: torch.Tensor, prefix: str) -> None:
            opt.zero_grad(set_to_none=True)
            loss.backward()
            done(f"{prefix}backward")
            opt.step()
            done(f"{prefix}optimizer")

        x = {p: self._t(v) for p, v in workload.crops_of(batch["sketch"], self.cfg).items()}
        if self.stage == "stage1":
            loss = sum(F.mse_loss(self.imdec[p](self.enc[p](x[p])), x[p]) for p in PARTS)
            done("forward")
            update(self.opt_g, loss, "")
            return {"loss": float(loss.item())}, parts
        with torch.no_grad():
            codes = {p: self.enc[p](x[p]) for p in PARTS}
        fm = self.nets.fm
        fake = self.G(assemble({p: self.dec[p](codes[p]) for p in PARTS}, fm.boxes, fm.nose_crop))
        sketch = self._t(components.normalise(batch["sketch"])[:, None])
        real = self._t(batch["photo"])
        done("G_forward")
        pred_fake = self.D(torch.cat([sketch, fake.detach()], 1))
        pred_real = self.D(torch.cat([sketch, real], 1))
        d_fake, d_real = _lsgan(pred_fake, False), _lsgan(pred_real, True)
        loss_d = 0.5 * (d_fake + d_real)
        done("D_forward")
        update(self.opt_d, loss_d, "D_")
        pred_real = [[t.detach() for t in s] for s in pred_real]
        self.D_module.requires_grad_(False)  # G's loss needs no gradient for D's weights
        pred_fake = self.D(torch.cat([sketch, fake], 1))
        g_gan = _lsgan(pred_fake, True)
        g_feat = _feature_matching(pred_fake, pred_real, self.cfg.n_layers_d)
        g_l1 = (fake - real).abs().mean()
        loss_g = g_gan + LAMBDA_FEAT * g_feat + LAMBDA_L1 * g_l1
        done("G_loss_forward")
        out = {"loss_d": loss_d, "loss_g": loss_g}
        if self.vgg is not None:
            with torch.no_grad():
                real_feats = self.vgg(real)
            out["g_vgg"] = sum(w * (f - r).abs().mean()
                               for w, f, r in zip(DEFAULT_LAYER_WEIGHTS, self.vgg(fake), real_feats))
            loss_g = out["loss_g"] = loss_g + LAMBDA_VGG * out["g_vgg"]
            done("VGG_forward")
        update(self.opt_g, loss_g, "G_")
        self.D_module.requires_grad_(True)
        return {k: float(v.item()) for k, v in out.items()}, parts
