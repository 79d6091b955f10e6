import pytest

from jdfd import config


def test_paper_boxes_are_the_papers():
    cfg = config.paper()
    assert cfg.boxes() == {"eye1": (108, 156, 128), "eye2": (255, 156, 128), "nose": (182, 232, 160),
                           "mouth": (169, 301, 192), "remainder": (0, 0, 512)}
    assert cfg.nose_crop() == 36
    assert cfg.latent_hw("eye1") == 4 and cfg.latent_hw("remainder") == 16


def test_compact_boxes_scale_with_image_size():
    cfg = config.compact()
    assert cfg.boxes()["mouth"] == (84, 150, 96) or cfg.boxes()["mouth"][2] == 96
    assert cfg.boxes()["nose"][2] == 80 and cfg.nose_crop() == 18


def test_bad_config_is_rejected():
    with pytest.raises(ValueError, match="upsample"):
        config.ModelConfig(encoder_channels=[8, 16], image_decoder_channels=[16, 8, 8, 8])
    with pytest.raises(ValueError, match="not divisible"):
        config.ModelConfig(image_size=100, encoder_channels=[8], image_decoder_channels=[8, 8],
                           feature_decoder_channels=[8, 8], n_downsample=1)
    with pytest.raises(ValueError, match="unknown model config keys"):
        config.ModelConfig.from_dict({"bogus": 1})


def test_config_json_round_trip(tmp_path):
    cfg = config.compact()
    cfg.save(tmp_path / "c.json")
    assert config.get_config(tmp_path / "c.json") == cfg
    assert config.get_config("paper") == config.paper()
    with pytest.raises(FileNotFoundError):
        config.get_config("nope")


def test_per_part_latent_sizes():
    cfg = config.compact()
    assert cfg.latent("remainder") == 256 and cfg.latent("eye1") == cfg.latent_dim == 128
    assert config.paper().latent("remainder") == 512  # the authors' shapes stay as they are
    assert config.get_config("compact") == config.ModelConfig.from_dict(cfg.to_dict())
    with pytest.raises(ValueError, match="unknown parts"):
        config.ModelConfig(latent_dims={"hair": 64})
