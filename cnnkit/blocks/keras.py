"""Building blocks of chapter 4 as Keras layers: residual and bottleneck units, SE block, inception
module and local response normalization (``cnnkit.blocks.torch``: the same as PyTorch modules).

Convolutions followed by batch normalization have no bias, and ``BatchNormalization`` uses
PyTorch's defaults (momentum 0.9 in Keras's convention, epsilon 1e-5) so that the two agree.
For a separable convolution use Keras's own ``keras.layers.SeparableConv2D``.
Importing this module imports Keras and TensorFlow (``import cnnkit`` alone does not).
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf
from keras import layers, ops

from cnnkit._checks import non_negative_int, positive_int_args
from cnnkit.blocks import inception_filters

__all__ = [
    "BottleneckUnit",
    "InceptionModule",
    "LocalResponseNormalization",
    "ResidualUnit",
    "SEBlock",
    "batch_norm",
    "count_parameters",
]


def batch_norm(**kwargs):
    """``BatchNormalization`` with PyTorch's defaults (momentum 0.9 here, 0.1 there; epsilon 1e-5)."""
    return layers.BatchNormalization(momentum=0.9, epsilon=1e-5, **kwargs)


def count_parameters(model) -> dict:
    """Trainable and non-trainable values of a layer or model (built), and their total.

    Non-trainable values are BatchNormalization's moving mean and variance (PyTorch's buffers).
    """
    trainable = int(sum(np.prod(w.shape) for w in model.trainable_weights))
    frozen = int(sum(np.prod(w.shape) for w in model.non_trainable_weights))
    return {"trainable": trainable, "non_trainable": frozen, "total": trainable + frozen}


class _Block(layers.Layer):
    """Builds its sublayers in order, so that ``build(shape)`` alone gives parameter counts."""

    @staticmethod
    def _build_chain(chain, input_shape):
        shape = tuple(input_shape)
        for layer in chain:
            layer.build(shape)
            shape = tuple(layer.compute_output_shape(shape))
        return shape

    @staticmethod
    def _chain_shape(chain, input_shape):
        shape = tuple(input_shape)
        for layer in chain:
            shape = tuple(layer.compute_output_shape(shape))
        return shape

    @staticmethod
    def _run(chain, x, training):
        for layer in chain:
            x = (
                layer(x, training=training)
                if isinstance(layer, layers.BatchNormalization)
                else layer(x)
            )
        return x


class _Residual(_Block):
    """A main path plus a skip path, added, then ReLU. The skip is the identity, or a 1×1
    convolution with the unit's stride followed by BN when the unit changes the size or depth.
    """

    out_filters: int  # the depth of the main path's output

    def build(self, input_shape):
        if self.strides != 1 or input_shape[-1] != self.out_filters:
            self.skip = [
                layers.Conv2D(self.out_filters, 1, strides=self.strides, use_bias=False),
                batch_norm(),
            ]
        self._build_chain(self.main, input_shape)
        self._build_chain(self.skip, input_shape)

    def call(self, inputs, training=None):
        return ops.relu(
            self._run(self.main, inputs, training) + self._run(self.skip, inputs, training)
        )

    def compute_output_shape(self, input_shape):
        return self._chain_shape(self.main, input_shape)


@keras.saving.register_keras_serializable(package="cnnkit")
class ResidualUnit(_Residual):
    """ResNet's basic unit: conv 3×3 → BN → ReLU → conv 3×3 → BN, plus the skip path, then ReLU.

    The skip path is the identity, or a 1×1 convolution with the unit's stride followed by BN
    when the unit changes the map size or depth. Input and output: (batch, height, width, channels).
    """

    def __init__(self, filters: int, strides: int = 1, **kwargs):
        super().__init__(**kwargs)
        self.filters, self.strides = positive_int_args(filters=filters, strides=strides)
        self.out_filters = self.filters
        self.main = [
            layers.Conv2D(self.filters, 3, strides=self.strides, padding="same", use_bias=False),
            batch_norm(),
            layers.ReLU(),
            layers.Conv2D(self.filters, 3, padding="same", use_bias=False),
            batch_norm(),
        ]
        self.skip = []

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "strides": self.strides}


