"""The drawing web app (``jdfd serve``): a 512×512 canvas, sliders, live synthesis.

``add_parser``/``run`` are the ``serve`` command; ``create_app(model)`` (in
:mod:`jdfd.app.server`, needs Flask) builds the Flask app. Importing this package pulls in
neither Flask nor Jittor.
"""

from __future__ import annotations

from jdfd.app.cli import add_parser, run

__all__ = ["add_parser", "create_app", "run"]


def create_app(*args, **kwargs):
    """See :func:`jdfd.app.server.create_app` (imported late: Flask is an optional extra)."""
    from jdfd.app.server import create_app as _create_app  # noqa: PLC0415

    return _create_app(*args, **kwargs)
