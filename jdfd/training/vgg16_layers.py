"""VGG16's layer table, taps and input convention, without Jittor (the PyTorch twin builds on it too)."""

from __future__ import annotations

VGG16_LAYERS: tuple[tuple[str, int, int] | str, ...] = (
    ("conv1_1", 3, 64), ("conv1_2", 64, 64), "pool",
    ("conv2_1", 64, 128), ("conv2_2", 128, 128), "pool",
    ("conv3_1", 128, 256), ("conv3_2", 256, 256), ("conv3_3", 256, 256), "pool",
    ("conv4_1", 256, 512), ("conv4_2", 512, 512), ("conv4_3", 512, 512), "pool",
    ("conv5_1", 512, 512), ("conv5_2", 512, 512), ("conv5_3", 512, 512), "pool",
)
VGG16_CONVS: tuple[tuple[str, int, int], ...] = tuple(layer for layer in VGG16_LAYERS if layer != "pool")

#: Feature taps (after the last ReLU of each block), one per pix2pixHD loss weight.
DEFAULT_TAPS: tuple[str, ...] = ("relu1_2", "relu2_2", "relu3_3", "relu4_3", "relu5_3")
#: pix2pixHD ``VGGLoss`` weights: deep, semantic layers count most.
DEFAULT_LAYER_WEIGHTS: tuple[float, ...] = (1.0 / 32, 1.0 / 16, 1.0 / 8, 1.0 / 4, 1.0)

#: Caffe/Keras VGG16 preprocessing: per-channel mean of ImageNet in BGR order, 0-255 scale.
BGR_MEAN: tuple[float, float, float] = (103.939, 116.779, 123.68)
