import pickle

import numpy as np
import pytest

from jdfd.config import PARTS
from jdfd.model import DFDNetworks
from jdfd.pipeline import DeepFaceDrawing
from jdfd.weights import authors, tensorfile
from jdfd.weights.strict import LazyState, WeightsError, load_strict, state_numpy


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


class _NumpyTwoPickler(pickle._Pickler):
    """Writes numpy's reconstructors under numpy 2's module names (numpy._core.*), whatever numpy runs."""

    def save(self, obj, save_persistent_id=True):
        module = getattr(obj, "__module__", "") or ""
        if callable(obj) and not isinstance(obj, type) and module.startswith("numpy.core."):
            module = "numpy._core." + module[len("numpy.core."):]
            if self.proto >= 4:
                self.save(module)
                self.save(obj.__name__)
                self.write(pickle.STACK_GLOBAL)
            else:
                self.write(pickle.GLOBAL + f"{module}\n{obj.__name__}\n".encode())
            return
        super().save(obj, save_persistent_id)


@pytest.mark.parametrize("protocol", [2, 5])
@pytest.mark.parametrize("numpy_names", ["numpy.core", "numpy._core"])
def test_unpickler_reads_both_protocols(tmp_path, protocol, numpy_names):
    """Protocol 5 (pickle.HIGHEST_PROTOCOL, e.g. re-saved Params) rebuilds arrays through numpy's
    _frombuffer; numpy 2 writes its modules as numpy._core.*. All four must load, nothing else."""
    import io  # noqa: PLC0415

    rng = np.random.default_rng(protocol)
    state = {"conv.weight": rng.normal(size=(4, 3, 3, 3)).astype(np.float32),
             "fortran": np.asfortranarray(rng.normal(size=(3, 5))), "strided": np.arange(10, dtype=np.int64)[::3],
             "half": rng.normal(size=7).astype(np.float16), "zero_d": np.ones((), np.float32)}
    buf = io.BytesIO()
    (_NumpyTwoPickler if numpy_names == "numpy._core" else pickle.Pickler)(buf, protocol=protocol).dump(state)
    data = buf.getvalue()
    assert (b"_frombuffer" in data) == (protocol == 5) and (b"_codecs" in data) == (protocol == 2)
    assert (b"numpy._core." in data) == (numpy_names == "numpy._core")
    p = tmp_path / "params.pkl"
    p.write_bytes(data)
    got = authors.load_pickle(p)
    assert got.keys() == state.keys()
    for k, v in state.items():
        assert got[k].dtype == v.dtype and got[k].shape == v.shape and np.array_equal(got[k], v), k


@pytest.mark.parametrize("protocol", [2, 5])
def test_unpickler_still_refuses_code_at_any_protocol(tmp_path, protocol):
    p = tmp_path / "evil.pkl"
    p.write_bytes(pickle.dumps({"w": np.ones(3), "x": Evil()}, protocol=protocol))
    with pytest.raises(WeightsError, match=r"refusing to load (__builtin__|builtins)\.print"):
        authors.load_pickle(p)



class _BadFromBuffer:
    def __init__(self, args):
        self.args = args

    def __reduce__(self):
        from numpy.core.numeric import _frombuffer  # noqa: PLC0415

        return _frombuffer, self.args


def test_unpickler_turns_only_latin1_text_into_bytes(tmp_path):
    import codecs  # noqa: PLC0415

    class Rot13:
        def __reduce__(self):
            return codecs.encode, ("cevag", "rot13")

    p = tmp_path / "odd.pkl"
    p.write_bytes(pickle.dumps({"w": Rot13()}, protocol=2))
    with pytest.raises(WeightsError, match="unexpected arguments for bytes"):
        authors.load_pickle(p)


@pytest.mark.parametrize("args", [("print('x')", np.dtype("f4"), (1,), "C"), (b"\0" * 8, np.dtype("O"), (1,), "C"),
                                  (b"\0" * 8, np.dtype("f4"), (2,), "K")])
def test_unpickler_checks_the_buffer_reconstructors_arguments(tmp_path, args):
    p = tmp_path / "odd.pkl"
    p.write_bytes(pickle.dumps({"w": _BadFromBuffer(args)}, protocol=5))
    with pytest.raises(WeightsError, match="unexpected arguments"):
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
         "c": np.arange(4, dtype=np.int64), "d": np.array(7, np.int32), "e": np.arange(6.0).reshape(2, 3).T}
    tensorfile.save(tmp_path / "x.safetensors", t, {"k": "v", "step": 3})
    assert not (tmp_path / "x.safetensors.tmp").exists()
    got, meta = tensorfile.load(tmp_path / "x.safetensors")
    assert meta == {"k": "v", "step": "3"}
    for k in t:
        assert got[k].dtype == t[k].dtype and got[k].shape == t[k].shape and np.array_equal(got[k], t[k])
    lazy, meta = tensorfile.load_lazy(tmp_path / "x.safetensors")
    assert meta == {"k": "v", "step": "3"} and set(lazy) == set(t)
    assert lazy.shapes == {k: v.shape for k, v in t.items()}
    for k in t:
        assert lazy[k].dtype == t[k].dtype and np.array_equal(lazy[k], t[k])
    (tmp_path / "bad.safetensors").write_bytes(b"\xff" * 16)
    for load in (tensorfile.load, tensorfile.load_lazy):
        with pytest.raises(tensorfile.TensorFileError, match="bad.safetensors"):
            load(tmp_path / "bad.safetensors")
        with pytest.raises(FileNotFoundError):
            load(tmp_path / "nothing.safetensors")


def test_load_strict_streams_a_lazy_state(tiny_model, tiny_cfg):
    """A LazyState loads like the dict it stands for, each tensor made once; a wrong shape is
    refused before any tensor is made."""
    state = state_numpy(tiny_model.nets)
    made = []
    lazy = LazyState({k: v.shape for k, v in state.items()}, lambda k: made.append(k) or state[k])
    nets = DFDNetworks(tiny_cfg)
    load_strict(nets, lazy, "lazy")
    assert sorted(made) == sorted(state)
    got = state_numpy(nets)
    assert all(np.array_equal(got[k], state[k]) for k in state)
    made.clear()
    shapes = {k: v.shape for k, v in state.items()}
    shapes["G.model.1.weight"] = (1, 2, 3)
    with pytest.raises(WeightsError, match=r"G.model.1.weight has shape \[1, 2, 3\]"):
        load_strict(nets, LazyState(shapes, lambda k: made.append(k) or state[k]), "lazy")
    assert made == []
    with pytest.raises(KeyError):
        lazy["no.such.tensor"]


def test_tensorfile_reads_files_of_jdfds_former_writer(tmp_path):
    """Earlier jdfd wrote safetensors itself (sorted names, space-padded JSON header): such
    run folders and models must still load, metadata included."""
    import json  # noqa: PLC0415
    import struct  # noqa: PLC0415

    a, b = np.arange(6, dtype=np.float32).reshape(2, 3), np.array([1.5, -2.0], np.float16)
    header = {"a": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]},
              "b": {"dtype": "F16", "shape": [2], "data_offsets": [24, 28]},
              "__metadata__": {"step": "12", "train_config": "{}"}}
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    (tmp_path / "old.safetensors").write_bytes(struct.pack("<Q", len(raw)) + raw + a.tobytes() + b.tobytes())
    got, meta = tensorfile.load(tmp_path / "old.safetensors")
    assert meta == {"step": "12", "train_config": "{}"}
    assert np.array_equal(got["a"], a) and np.array_equal(got["b"], b) and got["b"].dtype == np.float16


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
