"""FM and IS on oneDNN's blocked layout with jdfd's own kernels (:mod:`jdfd.kernels`).

Walks the model's own layer lists (same weight Vars) and evaluates them on
N×⌈C/B⌉×H×W×B maps (B = :data:`BLOCK` channels, 16 or 8 by the CPU):

- every convolution is ``dfd_conv`` with its weights packed once (``dfd_pack``) and
  kept, Winograd for the 3×3 stride-1 ones;
- every norm is one ``dfd_norm`` pass that also applies the ReLU after it, the
  residual add that ends a ResnetBlock, and the reflection padding before the next
  convolution;
- the layout is converted only where a map enters (the FM decoders' linear layer)
  or leaves (the generator's output).
"""

from __future__ import annotations

import numpy as np

from jdfd.kernels import block
from jdfd.networks.blocks import DecoderBlock, EncoderBlock, ResnetBlock, SampleStatBatchNorm
from jdfd.runtime import jittor

jt = jittor()
nn = jt.nn

BLOCK = block()  # the compiled kernels' DFD_BLOCK (jdfd.kernels.load checks they agree)
#: Winograd's inference layout keeps the weights pre-transformed, 4× their size (and the paper's
#: generator alone has 0.5 GB of 3×3 weights). Where that copy would be larger than this, the layer
#: runs Winograd as oneDNN does for training instead: weights in the plain blocked layout, the size of
#: the layer's own, transformed on each call (the same layout for every batch size). 0, every layer:
#: as fast, and compact peaked 97-163 MB lower than with the 8 MB it was (README, Memory).
WINOGRAD_PACK_MAX_BYTES = 0

#: Layers of fewer input channels run direct: on 16 channels oneDNN 2.6's Winograd was slower than its
#: direct convolution at every map size measured (scripts/winograd_choice.py), and its scratchpad at
#: batch 4 and 128×128 (24 MB) set compact inference's peak memory.
WINOGRAD_MIN_CHANNELS = 32


