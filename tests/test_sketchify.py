"""Tests for jdfd.sketchify on small synthetic "photos" (no dataset needed)."""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage as ndi

from jdfd import sketchify as sk


def _ellipse(h: int, w: int, cy: float, cx: float, ry: float, rx: float) -> np.ndarray:
    yy, xx = np.mgrid[:h, :w]
    return ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1.0


def synthetic_face(h: int = 512, w: int = 512, noise: float = 2.0) -> tuple[np.ndarray, np.ndarray]:
    """A cartoon face photo and its region label map (edges are where labels change).

    Light skin ellipse with soft shading, dark eyes, brows and mouth, on a gradient
    background, plus a little sensor noise.
    """
    labels = np.zeros((h, w), np.int32)  # 0 background
    s = min(h, w) / 512
    labels[_ellipse(h, w, h * 0.5, w * 0.5, 190 * s, 150 * s)] = 1  # face
    for cx in (w * 0.5 - 60 * s, w * 0.5 + 60 * s):
        labels[_ellipse(h, w, h * 0.43, cx, 14 * s, 28 * s)] = 2  # eyes
        labels[_ellipse(h, w, h * 0.36, cx, 6 * s, 34 * s)] = 3  # brows
    labels[_ellipse(h, w, h * 0.66, w * 0.5, 9 * s, 50 * s)] = 4  # mouth
    yy, xx = np.mgrid[:h, :w].astype(np.float32)
    background = 70 + 60 * xx / w  # smooth left-to-right gradient
    shading = 25 * np.exp(-((yy - h * 0.45) ** 2 + (xx - w * 0.4) ** 2) / (2 * (120 * s) ** 2))
    grey = np.select(
        [labels == 0, labels == 1, labels == 2, labels == 3, labels == 4],
        [background, 190 + shading, 40, 55, 90],
    )
    grey = grey + np.random.default_rng(0).normal(0, noise, grey.shape)
    rgb = np.stack([grey * 1.05, grey, grey * 0.9], axis=2)
    return np.clip(rgb, 0, 255).astype(np.uint8), labels


def _edges(labels: np.ndarray) -> np.ndarray:
    return (ndi.grey_dilation(labels, size=3) != ndi.grey_erosion(labels, size=3)) & ~_border(labels.shape, 1)


def _border(shape: tuple[int, int], width: int) -> np.ndarray:
    m = np.zeros(shape, bool)
    m[:width], m[-width:], m[:, :width], m[:, -width:] = True, True, True, True
    return m


@pytest.fixture(scope="module")
def face() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rgb, labels = synthetic_face()
    return rgb, labels, sk.sketchify_image(rgb)


def test_output_is_binary_greyscale_mostly_paper(face):
    _, _, out = face
    assert out.shape == (512, 512) and out.dtype == np.uint8
    assert set(np.unique(out)) == {0, 255}
    assert 0.002 < (out == 0).mean() < 0.10


def test_deterministic(face):
    rgb, _, out = face
    assert np.array_equal(sk.sketchify_image(rgb.copy()), out)


def test_strokes_lie_on_drawn_edges_and_not_in_flat_regions(face):
    _, labels, out = face
    ink = out == 0
    dist = ndi.distance_transform_edt(~_edges(labels))
    # every stroke pixel sits close to a real edge (DoG puts lines a few px to the dark side)
    assert dist[ink].max() <= 8
    # nothing in the flat/shaded interior of the face or the gradient background
    assert not ink[dist > 10].any()
    # each feature got drawn: eyes, brows, mouth and face outline all have ink nearby
    near = ndi.binary_dilation(ink, iterations=6)
    for lab in (2, 3, 4):
        boundary = _edges(labels == lab)
        assert near[boundary].mean() > 0.5, f"feature {lab} barely drawn"
    assert near[_edges(labels >= 1)].mean() > 0.7, "face outline barely drawn"


def test_strokes_are_thin_pen_lines(face):
    _, _, out = face
    ink = out == 0
    # 2 px strokes: a 3x3 erosion removes them, except a few pixels where lines meet
    assert ndi.binary_erosion(ink, np.ones((3, 3), bool)).sum() <= 0.01 * ink.sum()
    # and no stroke is thinner than the pen: a 2x2 opening keeps almost all of it
    assert ndi.binary_opening(ink, np.ones((2, 2), bool)).sum() >= 0.9 * ink.sum()


