"""Fast inference over DeepFaceDrawing's networks (:class:`jdfd.model.DFDNetworks`), same faces.

:class:`jdfd.pipeline.DeepFaceDrawing` runs its CE, FM and IS through :class:`FastDFD` whenever jdfd's
oneDNN kernels work here (CPU with oneDNN); the networks' own ``execute`` is the
reference it is tested against. Two ways to run the same layers:

- ``kernels="onednn"`` (the default where available): :mod:`jdfd.kernels`, with
  maps kept in oneDNN's blocked layout, weights packed once, Winograd 3×3
  convolutions, transposed convolutions split into phases, and norm + ReLU +
  residual + padding fused into one pass. See :mod:`jdfd.kernels.blocked`.
- ``kernels="jittor"``: Jittor's own operators, except the norm statistics. The
  generator's InstanceNorm and the FM decoders' per-sample BatchNorm reduce every
  H×W map twice in Jittor's generated loops, which are scalar and single-threaded;
  here the two sums are matrix-vector products (oneDNN/BLAS), same formula
  ``var = max(E[x²] − E[x]², 0)``, other summation order. Only used when asked for
  (``jdfd bench`` history, tests): ``DeepFaceDrawing`` without the oneDNN kernels (CUDA,
  no oneDNN) runs the networks' own layers instead.

Both run the five encoders as one Jittor graph, synchronised once, and FM + IS as
one graph. The networks are not modified: :class:`FastDFD` walks the model's own
layers (same weight Vars) and evaluates them. It needs only the networks (and their
config): the dependency runs one way, pipeline → fast → networks/kernels.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from jdfd import components
from jdfd import kernels as jdfd_kernels
from jdfd.components import to_uint8_rgb
from jdfd.config import PARTS
from jdfd.kernels.blocked import BlockedRunner, from_blocked, lanes, to_blocked
from jdfd.model import DFDNetworks
from jdfd.networks.blocks import DecoderBlock, EncoderBlock, ResnetBlock, SampleStatBatchNorm
from jdfd.networks.fm import assemble
from jdfd.runtime import jittor

jt = jittor()
nn = jt.nn

#: Below this many pixels a map is summed by Jittor's own reduction: a BLAS call costs more than it saves.
MIN_GEMV_PIXELS = 1024
#: FM + IS take at most as many sketches at once as keep the generator's widest map under this size;
#: a larger batch runs in chunks. Every layer works sample by sample at inference (per-sample norm
#: statistics, eval BatchNorm), so the faces are the same; the paper model (67 MB a map) then peaks
#: at its batch-1 memory and reuses batch 1's packed weights, for ~3 % more time at batch 4.
MAX_MAP_BYTES = 64 * 2**20


class FastDFD:
    """Inference over DeepFaceDrawing's networks, faster, same results.

    ``kernels``: ``"onednn"`` runs FM and IS on jdfd's own oneDNN operators in the
    blocked layout (:mod:`jdfd.kernels.blocked`); ``"jittor"`` on Jittor's operators with
    the faster norm statistics below; ``"auto"`` the first that works here.
    The weights are read (and packed) once: make a new FastDFD after changing them.
    """

    def __init__(self, nets: DFDNetworks, kernels: str = "auto"):
        if kernels not in ("auto", "onednn", "jittor"):
            raise ValueError(f"kernels must be auto, onednn or jittor, not {kernels!r}")
        self.cfg = nets.cfg
        self.nets = nets
        self.nets.eval()
        self._ones: dict[int, jt.Var] = {}
        self.blocked: BlockedRunner | None = None
        if kernels != "jittor":
            ops = jdfd_kernels.load()
            if ops is None and kernels == "onednn":
                raise RuntimeError(f"jdfd's oneDNN kernels are not available: {jdfd_kernels.unavailable_reason()}")
            if ops is not None:
                self.blocked = BlockedRunner(ops)
        self.kernels = "onednn" if self.blocked else "jittor"

    # ------------------------------------------------------------------ layers
    def _ones_column(self, n: int):
        if n not in self._ones:
            ones = jt.ones((n, 1), "float32")
            ones.sync()
            self._ones[n] = ones.stop_grad()
        return self._ones[n]

    def _stats(self, x):
        """Per-sample, per-channel mean and mean of squares, N×C×1×1 each."""
        n, c, h, w = x.shape
        if h * w < MIN_GEMV_PIXELS:
            return jt.mean(x, dims=[2, 3], keepdims=True), jt.mean(x * x, dims=[2, 3], keepdims=True)
        flat = x.reshape((n * c, h * w))
        ones = self._ones_column(h * w)
        inv = 1.0 / (h * w)
        mean = jt.matmul(flat, ones).reshape((n, c, 1, 1)) * inv
        mean_sq = jt.matmul(flat * flat, ones).reshape((n, c, 1, 1)) * inv
        return mean, mean_sq

    def _norm(self, layer, x):
        """InstanceNorm / SampleStatBatchNorm: the layers' own formula, faster sums."""
        mean, mean_sq = self._stats(x)
        var = (mean_sq - mean * mean).maximum(0.0)
        shape = (1, -1, 1, 1)
        weight = layer.weight.reshape(shape) if isinstance(layer.weight, jt.Var) else layer.weight
        bias = layer.bias.reshape(shape) if isinstance(layer.bias, jt.Var) else layer.bias
        scale = weight / jt.sqrt(var + layer.eps)
        return x * scale + (bias - mean * scale)

    def _run(self, module, x):
        if isinstance(module, nn.Sequential):
            for layer in module:
                x = self._run(layer, x)
            return x
        if isinstance(module, ResnetBlock):
            return x + self._run(module.conv_block, x)
        if isinstance(module, (SampleStatBatchNorm, nn.InstanceNorm)):
            return self._norm(module, x)
        if isinstance(module, EncoderBlock):
            return module.bn(module.conv(x))  # eval BatchNorm: no statistics to compute
        if isinstance(module, DecoderBlock):
            return self._run(module.conv, x)
        if isinstance(module, nn.BatchNorm) and module.is_train:
            raise RuntimeError("FastDFD is for inference: the networks must be in eval mode")
        return module(x)

    def _encoder(self, part: str, x):
        enc = self.nets.encoders[part]
        if self.blocked is None:
            h = self._run(enc.conv, x)
        else:
            h = from_blocked(*self.blocked.run(enc.conv, x, x.shape[1]))
        return enc.fc_mu(h.reshape((h.shape[0], -1)))

    def _latent_decoder(self, dec, z):
        """An FM or stage-I image decoder (``LatentDecoder``) → (map, channels); blocked with the kernels."""
        x = dec.fc(z).reshape((z.shape[0], dec.c0, dec.grid, dec.grid))
        if self.blocked is None:
            return self._run(dec.conv, x), None
        return self.blocked.run(dec.conv, to_blocked(x), dec.c0)

    def _feature_map(self, codes: dict):
        # Blocked maps paste like plain ones (boxes on dims 2 and 3); the generator takes them as they are.
        fm = self.nets.fm
        return assemble({p: self._latent_decoder(fm.decoder(p), codes[p])[0] for p in PARTS}, fm.boxes,
                        fm.nose_crop)

    def _generator(self, fmap):
        """IS on a feature map (blocked when the oneDNN kernels run) → B×3×S×S in [-1, 1]."""
        layers = list(self.nets.G.model)
        if self.blocked is None:
            return self._run(self.nets.G.model, fmap)
        if not isinstance(layers[-1], nn.Tanh):
            raise NotImplementedError("the generator must end in Tanh")
        return jt.tanh(from_blocked(*self.blocked.run(layers[:-1], fmap, self.cfg.feature_channels)))

    def chunk(self) -> int:
        """How many sketches FM + IS take at once (see :data:`MAX_MAP_BYTES`)."""
        return max(1, MAX_MAP_BYTES // (self.cfg.image_size ** 2 * lanes(self.cfg.ngf) * 4))

    def _chunked(self, fn, arrays: dict[str, np.ndarray] | np.ndarray) -> np.ndarray:
        """``fn`` over the batch in chunks of :meth:`chunk` samples, concatenated."""
        first = arrays if isinstance(arrays, np.ndarray) else next(iter(arrays.values()))
        n, step = len(first), self.chunk()
        if n <= step:
            return fn(arrays)
        cut = (lambda a, i: a[i:i + step]) if isinstance(arrays, np.ndarray) else (
            lambda a, i: {k: v[i:i + step] for k, v in a.items()})
        return np.concatenate([fn(cut(arrays, i)) for i in range(0, n, step)])

    # ------------------------------------------------------------------ stages (numpy in, numpy out)
    def encode_crops(self, crops: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """CE on normalised B×1×n×n crops: all five encoders in one graph, one sync."""
        with jt.no_grad():
            codes = {p: self._encoder(p, jt.array(crops[p])) for p in PARTS}
            jt.sync(list(codes.values()))
            return {p: codes[p].numpy() for p in PARTS}

    def encode(self, sketches: np.ndarray) -> dict[str, np.ndarray]:
        """B×S×S uint8 sketches at model size → ``{part: B×latent}``, as ``DeepFaceDrawing.encode``."""
        crops = components.crop_components(sketches, self.cfg.boxes())
        return self.encode_crops({p: components.normalise(c)[:, None] for p, c in crops.items()})

    def feature_map(self, codes: dict[str, np.ndarray]) -> np.ndarray:
        """FM: vectors → B×C×S×S feature map (NCHW, whatever the kernels keep inside)."""
        return self._chunked(self._feature_map_np, {p: np.asarray(v, np.float32) for p, v in codes.items()})

    def _feature_map_np(self, codes: dict[str, np.ndarray]) -> np.ndarray:
        with jt.no_grad():
            fmap = self._feature_map({p: jt.array(np.asarray(v, np.float32)) for p, v in codes.items()})
            if self.blocked is not None:
                fmap = from_blocked(fmap, self.cfg.feature_channels)
            return fmap.numpy()

    def generator(self, fmap: np.ndarray) -> np.ndarray:
        """IS: B×C×S×S feature map → B×3×S×S in [-1, 1]."""
        return self._chunked(self._generator_np, np.asarray(fmap, np.float32))

    def _generator_np(self, fmap: np.ndarray) -> np.ndarray:
        with jt.no_grad():
            x = jt.array(fmap)
            return self._generator(to_blocked(x) if self.blocked is not None else x).numpy()

    def decode_images(self, part: str, vectors: np.ndarray) -> np.ndarray:
        """Stage-I image decoder of a part (the shadow's): B×latent → B×1×n×n."""
        with jt.no_grad():
            z = jt.array(np.asarray(vectors, np.float32))
            return from_blocked(*self._latent_decoder(self.nets.image_decoders[part], z)).numpy()

    def synthesize(self, codes: dict[str, np.ndarray]) -> np.ndarray:
        """FM + IS in one graph: vectors → B×S×S×3 uint8, as ``DeepFaceDrawing.synthesize``."""
        return self._chunked(self._synthesize_np, {p: np.asarray(v, np.float32) for p, v in codes.items()})

    def _synthesize_np(self, codes: dict[str, np.ndarray]) -> np.ndarray:
        with jt.no_grad():
            fmap = self._feature_map({p: jt.array(np.asarray(v, np.float32)) for p, v in codes.items()})
            return to_uint8_rgb(self._generator(fmap).numpy())

    def faces(self, sketches: np.ndarray, project: Callable[[dict], dict] | None = None) -> np.ndarray:
        """B×S×S uint8 sketches at model size → B×S×S×3 uint8 faces at model size.

        ``project`` maps the sketches' vectors to the ones to synthesise (e.g. the manifold
        projection of a ``DeepFaceDrawing``); ``None`` uses them as they are (blend 0).
        """
        codes = self.encode(sketches)
        return self.synthesize(project(codes) if project is not None else codes)
