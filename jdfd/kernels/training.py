"""A differentiable convolution on oneDNN's blocked layout: the first piece of a training path.

``blocked_conv(kernels, layer, x)`` runs an ``nn.Conv`` on an N×⌈C/16⌉×H×W×16 map (see
:mod:`jdfd.kernels.blocked`) with ``dfd_conv`` forward and ``dfd_conv_bwd_data`` /
``dfd_conv_bwd_weights`` backward, so a chain of such layers never reorders its
activations, which Jittor's own ``mkl_conv*`` operators do on every call, forward and
backward. The weights are the layer's own (oihw): they change at every optimiser step, so
each call packs them for the forward and the backward-data pass reorders them itself.

:class:`TrainingRunner` runs the CE and FM networks' layer lists on it (norms, padding and
residual adds as Jittor operators on the blocked map); the Trainer uses it when
``TrainConfig.kernels`` is on. The generator and discriminator still run on Jittor's own
layers. ``scripts/conv_grad_bench.py`` and ``scripts/profile_training.py`` time it against
Jittor's own layers; ``tests/test_kernels.py`` and ``tests/test_training.py`` check its gradients.
"""

from __future__ import annotations

from jdfd.kernels.blocked import BLOCK, from_blocked, to_blocked
from jdfd.networks.blocks import DecoderBlock, EncoderBlock, ResnetBlock, SampleStatBatchNorm
from jdfd.runtime import jittor

jt = jittor()
nn = jt.nn


class _BlockedConv(jt.Function):
    def __init__(self, ops, geom: tuple):
        self.ops, self.geom = ops, geom

    def execute(self, x, w, b):
        self.x, self.w = x, w
        return self.ops.dfd_conv(x, self.ops.dfd_pack(w, *self.geom), b, *self.geom)

    def grad(self, dy):
        plain = self.geom[-1]
        # a plain (NCHW) input is the network's data, which needs no gradient; oneDNN has only
        # its slow reference backward-data for that layout
        dx = None if plain else self.ops.dfd_conv_bwd_data(dy, self.w, *self.geom)
        dw, db = self.ops.dfd_conv_bwd_weights(self.x, dy, *self.geom)
        return dx, dw, db


def conv_geometry(layer, x_shape: tuple, winograd: bool = False) -> tuple:
    """The ``dfd_*`` geometry of ``layer`` (an ``nn.Conv``) on an input of ``x_shape`` (blocked or NCHW)."""
    plain = len(x_shape) == 4
    n, h, w = x_shape[0], x_shape[2], x_shape[3]
    k, s, p = layer.kernel_size[0], layer.stride[0], layer.padding[0]
    return (n, layer.in_channels, h, w, layer.out_channels, k, s, p, p, 0, int(winograd), int(plain))


def blocked_conv(kernels, layer, x, winograd: bool = False):
    """``layer(x)`` with ``x`` and the result in the blocked layout (``x`` may be NCHW: the first layer)."""
    if layer.groups != 1 or layer.dilation[0] != 1 or layer.kernel_size[0] != layer.kernel_size[1]:
        raise ValueError("blocked_conv: square kernels without groups or dilation only")
    bias = layer.bias if layer.bias is not None else jt.zeros((layer.out_channels,))
    return _BlockedConv(kernels.ops, conv_geometry(layer, tuple(x.shape), winograd))(x, layer.weight, bias)


# ---------------------------------------------------------------------------- whole networks
def _reflect_pad(x, p: int):
    """ReflectionPad2d on a blocked map (H and W are dims 2 and 3), differentiable."""
    n, cb, h, w, lanes = x.shape

    def idx(i: str, size: int) -> str:
        return f"{i}<{p} ? {p}-{i} : {i} > {size - 1 + p} ? {2 * (size - 1) + p}-{i} : {i}-{p}"

    return x.reindex([n, cb, h + 2 * p, w + 2 * p, lanes], ["i0", "i1", idx("i2", h), idx("i3", w), "i4"])


