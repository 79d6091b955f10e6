"""Training on oneDNN's blocked layout: differentiable convolutions and the networks run on them.

``blocked_conv(kernels, layer, x)`` runs an ``nn.Conv`` on an N×⌈C/B⌉×H×W×B map (see
:mod:`jdfd.kernels.blocked`) with ``dfd_conv`` forward and ``dfd_conv_bwd_data`` /
``dfd_conv_bwd_weights`` backward, so a chain of such layers never reorders its
activations, which Jittor's own ``mkl_conv*`` operators do on every call, forward and
backward. The weights are the layer's own (oihw): they change at every optimiser step, so
each call packs them for the forward and the backward-data pass reorders them itself.

Transposed convolutions are the backward-data pass of the ordinary convolution they invert
(:func:`blocked_conv_transpose`), so they need no primitives of their own.

:class:`TrainingRunner` runs every network a training step uses on it: the CE encoders, the
stage-I and FM decoders, the generator, the discriminator and the frozen VGG16 of the perceptual
loss. A norm and the (leaky) ReLU after it run as one op each way (``dfd_norm_train``,
``dfd_norm_grad``: statistics in double, so exact where a map's mean dwarfs its spread, which
Jittor's own E[x²] - E[x]² in float32 is not), reflection padding as ``dfd_pad``; pooling,
residual adds and the rest are Jittor operators on the blocked map. The Trainer uses it when
``TrainConfig.kernels`` is on.
``scripts/conv_grad_bench.py`` and ``scripts/profile_training.py`` time it against Jittor's own
layers; ``tests/test_kernels.py`` and ``tests/test_training.py`` check its gradients.
"""

from __future__ import annotations

from jdfd.kernels.blocked import BLOCK, from_blocked, lanes, to_blocked
from jdfd.networks.blocks import DecoderBlock, EncoderBlock, ResnetBlock, SampleStatBatchNorm
from jdfd.runtime import jittor

jt = jittor()
nn = jt.nn


class _BlockedConv(jt.Function):
    """``geom`` with its algorithm per pass: ``winograd`` = (forward, backward-data, backward-weights).
    The forward's Winograd is the ``dfd_conv`` geometry's algo 2: weights packed in a plain blocked
    layout and transformed inside oneDNN's kernel. Its pre-transformed layout (algo 1) is for weights
    packed once: oneDNN's reorder into it took longer than the convolution (5 ms for 192 × 192 × 3 × 3)."""

    def __init__(self, ops, geom: tuple, winograd: tuple = (False, False, False)):
        self.ops = ops
        self.fwd, self.data, self.weights = (_with_algo(geom, a) for a in (2 * winograd[0], *winograd[1:]))

    def execute(self, x, w, b):
        self.x, self.w = x, w
        return self.ops.dfd_conv(x, self.ops.dfd_pack(w, *self.fwd), b, *self.fwd)

    def grad(self, dy):
        plain = self.fwd[-1]
        # a plain (NCHW) input is the network's data, which needs no gradient; oneDNN has only
        # its slow reference backward-data for that layout
        dx = None if plain else self.ops.dfd_conv_bwd_data(dy, self.w, *self.data)
        dw, db = self.ops.dfd_conv_bwd_weights(self.x, dy, *self.weights)
        return dx, dw, db


def _with_algo(geom: tuple, algo) -> tuple:
    return geom[:10] + (int(algo),) + geom[11:]


