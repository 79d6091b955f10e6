"""Draw the example sketches in examples/sketches/ (deterministic, PIL only).

The sketches imitate what people draw in the DeepFaceDrawing interface: black pen
strokes on white, 512x512, the face centred in the paper's canonical layout (eyes
around y = 242, x = 197 and 317; nostrils near y = 330; mouth near y = 378; chin
near y = 460), so each part falls into its component box. They range from a clean,
careful drawing to a very rough scribble, and some leave parts out on purpose.

Strokes are Catmull-Rom splines through a few control points, bent by a smooth
random wobble along their normal, with a pressure-like width that tapers at the
ends. Rough styles redraw a stroke several times, overshoot its ends and leave
gaps. Everything random comes from a seeded generator, so the same script writes
the same pixels (tests/test_examples.py checks the committed PNGs against it).

    python examples/make_sketches.py                  # rewrite examples/sketches/*.png
    python examples/make_sketches.py --out /tmp/sk --sheet /tmp/sheet.png
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

HERE = Path(__file__).resolve().parent
DEFAULT_OUT = HERE / "sketches"
CANVAS = 512
SUPERSAMPLE = 3  # draw at 3x and downsample: smooth, pen-like edges

Points = Sequence[tuple[float, float]]


# ------------------------------------------------------------------------------ pen
@dataclass(frozen=True)
class Style:
    """How a hand moves the pen: all lengths in canvas pixels."""

    width: float = 2.0  # nominal stroke width
    wobble: float = 0.8  # amplitude of the slow sideways drift of a stroke
    jitter: float = 0.0  # per-point tremor
    pressure: float = 0.25  # relative width variation along a stroke
    passes: int = 1  # times each stroke is redrawn (sketchy look)
    overshoot: float = 0.0  # how far strokes may run past their ends
    gap: float = 0.0  # chance that a stroke is broken once somewhere


def spline(points: Points, step: float = 1.5) -> np.ndarray:
    """Catmull-Rom curve through the control points, sampled every ~``step`` px."""
    p = np.asarray(points, dtype=float)
    if len(p) < 2:
        return p
    ext = np.vstack([2 * p[0] - p[1], p, 2 * p[-1] - p[-2]])  # phantom ends so the curve reaches them
    pieces = []
    for i in range(len(p) - 1):
        p0, p1, p2, p3 = ext[i:i + 4]
        n = max(2, int(np.linalg.norm(p2 - p1) / step))
        t = np.linspace(0.0, 1.0, n, endpoint=False)[:, None]
        pieces.append(0.5 * (2 * p1 + (p2 - p0) * t + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t**2
                             + (3 * p1 - p0 - 3 * p2 + p3) * t**3))
    pieces.append(p[-1:])
    return np.vstack(pieces)


class Pen:
    """Draws wobbly, tapering strokes onto a supersampled greyscale page."""

    def __init__(self, rng: np.random.Generator, style: Style):
        self.rng = rng
        self.style = style
        self.page = Image.new("L", (CANVAS * SUPERSAMPLE, CANVAS * SUPERSAMPLE), 255)
        self.draw = ImageDraw.Draw(self.page)

    def _noise(self, s: np.ndarray, scales: tuple[float, ...]) -> np.ndarray:
        """Smooth random signal of arc length s, roughly in [-1, 1]."""
        out = np.zeros_like(s)
        for scale in scales:
            out += np.sin(2 * np.pi * s / (scale * self.rng.uniform(0.7, 1.3)) + self.rng.uniform(0, 2 * np.pi))
        return out / len(scales)

    def stroke(self, points: Points, width: float | None = None, style: Style | None = None, ink: int = 0) -> None:
        st = style or self.style
        base = spline(points)
        if len(base) < 2:
            return
        for _ in range(st.passes):
            path = base.copy()
            if st.overshoot:
                # a quick hand runs past where it meant to stop
                for end, nxt in ((0, 1), (-1, -2)):
                    d = path[end] - path[nxt]
                    d /= np.linalg.norm(d) + 1e-9
                    path[end] = path[end] + d * self.rng.uniform(0, st.overshoot)
                path = spline(path[:: max(1, len(path) // 12)].tolist() + [path[-1].tolist()])
            seg = np.linalg.norm(np.diff(path, axis=0), axis=1)
            s = np.concatenate([[0.0], np.cumsum(seg)])
            tangent = np.gradient(path, axis=0)
            normal = np.stack([-tangent[:, 1], tangent[:, 0]], axis=1)
            normal /= np.linalg.norm(normal, axis=1, keepdims=True) + 1e-9
            drift = st.wobble * self._noise(s, (45.0, 110.0, 260.0))
            if st.passes > 1:
                drift += self.rng.normal(0, st.wobble * 0.6)  # each pass lands a little aside
            path = path + normal * drift[:, None] + self.rng.normal(0, st.jitter, path.shape)
            w = (width or st.width) * (1 + st.pressure * self._noise(s, (60.0, 150.0)))
            ramp = np.clip(np.minimum(s, s[-1] - s) / max(6.0, 0.15 * s[-1]), 0, 1)
            w *= 0.45 + 0.55 * np.sqrt(ramp)  # tapered ends, like a pen lifted off the page
            keep = np.ones(len(path), bool)
            if st.gap and self.rng.random() < st.gap and len(path) > 20:
                i = int(self.rng.integers(5, len(path) - 10))
                keep[i:i + int(self.rng.integers(3, 8))] = False
            self._render(path, w, keep, ink)

    def _render(self, path: np.ndarray, w: np.ndarray, keep: np.ndarray, ink: int) -> None:
        k = SUPERSAMPLE
        for i in range(len(path) - 1):
            if not (keep[i] and keep[i + 1]):
                continue
            (x0, y0), (x1, y1) = path[i] * k, path[i + 1] * k
            r = max(0.5, w[i] * k / 2)
            self.draw.line([x0, y0, x1, y1], fill=ink, width=max(1, round(2 * r)))
            self.draw.ellipse([x0 - r, y0 - r, x0 + r, y0 + r], fill=ink)  # round joints

    def dot(self, x: float, y: float, r: float, ink: int = 0) -> None:
        k = SUPERSAMPLE
        self.draw.ellipse([(x - r) * k, (y - r) * k, (x + r) * k, (y + r) * k], fill=ink)

    def image(self) -> Image.Image:
        return self.page.resize((CANVAS, CANVAS), Image.LANCZOS)


def arc(cx: float, cy: float, rx: float, ry: float, a0: float, a1: float, n: int = 9) -> list[tuple[float, float]]:
    """Control points along an ellipse from angle a0 to a1 (degrees; 90 points down)."""
    t = np.radians(np.linspace(a0, a1, n))
    return list(zip(cx + rx * np.cos(t), cy + ry * np.sin(t)))


def mirror(points: Points, cx: float = 256.0) -> list[tuple[float, float]]:
    return [(2 * cx - x, y) for x, y in points]


# ------------------------------------------------------------------------------ face parts
@dataclass(frozen=True)
class Face:
    """Proportions on the 512 canvas; defaults follow the mean CelebA-HQ layout."""

    cx: float = 256.0
    eye_y: float = 242.0
    eye_dx: float = 60.0  # half the distance between the eye centres
    eye_w: float = 27.0  # half-width of an eye
    eye_h: float = 11.0
    brow_y: float = 211.0
    brow_arch: float = 6.0
    nose_y: float = 330.0  # nostril line
    mouth_y: float = 378.0
    mouth_w: float = 44.0  # half-width
    cheek_w: float = 122.0  # half-width of the face at the cheekbones
    jaw_w: float = 92.0  # half-width at the jaw corners
    jaw_y: float = 392.0
    chin_y: float = 458.0
    top_y: float = 62.0  # top of the skull


def outline(pen: Pen, f: Face, temple_y: float = 180.0, split: bool = True) -> None:
    """Jaw line from temple to temple; two strokes meeting at the chin, as people draw it.

    ``temple_y`` is where the line starts: lower when hair hides the sides of the face.
    """
    left = [(f.cx - f.cheek_w + 6, 180.0), (f.cx - f.cheek_w, 260), (f.cx - f.cheek_w + 8, 320),
            (f.cx - f.jaw_w, f.jaw_y), (f.cx - 48, f.chin_y - 14), (f.cx, f.chin_y)]
    left = [p for p in left if p[1] >= temple_y]
    if split:
        pen.stroke(left)
        pen.stroke(mirror(left, f.cx)[::-1])
    else:
        pen.stroke(left + mirror(left, f.cx)[::-1][1:])


def skull(pen: Pen, f: Face, temple_y: float = 180.0) -> None:
    """The top of the head, for faces drawn without hair."""
    pts = [(f.cx - f.cheek_w + 6, temple_y), (f.cx - f.cheek_w + 2, 130), (f.cx - 82, f.top_y + 22), (f.cx, f.top_y),
           (f.cx + 82, f.top_y + 22), (f.cx + f.cheek_w - 2, 130), (f.cx + f.cheek_w - 6, temple_y)]
    pen.stroke(pts)


def eye(pen: Pen, f: Face, side: int, iris: bool = True, lashes: bool = False, lower: bool = True) -> None:
    """side -1 = the eye on the image's left (eye1), +1 = right (eye2)."""
    ex, ey, w, h = f.cx + side * f.eye_dx, f.eye_y, f.eye_w, f.eye_h
    inner, outer = ex - side * w, ex + side * w
    upper = [(inner, ey + 2), (ex - side * w * 0.45, ey - h * 0.95), (ex + side * w * 0.25, ey - h),
             (outer, ey - 1)]
    pen.stroke(upper, width=pen.style.width * 1.25)
    if lower:
        pen.stroke([(inner + side * 3, ey + 3), (ex, ey + h * 0.6), (outer - side * 2, ey + 1)],
                   width=pen.style.width * 0.7)
    if iris:
        r = h * 0.85
        pen.stroke(arc(ex, ey - 1, r, r, -25, 205), width=pen.style.width * 0.8)
        pen.dot(ex, ey - 1, r * 0.42)
    if lashes:
        for t in (0.55, 0.75, 0.92):
            x = inner + side * 2 * w * t
            y = ey - h * (1.1 - 0.9 * t * t)
            pen.stroke([(x, y), (x + side * 6, y - 5)], width=pen.style.width * 0.6)


