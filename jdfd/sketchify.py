"""Synthesise clean line-drawing sketches from aligned face photos.

DeepFaceDrawing trains on (sketch, photo) pairs whose sketches came from photos
(Photoshop "photocopy" plus a sketch-simplification network). We have no such
network, so this module builds the same kind of drawing with a fixed filter chain:
thin black pen lines for the face outline, brows, eyes, nose, lips and hair, on
white, with no shading and no texture speckle. Every step is a plain numpy/scipy
operation, so the result is deterministic.

Two styles (``SketchParams.style``, ``jdfd sketchify --style``):

* **v1** (~0.13 s per 512x512 photo): the fine-line chain below, steps 1–8. It draws
  faces well but almost no hair: its texture suppression (step 4) and length filter
  (step 7) remove hair along with its texture, so fringe, parting, hair outline and
  length are mostly missing and a sketch inks only ~3 % of the canvas (hand-drawn face
  sketches: 4–21 %). A model trained on it cannot learn hair, beards or glasses.
* **v2** (default, ~0.45 s): v1's lines plus the structure a person draws first,
  as 1 px lines merged in before step 7 (:func:`_v2_lines`). Ink 5.5 % on average
  (1.9–9.1 %) on the 100 val photos, v1 3.0 % (1.4–5.9 %).

The fine-line chain (:func:`sketchify_image`), and why each step is there:

1. **Resize, then luminance with a 1–99 % percentile stretch.** Facial features are
   luminance lines (v2's outlines do use colour, step A); the stretch makes the thresholds below mean
   the same thing for dark, bright and low-contrast photos (capped at 10x gain so
   a near-blank photo's noise is not blown up into lines).
2. **Median filter (5 px).** Removes skin pores, JPEG noise and the finest hair
   strands while keeping step edges sharp, which a Gaussian alone would not. A
   7 px median cleans curly hair further but starts to erase lower eyelids and
   nose wings, which matter more to DeepFaceDrawing's component encoders.
3. **Difference of Gaussians, dark side only** (``blur(k*sigma) - blur(sigma)``,
   sigma 1.6, k 1.6). This is the band-pass at the heart of XDoG and of the
   photocopy filter: it is positive where a pixel is darker than its
   surroundings, i.e. on the dark side of an edge and along thin dark features
   (lash lines, lip gap, brows, nostrils), which is where people put their pen.
   Soft shading has almost no second derivative and a linear gradient gives
   exactly zero, so shading does not turn into hatching. The image is padded by
   odd reflection first, so a gradient running into the border stays a gradient.
   We keep XDoG's sharp threshold but not its tone term (tau < 1), which would
   fill dark hair and shadows with black.
4. **Texture suppression.** Wavy or curly hair is a carpet of parallel dark
   strands, and the DoG draws every one, which reads as hatching. We measure the
   fraction of pixels above the low threshold in a ~64 px window (box filter
   twice) and divide the response by ``1 + 4 * max(0, density - 0.1)``: inside a
   hair mass (density 0.3–0.4) lines need about twice the contrast, while a lone
   contour or the compact cluster of lines at an eye barely changes. A
   surround-inhibition variant (subtracting the blurred response) was tried and
   erased eyes along with the hair.
5. **Hysteresis threshold** (high 0.017, low 0.006, as in Canny). A line is kept
   only if it reaches the high threshold somewhere, and is then followed along
   its weak stretches, so contours (jaw, nose, eyelids) stay long and connected
   while isolated weak shading blobs vanish. A single threshold gives either
   broken lines or blotches.
6. **Drop blobs under ``min_blob_area`` (30 px)**: speckle from skin/cloth texture.
7. **Round off the mask, thin it to a 1 px skeleton (Zhang–Suen), drop skeleton
   pieces under 30 px long or spanning under 15 px.** The DoG band has the width
   of the filter, not of a pen, and dark regions (pupils, lips, brows) come out
   as filled blobs; thinning turns both into single centre lines. The length and
   extent filters remove the short dashes and tight curls that hair texture
   leaves behind, while eyelid and iris strokes, which are longer, survive.
8. **Dilate to ``stroke_width`` px** (default 2) so every stroke has the same
   pen-like width whatever the strength of its edge.

v2 adds, inside a wide face-centred ellipse (head, hair, shoulders; not the far
corners of the backdrop) and outside the eyes and the nose/mouth ellipse (left to
the fine chain, where coarse terms only add shading lines; boxes assume CelebA-HQ
alignment):

A. **Colour outlines at two scales.** Canny-style edges of the colour image
   (luminance plus two opponent chroma channels, Di Zenzo gradient, non-maximum
   suppression, hysteresis on the scale-normalised step height, 0.25/0.1): sigma 2.5 px
   follows a fringe, a hairline, a collar, an ear or a beard's edge; sigma 6 px sees a
   spiky or curly hair mass as one shape where the fine scale sees only tufts.
   Chroma matters because hair and backdrop often differ in hue more than in
   brightness (auburn on blue, blond on white), which v1's luminance DoG cannot see.
   Lines under 40 px are dropped: structure is long, texture is short.
B. **Hair strands.** Dark ridges from the Hessian (sigma 2 px; the larger eigenvalue
   minus the other's magnitude, so round blobs score nothing), weighted by the
   squared orientation coherence of the structure tensor over 8 px: parallel strands
   in straight or wavy hair score high, a tangle or pores score low. Hysteresis,
   thinning and the 40 px length filter leave a few long flow lines. Not on the jaw,
   chin and neck, where the same filter finds folds.
C. **Thresholds fall towards the top** (x0.45 at the top row, x1 from 40 % of the
   height): above the brows there is only hair and backdrop, and a spiky hair line is
   a weak, broken edge that a person still draws.
D. **No double lines.** Each new line is kept only where it is more than 5 px from
   lines already drawn (fine strokes first, then the fine outline scale, the coarse
   one, the strands), keeping new stretches of 10 px or more: they often bridge a
   fine stroke's gaps. At step 7 the union is fattened by one pixel, pinholes under
   40 px are filled and it is thinned again, so lines 1–2 px apart merge into one
   stroke rather than a ladder of loops.

E. **Head/hair silhouette** (:func:`_silhouette`, last, so it only bridges gaps): rays
   from the face centre over +-150 degrees from straight up; on each, the split between
   "person" and "the rest out to the border" that best separates colour and texture
   (texture relative to brightness, so dark hair is textured too) with a homogeneous,
   smoother rest, a sharp change and a position outside the face; the outermost good
   split wins. The radius is median-filtered over angle, outliers and jumps (head to
   shoulders) break the contour, and runs of >= 10 rays are drawn as one smoothed line.
   A plain backdrop or smooth shading gives no split. It closes head tops and sides
   (bald and short hair, long hair on a plain wall), ~0.12 s. It cannot help where the
   hair runs off the canvas (big curly masses: only the corners have an outline) or
   where dark hair meets a dark, noisy backdrop (fragments, or a short stub into it).

Not done: a real person/background segmentation (geodesic colour distances from the
borders, and "smooth regions reachable from the border" were tried: hair touching the
top border or sharing the backdrop's brightness broke both), so a busy, sharp backdrop
(a poster) is drawn, as in v1. Hair on a backdrop of the same colour and brightness has
no outline to find. Curly hair gets its outline but few curls; beards their edges, not
their texture. Bilateral or flow-based (FDoG) smoothing would give slightly longer lines
but cost several times more in numpy. Tuned by eye on the CelebA-HQ val photos (light
and dark skin, dark and bright backgrounds, glasses, curly hair, beards, bald heads).

All lengths are given for a 512 px image and scaled with ``size`` so a 256 px
sketch looks like a downscaled 512 px one. Non-square photos are resized to a
square without cropping, as a dataset loader that calls ``resize((s, s))`` would,
so sketch and photo stay pixel-aligned.

CLI: ``jdfd sketchify PHOTOS_DIR -o SKETCH_DIR [--size 512] [--preview PATH]
[--workers 2] [--overwrite] [--style v1|v2]`` writes ``SKETCH_DIR/<stem>.png`` (8-bit
grey, 255 background, 0 strokes) for every readable image, skips (and reports)
unreadable files, writes a photo|sketch preview grid and prints the ink density
(:func:`ink_density`, fraction of dark pixels) of the sketches it wrote.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage as ndi

__all__ = ["STYLES", "SketchParams", "add_parser", "ink_density", "run", "sketchify_folder", "sketchify_image"]

#: sketch styles: v1 = fine DoG lines only; v2 adds the silhouette, hair and coarse structure
STYLES = ("v1", "v2")


@dataclass(frozen=True)
class SketchParams:
    """Every tunable of the chain. Lengths are pixels at ``ref_size`` and scale with the output size."""

    #: size the pixel lengths below are tuned for (CelebA-HQ at 512)
    ref_size: int = 512
    #: luminance percentiles stretched to black/white, so thresholds are contrast-independent
    stretch_low: float = 1.0
    stretch_high: float = 99.0
    #: the stretch never amplifies contrast more than 1/this, so a near-blank photo's noise stays noise
    stretch_min_range: float = 0.1
    #: median window (px); removes pores/noise/fine hair but keeps edges
    median_size: int = 5
    #: inner DoG sigma (px): the finest structure that becomes a line
    sigma: float = 1.6
    #: outer sigma = k * sigma; 1.6 approximates a Laplacian of Gaussian
    k: float = 1.6
    #: texture suppression: where more than ``texture_free`` of a ``texture_window`` px box is
    #: above ``low``, both thresholds are raised by ``1 + texture_gain * excess``; hair fills such
    #: boxes, the compact eye/mouth clusters do not
    texture_window: int = 64
    texture_free: float = 0.1
    texture_gain: float = 4.0
    #: hysteresis thresholds on the DoG response (intensity units, 0..1)
    high: float = 0.017
    low: float = 0.006
    #: blobs of the thresholded response smaller than this (px) are texture speckle
    min_blob_area: int = 30
    #: Gaussian sigma (px) used to round off the ink mask before thinning; 0 disables
    mask_smooth: float = 1.0
    #: thin to a 1 px skeleton; False keeps the raw DoG band (thicker, uneven strokes)
    thin: bool = True
    #: skeleton pieces with fewer pixels than this are dropped (hair/texture dashes)
    min_stroke_length: int = 30
    #: skeleton pieces whose bounding box spans fewer px than this are dropped (curls, dots)
    min_stroke_extent: int = 15
    #: final stroke width in px (1, 2 or 3; only applies when thinning)
    stroke_width: int = 2
    #: "v1": the fine chain above only; "v2": plus silhouette, coarse edges and hair strands
    style: str = "v2"
    # ---- v2 only
    #: Gaussian sigmas (px) of the colour gradient for outlines: features, and whole hair masses
    edge_sigmas: tuple[float, ...] = (2.5, 6.0)
    #: hysteresis on the colour step height (0..1) for outlines (hair silhouette, fringe, beard, ears, collar)
    edge_high: float = 0.25
    edge_low: float = 0.1
    #: strands: Hessian scale (px), coherence window (px), hysteresis on ridge * coherence^2
    strand_sigma: float = 2.0
    strand_window: float = 8.0
    strand_high: float = 0.012
    strand_low: float = 0.005
    #: half-axes (fraction of the side) of the face-centred zone the v2 terms may draw in
    zone_rx: float = 0.62
    zone_ry: float = 0.75
    #: v2 thresholds are scaled by ``top_gain`` at the top row, rising linearly to 1 at ``top_extent`` of the height
    top_gain: float = 0.45
    top_extent: float = 0.4
    #: v2 lines shorter than this (px) are dropped: texture, not structure
    extra_min_length: float = 40.0
    #: stretches of a v2 line that are new (not next to an existing stroke) are kept from this length (px)
    extra_min_piece: float = 10.0
    #: half-axes (fraction of the side) of the nose/mouth ellipse left to the fine chain (eyes have their own)
    core_rx: float = 0.13
    core_ry: float = 0.17
    #: coarse lines closer than this (px) to a fine stroke are dropped (no double lines)
    dedupe_radius: float = 5.0
    #: holes smaller than this (px) between merged v2 lines are filled before re-thinning
    pinhole_area: float = 40.0
    #: silhouette: rays from (0.5, ``sil_origin_y``) of the side, spread over +-``sil_span`` degrees from straight up
    silhouette: bool = True
    sil_rays: int = 181
    sil_span: float = 150.0
    sil_origin_y: float = 0.47
    #: a ray's split must beat this contrast (colour + texture units); the outermost split within
    #: ``sil_frac`` of the ray's best wins
    sil_threshold: float = 0.12
    sil_frac: float = 0.5
    #: the backdrop beyond the split may be at most this textured: ``sil_tex_rel`` x the hair's, or ``sil_tex_abs``
    sil_tex_rel: float = 0.6
    sil_tex_abs: float = 0.03
    #: only runs of this many agreeing rays are drawn (about 1.7 degrees per ray)
    sil_min_run: int = 10


DEFAULT_PARAMS = SketchParams()

# Neighbour weights for the 8-neighbourhood code used by the thinning look-up tables:
# bit 0 = north (P2), then clockwise to bit 7 = north-west (P9), as in Zhang & Suen (1984).
_NEIGHBOUR_WEIGHTS = np.array([[128, 1, 2], [64, 0, 4], [32, 16, 8]], dtype=np.int32)


def _zhang_suen_tables() -> tuple[np.ndarray, np.ndarray]:
    """Deletion tables for the two Zhang–Suen sub-iterations, indexed by neighbour code."""
    bits = (np.arange(256)[:, None] >> np.arange(8)) & 1  # columns P2..P9
    count = bits.sum(1)
    transitions = ((bits == 0) & (np.roll(bits, -1, axis=1) == 1)).sum(1)
    p2, _, p4, _, p6, _, p8, _ = bits.T
    base = (count >= 2) & (count <= 6) & (transitions == 1)
    first = base & (p2 * p4 * p6 == 0) & (p4 * p6 * p8 == 0)
    second = base & (p2 * p4 * p8 == 0) & (p2 * p6 * p8 == 0)
    return first, second


_ZS_TABLES = _zhang_suen_tables()
_EIGHT = np.ones((3, 3), dtype=bool)


def _neighbour_code(img: np.ndarray) -> np.ndarray:
    """8-neighbour code of every pixel (weights as ``_NEIGHBOUR_WEIGHTS``), zero outside the image."""
    pad = np.pad(img.view(np.uint8), 1)
    h, w = img.shape
    code = np.zeros((h, w), np.uint8)
    for (dy, dx), weight in np.ndenumerate(_NEIGHBOUR_WEIGHTS):
        if weight:
            # uint8 shifted adds: several times faster than a generic int32 correlate
            code += pad[dy : dy + h, dx : dx + w] * np.uint8(weight)
    return code


def thin(mask: np.ndarray) -> np.ndarray:
    """Zhang–Suen thinning of a boolean mask to 1 px wide 8-connected lines.

    Vectorised with a 256-entry look-up table per sub-iteration, so one pass over a
    512x512 image costs eight shifted adds; strokes here are a few px wide, so it
    converges in a handful of passes.
    """
    img = mask.astype(bool, copy=True)
    while True:
        changed = False
        for table in _ZS_TABLES:
            remove = img & table[_neighbour_code(img)]
            if remove.any():
                img &= ~remove
                changed = True
        if not changed:
            return img


def _drop_small(mask: np.ndarray, min_size: int, seeds: np.ndarray | None = None, min_extent: int = 0) -> np.ndarray:
    """Keep 8-connected components with >= min_size px (and, if given, touching a seed pixel)."""
    labels, n = ndi.label(mask, _EIGHT)
    if n == 0:
        return mask
    keep = np.bincount(labels.ravel(), minlength=n + 1) >= min_size
    if min_extent > 1:
        for i, sl in enumerate(ndi.find_objects(labels), start=1):
            if sl is not None and max(sl[0].stop - sl[0].start, sl[1].stop - sl[1].start) < min_extent:
                keep[i] = False
    if seeds is not None:
        seeded = np.zeros(n + 1, dtype=bool)
        seeded[labels[seeds]] = True
        keep &= seeded
    keep[0] = False
    return keep[labels]


def _to_rgb(rgb: np.ndarray) -> np.ndarray:
    arr = np.asarray(rgb)
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    if arr.ndim != 3 or arr.shape[2] not in (3, 4):
        raise ValueError(f"expected an HxWx3 image, got shape {arr.shape}")
    if arr.dtype != np.uint8:
        raise ValueError(f"expected uint8 pixels, got {arr.dtype}")
    return arr[:, :, :3]


def _luminance(arr: np.ndarray, p: SketchParams, scale: float) -> np.ndarray:
    """Steps 1-2: percentile-stretched, median-denoised luminance in 0..1."""
    grey = arr.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32) / 255.0
    lo, hi = np.percentile(grey, (p.stretch_low, p.stretch_high))
    grey = np.clip((grey - lo) / max(float(hi - lo), p.stretch_min_range), 0.0, 1.0)
    median = max(1, round(p.median_size * scale))
    if median > 1:
        grey = ndi.median_filter(grey, size=median, mode="reflect")
    return grey


def _dog_ink(grey: np.ndarray, p: SketchParams, scale: float) -> np.ndarray:
    """Steps 3-6: dark-side DoG, texture suppression, hysteresis, speckle removal (a band mask)."""
    sigma = max(0.5, p.sigma * scale)
    # Odd (point) reflection continues a gradient straight through the border; plain
    # reflection would fold it into a V whose tip the DoG draws as a line along the edge.
    pad = int(np.ceil(4 * sigma * p.k))
    padded = np.pad(grey, pad, mode="reflect", reflect_type="odd")
    response = ndi.gaussian_filter(padded, sigma * p.k) - ndi.gaussian_filter(padded, sigma)
    response = response[pad:-pad, pad:-pad]

    # texture suppression: raise the bar where lines are dense over a wide window (hair)
    if p.texture_gain > 0 and p.texture_window > 0:
        win = max(3, round(p.texture_window * scale))
        density = ndi.uniform_filter((response > p.low).astype(np.float32), win, mode="reflect")
        density = ndi.uniform_filter(density, win, mode="reflect")  # box twice ~ smooth window
        response = response / (1.0 + p.texture_gain * np.maximum(density - p.texture_free, 0.0))

    # hysteresis and speckle removal in one labelling pass
    min_area = max(1, round(p.min_blob_area * scale * scale))
    return _drop_small(response > p.low, min_area, seeds=response > p.high)


def _strokes(ink: np.ndarray, p: SketchParams, scale: float, pre_thinned: np.ndarray | None = None) -> np.ndarray:
    """Steps 7-8: round off, thin to a skeleton, drop short pieces, dilate to the pen width."""
    if p.mask_smooth > 0:
        # round off jagged threshold borders: ~10% fewer skeleton spurs (endpoints) on val photos
        ink = ndi.gaussian_filter(ink.astype(np.float32), p.mask_smooth * scale) > 0.5
    ink = thin(ink)
    if pre_thinned is not None:
        # v2's extra 1 px lines: fatten by one pixel, fill the pinholes left between lines
        # that ran 1-2 px apart, and re-thin, so they merge into one stroke instead of a
        # thick double line or a chain of tiny loops (thinning keeps every hole as a loop)
        fat = ndi.binary_dilation(ink | pre_thinned, _EIGHT)
        holes = ndi.binary_fill_holes(fat) & ~fat
        ink = thin(fat | (holes & ~_drop_small(holes, max(2, round(p.pinhole_area * scale * scale)))))
    ink = _drop_small(ink, max(1, round(p.min_stroke_length * scale)), min_extent=round(p.min_stroke_extent * scale))
    if p.stroke_width == 2:
        ink = ndi.binary_dilation(ink, np.ones((2, 2), dtype=bool))
    elif p.stroke_width >= 3:
        ink = ndi.binary_dilation(ink)  # 3x3 cross
    return ink


# --------------------------------------------------------------------------- v2 terms


def _ellipse_mask(n: int, cy: float, cx: float, ry: float, rx: float) -> np.ndarray:
    yy, xx = np.mgrid[:n, :n].astype(np.float32) + 0.5
    return ((yy - cy * n) / (ry * n)) ** 2 + ((xx - cx * n) / (rx * n)) ** 2 <= 1.0


def _colour_edges(arr: np.ndarray, sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """Canny-style colour edges: the step height (0..1) an edge has at this scale, and its thin ridge.

    The gradient is scale-normalised (times ``sigma * sqrt(2 pi)``), so a clean step of
    height h scores h at any sigma and the thresholds mean the same at both scales.
    """
    img = arr.astype(np.float32) / 255.0
    r, g, b = img[..., 0], img[..., 1], img[..., 2]
    chans = (0.299 * r + 0.587 * g + 0.114 * b, r - g, 0.5 * (r + g) - b)
    jxx = jyy = jxy = 0.0
    for c in chans:
        # smoothing then central differences: half the filter passes of Gaussian-derivative
        # filters, and the same result to within a few % at these sigmas
        gy, gx = np.gradient(ndi.gaussian_filter(c, sigma, mode="nearest"))
        jxx, jyy, jxy = jxx + gx * gx, jyy + gy * gy, jxy + gx * gy
    # Di Zenzo: the largest eigenvalue of the summed structure tensor is the colour gradient strength
    tr, det = jxx + jyy, jxx * jyy - jxy * jxy
    mag = np.sqrt(np.maximum(0.5 * tr + np.sqrt(np.maximum(0.25 * tr * tr - det, 0.0)), 0.0))
    mag *= sigma * np.sqrt(2 * np.pi)
    theta = 0.5 * np.arctan2(2 * jxy, jxx - jyy)  # gradient direction
    # non-maximum suppression across the edge, direction quantised to 4 bins
    q = np.round(theta / (np.pi / 4)).astype(np.int32) % 4
    pad = np.pad(mag, 1, mode="edge")
    h, w = mag.shape
    ridge = np.zeros_like(mag, dtype=bool)
    for k, (dy, dx) in enumerate(((0, 1), (1, 1), (1, 0), (1, -1))):
        fwd = pad[1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w]
        back = pad[1 - dy : 1 - dy + h, 1 - dx : 1 - dx + w]
        sel = q == k
        ridge |= sel & (mag >= fwd) & (mag > back)
    return mag, ridge


def _ridges(grey: np.ndarray, sigma: float, window: float) -> tuple[np.ndarray, np.ndarray]:
    """Dark-line strength from the Hessian, and the orientation coherence of the neighbourhood.

    The larger Hessian eigenvalue is positive across a dark line (a hair strand, a frame);
    subtracting the other one's magnitude rejects round blobs (curls' dots, pores).
    Coherence (structure tensor over ``window``) is near 1 where the lines run parallel,
    as strands in combed or straight hair do, and near 0 in a tangle.
    """
    # one smoothing, then differences for the gradient and the Hessian (cheap, see above)
    gy, gx = np.gradient(ndi.gaussian_filter(grey, sigma, mode="nearest"))
    hyy, hxy = np.gradient(gy)
    hxx = np.gradient(gx, axis=1)
    hxx, hyy, hxy = hxx * sigma**2, hyy * sigma**2, hxy * sigma**2  # scale-normalised
    half = np.sqrt(0.25 * (hxx - hyy) ** 2 + hxy * hxy)
    mean = 0.5 * (hxx + hyy)
    l1, l2 = mean + half, mean - half
    ridge = np.maximum(l1 - np.abs(l2), 0.0)
    jxx, jyy, jxy = (ndi.gaussian_filter(v, window) for v in (gx * gx, gy * gy, gx * gy))
    coherence = np.sqrt((jxx - jyy) ** 2 + 4 * jxy * jxy) / (jxx + jyy + 1e-6)
    return ridge, coherence


def _silhouette_features(arr: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Smoothed colour (luminance, two opponent chroma) and a relative texture energy.

    Texture is the mean deviation from a 4 px blur over ~6 px, divided by the local
    brightness: dark hair's strands have small absolute contrast, yet they are as
    textured as blond ones relative to their level, while backdrops (often out of focus
    in CelebA-HQ) and skin stay smooth.
    """
    img = arr.astype(np.float32) / 255.0
    r, g, b = img[..., 0], img[..., 1], img[..., 2]
    lum = 0.299 * r + 0.587 * g + 0.114 * b
    tex = ndi.gaussian_filter(np.abs(lum - ndi.gaussian_filter(lum, 4 * scale)), 6 * scale)
    tex /= ndi.gaussian_filter(lum, 6 * scale) + 0.1
    colour = np.stack([ndi.gaussian_filter(c, 2 * scale) for c in (lum, 1.5 * (r - g), 1.5 * (0.5 * (r + g) - b))])
    return colour, tex


