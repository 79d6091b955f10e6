"""jdfd's oneDNN kernels (jdfd/kernels) against Jittor's own operators, and FastDFD on top of them."""

from __future__ import annotations

import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest

from jdfd import config, kernels, runtime
from jdfd.config import PARTS
from jdfd.kernels.blocked import BLOCK, BlockedRunner, from_blocked, to_blocked

jt = runtime.jittor()
nn = jt.nn


def test_kernels_load_wherever_jittor_has_onednn():
    if runtime.device() != "cpu" or not runtime.dnnl_active():
        assert kernels.load() is None and kernels.unavailable_reason()
        pytest.skip(kernels.unavailable_reason())
    if kernels.load() is None and "reference kernels" in kernels.unavailable_reason():
        pytest.skip(kernels.unavailable_reason())  # a CPU with neither AVX-512 nor AVX2/SSE4.1 JIT kernels
    assert kernels.load() is not None, kernels.unavailable_reason()


@pytest.fixture(scope="module")
def kernel_lib():
    if kernels.load() is None:
        pytest.skip(kernels.unavailable_reason())
    return kernels.load()


def _winograd(kernel_lib) -> bool:
    """Whether oneDNN has Winograd here (AVX-512 only in oneDNN 2.x; elsewhere those layers run direct)."""
    return "wino" in kernel_lib.dfd_conv_impl(1, 32, 10, 10, 32, 3, 1, 0, 0, 0, 1)


def _rand(*shape, seed=0, scale=1.0):
    return jt.array((np.random.default_rng(seed).standard_normal(shape) * scale).astype(np.float32))


def test_layout_round_trip_pads_lanes_with_zeros():
    x = _rand(2, 20, 5, 7)
    b = to_blocked(x)
    blocks = -(-20 // BLOCK)
    assert tuple(b.shape) == (2, blocks, 5, 7, BLOCK)
    assert np.all(b.numpy()[:, -1, :, :, 20 - (blocks - 1) * BLOCK:] == 0)
    np.testing.assert_array_equal(from_blocked(b, 20).numpy(), x.numpy())


# (in, out, size, kernel, stride, padding, output_padding, transposed, plain input)
CONVS = [
    (32, 32, 12, 3, 1, 0, 0, False, False),   # 3x3 stride 1: Winograd
    (24, 40, 12, 3, 1, 0, 0, False, False),   # Winograd refused for these channels: direct; padded lanes
    (20, 3, 14, 7, 1, 0, 0, False, False),    # the generator's last layer: 3 outputs in a 16-lane block
    (16, 24, 16, 3, 2, 1, 0, False, False),   # stride-2 downsampling
    (1, 8, 16, 4, 2, 1, 0, False, True),      # an encoder's first layer reads the plain one-channel crop
    (24, 8, 6, 4, 2, 1, 0, True, False),      # transposed (deconvolution primitive)
    (8, 4, 5, 3, 2, 1, 1, True, False),       # the generator's transposed conv with output padding
]


@pytest.mark.parametrize("case", CONVS, ids=[str(c) for c in CONVS])
def test_conv_matches_jittor(kernel_lib, case):
    cin, cout, size, k, s, p, op, transposed, plain = case
    x = _rand(2, cin, size, size, seed=1)
    if transposed:
        layer = nn.ConvTranspose(cin, cout, k, stride=s, padding=p, output_padding=op)
    else:
        layer = nn.Conv(cin, cout, k, stride=s, padding=p)
    ref = layer(x).numpy()
    runner = BlockedRunner(kernel_lib)
    y, c = runner.conv(layer, x if plain else to_blocked(x), cin)
    got = from_blocked(y, c).numpy()
    assert got.shape == ref.shape
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-4 * np.abs(ref).max())
    assert np.all(y.numpy()[..., :, :, :, :][:, -1, :, :, (cout - 1) % BLOCK + 1:] == 0), "padding lanes must stay 0"


@pytest.mark.parametrize("k,p,op", [(4, 1, 0), (3, 1, 1)])
def test_transposed_conv_as_four_phases_matches_jittor(kernel_lib, k, p, op):
    layer = nn.ConvTranspose(24, 20, k, stride=2, padding=p, output_padding=op)
    norm = nn.InstanceNorm2d(20, affine=True)
    norm.weight.assign(_rand(20, seed=3))
    norm.bias.assign(_rand(20, seed=4))
    x = _rand(2, 24, 7, 9, seed=2)
    ref = nn.ReLU()(norm(layer(x))).numpy()
    runner = BlockedRunner(kernel_lib)
    assert runner.phases_apply(layer)
    y, c = runner.run([layer, norm, nn.ReLU()], to_blocked(x), 24)
    got = from_blocked(y, c).numpy()
    assert got.shape == ref.shape == (2, 20, 14, 18)
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("cin,cout,k,pad,after_phases", [(20, 3, 7, 3, False), (8, 4, 5, 2, True), (8, 2, 3, 1, False)])
def test_last_conv_on_input_phases_matches_jittor(kernel_lib, cin, cout, k, pad, after_phases):
    """norm → ReLU → pad → conv with ≤ 4 outputs (the generator's end), the conv run on the input's phases."""
    x = _rand(2, cin, 10, 12, seed=11)
    norm = nn.InstanceNorm2d(cin, affine=True)
    norm.weight.assign(_rand(cin, seed=12))
    conv = nn.Conv(cin, cout, k)
    layers = [norm, nn.ReLU(), nn.ReflectionPad2d(pad), conv]
    if after_phases:
        layers.insert(0, nn.ConvTranspose(cin, cin, 4, stride=2, padding=1))
    ref = nn.Sequential(*layers)(x).numpy()
    runner = BlockedRunner(kernel_lib)
    assert runner.from_phases_applies(conv, (12 + 2 * pad, 14 + 2 * pad))
    y, c = runner.run(layers, to_blocked(x), cin)
    assert y.ndim == 4 and c == cout, "the sequence should end on the phase path, in plain layout"
    assert y.shape == ref.shape
    np.testing.assert_allclose(y.numpy(), ref, rtol=1e-4, atol=1e-4)