@pytest.mark.parametrize(
    "grey",
    [
        np.broadcast_to(np.linspace(10, 245, 512), (512, 512)),  # strong horizontal gradient
        np.broadcast_to(np.linspace(30, 220, 512)[:, None], (512, 512)),  # vertical
        # soft round shading, like light falling on a cheek
        60 + 170 * np.exp(-((np.mgrid[:512, :512] - np.array([250, 200])[:, None, None]) ** 2).sum(0) / 2 / 110**2),
        np.full((512, 512), 128.0),  # flat grey
    ],
)
def test_smooth_shading_gives_no_strokes(grey):
    noisy = grey + np.random.default_rng(1).normal(0, 1.5, grey.shape)
    rgb = np.repeat(np.clip(noisy, 0, 255).astype(np.uint8)[:, :, None], 3, axis=2)
    assert (sk.sketchify_image(rgb) == 255).all()


@pytest.mark.parametrize(("h", "w", "size"), [(300, 200, 512), (640, 640, 512), (512, 512, 256), (400, 300, 128)])
def test_other_sizes_are_resized(h, w, size):
    rgb, labels = synthetic_face(h, w)
    out = sk.sketchify_image(rgb, size=size)
    assert out.shape == (size, size) and out.dtype == np.uint8
    assert set(np.unique(out)) <= {0, 255} and (out == 0).any()
    # the drawing still follows the (resized) face edges
    lab = np.asarray(Image.fromarray(labels.astype(np.uint8)).resize((size, size), Image.NEAREST))
    dist = ndi.distance_transform_edt(~_edges(lab))
    assert np.percentile(dist[out == 0], 95) <= 8 * max(1.0, size / 512)


def test_accepts_grey_and_rgba_and_rejects_floats():
    rgb, _ = synthetic_face(128, 128)
    grey = rgb[:, :, 1]
    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])
    assert sk.sketchify_image(grey, size=128).shape == (128, 128)
    assert np.array_equal(sk.sketchify_image(rgba, size=128), sk.sketchify_image(rgb, size=128))
    with pytest.raises(ValueError):
        sk.sketchify_image(rgb.astype(np.float32), size=128)


def test_thin_makes_one_pixel_lines():
    bar = np.zeros((40, 80), bool)
    bar[15:24, 10:70] = True
    line = sk.thin(bar)
    assert line.any()
    assert (line.sum(axis=0)[20:60] == 1).all()  # one pixel thick away from the ends


def _photo_folder(root: Path) -> Path:
    src = root / "photos"
    src.mkdir()
    rgb, _ = synthetic_face(256, 256)
    Image.fromarray(rgb).save(src / "a.jpg", quality=95)
    Image.fromarray(rgb[:, ::-1]).save(src / "b.png")
    Image.fromarray(rgb[20:220]).save(src / "c_wide.png")  # not square: gets resized
    (src / "notes.txt").write_text("not an image\n")
    (src / "empty.jpg").write_bytes(b"")
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG")
    (src / "cut.jpg").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])  # truncated
    return src


@pytest.mark.parametrize("workers", [1, 2])
def test_folder_skips_unreadable_and_writes_the_rest(tmp_path, capsys, workers):
    src = _photo_folder(tmp_path)
    dst, preview = tmp_path / "sketches", tmp_path / "grid" / "preview.png"
    res = sk.sketchify_folder(src, dst, size=128, preview=preview, workers=workers)
    assert (res["found"], res["written"], res["existing"], res["skipped"]) == (6, 3, 0, 3)
    assert sorted(Path(p).name for p, _ in res["skipped_files"]) == ["cut.jpg", "empty.jpg", "notes.txt"]
    err = capsys.readouterr().err
    for name in ("cut.jpg", "empty.jpg", "notes.txt"):
        assert name in err
    for stem in ("a", "b", "c_wide"):
        with Image.open(dst / f"{stem}.png") as im:
            assert im.format == "PNG" and im.mode == "L" and im.size == (128, 128)
            assert set(np.unique(np.asarray(im))) == {0, 255}
    assert res["preview"] == str(preview)
    with Image.open(preview) as im:
        # 3 photo|sketch pairs, two pairs per row of 256 px cells
        assert im.format == "PNG" and im.size == (4 * 256, 2 * 256)


def test_folder_is_idempotent_unless_overwrite(tmp_path):
    src = _photo_folder(tmp_path)
    dst = tmp_path / "sketches"
    first = sk.sketchify_folder(src, dst, size=64, workers=1)
    assert first["written"] == 3 and first["preview"] is None
    (dst / "a.png").write_bytes(b"sentinel")  # must survive a second, non-overwriting run
    again = sk.sketchify_folder(src, dst, size=64, workers=1)
    assert (again["written"], again["existing"]) == (0, 3)
    assert (dst / "a.png").read_bytes() == b"sentinel"
    forced = sk.sketchify_folder(src, dst, size=64, workers=1, overwrite=True)
    assert (forced["written"], forced["existing"]) == (3, 0)
    with Image.open(dst / "a.png") as im:
        assert im.size == (64, 64)


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="jdfd")
    sub = parser.add_subparsers(dest="command", required=True)
    sk.add_parser(sub)
    return parser.parse_args(argv)


