"""The Flask app behind ``jdfd serve``, served by waitress: the drawing page and a small JSON/PNG API.

    POST /api/generate      JSON {sketch, blend?, gender?, shadow?, k?, seq?}
                            → {image, shadow, ms, seq, gender}   (PNGs as plain base64)
    POST /api/generate.png  raw image body, ?blend=0.7&gender=female&k=15 → image/png (handy with curl)
    GET  /api/info          model name, genders, parts, sizes and limits

Every error is a 4xx/5xx JSON ``{"error": "..."}``. The model is not thread-safe, so
every call into it holds one lock; waitress serves requests on several threads.
"""

from __future__ import annotations

import base64
import binascii
import io
import logging
import math
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from flask import Flask, Response, jsonify, request, send_from_directory
from PIL import Image, UnidentifiedImageError
from waitress.server import create_server
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from jdfd import components
from jdfd.config import CANVAS, PARTS
from jdfd.projection import DEFAULT_K, parse_blend

STATIC = Path(__file__).resolve().parent / "static"
#: Request bodies above this are refused before they are read (a 512² PNG sketch is ~20 KiB).
DEFAULT_MAX_BYTES = 16 * 1024 * 1024
#: Headroom over the app's body limit for waitress, which refuses bigger bodies before buffering them
#: (the app answers bodies between the two with its own JSON 413).
SERVER_BODY_SLACK = 64 * 1024
#: Worker threads: the model runs one call at a time anyway; the others serve pages and queue.
SERVER_THREADS = 4
#: Sketches are resized to 512² anyway; this only stops absurd decodes.
DEFAULT_MAX_SIDE = 4096
#: Formats a browser or a drawing app would send; others (TIFF, ICO, PSD…) are refused.
ACCEPTED_FORMATS = ("PNG", "JPEG", "WEBP", "BMP", "GIF")
JSON_FIELDS = {"sketch", "blend", "gender", "shadow", "k", "seq"}
#: Labels for the page; eye1 is the eye on the left of the image.
PART_LABELS = {"eye1": "Left eye", "eye2": "Right eye", "nose": "Nose", "mouth": "Mouth", "remainder": "Remainder"}

log = logging.getLogger(__name__)


