import numpy as np
import pytest
from conftest import draw_sketch

from jdfd.evaluation.degrade import DEGRADATIONS, degrade


@pytest.mark.parametrize("kind", sorted(DEGRADATIONS))
def test_degradation_is_deterministic_and_grows_with_strength(kind):
    sk = draw_sketch(0)
    assert np.array_equal(degrade(sk, kind, 0.0, seed=1), sk)
    a = degrade(sk, kind, 0.6, seed=1)
    assert np.array_equal(a, degrade(sk, kind, 0.6, seed=1))
    assert a.shape == sk.shape and a.dtype == np.uint8
    changed = [np.mean(degrade(sk, kind, s, seed=1) != sk) for s in (0.2, 0.5, 1.0)]
    assert 0 < changed[0] and changed[0] <= changed[2] + 1e-9, changed
    variants = {degrade(sk, kind, 1.0, seed=k).tobytes() for k in range(6)}
    assert len(variants) > 1  # the seed matters


def test_bad_arguments():
    sk = draw_sketch(0)
    with pytest.raises(ValueError, match="strength"):
        degrade(sk, "jitter", 1.5)
    with pytest.raises(ValueError, match="unknown degradation"):
        degrade(sk, "smudge", 0.5)


def test_drop_removes_ink_and_stray_adds_it():
    sk = draw_sketch(1)
    ink = (sk < 128).sum()
    assert (degrade(sk, "drop", 1.0) < 128).sum() < 0.7 * ink
    assert (degrade(sk, "stray", 1.0) < 128).sum() > ink
