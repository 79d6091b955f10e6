"""The examples folder: its sketches, and every script run in-process on a tiny random model."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from PIL import Image

from jdfd.config import CANVAS, PAPER_BOXES

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
SKETCHES = EXAMPLES / "sketches"
SCRIPTS = ("make_sketches", "sketch_to_face", "blend_strip", "mix_components", "shadow_guidance", "compare_methods")
_loaded: dict[str, ModuleType] = {}


def script(name: str) -> ModuleType:
    """Import examples/<name>.py by path (examples/ is not a package)."""
    if name not in _loaded:
        spec = importlib.util.spec_from_file_location(f"jdfd_example_{name}", EXAMPLES / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # dataclasses look their module up there
        spec.loader.exec_module(module)
        _loaded[name] = module
    return _loaded[name]


def size_mode(path: Path) -> tuple[tuple[int, int], str]:
    assert path.is_file(), f"{path} was not written"
    with Image.open(path) as im:
        return im.size, im.mode


def sketch_files() -> list[Path]:
    return sorted(SKETCHES.iterdir())


# ------------------------------------------------------------------------------ the sketches
def test_sketch_folder_holds_only_enough_sketch_pngs():
    # `make demo` feeds the whole folder to `jdfd generate`: nothing but sketches may live there
    files = sketch_files()
    assert len(files) >= 8
    assert all(f.suffix == ".png" for f in files), [f.name for f in files if f.suffix != ".png"]


@pytest.mark.parametrize("path", sketch_files(), ids=lambda p: p.stem)
def test_sketch_is_a_canonical_512_grey_drawing(path: Path):
    assert size_mode(path) == ((CANVAS, CANVAS), "L")
    a = np.asarray(Image.open(path))
    ink = a < 128
    assert np.median(a) == 255 and 0.005 < ink.mean() < 0.2  # black strokes on white paper
    for part in ("eye1", "eye2", "nose", "mouth"):
        x, y, n = PAPER_BOXES[part]
        assert ink[y:y + n, x:x + n].sum() > 100, f"no ink in the {part} box"
    # the eyes themselves, not just brows or glasses, sit in the eye row of their boxes
    for part in ("eye1", "eye2"):
        x, _, n = PAPER_BOXES[part]
        assert ink[225:262, x + n // 4:x + n].sum() > 60, f"no eye drawn in the {part} box"
    left, right = ink[:, :CANVAS // 2].sum(), ink[:, CANVAS // 2:].sum()
    assert 0.6 < left / right < 1.6  # a frontal face, centred


def test_make_sketches_redraws_the_committed_pngs(tmp_path: Path):
    assert script("make_sketches").main(["--out", str(tmp_path), "--sheet", str(tmp_path / "sheet" / "s.png")]) == 0
    made = sorted(p.name for p in tmp_path.glob("*.png"))
    assert made == [p.name for p in sketch_files()]
    for name in made:
        new = np.asarray(Image.open(tmp_path / name), dtype=np.int16)
        old = np.asarray(Image.open(SKETCHES / name), dtype=np.int16)
        # identical with the same Pillow; allow a few resampling differences elsewhere
        assert (np.abs(new - old) > 32).mean() < 1e-3, name
    assert (tmp_path / "sheet" / "s.png").is_file()


# ------------------------------------------------------------------------------ the scripts
@pytest.mark.parametrize("name", SCRIPTS)
def test_help(name: str, capsys):
    with pytest.raises(SystemExit) as e:
        script(name).main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert "--out" in out and (name == "make_sketches" or "--model" in out)


def test_missing_model_is_reported(tmp_path: Path, capsys):
    assert script("shadow_guidance").main(["--model", str(tmp_path / "none"), "--out", str(tmp_path)]) == 2
    assert "cannot load a model" in capsys.readouterr().err


def test_sketch_to_face(tiny_model_dir, tmp_path: Path):
    out = tmp_path / "faces"
    picked = sketch_files()[::4]  # a few are enough to check the plumbing, and keep the test quick
    args = [*map(str, picked), "--model", str(tiny_model_dir), "--out", str(out), "--cell", "64"]
    assert script("sketch_to_face").main(args) == 0
    for p in picked:
        assert size_mode(out / p.name) == ((CANVAS, CANVAS), "RGB")
    assert size_mode(out / "grid.png") == ((2 * 64, len(picked) * 64), "RGB")


def test_blend_strip(tiny_model_dir, tmp_path: Path):
    sketch = SKETCHES / "05_no_mouth.png"
    args = ["--sketch", str(sketch), "--steps", "3", "--cell", "64", "--model", str(tiny_model_dir), "--out",
            str(tmp_path)]
    assert script("blend_strip").main(args) == 0
    faces = [np.asarray(Image.open(tmp_path / f"05_no_mouth_w{w}.png")) for w in ("0.00", "0.50", "1.00")]
    assert all(f.shape == (CANVAS, CANVAS, 3) for f in faces)
    assert not np.array_equal(faces[0], faces[2])  # the slider changes the face
    (w, h), mode = size_mode(tmp_path / "05_no_mouth_strip.png")
    assert mode == "RGB" and w == 4 * 64 and 64 < h <= 2 * 64  # sketch + 3 faces, a label band below


def test_mix_components(tiny_model_dir, tmp_path: Path):
    base = ["--model", str(tiny_model_dir), "--cell", "64"]
    assert script("mix_components").main([*base, "--out", str(tmp_path / "mix")]) == 0
    for name in ("a", "b", "mix"):
        assert size_mode(tmp_path / "mix" / f"{name}.png") == ((CANVAS, CANVAS), "RGB")
    (w, h), _ = size_mode(tmp_path / "mix" / "mix_panel.png")
    assert w == 3 * 64 and 2 * 64 < h <= 3 * 64  # titles, sketches, faces
    # taking every part from B must give B's face exactly
    every = ["--from-b", "eye1,eye2,nose,mouth,remainder", "--out", str(tmp_path / "all")]
    assert script("mix_components").main([*base, *every]) == 0
    b, mix = (np.asarray(Image.open(tmp_path / "all" / f"{n}.png")) for n in ("b", "mix"))
    assert np.array_equal(b, mix)


def test_compare_methods(tiny_model_dir, tiny_cfg, tmp_path: Path, capsys):
    from jdfd.baseline import SketchBaseline  # noqa: PLC0415

    base = SketchBaseline(tiny_cfg).save_pretrained(tmp_path / "baseline")
    picked = [str(p) for p in sketch_files()[:2]]
    args = [*picked, "--model", str(tiny_model_dir), "--baseline", str(base), "--blends", "1,0", "--cell", "64",
            "--out", str(tmp_path / "cmp")]
    assert script("compare_methods").main(args) == 0
    stem = sketch_files()[0].stem
    faces = {m: np.asarray(Image.open(tmp_path / "cmp" / f"{stem}_{m}.png")) for m in ("w1", "w0", "baseline")}
    assert all(f.shape == (CANVAS, CANVAS, 3) for f in faces.values())
    assert not np.array_equal(faces["w1"], faces["w0"])
    (w, h), _ = size_mode(tmp_path / "cmp" / "comparison.png")
    assert w == 4 * 64 and 2 * 64 < h < 3 * 64  # sketch, w=1, w=0, baseline; a label band on top
    assert script("compare_methods").main([*picked, "--model", str(tiny_model_dir), "--blends", "2"]) == 2
    assert "in [0, 1]" in capsys.readouterr().err


def test_shadow_guidance(tiny_model_dir, tmp_path: Path):
    assert script("shadow_guidance").main(["--model", str(tiny_model_dir), "--out", str(tmp_path), "--cell", "64"]) == 0
    stem = "06_outline_and_eyes"
    assert size_mode(tmp_path / f"{stem}_shadow.png") == ((CANVAS, CANVAS), "L")
    assert size_mode(tmp_path / f"{stem}_overlay.png") == ((CANVAS, CANVAS), "RGB")
    assert size_mode(tmp_path / f"{stem}_face.png") == ((CANVAS, CANVAS), "RGB")
    assert size_mode(tmp_path / f"{stem}_panel.png")[0][0] == 4 * 64
    # the user's strokes stay black on top of the shadow
    sketch = np.asarray(Image.open(SKETCHES / f"{stem}.png"))
    over = np.asarray(Image.open(tmp_path / f"{stem}_overlay.png"))
    assert over[sketch == 0].max() == 0