NORM_CASES = [(kind, relu, pad, residual)
              for kind in ("instance", "sample-bn", "eval-bn", "none")
              for relu, pad, residual in ((False, 0, False), (True, 1, False), (False, 0, True), (True, 3, True))
              if kind != "none" or not residual]  # a residual is only ever added by a norm


@pytest.mark.parametrize("norm_kind,relu,pad,residual", NORM_CASES)
def test_norm_matches_jittor(kernel_lib, norm_kind, relu, pad, residual):
    from jdfd.networks.blocks import SampleStatBatchNorm  # noqa: PLC0415

    c = 20
    x = _rand(2, c, 9, 8, seed=5, scale=3.0) + 1.0
    res = _rand(2, c, 9, 8, seed=6)
    layer = {"instance": nn.InstanceNorm2d(c, affine=True), "sample-bn": SampleStatBatchNorm(c),
             "eval-bn": nn.BatchNorm(c), "none": None}[norm_kind]
    if layer is not None:
        layer.weight.assign(_rand(c, seed=7))
        layer.bias.assign(_rand(c, seed=8))
        layer.eval()
    if norm_kind == "eval-bn":
        layer.running_mean.assign(_rand(c, seed=9))
        layer.running_var.assign(_rand(c, seed=10).abs() + 0.5)
    ref = layer(x) if layer is not None else x
    if relu:
        ref = nn.relu(ref)
    if residual:
        ref = ref + res
    if pad:
        ref = nn.ReflectionPad2d(pad)(ref)
    runner = BlockedRunner(kernel_lib)
    xb, rb = to_blocked(x), to_blocked(res)
    if layer is None:
        y = runner.pad(xb, c, pad, relu=relu)
    else:
        y = runner.norm(layer, xb, c, relu=relu, pad=pad, residual=rb if residual else None)
    np.testing.assert_allclose(from_blocked(y, c).numpy(), ref.numpy(), rtol=1e-4, atol=1e-4)
    assert np.all(y.numpy()[:, -1, :, :, c - (-(-c // BLOCK) - 1) * BLOCK:] == 0), "padding lanes must stay 0"


def test_kernels_check_their_inputs(kernel_lib):
    runner = BlockedRunner(kernel_lib)
    layer = nn.Conv(16, 16, 3)
    with pytest.raises(RuntimeError, match="dfd_conv"):
        # the geometry says 16 input channels, the map holds 32
        geom = (1, 16, 8, 8, 16, 3, 1, 0, 0, 0, 0)
        kernel_lib.ops.dfd_conv(to_blocked(_rand(1, 32, 8, 8)), runner._pack(("t",), geom, lambda: layer.weight),
                         layer.bias, *geom).sync()
    with pytest.raises(RuntimeError, match="dfd_norm"):
        kernel_lib.ops.dfd_norm(to_blocked(_rand(1, 32, 4, 4)), jt.ones((16,)), jt.zeros((16,)),
                         to_blocked(_rand(1, 32, 4, 4)), 16, 1, 0, 0, 0, 1e-5).sync()


# ---------------------------------------------------------------------------- FastDFD on the networks
@pytest.mark.parametrize("kernel_set", ["onednn", "jittor"])
def test_fast_stages_match_the_networks(kernel_set, tiny_model):
    from jdfd.fast import FastDFD  # noqa: PLC0415

    if kernel_set == "onednn" and kernels.load() is None:
        pytest.skip(kernels.unavailable_reason())
    fast = FastDFD(tiny_model.nets, kernels=kernel_set)
    assert fast.kernels == kernel_set
    nets = tiny_model.nets
    sketches = np.stack([tiny_model.prepare(np.full((512, 512), 255, np.uint8))] + [
        tiny_model.prepare(s) for s in (np.random.default_rng(i).integers(0, 256, (512, 512)).astype(np.uint8)
                                        for i in range(2))])
    codes = fast.encode(sketches)
    from jdfd import components  # noqa: PLC0415

    crops = components.crop_components(sketches, tiny_model.cfg.boxes())
    with jt.no_grad():
        ref = nets.encode({p: jt.array(components.normalise(c)[:, None]) for p, c in crops.items()})
        for p in PARTS:
            np.testing.assert_allclose(codes[p], ref[p].numpy(), rtol=1e-4, atol=1e-5)
        jcodes = {p: jt.array(v) for p, v in codes.items()}
        fmap_ref = nets.fm(jcodes).numpy()
        img_ref = nets.G(jt.array(fmap_ref)).numpy()
    np.testing.assert_allclose(fast.feature_map(codes), fmap_ref, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(fast.generator(fmap_ref), img_ref, rtol=1e-4, atol=1e-4)


def test_big_batches_run_in_chunks_with_the_same_results(tiny_model, monkeypatch):
    import jdfd.fast as fast_mod  # noqa: PLC0415

    fast = fast_mod.FastDFD(tiny_model.nets)
    rng = np.random.default_rng(0)
    codes = {p: rng.standard_normal((3, tiny_model.cfg.latent_dim)).astype(np.float32) for p in PARTS}
    whole = fast.feature_map(codes), fast.synthesize(codes)
    face_whole = fast.generator(whole[0])
    monkeypatch.setattr(fast_mod, "MAX_MAP_BYTES", 1)
    assert fast.chunk() == 1
    fmap = fast.feature_map(codes)
    np.testing.assert_allclose(fmap, whole[0], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(fast.generator(whole[0]), face_whole, rtol=1e-5, atol=1e-5)
    assert np.abs(fast.synthesize(codes).astype(int) - whole[1].astype(int)).max() <= 1


def test_deepfacedrawing_runs_on_the_kernels_by_default(tiny_model):
    from jdfd.pipeline import DeepFaceDrawing  # noqa: PLC0415

    if kernels.load() is None:
        assert tiny_model.engine is None
        pytest.skip(kernels.unavailable_reason())
    assert tiny_model.engine is not None and tiny_model.engine.kernels == "onednn"
    own = DeepFaceDrawing(tiny_model.cfg, tiny_model.nets, tiny_model.banks, "male", fast=False)
    assert own.engine is None
    sketch = np.full((512, 512), 255, np.uint8)
    sketch[200:320, 150:360:7] = 0
    for blend in (1.0, 0.0):
        a, b = own.generate(sketch, blend=blend).image, tiny_model.generate(sketch, blend=blend).image
        d = np.abs(a.astype(int) - b.astype(int))
        assert d.max() <= 2 and (d > 0).mean() < 0.01, (blend, d.max(), (d > 0).mean())


def test_transposed_convs_of_the_real_configurations_split_into_phases():
    from jdfd.model import DFDNetworks  # noqa: PLC0415

    for name in ("compact", "paper"):
        nets = DFDNetworks(config.get_config(name))
        convts = [m for m in nets.modules() if isinstance(m, nn.ConvTranspose)]
        assert convts and all(BlockedRunner.phases_apply(m) for m in convts), name


@pytest.mark.parametrize("size,copies", [(34, 1), (10, 2)])
def test_batch_sizes_share_a_packed_copy_when_the_layout_is_the_same(kernel_lib, monkeypatch, size, copies):
    # pre-transformed Winograd weights (allowed here: not the default): at 34×34 (a compact res block)
    # oneDNN picks one Winograd variant for batch 1 and 4, at 10×10 two; direct convolutions (no
    # Winograd on this CPU) have one layout for every batch
    import jdfd.kernels.blocked as blocked  # noqa: PLC0415

    monkeypatch.setattr(blocked, "WINOGRAD_PACK_MAX_BYTES", 8 * 2**20)
    if not _winograd(kernel_lib):
        copies = 1
    layer = nn.Conv(192, 192, 3) if size == 34 else nn.Conv(32, 32, 3)
    runner = BlockedRunner(kernel_lib)
    for n in (1, 4):
        x = _rand(n, layer.in_channels, size, size, seed=n)
        y, c = runner.conv(layer, to_blocked(x), layer.in_channels)
        np.testing.assert_allclose(from_blocked(y, c).numpy(), layer(x).numpy(), rtol=1e-4, atol=1e-3)
    assert len(runner._packed) == copies


def _unallocated(v) -> bool:
    """Whether a Var holds no data yet (a lazy expression): Jittor's debug_msg ends in its address, 0 if none."""
    return ",0)[" in v.debug_msg()


@pytest.mark.parametrize("case", ["direct", "winograd-plain-weights", "transposed", "winograd"])
def test_packed_layers_give_their_own_weights_back_exactly(kernel_lib, monkeypatch, case):
    """A layer whose packed weights only reorder its own holds a lazy unpacking instead (one copy in memory)."""
    import jdfd.kernels.blocked as blocked  # noqa: PLC0415

    # plain-weights Winograd is the default (WINOGRAD_PACK_MAX_BYTES = 0); pre-transformed where allowed
    monkeypatch.setattr(blocked, "WINOGRAD_PACK_MAX_BYTES", 0 if case == "winograd-plain-weights" else 8 * 2**20)
    layer = {"direct": nn.Conv(20, 24, 4, stride=2, padding=1), "transposed": nn.ConvTranspose(24, 8, 3, padding=1),
             "winograd-plain-weights": nn.Conv(32, 32, 3), "winograd": nn.Conv(32, 32, 3)}[case]
    x = _rand(2, layer.in_channels, 12, 12, seed=1)
    w0, ref = layer.weight.numpy().copy(), layer(x).numpy()
    runner, var = BlockedRunner(kernel_lib), layer.weight
    y, c = runner.conv(layer, to_blocked(x), layer.in_channels)
    np.testing.assert_allclose(from_blocked(y, c).numpy(), ref, rtol=1e-4, atol=1e-4)
    (geom,) = [g for (_, g) in runner._packed_for]
    transformed = case == "winograd" and _winograd(kernel_lib)  # Winograd's inference weights are transformed
    assert kernel_lib.dfd_conv_weights_reorderable(*geom) == (not transformed)
    assert _unallocated(layer.weight) == (not transformed)  # released: one copy resident, the packed one
    assert layer.weight is var  # the same Var (an optimiser or another holder sees the same weights)
    np.testing.assert_array_equal(layer.weight.numpy(), w0)  # read back: the same bits
    np.testing.assert_array_equal(layer(x).numpy(), ref)
    y2, _ = runner.conv(layer, to_blocked(x), layer.in_channels)  # the packed copy is still the one used
    np.testing.assert_array_equal(y2.numpy(), y.numpy())


@pytest.mark.parametrize("k,p,op", [(4, 1, 0), (3, 1, 1)])
def test_phase_split_transposed_convs_give_their_own_weights_back_exactly(kernel_lib, k, p, op):
    """The stacked phase sub-kernels replace the layer's own weights too (read back: the same bits)."""
    layer = nn.ConvTranspose(12, 20, k, stride=2, padding=p, output_padding=op)
    x = _rand(2, 12, 5, 6, seed=1)
    w0, ref = layer.weight.numpy().copy(), layer(x).numpy()
    runner, var = BlockedRunner(kernel_lib), layer.weight
    y, _ = runner.conv_phases(layer, to_blocked(x), 12)
    (geom,) = [g for (_, g) in runner._packed_for]
    assert _unallocated(layer.weight) == kernel_lib.dfd_conv_weights_reorderable(*geom)
    assert layer.weight is var
    np.testing.assert_array_equal(layer.weight.numpy(), w0)
    np.testing.assert_array_equal(layer(x).numpy(), ref)
    y2, _ = runner.conv_phases(layer, to_blocked(x), 12)  # packed once; the released weights are not re-read
    np.testing.assert_array_equal(y2.numpy(), y.numpy())


def test_big_winograd_layers_keep_one_plain_blocked_copy_for_every_batch(kernel_lib, monkeypatch):
    import jdfd.kernels.blocked as blocked  # noqa: PLC0415

    if not _winograd(kernel_lib):
        pytest.skip("oneDNN has no Winograd convolution on this CPU")
    monkeypatch.setattr(blocked, "WINOGRAD_PACK_MAX_BYTES", 0)
    layer = nn.Conv(32, 32, 3)  # at 10×10 the pre-transformed layout differs between batch 1 and 4 (see above)
    runner = BlockedRunner(kernel_lib)
    for n in (1, 4):
        x = _rand(n, 32, 10, 10, seed=n)
        y, c = runner.conv(layer, to_blocked(x), 32)
        np.testing.assert_allclose(from_blocked(y, c).numpy(), layer(x).numpy(), rtol=1e-4, atol=1e-3)
        assert "wino" in kernel_lib.dfd_conv_impl(n, 32, 10, 10, 32, 3, 1, 0, 0, 0, 2)
    (packed,) = runner._packed.values()
    assert packed.shape[0] == 32 * 32 * 9  # the layer's own size, not 4x


@pytest.mark.parametrize("impl,usable", [("jit:avx512_core", True), ("brg:avx512_core", True),
                                         ("ref:any", False), ("", False)])
def test_kernels_are_refused_where_onednn_has_only_reference_loops(impl, usable):
    """On an AVX2-only CPU oneDNN runs the 16-channel blocked layout in its reference loops
    ('ref:any'): a CI run there did not finish. Where the layout jdfd picks still has only those,
    the machine must get Jittor's own layers."""
    from jdfd.kernels import _reference_only  # noqa: PLC0415

    asked = []
    ops = SimpleNamespace(dfd_conv_impl=lambda *geom: asked.append(geom) or impl)
    reason = _reference_only(ops)
    assert (reason is None) == usable
    assert asked and asked[0][10] == 0  # a direct convolution: Winograd is missing on more CPUs
    if not usable:
        assert "reference kernels" in reason


@pytest.mark.parametrize("forced,want", [("", None), ("8", 8), ("16", 16)])
def test_the_block_follows_the_cpu_unless_forced(monkeypatch, forced, want):
    import jdfd.kernels as k  # noqa: PLC0415

    monkeypatch.setenv("JDFD_KERNEL_BLOCK", forced)
    for avx512, natural in ((True, 16), (False, 8)):
        monkeypatch.setattr(k, "_has_avx512", lambda a=avx512: a)
        assert k.block() == (want or natural)
    monkeypatch.setenv("JDFD_KERNEL_BLOCK", "4")
    with pytest.raises(ValueError, match="8 or 16"):
        k.block()


@pytest.mark.parametrize("cpuinfo,has", [("flags\t: fpu avx2 avx512f avx512bw\n", True),
                                         ("flags\t: fpu sse avx2 fma\n", False),
                                         ("Features\t: fp asimd\n", True)])  # no flags: the probe decides
def test_avx512_is_read_from_the_cpus_flags(monkeypatch, cpuinfo, has):
    import jdfd.kernels as k  # noqa: PLC0415

    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    monkeypatch.delenv("DNNL_MAX_CPU_ISA", raising=False)
    monkeypatch.setattr(k, "Path", lambda _: SimpleNamespace(read_text=lambda: cpuinfo))
    assert k._has_avx512() == has
    # oneDNN capped below AVX-512 has no AVX-512 kernels, whatever the CPU; capped at it or above, the CPU decides
    for var in ("ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA"):
        for cap, capped_has in (("avx2", False), ("SSE41", False), ("AVX512_CORE", has), ("ALL", has)):
            monkeypatch.setenv(var, cap)
            assert k._has_avx512() == capped_has, (var, cap)
        monkeypatch.delenv(var)


def test_per_call_buffers_are_64_byte_aligned(kernel_lib):
    """oneDNN's AVX-512 kernels write the reordered weight gradients with non-temporal 64-byte stores, which
    fault on an address that is not a multiple of 64; Jittor's allocator only promises 32 (small blocks here
    come 32 bytes off). A compact stage-I backward pass segfaulted on an AVX-512 Xeon; AVX2 CPUs never
    noticed, so this checks the buffers themselves, on any CPU."""
    for size in (100, 4000, 70000):
        raw, misaligned = map(int, kernel_lib.dfd_buffer_misaligned(size, 8).split())
        assert misaligned == 0, (size, raw)


def test_kernels_run_from_short_lived_threads(kernel_lib):
    """A web server calls the model from a new thread per request (under its lock). Primitives cached
    in one thread once used oneDNN's per-thread scratchpad after that thread had exited: a segfault
    on the second request. Run in a subprocess, so a crash fails this test instead of the session."""
    code = (
        "import threading\n"
        "from jdfd.runtime import jittor\n"
        "jt = jittor()\n"
        "from jdfd import kernels\n"
        "from jdfd.kernels.blocked import BlockedRunner, to_blocked\n"
        "runner = BlockedRunner(kernels.load())\n"
        "conv, norm = jt.nn.Conv(16, 16, 3), jt.nn.InstanceNorm2d(16)\n"
        "def work():\n"
        "    y, c = runner.conv(conv, to_blocked(jt.randn((15, 16, 20, 20))), 16)\n"
        "    runner.norm(norm, y, c, relu=True, pad=1).sync()\n"
        "for _ in range(8):\n"
        "    t = threading.Thread(target=work); t.start(); t.join()\n"
        "print('ok')\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and out.stdout.strip().endswith("ok"), out.stderr[-2000:]


def test_fast_depends_on_the_networks_not_on_the_pipeline():
    """pipeline → fast → networks/kernels: fast.py imports nothing from the pipeline."""
    import ast  # noqa: PLC0415
    from pathlib import Path  # noqa: PLC0415

    src = (Path(__file__).resolve().parent.parent / "jdfd" / "fast.py").read_text()
    imported = {n.module for n in ast.walk(ast.parse(src)) if isinstance(n, ast.ImportFrom)}
    imported |= {a.name for n in ast.walk(ast.parse(src)) if isinstance(n, ast.Import) for a in n.names}
    assert "jdfd.pipeline" not in imported and not any(m and m.startswith("jdfd.pipeline") for m in imported)


@pytest.mark.parametrize("cin,cout,k,stride,pad,size,winograd,plain", [
    (16, 32, 3, 1, 0, 12, False, False),   # a res-block conv after reflection padding
    (20, 24, 3, 1, 1, 9, False, False),    # channels that do not fill a block, zero padding
    (16, 32, 4, 2, 1, 12, False, False),   # an encoder's stride-2 conv
    (32, 32, 3, 1, 0, 14, True, False),    # Winograd
    (32, 32, 3, 1, 0, 14, (False, True, True), False),  # direct forward, Winograd backward (winograd_passes)
    (64, 48, 3, 1, 0, 10, (True, False, True), False),  # and the other mixes
    (1, 16, 4, 2, 1, 16, False, True),     # the first layer, on the plain sketch
])
def test_blocked_conv_gradients_match_jittors(kernel_lib, cin, cout, k, stride, pad, size, winograd, plain):
    from jdfd.kernels.training import blocked_conv  # noqa: PLC0415

    layer = nn.Conv(cin, cout, k, stride=stride, padding=pad)
    x = _rand(2, cin, size, size, seed=1)
    y = layer(x)
    gy = _rand(*y.shape, seed=2)
    targets = [layer.weight, layer.bias] + ([] if plain else [x])
    want = jt.grad((y * gy).sum(), targets)
    y2 = from_blocked(blocked_conv(kernel_lib, layer, x if plain else to_blocked(x), winograd), cout)
    got = jt.grad((y2 * gy).sum(), targets)
    tol = 1e-4 if winograd else 1e-6  # direct: oneDNN's same kernels as Jittor's mkl_conv*, to rounding
    for a, b in zip([y, *want], [y2, *got]):
        a, b = a.numpy(), b.numpy()
        assert np.abs(a - b).max() <= tol * np.abs(a).max(), (np.abs(a - b).max(), np.abs(a).max())


def test_winograd_passes_pick_direct_for_small_work_and_the_forward_packs_plain_blocked_weights(kernel_lib):
    """Direct where Winograd's transforms outweigh its saving (16 channels, small maps); and the training
    forward's Winograd takes plain blocked weights (algo 2): oneDNN's reorder into its pre-transformed
    layout (algo 1) cost more than the convolution on every call (175 ms against 28 for the paper
    generator's 896-channel residual convolutions)."""
    from jdfd.kernels.training import _BlockedConv, winograd_passes  # noqa: PLC0415

    paper_res = (1, 896, 34, 34, 896, 3, 1, 0, 0, 0, 0, 0)
    assert winograd_passes(paper_res) == (True, True, True)
    assert winograd_passes((2, 16, 98, 98, 16, 3, 1, 0, 0, 0, 0, 0)) == (False, False, False)
    assert winograd_passes((2, 64, 10, 10, 64, 3, 1, 0, 0, 0, 0, 0)) == (False, False, False)
    conv = _BlockedConv(kernel_lib.ops, paper_res, (True, True, True))
    assert (conv.fwd[10], conv.data[10], conv.weights[10]) == (2, 1, 1)


@pytest.mark.parametrize("cin,cout,k,size", [
    (20, 1, 5, 12),   # a stage-I image decoder's last layer (16 → 1, 5×5): 4×4 phases where a block has 16
    (24, 3, 7, 10),   # the generator's last layer (→ 3, 7×7): 2×2 phases, 12 lanes (16-channel blocks only)
])
def test_conv_on_output_phases_matches_jittors_both_ways(kernel_lib, cin, cout, k, size):
    """A convolution with fewer outputs than a block, as one convolution of the input's phases into the output's:
    output and the input's, weights' and bias's gradients as Jittor's own layer gives them."""
    from jdfd.kernels.training import _phase_factor, conv_on_output_phases  # noqa: PLC0415

    layer = nn.Conv(cin, cout, k)
    x = _rand(2, cin, size, size, seed=1)
    f = _phase_factor(layer, to_blocked(x))
    if not f:
        assert BLOCK == 8 and cout == 3, "only 12 phase lanes do not fit a block of 8"
        return
    y = layer(x)
    gy = _rand(*y.shape, seed=2)
    targets = [layer.weight, layer.bias, x]
    want = jt.grad((y * gy).sum(), targets)
    y2 = conv_on_output_phases(kernel_lib, layer, to_blocked(x), f)
    got = jt.grad((y2 * gy).sum(), targets)
    for a, b in zip([y, *want], [y2, *got]):
        a, b = a.numpy(), b.numpy()
        assert a.shape == b.shape
        assert np.abs(a - b).max() <= 1e-5 * np.abs(a).max(), (np.abs(a - b).max(), np.abs(a).max())


def _reflect_pad(x, p: int):
    """ReflectionPad2d on a blocked map (H and W are dims 2 and 3) in Jittor's own operators (the
    training path's before ``dfd_pad``): ``reindex`` forward, ``reindex_reduce`` backward."""
    n, cb, h, w, lanes = x.shape

    def idx(i: str, size: int) -> str:
        return f"{i}<{p} ? {p}-{i} : {i} > {size - 1 + p} ? {2 * (size - 1) + p}-{i} : {i}-{p}"

    return x.reindex([n, cb, h + 2 * p, w + 2 * p, lanes], ["i0", "i1", idx("i2", h), idx("i3", w), "i4"])


@pytest.mark.parametrize("p,h,w", [(1, 7, 9), (3, 4, 8), (2, 3, 3)])  # (3, 4, 8): both borders reach a pixel
def test_reflection_padding_kernel_is_jittors_both_ways(kernel_lib, p, h, w):
    """``dfd_pad`` (the training path's ReflectionPad2d) against the same padding in Jittor's own
    operators (``_reflect_pad``): the padded map exactly, and its gradient (sums of up to four
    padded pixels per pixel, in reindex_reduce's order) to float rounding."""
    from jdfd.kernels.training import _BlockedPad  # noqa: PLC0415

    x = _rand(2, 2, h, w, BLOCK, seed=4)
    up = _rand(2, 2, h + 2 * p, w + 2 * p, BLOCK, seed=5)
    want, got = _reflect_pad(x, p), _BlockedPad(kernel_lib.ops, p)(x)
    np.testing.assert_array_equal(got.numpy(), want.numpy())
    g_want, g_got = jt.grad((want * up).sum(), x), jt.grad((got * up).sum(), x)
    np.testing.assert_allclose(g_got.numpy(), g_want.numpy(), rtol=1e-6, atol=1e-6)
    # and numpy's reflect padding, the same map
    xn = x.numpy()
    np.testing.assert_array_equal(got.numpy(), np.pad(xn, [(0, 0), (0, 0), (p, p), (p, p), (0, 0)], mode="reflect"))
    with pytest.raises(RuntimeError, match="larger"):
        kernel_lib.ops.dfd_pad(_rand(1, 1, p, p, BLOCK), p, 0).sync()


def _norm_truth(x, up, gamma, beta, per_sample: bool, slope: float, eps: float) -> tuple:
    """A norm and (leaky) ReLU in float64 numpy: the output, the gradients of x, gamma and beta for the
    upstream gradient ``up``, and the mean and biased variance (per channel, averaged over the samples)."""
    x, up = x.astype(np.float64), up.astype(np.float64)
    dims = (2, 3) if per_sample else (0, 2, 3)
    mean, var = x.mean(dims, keepdims=True), x.var(dims, keepdims=True)
    g, b = gamma.astype(np.float64)[None, :, None, None], beta.astype(np.float64)[None, :, None, None]
    xh = (x - mean) / np.sqrt(var + eps)
    pre = xh * g + b
    dp = np.where(pre > 0, up, up * slope)
    dx = g / np.sqrt(var + eps) * (dp - dp.mean(dims, keepdims=True) - xh * (dp * xh).mean(dims, keepdims=True))
    flat = lambda v: v.mean(0).reshape(-1) if per_sample else v.reshape(-1)  # noqa: E731
    return (np.where(pre > 0, pre, pre * slope), dx, (dp * xh).sum((0, 2, 3)), dp.sum((0, 2, 3)),
            flat(mean), flat(var))


@pytest.mark.parametrize("kind,slope,offset", [("instance", 0.0, 0.0), ("instance-plain", 0.2, 0.0),
                                               ("sample-bn", 1.0, 0.0), ("sample-bn", 0.0, 8.0), ("bn", 0.0, 0.0),
                                               ("bn", 1.0, 8.0)])
def test_fused_training_norm_is_exact_where_jittors_own_loses_precision(kernel_lib, kind, slope, offset):
    """``dfd_norm_train`` / ``dfd_norm_grad`` (a norm and the (leaky) ReLU after it, forward and backward)
    against float64 arithmetic: output, gradients of the input, gamma and beta for a fixed random upstream
    gradient, and the running statistics; 20 channels, so one block is partly padding.

    Where the maps' mean is small against their spread (offset 0) the layers' own Jittor operators agree
    too. Where it is large (offset 8, spread 1), their E[x²] - E[x]² from float32 sums loses most of the
    variance's digits: on this map their input gradient was off by 30 % of its largest value, gamma's by
    0.5 %; the kernel's (double sums) stayed within 4e-6."""
    from jdfd.kernels.training import _fused_norm  # noqa: PLC0415
    from jdfd.networks.blocks import SampleStatBatchNorm  # noqa: PLC0415

    c, n, h, w = 20, 3, 48, 40
    layer = {"instance": nn.InstanceNorm2d(c, affine=True), "instance-plain": nn.InstanceNorm2d(c, affine=False),
             "sample-bn": SampleStatBatchNorm(c, momentum=0.9), "bn": nn.BatchNorm(c, momentum=0.9)}[kind]
    params = [layer.weight, layer.bias] if isinstance(layer.weight, jt.Var) else []
    for i, p in enumerate(params):
        p.assign(_rand(c, seed=7 + i))
    x, up = _rand(n, c, h, w, seed=5, scale=1.0 if offset else 3.0) + offset, _rand(n, c, h, w, seed=6)
    stats = [v for k, v in layer.state_dict().items() if "running" in k]
    results = []
    for run in (lambda: nn.leaky_relu(layer(x), slope) if slope != 1.0 else layer(x),
                lambda: from_blocked(_fused_norm(kernel_lib, layer, to_blocked(x), c, slope), c)):
        for s in stats:
            s.assign(jt.zeros(s.shape))  # momentum 0.9 from 0: 0.9 × the batch's statistic
        y = run()
        grads = jt.grad((y * up).sum(), [x] + params)
        results.append([y.numpy()] + [g.numpy() for g in grads] + [s.numpy() / 0.9 for s in stats])
    gamma, beta = (params[0].numpy(), params[1].numpy()) if params else (np.ones(c), np.zeros(c))
    truth = _norm_truth(x.numpy(), up.numpy(), gamma, beta, kind != "bn", slope, layer.eps)
    truth = [truth[i] for i in ([0, 1] + ([2, 3] if params else []) + ([4, 5] if stats else []))]
    own, fused = results
    assert len(fused) == len(truth)
    for t, f, o in zip(truth, fused, own):
        tol = 1e-5 * max(1.0, float(np.abs(t).max()))
        assert np.abs(f - t).max() <= tol, (kind, float(np.abs(f - t).max()), tol)
        if not offset:
            assert np.abs(o - t).max() <= 10 * tol
    y = _fused_norm(kernel_lib, layer, to_blocked(x), c, slope).numpy()
    assert np.all(y[:, -1, :, :, c - (-(-c // BLOCK) - 1) * BLOCK:] == 0), "padding lanes must stay 0"


def _grads_agree(names: list, want: list, got: list, spread: list | None = None) -> None:
    """Gradients within 1e-4 of their own largest value, or within 3x ``spread`` (how far each moves when
    the input moves by one rounding step). A conv bias just before a norm has a gradient of zero in exact
    arithmetic: both sides are rounding noise (~1e-6 of the largest gradient) and are held to 1e-4 of the
    largest gradient."""
    scale = max(float(np.abs(g).max()) for g in want)
    for i, (k, a, b) in enumerate(zip(names, want, got)):
        err, size = float(np.abs(a - b).max()), float(np.abs(a).max())
        tol = 1e-4 * scale if size <= 1e-4 * scale else 1e-4 * size
        assert err <= max(tol, 3 * spread[i] if spread else 0.0), (k, err, size, scale)


def _runner_check(named, stats, runs, seed):
    """Output, parameter gradients (for a fixed random upstream gradient) and running statistics of
    ``runs`` = (the layers' own, the training runner's, each again on an input nudged by one rounding
    step). The nudge measures each gradient's own sensitivity: where a ReLU's input lies within rounding
    of 0, the mask (and a norm bias's gradient, then everything upstream of it) flips with the last bit,
    in both implementations. In compact's decoder one element of 590K does, moving some gradients by 7e-4
    of their size; the fused norm was checked to flip it exactly where float64 arithmetic changes sign."""
    params = [p for _, p in named]
    start = [s.numpy().copy() for s in stats]
    out = []
    for run in runs:
        for s, v in zip(stats, start):
            s.update(jt.array(v))
        y = run()
        grads = jt.grad((y * _rand(*y.shape, seed=seed)).sum(), params)
        out.append((y.numpy(), [g.numpy() for g in grads], [s.numpy().copy() for s in stats]))
    (y0, g0, s0), (y1, g1, s1), (_, g2, _), (_, g3, _) = out
    assert np.abs(y0 - y1).max() <= 1e-5 * np.abs(y0).max()
    spread = [float(max(np.abs(a - c).max(), np.abs(b - d).max())) for a, b, c, d in zip(g0, g1, g2, g3)]
    _grads_agree([k for k, _ in named], g0, g1, spread)
    for a, b in zip(s0, s1):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-5)  # float32 sums of ~1e4 pixels


@pytest.mark.parametrize("name", ["tiny", "compact"])
def test_training_runner_gives_the_networks_own_gradients(kernel_lib, name, float64_norms):
    """A CE encoder (BatchNorm over the batch) and an FM decoder (per-sample statistics) on the
    blocked training path: outputs, parameter gradients and running statistics as the layers' own,
    whose norms run in float64 (the ``float64_norms`` fixture)."""
    from jdfd.kernels.training import TrainingRunner  # noqa: PLC0415
    from jdfd.networks import define_encoder, define_feature_decoder  # noqa: PLC0415

    cfg = config.get_config(name)
    jt.set_global_seed(0)
    enc, dec = define_encoder(cfg, "mouth"), define_feature_decoder(cfg, "mouth")
    runner = TrainingRunner(kernel_lib)
    n = cfg.boxes()["mouth"][2]
    x, z = _rand(2, 1, n, n, seed=1), _rand(2, cfg.latent("mouth"), seed=3)
    nx, nz = x * (1 + 2**-22), z * (1 + 2**-22)
    for m, runs in ((enc, (lambda: enc(x), lambda: runner.encoder(enc, x),
                           lambda: enc(nx), lambda: runner.encoder(enc, nx))),
                    (dec, (lambda: dec(z), lambda: runner.decoder(dec, z),
                           lambda: dec(nz), lambda: runner.decoder(dec, nz)))):
        named = [(k, p) for k, p in m.named_parameters() if not p.is_stop_grad()]
        stats = [v for k, v in m.state_dict().items() if "running" in k]
        _runner_check(named, stats, runs, seed=2)


@pytest.mark.parametrize("cin,cout,k,pad,out_pad,size", [
    (24, 8, 4, 1, 0, 6),   # an FM decoder's 4x4 stride-2 upsampling
    (40, 20, 3, 1, 1, 5),  # the generator's 3x3 with output padding; channels that do not fill a block
])
def test_blocked_conv_transpose_gradients_match_jittors(kernel_lib, cin, cout, k, pad, out_pad, size):
    from jdfd.kernels.training import blocked_conv_transpose  # noqa: PLC0415

    layer = nn.ConvTranspose(cin, cout, k, stride=2, padding=pad, output_padding=out_pad)
    x = _rand(2, cin, size, size, seed=1)
    y = layer(x)
    gy = _rand(*y.shape, seed=2)
    want = jt.grad((y * gy).sum(), [x, layer.weight, layer.bias])
    y2 = from_blocked(blocked_conv_transpose(kernel_lib, layer, to_blocked(x)), cout)
    got = jt.grad((y2 * gy).sum(), [x, layer.weight, layer.bias])
    for a, b in zip([y, *want], [y2, *got]):
        a, b = a.numpy(), b.numpy()
        assert a.shape == b.shape and np.abs(a - b).max() <= 1e-5 * np.abs(a).max(), np.abs(a - b).max()


def _plain(maps: list) -> list:
    """Maps left blocked (whole blocks of channels) as N×C×H×W."""
    return [from_blocked(m, m.shape[1] * BLOCK) if m.ndim == 5 else m for m in maps]


@pytest.mark.parametrize("net", ["G", "D", "vgg"])
def test_training_runner_runs_stage2s_networks_with_their_own_gradients(kernel_lib, net, float64_norms):
    """The generator (InstanceNorm, transposed convs), the multi-scale discriminator and the frozen
    VGG16 on the blocked training path: outputs, and gradients for a fixed random upstream gradient
    (parameters, and the input, through which stage II's FM and G get theirs). The layers' own norms
    run in float64 (the ``float64_norms`` fixture)."""
    from jdfd.kernels.training import TrainingRunner  # noqa: PLC0415
    from jdfd.networks import define_D, define_G  # noqa: PLC0415
    from jdfd.training.perceptual import VGG16Features  # noqa: PLC0415

    cfg = config.get_config("tiny")
    jt.set_global_seed(0)
    runner = TrainingRunner(kernel_lib)
    if net == "G":
        m, x = define_G(cfg), _rand(2, cfg.feature_channels, 32, 32, seed=1)
        runs = (lambda v: [m(v)]), (lambda v: [runner.generator(m, v)])
    elif net == "D":
        m, x = define_D(cfg), _rand(2, 4, 32, 32, seed=1)
        runs = (lambda v: [f for s in m(v) for f in s]), (lambda v: [f for s in runner.discriminator(m, v) for f in s])
    else:
        m, x = VGG16Features(taps=("relu1_2", "relu3_3")), _rand(2, 3, 32, 32, seed=1, scale=0.5)
        runs = m, (lambda v: runner.vgg(m, v))
    named = [(k, p) for k, p in m.named_parameters() if not p.is_stop_grad()]
    params = [p for _, p in named]
    assert params or net == "vgg"
    results = []
    for run in runs:
        outs = _plain(run(x))
        loss = sum((o * _rand(*o.shape, seed=10 + i)).sum() for i, o in enumerate(outs))
        results.append(([o.numpy() for o in outs], [g.numpy() for g in jt.grad(loss, params + [x])]))
    (o0, g0), (o1, g1) = results
    for a, b in zip(o0, o1):
        assert a.shape == b.shape and np.abs(a - b).max() <= 1e-4 * np.abs(a).max(), np.abs(a - b).max()
    _grads_agree([k for k, _ in named] + ["input"], g0, g1)


@pytest.mark.parametrize("weight_decay,chunk_bytes", [(0.0, None), (0.01, 1024)])
def test_fused_adam_follows_jittors_adam(kernel_lib, weight_decay, chunk_bytes, monkeypatch):
    from jdfd.training import optim  # noqa: PLC0415
    from jdfd.training.optim import FusedAdam  # noqa: PLC0415

    if chunk_bytes:  # one pass per few tensors (the first alone), as the big models' weights run
        monkeypatch.setattr(optim, "ADAM_CHUNK_BYTES", chunk_bytes)
    shapes = [(40000,), (3, 5), (7, 16, 3, 3), (1,)]  # the first spans three of the op's 16K chunks

    def run(opt_cls, **kw):
        params = [_rand(*s, seed=i) for i, s in enumerate(shapes)]
        frozen = _rand(4, seed=9).stop_grad()  # a frozen tensor is skipped, as by jt.nn.Adam
        opt = opt_cls(params + [frozen], 1e-2, betas=(0.5, 0.999), weight_decay=weight_decay, **kw)
        for step in range(3):
            targets = [_rand(*s, seed=10 * step + i) for i, s in enumerate(shapes)]
            opt.lr = 1e-2 * (1 - 0.2 * step)  # the Trainer changes lr between steps
            opt.step(sum(((p - t) ** 2 * (1 + i)).sum() for i, (p, t) in enumerate(zip(params, targets))))
        m = [pg_m.numpy() for pg_m in opt.param_groups[0]["m"][:len(shapes)]]
        v = [pg_v.numpy() for pg_v in opt.param_groups[0]["values"][:len(shapes)]]
        return [p.numpy() for p in params], m, v, frozen.numpy(), opt.n_step

    fused, ref = run(FusedAdam, ops=kernel_lib.ops), run(jt.nn.Adam)
    assert fused[4] == ref[4] == 3
    np.testing.assert_array_equal(fused[3], ref[3])
    for got, want in zip(fused[:3], ref[:3]):
        for a, b in zip(got, want):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6 * np.abs(b).max())
    # and the parameters moved (a step that did nothing would pass the comparison above only if Jittor's did too)
    start = _rand(*shapes[0], seed=0).numpy()
    assert np.abs(fused[0][0] - start).mean() > 1e-3


def test_adam_passes_cover_every_tensor_once_in_order():
    from jdfd.training.optim import _chunks  # noqa: PLC0415

    assert _chunks([4, 5, 6, 7, 8], [10, 10, 40, 5, 5], 20) == [[4, 5], [6], [7, 8]]
    assert _chunks([1, 2], [5, 5], 10) == [[1, 2]]
    assert _chunks([], [], 10) == []
