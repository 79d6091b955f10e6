"""The paper's boxes, one module each: CE (:mod:`.ce`), FM (:mod:`.fm`), IS (:mod:`.generator`),
and the training-only discriminator (:mod:`.discriminator`). ``define_*`` build them from a config."""

from __future__ import annotations

from jdfd.config import ModelConfig
from jdfd.networks.ce import ComponentEncoder, ImageDecoder
from jdfd.networks.discriminator import MultiscaleDiscriminator
from jdfd.networks.fm import FeatureDecoder, FeatureMapping
from jdfd.networks.generator import GlobalGenerator


def define_encoder(cfg: ModelConfig, part: str) -> ComponentEncoder:
    return ComponentEncoder(cfg.boxes()[part][2], cfg.encoder_channels, cfg.latent(part))


def define_image_decoder(cfg: ModelConfig, part: str) -> ImageDecoder:
    return ImageDecoder(cfg.boxes()[part][2], cfg.image_decoder_channels, cfg.latent(part))


def define_feature_decoder(cfg: ModelConfig, part: str) -> FeatureDecoder:
    return FeatureDecoder(cfg.boxes()[part][2], cfg.feature_decoder_channels, cfg.latent(part),
                          cfg.feature_channels, cfg.fm_norm_stats)


def define_G(cfg: ModelConfig) -> GlobalGenerator:
    return GlobalGenerator(cfg.feature_channels, cfg.output_channels, cfg.ngf, cfg.n_downsample, cfg.n_blocks)


def define_D(cfg: ModelConfig, in_channels: int | None = None) -> MultiscaleDiscriminator:
    # pix2pixHD conditions D on the input: here the 1-channel sketch + RGB image
    return MultiscaleDiscriminator(in_channels or 1 + cfg.output_channels, cfg.ndf, cfg.n_layers_d, cfg.num_d)


__all__ = [
    "ComponentEncoder", "ImageDecoder", "FeatureDecoder", "FeatureMapping", "GlobalGenerator",
    "MultiscaleDiscriminator", "define_encoder", "define_image_decoder", "define_feature_decoder", "define_G",
    "define_D",
]
