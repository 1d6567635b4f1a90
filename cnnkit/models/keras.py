"""Whole networks of chapter 4 in Keras: the Fashion-MNIST CNN and ResNets built from
``cnnkit.blocks.keras`` (``cnnkit.models.torch``: the same networks in PyTorch). The builders take
the input shape (height, width, channels); the models end with a softmax.
"""

from __future__ import annotations

import keras
from keras import layers

from cnnkit.blocks.keras import BottleneckUnit, ResidualUnit, batch_norm
from cnnkit.models import resnet_units

__all__ = ["fashion_mnist_cnn", "resnet", "resnet34", "resnet50"]


def fashion_mnist_cnn(num_classes: int = 10, input_shape=(28, 28, 1)) -> keras.Sequential:
    """The chapter's CNN: conv 64 7×7, then two pairs of 3×3 convs (128, 256), a pool after each
    stage, and a dense top (128, 64) with 50 % dropout. 1,413,834 parameters on 28×28×1.
    """

    def conv(filters, size=3):
        return layers.Conv2D(filters, size, padding="same", activation="relu")

    return keras.Sequential(
        [
            keras.Input(shape=input_shape),
            conv(64, 7),
            layers.MaxPooling2D(2),
            conv(128),
            conv(128),
            layers.MaxPooling2D(2),
            conv(256),
            conv(256),
            layers.MaxPooling2D(2),
            layers.Flatten(),
            layers.Dense(128, activation="relu"),
            layers.Dropout(0.5),
            layers.Dense(64, activation="relu"),
            layers.Dropout(0.5),
            layers.Dense(num_classes, activation="softmax"),
        ],
        name="fashion_mnist_cnn",
    )


def resnet(
    stage_sizes,
    bottleneck: bool = False,
    num_classes: int = 1000,
    input_shape=(224, 224, 3),
    name="resnet",
) -> keras.Sequential:
    """A ResNet: stem (conv 64 7×7 stride 2, BN, ReLU, max pool 3×3 stride 2), then
    ``stage_sizes[i]`` units of ``cnnkit.models.STAGE_FILTERS[i]`` filters, stride 2 whenever the
    filter count changes; global average pooling and a dense softmax head.
    """
    units = resnet_units(stage_sizes)
    unit = BottleneckUnit if bottleneck else ResidualUnit
    model = keras.Sequential(name=name)
    model.add(keras.Input(shape=input_shape))
    model.add(layers.Conv2D(64, 7, strides=2, padding="same", use_bias=False))
    model.add(batch_norm())
    model.add(layers.ReLU())
    model.add(layers.MaxPooling2D(3, strides=2, padding="same"))
    for filters, strides in units:
        model.add(unit(filters, strides=strides))
    model.add(layers.GlobalAveragePooling2D())
    model.add(layers.Dense(num_classes, activation="softmax"))
    return model


def resnet34(num_classes: int = 1000, input_shape=(224, 224, 3)) -> keras.Sequential:
    """ResNet-34: 3, 4, 6 and 3 residual units of 64, 128, 256 and 512 filters."""
    return resnet((3, 4, 6, 3), num_classes=num_classes, input_shape=input_shape, name="resnet34")


def resnet50(num_classes: int = 1000, input_shape=(224, 224, 3)) -> keras.Sequential:
    """ResNet-50: the same stages with bottleneck units (outputs 256, 512, 1,024, 2,048 deep)."""
    return resnet(
        (3, 4, 6, 3),
        bottleneck=True,
        num_classes=num_classes,
        input_shape=input_shape,
        name="resnet50",
    )
