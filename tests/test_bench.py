"""The PyTorch twin (parity, weight transfer), the fast Jittor path and ``jdfd bench``.

PyTorch is the optional ``bench`` extra: every test that needs it skips without it.
The paper-configuration parity test takes the longest (about half a minute on two
cores); deselect it with ``-k "not paper"``.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from jdfd import config
from jdfd.bench import workload
from jdfd.config import PARTS
from jdfd.runtime import jittor
from jdfd.weights.strict import WeightsError, load_strict, state_numpy

jt = jittor()

#: Largest |Jittor − PyTorch| allowed, relative to the output's scale (max(1, max|x|)): float32 rounding
#: through dozens of layers, summed in different orders by the two frameworks, and Jittor's one-pass variance
#: E[x²] − E[x]² (PyTorch uses a two-pass one). Observed: ≤ 4e-5 everywhere but the paper generator (~1.2e-4).
#: 5e-4 is an eighth of one grey level of the uint8 face.
PARITY_TOL = 5e-4


def _shapes(module) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in module.state_dict().items()}


def _rel_diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).max() / max(1.0, float(np.abs(a).max())))


def _load_both(jt_net, tw_net, prefix: str = "", seed: int = 0) -> None:
    from jdfd.bench.transfer import load_torch  # noqa: PLC0415

    state = workload.synthetic_state(_shapes(jt_net), seed, prefix)
    load_strict(jt_net, state, "synthetic")
    load_torch(tw_net, state, "synthetic")
    jt_net.eval()
    tw_net.eval()


def _jt_run(net, x):
    with jt.no_grad():
        out = net(jt.array(x) if isinstance(x, np.ndarray) else {p: jt.array(v) for p, v in x.items()})
        return out.numpy()


def _tw_run(net, x):
    import torch  # noqa: PLC0415

    with torch.no_grad():
        out = net(torch.from_numpy(x) if isinstance(x, np.ndarray) else {p: torch.from_numpy(v) for p, v in x.items()})
        return out.numpy()


# ---------------------------------------------------------------------------- names and weight transfer
@pytest.mark.parametrize("name", ["tiny", "compact"])
def test_twin_has_jittors_tensor_names_and_shapes(name):
    pytest.importorskip("torch")
    from jdfd.bench.torch_twin import TwinNetworks, define_D  # noqa: PLC0415
    from jdfd.model import DFDNetworks  # noqa: PLC0415
    from jdfd.networks import define_D as jt_define_D  # noqa: PLC0415

    cfg = config.get_config(name)
    assert _shapes(TwinNetworks(cfg)) == _shapes(DFDNetworks(cfg))
    assert _shapes(define_D(cfg)) == _shapes(jt_define_D(cfg))


def test_weight_transfer_round_trips_both_ways(tiny_cfg):
    pytest.importorskip("torch")
    from jdfd.bench.torch_twin import TwinNetworks  # noqa: PLC0415
    from jdfd.bench.transfer import jittor_to_torch, load_torch, torch_state_numpy, torch_to_jittor  # noqa: PLC0415
    from jdfd.model import DFDNetworks  # noqa: PLC0415

    # Jittor → torch → a fresh Jittor model: bit for bit
    src = DFDNetworks(tiny_cfg)
    load_strict(src, workload.synthetic_state(_shapes(src), seed=3), "synthetic")
    twin = TwinNetworks(tiny_cfg)
    jittor_to_torch(src, twin)
    back = DFDNetworks(tiny_cfg)
    torch_to_jittor(twin, back)
    a, t, b = state_numpy(src), torch_state_numpy(twin), state_numpy(back)
    for k in a:
        np.testing.assert_array_equal(a[k], t[k], err_msg=k)
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    # torch → Jittor → a fresh twin: bit for bit
    twin2 = TwinNetworks(tiny_cfg)
    load_torch(twin2, workload.synthetic_state(_shapes(twin2), seed=4))
    jt_model = DFDNetworks(tiny_cfg)
    torch_to_jittor(twin2, jt_model)
    twin3 = TwinNetworks(tiny_cfg)
    jittor_to_torch(jt_model, twin3)
    s2, s3 = torch_state_numpy(twin2), torch_state_numpy(twin3)
    assert set(s2) == set(s3) == set(state_numpy(jt_model))
    for k in s2:
        np.testing.assert_array_equal(s2[k], s3[k], err_msg=k)
    # strict: a missing or mis-shaped tensor is an error, not a silent partial load
    bad = dict(a)
    bad.pop("G.model.1.weight")
    with pytest.raises(WeightsError, match="missing tensor"):
        load_torch(TwinNetworks(tiny_cfg), bad)
    bad = dict(a, **{"G.model.1.bias": np.zeros(3, np.float32)})
    with pytest.raises(WeightsError, match="shape"):
        load_torch(TwinNetworks(tiny_cfg), bad)


# ---------------------------------------------------------------------------- parity
def test_parity_compact():
    """Same weights, same input: every network of the compact model agrees to float32 rounding."""
    pytest.importorskip("torch")
    from jdfd.bench.torch_twin import TwinNetworks  # noqa: PLC0415
    from jdfd.model import DFDNetworks  # noqa: PLC0415

    cfg = config.compact()
    nets, twin = DFDNetworks(cfg), TwinNetworks(cfg)
    _load_both(nets, twin)
    crops = workload.crops_of(workload.synthetic_sketches(2, cfg.image_size), cfg)
    diffs = {}
    codes = {}
    for p in PARTS:
        codes[p] = _jt_run(nets.encoders[p], crops[p])
        diffs[f"encoder.{p}"] = _rel_diff(codes[p], _tw_run(twin.encoders[p], crops[p]))
        diffs[f"image_decoder.{p}"] = _rel_diff(_jt_run(nets.image_decoders[p], codes[p]),
                                                _tw_run(twin.image_decoders[p], codes[p]))
    fmap = _jt_run(nets.fm, codes)
    diffs["fm"] = _rel_diff(fmap, _tw_run(twin.fm, codes))
    face = _jt_run(nets.G, fmap)
    diffs["G"] = _rel_diff(face, _tw_run(twin.G, fmap))
    # the training-only discriminator, on (sketch, face) as stage II feeds it
    from jdfd.bench.torch_twin import define_D  # noqa: PLC0415
    from jdfd.networks import define_D as jt_define_D  # noqa: PLC0415

    d_j, d_t = jt_define_D(cfg), define_D(cfg)
    _load_both(d_j, d_t, "D.")
    x = np.concatenate([workload.crops_of(workload.synthetic_sketches(2, cfg.image_size), cfg)["remainder"], face], 1)
    with jt.no_grad():
        out_j = [[t.numpy() for t in scale] for scale in d_j(jt.array(x))]
    import torch  # noqa: PLC0415

    with torch.no_grad():
        out_t = [[t.numpy() for t in scale] for scale in d_t(torch.from_numpy(x))]
    diffs["D"] = max(_rel_diff(a, b) for sa, sb in zip(out_j, out_t) for a, b in zip(sa, sb))
    print("compact parity (max |diff| / max(1, max |x|)):", {k: f"{v:.2e}" for k, v in diffs.items()})
    assert max(diffs.values()) < PARITY_TOL, diffs


def test_parity_paper():
    """The paper's networks, one at a time (memory), each fed the same input in both frameworks."""
    pytest.importorskip("torch")
    from jdfd.bench import torch_twin as tw  # noqa: PLC0415
    from jdfd.networks import define_encoder, define_feature_decoder, define_G, define_image_decoder  # noqa: PLC0415
    from jdfd.networks.fm import assemble  # noqa: PLC0415

    cfg = config.paper()
    boxes = cfg.boxes()
    crops = workload.crops_of(workload.synthetic_sketches(1, cfg.image_size), cfg)
    diffs: dict[str, float] = {}
    maps_j, maps_t = {}, {}
    for p in PARTS:
        n = boxes[p][2]
        enc_j, enc_t = define_encoder(cfg, p), tw.ComponentEncoder(n, cfg.encoder_channels, cfg.latent_dim)
        _load_both(enc_j, enc_t, f"encoders.{p}.")
        code = _jt_run(enc_j, crops[p])
        diffs[f"encoder.{p}"] = _rel_diff(code, _tw_run(enc_t, crops[p]))
        del enc_j, enc_t
        dec_j = define_image_decoder(cfg, p)
        dec_t = tw.LatentDecoder(n, cfg.image_decoder_channels, cfg.latent_dim, 1)
        _load_both(dec_j, dec_t, f"image_decoders.{p}.")
        diffs[f"image_decoder.{p}"] = _rel_diff(_jt_run(dec_j, code), _tw_run(dec_t, code))
        del dec_j, dec_t
        fm_j = define_feature_decoder(cfg, p)
        fm_t = tw.LatentDecoder(n, cfg.feature_decoder_channels, cfg.latent_dim, cfg.feature_channels,
                                tw.JtSampleStatNorm)
        _load_both(fm_j, fm_t, f"fm.{p}.")
        maps_j[p], maps_t[p] = _jt_run(fm_j, code), _tw_run(fm_t, code)
        diffs[f"fm_decoder.{p}"] = _rel_diff(maps_j[p], maps_t[p])
        del fm_j, fm_t
        jt.gc()
    import torch  # noqa: PLC0415

    fmap = assemble({p: jt.array(v) for p, v in maps_j.items()}, boxes, cfg.nose_crop()).numpy()
    diffs["fm (pasted)"] = _rel_diff(fmap, tw.assemble({p: torch.from_numpy(v) for p, v in maps_t.items()}, boxes,
                                                       cfg.nose_crop()).numpy())
    g_j = define_G(cfg)
    g_t = tw.GlobalGenerator(cfg.feature_channels, cfg.output_channels, cfg.ngf, cfg.n_downsample, cfg.n_blocks)
    _load_both(g_j, g_t, "G.")
    face_j, face_t = _jt_run(g_j, fmap), _tw_run(g_t, fmap)
    diffs["G"] = _rel_diff(face_j, face_t)
    u8 = np.abs(workload.to_uint8_rgb(face_j).astype(int) - workload.to_uint8_rgb(face_t).astype(int)).max()
    print("paper parity (max |diff| / max(1, max |x|)):", {k: f"{v:.2e}" for k, v in diffs.items()},
          f"face uint8 max diff {u8}")
    assert max(diffs.values()) < PARITY_TOL, diffs
    assert u8 <= 1