def _lanes(v, channels: int):
    """A per-channel vector as ⌈C/16⌉×16, zero past C (so padded lanes stay zero after a norm)."""
    cb = -(-channels // BLOCK)
    if cb * BLOCK != channels:
        v = jt.concat([v, jt.zeros((cb * BLOCK - channels,), v.dtype)])
    return v.reshape((cb, BLOCK))


def _norm(layer, x, channels: int):
    """BatchNorm (training or eval) and the per-sample SampleStatBatchNorm on a blocked map, with the
    same running-statistics updates as the layers' own ``execute``."""
    gamma, beta = _lanes(layer.weight, channels), _lanes(layer.bias, channels)
    if isinstance(layer, SampleStatBatchNorm):
        mean = x.mean(dims=[2, 3], keepdims=True)  # N×CB×1×1×16
        var = ((x * x).mean(dims=[2, 3], keepdims=True) - mean * mean).maximum(0.0)
        if layer.is_train:
            m = layer.momentum
            flat = lambda v: v.mean(0).reshape((-1,))[:channels]  # noqa: E731
            layer.running_mean.update(layer.running_mean + (flat(mean) - layer.running_mean) * m)
            layer.running_var.update(layer.running_var + (flat(var) - layer.running_var) * m)
        w = gamma.reshape((1, -1, 1, 1, BLOCK)) / jt.sqrt(var + layer.eps)
        return x * w + (beta.reshape((1, -1, 1, 1, BLOCK)) - mean * w)
    if not layer.is_train:
        mean, var = _lanes(layer.running_mean, channels), _lanes(layer.running_var, channels)
    else:
        if getattr(layer, "sync", False) and jt.in_mpi:
            raise NotImplementedError("synced BatchNorm on the blocked layout (the Trainer turns sync off)")
        mean = x.mean(dims=[0, 2, 3])  # CB×16
        var = ((x * x).mean(dims=[0, 2, 3]) - mean * mean).maximum(0.0)
        m = layer.momentum
        layer.running_mean.update(layer.running_mean + (mean.reshape((-1,))[:channels] - layer.running_mean) * m)
        layer.running_var.update(layer.running_var + (var.reshape((-1,))[:channels] - layer.running_var) * m)
    w = gamma / jt.sqrt(var + layer.eps)
    b = beta - mean * w
    return x * w.broadcast(x, [0, 2, 3]) + b.broadcast(x, [0, 2, 3])


class TrainingRunner:
    """Runs the CE/FM networks' layer lists on blocked maps, differentiably (forward and backward).

    Convolutions are :func:`blocked_conv` (Winograd for 3×3 stride-1 layers of ≥ 16 channels);
    BatchNorm, padding, ReLU and the residual adds are Jittor's own operators on the blocked
    map; transposed convolutions still run on NCHW (converted in and out). A layer it does not
    know raises ``NotImplementedError`` (CE and FM use none).
    """

    def __init__(self, kernels, winograd: bool = True):
        self.kernels = kernels
        self.winograd = winograd

    def run(self, module, x, channels: int):
        """``module(x)`` with ``x`` blocked (or NCHW at the first layer) → (blocked result, its channels)."""
        if isinstance(module, nn.Sequential):
            for layer in module:
                x, channels = self.run(layer, x, channels)
            return x, channels
        if isinstance(module, ResnetBlock):
            y, _ = self.run(module.conv_block, x, channels)
            return x + y, channels
        if isinstance(module, EncoderBlock):
            y, c = self.run(module.conv, x, channels)
            return self.run(module.bn, y, c)
        if isinstance(module, DecoderBlock):
            return self.run(module.conv, x, channels)
        if isinstance(module, nn.Conv):
            k, s = module.kernel_size[0], module.stride[0]
            wino = self.winograd and k == 3 and s == 1 and module.in_channels >= BLOCK
            return blocked_conv(self.kernels, module, x, wino), module.out_channels
        if isinstance(module, nn.ConvTranspose):
            return to_blocked(module(from_blocked(x, channels))), module.out_channels
        if isinstance(module, nn.ReflectionPad2d) and module.pl == module.pr == module.pt == module.pb:
            return (_reflect_pad(x, module.pl) if x.ndim == 5 else module(x)), channels
        if isinstance(module, nn.BatchNorm):  # SampleStatBatchNorm included
            return _norm(module, x, channels), channels
        if isinstance(module, (nn.ReLU, nn.LeakyReLU, nn.Tanh)):  # element-wise: zero lanes stay zero
            return module(x), channels
        raise NotImplementedError(f"TrainingRunner: no blocked training path for {type(module).__name__}")

    def encoder(self, enc, x):
        """A ``ComponentEncoder`` on a B×1×n×n crop → B×latent."""
        h, c = self.run(enc.conv, x, x.shape[1])
        h = from_blocked(h, c)
        return enc.fc_mu(h.reshape((h.shape[0], -1)))

    def decoder(self, dec, z):
        """A ``LatentDecoder`` (stage-I image decoder or FM decoder) on B×latent → B×C×n×n."""
        x = dec.fc(z).reshape((z.shape[0], dec.c0, dec.grid, dec.grid))
        y, c = self.run(dec.conv, to_blocked(x), dec.c0)
        return from_blocked(y, c)
