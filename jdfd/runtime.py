"""Jittor start-up: the one place that decides device and oneDNN before ``import jittor``.

Every jdfd module gets Jittor through :func:`jittor`. Importing Jittor directly
elsewhere would skip the CUDA decision below, and on machines with a stub ``nvcc``
but no GPU a plain ``import jittor`` fails.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

_jt: ModuleType | None = None
_device: str | None = None

#: Where Jittor 1.3 looks for the oneDNN build it would otherwise download.
DNNL_DIRNAME = "dnnl_lnx_2.2.0_cpu_gomp"


def jittor_home() -> Path:
    """Where Jittor keeps its caches: $JITTOR_HOME, else the home Jittor remembered, else ~.

    Jittor writes a $JITTOR_HOME it has seen into ~/.cache/jittor/config.json and keeps
    using it later, so oneDNN must be wired there too.
    """
    env = os.environ.get("JITTOR_HOME")
    if env:
        return Path(env)
    try:
        remembered = json.loads((Path.home() / ".cache" / "jittor" / "config.json").read_text()).get("JITTOR_HOME")
    except (OSError, ValueError, AttributeError):
        remembered = None
    return Path(remembered) if remembered else Path.home()


def dnnl_dir() -> Path:
    return jittor_home() / ".cache" / "jittor" / "mkl" / DNNL_DIRNAME


def system_dnnl_library() -> Path | None:
    """Debian's libdnnl (package ``libdnnl-dev``), if installed."""
    for pattern in ("/usr/lib/*-linux-gnu/libdnnl.so.*", "/usr/lib/libdnnl.so.*", "/usr/lib64/libdnnl.so.*"):
        hits = sorted(p for p in glob.glob(pattern) if p.count(".so.") == 1)
        # prefer the fully versioned file (libdnnl.so.2.6 over libdnnl.so.2)
        if hits:
            return Path(max(hits, key=len))
    return None


def wire_dnnl() -> bool:
    """Lay Debian's oneDNN out where Jittor expects its own download.

    Jittor 1.3.11 ignores ``mkl_include_path``/``mkl_lib_path`` in practice, so we
    build the folder it would have unpacked: ``include/`` with the dnnl headers and
    ``lib/libmkldnn.so`` pointing at the system library. Idempotent.
    """
    target = dnnl_dir()
    lib = target / "lib" / "libmkldnn.so"
    if lib.exists() and (target / "include" / "dnnl.hpp").exists():
        return True
    system_lib = system_dnnl_library()
    headers = Path("/usr/include/dnnl.hpp")
    if system_lib is None or not headers.exists():
        return False
    (target / "lib").mkdir(parents=True, exist_ok=True)
    inc = target / "include"
    inc.mkdir(parents=True, exist_ok=True)
    for src in list(Path("/usr/include").glob("dnnl*")) + [Path("/usr/include/oneapi")]:
        link = inc / src.name
        if src.exists() and not link.exists():
            link.symlink_to(src)
    if lib.is_symlink() or lib.exists():
        lib.unlink()
    lib.symlink_to(system_lib)
    return True


def gpu_present() -> bool:
    """True when an NVIDIA driver answers; a stub nvcc alone does not count."""
    if shutil.which("nvidia-smi") is None:
        return False
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return out.returncode == 0 and "GPU" in out.stdout


def choose_device(requested: str | None = None) -> str:
    req = (requested or os.environ.get("JDFD_DEVICE") or "auto").lower()
    if req not in ("auto", "cpu", "cuda"):
        raise ValueError(f"unknown device {req!r}: use auto, cpu or cuda")
    if req == "auto":
        return "cuda" if gpu_present() else "cpu"
    if req == "cuda" and not gpu_present():
        raise RuntimeError("--device cuda was asked for, but no NVIDIA GPU answers (nvidia-smi -L)")
    return req


def jittor(device: str | None = None, quiet: bool = True) -> ModuleType:
    """Import Jittor once, on the chosen device, with oneDNN wired in on CPU."""
    global _jt, _device
    if _jt is not None:
        if device is not None and choose_device(device) != _device:
            raise RuntimeError(f"Jittor already started on {_device}; the device is chosen once per process")
        return _jt
    _device = choose_device(device)
    if _device == "cpu":
        # Must precede the import: Jittor probes nvcc while importing.
        os.environ["nvcc_path"] = ""
        wire_dnnl()
    if quiet:
        os.environ.setdefault("log_silent", "1")
    # Jittor's parallel op compiler (threads "C0", "C1", ...) sometimes segfaults (address 0x8)
    # when a new graph's kernels are looked up: 1 run in 4 to 9 of our resume test crashed, none
    # of 16 with it off. Kernels then compile one at a time; set the variable to re-enable it.
    os.environ.setdefault("use_parallel_op_compiler", "0")
    import jittor as jt  # noqa: PLC0415  (deliberately late)

    jt.flags.use_cuda = 1 if _device == "cuda" else 0
    _jt = jt
    if _device == "cpu" and not dnnl_active():
        print(
            "WARNING: jdfd is running Jittor on the CPU WITHOUT oneDNN: convolutions are "
            "~100x slower. Install Debian's libdnnl-dev and run `make setup` (see README).",
            file=sys.stderr,
        )
    return jt


def device() -> str:
    jittor()
    assert _device is not None
    return _device


def dnnl_active() -> bool:
    jittor()
    from jittor import compile_extern  # noqa: PLC0415

    return bool(getattr(compile_extern, "use_mkl", False) and getattr(compile_extern, "mkl_ops", None) is not None)


def info() -> dict:
    jt = jittor()
    from jittor import compiler  # noqa: PLC0415

    return {
        "jittor": jt.__version__,
        "device": device(),
        "onednn": dnnl_active(),
        "onednn_dir": str(dnnl_dir()),
        "cache": str(getattr(compiler, "cache_path", jittor_home() / ".cache" / "jittor")),
        "python": sys.version.split()[0],
    }