def test_cli_run_writes_sketches_and_default_preview(tmp_path, capsys):
    src = _photo_folder(tmp_path)
    out = tmp_path / "out"
    args = _parse(["sketchify", str(src), "-o", str(out), "--size", "96", "--workers", "1"])
    assert args.func is sk.run
    assert args.func(args) == 0
    assert (out / "a.png").exists() and (tmp_path / "out_preview.png").exists()
    assert not (out / "preview.png").exists()  # never where it could be taken for a sketch
    assert "3 written" in capsys.readouterr().out


def test_cli_exit_code_2_when_missing_or_nothing_readable(tmp_path):
    assert sk.run(_parse(["sketchify", str(tmp_path / "nope"), "-o", str(tmp_path / "o")])) == 2
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "x.jpg").write_bytes(b"\x00\x01")
    assert sk.run(_parse(["sketchify", str(junk), "-o", str(tmp_path / "o2"), "--workers", "1"])) == 2


def test_folder_skips_second_photo_with_the_same_stem(tmp_path):
    src = tmp_path / "photos"
    src.mkdir()
    rgb, _ = synthetic_face(64, 64)
    Image.fromarray(rgb).save(src / "x.jpg")
    Image.fromarray(rgb).save(src / "x.png")
    res = sk.sketchify_folder(src, tmp_path / "out", size=64, workers=1)
    assert (res["written"], res["skipped"]) == (1, 1)
    assert "same stem" in res["skipped_files"][0][1]


# --------------------------------------------------------------------------- styles (v1, v2)


