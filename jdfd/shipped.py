"""Where the default model is: ``$JDFD_MODEL``, else the copy shipped with jdfd.

In order:

1. ``$JDFD_MODEL``, when set: that folder and nothing else (a wrong path is an error,
   never silently replaced by another model);
2. ``jdfd/pretrained/`` inside the installed package: ``pip install .`` (or a wheel)
   puts the repository's ``pretrained/`` there;
3. ``pretrained/`` beside the ``jdfd/`` source folder: a source checkout or an editable
   install (``pip install -e .``).

No heavy imports here: ``jdfd --help`` uses it.
"""

from __future__ import annotations

import os
from pathlib import Path

MODEL_ENV = "JDFD_MODEL"
CONFIG_FILE = "config.json"
PACKAGE_DIR = Path(__file__).resolve().parent


class ModelNotFoundError(FileNotFoundError):
    """No default model: the message says where jdfd looked and what to do."""


def candidates() -> list[Path]:
    """The folders looked at, in order (only ``$JDFD_MODEL`` when it is set)."""
    env = os.environ.get(MODEL_ENV)
    if env:
        return [Path(env).expanduser()]
    return [PACKAGE_DIR / "pretrained", PACKAGE_DIR.parent / "pretrained"]


def find_model() -> Path | None:
    """The default model folder, or ``None`` when there is none."""
    return next((p for p in candidates() if (p / CONFIG_FILE).is_file()), None)


def default_model() -> Path:
    """The default model folder; :class:`ModelNotFoundError` with a plain explanation when there is none."""
    found = find_model()
    if found is not None:
        return found
    env = os.environ.get(MODEL_ENV)
    if env:
        raise ModelNotFoundError(f"${MODEL_ENV} is {env}, which is not a jdfd model folder (no {CONFIG_FILE}); "
                                 f"point it at one, or unset it to use the model shipped with jdfd")
    looked = " and ".join(str(p) for p in candidates())
    raise ModelNotFoundError(f"no default model: this installation ships none (looked in {looked}). "
                             f"Pass --model DIR (a jdfd model folder) or --params DIR (the authors' Params/), "
                             f"or set {MODEL_ENV}=DIR")


def describe() -> str:
    """One line for ``--help`` texts and ``jdfd doctor``."""
    found = find_model()
    if os.environ.get(MODEL_ENV):
        return f"${MODEL_ENV} = {os.environ[MODEL_ENV]}" + ("" if found else " (not a model folder!)")
    return str(found) if found else "none shipped with this installation"
