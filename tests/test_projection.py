import numpy as np
import pytest

from jdfd.config import PARTS
from jdfd.projection import (
    ComponentBank,
    authors_weights,
    compose_shadow,
    lle_weights,
    parse_blend,
    shadow_darkness,
)


def brute_force_weights(f, nb):
    """Constrained least squares through its KKT system, solved with a pseudo-inverse."""
    k = nb.shape[0]
    a = nb @ nb.T
    kkt = np.block([[2 * a, np.ones((k, 1))], [np.ones((1, k)), np.zeros((1, 1))]])
    rhs = np.concatenate([2 * nb @ f, [1.0]])
    return (np.linalg.pinv(kkt) @ rhs)[:k]


def test_weights_sum_to_one_and_match_brute_force():
    rng = np.random.default_rng(0)
    for _ in range(20):
        nb = rng.normal(size=(15, 64))
        f = rng.normal(size=64)
        w = lle_weights(f, nb)
        assert abs(w.sum() - 1) < 1e-12
        ref = brute_force_weights(f, nb)
        np.testing.assert_allclose(w, ref, atol=1e-8)
        # optimal: no other sum-to-one weights do better
        resid = np.linalg.norm(w @ nb - f)
        for _ in range(10):
            d = rng.normal(size=15)
            d -= d.mean()
            assert np.linalg.norm((w + 1e-3 * d) @ nb - f) >= resid - 1e-12


def test_point_in_the_span_is_reproduced_exactly():
    rng = np.random.default_rng(1)
    nb = rng.normal(size=(15, 512))
    true_w = rng.dirichlet(np.ones(15)) * 1.5 - 0.5 / 15  # also negative weights
    true_w /= true_w.sum()
    f = true_w @ nb
    w = lle_weights(f, nb)
    np.testing.assert_allclose(w, true_w, atol=1e-10)
    np.testing.assert_allclose(w @ nb, f, atol=1e-10)


def test_singular_cases_still_sum_to_one():
    rng = np.random.default_rng(2)
    nb = rng.normal(size=(15, 4))  # K > D: many exact solutions, take the minimum-norm one
    f = rng.normal(size=4)
    w = lle_weights(f, nb)
    assert abs(w.sum() - 1) < 1e-12
    np.testing.assert_allclose(w @ nb, f, atol=1e-9)
    dup = np.repeat(rng.normal(size=(3, 8)), 5, axis=0)  # repeated rows
    w = lle_weights(rng.normal(size=8), dup)
    assert np.isfinite(w).all() and abs(w.sum() - 1) < 1e-12
    w = lle_weights(rng.normal(size=8), rng.normal(size=(6, 8)), reg=1e-3)
    assert abs(w.sum() - 1) < 1e-12


def test_bank_projection_blend_and_neighbours():
    rng = np.random.default_rng(3)
    vecs = rng.normal(size=(200, 32)).astype(np.float32)
    bank = ComponentBank(vecs)
    f = rng.normal(size=(3, 32)).astype(np.float32)
    ident = bank.project(f, k=15, blend=0.0)
    for p, row in zip(ident, f):
        assert np.array_equal(p.blended, row)  # w = 0 is the identity, bit for bit
    full = bank.project(f, k=15, blend=1.0)
    half = bank.project(f, k=15, blend=0.5)
    for a, b, row in zip(full, half, f):
        np.testing.assert_allclose(a.blended, a.projected)
        np.testing.assert_allclose(b.blended, 0.5 * a.projected + 0.5 * row, atol=1e-6)
        d = np.linalg.norm(vecs - row, axis=1)
        assert set(a.indices) == set(np.argsort(d)[:15])  # true nearest neighbours, per vector
        assert abs(a.weights.sum() - 1) < 1e-9
    # a bank row projects onto itself
    p = bank.project(vecs[7], k=15)[0]
    np.testing.assert_allclose(p.projected, vecs[7], atol=1e-4)
    with pytest.raises(ValueError):
        bank.project(f, blend=1.5)


def test_authors_variant_sums_to_one():
    rng = np.random.default_rng(4)
    w = authors_weights(rng.normal(size=16), rng.normal(size=(15, 16)))
    assert w.shape == (15,) and abs(w.sum() - 1) < 1e-9


def test_bank_from_bin(tmp_path):
    a = np.arange(12 * 8, dtype=np.float32).reshape(12, 8)
    a.tofile(tmp_path / "b.bin")
    np.testing.assert_array_equal(ComponentBank.from_bin(tmp_path / "b.bin", dim=8).vectors, a)
    (tmp_path / "bad.bin").write_bytes(b"\0" * 10)
    with pytest.raises(ValueError, match="float32 rows"):
        ComponentBank.from_bin(tmp_path / "bad.bin", dim=8)


def test_parse_blend():
    assert parse_blend("0.7") == dict.fromkeys(PARTS, 0.7)
    b = parse_blend("eye1=0.8,nose=0.5")
    assert b["eye1"] == 0.8 and b["nose"] == 0.5 and b["mouth"] == 1.0
    assert parse_blend("rest=0.2")["remainder"] == 0.2
    for bad in ("2", "eye3=0.1", "nose", "nose=x", "mouth=-0.1"):
        with pytest.raises(ValueError):
            parse_blend(bad)


def test_shadow_weights_and_composition():
    dec = np.stack([np.full((4, 4), -1.0), np.full((4, 4), 1.0), np.full((4, 4), -1.0)])  # black, white, black
    dark = shadow_darkness(dec, np.array([0.9, 0.3, -0.2]))
    np.testing.assert_allclose(dark, 0.5)  # 0.9 clipped to 0.5, white adds 0, negative skipped
    boxes = {"eye1": (0, 0, 4), "eye2": (4, 0, 4), "nose": (0, 4, 4), "mouth": (4, 4, 4), "remainder": (0, 0, 8)}
    darkness = {p: np.zeros((boxes[p][2],) * 2, np.float32) for p in PARTS}
    darkness["remainder"][:] = 1.0
    img = compose_shadow(darkness, boxes, 8)
    assert img.shape == (8, 8) and img.dtype == np.uint8
    assert img.min() < 255