def synthetic_head(size: int = 512) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Auburn, strand-textured hair around a skin-coloured face on a blue-grey backdrop.

    Hair and backdrop have about the same luminance (107 vs 106), so only a colour
    edge separates them, as with many real hair silhouettes. Returns the photo, the
    person mask (hair | face) and the hair interior well away from any outline.
    """
    h = w = size
    s = size / 512
    yy, xx = np.mgrid[:h, :w].astype(np.float32)
    hair = _ellipse(h, w, 0.45 * h, 0.5 * w, 215 * s, 190 * s)
    hair |= _ellipse(h, w, 0.75 * h, 0.5 * w, 200 * s, 190 * s) & (yy > 0.45 * h)
    face = _ellipse(h, w, 0.55 * h, 0.5 * w, 150 * s, 115 * s)
    strands = 10 * np.sin(xx / (3.0 * s) + 0.3 * np.sin(yy / (25 * s)))
    strands += np.random.default_rng(3).normal(0, 4, (h, w))
    rgb = np.empty((h, w, 3), np.float32)
    rgb[:] = (80, 110, 150)
    rgb[hair] = np.array([150, 95, 60]) + strands[hair][:, None]
    shade = 20 * ((xx - w / 2) / (115 * s)) ** 2  # soft shading across the cheeks: must not become ink
    rgb[face] = np.array([225, 185, 160]) - shade[face][:, None]
    person = hair | face
    interior = ndi.binary_erosion(person, iterations=round(20 * s)) & ~ndi.binary_dilation(
        face, iterations=round(20 * s)
    )
    return np.clip(rgb, 0, 255).astype(np.uint8), person, interior


V1, V2 = sk.SketchParams(style="v1"), sk.SketchParams(style="v2")


def test_v2_is_the_default_and_unknown_styles_are_rejected(face):
    rgb, _, out = face
    assert sk.DEFAULT_PARAMS.style == "v2"
    assert np.array_equal(sk.sketchify_image(rgb, params=V2), out)
    with pytest.raises(ValueError, match="style"):
        sk.sketchify_image(rgb, params=sk.SketchParams(style="v3"))


@pytest.mark.parametrize("params", [V1, V2], ids=["v1", "v2"])
def test_styles_are_deterministic(params):
    rgb, _, _ = synthetic_head(256)
    first = sk.sketchify_image(rgb, size=256, params=params)
    assert np.array_equal(sk.sketchify_image(rgb.copy(), size=256, params=params), first)


def test_v2_draws_the_hair_silhouette_and_strands_but_not_the_shading():
    rgb, person, interior = synthetic_head()
    outline = (person ^ ndi.binary_erosion(person)) & ~_border(person.shape, 8)
    v1, v2 = (sk.sketchify_image(rgb, params=p) == 0 for p in (V1, V2))
    near = ndi.binary_dilation(v2, iterations=4)
    # the hair/backdrop edge is a hue change: v2 outlines it all round, v1 (luminance only) barely
    assert near[outline].mean() > 0.9
    assert ndi.binary_dilation(v1, iterations=4)[outline].mean() < 0.3
    # some strands inside the hair mass, but far from a filled block
    assert 0.03 < v2[interior].mean() < 0.25
    # the shaded cheeks stay paper, and so does the flat backdrop
    face_inside = _ellipse(512, 512, 0.55 * 512, 256, 150, 115)
    assert not v2[ndi.binary_erosion(face_inside, iterations=12)].any()
    assert not v2[~ndi.binary_dilation(person, iterations=8)].any()


def test_v2_keeps_glasses_frames(face):
    rgb, _, _ = face
    yy, xx = np.mgrid[:512, :512]
    rings = np.zeros((512, 512), bool)
    for cx in (256 - 60, 256 + 60):
        r = np.hypot(yy - 0.43 * 512, xx - cx)
        rings |= (r > 40) & (r < 43.5)  # a 3.5 px dark frame around each eye
    bridge = (np.abs(yy - 0.43 * 512) < 1.8) & (np.abs(xx - 256) < 20)
    glasses = rgb.copy()
    glasses[rings | bridge] = 30
    ink = sk.sketchify_image(glasses) == 0
    near = ndi.binary_dilation(ink, iterations=4)
    assert near[rings].mean() > 0.8
    # and they were not there without the glasses
    assert ndi.binary_dilation(sk.sketchify_image(rgb) == 0, iterations=4)[rings].mean() < 0.6


@pytest.mark.parametrize("params", [V1, V2], ids=["v1", "v2"])
def test_ink_density_in_the_hand_drawn_range(params):
    rgb, _, _ = synthetic_head()
    density = sk.ink_density(sk.sketchify_image(rgb, params=params))
    lo, hi = (0.005, 0.04) if params.style == "v1" else (0.03, 0.10)
    assert lo < density < hi


def test_ink_density_counts_dark_pixels():
    sketch = np.full((10, 20), 255, np.uint8)
    sketch[:5, :4] = 0
    sketch[9, 19] = 127  # dark enough
    sketch[0, 19] = 128  # not
    assert sk.ink_density(sketch) == pytest.approx(21 / 200)
    assert sk.ink_density(np.dstack([sketch] * 3)) == pytest.approx(21 / 200)


def test_cli_style_flag_and_density_summary(tmp_path, capsys):
    src = _photo_folder(tmp_path)
    outs = {}
    for style in ("v1", "v2"):
        args = _parse(["sketchify", str(src), "-o", str(tmp_path / style), "--size", "128", "--workers", "1",
                       "--style", style])
        assert args.func(args) == 0
        printed = capsys.readouterr().out
        assert f"style {style}, ink density" in printed and "mean 0." in printed
        outs[style] = np.asarray(Image.open(tmp_path / style / "a.png"))
    assert np.array_equal(outs["v1"], sk.sketchify_image(np.asarray(Image.open(src / "a.jpg")), 128, V1))
    assert _parse(["sketchify", str(src), "-o", str(tmp_path / "x")]).style == "v2"
    with pytest.raises(SystemExit):
        _parse(["sketchify", str(src), "-o", str(tmp_path / "x"), "--style", "v9"])


def test_silhouette_inks_the_outer_edge_of_a_textured_hair_mass_and_nothing_on_a_plain_image():
    # dark, curly-textured hair (no strands, low luminance contrast) around a skin disk on a flat wall
    n = 512
    yy, xx = np.mgrid[:n, :n].astype(np.float32)
    hair = _ellipse(n, n, 0.45 * n, 0.5 * n, 190, 170)
    face = _ellipse(n, n, 0.55 * n, 0.5 * n, 140, 105)
    curls = ndi.gaussian_filter(np.random.default_rng(5).normal(0, 1, (n, n)), 2.5)
    rgb = np.empty((n, n, 3), np.float32)
    rgb[:] = (200, 200, 195)
    rgb[hair] = np.array([45, 35, 30]) + 150 * curls[hair][:, None]
    rgb[face] = (220, 180, 155)
    rgb = np.clip(rgb, 0, 255).astype(np.uint8)
    sil = sk._silhouette(rgb, sk.DEFAULT_PARAMS, 1.0)
    outline = (hair ^ ndi.binary_erosion(hair)) & (yy < 0.5 * n)  # the upper half of the hair's edge
    near = ndi.binary_dilation(sil, iterations=6)
    assert near[outline].mean() > 0.7
    assert not sil[ndi.binary_erosion(hair, iterations=10)].any()  # never inside the hair or through the face
    # and the full v2 sketch has that edge inked
    v2 = sk.sketchify_image(rgb) == 0
    assert ndi.binary_dilation(v2, iterations=4)[outline].mean() > 0.8
    plain = np.full((n, n, 3), (120, 140, 160), np.uint8)
    assert not sk._silhouette(plain, sk.DEFAULT_PARAMS, 1.0).any()
