"""The drawing web app (``jdfd serve``): API, error paths, concurrency, CLI, and a real browser."""

from __future__ import annotations

import base64
import io
import json
import math
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from conftest import draw_sketch
from PIL import Image

pytest.importorskip("flask", reason="the web app needs Flask (pip install -e '.[serve]')")

pytest.importorskip("waitress", reason="the web app is served by waitress (pip install -e '.[serve]')")

from jdfd.app.server import create_app, make_server, server_port  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("JDFD_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


# ---------------------------------------------------------------------------- helpers
def png(array: np.ndarray, fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format=fmt)
    return buf.getvalue()


def data_url(array: np.ndarray) -> str:
    return "data:image/png;base64," + base64.b64encode(png(array)).decode()


def decode(b64: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(b64))))


class CountingModel:
    """Wraps a model and records how many calls run at once (must never exceed 1)."""

    def __init__(self, model, fail: bool = False):
        self._model, self._fail = model, fail
        self.active = self.max_active = self.calls = 0
        self._count_lock = threading.Lock()

    def __getattr__(self, name):
        return getattr(self._model, name)

    def generate(self, *args, **kwargs):
        with self._count_lock:
            self.active += 1
            self.calls += 1
            self.max_active = max(self.max_active, self.active)
        try:
            if self._fail:
                raise RuntimeError("boom")
            time.sleep(0.005)  # widen the window in which an unlocked call would overlap
            return self._model.generate(*args, **kwargs)
        finally:
            with self._count_lock:
                self.active -= 1


class ServerThread:
    """The server `jdfd serve` runs (waitress), on 127.0.0.1 and a free port, in a daemon thread."""

    def __init__(self, app):
        self.server = make_server(app, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{server_port(self.server)}"
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.close()
        self.server.task_dispatcher.shutdown()
        self.thread.join(timeout=10)


def post_json(url: str, body: dict, timeout: float = 60) -> tuple[int, dict]:
    req = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


# ---------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def app(tiny_model):
    return create_app(tiny_model, name="tiny test model")


@pytest.fixture(scope="module")
def client(app):
    return app.test_client()


@pytest.fixture(scope="module")
def sketch():
    return draw_sketch(3)


# ---------------------------------------------------------------------------- API
def test_page_and_info(client):
    page = client.get("/")
    assert page.status_code == 200 and b'id="sketch"' in page.data
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]
    html = page.data.decode()
    assert "http://" not in html and "https://" not in html  # offline: nothing from elsewhere
    for asset in ("app.js", "app.css", "favicon.svg"):
        assert client.get(f"/static/{asset}").status_code == 200
    info = client.get("/api/info").get_json()
    assert info["genders"] == ["male", "female"] and info["has_banks"]
    assert info["parts"] == ["eye1", "eye2", "nose", "mouth", "remainder"]
    assert info["image_size"] == 512 and info["model_size"] == 64 and info["name"] == "tiny test model"


def test_generate_matches_the_model(client, tiny_model, sketch):
    blend = {"eye1": 0.2, "eye2": 0.9, "nose": 0.5, "mouth": 1.0, "remainder": 0.7}
    r = client.post("/api/generate", json={"sketch": data_url(sketch), "blend": blend, "gender": "female", "seq": 7})
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["seq"] == 7 and body["gender"] == "female" and body["ms"] > 0
    image, shadow = decode(body["image"]), decode(body["shadow"])
    assert image.shape == (512, 512, 3) and shadow.shape == (512, 512)
    ref = tiny_model.generate(sketch, blend=blend, gender="female", shadow=True)
    np.testing.assert_array_equal(image, ref.image)
    np.testing.assert_array_equal(shadow, ref.shadow)
    # bare base64 works too; shadow off leaves it out; one number moves every slider
    r = client.post("/api/generate", json={"sketch": base64.b64encode(png(sketch)).decode(), "shadow": False,
                                           "blend": 0.0})
    assert r.status_code == 200 and r.get_json()["shadow"] is None
    np.testing.assert_array_equal(decode(r.get_json()["image"]), tiny_model.generate(sketch, blend=0.0).image)