def _silhouette(arr: np.ndarray, p: SketchParams, scale: float) -> np.ndarray:
    """The outer boundary of the head and hair mass as one smooth 1 px line (may be empty).

    Rays leave the face centre; along each, the features (colour and texture) are
    split into "person" and "the rest out to the border". The split scores the
    difference between the last ~24 px before it and the mean of the rest, minus
    the rest's spread: the backdrop beyond a silhouette is one homogeneous stretch,
    whereas a split at the hairline leaves hair and backdrop in the rest. The rest
    must also be smoother than the hair before it, so a split never stops inside a
    hair mass that runs off the canvas (curls to the border get no contour there).
    The radius, as a function of angle, is then median-filtered, outliers dropped
    and Gaussian-smoothed, and only long runs of agreeing rays are drawn: a closed
    contour is smooth by construction, and a plain backdrop offers no split at all.
    """
    size = arr.shape[0]
    colour, tex = _silhouette_features(arr, scale)
    oy, ox = p.sil_origin_y * size, 0.5 * size
    theta = np.deg2rad(np.linspace(-p.sil_span, p.sil_span, p.sil_rays))
    dy, dx = -np.cos(theta), np.sin(theta)
    step = 2.0 * scale  # sample spacing along a ray (px)
    rs = np.arange(0.0, np.hypot(size, size), step)
    ys, xs = oy + dy[:, None] * rs, ox + dx[:, None] * rs
    on = (ys >= 0) & (ys <= size - 1) & (xs >= 0) & (xs <= size - 1)
    coords = np.stack([np.clip(ys, 0, size - 1), np.clip(xs, 0, size - 1)])
    t = ndi.map_coordinates(tex, coords, order=1) * on
    f = np.stack([ndi.map_coordinates(c, coords, order=1) for c in colour] + [np.sqrt(t)], -1) * on[..., None]
    n_rays, n = on.shape
    count = on.sum(1)[:, None]  # samples up to the border
    zero = np.zeros((n_rays, 1))
    c1 = np.concatenate([zero[..., None].repeat(f.shape[-1], 2), np.cumsum(f, 1)], 1)
    c2 = np.concatenate([zero[..., None].repeat(f.shape[-1], 2), np.cumsum(f * f, 1)], 1)
    ct = np.concatenate([zero, np.cumsum(t, 1)], 1)
    k = np.broadcast_to(np.arange(n)[None], (n_rays, n))  # split: person [k - w, k), rest [k, count)
    a = np.maximum(k - round(24 * scale / step), 0)
    end = np.broadcast_to(count, (n_rays, n))

    def mean(c: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        if c.ndim == 2:
            return (np.take_along_axis(c, hi, 1) - np.take_along_axis(c, lo, 1)) / np.maximum(hi - lo, 1)
        diff = np.take_along_axis(c, hi[..., None], 1) - np.take_along_axis(c, lo[..., None], 1)
        return diff / np.maximum(hi - lo, 1)[..., None]

    m_in, m_rest = mean(c1, a, k), mean(c1, k, end)
    spread = np.sqrt(np.maximum(mean(c2, k, end) - m_rest**2, 0.0).sum(-1))
    contrast = np.sqrt(((m_in - m_rest) ** 2).sum(-1))
    score = contrast - 1.5 * spread
    # an edge, not shading: a good part of the change happens within ~6 px of the split
    near = round(6 * scale / step) + 1
    sharp = np.sqrt(((mean(c1, np.maximum(k - near, 0), k) - mean(c1, k, np.minimum(k + near, end))) ** 2).sum(-1))
    # the split lies outside an inner face ellipse (never through the face), leaves a few px
    # of backdrop, and the backdrop is smoother than what it bounds
    # (the face reaches further down than up from the origin: the chin sits at ~0.8 of the side)
    inner = 1.0 / np.sqrt((dy / (np.where(dy > 0, 0.33, 0.2) * size)) ** 2 + (dx / (0.15 * size)) ** 2)
    valid = (k * step >= inner[:, None]) & (end - k >= 6 * scale / step) & (sharp >= 0.3 * contrast)
    valid &= mean(ct, k, end) <= np.maximum(p.sil_tex_rel * mean(ct, a, k), p.sil_tex_abs)
    score = np.where(valid, score, -np.inf)
    top = score.max(1, keepdims=True)
    peak = (score >= np.maximum(p.sil_frac * top, p.sil_threshold)) & (score >= np.roll(score, 1, 1))
    peak &= score >= np.roll(score, -1, 1)
    outer = np.where(peak, k, -1).max(1)  # the outermost good split
    found = outer >= 0
    radius = np.where(found, outer * step, np.nan)

    # smooth r(theta): running median, drop rays off it, bridge short gaps, Gaussian
    win = 9
    pad = np.pad(radius, win // 2, mode="edge")
    windows = np.lib.stride_tricks.sliding_window_view(pad, win)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN windows: no contour there
        med = np.nanmedian(windows, 1)
    keep = found & (np.abs(radius - med) <= 0.04 * size)
    out = np.zeros((size, size), bool)
    # runs of kept rays, bridging gaps of up to 3 rays, and broken where the radius jumps
    # (from the head to the shoulders, say): a jump is two contours, not one
    runs = ndi.binary_closing(keep, np.ones(5, bool)) | keep
    good_r = np.interp(np.arange(n_rays), np.flatnonzero(keep), med[keep]) if keep.any() else radius
    jump = np.abs(np.diff(good_r)) > 0.04 * size
    runs[1:] &= ~(jump & runs[:-1])
    labels, n_runs = ndi.label(runs)
    for i in range(1, n_runs + 1):
        idx = np.flatnonzero(labels == i)
        if len(idx) < p.sil_min_run:
            continue
        good = idx[keep[idx]]
        r = ndi.gaussian_filter1d(np.interp(idx, good, radius[good]), 1.5, mode="nearest")
        # polyline through the ray points, sampled every half pixel
        py, px = oy + dy[idx] * r, ox + dx[idx] * r
        seg = np.maximum(np.ceil(2 * np.hypot(np.diff(py), np.diff(px))).astype(int), 1)
        u = np.concatenate([j + np.arange(m) / m for j, m in enumerate(seg)] + [[len(idx) - 1]])
        yy = np.interp(u, np.arange(len(idx)), py)
        xx = np.interp(u, np.arange(len(idx)), px)
        out[np.clip(np.round(yy).astype(int), 0, size - 1), np.clip(np.round(xx).astype(int), 0, size - 1)] = True
    return thin(out)


def _v2_lines(arr: np.ndarray, grey: np.ndarray, fine: np.ndarray, p: SketchParams, scale: float) -> np.ndarray:
    """v2's extra 1 px lines: outlines (hair silhouette, fringe, beard, collar) and hair strands."""
    size = arr.shape[0]
    border = np.zeros((size, size), bool)
    bw = max(2, round(4 * scale))
    border[:bw], border[-bw:], border[:, :bw], border[:, -bw:] = True, True, True, True
    # the eyes, nose and mouth are the fine chain's; coarse terms there only add shading
    # lines. Aligned faces put the eyes at ~(0.34, 0.43) and (0.62, 0.43) of the canvas.
    core = _ellipse_mask(size, 0.6, 0.5, p.core_ry, p.core_rx)
    for cx in (0.336, 0.623):
        core |= _ellipse_mask(size, 0.43, cx, 0.06, 0.1)
    # a wide face-centred zone: head, hair and shoulders, not the far corners of the backdrop
    zone = _ellipse_mask(size, 0.5, 0.5, p.zone_ry, p.zone_rx) & ~core & ~border

    # 1. outlines: colour edges (a blond silhouette on a pale wall differs in hue) at two
    # scales: the finer one follows a fringe or a collar, the coarser one sees a curly or
    # spiky hair mass as one shape, where the finer one only sees curls
    # Thresholds fall towards the top: above the brows there is only hair and backdrop, and
    # a spiky or curly hair line is a weak, broken edge that a person still draws.
    rows = (np.arange(size, dtype=np.float32) + 0.5) / size
    bar = (p.top_gain + (1 - p.top_gain) * np.clip(rows / p.top_extent, 0.0, 1.0))[:, None]
    radius = max(1, round(p.dedupe_radius * scale))
    drawn = thin(fine)
    extra = np.zeros((size, size), bool)

    min_len, min_piece = max(2, round(p.extra_min_length * scale)), max(2, round(p.extra_min_piece * scale))

    def add(lines: np.ndarray) -> None:
        # Only long lines are structure; short ones are texture. A line next to one already
        # drawn (a fine DoG stroke, or the same edge at the other scale) would make a double
        # line, so only its new stretches are kept: they often bridge the gaps of a fine stroke.
        nonlocal drawn, extra
        lines = _drop_small(lines, min_len)
        new = _drop_small(lines & ~ndi.binary_dilation(drawn, iterations=radius), min_piece)
        extra |= new
        drawn |= new

    for sigma in p.edge_sigmas:
        mag, ridge = _colour_edges(arr, max(0.7, sigma * scale))
        mag = mag / bar
        add(_drop_small(ridge & zone & (mag > p.edge_low), 2, seeds=mag > p.edge_high))

    # 2. strands: coherent dark ridges, so straight and wavy hair get a few long flow lines
    lines, coherence = _ridges(grey, max(0.7, p.strand_sigma * scale), max(1.0, p.strand_window * scale))
    strength = lines * coherence**2 / bar
    # not on the jaw, chin and neck, where the same filter finds folds and shadows, not hair
    strand_zone = zone & ~_ellipse_mask(size, 0.72, 0.5, 0.2, 0.22)
    add(thin(_drop_small(strand_zone & (strength > p.strand_low), 2, seeds=strength > p.strand_high)))

    # 3. the head/hair silhouette, last: it bridges the gaps of the outlines above
    if p.silhouette:
        add(_silhouette(arr, p, scale) & ~border)
    return extra


def sketchify_image(rgb: np.ndarray, size: int = 512, params: SketchParams | None = None) -> np.ndarray:
    """Turn an HxWx3 uint8 face photo into a ``size`` x ``size`` uint8 line drawing (255 paper, 0 ink)."""
    p = params or DEFAULT_PARAMS
    if size < 16:
        raise ValueError(f"size must be at least 16, got {size}")
    if p.style not in STYLES:
        raise ValueError(f"unknown sketch style {p.style!r}; expected one of {', '.join(STYLES)}")
    arr = _to_rgb(rgb)
    if arr.shape[:2] != (size, size):
        arr = np.asarray(Image.fromarray(arr).resize((size, size), Image.BICUBIC))
    scale = size / p.ref_size
    grey = _luminance(arr, p, scale)
    ink = _dog_ink(grey, p, scale)
    extra = _v2_lines(arr, grey, ink, p, scale) if p.style == "v2" else None
    if p.thin:
        ink = _strokes(ink, p, scale, extra)
    elif extra is not None:
        ink = ink | extra
    return np.where(ink, 0, 255).astype(np.uint8)


def ink_density(sketch: np.ndarray, threshold: int = 128) -> float:
    """Fraction of dark pixels (value < ``threshold``) in a greyscale sketch: how much of the paper is inked."""
    arr = np.asarray(sketch)
    if arr.ndim == 3:
        arr = arr[:, :, :3].mean(axis=2)
    return float((arr < threshold).mean()) if arr.size else 0.0


# --------------------------------------------------------------------------- folders


def read_rgb(path: Path) -> np.ndarray:
    """Decode an image file fully (so truncation is caught here) as HxWx3 uint8, transparency on white."""
    with Image.open(path) as im:
        im.load()
        if im.mode in ("RGBA", "LA") or (im.mode == "P" and "transparency" in im.info):
            im = im.convert("RGBA")
            paper = Image.new("RGBA", im.size, (255, 255, 255, 255))
            im = Image.alpha_composite(paper, im)
        return np.asarray(im.convert("RGB"))


def _write_png(arr: np.ndarray, out: Path) -> None:
    # write-then-rename: an interrupted run must not leave a half-written PNG that a
    # later non-overwriting run would keep as if it were finished
    tmp = out.with_name(f".{out.stem}.{os.getpid()}.tmp")
    try:
        Image.fromarray(arr).save(tmp, format="PNG")
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            tmp.unlink()


def _process(task: tuple[str, str, int, SketchParams, bool]) -> tuple[str, str, str, float | None]:
    """Worker: one photo → one sketch. Returns (source, status, reason, ink density); never raises."""
    src, out, size, params, overwrite = task
    if not overwrite and os.path.exists(out):
        return src, "exists", "", None
    try:
        rgb = read_rgb(Path(src))
    except Exception as exc:  # noqa: BLE001 - any decode failure means "unreadable", never abort the run
        return src, "skipped", f"unreadable ({type(exc).__name__}: {exc})", None
    try:
        sketch = sketchify_image(rgb, size, params)
        _write_png(sketch, Path(out))
    except Exception as exc:  # noqa: BLE001 - e.g. disk full or a degenerate image; report and go on
        return src, "skipped", f"failed ({type(exc).__name__}: {exc})", None
    return src, "written", "", ink_density(sketch)


def _thumb(img: Image.Image, cell: int) -> Image.Image:
    return img.convert("RGB").resize((cell, cell), Image.LANCZOS)


def write_preview(pairs: list[tuple[Path, Path]], path: Path, cell: int = 256, per_row: int = 2) -> None:
    """Grid of photo | sketch pairs, ``per_row`` pairs per row."""
    rows = max(1, -(-len(pairs) // per_row))
    grid = Image.new("RGB", (2 * per_row * cell, rows * cell), (255, 255, 255))
    for i, (photo, sketch) in enumerate(pairs):
        x, y = (i % per_row) * 2 * cell, (i // per_row) * cell
        grid.paste(_thumb(Image.fromarray(read_rgb(photo)), cell), (x, y))
        with Image.open(sketch) as sk:
            grid.paste(_thumb(sk, cell), (x + cell, y))
    path.parent.mkdir(parents=True, exist_ok=True)
    grid.save(path, format="PNG")


def _list_inputs(src: Path) -> list[Path]:
    # every visible regular file: anything that is not an image gets reported, not silently ignored
    return sorted(p for p in src.iterdir() if p.is_file() and not p.name.startswith("."))


def sketchify_folder(
    src: Path,
    dst: Path,
    size: int = 512,
    preview: Path | None = None,
    workers: int = 2,
    overwrite: bool = False,
    params: SketchParams | None = None,
    preview_count: int = 8,
) -> dict:
    """Sketch every image in ``src`` (not recursive) into ``dst/<stem>.png``.

    Unreadable files are reported on stderr and skipped. Returns counts
    (``found``, ``written``, ``existing``, ``skipped``), ``skipped_files`` as
    ``[(path, reason), ...]``, ``seconds``, ``preview`` (path or None) and ``density``
    (mean/min/max ink fraction of the sketches written now, or None if none was).
    """
    from jdfd.progress import track

    src, dst = Path(src), Path(dst)
    params = params or DEFAULT_PARAMS
    dst.mkdir(parents=True, exist_ok=True)
    files = _list_inputs(src)
    skipped: list[tuple[str, str]] = []
    tasks: list[tuple[str, str, int, SketchParams, bool]] = []
    outputs: dict[str, Path] = {}
    taken: set[str] = set()
    preview = Path(preview) if preview is not None else None
    preview_res = preview.resolve() if preview is not None else None
    for f in files:
        out = dst / f"{f.stem}.png"
        if out.name in taken:
            skipped.append((str(f), f"same stem as an earlier file, would overwrite {out.name}"))
        elif out.resolve() == f.resolve():
            skipped.append((str(f), "output would overwrite the input"))
        elif preview_res is not None and out.resolve() == preview_res:
            skipped.append((str(f), "output would be overwritten by the preview grid"))
        else:
            outputs[str(f)] = out
            taken.add(out.name)
            tasks.append((str(f), str(out), size, params, overwrite))
    for name, reason in skipped:
        print(f"sketchify: skipped {name}: {reason}", file=sys.stderr)

    start = time.perf_counter()
    counts = {"written": 0, "existing": 0}
    done: list[str] = []
    densities: list[float] = []
    pool = None
    if workers > 1 and len(tasks) > 1:
        pool = multiprocessing.get_context().Pool(min(workers, len(tasks)))
        results = pool.imap(_process, tasks, chunksize=4)
    else:
        results = map(_process, tasks)
    try:
        for name, status, reason, density in track(results, total=len(tasks), desc="sketchify", unit="img"):
            if status == "skipped":
                skipped.append((name, reason))
                # "\r" + padding: overwrite the progress bar's line; the bar redraws below it
                print(f"\rsketchify: skipped {name}: {reason}".ljust(100), file=sys.stderr)
            else:
                counts["written" if status == "written" else "existing"] += 1
                done.append(name)
                if density is not None:
                    densities.append(density)
    except BaseException:
        if pool is not None:
            pool.terminate()  # Ctrl-C: do not wait for the queued photos
        raise
    finally:
        if pool is not None:
            pool.close()
            pool.join()
    seconds = time.perf_counter() - start

    preview_written = None
    if preview is not None and done:
        # evenly spread over the sorted list, so the grid is deterministic but not just the first few
        picks = sorted({done[int(i)] for i in np.linspace(0, len(done) - 1, min(preview_count, len(done)))})
        write_preview([(Path(n), outputs[n]) for n in picks], preview)
        preview_written = str(preview)
    return {
        "found": len(files),
        "written": counts["written"],
        "existing": counts["existing"],
        "skipped": len(skipped),
        "skipped_files": skipped,
        "seconds": seconds,
        "preview": preview_written,
        "density": (
            {"mean": float(np.mean(densities)), "min": min(densities), "max": max(densities)} if densities else None
        ),
    }


# --------------------------------------------------------------------------- CLI


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``jdfd sketchify`` on an argparse subparsers object."""
    p = subparsers.add_parser(
        "sketchify",
        help="turn aligned face photos into clean line-drawing sketches",
        description="Turn aligned face photos into black-on-white line drawings (training sketches).",
    )
    p.add_argument("photos_dir", metavar="PHOTOS_DIR", type=Path, help="folder of face photos (not recursive)")
    p.add_argument("-o", "--out", type=Path, required=True, help="folder for the sketches (<stem>.png)")
    p.add_argument("--size", type=int, default=512, help="output side in px; photos are resized to size x size")
    p.add_argument("--preview", type=Path, default=None,
                   help="photo|sketch grid PNG (default: OUT_preview.png beside OUT, never inside it)")
    p.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    p.add_argument("--overwrite", action="store_true", help="redo sketches that already exist")
    p.add_argument("--style", choices=STYLES, default=DEFAULT_PARAMS.style,
                   help="v2 (default): lines plus hair outline, strands, beard and collar; v1: the older, "
                        "sparser face-lines-only drawing")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Entry point of ``jdfd sketchify``; 0 on success, 2 if the input is missing or nothing could be read."""
    src, out = Path(args.photos_dir), Path(args.out)
    if not src.is_dir():
        print(f"sketchify: input folder not found: {src}", file=sys.stderr)
        return 2
    if args.size < 16:
        print(f"sketchify: --size must be at least 16, got {args.size}", file=sys.stderr)
        return 2
    preview = Path(args.preview) if args.preview is not None else out.parent / f"{out.name}_preview.png"
    params = SketchParams(style=getattr(args, "style", DEFAULT_PARAMS.style))
    res = sketchify_folder(
        src, out, size=args.size, preview=preview, workers=args.workers, overwrite=args.overwrite, params=params
    )
    n_ok = res["written"] + res["existing"]
    per = res["seconds"] / res["written"] if res["written"] else 0.0
    print(
        f"sketchify: {res['written']} written, {res['existing']} already there, {res['skipped']} skipped "
        f"of {res['found']} files in {res['seconds']:.1f} s ({per:.3f} s/photo) -> {out}"
    )
    if res["density"]:
        d = res["density"]
        print(
            f"sketchify: style {params.style}, ink density (fraction of dark pixels) "
            f"mean {d['mean']:.3f}, min {d['min']:.3f}, max {d['max']:.3f}"
        )
    if res["preview"]:
        print(f"sketchify: preview {res['preview']}")
    if n_ok == 0:
        print(f"sketchify: no readable image in {src}", file=sys.stderr)
        return 2
    return 0
