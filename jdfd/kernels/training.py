"""A differentiable convolution on oneDNN's blocked layout: the first piece of a training path.

``blocked_conv(kernels, layer, x)`` runs an ``nn.Conv`` on an N×⌈C/16⌉×H×W×16 map (see
:mod:`jdfd.kernels.blocked`) with ``dfd_conv`` forward and ``dfd_conv_bwd_data`` /
``dfd_conv_bwd_weights`` backward, so a chain of such layers never reorders its
activations, which Jittor's own ``mkl_conv*`` operators do on every call, forward and
backward. The weights are the layer's own (oihw): they change at every optimiser step, so
each call packs them for the forward and the backward-data pass reorders them itself.

Not yet used by the Trainer: norms, padding and transposed convolutions on the blocked
layout are still to come (issue #12). ``scripts/conv_grad_bench.py`` times it against
Jittor's own convolution; ``tests/test_kernels.py`` checks its gradients against Jittor's.
"""

from __future__ import annotations

from jdfd.runtime import jittor

jt = jittor()


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
