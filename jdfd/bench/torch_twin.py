"""PyTorch twin of jdfd's networks: same layers, same order, same tensor names.

Written from jdfd's Jittor modules (not from any other code base), so that
``TwinNetworks(cfg).state_dict()`` has exactly the keys and shapes of
``DFDNetworks(cfg).state_dict()``. Where Jittor's layers differ from PyTorch's
defaults the twin follows Jittor:

- BatchNorm keeps no ``num_batches_tracked`` and updates its running variance with
  the *biased* batch variance (Jittor's formula), momentum weighting the new value;
- the FM decoders' ``SampleStatBatchNorm`` normalises each sample with its own
  statistics, which is an affine instance norm; its running buffers are updated as
  Jittor does (batch mean of the per-sample statistics) but never used;
- the generator's InstanceNorm is affine (Jittor's default), the discriminator's not;
- the discriminator's 3×3 average-pool downsampler counts the zero padding at the borders (Jittor 1.3.11
  ignores ``count_include_pad=False`` when ``ceil_mode`` is off).

Needs ``torch`` (the ``bench`` extra); importing this module does not start Jittor.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from jdfd.config import PARTS, PASTE_ORDER, ModelConfig
from jdfd.training.vgg16_layers import BGR_MEAN, DEFAULT_TAPS, VGG16_LAYERS


# ---------------------------------------------------------------------------- norms
class JtBatchNorm(nn.Module):
    """Jittor's ``nn.BatchNorm``: weight, bias, running_mean, running_var and nothing else."""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1):
        super().__init__()
        self.eps, self.momentum = eps, momentum
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))

    def _update(self, mean: torch.Tensor, var: torch.Tensor) -> None:
        with torch.no_grad():
            self.running_mean += (mean - self.running_mean) * self.momentum
            self.running_var += (var - self.running_var) * self.momentum

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0, self.eps)
        with torch.no_grad():  # Jittor's running variance is the biased one
            var, mean = torch.var_mean(x, dim=[0] + list(range(2, x.ndim)), correction=0)
        self._update(mean, var)
        return F.batch_norm(x, None, None, self.weight, self.bias, True, 0.0, self.eps)


