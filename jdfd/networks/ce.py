"""CE: component embedding. One autoencoder per component (paper §3.1).

``ComponentEncoder`` maps a sketch crop to a latent vector; ``ImageDecoder``
maps it back to a sketch (stage I, and the "shadow" guidance image).
"""

from __future__ import annotations

from jdfd.networks.blocks import DecoderBlock, EncoderBlock, ResnetBlock, init_weights
from jdfd.runtime import jittor

jt = jittor()
nn = jt.nn


class ComponentEncoder(nn.Module):
    """conv↓ to c0, then (res, conv↓ to c[i+1]) for each further width, res, flatten, linear."""

    def __init__(self, size: int, channels: list[int], latent_dim: int, in_channels: int = 1):
        super().__init__()
        n_down = len(channels)
        self.grid = size // 2**n_down
        layers = [EncoderBlock(in_channels, channels[0])]
        for cin, cout in zip(channels[:-1], channels[1:]):
            layers += [ResnetBlock(cin), EncoderBlock(cin, cout)]
        layers.append(ResnetBlock(channels[-1]))
        self.conv = nn.Sequential(*layers)
        self.fc_mu = nn.Sequential(nn.Linear(channels[-1] * self.grid * self.grid, latent_dim))
        init_weights(self)

    def execute(self, x):
        x = self.conv(x)
        return self.fc_mu(x.reshape((x.shape[0], -1)))


class LatentDecoder(nn.Module):
    """linear to c0·g², res, then (transposed conv↑ to c[i+1], res) ..., pad 2, conv 5×5."""

    def __init__(self, size: int, channels: list[int], latent_dim: int, out_channels: int, norm_layer=nn.BatchNorm):
        super().__init__()
        self.c0 = channels[0]
        self.grid = size // 2 ** (len(channels) - 1)
        self.fc = nn.Sequential(nn.Linear(latent_dim, channels[0] * self.grid * self.grid))
        layers = [ResnetBlock(channels[0], norm_layer)]
        for cin, cout in zip(channels[:-1], channels[1:]):
            layers += [DecoderBlock(cin, cout, norm_layer), ResnetBlock(cout, norm_layer)]
        layers += [nn.ReflectionPad2d(2), nn.Conv(channels[-1], out_channels, 5, padding=0)]
        self.conv = nn.Sequential(*layers)
        init_weights(self)

    def execute(self, z):
        x = self.fc(z).reshape((z.shape[0], self.c0, self.grid, self.grid))
        return self.conv(x)


class ImageDecoder(LatentDecoder):
    """Stage-I decoder back to a one-channel sketch (no final tanh, as in the paper's code)."""

    def __init__(self, size: int, channels: list[int], latent_dim: int, out_channels: int = 1):
        super().__init__(size, channels, latent_dim, out_channels)