def lanes(channels: int) -> int:
    """Channels rounded up to whole blocks: the lanes a blocked map of ``channels`` holds."""
    return -(-channels // BLOCK) * BLOCK


def to_blocked(x):
    """N×C×H×W → N×⌈C/B⌉×H×W×B, zero lanes past C (oneDNN needs them zero)."""
    n, c, h, w = x.shape
    cb = lanes(c) // BLOCK
    if cb * BLOCK != c:
        x = jt.concat([x, jt.zeros((n, cb * BLOCK - c, h, w), x.dtype)], dim=1)
    return x.reshape((n, cb, BLOCK, h, w)).transpose(0, 1, 3, 4, 2)


def from_blocked(x, channels: int | None):
    """N×⌈C/B⌉×H×W×B → N×C×H×W; a map that is already plain (N×C×H×W) is returned as it is."""
    if x.ndim == 4:
        return x
    n, cb, h, w, _ = x.shape
    return x.transpose(0, 1, 4, 2, 3).reshape((n, cb * BLOCK, h, w))[:, :channels]


class BlockedRunner:
    """Evaluates eval-mode Sequentials of the jdfd networks on blocked maps."""

    def __init__(self, kernels, release_weights: bool = True):
        self.kernels = kernels  # the module jdfd.kernels.load() returns
        self.ops = kernels.ops
        # Once a layer's weights are packed in a layout that only reorders them, the layer's own copy is
        # replaced by a lazy unpacking of the packed one (exact: a reorder), so one copy is resident, not
        # two. Reading the weights (state_dict, the layer's own execute) computes them again.
        self.release_weights = release_weights
        self._packed: dict[tuple, jt.Var] = {}  # (layer key, weights layout) → packed weights
        self._packed_for: dict[tuple, jt.Var] = {}  # (layer key, geometry) → the same Vars
        self._consts: dict[tuple, jt.Var] = {}

    # ------------------------------------------------------------------ constants kept resident
    def _const(self, key: tuple, make):
        if key not in self._consts:
            v = make().float32().stop_grad()
            v.sync()
            self._consts[key] = v
        return self._consts[key]

    def _affine(self, layer, channels: int):
        """(gamma, beta, uses-own-statistics) for a norm layer."""
        def vec(v, fill):
            return (lambda: v.reshape((-1,))) if isinstance(v, jt.Var) else (lambda: jt.full((channels,), float(fill)))

        if isinstance(layer, (SampleStatBatchNorm, nn.InstanceNorm)):
            return (self._const((id(layer), "g"), vec(layer.weight, layer.weight)),
                    self._const((id(layer), "b"), vec(layer.bias, layer.bias)), True)
        if isinstance(layer, nn.BatchNorm):  # eval BatchNorm: a fixed affine from the running statistics
            if layer.is_train:
                raise RuntimeError("FastDFD is for inference: the networks must be in eval mode")
            scale = self._const((id(layer), "s"), lambda: layer.weight / jt.sqrt(layer.running_var + layer.eps))
            shift = self._const((id(layer), "t"), lambda: layer.bias - layer.running_mean * scale)
            return scale, shift, False
        raise TypeError(f"not a norm layer: {type(layer).__name__}")

    def _identity(self, channels: int):
        return (self._const(("ones", channels), lambda: jt.ones((channels,))),
                self._const(("zeros", channels), lambda: jt.zeros((channels,))))

    # ------------------------------------------------------------------ layers
    def conv(self, layer, x, channels: int):
        transposed = isinstance(layer, nn.ConvTranspose)
        if layer.groups != 1 or tuple(layer.dilation) != (1, 1):
            raise NotImplementedError("dfd_conv: grouped or dilated convolutions")
        k, s, p = layer.kernel_size[0], layer.stride[0], layer.padding[0]
        pad_r = p - layer.output_padding[0] if transposed else p
        plain = x.ndim == 4  # a plain N×C×H×W input (an encoder's one-channel crop)
        n, h, w = x.shape[0], x.shape[2], x.shape[3]  # H and W are dims 2 and 3 in both layouts
        oc = layer.out_channels
        algo = 0
        if k == 3 and s == 1 and not transposed and channels >= WINOGRAD_MIN_CHANNELS:
            # Winograd; big layers without the 4x pre-transformed copy
            algo = 1 if 4 * 4 * int(np.prod(layer.weight.shape)) <= WINOGRAD_PACK_MAX_BYTES else 2
        geom = (n, channels, h, w, oc, k, s, p, pad_r, int(transposed), algo, int(plain))
        packed = self._pack((id(layer), "weights"), geom, layer.weight.float32, layer)
        bias = self._const((id(layer), "bias"),
                           (lambda: layer.bias) if layer.bias is not None else (lambda: jt.zeros((oc,))))
        return self.ops.dfd_conv(x, packed, bias, *geom), oc

    def _pack(self, key: tuple, geom: tuple, weight, layer=None, own=None):
        """The layer's weights packed for ``geom``: packed once, shared by every geometry with the same layout.

        Packed copies are large (Winograd's are 4× the 3×3 weights), so a layer run at batch 1
        and batch 4 keeps one copy when oneDNN wants the same layout for both, as it usually does.
        ``layer``: the layer whose own ``weight`` the packed copy replaces (see ``release_weights``);
        ``own`` gives that weight back from the unpacked copy (default: it is the weight itself).
        """
        seen = self._packed_for.get((key, geom))
        if seen is not None:  # the common case, every call after the first: no layout query
            return seen
        layout = (key, self.kernels.dfd_conv_weights_layout(*geom))
        if layout not in self._packed:
            packed = self.ops.dfd_pack(weight(), *geom).stop_grad()
            packed.sync()
            self._packed[layout] = packed
            if (layer is not None and self.release_weights and layer.weight.dtype == "float32"
                    and self.kernels.dfd_conv_weights_reorderable(*geom)):
                # assign() keeps the Var object (anything holding the layer's weight sees the change);
                # the old data is freed now, and the unpacking only runs if the weights are read.
                unpacked = self.ops.dfd_unpack(packed, *geom)
                layer.weight.assign(own(unpacked) if own is not None else unpacked)
        self._packed_for[(key, geom)] = self._packed[layout]
        return self._packed[layout]

    def conv_phases(self, layer, x, channels: int):
        """A stride-2 transposed convolution as one stride-1 convolution giving its four output phases.

        Output pixel (2i+a, 2j+b) only ever meets the kernel taps of parity (a+p, b+p), so each
        phase is an ordinary convolution of the input with a sub-kernel; stacking the four
        sub-kernels (zero where a phase has no tap) as output-channel groups makes one
        convolution, which oneDNN runs up to about twice as fast as its transposed convolution.
        The following ``dfd_norm`` interleaves the phases (``shuffle=1``). Same products, same sums.
        """
        n, _, h, w, _ = x.shape
        k, p = layer.kernel_size[0], layer.padding[0]
        oc = layer.out_channels
        ocp = lanes(oc)
        taps = {a: [((a + p - t) // 2, t) for t in range(k) if (a + p - t) % 2 == 0] for a in (0, 1)}
        d_lo = min(d for a in taps for d, _ in taps[a])
        d_hi = max(d for a in taps for d, _ in taps[a])
        kc = d_hi - d_lo + 1
        algo = 0
        if kc == 3 and channels >= WINOGRAD_MIN_CHANNELS:  # Winograd, as in conv(): not kept pre-transformed
            algo = 1 if 4 * 4 * 4 * ocp * channels * kc * kc <= WINOGRAD_PACK_MAX_BYTES else 2
        geom = (n, channels, h, w, 4 * ocp, kc, 1, -d_lo, d_hi, 0, algo)

        # Each kernel tap (ty, tx) lies in exactly one phase's sub-kernel: output channels from c0, at (dy, dx).
        where = {t: (a, d - d_lo) for a in (0, 1) for d, t in taps[a]}

        def slot(ty: int, tx: int) -> tuple[int, int, int]:
            (a, dy), (b, dx) = where[ty], where[tx]
            return (2 * a + b) * ocp, dy, dx

        def weight():
            wt = layer.weight.numpy().astype(np.float32)  # in × out × k × k
            stacked = np.zeros((4 * ocp, channels, kc, kc), np.float32)
            for ty in range(k):
                for tx in range(k):
                    c0, dy, dx = slot(ty, tx)
                    stacked[c0:c0 + oc, :, dy, dx] = wt[:, :, ty, tx].T
            return jt.array(stacked)

        def bias():
            b = np.zeros(ocp, np.float32)
            if layer.bias is not None:
                b[:oc] = layer.bias.numpy()
            return jt.array(np.tile(b, 4))

        def own(stacked):
            """The layer's in × out × k × k weights back from the stacked sub-kernels (the inverse of weight())."""
            def tap(ty, tx):
                c0, dy, dx = slot(ty, tx)
                return stacked[c0:c0 + oc, :, dy, dx].transpose(1, 0)
            return jt.stack([jt.stack([tap(ty, tx) for tx in range(k)], dim=2) for ty in range(k)], dim=2)

        packed = self._pack((id(layer), "phases"), geom, weight, layer, own)
        return self.ops.dfd_conv(x, packed, self._const((id(layer), "phase-bias"), bias), *geom), oc

    def conv_from_phases(self, layer, x, channels: int):
        """A stride-1 convolution with few outputs, on its input split into four phases → plain N×C×H×W.

        The generator's last layer makes 3 channels, so in the 16-lane layout 13 of every 16
        output lanes would be computed for nothing (5 of 8 in the 8-lane one). On the input's four
        phases (space-to-depth, written by the ``dfd_norm`` before it) the same convolution is one with 4× the inputs,
        a kernel about half as wide and the four output phases as 4×3 outputs: the same
        products and sums, about a third of the work. The phases are interleaved back here.
        """
        n, cb4, h2, w2, _ = x.shape
        k, oc = layer.kernel_size[0], layer.out_channels
        group = cb4 // 4 * BLOCK  # input lanes per phase
        kc = k // 2 + 1
        geom = (n, 4 * group, h2, w2, 4 * oc, kc, 1, 0, 0, 0, 0)

        def weight():
            wt = layer.weight.numpy().astype(np.float32)  # out × in × k × k
            stacked = np.zeros((4 * oc, 4 * group, kc, kc), np.float32)
            for a in (0, 1):
                for b in (0, 1):
                    for pu in (0, 1):
                        for pv in (0, 1):
                            g = 2 * pu + pv
                            for du in range(kc):
                                for dv in range(kc):
                                    ky, kx = 2 * du + pu - a, 2 * dv + pv - b
                                    if 0 <= ky < k and 0 <= kx < k:
                                        stacked[(2 * a + b) * oc:(2 * a + b + 1) * oc,
                                                g * group:g * group + channels, du, dv] = wt[:, :, ky, kx]
            return jt.array(stacked)

        def bias():
            b = layer.bias.numpy() if layer.bias is not None else np.zeros(oc, np.float32)
            return jt.array(np.tile(b.astype(np.float32), 4))

        packed = self._pack((id(layer), "from-phases"), geom, weight)
        y = self.ops.dfd_conv(x, packed, self._const((id(layer), "from-phases-bias"), bias), *geom)
        oh, ow = y.shape[2], y.shape[3]
        y = from_blocked(y, 4 * oc).reshape((n, 2, 2, oc, oh, ow)).transpose(0, 3, 4, 1, 5, 2)
        return y.reshape((n, oc, 2 * oh, 2 * ow)), oc

    @staticmethod
    def from_phases_applies(layer, size: tuple[int, int]) -> bool:
        """Whether :meth:`conv_from_phases` pays for a convolution on a (padded) input of ``size``."""
        if not isinstance(layer, nn.Conv):
            return False
        k = layer.kernel_size
        kc = k[0] // 2 + 1
        # output lanes × taps per output pixel: four phases of a quarter of the pixels each, against one map
        fewer = lanes(4 * layer.out_channels) * kc * kc < lanes(layer.out_channels) * k[0] * k[0]
        return (fewer and k[0] == k[1] and k[0] % 2 == 1
                and tuple(layer.stride) == (1, 1) and tuple(layer.padding) == (0, 0) and layer.groups == 1
                and tuple(layer.dilation) == (1, 1) and size[0] % 2 == 0 and size[1] % 2 == 0)

    @staticmethod
    def phases_apply(layer) -> bool:
        """Whether a transposed convolution doubles the size exactly (so its phases tile the output)."""
        k, s, p, op = layer.kernel_size[0], layer.stride[0], layer.padding[0], layer.output_padding[0]
        square = len({*layer.kernel_size}) == len({*layer.stride}) == len({*layer.padding}) == 1
        return square and s == 2 and k + op - 2 * p == 2 and layer.groups == 1

    def norm(self, layer, x, channels: int, relu: bool = False, pad: int = 0, residual=None, shuffle=False,
             unshuffle=False):
        gamma, beta, own_stats = self._affine(layer, channels)
        eps = float(getattr(layer, "eps", 1e-5))
        res = residual if residual is not None else x
        return self.ops.dfd_norm(x, gamma, beta, res, channels, int(own_stats), int(relu), pad,
                                 int(residual is not None), eps, int(shuffle), int(unshuffle))

    def pad(self, x, channels: int, pad: int, relu: bool = False):
        ones, zeros = self._identity(channels)
        return self.ops.dfd_norm(x, ones, zeros, x, channels, 0, int(relu), pad, 0, 0.0)

    # ------------------------------------------------------------------ sequences
    def run(self, layers, x, channels: int, residual=None):
        """Evaluate a list of layers on a blocked map of ``channels`` channels → (map, its channels).

        The result is plain N×C×H×W instead when the list ends in a convolution that
        :meth:`conv_from_phases` runs.

        The map may also be plain N×C×H×W when the first layer is a convolution (oneDNN reads a
        plain input directly there; blocking a one-channel crop would waste 15 of 16 lanes).

        ``residual`` is added by the last layer, which must then be a norm.
        """
        layers = list(layers)
        i = 0
        phases = False  # the map holds a transposed convolution's four phases, for the next norm to interleave
        while i < len(layers):
            layer = layers[i]
            if isinstance(layer, nn.Sequential):
                layers[i:i + 1] = list(layer)
                continue
            if isinstance(layer, DecoderBlock):
                layers[i:i + 1] = list(layer.conv)
                continue
            if isinstance(layer, EncoderBlock):
                layers[i:i + 1] = [layer.conv, layer.bn]
                continue
            if isinstance(layer, ResnetBlock):
                x, _ = self.run(layer.conv_block, x, channels, residual=x)
                i += 1
                continue
            last = i == len(layers) - 1
            if isinstance(layer, (nn.BatchNorm, nn.InstanceNorm)):
                relu = not last and isinstance(layers[i + 1], nn.ReLU)
                j = i + 1 + relu
                pad = layers[j].pl if j < len(layers) and isinstance(layers[j], nn.ReflectionPad2d) else 0
                k = j + (pad > 0)  # the layer after the norm's fused ReLU and padding
                f = 2 if phases else 1
                size = (x.shape[2] * f + 2 * pad, x.shape[3] * f + 2 * pad)
                if k == len(layers) - 1 and self.from_phases_applies(layers[k], size):
                    # the sequence ends in a convolution with few outputs: hand it the input's phases
                    x = self.norm(layer, x, channels, relu, pad, shuffle=phases, unshuffle=True)
                    return self.conv_from_phases(layers[k], x, channels)
                x = self.norm(layer, x, channels, relu, pad, residual if last else None, shuffle=phases)
                i = k
                phases = False
                continue
            if phases:
                raise NotImplementedError("a phase-split transposed convolution must be followed by a norm")
            if residual is not None and last:
                raise NotImplementedError("a residual branch must end in a norm layer")
            if isinstance(layer, nn.ReflectionPad2d):
                if len({layer.pl, layer.pr, layer.pt, layer.pb}) != 1:
                    raise NotImplementedError("uneven reflection padding")
                x = self.pad(x, channels, layer.pl)
            elif isinstance(layer, nn.ReLU):
                x = self.pad(x, channels, 0, relu=True)
            elif (isinstance(layer, nn.ConvTranspose) and self.phases_apply(layer)
                  and not last and isinstance(layers[i + 1], (nn.BatchNorm, nn.InstanceNorm))):
                x, channels = self.conv_phases(layer, x, channels)
                phases = True
            elif isinstance(layer, (nn.Conv, nn.ConvTranspose)):
                x, channels = self.conv(layer, x, channels)
            else:
                raise NotImplementedError(f"no blocked kernel for {type(layer).__name__}")
            i += 1
        return x, channels
