"""Stage-II objectives (pix2pixHD): LSGAN, discriminator feature matching, L1."""

from __future__ import annotations

from jdfd.runtime import jittor

jt = jittor()


def lsgan(preds: list[list], real: bool):
    """Least-squares GAN loss over every scale's final map, averaged over scales."""
    target = 1.0 if real else 0.0
    total = 0.0
    for scale in preds:
        total = total + ((scale[-1] - target) ** 2).mean()
    return total / len(preds)


def feature_matching(fake: list[list], real: list[list], n_layers: int):
    """L1 between D's intermediate maps on fake and (detached) real, pix2pixHD's weighting."""
    w = 4.0 / (n_layers + 1) / len(fake)
    total = 0.0
    for f_scale, r_scale in zip(fake, real):
        for f, r in zip(f_scale[:-1], r_scale[:-1]):
            total = total + (f - r.detach()).abs().mean() * w
    return total


def l1(a, b):
    return (a - b).abs().mean()


def mse(a, b):
    return ((a - b) ** 2).mean()