def winograd_passes(geom: tuple) -> tuple[bool, bool, bool]:
    """Whether (forward, backward-data, backward-weights) of a 3×3 stride-1 convolution ``geom`` (blocked
    input) should run Winograd in training.

    Winograd transforms the maps (and the forward its weights, inside the kernel) on every call, which
    pays only above some work: a few hundred to a thousand output pixels over the batch, more on 32
    channels and far more on 16, where direct is faster for all but the largest maps.
    Fitted to ``scripts/winograd_choice.py`` on an AVX-512 Xeon (compact's layers at batch 2 on 2 threads
    and at batch 8 on 1, the paper's at batch 1): within 1 % of the faster pass per layer in total for
    each pass and stage, and never more than 15 % (0.05 ms) off on a layer except on the paper's largest
    32- and 64-channel maps, where oneDNN's Winograd backward-data times were erratic (up to 1.6× direct)
    and the rule is up to 12 % above the faster total.
    """
    n, ic = geom[0], geom[1]
    pixels = n * (geom[2] + geom[7] + geom[8] - 2) * (geom[3] + geom[7] + geom[8] - 2)
    return (ic >= 32 and pixels * ic >= 49152,
            ic >= 32 and pixels >= 1024,
            pixels >= (384 if ic >= 64 else (1 << 19) // ic))


def conv_geometry(layer, x_shape: tuple, in_channels: int | None = None) -> tuple:
    """The ``dfd_*`` geometry of ``layer`` (an ``nn.Conv``) on an input of ``x_shape`` (blocked or NCHW), direct
    (:func:`_with_algo` sets the algorithm per pass)."""
    plain = len(x_shape) == 4
    n, h, w = x_shape[0], x_shape[2], x_shape[3]
    k, s, p = layer.kernel_size[0], layer.stride[0], layer.padding[0]
    ic = in_channels or layer.in_channels
    return (n, ic, h, w, layer.out_channels, k, s, p, p, 0, 0, int(plain))


class _BlockedConvT(jt.Function):
    """A transposed convolution is the backward-data pass of the ordinary convolution ``geom`` that maps
    its output back to its input (same weight tensor, in × out × k × k, read as that conv's oihw); so its
    backward-data is that conv's forward, and its weight gradient that conv's with input and output swapped."""

    def __init__(self, ops, geom: tuple):
        self.ops, self.geom = ops, geom

    def execute(self, x, w):
        self.x, self.w = x, w
        return self.ops.dfd_conv_bwd_data(x, w, *self.geom)

    def grad(self, dy):
        oc = self.geom[4]
        dx = self.ops.dfd_conv(dy, self.ops.dfd_pack(self.w, *self.geom), jt.zeros((oc,)), *self.geom)
        dw, _ = self.ops.dfd_conv_bwd_weights(dy, self.x, *self.geom)
        return dx, dw


class _FrozenConv(jt.Function):
    """A convolution whose weights never train (VGG): packed once by the caller, gradient to the input only
    (``data_geom``: the geometry with the backward-data pass's algorithm)."""

    def __init__(self, ops, geom: tuple, packed, w, b, data_geom: tuple):
        self.ops, self.geom, self.packed, self.w, self.b, self.data_geom = ops, geom, packed, w, b, data_geom

    def execute(self, x):
        return self.ops.dfd_conv(x, self.packed, self.b, *self.geom)

    def grad(self, dy):
        return self.ops.dfd_conv_bwd_data(dy, self.w, *self.data_geom)


def blocked_conv_transpose(kernels, layer, x, bias: bool = True):
    """``layer(x)`` for an ``nn.ConvTranspose`` with ``x`` (N×⌈C/B⌉×h×w×B) and the result blocked
    (``bias=False``: without the layer's bias, for a norm after it to take, see ``TrainingRunner.run``)."""
    k, s, p, op = layer.kernel_size[0], layer.stride[0], layer.padding[0], layer.output_padding[0]
    if layer.groups != 1 or layer.dilation[0] != 1 or layer.kernel_size[0] != layer.kernel_size[1] or op > p:
        raise ValueError("blocked_conv_transpose: square kernels, no groups or dilation, output_padding ≤ padding")
    n, h, w = x.shape[0], x.shape[2], x.shape[3]
    big_h, big_w = (h - 1) * s - 2 * p + k + op, (w - 1) * s - 2 * p + k + op
    # the ordinary convolution from the output (out_channels) back to the input (in_channels); the
    # output padding is a row and column that conv's right padding no longer reaches
    geom = (n, layer.out_channels, big_h, big_w, layer.in_channels, k, s, p, p - op, 0, 0, 0)
    y = _BlockedConvT(kernels.ops, geom)(x, layer.weight)
    if layer.bias is None or not bias:
        return y
    return y + _lanes(layer.bias, layer.out_channels).broadcast(y, [0, 2, 3])


def _weight_for(layer, x) -> tuple:
    """(weights, their input channels) for ``layer`` on ``x``. A blocked input of fewer than B channels
    (an image, image + sketch) reads as one full block: the weights get zero input channels up to B,
    because oneDNN has only its slow reference kernels for a partly filled block there."""
    w, ic = layer.weight, layer.in_channels
    if x.ndim == 5 and ic < BLOCK:
        w = jt.concat([w, jt.zeros((w.shape[0], BLOCK - ic) + tuple(w.shape[2:]), w.dtype)], dim=1)
        ic = BLOCK
    return w, ic


_slow_plain: dict[tuple, bool] = {}


def _plain_weights_grad_is_slow(kernels, geom: tuple) -> bool:
    """Whether oneDNN has only its reference loops for the weight gradient of ``geom`` (a plain input)."""
    if geom not in _slow_plain:
        _slow_plain[geom] = kernels.dfd_conv_grad_impl(*geom).split(" / ")[-1].startswith("ref")
    return _slow_plain[geom]


def blocked_conv(kernels, layer, x, winograd: bool | tuple = False):
    """``layer(x)`` with ``x`` and the result in the blocked layout (``x`` may be NCHW: the first layer).
    ``winograd``: for all three passes, or (forward, backward-data, backward-weights); "auto":
    :func:`winograd_passes` (3×3 stride-1 layers of at least a block of input channels)."""
    if layer.groups != 1 or layer.dilation[0] != 1 or layer.kernel_size[0] != layer.kernel_size[1]:
        raise ValueError("blocked_conv: square kernels without groups or dilation only")
    bias = layer.bias if layer.bias is not None else jt.zeros((layer.out_channels,))
    if x.ndim == 4 and _plain_weights_grad_is_slow(kernels, conv_geometry(layer, tuple(x.shape))):
        x = to_blocked(x)  # e.g. AVX2: no JIT weight gradient from an NCHW input; a block of 8 lanes has one
    w, ic = _weight_for(layer, x)
    geom = conv_geometry(layer, tuple(x.shape), ic)
    if winograd == "auto":
        k, s = layer.kernel_size[0], layer.stride[0]
        winograd = winograd_passes(geom) if k == 3 and s == 1 and layer.in_channels >= BLOCK and x.ndim == 5 else False
    passes = tuple(winograd) if isinstance(winograd, tuple) else (winograd,) * 3
    return _BlockedConv(kernels.ops, geom, passes)(x, w, bias)


def _phase_factor(layer, x) -> int:
    """The f for :func:`conv_on_output_phases` (0: not applicable). A convolution with fewer outputs than a
    block wastes most of every vector lane (an image decoder's last layer: 1 output of 16 lanes); computing
    its f×f output phases as channels fills f²·out of them."""
    k, oc = layer.kernel_size[0], layer.out_channels
    if (x.ndim != 5 or layer.stride[0] != 1 or layer.padding[0] != 0 or layer.groups != 1
            or layer.dilation[0] != 1 or layer.kernel_size[1] != k):
        return 0
    h, w = x.shape[2], x.shape[3]
    for f in (4, 2):
        if f * f * oc <= BLOCK and (k - 1) % f == 0 and h % f == 0 and w % f == 0:
            return f
    return 0


def conv_on_output_phases(kernels, layer, x, f: int):
    """``layer(x)`` (stride 1, no padding, (k - 1) divisible by f) as an NCHW map, computed as one convolution
    of the input's f×f phases (f²·C channels, each a 1/f-size map) into the output's f×f phases (f²·out
    channels): output pixel (f·a + p, f·b + q) reads input phase (r, s) at (a + da, b + db) through the weight
    tap (f·da + r - p, f·db + s - q). Taps are (k - 1)/f + 1 per side; weights outside the kernel are 0. The
    reshuffles and the weights' rearrangement are Jittor operators, so their gradients are Jittor's."""
    n, cb, h, w, bl = x.shape
    oc, k = layer.out_channels, layer.kernel_size[0]
    t = (k - 1) // f + 1
    hp, wp = h // f, w // f
    xp = x.reshape((n, cb, hp, f, wp, f, bl)).transpose(0, 1, 3, 5, 2, 4, 6).reshape((n, cb * f * f, hp, wp, bl))
    # (p, q, o) × (cb, r, s, lane) × da × db, from the layer's oc × ic × k × k; out of range (a tap past
    # the kernel, a lane past ic) reads 0
    wq = layer.weight.reindex([f, f, oc, cb, f, f, bl, t, t],
                              ["i2", f"i3*{bl}+i6", f"{f}*i7+i4-i0", f"{f}*i8+i5-i1"], overflow_value=0.0)
    wq = wq.reshape((f * f * oc, cb * f * f * bl, t, t))
    bias = layer.bias if layer.bias is not None else jt.zeros((oc,))
    bq = bias.reindex([f * f * oc], [f"i0%{oc}"])
    geom = (n, cb * f * f * bl, hp, wp, f * f * oc, t, 1, 0, 0, 0, 0, 0)
    yp = _BlockedConv(kernels.ops, geom)(xp, wq, bq)  # n × 1 × ho/f × wo/f × B, lanes (p, q, o)
    ha, wa = yp.shape[2], yp.shape[3]
    y = yp[:, 0, :, :, :f * f * oc].reshape((n, ha, wa, f, f, oc))
    return y.transpose(0, 5, 1, 3, 2, 4).reshape((n, oc, ha * f, wa * f))


# ---------------------------------------------------------------------------- whole networks
class _BlockedPad(jt.Function):
    """ReflectionPad2d on a blocked map with ``dfd_pad`` both ways (Jittor's reindex_reduce for the
    backward ran single-threaded)."""

    def __init__(self, ops, p: int):
        self.ops, self.p = ops, p

    def execute(self, x):
        return self.ops.dfd_pad(x, self.p, 0)

    def grad(self, dy):
        return self.ops.dfd_pad(dy, self.p, 1)


def _lanes(v, channels: int):
    """A per-channel vector as ⌈C/B⌉×B, zero past C (so padded lanes stay zero after a norm)."""
    cb = lanes(channels) // BLOCK
    if cb * BLOCK != channels:
        v = jt.concat([v, jt.zeros((cb * BLOCK - channels,), v.dtype)])
    return v.reshape((cb, BLOCK))


def _eval_norm(layer, x, channels: int):
    """An eval-mode BatchNorm on a blocked map: the affine of its running statistics."""
    gamma, beta = _lanes(layer.weight, channels), _lanes(layer.bias, channels)
    mean, var = _lanes(layer.running_mean, channels), _lanes(layer.running_var, channels)
    w = gamma / jt.sqrt(var + layer.eps)
    b = beta - mean * w
    return x * w.broadcast(x, [0, 2, 3]) + b.broadcast(x, [0, 2, 3])


class _NormTrain(jt.Function):
    """A norm with its statistics (per sample, or per channel over the batch) and the activation after it,
    forward and backward in one multi-threaded op each (``dfd_norm_train``, ``dfd_norm_grad``)."""

    def __init__(self, ops, channels: int, per_sample: bool, slope: float, eps: float):
        self.ops, self.attrs = ops, (channels, int(per_sample), slope, eps)

    def execute(self, x, gamma, beta, *shift):
        y, stats = self.ops.dfd_norm_train(x, gamma, beta, *self.attrs)
        self.saved = (x, stats, gamma, beta, shift)
        return y, stats

    def grad(self, dy, dstats):
        x, stats, gamma, beta, shift = self.saved
        dx, dgb = self.ops.dfd_norm_grad(x, dy, stats, gamma, beta, *self.attrs)
        # a per-channel shift of the input changes neither the output nor the loss: its gradient is 0
        return (dx, dgb[0], dgb[1]) + tuple(jt.zeros(v.shape) for v in shift)


def _batch_statistics(layer) -> bool:
    """Whether ``layer`` is a norm that normalises with statistics of the maps themselves (so a per-channel
    constant added before it cancels out)."""
    if isinstance(layer, (SampleStatBatchNorm, nn.InstanceNorm)):
        return True
    return isinstance(layer, nn.BatchNorm) and layer.is_train


def _fused_norm(kernels, layer, x, channels: int, slope: float = 1.0, shift=None):
    """``act(layer(x + shift))`` on a blocked map by :class:`_NormTrain`, ``act`` a (leaky) ReLU of ``slope``
    (1: none), with the layer's own running-statistics updates (BatchNorm's and SampleStatBatchNorm's
    ``execute``); ``None`` for an eval-mode BatchNorm (:func:`_eval_norm`). ``shift`` (per channel, e.g.
    the bias of the transposed convolution before the norm) cancels out of the output; only the running
    mean sees it."""
    per_sample = isinstance(layer, (SampleStatBatchNorm, nn.InstanceNorm))
    if not (per_sample or layer.is_train):
        return None
    if not per_sample and getattr(layer, "sync", False) and jt.in_mpi:  # the per-sample norms never sync
        raise NotImplementedError("synced BatchNorm on the blocked layout (the Trainer turns sync off)")
    if isinstance(layer.weight, jt.Var):
        gamma, beta = layer.weight, layer.bias
    else:  # InstanceNorm(affine=False)
        gamma, beta = jt.ones((channels,)), jt.zeros((channels,))
    y, stats = _NormTrain(kernels.ops, channels, per_sample, slope, layer.eps)(
        x, gamma, beta, *(() if shift is None else (shift,)))
    if not isinstance(layer, nn.InstanceNorm) and layer.is_train:
        shift = _zeros(channels) if shift is None else shift.detach()
        mean, var = kernels.ops.dfd_running_stats(stats.detach(), layer.running_mean, layer.running_var, shift,
                                                  channels, layer.momentum)
        layer.running_mean.update(mean)
        layer.running_var.update(var)
    return y


_zero_vectors: dict[int, object] = {}


def _zeros(n: int):
    """A constant zero vector of ``n``, made once (not an operator on every step)."""
    if n not in _zero_vectors:
        _zero_vectors[n] = jt.zeros((n,)).stop_grad()
        _zero_vectors[n].sync()
    return _zero_vectors[n]


class _Tanh(jt.Function):
    """tanh with its gradient from the output, dy·(1 - y²): Jittor's own takes dy / cosh²(x), and cosh
    is a slow scalar loop (4 ms of a compact stage-II step for the generator's 3 output maps)."""

    def execute(self, x):
        self.y = x.tanh()
        return self.y

    def grad(self, dy):
        return dy * (1.0 - self.y * self.y)


def _slope(layer) -> float | None:
    """The negative slope of a ReLU (0) or LeakyReLU layer, ``None`` for any other layer."""
    if isinstance(layer, nn.ReLU):
        return 0.0
    if isinstance(layer, nn.LeakyReLU):  # Jittor's module keeps leaky_relu's arguments: (scale=0.01)
        return float(layer.args[0] if layer.args else layer.kw.get("scale", 0.01))
    return None


class TrainingRunner:
    """Runs the networks' layer lists on blocked maps, differentiably (forward and backward).

    Convolutions are :func:`blocked_conv` (Winograd or direct per pass for 3×3 stride-1 layers of at least
    a block of channels: :func:`winograd_passes`), :func:`conv_on_output_phases` for those with fewer outputs than a
    block (an NCHW result) and :func:`blocked_conv_transpose`; a norm in training (and the
    activation after it) :func:`_fused_norm`, padding ``dfd_pad``; the rest (eval-mode BatchNorm,
    lone activations, residual adds, pooling) Jittor's own operators on the blocked map. A layer it does not
    know raises ``NotImplementedError`` (the jdfd networks use none).
    """

    def __init__(self, kernels, winograd: bool = True):
        self.kernels = kernels
        self.winograd = winograd
        self._frozen: dict[tuple, tuple] = {}  # (frozen layer, geometry) → (packed, weights, bias)

    def run(self, module, x, channels: int):
        """``module(x)`` with ``x`` blocked (or NCHW at the first layer) → (blocked result, its channels)."""
        if isinstance(module, nn.Sequential):
            layers, i, shift = list(module), 0, None
            while i < len(layers):
                layer, nxt = layers[i], layers[i + 1] if i + 1 < len(layers) else None
                if isinstance(layer, nn.ConvTranspose) and layer.bias is not None and _batch_statistics(nxt):
                    # the norm after it removes any per-channel constant: its bias goes to the norm,
                    # for the running mean only, which saves adding it (and its gradient) over the map
                    x, channels = blocked_conv_transpose(self.kernels, layer, x, bias=False), layer.out_channels
                    shift, i = layer.bias, i + 1
                    continue
                slope = _slope(nxt) if isinstance(layer, (nn.BatchNorm, nn.InstanceNorm)) else None
                if slope is not None or shift is not None:  # a norm, with an activation or a bias to take
                    if x.ndim == 4:  # after a convolution on output phases
                        x = to_blocked(x)
                    y = _fused_norm(self.kernels, layer, x, channels, 1.0 if slope is None else slope, shift)
                    if y is not None:  # the norm (and the activation after it), as one op
                        x, i, shift = y, i + (1 if slope is None else 2), None
                        continue
                x, channels = self.run(layer, x, channels)
                i += 1
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
            f = _phase_factor(module, x)
            if f:  # an NCHW result: what follows (tanh, the end of the network) takes either layout
                return conv_on_output_phases(self.kernels, module, x, f), module.out_channels
            return blocked_conv(self.kernels, module, x, "auto" if self.winograd else False), module.out_channels
        if isinstance(module, nn.ConvTranspose):
            return blocked_conv_transpose(self.kernels, module, x), module.out_channels
        if isinstance(module, nn.ReflectionPad2d) and module.pl == module.pr == module.pt == module.pb:
            return (_BlockedPad(self.kernels.ops, module.pl)(x) if x.ndim == 5 else module(x)), channels
        if isinstance(module, (nn.BatchNorm, nn.InstanceNorm)):  # SampleStatBatchNorm included
            x = to_blocked(x) if x.ndim == 4 else x
            y = _fused_norm(self.kernels, module, x, channels)
            return (_eval_norm(module, x, channels) if y is None else y), channels
        if isinstance(module, nn.Tanh):  # element-wise: zero lanes stay zero
            return _Tanh()(x), channels
        if isinstance(module, (nn.ReLU, nn.LeakyReLU)):
            return module(x), channels
        raise NotImplementedError(f"TrainingRunner: no blocked training path for {type(module).__name__}")

    def encoder(self, enc, x):
        """A ``ComponentEncoder`` on a B×1×n×n crop → B×latent."""
        h, c = self.run(enc.conv, x, x.shape[1])
        h = from_blocked(h, c)
        return enc.fc_mu(h.reshape((h.shape[0], -1)))

    def _decode(self, dec, z) -> tuple:
        x = dec.fc(z).reshape((z.shape[0], dec.c0, dec.grid, dec.grid))
        return self.run(dec.conv, to_blocked(x), dec.c0)

    def decoder(self, dec, z):
        """A ``LatentDecoder`` (stage-I image decoder or FM decoder) on B×latent → B×C×n×n."""
        return from_blocked(*self._decode(dec, z))

    def feature_maps(self, dec, z):
        """An FM decoder's maps for the paste and the generator: blocked where its channels fill whole
        blocks (the paste slices height and width only, and the generator reads them as they are, which
        saves a reorder out and back, forward and backward), else B×C×n×n."""
        y, c = self._decode(dec, z)
        return y if y.ndim == 5 and c % BLOCK == 0 else from_blocked(y, c)

    def generator(self, G, x, plain_input: bool = False):
        """The IS generator on N×C×H×W (or blocked, whole blocks: :meth:`feature_maps`) → N×3×H×W.
        ``plain_input``: ``x`` needs no gradient (the baseline's sketch), so the first convolution reads
        it as it is instead of padded to a block."""
        if x.ndim == 5:
            h, c = self.run(G.model, x, x.shape[1] * BLOCK)
        else:
            h, c = self.run(G.model, x if plain_input else to_blocked(x), x.shape[1])
        return from_blocked(h, c)

    def discriminator(self, D, x) -> list[list]:
        """The multi-scale discriminator, every scale's maps as ``D(x)`` gives them. Maps whose channels
        fill whole blocks stay blocked: the losses take means over them, which the layout does not change."""
        out = []
        for i in range(D.num_d):
            net = getattr(D, f"scale{i}")
            h, c = to_blocked(x), x.shape[1]
            feats = []
            for j in range(net.n_stages):
                h, c = self.run(getattr(net, f"model{j}"), h, c)
                feats.append(h if c % BLOCK == 0 else from_blocked(h, c))
            out.append(feats)
            if i != D.num_d - 1:
                x = D.down(x)
        return out

    def vgg(self, vgg, x) -> list:
        """``vgg(x)`` (a frozen ``VGG16Features``) with its weights packed once; every tap has whole blocks
        of channels, so its maps stay blocked (the perceptual loss takes means over them)."""
        h = to_blocked(vgg.preprocess(x))
        feats = {}
        for name in vgg._plan:
            if name == "pool":  # 2×2 max pooling, stride 2 (VGG's maps have even sides)
                n, cb, hh, ww, bl = h.shape
                h = h.reshape((n, cb, hh // 2, 2, ww // 2, 2, bl)).max(dims=[3, 5])
                continue
            conv = getattr(vgg, name)
            ic = max(conv.in_channels, BLOCK)  # as _weight_for pads it (h is blocked)
            geom = conv_geometry(conv, tuple(h.shape), ic)
            fwd, data, _ = winograd_passes(geom) if self.winograd else (False, False, False)
            # Winograd on plain blocked weights (algo 2), as for the trained layers: oneDNN's pre-transformed
            # copy would save little time and hold 4× the weights (+180 MB for VGG16)
            geom, data_geom = _with_algo(geom, 2 * fwd), _with_algo(geom, data)
            key = (id(conv), geom)
            if key not in self._frozen:  # the weights never change: pad and pack them once
                w = _weight_for(conv, h)[0].stop_grad()
                packed = self.kernels.ops.dfd_pack(w, *geom).stop_grad()
                jt.sync([w, packed])
                self._frozen[key] = (packed, w, conv.bias.stop_grad())
            packed, w, bias = self._frozen[key]
            h = _FrozenConv(self.kernels.ops, geom, packed, w, bias, data_geom)(h).maximum(0.0)
            feats[f"relu{name[4:]}"] = h
        return [feats[t] for t in vgg._taps]
