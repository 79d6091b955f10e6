"""jdfd's own Jittor operators on oneDNN, for fast CPU inference and training.

Jittor's built-in ``mkl_conv`` stores activations as NCHW, so every convolution
reorders its input and output to oneDNN's blocked layout and back, re-reorders
the weights, and always uses direct convolution. These operators instead keep
activations in oneDNN's channel-blocked layout from one layer to the next (``nChw16c``;
``nChw8c`` on CPUs without AVX-512, see :func:`block`), reorder
each weight tensor once (``dfd_pack``) and keep it, use Winograd for the 3×3
stride-1 convolutions where oneDNN has it, and fuse normalisation, ReLU, the
residual add and reflection padding into one multi-threaded pass (``dfd_norm``).
Training uses the convolutions with their backward passes (``dfd_conv_bwd_data``,
``dfd_conv_bwd_weights``; see :mod:`jdfd.kernels.training`).
Where a packed copy only reorders a layer's weights, the layer's own copy is
replaced by a lazy ``dfd_unpack`` of it, so the weights are resident once.

They are ordinary Jittor custom ops (``jt.compile_custom_ops``), compiled against
the same oneDNN that Jittor itself uses. :func:`load` returns ``None`` with a
reason when they cannot be used (CUDA, no oneDNN, no compiler, a CPU where oneDNN has only
its reference loops for the layout);
callers then fall back to Jittor's own operators.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from types import ModuleType

from jdfd.runtime import device, dnnl_active, dnnl_dir, jittor

_SOURCES = ("dfd_conv_op", "dfd_pack_op", "dfd_unpack_op", "dfd_norm_op",
            "dfd_conv_bwd_data_op", "dfd_conv_bwd_weights_op",  # these two and the next: training
            "dfd_adam_op", "dfd_pad_op", "dfd_norm_train_op", "dfd_norm_grad_op", "dfd_running_stats_op")
_state: dict = {}


def load() -> ModuleType | None:
    """The compiled operators, or ``None`` (see :func:`unavailable_reason`)."""
    if "ops" in _state:
        return _state["ops"]
    _state["ops"], _state["reason"] = None, None
    jt = jittor()
    if device() != "cpu":
        _state["reason"] = "the oneDNN kernels are for the CPU; on CUDA Jittor's own operators run"
    elif not dnnl_active():
        _state["reason"] = "Jittor runs without oneDNN here"
    else:
        here = Path(__file__).parent
        files = [str(here / f"{s}.{ext}") for s in _SOURCES for ext in ("h", "cc")]
        inc, lib = dnnl_dir() / "include", dnnl_dir() / "lib"
        # -fno-trapping-math: without it GCC keeps every `x > 0 ? x : a * x` a branch (it may not
        # speculate a multiplication that could raise an FP exception), 5-15x slower on random signs;
        # the results do not change (unlike -ffast-math)
        flags = (f' -I"{inc}" -L"{lib}" -lmkldnn -Wl,-rpath,"{lib}" -fopenmp -O3 -fno-trapping-math'
                 f' -DDFD_BLOCK={block()} ')
        try:
            _state["ops"] = jt.compile_custom_ops(files, extra_flags=flags, return_module=True)
        except Exception as e:  # noqa: BLE001  (a compiler error must not stop inference)
            _state["reason"] = f"compiling jdfd's oneDNN kernels failed: {e}"
            print(f"WARNING: {_state['reason']}\njdfd falls back to Jittor's own layers, about 2-3x slower.",
                  file=sys.stderr)
            return None
        built = _state["ops"].dfd_block()
        if built != block():  # a build from another setting, which would misread every map
            raise RuntimeError(f"jdfd's kernels were built for {built}-channel blocks, not {block()}")
        slow = _reference_only(_state["ops"])
        if slow:
            _state["ops"], _state["reason"] = None, slow
    return _state["ops"]


def block() -> int:
    """Channels per block of the kernels' activation layout: 16 where the CPU has AVX-512, 8 elsewhere.

    oneDNN's fast (JIT) convolutions use one vector register per block: on an AVX2-only CPU (AMD Zen 3,
    many laptops) the 16-channel layout has only its reference loops, far slower than Jittor's own
    layers (a CI run on such a machine did not finish the tests in 90 minutes), and the 8-channel one
    its AVX2 kernels. ``JDFD_KERNEL_BLOCK`` (8 or 16) overrides the choice, for tests and benchmarks.
    """
    forced = os.environ.get("JDFD_KERNEL_BLOCK", "")
    if forced:
        if forced not in ("8", "16"):
            raise ValueError(f"JDFD_KERNEL_BLOCK must be 8 or 16, not {forced!r}")
        return int(forced)
    return 16 if _has_avx512() else 8


def _has_avx512() -> bool:
    """False where /proc/cpuinfo lists the CPU's flags without avx512f, or where oneDNN is capped below
    AVX-512 (``ONEDNN_MAX_CPU_ISA`` / ``DNNL_MAX_CPU_ISA``, e.g. ``AVX2``: it then has no AVX-512 kernels)."""
    cap = (os.environ.get("ONEDNN_MAX_CPU_ISA") or os.environ.get("DNNL_MAX_CPU_ISA") or "").upper()
    if cap.startswith(("SSE", "AVX")) and not cap.startswith(("AVX512", "AVX10")):
        return False
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return True  # not Linux: the probe in _reference_only decides
    flags = [line for line in text.splitlines() if line.startswith("flags")]
    return not flags or "avx512f" in flags[0].split()


def _reference_only(ops: ModuleType) -> str | None:
    """Why the kernels would be slow here, or ``None``: oneDNN picks its reference loops (far slower than
    Jittor's own layers) for a direct 3×3 convolution on the blocked layout, e.g. a 16-channel block
    forced on a CPU without AVX-512, or a CPU without AVX2 or SSE4.1 JIT kernels at all."""
    impl = ops.dfd_conv_impl(1, 32, 32, 32, 32, 3, 1, 1, 1, 0, 0)  # a direct 3x3 conv, blocked in and out
    if impl and not impl.startswith("ref"):
        return None
    return (f"oneDNN has only its reference kernels ({impl or 'none'}) for jdfd's {block()}-channel blocked "
            "layout on this CPU")


def unavailable_reason() -> str | None:
    load()
    return _state["reason"]