def test_training_step_parity_tiny(tiny_cfg, tmp_path):
    """One stage-I and one stage-II step: jdfd's Trainer and the torch step compute the same losses."""
    pytest.importorskip("torch")
    import torch  # noqa: PLC0415

    from jdfd.bench.torch_train import TorchTrainer  # noqa: PLC0415
    from jdfd.training.trainer import TrainConfig, Trainer  # noqa: PLC0415

    batch = {"sketch": workload.synthetic_sketches(2, tiny_cfg.image_size),
             "photo": workload.synthetic_photos(2, tiny_cfg.image_size)}
    for stage, keys in (("stage1", ["loss"]), ("stage2", ["loss_d", "loss_g"])):
        tc = TrainConfig(stage=stage, model=tiny_cfg.to_dict(), batch_size=2, perceptual=False)
        tr = Trainer(tc, tmp_path / stage, None, perceptual=None)
        load_strict(tr.nets, workload.synthetic_state(_shapes(tr.nets)), "synthetic")
        if tr.D is not None:
            load_strict(tr.D, workload.synthetic_state(_shapes(tr.D), seed=1), "synthetic D")
        got_jt = tr.train_step(batch)
        got_tw = TorchTrainer(tiny_cfg, stage, torch.device("cpu")).step(batch)
        for k in keys:
            assert got_tw[k] == pytest.approx(got_jt[k], rel=1e-3), (stage, k, got_jt[k], got_tw[k])