def brow(pen: Pen, f: Face, side: int, thick: float = 1.0, strokes: int = 2) -> None:
    ex, by = f.cx + side * f.eye_dx, f.brow_y
    inner, outer = ex - side * 30, ex + side * 34
    for i in range(strokes):
        d = (i - (strokes - 1) / 2) * 3.0 * thick
        pen.stroke([(inner, by + 4 + d), (ex - side * 4, by - f.brow_arch + d), (outer, by + 5 + d * 0.3)],
                   width=pen.style.width * thick)


def nose(pen: Pen, f: Face, bridge: bool = True, wide: float = 1.0) -> None:
    cx, ny = f.cx, f.nose_y
    if bridge:  # one shaded side of the bridge, drawn lightly
        pen.stroke([(cx - 14, f.eye_y + 8), (cx - 13, ny - 38), (cx - 20 * wide, ny - 14)], width=pen.style.width * 0.7)
    pen.stroke([(cx - 24 * wide, ny - 8), (cx - 20 * wide, ny + 3), (cx - 9, ny + 2), (cx, ny + 6), (cx + 9, ny + 2),
                (cx + 20 * wide, ny + 3), (cx + 24 * wide, ny - 8)])
    for s in (-1, 1):  # nostrils
        pen.stroke([(cx + s * 6, ny - 1), (cx + s * 13, ny - 4), (cx + s * 17, ny)], width=pen.style.width * 0.8)


