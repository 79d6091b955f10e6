import numpy as np
import pytest
from conftest import draw_sketch

from jdfd.config import PARTS
from jdfd.pipeline import DeepFaceDrawing


def test_generate_end_to_end(tiny_model):
    res = tiny_model.generate(draw_sketch(0), blend=1.0, shadow=True)
    assert res.image.shape == (512, 512, 3) and res.image.dtype == np.uint8
    assert res.shadow.shape == (512, 512) and res.shadow.dtype == np.uint8
    assert set(res.projections) == set(PARTS)
    for p in res.projections.values():
        assert abs(p.weights.sum() - 1) < 1e-9 and len(p.indices) == 15


def test_generate_is_deterministic_and_input_size_free(tiny_model):
    sk = draw_sketch(1)
    a = tiny_model.generate(sk).image
    b = tiny_model.generate(sk).image
    assert np.array_equal(a, b)
    small = np.asarray(__import__("PIL.Image", fromlist=["Image"]).fromarray(sk).resize((300, 300)))
    assert tiny_model.generate(small).image.shape == (512, 512, 3)
    rgb = np.stack([sk] * 3, axis=-1)
    assert np.array_equal(tiny_model.generate(rgb).image, a)


def test_blend_controls_the_vectors(tiny_model):
    x = tiny_model.prepare(draw_sketch(2))[None]
    raw = tiny_model.encode(x)
    zero, _ = tiny_model.project(raw, 0.0)
    for p in PARTS:
        assert np.array_equal(zero[p], raw[p])
    full, det = tiny_model.project(raw, 1.0)
    mixed, _ = tiny_model.project(raw, {"nose": 0.0})
    assert np.array_equal(mixed["nose"], raw["nose"]) and not np.array_equal(mixed["mouth"], raw["mouth"])
    np.testing.assert_allclose(full["eye1"][0], det["eye1"][0].projected)


def test_genders_use_their_own_banks(tiny_model):
    sk = draw_sketch(3)
    m = tiny_model.generate(sk, gender="male").image
    f = tiny_model.generate(sk, gender="female").image
    assert not np.array_equal(m, f)
    with pytest.raises(ValueError, match="no bank for gender"):
        tiny_model.generate(sk, gender="other")


def test_model_without_banks(tiny_model):
    m = DeepFaceDrawing(tiny_model.cfg, tiny_model.nets)
    assert m.generate(draw_sketch(0), blend=0.0).image.shape == (512, 512, 3)
    with pytest.raises(ValueError, match="no component banks"):
        m.generate(draw_sketch(0), blend=0.5)


def test_batch_of_components_is_independent(tiny_model):
    xs = np.stack([tiny_model.prepare(draw_sketch(i)) for i in range(3)])
    both = tiny_model.synthesize(tiny_model.encode(xs))
    one = tiny_model.synthesize(tiny_model.encode(xs[1:2]))
    assert np.abs(both[1].astype(int) - one[0]).max() <= 1


def test_part_with_its_own_latent_size(tiny_cfg, tmp_path):
    """A model whose remainder vector is longer than the others: encode, project, generate,
    save and load; a bank of the wrong length is refused."""
    import dataclasses  # noqa: PLC0415

    from jdfd.config import PARTS  # noqa: PLC0415
    from jdfd.pipeline import DeepFaceDrawing  # noqa: PLC0415
    from jdfd.projection import ComponentBank  # noqa: PLC0415
    from jdfd.weights import tensorfile  # noqa: PLC0415
    from jdfd.weights.strict import WeightsError  # noqa: PLC0415

    cfg = dataclasses.replace(tiny_cfg, latent_dims={"remainder": 24})
    rng = np.random.default_rng(1)
    banks = {"all": {p: ComponentBank(rng.normal(size=(20, cfg.latent(p))).astype(np.float32)) for p in PARTS}}
    model = DeepFaceDrawing(cfg, banks=banks, default_gender="all")
    codes = model.encode(model.prepare(draw_sketch(3))[None])
    assert codes["remainder"].shape == (1, 24) and codes["eye1"].shape == (1, cfg.latent_dim)
    res = model.generate(draw_sketch(3), shadow=True)
    face = res.image
    assert face.shape == (512, 512, 3) and res.shadow.shape == (512, 512)
    assert len(res.projections["remainder"].indices) == 15
    model.save_pretrained(tmp_path / "m", dtype="float32")
    again = DeepFaceDrawing.from_pretrained(tmp_path / "m")
    assert again.cfg.latent_dims == {"remainder": 24}
    assert np.array_equal(again.generate(draw_sketch(3)).image, face)
    raw, meta = tensorfile.load(tmp_path / "m" / "banks.safetensors")
    raw["all.remainder"] = raw["all.remainder"][:, :16]
    tensorfile.save(tmp_path / "m" / "banks.safetensors", raw, meta)
    with pytest.raises(WeightsError, match="needs N×24"):
        DeepFaceDrawing.from_pretrained(tmp_path / "m")
