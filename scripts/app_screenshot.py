"""Screenshot of the drawing app for the README: a face drawn with the mouse, and its result.

Starts ``jdfd serve`` the way a user would, opens it in headless Chromium (Playwright),
turns real-time mode off, replays the pen strokes of one example sketch
(``examples/make_sketches.py``) as mouse drags, presses Convert and saves the page.

    .venv/bin/python scripts/app_screenshot.py                  # → docs/app.jpg
    .venv/bin/python scripts/app_screenshot.py --sketch 02_short_hair_man --model pretrained
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("JDFD_CHROMIUM", "/usr/bin/chromium")


def record_strokes(name: str) -> list[np.ndarray]:
    """The polylines (canvas pixels) the example's pen draws, in drawing order."""
    sys.path.insert(0, str(ROOT / "examples"))
    import make_sketches  # noqa: PLC0415

    strokes: list[np.ndarray] = []

    def capture(self, path, w, keep, ink):  # same signature as Pen._render
        runs, cur = [], []
        for p, k in zip(path, keep):
            if k:
                cur.append(p)
            elif cur:
                runs.append(cur)
                cur = []
        runs.append(cur)
        strokes.extend(np.asarray(r) for r in runs if len(r) > 1)

    make_sketches.Pen._render = capture
    make_sketches.render(name)
    return strokes


def start_server(model: str | None, port: int) -> subprocess.Popen:
    cmd = [str(ROOT / ".venv/bin/jdfd"), "serve", "--port", str(port)] + (["--model", model] if model else [])
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for line in proc.stdout:  # wait for the URL line: the model is loaded by then
        print(line, end="")
        if " open http://" in line:
            return proc
    raise RuntimeError("jdfd serve exited before printing its URL")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sketch", default="01_clean_long_hair", help="example sketch whose strokes to draw")
    ap.add_argument("--model", help="model folder (default: jdfd serve's default, pretrained/)")
    ap.add_argument("--port", type=int, default=8765)
    ap.add_argument("-o", "--out", default=str(ROOT / "docs" / "app.jpg"))
    args = ap.parse_args(argv)

    from playwright.sync_api import sync_playwright  # noqa: PLC0415

    strokes = record_strokes(args.sketch)
    proc = start_server(args.model, args.port)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1400, "height": 860})
            page.goto(f"http://127.0.0.1:{args.port}/")
            page.wait_for_function("() => window.jdfd && window.jdfd.state.shown >= 1")
            page.uncheck("#realtime")
            page.fill("#brush-size", "2")
            page.dispatch_event("#brush-size", "input")
            box = page.locator("#sketch").bounding_box()
            scale = box["width"] / 512
            for pts in strokes:
                page.mouse.move(box["x"] + pts[0, 0] * scale, box["y"] + pts[0, 1] * scale)
                page.mouse.down()
                for x, y in pts[1::2]:
                    page.mouse.move(box["x"] + x * scale, box["y"] + y * scale)
                page.mouse.up()
            n = page.evaluate("window.jdfd.state.shown")
            page.click("#convert")
            page.wait_for_function("(n) => { const s = window.jdfd.state; return s.shown > n && !s.inflight; }",
                                   arg=n, timeout=120_000)
            page.wait_for_timeout(500)
            Path(args.out).parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=args.out, full_page=True)
            browser.close()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    print(f"wrote {args.out} ({len(strokes)} strokes drawn)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