def test_generate_png_endpoint(client, tiny_model, sketch):
    rgba = Image.fromarray(sketch).convert("RGBA")
    buf = io.BytesIO()
    rgba.save(buf, format="PNG")
    r = client.post("/api/generate.png?blend=eye1=0.5,nose=0&gender=male&k=5", data=buf.getvalue(),
                    content_type="image/png")
    assert r.status_code == 200 and r.mimetype == "image/png"
    ref = tiny_model.generate(sketch, blend="eye1=0.5,nose=0", gender="male", k=5).image
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(r.data))), ref)
    bad = client.post("/api/generate.png?blend=ear=1", data=buf.getvalue(), content_type="image/png")
    assert bad.status_code == 400 and "ear" in bad.get_json()["error"]


def _bad_requests(sketch: np.ndarray) -> list:
    good = data_url(sketch)
    tiff = base64.b64encode(png(sketch, "TIFF")).decode()
    truncated = base64.b64encode(png(sketch)[:200]).decode()
    wide = data_url(np.full((2, 4100), 255, np.uint8))
    return [
        # (id, kwargs for client.post, status, words the error must contain)
        ("not-json", {"data": "hello", "content_type": "text/plain"}, 415, "JSON"),
        ("malformed-json", {"data": "{sketch:", "content_type": "application/json"}, 400, "not valid JSON"),
        ("json-array", {"json": [1, 2]}, 400, "JSON object"),
        ("missing-sketch", {"json": {"blend": 1}}, 400, "missing 'sketch'"),
        ("unknown-field", {"json": {"sketch": good, "blnd": 1}}, 400, "unknown field 'blnd'"),
        ("sketch-not-string", {"json": {"sketch": 12}}, 400, "data URL"),
        ("bad-base64", {"json": {"sketch": "@@@not base64@@@"}}, 400, "not valid base64"),
        ("data-url-not-base64", {"json": {"sketch": "data:image/png,abc"}}, 400, "base64"),
        ("not-an-image", {"json": {"sketch": base64.b64encode(b"hello world!").decode()}}, 400, "not an image"),
        ("empty-image", {"json": {"sketch": "data:image/png;base64,"}}, 400, "empty"),
        ("wrong-type", {"json": {"sketch": tiff}}, 415, "TIFF"),
        ("truncated", {"json": {"sketch": truncated}}, 400, "truncated"),
        ("oversized-image", {"json": {"sketch": wide}}, 413, "4096"),
        ("blend-high", {"json": {"sketch": good, "blend": 1.5}}, 400, "[0, 1]"),
        ("blend-negative-part", {"json": {"sketch": good, "blend": {"nose": -0.1}}}, 400, "blend for nose"),
        ("blend-nan", {"data": '{"sketch": "x", "blend": NaN}', "content_type": "application/json"}, 400, "[0, 1]"),
        ("blend-string", {"json": {"sketch": good, "blend": "0.5"}}, 400, "number"),
        ("blend-bool", {"json": {"sketch": good, "blend": {"mouth": True}}}, 400, "number"),
        ("blend-unknown-part", {"json": {"sketch": good, "blend": {"ear": 1}}}, 400, "unknown component 'ear'"),
        ("unknown-gender", {"json": {"sketch": good, "gender": "robot"}}, 400, "unknown gender 'robot'"),
        ("gender-type", {"json": {"sketch": good, "gender": 1}}, 400, "'gender' must be a string"),
        ("shadow-type", {"json": {"sketch": good, "shadow": "yes"}}, 400, "'shadow' must be true or false"),
        ("k-zero", {"json": {"sketch": good, "k": 0}}, 400, "'k' must be in [1, 40]"),
        ("k-huge", {"json": {"sketch": good, "k": 1000}}, 400, "'k' must be in [1, 40]"),
        ("seq-type", {"json": {"sketch": good, "seq": "1"}}, 400, "'seq' must be an integer"),
    ]


def test_bad_input_is_a_clear_4xx_and_the_server_carries_on(client, sketch):
    for name, kwargs, status, words in _bad_requests(sketch):
        r = client.post("/api/generate", **kwargs)
        assert r.status_code == status, (name, r.status_code, r.data[:200])
        assert words in r.get_json()["error"], (name, r.get_json())
    assert client.get("/api/nope").get_json()["error"].startswith("Not Found")
    assert client.get("/api/generate").status_code == 405
    assert client.post("/api/generate", json={"sketch": data_url(sketch)}).status_code == 200