def mouth(pen: Pen, f: Face, kind: str = "lips") -> None:
    cx, my, mw = f.cx, f.mouth_y, f.mouth_w
    if kind == "line":  # a closed mouth, one line and a hint of the lower lip
        pen.stroke([(cx - mw, my), (cx - mw * 0.4, my + 3), (cx + mw * 0.4, my + 3), (cx + mw, my)])
        pen.stroke([(cx - mw * 0.45, my + 16), (cx, my + 19), (cx + mw * 0.45, my + 16)], width=pen.style.width * 0.8)
    elif kind == "lips":  # cupid's bow, the lip gap and the lower lip
        pen.stroke([(cx - mw, my), (cx - mw * 0.5, my + 2), (cx, my + 1), (cx + mw * 0.5, my + 2), (cx + mw, my)],
                   width=pen.style.width * 1.2)
        pen.stroke([(cx - mw * 0.92, my - 1), (cx - mw * 0.45, my - 11), (cx - 6, my - 8), (cx, my - 5),
                    (cx + 6, my - 8), (cx + mw * 0.45, my - 11), (cx + mw * 0.92, my - 1)])
        pen.stroke([(cx - mw * 0.85, my + 3), (cx - mw * 0.45, my + 16), (cx, my + 19), (cx + mw * 0.45, my + 16),
                    (cx + mw * 0.85, my + 3)])
    elif kind == "smile":  # open, the upper teeth showing
        lc, rc = (cx - mw - 4, my - 10), (cx + mw + 4, my - 10)
        pen.stroke([lc, (cx - mw * 0.5, my - 2), (cx, my), (cx + mw * 0.5, my - 2), rc], width=pen.style.width * 1.2)
        pen.stroke([lc, (cx - mw * 0.6, my + 20), (cx, my + 30), (cx + mw * 0.6, my + 20), rc],
                   width=pen.style.width * 1.3)
        pen.stroke([(cx - mw * 0.8, my - 3), (cx - mw * 0.4, my + 9), (cx, my + 12), (cx + mw * 0.4, my + 9),
                    (cx + mw * 0.8, my - 3)], width=pen.style.width * 0.8)  # lower edge of the upper teeth
        for t in (-0.45, -0.15, 0.15, 0.45):  # gaps between teeth
            x = cx + t * mw
            pen.stroke([(x, my + 1 - abs(t) * 6), (x + t * 2, my + 10 - abs(t) * 8)], width=pen.style.width * 0.5)
        pen.stroke([(cx - mw * 0.85, my - 11), (cx - mw * 0.4, my - 15), (cx, my - 12), (cx + mw * 0.4, my - 15),
                    (cx + mw * 0.85, my - 11)], width=pen.style.width * 0.8)  # upper lip
        pen.stroke([(cx - mw * 0.45, my + 40), (cx, my + 44), (cx + mw * 0.45, my + 40)], width=pen.style.width * 0.8)
    else:
        raise ValueError(kind)


