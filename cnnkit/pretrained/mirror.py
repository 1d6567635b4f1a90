"""The Keras mirror of torchvision's MobileNetV2, and the copy of torchvision's weights into it.

Two details make the mirror exact: every 3 × 3 convolution pads one pixel on each side (Keras's
``padding="same"`` would put the extra zero of a stride-2 layer only at the bottom and right), and
BatchNorm uses PyTorch's epsilon, 1e-5 (Keras's default is 1e-3). ``cnnkit.pretrained.keras``
builds on it and re-exports ``build_mobilenet_v2`` and ``copy_weights_from_torch``.
"""

from __future__ import annotations

import numpy as np

from cnnkit.conv import kernel_to_tf_layout
from cnnkit.pretrained import MOBILENET_V2_BLOCKS

BATCH_NORM_EPSILON = 1e-5  # PyTorch's default, which torchvision's weights were trained with
BATCH_NORM_MOMENTUM = 0.9  # Keras's momentum is 1 - PyTorch's (0.1)


def _conv_bn(x, filters, kernel_size, strides, name, *, depthwise=False, activation=True):
    """Conv (no bias) → BatchNorm → ReLU6, padded as PyTorch pads: (kernel_size - 1) // 2 per side."""
    from keras import layers

    padding = (kernel_size - 1) // 2
    if padding:
        x = layers.ZeroPadding2D(padding, name=f"{name}_pad")(x)
    if depthwise:
        x = layers.DepthwiseConv2D(kernel_size, strides, use_bias=False, name=f"{name}_conv")(x)
    else:
        x = layers.Conv2D(filters, kernel_size, strides, use_bias=False, name=f"{name}_conv")(x)
    x = layers.BatchNormalization(
        epsilon=BATCH_NORM_EPSILON, momentum=BATCH_NORM_MOMENTUM, name=f"{name}_bn"
    )(x)
    if activation:
        x = layers.ReLU(6.0, name=f"{name}_relu6")(x)
    return x


def _inverted_residual(x, filters, strides, expansion, name):
    from keras import layers

    in_channels = x.shape[-1]
    y = x
    if expansion != 1:
        y = _conv_bn(y, in_channels * expansion, 1, 1, f"{name}_expand")
    y = _conv_bn(y, None, 3, strides, f"{name}_depthwise", depthwise=True)
    y = _conv_bn(y, filters, 1, 1, f"{name}_project", activation=False)
    if strides == 1 and in_channels == filters:
        y = layers.Add(name=f"{name}_add")([x, y])
    return y


def build_mobilenet_v2(*, include_top: bool = True, input_shape=(None, None, 3), num_classes=1000):
    """The architecture of torchvision's MobileNetV2 in Keras, randomly initialized.

    Without the top, the output is the last feature maps, ``(batch, height / 32, width / 32, 1280)``.
    With it: global average pooling, dropout 0.2 and a dense softmax layer of ``num_classes``.
    """
    import keras
    from keras import layers

    inputs = keras.Input(shape=input_shape, name="images")  # (batch, height, width, 3)
    x = _conv_bn(inputs, 32, 3, 2, "stem")
    block = 0
    for expansion, filters, repeats, strides in MOBILENET_V2_BLOCKS:
        for index in range(repeats):
            block += 1
            x = _inverted_residual(
                x, filters, strides if index == 0 else 1, expansion, f"block{block}"
            )
    x = _conv_bn(x, 1280, 1, 1, "head")  # (batch, height / 32, width / 32, 1280)
    if include_top:
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
        x = layers.Dropout(0.2, name="dropout")(x)
        x = layers.Dense(num_classes, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, x, name="mobilenet_v2" if include_top else "mobilenet_v2_base")


def copy_weights_from_torch(torch_model, keras_model) -> int:
    """Copy every convolution, BatchNorm and linear layer of ``torch_model`` into ``keras_model``.

    The two models must create those layers in the same order (as ``build_mobilenet_v2`` mirrors
    torchvision's ``mobilenet_v2``); the copy stops at the first pair whose kinds or shapes differ.
    Keras layers left over at the end (a model without its top) are fine. Returns the number of
    tensors copied.
    """
    from keras import layers
    from torch import nn

    kinds = (nn.Conv2d, nn.BatchNorm2d, nn.Linear)
    torch_layers = [m for m in torch_model.modules() if isinstance(m, kinds)]
    keras_layers = [
        layer
        for layer in keras_model.layers
        if isinstance(
            layer, (layers.Conv2D, layers.DepthwiseConv2D, layers.BatchNormalization, layers.Dense)
        )
    ]
    if len(keras_layers) > len(torch_layers):
        raise ValueError(
            f"the Keras model has {len(keras_layers)} layers with weights, the PyTorch model only "
            f"{len(torch_layers)}"
        )
    copied = 0
    for keras_layer, module in zip(keras_layers, torch_layers, strict=False):
        arrays = _keras_arrays(module, keras_layer)
        expected = [tuple(w.shape) for w in keras_layer.weights]
        if [a.shape for a in arrays] != expected:
            raise ValueError(
                f"{type(module).__name__} weights of shapes {[a.shape for a in arrays]} do not fit "
                f"the Keras layer {keras_layer.name!r} ({expected})"
            )
        keras_layer.set_weights(arrays)
        copied += len(arrays)
    return copied


def _keras_arrays(module, keras_layer) -> list[np.ndarray]:
    """A PyTorch module's tensors in the order and layout of the matching Keras layer's weights."""
    from keras import layers
    from torch import nn

    def numpy(tensor):
        return tensor.detach().cpu().numpy()

    if isinstance(module, nn.BatchNorm2d) and isinstance(keras_layer, layers.BatchNormalization):
        keras_layer.epsilon = module.eps
        return [
            numpy(t) for t in (module.weight, module.bias, module.running_mean, module.running_var)
        ]
    if isinstance(module, nn.Linear) and isinstance(keras_layer, layers.Dense):
        return [numpy(module.weight).T, numpy(module.bias)]
    if isinstance(module, nn.Conv2d) and isinstance(keras_layer, layers.DepthwiseConv2D):
        # PyTorch (channels, 1, height, width) → Keras (height, width, channels, 1)
        return [numpy(module.weight).transpose(2, 3, 0, 1)]
    if isinstance(module, nn.Conv2d) and isinstance(keras_layer, layers.Conv2D):
        arrays = [kernel_to_tf_layout(numpy(module.weight))]
        return arrays + ([numpy(module.bias)] if module.bias is not None else [])
    raise ValueError(
        f"a PyTorch {type(module).__name__} does not match the Keras layer {keras_layer.name!r} "
        f"({type(keras_layer).__name__})"
    )