def test_each_torch_framework_compiles_in_its_own_mode(tiny_cfg, monkeypatch):
    """``torch-compile-max`` reaches ``torch.compile`` as ``max-autotune``, for inference and training
    (recorded, not compiled: compiling takes minutes)."""
    pytest.importorskip("torch")
    import torch  # noqa: PLC0415

    from jdfd.bench.worker import COMPILE_MODES, TORCH_FRAMEWORKS, TorchBackend  # noqa: PLC0415

    assert COMPILE_MODES["torch-compile-max"] == "max-autotune" and COMPILE_MODES["torch"] is None
    seen: list = []
    monkeypatch.setattr(torch, "compile", lambda m, mode=None: seen.append(mode) or m)
    for fw in TORCH_FRAMEWORKS:
        seen.clear()
        be = TorchBackend(tiny_cfg, "cpu", COMPILE_MODES[fw])
        be.build(workload.synthetic_banks(tiny_cfg, 20))
        be.trainer("stage2", 2)
        want = COMPILE_MODES[fw]
        assert (set(seen) == {want} and len(seen) >= 10) if want else not seen, (fw, seen)


def test_training_step_part_by_part_is_the_same_step(tiny_cfg, tmp_path):
    """``--modes train`` clocks a step in parts (synchronised between them): same losses, same weights after."""
    from jdfd.bench.worker import jittor_step_parts  # noqa: PLC0415
    from jdfd.training.trainer import TrainConfig, Trainer  # noqa: PLC0415

    batch = {"sketch": workload.synthetic_sketches(2, tiny_cfg.image_size),
             "photo": workload.synthetic_photos(2, tiny_cfg.image_size)}
    for stage in ("stage1", "stage2"):
        trs = []
        for _ in range(2):
            tc = TrainConfig(stage=stage, model=tiny_cfg.to_dict(), batch_size=2, perceptual=False)
            tr = Trainer(tc, tmp_path / stage, None, perceptual=None)
            load_strict(tr.nets, workload.synthetic_state(_shapes(tr.nets)), "synthetic")
            if tr.D is not None:
                load_strict(tr.D, workload.synthetic_state(_shapes(tr.D), seed=1), "synthetic D")
            trs.append(tr)
        for _ in range(2):
            plain = trs[0].train_step(batch)
            parted, parts = jittor_step_parts(trs[1], batch)
            # (synchronised between parts, Jittor fuses other element-wise kernels: float rounding only)
            assert parted == pytest.approx(plain, rel=1e-5)
            want = set(workload.TRAIN_PARTS[f"train_{stage}"]) - workload.OPTIONAL_PARTS  # no --perceptual here
            assert set(parts) == want and min(parts.values()) > 0
        # A missing or doubled update would move nearly every weight by about lr. Rounding differs between
        # the two (Jittor fuses differently around the synchronisations), stage II's L1 sign and ReLU kinks
        # turn it into gradient differences of up to 1 % (see test_training.py), and Adam turns those into
        # steps of up to lr where a gradient is near zero (a conv bias before a norm has none): a few % of
        # the weights. The optimiser's moments carry the gradient differences themselves, so they are left out.
        a, b = trs[0].state(), trs[1].state()
        weights = [k for k in a if not k.startswith("opt_")]
        off = sum(int((np.abs(a[k] - b[k]) > 1e-5).sum()) for k in weights)
        assert off < 0.1 * sum(a[k].size for k in weights), (stage, off)