def smile_lines(pen: Pen, f: Face) -> None:
    """Short creases from the nose wings towards the corners of a smiling mouth."""
    for s in (-1, 1):
        pen.stroke([(f.cx + s * 34, f.nose_y - 6), (f.cx + s * 50, f.mouth_y - 24), (f.cx + s * 58, f.mouth_y - 12)],
                   width=pen.style.width * 0.6)


def ears(pen: Pen, f: Face) -> None:
    for s in (-1, 1):
        x = f.cx + s * (f.cheek_w - 2)
        pen.stroke([(x, f.eye_y - 8), (x + s * 14, f.eye_y - 14), (x + s * 18, f.eye_y + 20),
                    (x + s * 10, f.eye_y + 60), (x + s * 2, f.eye_y + 74)])
        pen.stroke([(x + s * 6, f.eye_y + 2), (x + s * 9, f.eye_y + 28), (x + s * 4, f.eye_y + 44)],
                   width=pen.style.width * 0.6)


def neck(pen: Pen, f: Face, shoulders: bool = True, collar: bool = False, top: float | None = None) -> None:
    for s in (-1, 1):
        pen.stroke([(f.cx + s * 60, top or f.chin_y - 30), (f.cx + s * 58, 490), (f.cx + s * 60, 512)])
        if shoulders:
            pen.stroke([(f.cx + s * 60, 482), (f.cx + s * 120, 494), (f.cx + s * 200, 505), (f.cx + s * 250, 512)])
    if collar:
        pen.stroke([(f.cx - 62, 488), (f.cx - 20, 512)])
        pen.stroke([(f.cx + 62, 488), (f.cx + 20, 512)])


def glasses(pen: Pen, f: Face) -> None:
    for s in (-1, 1):
        ex = f.cx + s * f.eye_dx
        x0, x1 = ex - 38, ex + 38
        y0, y1 = f.eye_y - 26, f.eye_y + 24
        pen.stroke([(x0 + 8, y0), (x1 - 8, y0 - 1), (x1, y0 + 10), (x1 - 2, y1 - 10), (x1 - 12, y1), (x0 + 12, y1 + 1),
                    (x0 + 1, y1 - 10), (x0, y0 + 10), (x0 + 8, y0)], width=pen.style.width * 1.3)
        pen.stroke([(ex + s * 38, f.eye_y - 16), (f.cx + s * (f.cheek_w - 4), f.eye_y - 20)])  # temple arm
    pen.stroke([(f.cx - 22, f.eye_y - 12), (f.cx, f.eye_y - 18), (f.cx + 22, f.eye_y - 12)])  # bridge