class ApiError(Exception):
    """A request the API refuses; becomes ``{"error": message}`` with ``status``."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class GenerateRequest:
    sketch: np.ndarray
    blend: dict[str, float]
    gender: str | None
    shadow: bool
    k: int
    seq: int | None = None


@dataclass
class AppState:
    model: Any
    name: str
    k: int
    max_side: int
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def genders(self) -> list[str]:
        return list(getattr(self.model, "banks", {}) or {})

    @property
    def max_k(self) -> int:
        """Largest usable k: the smallest bank (every part must find k neighbours)."""
        sizes = [len(b.vectors) for parts in self.model.banks.values() for b in parts.values()]
        return min(sizes) if sizes else 0


# ---------------------------------------------------------------------------- input decoding
def decode_base64_image(text: Any, max_side: int) -> np.ndarray:
    """A data URL or bare base64 string → grey uint8 sketch array."""
    if not isinstance(text, str) or not text:
        raise ApiError(400, "'sketch' must be a PNG data URL or base64 string")
    if text.startswith("data:"):
        head, sep, text = text.partition(",")
        if not sep or not head.endswith(";base64"):
            raise ApiError(400, "'sketch' data URL must be base64-encoded (data:image/png;base64,...)")
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ApiError(400, "'sketch' is not valid base64") from None
    return decode_image(raw, max_side)


def decode_image(raw: bytes, max_side: int) -> np.ndarray:
    """Image bytes → grey uint8 array, refusing non-images, odd formats and huge sizes."""
    if not raw:
        raise ApiError(400, "the sketch is empty")
    try:
        img = Image.open(io.BytesIO(raw))  # reads the header only, so the size check below is cheap
    except Image.DecompressionBombError:
        raise ApiError(413, f"sketch image is too large (limit {max_side} px per side)") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise ApiError(400, "the sketch is not an image (send a PNG, JPEG, WebP, BMP or GIF)") from None
    with img:
        if img.format not in ACCEPTED_FORMATS:
            raise ApiError(415, f"sketch format {img.format} is not accepted; use {', '.join(ACCEPTED_FORMATS)}")
        if img.width > max_side or img.height > max_side:
            raise ApiError(413, f"sketch image is {img.width}x{img.height}; the limit is {max_side} px per side")
        try:
            img.load()
            # The same grey conversion as `jdfd generate` (channel 0, alpha over white paper),
            # so a file gives the same face here and on the command line.
            return components._first_channel(img)
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
            raise ApiError(400, "the sketch image is truncated or corrupt") from None


def _number(value: Any, what: str) -> float:
    # bool is an int in Python; a slider never sends one, so treat it as a client bug
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ApiError(400, f"{what} must be a number in [0, 1], got {value!r}")
    v = float(value)
    if not math.isfinite(v) or not 0.0 <= v <= 1.0:
        raise ApiError(400, f"{what} must be in [0, 1], got {value!r}")
    return v


def parse_blend_field(value: Any) -> dict[str, float]:
    """JSON ``blend``: one number for all parts, or ``{part: number}`` (missing parts stay 1)."""
    if value is None:
        return dict.fromkeys(PARTS, 1.0)
    if isinstance(value, dict):
        unknown = [k for k in value if k not in PARTS]
        if unknown:
            raise ApiError(400, f"unknown component {unknown[0]!r} in blend (parts: {', '.join(PARTS)})")
        return {**dict.fromkeys(PARTS, 1.0), **{k: _number(v, f"blend for {k}") for k, v in value.items()}}
    return dict.fromkeys(PARTS, _number(value, "blend"))


def check_gender(state: AppState, gender: Any) -> str | None:
    if gender is None or gender == "":
        return None
    if not isinstance(gender, str):
        raise ApiError(400, f"'gender' must be a string, got {gender!r}")
    if gender not in state.genders:
        have = ", ".join(state.genders) or "none (this model has no banks)"
        raise ApiError(400, f"unknown gender {gender!r}; this model has: {have}")
    return gender


def check_k(state: AppState, k: Any) -> int:
    if k is None:
        return state.k
    if isinstance(k, bool) or not isinstance(k, int):
        raise ApiError(400, f"'k' must be an integer, got {k!r}")
    hi = state.max_k or 1
    if not 1 <= k <= hi:
        raise ApiError(400, f"'k' must be in [1, {hi}], got {k}")
    return k


def parse_json_request(state: AppState) -> GenerateRequest:
    if not request.is_json:
        raise ApiError(415, "send JSON (Content-Type: application/json), or a raw image to /api/generate.png")
    body = request.get_json(silent=True)
    if body is None:
        raise ApiError(400, "the request body is not valid JSON")
    if not isinstance(body, dict):
        raise ApiError(400, "the request body must be a JSON object")
    unknown = sorted(set(body) - JSON_FIELDS)
    if unknown:
        raise ApiError(400, f"unknown field {unknown[0]!r} (fields: {', '.join(sorted(JSON_FIELDS))})")
    if "sketch" not in body:
        raise ApiError(400, "missing 'sketch' (a PNG data URL or base64 string)")
    shadow = body.get("shadow", True)
    if not isinstance(shadow, bool):
        raise ApiError(400, f"'shadow' must be true or false, got {shadow!r}")
    seq = body.get("seq")
    if seq is not None and (isinstance(seq, bool) or not isinstance(seq, int)):
        raise ApiError(400, f"'seq' must be an integer, got {seq!r}")
    # cheap checks first, so a bad slider never costs an image decode
    blend = parse_blend_field(body.get("blend"))
    gender = check_gender(state, body.get("gender"))
    k = check_k(state, body.get("k"))
    sketch = decode_base64_image(body["sketch"], state.max_side)
    return GenerateRequest(sketch, blend, gender, shadow, k, seq)


def parse_png_request(state: AppState) -> GenerateRequest:
    args = request.args
    unknown = sorted(set(args) - {"blend", "gender", "k"})
    if unknown:
        raise ApiError(400, f"unknown query parameter {unknown[0]!r} (blend, gender, k)")
    try:
        blend = parse_blend(args.get("blend", "1.0"))  # the CLI's syntax: 0.7 or eye1=0.8,nose=0.5
    except ValueError as e:
        raise ApiError(400, str(e)) from None
    k_text = args.get("k")
    try:
        k = None if k_text is None else int(k_text)
    except ValueError:
        raise ApiError(400, f"'k' must be an integer, got {k_text!r}") from None
    gender = check_gender(state, args.get("gender"))
    sketch = decode_image(request.get_data(cache=False), state.max_side)
    return GenerateRequest(sketch, blend, gender, False, check_k(state, k))


# ---------------------------------------------------------------------------- generation
def png_bytes(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG", compress_level=3)  # speed over a few KiB
    return buf.getvalue()


def run_model(state: AppState, req: GenerateRequest):
    blend = req.blend
    if not state.genders:
        if any(v > 0 for v in blend.values()):
            raise ApiError(400, "this model has no component banks, so every blend value must be 0")
    want_shadow = req.shadow and bool(state.genders)  # the guidance needs banks
    try:
        with state.lock:
            return state.model.generate(req.sketch, blend=blend, gender=req.gender, k=req.k, shadow=want_shadow)
    except components.SketchError as e:
        raise ApiError(400, f"bad sketch: {e}") from None
    except ValueError as e:
        raise ApiError(400, str(e)) from None


# ---------------------------------------------------------------------------- the app
def create_app(model: Any, name: str | None = None, k: int = DEFAULT_K, max_side: int = DEFAULT_MAX_SIDE,
               max_bytes: int = DEFAULT_MAX_BYTES, trusted_hosts: list[str] | None = None) -> Flask:
    """The web app around a loaded :class:`~jdfd.pipeline.DeepFaceDrawing` (anything with its
    ``generate``, ``banks`` and ``cfg``).

    ``trusted_hosts`` restricts the Host header (``jdfd serve`` sets it on loopback so a web
    page elsewhere cannot reach the model through DNS rebinding).
    """
    app = Flask(__name__, static_folder=str(STATIC), static_url_path="/static")
    app.config.update(MAX_CONTENT_LENGTH=max_bytes, SEND_FILE_MAX_AGE_DEFAULT=0)
    if trusted_hosts:
        app.config["TRUSTED_HOSTS"] = trusted_hosts
    cfg = getattr(model, "cfg", None)
    state = AppState(model=model, name=name or getattr(cfg, "name", "model"), k=k, max_side=max_side)
    if state.genders and not 1 <= k <= state.max_k:
        raise ValueError(f"k={k} needs banks of at least {k} vectors; the smallest has {state.max_k}")
    app.extensions["jdfd"] = state

    @app.after_request
    def _headers(resp: Response) -> Response:
        # everything is served from here: no CDN, no remote fonts (the machine may be offline)
        resp.headers.setdefault("Content-Security-Policy",
                                "default-src 'self'; img-src 'self' data: blob:; object-src 'none'; "
                                "frame-ancestors 'none'")
        resp.headers.setdefault("X-Content-Type-Options", "nosniff")
        return resp

    @app.errorhandler(ApiError)
    def _api_error(e: ApiError):
        return jsonify(error=e.message), e.status

    @app.errorhandler(RequestEntityTooLarge)
    def _too_large(e: RequestEntityTooLarge):
        return jsonify(error=f"request body too large (limit {max_bytes // 1024} KiB)"), 413

    @app.errorhandler(HTTPException)
    def _http_error(e: HTTPException):
        return jsonify(error=f"{e.name}: {e.description}"), e.code

    @app.errorhandler(Exception)
    def _crash(e: Exception):
        # keep serving: one bad request must not take the app down
        log.exception("request failed")
        return jsonify(error=f"internal error: {type(e).__name__}: {e}"), 500

    @app.get("/")
    def index():
        return send_from_directory(STATIC, "index.html")

    @app.get("/api/info")
    def info():
        return jsonify(
            name=state.name,
            genders=state.genders,
            default_gender=getattr(model, "default_gender", None),
            has_banks=bool(state.genders),
            parts=list(PARTS),
            part_labels=PART_LABELS,
            image_size=CANVAS,
            model_size=getattr(cfg, "image_size", CANVAS),
            k=state.k,
            max_k=state.max_k,
            max_side=max_side,
            max_bytes=max_bytes,
        )

    @app.post("/api/generate")
    def generate():
        t0 = time.perf_counter()
        req = parse_json_request(state)
        res = run_model(state, req)
        return jsonify(
            image=base64.b64encode(png_bytes(res.image)).decode("ascii"),
            shadow=None if res.shadow is None else base64.b64encode(png_bytes(res.shadow)).decode("ascii"),
            ms=round((time.perf_counter() - t0) * 1000.0, 1),
            seq=req.seq,
            gender=req.gender or getattr(model, "default_gender", None),
        )

    @app.post("/api/generate.png")
    def generate_png():
        t0 = time.perf_counter()
        res = run_model(state, parse_png_request(state))
        resp = Response(png_bytes(res.image), mimetype="image/png")
        resp.headers["X-Generation-Ms"] = f"{(time.perf_counter() - t0) * 1000.0:.1f}"
        return resp

    return app


# ---------------------------------------------------------------------------- the server
def make_server(app: Flask, host: str = "127.0.0.1", port: int = 8000, threads: int = SERVER_THREADS):
    """A waitress WSGI server for ``app``, bound but not yet running (``.run()`` serves until
    interrupted, ``.close()`` stops). Raises OSError when the address cannot be bound."""
    max_bytes = app.config.get("MAX_CONTENT_LENGTH") or DEFAULT_MAX_BYTES
    return create_server(app, host=host, port=port, threads=threads, ident="jdfd",
                         max_request_body_size=max_bytes + SERVER_BODY_SLACK)


def server_port(server) -> int:
    """The port a server from :func:`make_server` listens on (the chosen one for port 0)."""
    effective = getattr(server, "effective_port", None)
    return int(effective if effective is not None else server.effective_listen[0][1])
