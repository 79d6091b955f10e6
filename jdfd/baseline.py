"""The comparison the paper argues against: sketch → image directly (pix2pixHD style).

The same global generator as IS, fed the raw one-channel sketch instead of the FM
feature map: no components, no embedding, no projection. Trained by ``jdfd train
baseline`` on the same data and budget, it is what ``jdfd eval --baseline`` compares with.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from jdfd import components
from jdfd.components import to_uint8_rgb
from jdfd.config import CANVAS, ModelConfig
from jdfd.networks.generator import GlobalGenerator
from jdfd.pipeline import GenerationResult
from jdfd.runtime import jittor
from jdfd.weights import tensorfile
from jdfd.weights.strict import WeightsError, load_strict, state_numpy

jt = jittor()

FORMAT = "jdfd-baseline"


class BaselineNetworks(jt.nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.G = GlobalGenerator(1, cfg.output_channels, cfg.ngf, cfg.n_downsample, cfg.n_blocks)


class SketchBaseline:
    def __init__(self, cfg: ModelConfig, nets: BaselineNetworks | None = None):
        self.cfg = cfg
        self.nets = nets if nets is not None else BaselineNetworks(cfg)
        self.nets.eval()

    def generate(self, sketch, **_ignored) -> GenerationResult:
        canvas = components.load_sketch(sketch) if isinstance(sketch, (str, Path)) else components.to_canvas(sketch)
        x = components.normalise(components.to_canvas(canvas, self.cfg.image_size))[None, None]
        with jt.no_grad():
            rgb = to_uint8_rgb(self.nets.G(jt.array(x)).numpy())[0]
        return GenerationResult(image=components.resize_rgb(rgb, CANVAS))

    def save_pretrained(self, path: str | Path, dtype: str = "float16", extra: dict | None = None) -> Path:
        out = Path(path)
        out.mkdir(parents=True, exist_ok=True)
        tensorfile.save(out / "model.safetensors", {k: v.astype(dtype) for k, v in state_numpy(self.nets).items()},
                        {"format": FORMAT})
        meta = {"format": FORMAT, "version": 1, "weights_dtype": dtype, "model": self.cfg.to_dict(), **(extra or {})}
        (out / "config.json").write_text(json.dumps(meta, indent=2) + "\n")
        return out

    @classmethod
    def from_pretrained(cls, path: str | Path) -> SketchBaseline:
        root = Path(path)
        try:
            meta = json.loads((root / "config.json").read_text())
        except (OSError, json.JSONDecodeError) as e:
            raise WeightsError(f"{root}: not a baseline model folder ({e})") from None
        if meta.get("format") != FORMAT:
            raise WeightsError(f"{root}: format is {meta.get('format')!r}, expected {FORMAT!r}")
        cfg = ModelConfig.from_dict(meta["model"])
        state, _ = tensorfile.load_lazy(root / "model.safetensors")
        nets = BaselineNetworks(cfg)
        load_strict(nets, state, str(root / "model.safetensors"))
        return cls(cfg, nets)


def sketch_input(sketches: np.ndarray):
    """B×S×S uint8 → B×1×S×S in [-1, 1], the baseline generator's input."""
    return jt.array(components.normalise(sketches)[:, None])
