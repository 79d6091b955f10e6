"""IS: image synthesis (paper §3.3), the pix2pixHD global generator."""

from __future__ import annotations

from jdfd.networks.blocks import ResnetBlock, init_weights
from jdfd.runtime import jittor

jt = jittor()
nn = jt.nn


class GlobalGenerator(nn.Module):
    """pad3·conv7 → n× (conv3 stride 2) → blocks× res → n× (transposed conv3, output padding 1) → pad3·conv7·tanh.

    Jittor's InstanceNorm2d is affine by default, and the authors' weights carry those
    affine parameters, so it is kept affine here.
    """

    def __init__(self, in_channels: int, out_channels: int, ngf: int, n_downsample: int, n_blocks: int):
        super().__init__()
        norm = nn.InstanceNorm2d
        layers = [nn.ReflectionPad2d(3), nn.Conv(in_channels, ngf, 7, padding=0), norm(ngf), nn.ReLU()]
        for i in range(n_downsample):
            c = ngf * 2**i
            layers += [nn.Conv(c, c * 2, 3, stride=2, padding=1), norm(c * 2), nn.ReLU()]
        c = ngf * 2**n_downsample
        layers += [ResnetBlock(c, norm) for _ in range(n_blocks)]
        for i in range(n_downsample):
            c = ngf * 2 ** (n_downsample - i)
            layers += [nn.ConvTranspose(c, c // 2, 3, stride=2, padding=1, output_padding=1), norm(c // 2), nn.ReLU()]
        layers += [nn.ReflectionPad2d(3), nn.Conv(ngf, out_channels, 7, padding=0), nn.Tanh()]
        self.model = nn.Sequential(*layers)
        init_weights(self)

    def execute(self, x):
        return self.model(x)
