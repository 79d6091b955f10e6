"""A faster Jittor inference path with :class:`jdfd.pipeline.DeepFaceDrawing`'s results.

Profiling jdfd's networks on a CPU (``jt.profile_scope``) shows where Jittor loses
time: not in the convolutions, which oneDNN runs, but in the normalisation
statistics. The generator's InstanceNorm and the FM decoders' per-sample BatchNorm
reduce every H×W map twice (mean and mean of squares) in Jittor's own generated
loops, which are scalar and single-threaded: a quarter of the generator's time and
more than a third of the FM decoders'. Here those two sums are matrix-vector
products (oneDNN/BLAS: vectorised and multi-threaded), with the same formula
``var = max(E[x²] − E[x]², 0)``, so the only change is the order of summation
(float rounding, far below 1/255 on the output).

Also:
- the five encoders are one Jittor graph, synchronised once (jdfd's ``encode``
  fetches each code separately, which runs five graphs);
- FM and IS stay one graph; all-ones vectors for the sums are made once and kept.

The networks are not modified: :class:`FastDFD` walks the model's own layers
(same weight Vars, nothing copied) and evaluates them, replacing only the norms.
"""

from __future__ import annotations

import numpy as np

from jdfd import components
from jdfd.config import CANVAS, PARTS
from jdfd.networks.blocks import DecoderBlock, EncoderBlock, ResnetBlock, SampleStatBatchNorm
from jdfd.networks.fm import assemble
from jdfd.pipeline import DeepFaceDrawing, GenerationResult, to_uint8_rgb
from jdfd.projection import DEFAULT_K
from jdfd.runtime import jittor

jt = jittor()
nn = jt.nn

#: Below this many pixels a map is summed by Jittor's own reduction: a BLAS call costs more than it saves.
MIN_GEMV_PIXELS = 1024


class FastDFD:
    """Inference over a :class:`DeepFaceDrawing`'s networks and banks, faster, same results."""

    def __init__(self, model: DeepFaceDrawing):
        self.model = model
        self.cfg = model.cfg
        self.nets = model.nets
        self.nets.eval()
        self._ones: dict[int, jt.Var] = {}

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
        h = self._run(enc.conv, x)
        return enc.fc_mu(h.reshape((h.shape[0], -1)))

    def _fm_decoder(self, part: str, z):
        dec = self.nets.fm.decoder(part)
        x = dec.fc(z).reshape((z.shape[0], dec.c0, dec.grid, dec.grid))
        return self._run(dec.conv, x)

    def _feature_map(self, codes: dict):
        fm = self.nets.fm
        return assemble({p: self._fm_decoder(p, codes[p]) for p in PARTS}, fm.boxes, fm.nose_crop)

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
        with jt.no_grad():
            return self._feature_map({p: jt.array(np.asarray(v, np.float32)) for p, v in codes.items()}).numpy()

    def generator(self, fmap: np.ndarray) -> np.ndarray:
        with jt.no_grad():
            return self._run(self.nets.G.model, jt.array(fmap)).numpy()

    def synthesize(self, codes: dict[str, np.ndarray]) -> np.ndarray:
        """FM + IS in one graph: vectors → B×S×S×3 uint8, as ``DeepFaceDrawing.synthesize``."""
        with jt.no_grad():
            fmap = self._feature_map({p: jt.array(np.asarray(v, np.float32)) for p, v in codes.items()})
            return to_uint8_rgb(self._run(self.nets.G.model, fmap).numpy())

    def faces(self, sketches: np.ndarray, blend=1.0, gender: str | None = None, k: int = DEFAULT_K,
              method: str = "lle") -> np.ndarray:
        """B×S×S uint8 sketches at model size → B×S×S×3 uint8 faces at model size."""
        codes, _ = self.model.project(self.encode(sketches), blend, gender, k, method)
        return self.synthesize(codes)

    def generate(self, sketch, blend=1.0, gender: str | None = None, k: int = DEFAULT_K, shadow: bool = False,
                 method: str = "lle") -> GenerationResult:
        """Drop-in for ``DeepFaceDrawing.generate``: one sketch (path or array) → a 512×512 face."""
        x = self.model.prepare(sketch)[None]
        codes_raw = self.encode(x)
        codes, details = self.model.project(codes_raw, blend, gender, k, method)
        image = components.resize_rgb(self.synthesize(codes)[0], CANVAS)
        result = GenerationResult(image=image, projections={p: d[0] for p, d in details.items()})
        if shadow:
            if not details:
                _, details = self.model.project(codes_raw, 1.0, gender, k, method)
            result.shadow = self.model.shadow(details, gender)
        return result
