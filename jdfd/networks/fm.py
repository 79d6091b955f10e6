"""FM: feature mapping (paper §3.2). Component vectors → 32-channel maps → one face map."""

from __future__ import annotations

from jdfd.config import PARTS, PASTE_ORDER, ModelConfig
from jdfd.networks.blocks import SampleStatBatchNorm
from jdfd.networks.ce import LatentDecoder
from jdfd.runtime import jittor

jt = jittor()
nn = jt.nn


class FeatureDecoder(LatentDecoder):
    """The stage-I decoder's layout, ending in ``feature_channels`` maps (``DE_{part}``)."""

    def __init__(self, size: int, channels: list[int], latent_dim: int, out_channels: int, stats: str = "sample"):
        super().__init__(size, channels, latent_dim, out_channels,
                         SampleStatBatchNorm if stats == "sample" else nn.BatchNorm)


class FeatureMapping(nn.Module):
    """Five feature decoders and the paste that assembles the face's feature map."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.boxes = cfg.boxes()
        self.nose_crop = cfg.nose_crop()
        for part in PARTS:
            setattr(self, part, FeatureDecoder(self.boxes[part][2], cfg.feature_decoder_channels, cfg.latent(part),
                                               cfg.feature_channels, cfg.fm_norm_stats))

    def decoder(self, part: str) -> FeatureDecoder:
        return getattr(self, part)

    def execute(self, codes: dict, decode=None):
        """``codes[part]`` is B×latent; returns B×C×S×S. ``decode(decoder, code)`` runs a decoder
        instead of its own ``execute`` (the Trainer's kernel path; where it gives blocked maps,
        B×⌈C/b⌉×S×S×b, the face's map is blocked too: the paste slices height and width only)."""
        maps = {part: decode(self.decoder(part), codes[part]) if decode else self.decoder(part)(codes[part])
                for part in PARTS}
        return assemble(maps, self.boxes, self.nose_crop)


def assemble(maps: dict, boxes: dict, nose_crop: int):
    """Paste component maps over the remainder's map, later parts winning.

    Overwrite, not add or multiply: inside a box only that component's features
    remain. The nose loses its bottom rows so the mouth's upper lip stays the mouth's.
    """
    face = maps["remainder"]
    for part in PASTE_ORDER:
        x, y, n = boxes[part]
        patch = maps[part]
        h = n
        if part == "nose" and nose_crop:
            h = n - nose_crop
            patch = patch[:, :, :h, :]
        face[:, :, y:y + h, x:x + n] = patch
    return face