# ------------------------------------------------------------------------------ hair
def long_hair(pen: Pen, f: Face, rng: np.random.Generator, part_x: float = 0.0, strands: int = 5) -> None:
    """Straight hair parted near the middle and falling past the shoulders."""
    px = f.cx + part_x
    for s in (-1, 1):
        outer = [(px, f.top_y - 8), (f.cx + s * 90, f.top_y + 8), (f.cx + s * 140, 140), (f.cx + s * 156, 250),
                 (f.cx + s * 160, 370), (f.cx + s * 172, 470), (f.cx + s * 186, 512)]
        # the inner contour frames the forehead and cheeks, then runs behind the jaw
        inner = [(px + s * 4, f.top_y + 18), (f.cx + s * 64, 100), (f.cx + s * 106, 148), (f.cx + s * 116, 200),
                 (f.cx + s * (f.cheek_w - 2), 280), (f.cx + s * (f.cheek_w + 6), 350), (f.cx + s * 136, 430),
                 (f.cx + s * 146, 512)]
        pen.stroke(outer)
        pen.stroke(inner)
        for _ in range(strands):  # strands between the two contours
            t = rng.uniform(0.25, 0.8)
            pts = [(a[0] * (1 - t) + b[0] * t, a[1] * (1 - t) + b[1] * t) for a, b in zip(outer[1:], inner[1:])]
            start = int(rng.integers(0, 3))
            pen.stroke(pts[start:start + int(rng.integers(3, 6))], width=pen.style.width * 0.7)


def short_hair(pen: Pen, f: Face, rng: np.random.Generator, spikes: int = 14) -> None:
    """A cropped cut: the hair mass over the skull, a hairline, short tufts on top."""
    outer = [(f.cx - f.cheek_w - 2, 215), (f.cx - f.cheek_w - 8, 150), (f.cx - 108, 92), (f.cx - 56, f.top_y + 2),
             (f.cx + 6, f.top_y - 4), (f.cx + 64, f.top_y + 4), (f.cx + 110, 94), (f.cx + f.cheek_w + 6, 150),
             (f.cx + f.cheek_w + 2, 215)]
    pen.stroke(outer)
    pen.stroke([(f.cx - f.cheek_w + 4, 196), (f.cx - 112, 142), (f.cx - 74, 122), (f.cx - 20, 120), (f.cx + 40, 110),
                (f.cx + 90, 122), (f.cx + 114, 146), (f.cx + f.cheek_w - 4, 196)])
    for _ in range(spikes):  # short tufts along the crown
        x = rng.uniform(f.cx - 100, f.cx + 100)
        y = f.top_y + 4 + 0.0042 * (x - f.cx) ** 2
        pen.stroke([(x, y + rng.uniform(8, 22)), (x + rng.uniform(2, 9), y - rng.uniform(2, 8))],
                   width=pen.style.width * 0.7)


def bob_hair(pen: Pen, f: Face, rng: np.random.Generator) -> None:
    """Chin-length bob with a straight fringe across the forehead."""
    for s in (-1, 1):
        pen.stroke([(f.cx, f.top_y - 6), (f.cx + s * 96, f.top_y + 14), (f.cx + s * 146, 150), (f.cx + s * 152, 260),
                    (f.cx + s * 150, 350), (f.cx + s * 140, 410), (f.cx + s * 110, 420)])
        pen.stroke([(f.cx + s * 120, 170), (f.cx + s * 126, 260), (f.cx + s * 122, 350), (f.cx + s * 112, 418)])
    fringe = [(f.cx - 128, 176), (f.cx - 90, 166), (f.cx - 30, 170), (f.cx + 30, 168), (f.cx + 90, 166),
              (f.cx + 128, 176)]
    pen.stroke(fringe)
    for x in np.linspace(f.cx - 110, f.cx + 110, 9):  # fringe strands from the crown
        x = float(x + rng.uniform(-6, 6))
        pen.stroke([(f.cx + (x - f.cx) * 0.45, f.top_y + 16), (x, 120), (x + rng.uniform(-4, 4), 166)],
                   width=pen.style.width * 0.6)


