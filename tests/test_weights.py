import pickle

import numpy as np
import pytest

from jdfd.config import PARTS
from jdfd.model import DFDNetworks
from jdfd.pipeline import DeepFaceDrawing
from jdfd.weights import authors, tensorfile
from jdfd.weights.strict import WeightsError, state_numpy


def write_authors_params(root, nets, genders=("male", "female"), n_bank=20):
    for rel, (group, part) in authors.file_layout().items():
        authors.save_pickle(root / rel, state_numpy(nets.group(group, part)))
    rng = np.random.default_rng(0)
    for g in genders:
        for p in PARTS:
            rng.normal(size=(n_bank, nets.cfg.latent_dim)).astype(np.float32).tofile(authors.bank_path(root, g, p))


@pytest.fixture()
def params(tmp_path, tiny_model):
    write_authors_params(tmp_path, tiny_model.nets)
    return tmp_path


def test_authors_layout_loads_and_reproduces(params, tiny_model, tiny_cfg):
    from conftest import draw_sketch

    m = DeepFaceDrawing.from_authors(params, cfg=tiny_cfg)
    assert set(m.banks) == {"male", "female"} and m.default_gender == "male"
    assert len(m.banks["female"]["nose"]) == 20
    sk = draw_sketch(0)
    a = m.generate(sk, blend=0.0).image
    b = tiny_model.generate(sk, blend=0.0).image
    assert np.array_equal(a, b)


@pytest.mark.parametrize("damage", ["missing_file", "missing_tensor", "extra_tensor", "wrong_shape", "bad_bank"])
def test_authors_strict_errors(params, tiny_cfg, damage):
    f = params / "Combine" / "latest_net_DE_nose.pkl"
    state = authors.load_pickle(f)
    if damage == "missing_file":
        f.unlink()
        match = "latest_net_DE_nose.pkl: file not found"
    elif damage == "missing_tensor":
        state.pop("fc.0.bias")
        authors.save_pickle(f, state)
        match = "missing tensor.*fc.0.bias"
    elif damage == "extra_tensor":
        state["fc.9.weight"] = np.zeros(3, np.float32)
        authors.save_pickle(f, state)
        match = "unexpected tensor.*fc.9.weight"
    elif damage == "wrong_shape":
        state["fc.0.bias"] = np.zeros(7, np.float32)
        authors.save_pickle(f, state)
        match = "fc.0.bias has shape \\[7\\]"
    else:
        authors.bank_path(params, "female", "mouth").write_bytes(b"\0" * 12)
        match = "float32 rows"
    with pytest.raises(WeightsError, match=match):
        DeepFaceDrawing.from_authors(params, cfg=tiny_cfg)


class Evil:
    def __reduce__(self):
        return (print, ("pwned",))


def test_unpickler_refuses_code(tmp_path):
    p = tmp_path / "evil.pkl"
    p.write_bytes(pickle.dumps({"w": Evil()}))
    with pytest.raises(WeightsError, match="refusing to load builtins.print"):
        authors.load_pickle(p)
    p.write_bytes(b"not a pickle at all")
    with pytest.raises(WeightsError):
        authors.load_pickle(p)


def test_unpickler_accepts_jittor_vars(tmp_path):
    from jdfd.runtime import jittor

    jt = jittor()
    p = tmp_path / "vars.pkl"
    p.write_bytes(pickle.dumps({"a": jt.array(np.arange(6, dtype=np.float32).reshape(2, 3)), "b": np.ones(2)}))
    got = authors.load_pickle(p)
    np.testing.assert_array_equal(got["a"], np.arange(6).reshape(2, 3))
    assert got["b"].shape == (2,)


def test_tensorfile_round_trip_and_compat(tmp_path):
    rng = np.random.default_rng(0)
    t = {"a": rng.normal(size=(3, 4)).astype(np.float32), "b": rng.normal(size=5).astype(np.float16),
         "c": np.arange(4, dtype=np.int64)}
    tensorfile.save(tmp_path / "x.safetensors", t, {"k": "v"})
    got, meta = tensorfile.load(tmp_path / "x.safetensors")
    assert meta == {"k": "v"}
    for k in t:
        assert got[k].dtype == t[k].dtype and np.array_equal(got[k], t[k])
    st = pytest.importorskip("safetensors.numpy")
    other = st.load_file(str(tmp_path / "x.safetensors"))
    for k in t:
        assert np.array_equal(other[k], t[k])
    st.save_file({"z": t["a"]}, str(tmp_path / "y.safetensors"))
    assert np.array_equal(tensorfile.load(tmp_path / "y.safetensors")[0]["z"], t["a"])
    (tmp_path / "bad.safetensors").write_bytes(b"\xff" * 16)
    with pytest.raises(tensorfile.TensorFileError):
        tensorfile.load(tmp_path / "bad.safetensors")


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_pretrained_round_trip(tmp_path, tiny_model, dtype):
    tiny_model.save_pretrained(tmp_path, dtype=dtype)
    m = DeepFaceDrawing.from_pretrained(tmp_path)
    a, b = state_numpy(tiny_model.nets), state_numpy(m.nets)
    assert a.keys() == b.keys()
    for k in a:
        if dtype == "float32":
            assert np.array_equal(a[k], b[k]), k
        else:
            np.testing.assert_allclose(a[k], b[k], rtol=1e-3, atol=1e-4)
    for g in tiny_model.banks:
        for p in PARTS:
            assert np.array_equal(m.banks[g][p].vectors, tiny_model.banks[g][p].vectors)
    assert m.default_gender == "male"


def test_pretrained_strict_errors(tmp_path, tiny_model):
    tiny_model.save_pretrained(tmp_path, dtype="float32")
    state, meta = tensorfile.load(tmp_path / "model.safetensors")
    state.pop("G.model.1.weight")
    tensorfile.save(tmp_path / "model.safetensors", state)
    with pytest.raises(WeightsError, match="missing tensor.*G.model.1.weight"):
        DeepFaceDrawing.from_pretrained(tmp_path)
    with pytest.raises(WeightsError, match="not a jdfd model folder"):
        DeepFaceDrawing.from_pretrained(tmp_path / "nowhere")


def test_networks_state_names_follow_the_paper_boxes(tiny_cfg):
    names = DFDNetworks(tiny_cfg).state_dict().keys()
    prefixes = {n.split(".")[0] for n in names}
    assert prefixes == {"encoders", "image_decoders", "fm", "G"}
