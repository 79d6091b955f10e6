"""``jdfd eval``: photos → synthesized sketches → (degraded) → faces → metrics.

For every degradation and strength, and every projection setting (blend w), the faces
are compared with the photos they were drawn from: L1, PSNR, SSIM (paired), FID and KID
(FID InceptionV3 features; KID is reported with its standard deviation because FID on
100 images is noisy), and whether each face follows its own sketch: retrieval of its own
photo among all N photos and the faces' variety (:mod:`jdfd.metrics.following`). Writes
``results.json``, ``results.md``, plots of each metric against strength, and an image grid
of one sketch through each method.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from jdfd.config import CANVAS
from jdfd.evaluation.degrade import DEGRADATIONS, degrade
from jdfd.metrics import fid_from_features, kid_from_features, paired_means
from jdfd.progress import Progress

SAMPLE_ROWS = 6  # rows of samples.png
TOP_K = (1, 5)  # the retrieval ranks reported
#: sketch-following columns of results.md: (results.json key, header)
FOLLOWING_COLUMNS = (("layout_top1", "lay@1 ↑"), ("layout_top5", "lay@5 ↑"), ("inception_top1", "inc@1 ↑"),
                     ("inception_top5", "inc@5 ↑"), ("variety", "variety"), ("inception_variety", "inc var"))
IMAGES = "images.npz"  # the faces behind grid.png and samples.png
#: What must match for --merge to add methods to an earlier evaluation.
MERGE_KEYS = ("kinds", "strengths", "seed", "limit", "sketch_style")
#: What an older results.json that lacks a key meant by it.
SPEC_DEFAULTS_BEFORE = {"sketch_style": "v1"}
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg"}


@dataclass
class EvalSpec:
    blends: list[float] = field(default_factory=lambda: [1.0, 0.5, 0.0])
    kinds: list[str] = field(default_factory=lambda: sorted(DEGRADATIONS))
    strengths: list[float] = field(default_factory=lambda: [0.5, 1.0])
    limit: int | None = None
    seed: int = 0
    fid: bool = True
    k: int = 15
    sketch_style: str = "v2"  # how photos become sketches (jdfd.sketchify); evaluations before v2 used v1


def load_pairs(photos: Path, sketches: Path | None, limit: int | None,
               style: str = "v2") -> tuple[list[str], np.ndarray, np.ndarray]:
    """(names, photos N×512×512×3, sketches N×512×512); sketches synthesized when no folder is given."""
    from jdfd import components, sketchify  # noqa: PLC0415

    if not Path(photos).is_dir():
        raise FileNotFoundError(f"{photos}: no such folder")
    files = sorted(p for p in Path(photos).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)[:limit]
    if not files:
        raise FileNotFoundError(f"no photos in {photos}")
    names, imgs, sks = [], [], []
    for f in files:
        with Image.open(f) as im:
            rgb = np.asarray(im.convert("RGB").resize((CANVAS, CANVAS), Image.BICUBIC))
        if sketches is not None:
            sk_path = Path(sketches) / f"{f.stem}.png"
            if not sk_path.exists():
                raise FileNotFoundError(f"{sk_path}: no sketch for {f.name}")
            sk = components.load_sketch(sk_path)
        else:
            sk = sketchify.sketchify_image(rgb, CANVAS, sketchify.SketchParams(style=style))
        names.append(f.stem)
        imgs.append(rgb)
        sks.append(sk)
    return names, np.stack(imgs), np.stack(sks)


def conditions(spec: EvalSpec) -> list[tuple[str, float]]:
    out = [("none", 0.0)]
    for kind in spec.kinds:
        if kind not in DEGRADATIONS:
            raise ValueError(f"unknown degradation {kind!r} (known: {', '.join(DEGRADATIONS)})")
        out += [(kind, s) for s in spec.strengths if s > 0]
    return out


def _previous(out: Path, photos: Path, n_images: int, spec: EvalSpec,
              labels: list[str]) -> tuple[list, dict, list[float]]:
    """Rows, images and blends of an earlier run in ``out`` to merge with, checked to be the same experiment."""
    res_path, img_path = out / "results.json", out / IMAGES
    if not res_path.exists() or not img_path.exists():
        raise FileNotFoundError(f"--merge: no earlier results in {out} ({res_path.name} and {img_path.name})")
    old = json.loads(res_path.read_text())
    same = ({k: old["spec"].get(k, SPEC_DEFAULTS_BEFORE.get(k)) for k in MERGE_KEYS}
            == {k: getattr(spec, k) for k in MERGE_KEYS})
    if not same or old["n_images"] != n_images or Path(old["photos"]).resolve() != Path(photos).resolve():
        raise ValueError(f"--merge: {res_path} is a different experiment (photos, degradations, strengths, "
                         f"seed or limit differ): run without --merge or use another --out")
    with np.load(img_path) as z:
        images = {k: z[k] for k in z.files}
    rows = [r for r in old["rows"] if r["method"] not in labels]  # re-measured methods are replaced
    return rows, images, old["spec"]["blends"]


def evaluate(methods: dict, photos: Path, out: Path, spec: EvalSpec, sketches: Path | None = None,
             merge: bool = False) -> dict:
    """``methods`` maps a label to a callable ``sketch (512×512 uint8) → face (512×512×3 uint8)``.

    ``merge``: keep the other methods' rows and images already in ``out`` (same photos and
    degradations), so a method can be added to a finished evaluation without redoing it.
    """
    out.mkdir(parents=True, exist_ok=True)
    names, real, clean = load_pairs(photos, sketches, spec.limit, spec.sketch_style)
    kept_rows, images, kept_blends = _previous(out, photos, len(names), spec, list(methods)) if merge else ([], {}, [])
    from jdfd.metrics import retrieval_chance, sketch_following  # noqa: PLC0415  (Jittor, running already)

    inception = None
    real_feats = None
    if spec.fid:
        from jdfd.metrics import FIDInceptionV3  # noqa: PLC0415

        inception = FIDInceptionV3.from_cache()
        if inception is None:
            print("WARNING: FID weights unavailable: reporting paired metrics only", file=sys.stderr)
        else:
            real_feats = inception.features(real, progress=False)
    rows = []
    # ``images``: the faces behind grid.png and samples.png, kept in images.npz so that a later --merge can redraw them
    conds = conditions(spec)
    bar = Progress(len(conds) * len(methods) * len(names), "eval", unit="face")
    for kind, strength in conds:
        degraded = np.stack([degrade(s, kind, strength, seed=spec.seed + i) if kind != "none" else s
                             for i, s in enumerate(clean)])
        images[f"grid|{kind}|{strength}|sketch"] = degraded[0]
        for label, fn in methods.items():
            t0 = time.perf_counter()
            fakes = []
            for s in degraded:
                fakes.append(fn(s))
                bar.update(1, f"{kind} {strength} {label}")
            secs = (time.perf_counter() - t0) / len(degraded)
            fakes = np.stack(fakes)
            row = {"degradation": kind, "strength": strength, "method": label, "n": len(fakes),
                   "seconds_per_face": secs, **paired_means(fakes, real)}
            ff = None
            if real_feats is not None:
                ff = inception.features(fakes, progress=False)
                row["fid"] = fid_from_features(real_feats, ff)
                size = max(2, min(1000, len(ff) // 2))
                row["kid"], row["kid_std"] = kid_from_features(real_feats, ff, subset_size=size, seed=spec.seed)
            if len(fakes) >= 2:  # retrieval and variety compare faces with each other: one is not enough
                row.update(sketch_following(fakes, real, ff, real_feats, ks=TOP_K))  # reuses the FID features
            rows.append(row)
            images[f"grid|{kind}|{strength}|{label}"] = fakes[0]
            if kind == "none":
                images[f"samples|{label}"] = fakes[:SAMPLE_ROWS]
    bar.close()
    np.savez_compressed(out / IMAGES, **images)
    labels = list(dict.fromkeys([r["method"] for r in kept_rows] + list(methods)))
    order = {c: i for i, c in enumerate(conds)}
    rows = sorted(kept_rows + rows, key=lambda r: (order[(r["degradation"], r["strength"])],
                                                    labels.index(r["method"])))
    spec_dict = dict(spec.__dict__, blends=sorted({*spec.blends, *kept_blends}, reverse=True))
    result = {"photos": str(photos), "n_images": len(names), "spec": spec_dict, "rows": rows,
              "chance": {f"top{k}": retrieval_chance(k, len(names)) for k in TOP_K}}
    (out / "results.json").write_text(json.dumps(result, indent=2) + "\n")
    (out / "results.md").write_text(markdown_table(rows, len(names)))
    plot_against_strength(rows, out)
    # grid.png: one row per condition; samples.png: one row per clean val sketch
    write_rows([(images[f"grid|{k}|{s}|sketch"], [images[f"grid|{k}|{s}|{m}"] for m in labels], real[0])
                for k, s in conds], out / "grid.png")
    sampled = [m for m in labels if f"samples|{m}" in images]
    if sampled:
        write_rows([(sk, [images[f"samples|{m}"][i] for m in sampled], real[i])
                    for i, sk in enumerate(clean[:SAMPLE_ROWS])], out / "samples.png")
    return result


def markdown_table(rows: list[dict], n_images: int | None = None) -> str:
    """results.md: one row per condition and method; the chance levels of retrieval below (given ``n_images``)."""
    has_fid = any("fid" in r for r in rows)
    # rows merged from an evaluation made before the measure existed lack its keys: shown as —
    follow = [(key, name) for key, name in FOLLOWING_COLUMNS if any(key in r for r in rows)]
    head = "| degradation | strength | method | L1 ↓ | PSNR ↑ | SSIM ↑ |" + (" FID ↓ | KID×100 ↓ |" if has_fid else "")
    head += "".join(f" {name} |" for _, name in follow)
    sep = "|---|---|---|---|---|---|" + ("---|---|" if has_fid else "") + "---|" * len(follow)
    lines = [head, sep]
    for r in rows:
        line = (f"| {r['degradation']} | {r['strength']:.2f} | {r['method']} | {r['l1']:.4f} | {r['psnr']:.2f} | "
                f"{r['ssim']:.4f} |")
        if has_fid:
            line += f" {r.get('fid', float('nan')):.1f} | {100 * r.get('kid', float('nan')):.2f} ± " \
                    f"{100 * r.get('kid_std', float('nan')):.2f} |"
        line += "".join(f" {format_following(key, r[key])} |" if key in r else " — |" for key, _ in follow)
        lines.append(line)
    text = "\n".join(lines) + "\n"
    if follow and n_images:
        text += "\n" + following_legend(n_images, inception=any(key.startswith("inception") for key, _ in follow))
    return text


def format_following(key: str, value: float) -> str:
    return f"{value:.2f}" if key.endswith("variety") else f"{100 * value:.0f} %"


def following_legend(n_images: int, inception: bool = True) -> str:
    """What the sketch-following columns mean, with the chance levels for ``n_images`` photos."""
    from jdfd.metrics import retrieval_chance  # noqa: PLC0415

    chance = ", ".join(f"top-{k} {100 * retrieval_chance(k, n_images):.1f} %" for k in TOP_K)
    lines = [f"Sketch following among the N = {n_images} photos (chance: {chance}):",
             "- lay@k: how often a face's own photo is among the k photos nearest to it, "
             "by 64×64 greyscale (each image standardised)"]
    if inception:
        lines.append("- inc@k: the same by FID-Inception pool features")
    lines.append(f"- variety{', inc var' if inception else ''}: the faces' mean pairwise distance / the photos' "
                 "(one face for every sketch: 0; as varied as the photos: about 1)")
    return "\n".join(lines) + "\n"


def plot_against_strength(rows: list[dict], out: Path) -> None:
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    kinds = sorted({r["degradation"] for r in rows} - {"none"})
    metrics = [m for m in ("l1", "psnr", "ssim", "fid", "layout_top5", "variety") if any(m in r for r in rows)]
    methods = list(dict.fromkeys(r["method"] for r in rows))
    if not kinds:
        return
    fig, axes = plt.subplots(len(metrics), len(kinds), figsize=(3.2 * len(kinds), 2.6 * len(metrics)), squeeze=False)
    for j, kind in enumerate(kinds):
        for i, m in enumerate(metrics):
            ax = axes[i][j]
            for label in methods:
                nan = float("nan")  # a merged row from before a metric existed
                pts = [(0.0, r.get(m, nan)) for r in rows if r["degradation"] == "none" and r["method"] == label]
                pts += [(r["strength"], r.get(m, nan)) for r in rows
                        if r["degradation"] == kind and r["method"] == label]
                pts.sort()
                ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=label)
            ax.set_title(f"{kind}: {m}", fontsize=9)
            ax.set_xlabel("strength", fontsize=8)
            ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "metrics_vs_strength.png", dpi=80)
    plt.close(fig)


def _tile(a: np.ndarray, size: int) -> np.ndarray:
    if a.ndim == 2:
        a = np.repeat(a[:, :, None], 3, axis=2)
    return np.asarray(Image.fromarray(a).resize((size, size), Image.BILINEAR))


def write_rows(rows: list[tuple[np.ndarray, list[np.ndarray], np.ndarray]], path: Path, size: int = 192) -> None:
    """An image sheet, one row per (sketch, faces of each method, photo)."""
    strips = [np.concatenate([_tile(a, size) for a in (sketch, *faces, photo)], axis=1)
              for sketch, faces, photo in rows]
    Image.fromarray(np.concatenate(strips, axis=0)).save(path)
