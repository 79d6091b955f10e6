"""All of DeepFaceDrawing's networks in one Jittor module, named by paper box.

State-dict names: ``encoders.{part}.*`` (CE), ``image_decoders.{part}.*`` (CE, stage I),
``fm.{part}.*`` (FM) and ``G.*`` (IS). Each group/part maps one-to-one onto one of the
authors' files (see :mod:`jdfd.weights.authors`).
"""

from __future__ import annotations

from collections.abc import Callable

from jdfd.config import PARTS, ModelConfig
from jdfd.networks import define_encoder, define_G, define_image_decoder
from jdfd.networks.fm import FeatureMapping
from jdfd.runtime import jittor

jt = jittor()
nn = jt.nn


class PartModules(nn.Module):
    """One module per component, reachable as attributes and by ``[part]``."""

    def __init__(self, make: Callable[[str], nn.Module]):
        super().__init__()
        for part in PARTS:
            setattr(self, part, make(part))

    def __getitem__(self, part: str) -> nn.Module:
        return getattr(self, part)


class DFDNetworks(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.encoders = PartModules(lambda p: define_encoder(cfg, p))
        self.image_decoders = PartModules(lambda p: define_image_decoder(cfg, p))
        self.fm = FeatureMapping(cfg)
        self.G = define_G(cfg)

    def group(self, name: str, part: str = "") -> nn.Module:
        """``group("encoders", "nose")`` → that network; ``group("G")`` → the generator."""
        g = getattr(self, name)
        return g if not part else g.decoder(part) if name == "fm" else g[part]

    def encode(self, crops: dict, runner=None):
        """CE: ``crops[part]`` B×1×n×n in [-1, 1] → ``{part: B×latent}``.

        ``runner``: a :class:`jdfd.kernels.training.TrainingRunner` that runs the networks on jdfd's
        kernels, differentiably (training); ``None``: the layers' own ``execute``."""
        if runner is None:
            return {p: self.encoders[p](crops[p]) for p in PARTS}
        return {p: runner.encoder(self.encoders[p], crops[p]) for p in PARTS}

    def synthesize(self, codes: dict, runner=None):
        """FM then IS: component vectors → RGB in [-1, 1], B×3×S×S (``runner`` as in :meth:`encode`)."""
        if runner is None:
            return self.G(self.fm(codes))
        return runner.generator(self.G, self.fm(codes, decode=runner.feature_maps))