def test_request_size_limit(tiny_model, sketch):
    small = create_app(tiny_model, max_bytes=4096, max_side=256).test_client()
    r = small.post("/api/generate", json={"sketch": data_url(np.random.default_rng(0).integers(0, 255, (256, 256),
                                                                                              np.uint8))})
    assert r.status_code == 413 and "too large" in r.get_json()["error"]
    r = small.post("/api/generate", json={"sketch": data_url(np.full((300, 8), 255, np.uint8))})
    assert r.status_code == 413 and "256 px" in r.get_json()["error"]


def test_request_size_limits_of_the_real_server(tiny_model):
    """Over the app's limit: its JSON 413; far over it: waitress refuses before buffering the body."""
    srv = ServerThread(create_app(tiny_model, max_bytes=4096))
    try:
        status, body = post_json(srv.url + "/api/generate", {"sketch": "A" * 8000})
        assert status == 413 and "too large" in body["error"]
        req = urllib.request.Request(srv.url + "/api/generate.png", b"\0" * (4096 + 128 * 1024),
                                     {"Content-Type": "image/png"})
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(req, timeout=30)
        assert e.value.code == 413
        with urllib.request.urlopen(srv.url + "/api/info", timeout=30) as r:  # still serving
            assert r.headers["Server"] == "jdfd" and json.loads(r.read())["max_bytes"] == 4096
    finally:
        srv.stop()


def test_internal_error_is_json_500_and_not_fatal(tiny_model, sketch):
    broken = create_app(CountingModel(tiny_model, fail=True)).test_client()
    r = broken.post("/api/generate", json={"sketch": data_url(sketch)})
    assert r.status_code == 500 and "RuntimeError: boom" in r.get_json()["error"]
    assert broken.get("/api/info").status_code == 200


def test_model_without_banks(tiny_model, sketch):
    from jdfd.pipeline import DeepFaceDrawing  # noqa: PLC0415

    bare = DeepFaceDrawing(tiny_model.cfg, nets=tiny_model.nets, banks={})
    c = create_app(bare).test_client()
    info = c.get("/api/info").get_json()
    assert info["genders"] == [] and not info["has_banks"]
    r = c.post("/api/generate", json={"sketch": data_url(sketch)})
    assert r.status_code == 400 and "no component banks" in r.get_json()["error"]
    r = c.post("/api/generate", json={"sketch": data_url(sketch), "blend": 0, "shadow": True})
    assert r.status_code == 200 and r.get_json()["shadow"] is None


def test_concurrent_requests_are_serialised_and_correct(tiny_model):
    """20 requests at once against a real server: each gets its own, correct answer."""
    counting = CountingModel(tiny_model)
    srv = ServerThread(create_app(counting))
    try:
        # four distinct requests, five times each, interleaved: any mix-up shows as a wrong image
        kinds = [(draw_sketch(10 + j), (0.0, 0.5, 1.0, 0.75)[j], ("male", "female")[j % 2]) for j in range(4)]
        refs = [tiny_model.generate(s, blend=b, gender=g).image for s, b, g in kinds]
        cases, expected = [kinds[i % 4] for i in range(20)], [refs[i % 4] for i in range(20)]
        counting.calls = 0

        def one(i: int):
            s, b, g = cases[i]
            return post_json(srv.url + "/api/generate",
                             {"sketch": data_url(s), "blend": b, "gender": g, "shadow": i % 3 == 0, "seq": i})

        with ThreadPoolExecutor(max_workers=10) as pool:
            answers = list(pool.map(one, range(20)))
    finally:
        srv.stop()
    for i, (status, body) in enumerate(answers):
        assert status == 200, body
        assert body["seq"] == i and (body["shadow"] is not None) == (i % 3 == 0)
        np.testing.assert_array_equal(decode(body["image"]), expected[i])
    assert counting.calls == 20 and counting.max_active == 1


# ---------------------------------------------------------------------------- CLI
def test_serve_parser_and_light_import():
    import argparse  # noqa: PLC0415

    from jdfd import app as app_pkg  # noqa: PLC0415

    parser = argparse.ArgumentParser()
    app_pkg.add_parser(parser.add_subparsers())
    args = parser.parse_args(["serve"])
    assert (args.host, args.port, args.device, args.func) == ("127.0.0.1", 8000, "auto", app_pkg.run)
    with pytest.raises(SystemExit):
        parser.parse_args(["serve", "--model", "a", "--params", "b"])
    # `jdfd --help` must not pay for Jittor, Flask or waitress
    code = ("import sys, jdfd.app, jdfd.app.cli; "
            "assert not {'jittor', 'flask', 'waitress'} & set(sys.modules), sorted(sys.modules)")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO, timeout=60)