def curly_hair(pen: Pen, f: Face, rng: np.random.Generator) -> None:
    """A cloud of loops around the head, down to the jaw, keeping the face clear."""
    for a in np.linspace(-1.2 * np.pi, 0.2 * np.pi, 40):
        a = float(a + rng.uniform(-0.03, 0.03))
        x, y = f.cx + (168 + rng.uniform(-8, 8)) * np.cos(a), 250 + (205 + rng.uniform(-10, 10)) * np.sin(a)
        r, start = rng.uniform(11, 19), rng.uniform(0, 360)
        pen.stroke(arc(x, y, r, r * rng.uniform(0.8, 1.1), start, start + rng.uniform(250, 330), 7),
                   width=pen.style.width * 0.8)
    for _ in range(60):  # smaller loops filling the mass
        a = rng.uniform(-1.15 * np.pi, 0.15 * np.pi)
        x, y = f.cx + rng.uniform(118, 150) * np.cos(a), 250 + rng.uniform(150, 185) * np.sin(a)
        if ((x - f.cx) / 128) ** 2 + ((y - 300) / 170) ** 2 < 1:
            continue  # that would be on the face
        r, start = rng.uniform(7, 13), rng.uniform(0, 360)
        pen.stroke(arc(x, y, r, r, start, start + 280, 6), width=pen.style.width * 0.6)
    pen.stroke([(f.cx - 118, 210), (f.cx - 100, 156), (f.cx - 40, 132), (f.cx + 20, 138), (f.cx + 80, 134),
                (f.cx + 112, 160), (f.cx + 120, 210)])  # hairline


def beard(pen: Pen, f: Face, rng: np.random.Generator) -> None:
    """Moustache and a short beard of hatch marks along the jaw."""
    for s in (-1, 1):
        for t in np.linspace(0.05, 1.0, 9):  # moustache: short strokes slanting outwards
            x, y = f.cx + s * 46 * t, f.mouth_y - 20 + 13 * t**2
            pen.stroke([(x, y - 4), (x + s * 3, y + 5)], width=pen.style.width * 0.8)
    for _ in range(70):
        x = rng.uniform(f.cx - f.jaw_w - 10, f.cx + f.jaw_w + 10)
        u = abs(x - f.cx) / (f.jaw_w + 10)
        y_low = f.chin_y - 6 - 60 * u**2
        y = rng.uniform(f.mouth_y + 26, y_low) if u < 0.45 else rng.uniform(f.mouth_y - 20 + 30 * u, y_low)
        dx = np.sign(x - f.cx) * rng.uniform(0, 3)
        pen.stroke([(x, y), (x + dx, y + rng.uniform(5, 9))], width=pen.style.width * 0.6)
    pen.stroke([(f.cx - f.jaw_w - 8, f.jaw_y - 30), (f.cx - 60, f.chin_y + 8), (f.cx, f.chin_y + 16),
                (f.cx + 60, f.chin_y + 8), (f.cx + f.jaw_w + 8, f.jaw_y - 30)], width=pen.style.width * 0.9)


# ------------------------------------------------------------------------------ the sketches
def clean_long_hair(rng: np.random.Generator) -> Image.Image:
    """A careful drawing: every part, steady thin lines."""
    f = Face(eye_w=26, mouth_w=40, cheek_w=118, jaw_w=86, chin_y=456)
    pen = Pen(rng, Style(width=1.8, wobble=0.4, pressure=0.2))
    outline(pen, f, temple_y=300)
    for s in (-1, 1):
        eye(pen, f, s, lashes=True)
        brow(pen, f, s, thick=0.9, strokes=1)
    nose(pen, f, wide=0.9)
    mouth(pen, f, "lips")
    long_hair(pen, f, rng, part_x=-14)
    neck(pen, f)
    return pen.image()


def short_hair_man(rng: np.random.Generator) -> Image.Image:
    f = Face(eye_w=26, eye_h=9, brow_y=214, brow_arch=2, cheek_w=128, jaw_w=104, jaw_y=400, chin_y=462, mouth_w=46)
    pen = Pen(rng, Style(width=2.3, wobble=1.0, pressure=0.3))
    outline(pen, f)
    ears(pen, f)
    for s in (-1, 1):
        eye(pen, f, s)
        brow(pen, f, s, thick=1.4, strokes=3)
    nose(pen, f, wide=1.1)
    mouth(pen, f, "line")
    short_hair(pen, f, rng)
    neck(pen, f, collar=True)
    return pen.image()


