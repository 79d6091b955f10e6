import json

import numpy as np
import pytest
from conftest import MANIFEST

from jdfd import config
from jdfd.config import PARTS, authors_part_name
from jdfd.networks import define_encoder, define_feature_decoder, define_G, define_image_decoder
from jdfd.networks.blocks import SampleStatBatchNorm
from jdfd.networks.fm import assemble
from jdfd.runtime import jittor

jt = jittor()


def _shapes(net) -> dict:
    return {k: list(v.shape) for k, v in net.state_dict().items()}


@pytest.mark.skipif(not MANIFEST.exists(), reason="../shared/reference is not here")
def test_paper_networks_match_the_authors_manifest():
    manifest = json.loads(MANIFEST.read_text())
    cfg = config.paper()
    built = {"Combine/latest_net_G.pkl": define_G(cfg)}
    for part in PARTS:
        a = authors_part_name(part)
        built[f"AE_whole/latest_net_encoder_{a}.pkl"] = define_encoder(cfg, part)
        built[f"AE_whole/latest_net_decoder_{a}_image.pkl"] = define_image_decoder(cfg, part)
        built[f"Combine/latest_net_DE_{a}.pkl"] = define_feature_decoder(cfg, part)
    assert set(built) == set(manifest)
    for name, net in built.items():
        assert _shapes(net) == manifest[name], name


def test_tiny_shapes(tiny_cfg):
    boxes = tiny_cfg.boxes()
    for part in PARTS:
        n = boxes[part][2]
        z = define_encoder(tiny_cfg, part)(jt.randn(2, 1, n, n))
        assert z.shape == [2, tiny_cfg.latent_dim]
        assert define_image_decoder(tiny_cfg, part)(z).shape == [2, 1, n, n]
        assert define_feature_decoder(tiny_cfg, part)(z).shape == [2, tiny_cfg.feature_channels, n, n]
    g = define_G(tiny_cfg)
    s = tiny_cfg.image_size
    out = g(jt.randn(1, tiny_cfg.feature_channels, s, s)).numpy()
    assert out.shape == (1, 3, s, s) and np.abs(out).max() <= 1.0


def test_sample_stat_norm_equals_batchnorm_in_training_mode_for_one_sketch():
    rng = np.random.default_rng(1)
    x = jt.array(rng.normal(2.0, 3.0, size=(1, 5, 6, 6)).astype(np.float32))
    ref = jt.nn.BatchNorm(5, momentum=0.9)
    mine = SampleStatBatchNorm(5, momentum=0.9)
    w, b = rng.normal(size=5).astype(np.float32), rng.normal(size=5).astype(np.float32)
    for m in (ref, mine):
        m.weight.update(w)
        m.bias.update(b)
    ref.train()
    mine.eval()  # the authors' inference: BatchNorm never switched to eval
    np.testing.assert_allclose(mine(x).numpy(), ref(x).numpy(), rtol=1e-5, atol=1e-5)


def test_sample_stat_norm_is_batch_independent():
    rng = np.random.default_rng(2)
    a = rng.normal(size=(1, 3, 4, 4)).astype(np.float32)
    b = rng.normal(5, 2, size=(1, 3, 4, 4)).astype(np.float32)
    m = SampleStatBatchNorm(3)
    alone = m(jt.array(a)).numpy()
    together = m(jt.array(np.concatenate([a, b]))).numpy()[:1]
    np.testing.assert_allclose(alone, together, rtol=1e-5, atol=1e-5)


def test_assemble_overwrites_in_the_papers_order():
    cfg = config.paper()
    boxes = cfg.boxes()
    maps = {p: jt.full((1, 1, boxes[p][2], boxes[p][2]), float(i + 1)) for i, p in enumerate(PARTS)}
    face = assemble(maps, boxes, cfg.nose_crop()).numpy()[0, 0]
    code = {p: i + 1 for i, p in enumerate(PARTS)}
    assert face[0, 0] == code["remainder"]
    assert face[156 + 5, 108 + 5] == code["eye1"]
    assert face[156 + 5, 255 + 5] == code["eye2"]
    # the nose's bottom 36 rows are not pasted: rows 356–391 show what lies beneath
    assert face[290, 262] == code["nose"]  # below the eyes, above the mouth
    assert face[232 + 160 - 36 - 1, 182 + 80] == code["nose"]
    assert face[232 + 160 - 36, 182 + 80] == code["mouth"]  # inside the mouth box (y ≥ 301)
    assert face[232 + 160 - 1, 182 + 2] == code["mouth"]
    # eyes are pasted after the nose: the overlap of nose and eye2 boxes is eye2's
    assert face[240, 300] == code["eye2"]
    # patches are overwritten, not added or multiplied
    assert set(np.unique(face)) <= set(code.values())


def test_assemble_passes_gradients_to_every_decoder():
    cfg = config.tiny()
    boxes = cfg.boxes()
    maps = {p: jt.ones((1, 2, boxes[p][2], boxes[p][2])) for p in PARTS}
    loss = assemble(dict(maps), boxes, cfg.nose_crop()).sum()
    grads = jt.grad(loss, [maps[p] for p in PARTS])
    for p, g in zip(PARTS, grads):
        assert g.numpy().sum() > 0, p