@keras.saving.register_keras_serializable(package="cnnkit")
class BottleneckUnit(_Residual):
    """The unit of deeper ResNets: 1×1 (filters) → 3×3 (filters) → 1×1 (filters · expansion), with BN.

    ReLU follows the first two BNs and the addition; the stride sits on the 3×3 convolution. The
    skip path is projected (1×1 conv + BN) when the size or depth changes.
    """

    def __init__(self, filters: int, strides: int = 1, expansion: int = 4, **kwargs):
        super().__init__(**kwargs)
        self.filters, self.strides, self.expansion = positive_int_args(
            filters=filters, strides=strides, expansion=expansion
        )
        self.out_filters = self.filters * self.expansion
        self.main = [
            layers.Conv2D(self.filters, 1, use_bias=False),
            batch_norm(),
            layers.ReLU(),
            layers.Conv2D(self.filters, 3, strides=self.strides, padding="same", use_bias=False),
            batch_norm(),
            layers.ReLU(),
            layers.Conv2D(self.out_filters, 1, use_bias=False),
            batch_norm(),
        ]
        self.skip = []

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "strides": self.strides,
            "expansion": self.expansion,
        }


@keras.saving.register_keras_serializable(package="cnnkit")
class SEBlock(_Block):
    """Squeeze-and-excitation: global average pool → dense (channels // ratio, ReLU) → dense
    (channels, sigmoid) → multiply each map by its weight. Output shape = input shape.
    """

    def __init__(self, ratio: int = 16, **kwargs):
        super().__init__(**kwargs)
        (self.ratio,) = positive_int_args(ratio=ratio)

    def build(self, input_shape):
        channels = input_shape[-1]
        self.squeeze = layers.Dense(max(1, channels // self.ratio), activation="relu")
        self.excite = layers.Dense(channels, activation="sigmoid")
        self._build_chain([self.squeeze, self.excite], (input_shape[0], channels))

    def call(self, inputs):
        weights = self.excite(self.squeeze(ops.mean(inputs, axis=(1, 2))))  # (batch, channels)
        return inputs * weights[:, None, None, :]

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "ratio": self.ratio}


@keras.saving.register_keras_serializable(package="cnnkit")
class InceptionModule(_Block):
    """GoogLeNet's module: four branches concatenated along the depth, all stride 1, "same", ReLU.

    Branches: 1×1; 1×1 → 3×3; 1×1 → 5×5; max pool 3×3 → 1×1. Output depth:
    ``filters_1x1 + filters_3x3 + filters_5x5 + filters_pool``.
    """

    def __init__(
        self,
        filters_1x1: int,
        filters_3x3_reduce: int,
        filters_3x3: int,
        filters_5x5_reduce: int,
        filters_5x5: int,
        filters_pool: int,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.filter_counts = inception_filters(
            filters_1x1,
            filters_3x3_reduce,
            filters_3x3,
            filters_5x5_reduce,
            filters_5x5,
            filters_pool,
        )
        n = self.filter_counts

        def conv(filters, size):
            return layers.Conv2D(filters, size, padding="same", activation="relu")

        self.branches = [
            [conv(n["filters_1x1"], 1)],
            [conv(n["filters_3x3_reduce"], 1), conv(n["filters_3x3"], 3)],
            [conv(n["filters_5x5_reduce"], 1), conv(n["filters_5x5"], 5)],
            [layers.MaxPooling2D(3, strides=1, padding="same"), conv(n["filters_pool"], 1)],
        ]

    def build(self, input_shape):
        for branch in self.branches:
            self._build_chain(branch, input_shape)

    def call(self, inputs):
        return ops.concatenate(
            [self._run(branch, inputs, None) for branch in self.branches], axis=-1
        )

    def compute_output_shape(self, input_shape):
        depth = sum(branch[-1].filters for branch in self.branches)
        return (*tuple(input_shape)[:-1], depth)

    def get_config(self):
        return {**super().get_config(), **self.filter_counts}


@keras.saving.register_keras_serializable(package="cnnkit")
class LocalResponseNormalization(layers.Layer):
    """AlexNet's LRN across channels, ``tf.nn.local_response_normalization`` as a layer.

    b_i = a_i / (bias + alpha · Σ a_j²)^beta, the sum over maps j within ``depth_radius`` of i.
    """

    def __init__(self, depth_radius=5, bias=1.0, alpha=1.0, beta=0.5, **kwargs):
        super().__init__(**kwargs)
        self.depth_radius = non_negative_int(depth_radius, "depth_radius")
        self.bias, self.alpha, self.beta = bias, alpha, beta

    def call(self, inputs):
        return tf.nn.local_response_normalization(
            inputs, depth_radius=self.depth_radius, bias=self.bias, alpha=self.alpha, beta=self.beta
        )

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "depth_radius": self.depth_radius,
            "bias": self.bias,
            "alpha": self.alpha,
            "beta": self.beta,
        }
