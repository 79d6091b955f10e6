"""Model configurations as data: the paper's networks and compact CPU-trainable ones.

A configuration fixes every shape in the system. Component boxes are given on the
paper's 512 canvas and scaled to ``image_size``; every box side must be divisible by
``2 ** len(encoder_channels)`` because the encoders halve the resolution that often
and the decoders grow it back.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

#: The paper's canvas: sketches are drawn and faces returned at this size.
CANVAS = 512

#: Component names in the authors' order. The remainder ("the rest of the face")
#: is the empty string in their file names; we call it "remainder" everywhere else.
PARTS: tuple[str, ...] = ("eye1", "eye2", "nose", "mouth", "remainder")

#: Boxes (x, y, size) on the 512 canvas, from the paper / authors' code.
PAPER_BOXES: dict[str, tuple[int, int, int]] = {
    "eye1": (108, 156, 128),
    "eye2": (255, 156, 128),
    "nose": (182, 232, 160),
    "mouth": (169, 301, 192),
    "remainder": (0, 0, 512),
}

#: The nose feature map loses its bottom 36 rows (on the 512 canvas) when pasted,
#: so the mouth beneath it keeps its own features.
PAPER_NOSE_CROP = 36

#: Order in which component feature maps are pasted over the remainder's map.
PASTE_ORDER: tuple[str, ...] = ("mouth", "nose", "eye1", "eye2")


def authors_part_name(part: str) -> str:
    """File-name spelling of a part in the authors' Params/ folder."""
    return "" if part == "remainder" else part


@dataclass
class ModelConfig:
    """Every shape of a DeepFaceDrawing model."""

    name: str = "paper"
    image_size: int = 512  # the model's working resolution; output is always upsampled to CANVAS
    latent_dim: int = 512
    # Per-part overrides of latent_dim, e.g. {"remainder": 256}: the remainder holds hair,
    # outline and ears, far more than an eye box, so a compact model may give it more room.
    latent_dims: dict[str, int] = field(default_factory=dict)
    # CE encoder widths: a stride-2 conv to [0], then (res block, stride-2 conv to [i+1]) ..., res block.
    encoder_channels: list[int] = field(default_factory=lambda: [32, 64, 128, 256, 512])
    # Stage-I image decoder widths: fc to [0]·s², res, then (transposed conv to [i+1], res) ...
    image_decoder_channels: list[int] = field(default_factory=lambda: [512, 256, 128, 64, 32, 32])
    # FM feature decoder widths, same layout; ends in a 5×5 conv to feature_channels.
    feature_decoder_channels: list[int] = field(default_factory=lambda: [512, 256, 256, 128, 64, 64])
    feature_channels: int = 32
    # IS generator (pix2pixHD global generator)
    ngf: int = 56
    n_downsample: int = 4
    n_blocks: int = 9
    output_channels: int = 3
    # multi-scale PatchGAN discriminator (training only)
    ndf: int = 64
    n_layers_d: int = 3
    num_d: int = 2
    # The authors never switch their FM decoders to eval(), so BatchNorm there always
    # normalises with the statistics of the sketch itself. "sample" reproduces that
    # for any batch size (per-sample statistics); "running" uses running averages.
    fm_norm_stats: str = "sample"

    def __post_init__(self) -> None:
        self.validate()

    # ------------------------------------------------------------------ derived shapes
    @property
    def scale(self) -> float:
        return self.image_size / CANVAS

    @property
    def n_encoder_down(self) -> int:
        return len(self.encoder_channels)

    def boxes(self) -> dict[str, tuple[int, int, int]]:
        """Component boxes (x, y, size) at this model's resolution."""
        s = self.scale
        return {p: (round(x * s), round(y * s), round(n * s)) for p, (x, y, n) in PAPER_BOXES.items()}

    def nose_crop(self) -> int:
        return round(PAPER_NOSE_CROP * self.scale)

    def latent(self, part: str) -> int:
        """Length of a part's component vector."""
        return self.latent_dims.get(part, self.latent_dim)

    def latent_hw(self, part: str) -> int:
        """Side of the spatial grid at the encoder bottleneck for a part."""
        return self.boxes()[part][2] // (2**self.n_encoder_down)

    def validate(self) -> None:
        unknown = set(self.latent_dims) - set(PARTS)
        if unknown:
            raise ValueError(f"latent_dims names unknown parts {sorted(unknown)} (parts: {', '.join(PARTS)})")
        if self.fm_norm_stats not in ("sample", "running"):
            raise ValueError(f"fm_norm_stats must be 'sample' or 'running', not {self.fm_norm_stats!r}")
        n_up = len(self.image_decoder_channels) - 1
        if n_up != self.n_encoder_down or len(self.feature_decoder_channels) - 1 != self.n_encoder_down:
            raise ValueError(
                "decoders must upsample as often as encoders downsample: "
                f"{len(self.encoder_channels)} encoder stages vs {n_up} image / "
                f"{len(self.feature_decoder_channels) - 1} feature decoder stages"
            )
        f = 2**self.n_encoder_down
        for part, (_x, _y, n) in self.boxes().items():
            if n % f:
                raise ValueError(f"{self.name}: box of {part} has side {n}, not divisible by {f}")
        if self.image_size % (2**self.n_downsample):
            raise ValueError(f"image_size {self.image_size} not divisible by 2**n_downsample")

    # ------------------------------------------------------------------ (de)serialisation
    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> ModelConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown model config keys: {sorted(unknown)}")
        return cls(**d)

    def save(self, path: Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def load(cls, path: Path) -> ModelConfig:
        return cls.from_dict(json.loads(Path(path).read_text()))


def paper() -> ModelConfig:
    """The authors' networks, shape for shape."""
    return ModelConfig()


def compact() -> ModelConfig:
    """Small enough to train on a 2-core CPU in hours and to run interactively."""
    return ModelConfig(
        name="compact",
        image_size=256,
        latent_dim=128,  # keeps the fully connected layers, and so the shipped files, small
        latent_dims={"remainder": 256},  # hair and outline need more than 128 numbers (model v2)
        encoder_channels=[16, 32, 64, 64],
        image_decoder_channels=[64, 64, 32, 16, 16],
        feature_decoder_channels=[64, 64, 64, 32, 32],
        feature_channels=16,
        ngf=24,
        n_downsample=3,
        n_blocks=6,
        ndf=16,
        n_layers_d=3,
        num_d=2,
    )


def tiny() -> ModelConfig:
    """For tests: every code path, seconds on a CPU."""
    return ModelConfig(
        name="tiny",
        image_size=64,
        latent_dim=16,
        encoder_channels=[4, 8],
        image_decoder_channels=[8, 4, 4],
        feature_decoder_channels=[8, 4, 4],
        feature_channels=4,
        ngf=4,
        n_downsample=2,
        n_blocks=1,
        ndf=4,
        n_layers_d=2,
        num_d=2,
    )


PRESETS = {"paper": paper, "compact": compact, "tiny": tiny}


def get_config(name_or_path: str | Path) -> ModelConfig:
    """A preset by name, or a JSON file."""
    if str(name_or_path) in PRESETS:
        return PRESETS[str(name_or_path)]()
    path = Path(name_or_path)
    if not path.is_file():
        raise FileNotFoundError(f"no model config preset or file named {name_or_path!r} (presets: {sorted(PRESETS)})")
    return ModelConfig.load(path)