class JtSampleStatNorm(JtBatchNorm):
    """jdfd's ``SampleStatBatchNorm``: per-sample statistics in training and inference."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            with torch.no_grad():
                var, mean = torch.var_mean(x, dim=list(range(2, x.ndim)), correction=0)
            self._update(mean.mean(0), var.mean(0))
        return F.instance_norm(x, None, None, self.weight, self.bias, True, 0.0, self.eps)


def _instance_norm(c: int) -> nn.Module:
    return nn.InstanceNorm2d(c, eps=1e-5, affine=True)


# ---------------------------------------------------------------------------- blocks
class ResnetBlock(nn.Module):
    def __init__(self, dim: int, norm_layer: Callable[..., nn.Module] = JtBatchNorm):
        super().__init__()
        self.conv_block = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3), norm_layer(dim), nn.ReLU(),
            nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3), norm_layer(dim),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv_block(x)


class EncoderBlock(nn.Module):
    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 4, stride=2, padding=1)
        self.bn = JtBatchNorm(cout, momentum=0.9)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(self.conv(x))


class DecoderBlock(nn.Module):
    def __init__(self, cin: int, cout: int, norm_layer: Callable[..., nn.Module] = JtBatchNorm):
        super().__init__()
        self.conv = nn.Sequential(nn.ConvTranspose2d(cin, cout, 4, stride=2, padding=1), norm_layer(cout, momentum=0.9))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


# ---------------------------------------------------------------------------- CE and FM
class ComponentEncoder(nn.Module):
    def __init__(self, size: int, channels: list[int], latent_dim: int, in_channels: int = 1):
        super().__init__()
        grid = size // 2 ** len(channels)
        layers: list[nn.Module] = [EncoderBlock(in_channels, channels[0])]
        for cin, cout in zip(channels[:-1], channels[1:]):
            layers += [ResnetBlock(cin), EncoderBlock(cin, cout)]
        layers.append(ResnetBlock(channels[-1]))
        self.conv = nn.Sequential(*layers)
        self.fc_mu = nn.Sequential(nn.Linear(channels[-1] * grid * grid, latent_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        return self.fc_mu(x.reshape(x.shape[0], -1))


class LatentDecoder(nn.Module):
    def __init__(self, size: int, channels: list[int], latent_dim: int, out_channels: int,
                 norm_layer: Callable[..., nn.Module] = JtBatchNorm):
        super().__init__()
        self.c0 = channels[0]
        self.grid = size // 2 ** (len(channels) - 1)
        self.fc = nn.Sequential(nn.Linear(latent_dim, channels[0] * self.grid * self.grid))
        layers: list[nn.Module] = [ResnetBlock(channels[0], norm_layer)]
        for cin, cout in zip(channels[:-1], channels[1:]):
            layers += [DecoderBlock(cin, cout, norm_layer), ResnetBlock(cout, norm_layer)]
        layers += [nn.ReflectionPad2d(2), nn.Conv2d(channels[-1], out_channels, 5)]
        self.conv = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.conv(self.fc(z).reshape(z.shape[0], self.c0, self.grid, self.grid))


def assemble(maps: dict[str, torch.Tensor], boxes: dict[str, tuple[int, int, int]], nose_crop: int) -> torch.Tensor:
    """Paste the component maps over the remainder's, in jdfd's order (see :func:`jdfd.networks.fm.assemble`)."""
    face = maps["remainder"]
    for part in PASTE_ORDER:
        x, y, n = boxes[part]
        h = n - nose_crop if part == "nose" and nose_crop else n
        face[:, :, y:y + h, x:x + n] = maps[part][:, :, :h, :]
    return face


class FeatureMapping(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.boxes = cfg.boxes()
        self.nose_crop = cfg.nose_crop()
        norm = JtSampleStatNorm if cfg.fm_norm_stats == "sample" else JtBatchNorm
        for part in PARTS:
            setattr(self, part, LatentDecoder(self.boxes[part][2], cfg.feature_decoder_channels, cfg.latent(part),
                                              cfg.feature_channels, norm))

    def decoder(self, part: str) -> LatentDecoder:
        return getattr(self, part)

    def forward(self, codes: dict[str, torch.Tensor]) -> torch.Tensor:
        return assemble({p: self.decoder(p)(codes[p]) for p in PARTS}, self.boxes, self.nose_crop)


# ---------------------------------------------------------------------------- IS and D
class GlobalGenerator(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, ngf: int, n_downsample: int, n_blocks: int):
        super().__init__()
        layers: list[nn.Module] = [nn.ReflectionPad2d(3), nn.Conv2d(in_channels, ngf, 7), _instance_norm(ngf),
                                   nn.ReLU()]
        for i in range(n_downsample):
            c = ngf * 2**i
            layers += [nn.Conv2d(c, c * 2, 3, stride=2, padding=1), _instance_norm(c * 2), nn.ReLU()]
        c = ngf * 2**n_downsample
        layers += [ResnetBlock(c, _instance_norm) for _ in range(n_blocks)]
        for i in range(n_downsample):
            c = ngf * 2 ** (n_downsample - i)
            layers += [nn.ConvTranspose2d(c, c // 2, 3, stride=2, padding=1, output_padding=1),
                       _instance_norm(c // 2), nn.ReLU()]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, out_channels, 7), nn.Tanh()]
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class NLayerDiscriminator(nn.Module):
    def __init__(self, in_channels: int, ndf: int = 64, n_layers: int = 3):
        super().__init__()
        pad = int(math.ceil(3 / 2))
        stages: list[list[nn.Module]] = [[nn.Conv2d(in_channels, ndf, 4, stride=2, padding=pad), nn.LeakyReLU(0.2)]]
        nf = ndf
        for n in range(1, n_layers + 1):
            prev, nf = nf, min(nf * 2, 512)
            stages.append([nn.Conv2d(prev, nf, 4, stride=2 if n < n_layers else 1, padding=pad),
                           nn.InstanceNorm2d(nf, affine=False), nn.LeakyReLU(0.2)])
        stages.append([nn.Conv2d(nf, 1, 4, stride=1, padding=pad)])
        self.n_stages = len(stages)
        for i, s in enumerate(stages):
            setattr(self, f"model{i}", nn.Sequential(*s))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats = []
        for i in range(self.n_stages):
            x = getattr(self, f"model{i}")(x)
            feats.append(x)
        return feats


class MultiscaleDiscriminator(nn.Module):
    def __init__(self, in_channels: int, ndf: int = 64, n_layers: int = 3, num_d: int = 2):
        super().__init__()
        self.num_d = num_d
        for i in range(num_d):
            setattr(self, f"scale{i}", NLayerDiscriminator(in_channels, ndf, n_layers))
        # jdfd asks Jittor for count_include_pad=False, but Jittor 1.3.11's AvgPool2d honours that only with
        # ceil_mode=True: the border windows are divided by 9, padding counted. The twin does what Jittor does.
        self.down = nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=True)

    def forward(self, x: torch.Tensor) -> list[list[torch.Tensor]]:
        out = []
        for i in range(self.num_d):
            out.append(getattr(self, f"scale{i}")(x))
            if i != self.num_d - 1:
                x = self.down(x)
        return out


def define_D(cfg: ModelConfig) -> MultiscaleDiscriminator:
    return MultiscaleDiscriminator(1 + cfg.output_channels, cfg.ndf, cfg.n_layers_d, cfg.num_d)


class VGG16Features(nn.Module):
    """``jdfd.training.perceptual.VGG16Features``: the taps of a frozen VGG16 on RGB in [-1, 1]."""

    def __init__(self, taps: tuple[str, ...] = DEFAULT_TAPS):
        super().__init__()
        self.taps = taps
        last = max(int(t[4]) * 10 + int(t[6]) for t in taps)  # "relu4_3" → 43: run no deeper than needed
        self.plan: list[str] = []
        for layer in VGG16_LAYERS:
            if layer == "pool":
                self.plan.append("pool")
                continue
            name, cin, cout = layer
            if int(name[4]) * 10 + int(name[6]) > last:
                break
            setattr(self, name, nn.Conv2d(cin, cout, 3, padding=1))
            self.plan.append(name)
        self.requires_grad_(False)
        self.register_buffer("mean", torch.tensor(BGR_MEAN).reshape(1, 3, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        h = (x + 1.0) * 127.5
        h = torch.cat([h[:, 2:3], h[:, 1:2], h[:, 0:1]], 1) - self.mean
        feats = {}
        for name in self.plan:
            if name == "pool":
                h = F.max_pool2d(h, 2, 2)
            else:
                h = F.relu(getattr(self, name)(h))
                feats[f"relu{name[4:]}"] = h
        return [feats[t] for t in self.taps]


# ---------------------------------------------------------------------------- all of it
class PartModules(nn.Module):
    def __init__(self, make: Callable[[str], nn.Module]):
        super().__init__()
        for part in PARTS:
            setattr(self, part, make(part))

    def __getitem__(self, part: str) -> nn.Module:
        return getattr(self, part)


class TwinNetworks(nn.Module):
    """``jdfd.model.DFDNetworks`` in PyTorch. Weights start at PyTorch's defaults: load them with
    :func:`jdfd.bench.transfer.load_torch`."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        boxes = cfg.boxes()
        self.encoders = PartModules(lambda p: ComponentEncoder(boxes[p][2], cfg.encoder_channels, cfg.latent(p)))
        self.image_decoders = PartModules(
            lambda p: LatentDecoder(boxes[p][2], cfg.image_decoder_channels, cfg.latent(p), 1))
        self.fm = FeatureMapping(cfg)
        self.G = GlobalGenerator(cfg.feature_channels, cfg.output_channels, cfg.ngf, cfg.n_downsample, cfg.n_blocks)

    def encode(self, crops: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {p: self.encoders[p](crops[p]) for p in PARTS}

    def synthesize(self, codes: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.G(self.fm(codes))