def glasses_man(rng: np.random.Generator) -> Image.Image:
    f = Face(cheek_w=124, jaw_w=98, chin_y=460, brow_y=206)
    pen = Pen(rng, Style(width=2.0, wobble=1.0, pressure=0.3))
    outline(pen, f)
    ears(pen, f)
    for s in (-1, 1):
        eye(pen, f, s)
        brow(pen, f, s, thick=1.1, strokes=2)
    glasses(pen, f)
    nose(pen, f, bridge=False)
    mouth(pen, f, "line")
    short_hair(pen, f, rng, spikes=6)
    neck(pen, f)
    return pen.image()


def open_smile(rng: np.random.Generator) -> Image.Image:
    f = Face(eye_h=9, mouth_w=48, mouth_y=376, cheek_w=122, jaw_w=90)
    pen = Pen(rng, Style(width=2.0, wobble=1.2, pressure=0.35))
    outline(pen, f, temple_y=300)
    for s in (-1, 1):
        eye(pen, f, s, lashes=True)
        brow(pen, f, s, strokes=1, thick=1.2)
    nose(pen, f, bridge=False)
    mouth(pen, f, "smile")
    smile_lines(pen, f)
    long_hair(pen, f, rng, part_x=22, strands=3)
    neck(pen, f, shoulders=False)
    return pen.image()


def no_mouth(rng: np.random.Generator) -> Image.Image:
    """Unfinished: everything but the mouth."""
    f = Face(cheek_w=120, jaw_w=94)
    pen = Pen(rng, Style(width=2.2, wobble=1.8, jitter=0.15, pressure=0.4, gap=0.3))
    outline(pen, f)
    for s in (-1, 1):
        eye(pen, f, s)
        brow(pen, f, s, strokes=2)
    nose(pen, f)
    short_hair(pen, f, rng, spikes=8)
    ears(pen, f)
    return pen.image()


def outline_and_eyes(rng: np.random.Generator) -> Image.Image:
    """Just started: the head and two eyes."""
    f = Face(cheek_w=124, jaw_w=92, top_y=70)
    pen = Pen(rng, Style(width=2.4, wobble=1.5, pressure=0.35))
    outline(pen, f, split=False)
    skull(pen, f)
    for s in (-1, 1):
        eye(pen, f, s, lower=False)
    return pen.image()


def rough_scribble(rng: np.random.Generator) -> Image.Image:
    """Fast and loose: every stroke gone over several times, overshooting, no detail."""
    f = Face(cheek_w=126, jaw_w=96, eye_w=28, eye_h=12, mouth_w=42)
    st = Style(width=1.6, wobble=3.5, jitter=0.35, pressure=0.45, passes=3, overshoot=16, gap=0.2)
    pen = Pen(rng, st)
    outline(pen, f)
    for s in (-1, 1):
        ex = f.cx + s * f.eye_dx
        pen.stroke(arc(ex, f.eye_y, f.eye_w, f.eye_h, 170, 530, 12))  # eyes as scribbled ovals
        pen.dot(ex, f.eye_y, 5)
        pen.stroke([(ex - 30, f.brow_y + 2), (ex, f.brow_y - 6), (ex + 30, f.brow_y + 3)])
    pen.stroke([(f.cx - 6, f.eye_y + 14), (f.cx - 14, f.nose_y), (f.cx + 14, f.nose_y + 2)])  # an "L" nose
    pen.stroke([(f.cx - f.mouth_w, f.mouth_y - 4), (f.cx, f.mouth_y + 8), (f.cx + f.mouth_w, f.mouth_y - 4)])
    for _ in range(5):  # hair: irregular back-and-forth scribbles over the crown
        x, up, pts = f.cx - 150 + rng.uniform(-10, 10), 1, []
        y0 = rng.uniform(64, 118)
        while x < f.cx + 150:
            pts.append((float(x), y0 + 0.0035 * (x - f.cx) ** 2 + up * rng.uniform(8, 30)))
            x, up = x + rng.uniform(6, 20), -up
        pen.stroke(pts, style=replace(st, passes=1, overshoot=0, wobble=2.0), width=1.3)
    for s in (-1, 1):
        pen.stroke([(f.cx + s * 130, 110), (f.cx + s * 150, 220), (f.cx + s * 140, 300)])
    return pen.image()


