"""Building blocks shared by the CE, FM and IS networks.

Layer indices inside ``nn.Sequential`` are part of the authors' tensor names
(``conv.1.conv_block.5.weight``), so the layer lists below keep their order and
count exactly; parameter-free layers stay in place for the same reason.
"""

from __future__ import annotations

from jdfd.runtime import jittor

jt = jittor()
nn = jt.nn


class ResnetBlock(nn.Module):
    """pix2pixHD residual block: x + [pad, conv3, norm, relu, pad, conv3, norm](x)."""

    def __init__(self, dim: int, norm_layer=nn.BatchNorm):
        super().__init__()
        self.conv_block = nn.Sequential(
            nn.ReflectionPad2d(1),
            nn.Conv(dim, dim, 3, padding=0),
            norm_layer(dim),
            nn.ReLU(),
            nn.ReflectionPad2d(1),
            nn.Conv(dim, dim, 3, padding=0),
            norm_layer(dim),
        )

    def execute(self, x):
        return x + self.conv_block(x)


class EncoderBlock(nn.Module):
    """Stride-2 4×4 conv + BatchNorm(momentum 0.9).

    The authors follow it with LeakyReLU(1), which is the identity, so it is left out.
    """

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv = nn.Conv(cin, cout, 4, padding=1, stride=2)
        self.bn = nn.BatchNorm(cout, momentum=0.9)

    def execute(self, x):
        return self.bn(self.conv(x))


class DecoderBlock(nn.Module):
    """Stride-2 4×4 transposed conv + norm (the authors' LeakyReLU(1) is the identity)."""

    def __init__(self, cin: int, cout: int, norm_layer=nn.BatchNorm):
        super().__init__()
        self.conv = nn.Sequential(nn.ConvTranspose(cin, cout, 4, padding=1, stride=2), norm_layer(cout, momentum=0.9))

    def execute(self, x):
        return self.conv(x)


class SampleStatBatchNorm(nn.BatchNorm):
    """BatchNorm that always normalises each sample with its own statistics.

    The authors' FM decoders are never switched to eval(), so at inference their
    BatchNorm layers use the batch statistics of a single sketch. This layer gives
    that result for every batch size, in training and inference alike, and keeps
    the running buffers (updated, unused) so tensor names and shapes stay the same.
    """

    def execute(self, x):
        dims = list(range(2, x.ndim))
        mean = jt.mean(x, dims=dims, keepdims=True)
        var = (jt.mean(x * x, dims=dims, keepdims=True) - mean * mean).maximum(0.0)
        if self.is_train:
            m = self.momentum
            self.running_mean.update(self.running_mean + (mean.mean(0).reshape((-1,)) - self.running_mean) * m)
            self.running_var.update(self.running_var + (var.mean(0).reshape((-1,)) - self.running_var) * m)
        shape = (1, -1) + (1,) * len(dims)
        w = self.weight.reshape(shape) / jt.sqrt(var + self.eps)
        return x * w + (self.bias.reshape(shape) - mean * w)


def init_weights(module: nn.Module, std: float = 0.02) -> None:
    """DCGAN-style init used by the authors: conv N(0, 0.02), norm weight N(1, 0.02), bias 0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv, nn.ConvTranspose)):
            jt.init.gauss_(m.weight, 0.0, std)
        elif isinstance(m, (nn.BatchNorm, nn.InstanceNorm)) and isinstance(getattr(m, "weight", None), jt.Var):
            jt.init.gauss_(m.weight, 1.0, std)
            jt.init.constant_(m.bias, 0.0)