def test_serve_reports_a_missing_model(tmp_path, capsys):
    from jdfd.app import run  # noqa: PLC0415
    from jdfd.app.__main__ import main  # noqa: PLC0415

    assert main(["--model", str(tmp_path / "nothing"), "--port", "0"]) == 2
    assert "cannot load model" in capsys.readouterr().err
    ns = type("Args", (), {"port": 70000, "k": 15, "max_side": 4096})
    assert run(ns) == 2 and "--port" in capsys.readouterr().err


def test_serve_command_end_to_end(tiny_model_dir):
    """`python -m jdfd.app` loads a model folder, prints its URL and answers."""
    proc = subprocess.Popen([sys.executable, "-m", "jdfd.app", "--model", str(tiny_model_dir), "--port", "0",
                             "--device", "cpu"], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        url, lines = None, []
        deadline = time.monotonic() + 90
        while url is None and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if " open http://127.0.0.1:" in line:
                url = line.split(" open ", 1)[1].split()[0]
        assert url, "".join(lines)
        with urllib.request.urlopen(url + "api/info", timeout=30) as r:
            assert json.loads(r.read())["genders"] == ["male", "female"]
        status, body = post_json(url + "api/generate", {"sketch": data_url(draw_sketch(0)), "blend": 0.5})
        assert status == 200 and decode(body["image"]).shape == (512, 512, 3)
        # a foreign Host header is refused on loopback (DNS rebinding)
        req = urllib.request.Request(url + "api/info", headers={"Host": "evil.example"})
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(req, timeout=30)
        assert e.value.code == 400
    finally:
        proc.terminate()
        proc.wait(timeout=30)


# ---------------------------------------------------------------------------- browser
@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium, or set JDFD_CHROMIUM)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
    with sync_api.sync_playwright() as pw:
        try:
            b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        except Exception as e:  # noqa: BLE001 (any launch failure means: no usable browser here)
            pytest.skip(f"Chromium does not start: {e}")
        yield b
        b.close()


@pytest.fixture(scope="module")
def live_server(tiny_model):
    srv = ServerThread(create_app(tiny_model, name="tiny (random weights)"))
    yield srv
    srv.stop()


@pytest.fixture()
def page(browser, live_server):
    ctx = browser.new_context(viewport={"width": 1400, "height": 800}, accept_downloads=True)
    pg = ctx.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    pg.goto(live_server.url + "/")
    pg.wait_for_function("() => window.jdfd && window.jdfd.state.shown >= 1")  # the blank canvas's first answer
    yield pg
    ctx.close()
    assert not errors, errors


def settle(page, after: int) -> int:
    """Wait until a result newer than ``after`` is shown and nothing else is queued."""
    page.wait_for_function("""(n) => { const s = window.jdfd.state;
        return s.shown > n && !s.inflight && !s.pending && s.timer === null && !s.current; }""", arg=after)
    return page.evaluate("window.jdfd.state.shown")


def shown(page) -> int:
    return page.evaluate("window.jdfd.state.shown")


def stroke(page, points, steps: int = 2) -> None:
    box = page.locator("#sketch").bounding_box()
    scale = box["width"] / 512
    page.mouse.move(box["x"] + points[0][0] * scale, box["y"] + points[0][1] * scale)
    page.mouse.down()
    for x, y in points[1:]:
        page.mouse.move(box["x"] + x * scale, box["y"] + y * scale, steps=steps)
    page.mouse.up()


def canvas_png(page) -> str:
    return page.evaluate("document.getElementById('sketch').toDataURL('image/png')")


def canvas_array(page) -> np.ndarray:
    return decode(canvas_png(page).split(",", 1)[1])


def ellipse(cx, cy, rx, ry, n=24):
    return [(cx + rx * math.cos(a), cy + ry * math.sin(a)) for a in np.linspace(0, 2 * math.pi, n)]