# ---------------------------------------------------------------------------- the fast path
@pytest.mark.parametrize("kernel_set", ["jittor", "onednn"])
@pytest.mark.parametrize("name", ["tiny", "compact"])
def test_fast_path_gives_the_networks_faces(name, kernel_set):
    """Before/after of the benchmark: the networks' own execute() vs jdfd's fast path, same faces."""
    from jdfd import kernels  # noqa: PLC0415
    from jdfd.fast import FastDFD  # noqa: PLC0415
    from jdfd.model import DFDNetworks  # noqa: PLC0415
    from jdfd.pipeline import DeepFaceDrawing  # noqa: PLC0415

    if kernel_set == "onednn" and kernels.load() is None:
        pytest.skip(kernels.unavailable_reason())
    cfg = config.get_config(name)
    nets = DFDNetworks(cfg)
    load_strict(nets, workload.synthetic_state(_shapes(nets)), "synthetic")
    banks = {"male": workload.synthetic_banks(cfg, 300)}
    own = DeepFaceDrawing(cfg, nets, banks, fast=False)
    fast = FastDFD(nets, kernels=kernel_set)
    sketches = workload.synthetic_sketches(2, cfg.image_size, seed=6)
    enc_ref, enc_fast = own.encode(sketches), fast.encode(sketches)
    for p in PARTS:
        # absolute tolerance in units of the code's own scale: compact's remainder codes reach 13, where
        # both paths' float32 sums differ by ~1e-5 (1e-6 of the scale) on codes near 0
        scale = max(1.0, float(np.abs(enc_ref[p]).max()))
        np.testing.assert_allclose(enc_fast[p], enc_ref[p], rtol=1e-4, atol=1e-5 * scale)
    codes, _ = own.project(enc_ref)
    # Float rounding differs (other summation order, Winograd), so a value may land one grey level apart.
    d = np.abs(own.synthesize(codes).astype(int) - fast.faces(sketches, lambda c: own.project(c)[0]).astype(int))
    print(f"{name}/{kernel_set}: fast vs the networks' faces at model resolution: max diff {d.max()}, "
          f"{(d > 0).mean():.1e} of values differ")
    assert d.max() <= 1 and (d > 0).mean() < 0.01
    if kernel_set == "onednn":
        # DeepFaceDrawing's default path is this one: generate() through the API, shadow included.
        model = DeepFaceDrawing(cfg, nets, banks)
        assert model.engine is not None
        sketch = workload.synthetic_sketches(1, 512, seed=5)[0]
        # upsampling to 512 (bicubic, weights summing above 1 locally) can turn one grey level into two
        worst = 1 if cfg.image_size == 512 else 2
        for blend in ((1.0, 0.0, "eye1=0.3,remainder=0.6") if name == "tiny" else (1.0,)):
            ref, got = own.generate(sketch, blend=blend, shadow=True), model.generate(sketch, blend=blend, shadow=True)
            d = np.abs(ref.image.astype(int) - got.image.astype(int))
            assert d.max() <= worst and (d > 0).mean() < 0.01, (blend, d.max(), (d > 0).mean())
            # the shadow blends the same neighbours by LLE weights of codes that differ in float rounding
            d = np.abs(ref.shadow.astype(int) - got.shadow.astype(int))
            assert d.max() <= 1 and (d > 0).mean() < 1e-3, (blend, d.max(), (d > 0).mean())
            assert ref.projections.keys() == got.projections.keys()
            for p, proj in ref.projections.items():
                np.testing.assert_array_equal(proj.indices, got.projections[p].indices)


