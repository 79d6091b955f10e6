"""Multi-scale PatchGAN discriminator (pix2pixHD), used in stage II only."""

from __future__ import annotations

import math

from jdfd.networks.blocks import init_weights
from jdfd.runtime import jittor

jt = jittor()
nn = jt.nn


class NLayerDiscriminator(nn.Module):
    """70×70-style PatchGAN returning every intermediate map (for feature matching)."""

    def __init__(self, in_channels: int, ndf: int = 64, n_layers: int = 3):
        super().__init__()
        pad = int(math.ceil(3 / 2))  # kernel 4 → padding 2, as in pix2pixHD
        stages = [[nn.Conv(in_channels, ndf, 4, stride=2, padding=pad), nn.LeakyReLU(0.2)]]
        nf = ndf
        for n in range(1, n_layers + 1):
            prev, nf = nf, min(nf * 2, 512)
            stride = 2 if n < n_layers else 1
            stages.append([nn.Conv(prev, nf, 4, stride=stride, padding=pad), nn.InstanceNorm2d(nf, affine=False),
                           nn.LeakyReLU(0.2)])
        stages.append([nn.Conv(nf, 1, 4, stride=1, padding=pad)])
        self.n_stages = len(stages)
        for i, s in enumerate(stages):
            setattr(self, f"model{i}", nn.Sequential(*s))
        init_weights(self)

    def execute(self, x) -> list:
        feats = []
        for i in range(self.n_stages):
            x = getattr(self, f"model{i}")(x)
            feats.append(x)
        return feats


class MultiscaleDiscriminator(nn.Module):
    """``num_d`` PatchGANs on the image at 1, 1/2, 1/4 … resolution."""

    def __init__(self, in_channels: int, ndf: int = 64, n_layers: int = 3, num_d: int = 2):
        super().__init__()
        self.num_d = num_d
        for i in range(num_d):
            setattr(self, f"scale{i}", NLayerDiscriminator(in_channels, ndf, n_layers))
        self.down = nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False)

    def execute(self, x) -> list[list]:
        out = []
        for i in range(self.num_d):
            out.append(getattr(self, f"scale{i}")(x))
            if i != self.num_d - 1:
                x = self.down(x)
        return out
