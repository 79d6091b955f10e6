"""Sketch → face: the whole inference path, and the models' on-disk formats.

    from jdfd.pipeline import DeepFaceDrawing
    model = DeepFaceDrawing.from_pretrained()      # $JDFD_MODEL, else the shipped model
    face = model.generate("examples/sketches/01_clean.png").image   # 512×512×3 uint8
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from jdfd import components
from jdfd.components import to_uint8_rgb
from jdfd.config import CANVAS, PARTS, ModelConfig, paper
from jdfd.fast import FastDFD
from jdfd.model import DFDNetworks
from jdfd.projection import DEFAULT_K, ComponentBank, Projection, compose_shadow, parse_blend, shadow_darkness
from jdfd.runtime import jittor
from jdfd.weights import authors as authors_fmt
from jdfd.weights import tensorfile
from jdfd.weights.strict import WeightsError, load_strict, state_numpy

jt = jittor()

FORMAT = "jdfd-pretrained"
FORMAT_VERSION = 1
CONFIG_FILE, WEIGHTS_FILE, BANKS_FILE = "config.json", "model.safetensors", "banks.safetensors"


@dataclass
class GenerationResult:
    image: np.ndarray  # CANVAS×CANVAS×3 uint8
    shadow: np.ndarray | None = None  # CANVAS×CANVAS uint8 guidance, when asked for
    projections: dict[str, Projection] = field(default_factory=dict)


class DeepFaceDrawing:
    """Trained networks plus component banks (one set, or one per gender)."""

    def __init__(self, cfg: ModelConfig, nets: DFDNetworks | None = None,
                 banks: dict[str, dict[str, ComponentBank]] | None = None, default_gender: str | None = None,
                 fast: bool = True):
        self.cfg = cfg
        self.nets = nets if nets is not None else DFDNetworks(cfg)
        self.nets.eval()
        self.banks = banks or {}
        self.default_gender = default_gender or (next(iter(self.banks)) if self.banks else None)
        # CE, FM and IS run on jdfd's oneDNN kernels (jdfd.fast) where they work, else on the
        # networks' own execute(); same faces to float rounding. The kernels read the weights
        # once, so load weights before the first inference, not after.
        self.fast = fast
        self._engine = None

    @property
    def engine(self):
        """The :class:`jdfd.fast.FastDFD` that runs inference, or ``None`` for the networks' own path."""
        if self.fast and self._engine is None:
            from jdfd import kernels  # noqa: PLC0415  (compiles the kernels on first use)

            self._engine = FastDFD(self.nets, kernels="onednn") if kernels.load() is not None else False
        return self._engine or None

    # ------------------------------------------------------------------ inference
    def prepare(self, sketch) -> np.ndarray:
        """A path or array → the model's square uint8 input (via the 512 canvas)."""
        canvas = components.load_sketch(sketch) if isinstance(sketch, (str, Path)) else components.to_canvas(sketch)
        return components.to_canvas(canvas, self.cfg.image_size)

    def encode(self, sketches: np.ndarray) -> dict[str, np.ndarray]:
        """CE: B×S×S uint8 sketches at model size → ``{part: B×latent}`` float32."""
        if self.engine is not None:
            return self.engine.encode(sketches)
        crops = components.crop_components(sketches, self.cfg.boxes())
        with jt.no_grad():
            codes = self.nets.encode({p: jt.array(components.normalise(c)[:, None]) for p, c in crops.items()})
            return {p: v.numpy() for p, v in codes.items()}

    def bank_set(self, gender: str | None) -> dict[str, ComponentBank]:
        if not self.banks:
            raise ValueError("this model has no component banks, so it cannot project: use blend 0")
        g = gender or self.default_gender
        if g not in self.banks:
            raise ValueError(f"no bank for gender {g!r}; this model has: {', '.join(self.banks)}")
        return self.banks[g]

    def project(self, codes: dict[str, np.ndarray], blend=1.0, gender: str | None = None, k: int = DEFAULT_K,
                method: str = "lle") -> tuple[dict[str, np.ndarray], dict[str, list[Projection]]]:
        """Manifold projection per part; blend 0 leaves a part's vectors untouched (no bank needed)."""
        w = parse_blend(blend)
        out, details = {}, {}
        banks = None
        for part in PARTS:
            if w[part] == 0.0:
                out[part] = codes[part]
                continue
            banks = banks or self.bank_set(gender)
            details[part] = banks[part].project(codes[part], k=k, blend=w[part], method=method)
            out[part] = np.stack([d.blended for d in details[part]])
        return out, details

    def synthesize(self, codes: dict[str, np.ndarray]) -> np.ndarray:
        """FM + IS: vectors → B×S×S×3 uint8 at model resolution."""
        if self.engine is not None:
            return self.engine.synthesize(codes)
        with jt.no_grad():
            rgb = self.nets.synthesize({p: jt.array(np.asarray(v, dtype=np.float32)) for p, v in codes.items()})
            return to_uint8_rgb(rgb.numpy())

    def shadow(self, details: dict[str, list[Projection]], gender: str | None = None, index: int = 0) -> np.ndarray:
        """The guidance image: decoded neighbours blended by their LLE weights (CANVAS×CANVAS uint8)."""
        boxes = self.cfg.boxes()
        banks = self.bank_set(gender)
        darkness = {}
        with jt.no_grad():
            for part in PARTS:
                n = boxes[part][2]
                if part not in details:
                    darkness[part] = np.zeros((n, n), np.float32)
                    continue
                d = details[part][index]
                vectors = banks[part].vectors[d.indices]
                if self.engine is not None:
                    decoded = self.engine.decode_images(part, vectors)[:, 0]
                else:
                    decoded = self.nets.image_decoders[part](jt.array(vectors)).numpy()[:, 0]
                darkness[part] = shadow_darkness(decoded, d.weights)
        return components.to_canvas(compose_shadow(darkness, boxes, self.cfg.image_size), CANVAS)

    def generate(self, sketch, blend=1.0, gender: str | None = None, k: int = DEFAULT_K, shadow: bool = False,
                 method: str = "lle") -> GenerationResult:
        """One sketch (path or array, any size) → a 512×512 face."""
        x = self.prepare(sketch)[None]
        codes, details = self.project(self.encode(x), blend, gender, k, method)
        image = components.resize_rgb(self.synthesize(codes)[0], CANVAS)
        result = GenerationResult(image=image, projections={p: d[0] for p, d in details.items()})
        if shadow:
            if not details:
                # the guidance needs neighbours even when the face ignores them
                _, details = self.project(self.encode(x), 1.0, gender, k, method)
            result.shadow = self.shadow(details, gender)
        return result

    # ------------------------------------------------------------------ formats
    def save_pretrained(self, path: str | Path, dtype: str = "float16", extra: dict | None = None) -> Path:
        """Write config.json + model.safetensors (+ banks.safetensors). No pickle anywhere."""
        if dtype not in ("float16", "float32"):
            raise ValueError("dtype must be float16 or float32")
        out = Path(path)
        out.mkdir(parents=True, exist_ok=True)
        state = {k: v.astype(dtype) for k, v in state_numpy(self.nets).items()}
        tensorfile.save(out / WEIGHTS_FILE, state, {"format": FORMAT})
        meta = {"format": FORMAT, "version": FORMAT_VERSION, "weights_dtype": dtype, "model": self.cfg.to_dict(),
                **(extra or {})}
        (out / CONFIG_FILE).write_text(json.dumps(meta, indent=2) + "\n")
        self.save_banks(out)
        return out

    def save_banks(self, path: str | Path) -> None:
        """(Re)write only the banks of a saved model folder, and list them in its config."""
        out = Path(path)
        bank_state = {f"{g}.{p}": b.vectors for g, parts in self.banks.items() for p, b in parts.items()}
        if bank_state:
            tensorfile.save(out / BANKS_FILE, bank_state, {"format": FORMAT})
        elif (out / BANKS_FILE).exists():
            (out / BANKS_FILE).unlink()
        meta = json.loads((out / CONFIG_FILE).read_text())
        meta.update({"genders": list(self.banks), "default_gender": self.default_gender})
        (out / CONFIG_FILE).write_text(json.dumps(meta, indent=2) + "\n")

    @classmethod
    def from_pretrained(cls, path: str | Path | None = None) -> DeepFaceDrawing:
        """A jdfd model folder; without ``path`` the default model (``$JDFD_MODEL``, else the shipped one)."""
        if path is None:
            from jdfd import shipped  # noqa: PLC0415

            path = shipped.default_model()
        root = Path(path)
        cfg_file = root / CONFIG_FILE
        if not cfg_file.is_file():
            raise WeightsError(f"{root}: not a jdfd model folder (no {CONFIG_FILE})")
        try:
            meta = json.loads(cfg_file.read_text())
        except json.JSONDecodeError as e:
            raise WeightsError(f"{cfg_file}: invalid JSON ({e})") from None
        if meta.get("format") != FORMAT:
            raise WeightsError(f"{cfg_file}: format is {meta.get('format')!r}, expected {FORMAT!r}")
        if meta.get("version", 0) > FORMAT_VERSION:
            raise WeightsError(f"{cfg_file}: format version {meta['version']} is newer than this jdfd")
        cfg = ModelConfig.from_dict(meta["model"])
        if not (root / WEIGHTS_FILE).is_file():
            raise WeightsError(f"{root}: missing {WEIGHTS_FILE}")
        state, _ = tensorfile.load_lazy(root / WEIGHTS_FILE)
        nets = DFDNetworks(cfg)
        load_strict(nets, state, str(root / WEIGHTS_FILE))
        del state  # closes the file
        banks: dict[str, dict[str, ComponentBank]] = {}
        genders = meta.get("genders") or []
        if genders:
            if not (root / BANKS_FILE).is_file():
                raise WeightsError(f"{root}: config lists banks {genders} but {BANKS_FILE} is missing")
            raw, _ = tensorfile.load(root / BANKS_FILE)
            for g in genders:
                banks[g] = {}
                for p in PARTS:
                    key = f"{g}.{p}"
                    if key not in raw:
                        raise WeightsError(f"{root / BANKS_FILE}: missing bank {key}")
                    if raw[key].ndim != 2 or raw[key].shape[1] != cfg.latent(p):
                        raise WeightsError(f"{root / BANKS_FILE}: bank {key} has shape {list(raw[key].shape)}, "
                                           f"needs N×{cfg.latent(p)}")
                    banks[g][p] = ComponentBank(raw[key])
        return cls(cfg, nets, banks, meta.get("default_gender"))

    @classmethod
    def from_authors(cls, params: str | Path, cfg: ModelConfig | None = None) -> DeepFaceDrawing:
        """The authors' released Params/ folder, every file and tensor checked."""
        cfg = cfg or paper()
        root = Path(params)
        if not root.is_dir():
            raise WeightsError(f"{root}: no such Params folder")
        nets = DFDNetworks(cfg)
        for rel, (group, part) in authors_fmt.file_layout().items():
            load_strict(nets.group(group, part), authors_fmt.load_pickle(root / rel), str(root / rel))
        banks: dict[str, dict[str, ComponentBank]] = {}
        for gender in authors_fmt.GENDERS:
            paths = {p: authors_fmt.bank_path(root, gender, p) for p in PARTS}
            present = [p for p, f in paths.items() if f.is_file()]
            if not present:
                continue
            if len(present) != len(PARTS):
                missing = [str(f) for p, f in paths.items() if p not in present]
                raise WeightsError(f"incomplete {gender} banks: missing {', '.join(missing)}")
            try:
                banks[gender] = {p: ComponentBank.from_bin(f, cfg.latent(p)) for p, f in paths.items()}
            except ValueError as e:
                raise WeightsError(str(e)) from None
        # the authors' GUI starts with sex = 0, the male banks
        return cls(cfg, nets, banks, "male" if "male" in banks else None)