# ---------------------------------------------------------------------------- the command
def test_bench_command_imports_no_framework_and_has_help():
    code = ("import sys, argparse\n"
            "from jdfd.bench import cli\n"
            "p = argparse.ArgumentParser(prog='jdfd'); cli.add_parser(p.add_subparsers())\n"
            "a = p.parse_args(['bench', '--quick'])\n"
            "assert a.func is cli.run\n"
            "print(sorted(m for m in ('jittor', 'torch') if m in sys.modules))\n"
            "p.parse_args(['bench', '--help'])\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[0] == "[]"
    assert "--frameworks" in out.stdout and "--quick" in out.stdout


def test_plan_interleaves_frameworks_and_limits_onednn_off():
    from jdfd.bench.runner import BenchOptions, plan, reps_in_round  # noqa: PLC0415

    assert [reps_in_round(7, 3, r) for r in range(3)] == [3, 2, 2]
    opts = BenchOptions(configs=["paper", "compact"], batches=[1, 4], reps=6, rounds=3, modes=["infer", "train"])
    specs, notes = plan(opts)
    firsts = {s["round"]: s["framework"] for s in reversed(specs) if s["config"]["name"] == "paper"}
    assert len(set(firsts.values())) == 3  # a different framework leads each round
    off = [s for s in specs if s["framework"] == "jittor-nodnnl"]
    assert len(off) == 1 and off[0]["config"]["name"] == "compact" and off[0]["batches"] == [1]
    assert off[0]["reps"] == 1 and off[0]["mode"] == "infer"
    assert not any(s["framework"] == "jittor-fast" and s["mode"] == "train" for s in specs)
    assert not any(s["framework"] == "torch-compile-max" for s in specs)  # opt-in only
    for fw in ("jittor", "torch", "torch-compile"):
        assert sum(s["reps"] for s in specs if s["framework"] == fw and s["config"]["name"] == "paper"
                   and s["mode"] == "infer") == 6
    assert any("oneDNN off" in n for n in notes)


def test_bench_quick_smoke(tmp_path):
    """``jdfd bench --quick`` on the tiny model: every stage timed, JSON + Markdown + PNG written."""
    from jdfd.bench import cli, runner  # noqa: PLC0415

    fws = ["jittor", "jittor-fast"] + (["torch"] if runner.torch_available() else [])
    out = tmp_path / "bench"
    code = cli.main(["--quick", "--configs", "tiny", "--batches", "1", "--reps", "1", "--warmup", "0",
                     "--frameworks", ",".join(fws), "-o", str(out)])
    assert code == 0
    result = json.loads((out / "results.json").read_text())
    assert not result["errors"], result["errors"]
    got = {(r["framework"], r["stage"]) for r in result["summary"]}
    for fw in fws:
        for stage in workload.STAGES:
            assert (fw, stage) in got
    for fw in set(fws) - {"jittor-fast"}:
        for stage in workload.TRAIN_STAGES:
            assert (fw, stage) in got
            assert all((fw, f"{stage}.{part}") in got for part in workload.TRAIN_PARTS[stage]
                       if part not in workload.OPTIONAL_PARTS)
    assert all(r["median_s"] > 0 and r["peak_rss_mb"] > 0 for r in result["summary"])
    assert result["machine"]["cpu_model"] and result["machine"]["versions"]["jittor"]
    assert result["machine"]["frameworks"]["jittor"]["onednn"] in (True, False)
    assert all(a["max_abs_diff_uint8"] <= 1 for a in result["agreement"])
    assert {a["framework"] for a in result["agreement"]} == set(fws) - {"jittor"}
    md = (out / "report.md").read_text()
    assert "## Machine" in md and "tiny, batch 1" in md and "end to end" in md
    assert "part by part" in md and "stage II: G backward" in md
    if "torch" in fws:
        assert "jittor / torch" in md and "jittor / best torch" in md
    png = (out / "chart.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000


def test_training_step_parity_with_the_perceptual_loss(tiny_cfg):
    """``--perceptual``: both frameworks' stage-II steps carry the same VGG16 loss (same synthetic weights)."""
    pytest.importorskip("torch")
    import torch  # noqa: PLC0415

    from jdfd.bench.torch_train import TorchTrainer  # noqa: PLC0415
    from jdfd.bench.worker import JittorBackend  # noqa: PLC0415

    batch = {"sketch": workload.synthetic_sketches(2, tiny_cfg.image_size),
             "photo": workload.synthetic_photos(2, tiny_cfg.image_size)}
    got_jt = JittorBackend(tiny_cfg, "cpu", True).trainer("stage2", 2, perceptual=True)(batch)
    got_tw = TorchTrainer(tiny_cfg, "stage2", torch.device("cpu"), perceptual=True).step(batch)
    assert got_jt["g_vgg"] > 0
    for k in ("loss_d", "g_vgg", "loss_g"):
        assert got_tw[k] == pytest.approx(got_jt[k], rel=1e-3), (k, got_jt[k], got_tw[k])