def test_browser_draw_slider_undo_save(page, tmp_path):
    n = shown(page)
    stroke(page, ellipse(256, 270, 140, 185))
    n = settle(page, n)
    face1 = page.get_attribute("#result", "src")
    assert face1.startswith("data:image/png;base64,")
    assert decode(face1.split(",", 1)[1]).shape == (512, 512, 3)
    assert page.get_attribute("#shadow", "src").startswith("data:image/png;base64,")
    one = canvas_png(page)
    assert (canvas_array(page)[..., 0] < 128).sum() > 500  # the stroke is on the canvas

    stroke(page, [(206, 378), (256, 395), (306, 378)])
    n = settle(page, n)
    two = canvas_png(page)
    face2 = page.get_attribute("#result", "src")
    assert two != one and face2 != face1

    # "All" slider to 0 with the keyboard: every part follows, and the face changes
    page.focus("#blend-all")
    page.keyboard.press("Home")
    assert page.input_value("#blend-nose") == "0" and page.text_content("#blend-mouth-out") == "0.00"
    n = settle(page, n)
    assert page.get_attribute("#result", "src") != face2

    page.click("#undo")
    assert canvas_png(page) == one
    n = settle(page, n)
    page.keyboard.press("Control+Shift+Z")
    assert canvas_png(page) == two and page.is_disabled("#redo")
    n = settle(page, n)

    with page.expect_download() as dl:
        page.click("#save-sketch")
    path = tmp_path / "sketch.png"
    dl.value.save_as(path)
    assert dl.value.suggested_filename.startswith("sketch-") and dl.value.suggested_filename.endswith(".png")
    np.testing.assert_array_equal(np.asarray(Image.open(path)), canvas_array(page))

    with page.expect_download() as dl:
        page.click("#save-face")
    dl.value.save_as(tmp_path / "face.png")
    saved = np.asarray(Image.open(tmp_path / "face.png"))
    np.testing.assert_array_equal(saved, decode(page.get_attribute("#result", "src").split(",", 1)[1]))


def test_browser_eraser_clear_gender_and_stale_results(page):
    n = shown(page)
    stroke(page, [(100, 256), (412, 256)])
    n = settle(page, n)
    assert canvas_array(page)[256, 250:262, 0].max() < 128
    page.keyboard.press("e")  # eraser
    stroke(page, [(256, 236), (256, 276)])
    n = settle(page, n)
    row = canvas_array(page)[256, :, 0]
    assert row[248:264].min() == 255 and row[150] < 128

    with page.expect_request(lambda r: r.url.endswith("/api/generate")) as req:
        page.check("input[name=gender][value=female]")
    assert req.value.post_data_json["gender"] == "female"
    n = settle(page, n)

    page.click("#clear")
    assert canvas_array(page).min() == 255
    n = settle(page, n)

    # an answer older than the one on screen is dropped
    src = page.get_attribute("#result", "src")
    applied = page.evaluate("(n) => window.jdfd.applyResult(n - 1, {image: 'AAAA', shadow: null, ms: 1})", n)
    assert applied is False and page.get_attribute("#result", "src") == src

    page.uncheck("#show-shadow")
    assert page.is_hidden("#shadow")


def test_browser_convert_button_pen_and_load(page, tmp_path):
    page.uncheck("#realtime")
    n = shown(page)
    # a pen stroke (pressure) through synthetic pointer events
    for kind, x in (("pointerdown", 150), ("pointermove", 250), ("pointermove", 350), ("pointerup", 350)):
        page.dispatch_event("#sketch", kind, {"pointerType": "pen", "pointerId": 5, "pressure": 0.8, "button": 0,
                                              "clientX": _client(page, x, 0), "clientY": _client(page, 100, 1),
                                              "isPrimary": True, "bubbles": True})
    assert canvas_array(page)[100, 200:300, 0].max() < 128
    page.wait_for_timeout(400)
    assert shown(page) == n  # real-time off: nothing sent
    page.click("#convert")
    n = settle(page, n)

    path = tmp_path / "load.png"
    Image.fromarray(draw_sketch(5)).save(path)
    page.check("#realtime")
    page.set_input_files("#load", str(path))
    # a function, not a bare expression: Playwright eval()s expressions while polling, which our CSP forbids
    page.wait_for_function("() => window.jdfd.state.ops.length === 2")
    assert np.abs(canvas_array(page)[..., 0].astype(int) - draw_sketch(5)).mean() < 1.0
    settle(page, n)


def _client(page, v: float, axis: int) -> float:
    box = page.locator("#sketch").bounding_box()
    return (box["x"], box["y"])[axis] + v * box["width"] / 512