def bob_hand_drawn(rng: np.random.Generator) -> Image.Image:
    """Hand-drawn look: broken strokes, uneven pressure, a bob with a fringe."""
    f = Face(cheek_w=116, jaw_w=86, chin_y=452, mouth_w=38, eye_w=27)
    pen = Pen(rng, Style(width=2.1, wobble=1.6, jitter=0.2, pressure=0.55, gap=0.5, overshoot=4))
    outline(pen, f, temple_y=300)
    for s in (-1, 1):
        eye(pen, f, s, lashes=True)
        brow(pen, f, s, strokes=1)
    nose(pen, f, bridge=False, wide=0.85)
    mouth(pen, f, "lips")
    bob_hair(pen, f, rng)
    neck(pen, f, shoulders=False)
    return pen.image()


def curly_woman(rng: np.random.Generator) -> Image.Image:
    f = Face(cheek_w=118, jaw_w=88, chin_y=454, mouth_w=42)
    pen = Pen(rng, Style(width=1.9, wobble=1.0, pressure=0.3))
    outline(pen, f)
    for s in (-1, 1):
        eye(pen, f, s, lashes=True)
        brow(pen, f, s, strokes=1, thick=1.1)
    nose(pen, f, bridge=False)
    mouth(pen, f, "lips")
    curly_hair(pen, f, rng)
    neck(pen, f)
    return pen.image()


def bearded_man(rng: np.random.Generator) -> Image.Image:
    f = Face(eye_h=9, cheek_w=128, jaw_w=104, jaw_y=398, chin_y=462, brow_y=214, brow_arch=3, mouth_w=40)
    pen = Pen(rng, Style(width=2.2, wobble=1.2, pressure=0.35))
    outline(pen, f)
    ears(pen, f)
    for s in (-1, 1):
        eye(pen, f, s)
        brow(pen, f, s, thick=1.5, strokes=3)
    nose(pen, f, wide=1.15)
    mouth(pen, f, "line")
    beard(pen, f, rng)
    short_hair(pen, f, rng, spikes=10)
    neck(pen, f, collar=True, top=f.chin_y + 14)
    return pen.image()


#: file stem → (drawing function, seed). Seeds are fixed so the PNGs never change.
SKETCHES: dict[str, tuple[Callable[[np.random.Generator], Image.Image], int]] = {
    "01_clean_long_hair": (clean_long_hair, 1),
    "02_short_hair_man": (short_hair_man, 2),
    "03_glasses": (glasses_man, 3),
    "04_open_smile": (open_smile, 4),
    "05_no_mouth": (no_mouth, 5),
    "06_outline_and_eyes": (outline_and_eyes, 6),
    "07_rough_scribble": (rough_scribble, 7),
    "08_bob_hand_drawn": (bob_hand_drawn, 8),
    "09_curly_hair": (curly_woman, 9),
    "10_beard": (bearded_man, 10),
}


def render(name: str) -> Image.Image:
    """One example sketch as an 8-bit grey 512x512 image."""
    fn, seed = SKETCHES[name]
    return fn(np.random.default_rng(seed))


def contact_sheet(images: dict[str, Image.Image], cell: int = 256, cols: int = 5) -> Image.Image:
    rows = -(-len(images) // cols)
    sheet = Image.new("L", (cols * cell, rows * cell), 255)
    draw = ImageDraw.Draw(sheet)
    for i, (name, img) in enumerate(images.items()):
        x, y = (i % cols) * cell, (i // cols) * cell
        sheet.paste(img.resize((cell, cell), Image.LANCZOS), (x, y))
        draw.rectangle([x, y, x + cell - 1, y + cell - 1], outline=200)
        draw.text((x + 4, y + 2), name, fill=90)
    return sheet


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Draw the example face sketches (512x512 grey PNGs).")
    ap.add_argument("--out", default=str(DEFAULT_OUT), help=f"folder for the sketches (default: {DEFAULT_OUT})")
    ap.add_argument("--sheet", help="also write a contact sheet of all sketches to this PNG (keep it out of --out)")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    images = {name: render(name) for name in SKETCHES}
    for name, img in images.items():
        img.save(out / f"{name}.png", optimize=True)
    print(f"{len(images)} sketches written to {out}")
    if args.sheet:
        Path(args.sheet).parent.mkdir(parents=True, exist_ok=True)
        contact_sheet(images).save(args.sheet)
        print(f"contact sheet: {args.sheet}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
