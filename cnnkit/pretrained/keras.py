"""Pretrained ImageNet models for Keras, with real weights even offline.

``mobilenet_v2`` builds a Keras MobileNetV2 that mirrors torchvision's layer for layer and fills it
with torchvision's ImageNet weights (``MobileNet_V2_Weights.IMAGENET1K_V1``), so that both frameworks
run the very same network. Two details make the mirror exact: every 3 × 3 convolution pads one pixel
on each side (Keras's ``padding="same"`` would put the extra zero of a stride-2 layer only at the
bottom and right), and BatchNorm uses PyTorch's epsilon, 1e-5 (Keras's default is 1e-3).
``imagenet_classifier`` returns ``keras.applications.ResNet50`` when its weights can be downloaded,
and says so plainly when it falls back on the mirror instead.
"""

from __future__ import annotations

import numpy as np

from cnnkit.conv import kernel_to_tf_layout
from cnnkit.pretrained import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    MOBILENET_V2_BLOCKS,
    Classifier,
    check_num_blocks,
    check_num_classes,
    check_weights,
    decode_predictions,
)

__all__ = [
    "extract_features",
    "frozen_classifier",
    "imagenet_classifier",
    "mobilenet_v2",
    "preprocess_input",
    "unfreeze_top",
]  # also build_mobilenet_v2, copy_weights_from_torch: Keras only
BATCH_NORM_EPSILON = 1e-5  # PyTorch's default, which torchvision's weights were trained with
BATCH_NORM_MOMENTUM = 0.9  # Keras's momentum is 1 - PyTorch's (0.1)


def preprocess_input(images):
    """Pixels in [0, 255], ``(batch, height, width, 3)`` → torchvision's ImageNet normalization.

    Scales to [0, 1], then subtracts the ImageNet mean and divides by its standard deviation, per
    channel: what the weights of ``mobilenet_v2`` expect (``keras.applications``' own MobileNetV2
    scales to [-1, 1] instead: preprocessing belongs to the weights, not to the architecture).
    """
    import keras

    images = keras.ops.convert_to_tensor(images, dtype="float32")
    if len(images.shape) not in (3, 4) or images.shape[-1] != 3:
        raise ValueError(
            f"images must be (batch, height, width, 3) or (height, width, 3), got {tuple(images.shape)}"
        )
    return (images / 255.0 - np.array(IMAGENET_MEAN, "float32")) / np.array(IMAGENET_STD, "float32")


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


def mobilenet_v2(*, weights: str | None = "imagenet", include_top: bool = True):
    """MobileNetV2 in Keras; with ``weights="imagenet"``, torchvision's ImageNet weights copied in.

    The weights come through ``torchvision.models.mobilenet_v2(weights=IMAGENET1K_V1)``, which reads
    torchvision's file from ``$TORCH_HOME`` (or downloads it once). Inputs: any size of at least
    32 × 32 pixels, normalized with ``preprocess_input``. The top ends with a softmax over the 1,000
    ImageNet classes, like ``keras.applications``; without it the model outputs feature maps.
    """
    check_weights(weights)
    model = build_mobilenet_v2(include_top=include_top)
    if weights == "imagenet":
        from cnnkit.pretrained.torch import mobilenet_v2 as torch_mobilenet_v2

        copy_weights_from_torch(torch_mobilenet_v2(weights="imagenet"), model)
    return model


def imagenet_classifier() -> Classifier:
    """``keras.applications.ResNet50`` with its ImageNet weights, or the MobileNetV2 mirror offline.

    The fallback prints a banner that names the weights in use, so it is never silent: they are
    real ImageNet weights (torchvision's MobileNetV2), not ResNet50's.
    """
    import keras

    try:
        model = keras.applications.ResNet50(weights="imagenet")
        resnet50 = keras.applications.resnet50
        return Classifier(
            model, resnet50.preprocess_input, resnet50.decode_predictions, 224,
            "keras.applications.ResNet50 with its ImageNet weights",
        )  # fmt: skip
    except Exception as error:  # keras raises a bare Exception when the download fails
        reason = str(error).splitlines()[0][:200]
    print(
        "OFFLINE: keras.applications.ResNet50's ImageNet weights could not be downloaded\n"
        f"  ({reason}).\n"
        "  Using instead: cnnkit's Keras MobileNetV2 filled with torchvision's real ImageNet\n"
        "  weights (MobileNet_V2_Weights.IMAGENET1K_V1), with their preprocessing and class names.\n"
        "  Online you would see: ResNet50, keras.applications.resnet50.preprocess_input and\n"
        "  decode_predictions(top=3) (its top-3 lists and probabilities differ from MobileNetV2's)."
    )
    return Classifier(
        mobilenet_v2(), preprocess_input, decode_predictions, 224,
        "offline: cnnkit's Keras MobileNetV2 with torchvision's ImageNet weights",
    )  # fmt: skip


def frozen_classifier(base, num_classes: int):
    """A new classifier on a frozen pretrained base: base → global average pooling → dense softmax.

    The base is frozen (``trainable = False``) and called with ``training=False``. The pooling layer
    is named ``"pool"`` and the new dense layer ``"head"``.
    """
    import keras

    check_num_classes(num_classes)
    base.trainable = False
    inputs = keras.Input(shape=(None, None, 3), name="images")
    features = base(inputs, training=False)  # (batch, height / 32, width / 32, channels)
    pooled = keras.layers.GlobalAveragePooling2D(name="pool")(features)
    outputs = keras.layers.Dense(num_classes, activation="softmax", name="head")(pooled)
    return keras.Model(inputs, outputs, name=f"{base.name}_classifier")


def unfreeze_top(model, num_blocks: int) -> int:
    """Make the last ``num_blocks`` blocks of the MobileNetV2 base of ``frozen_classifier`` trainable.

    The blocks are the 17 inverted residual blocks plus the last 1 × 1 convolution ("head"), so
    ``num_blocks=18`` unfreezes everything but the first convolution. BatchNormalization layers stay
    frozen: in Keras 3, ``fit`` calls the model with ``training=True``, which overrides the
    ``training=False`` of the base's call, and only a frozen BatchNormalization layer is sure to
    keep normalizing with its ImageNet statistics (and to leave them alone). Recompile after this.
    Returns the number of trainable weights of the base.
    """
    import keras

    base = _base_of(model)
    prefixes = _block_prefixes(base)
    check_num_blocks(num_blocks, len(prefixes))
    top = tuple(prefixes[len(prefixes) - num_blocks :])
    base.trainable = True
    for layer in base.layers:
        in_top = bool(top) and layer.name.startswith(top)
        layer.trainable = in_top and not isinstance(layer, keras.layers.BatchNormalization)
    return sum(int(np.prod(w.shape)) for w in base.trainable_weights)


def _base_of(model):
    import keras

    nested = [layer for layer in model.layers if isinstance(layer, keras.Model)]
    if len(nested) != 1:
        raise ValueError("model must be a frozen_classifier: one base model, then pool and head")
    return nested[0]


def _block_prefixes(base) -> list[str]:
    """The name prefixes of the base's blocks, bottom to top: block1_, ..., block17_, head_."""
    prefixes = []
    for layer in base.layers:
        prefix = layer.name.split("_")[0] + "_"
        if prefix.startswith(("block", "head")) and prefix not in prefixes:
            prefixes.append(prefix)
    if not prefixes:
        raise ValueError(f"{base.name!r} is not cnnkit's MobileNetV2: it has no named blocks")
    return prefixes


def extract_features(model, batches):
    """Run ``model`` over ``(images, labels)`` batches in inference mode: ``(outputs, labels)`` arrays."""
    features, labels = [], []
    for images, targets in batches:
        features.append(np.asarray(model.predict_on_batch(images)))
        labels.append(np.asarray(targets))
    if not features:
        raise ValueError("batches yielded nothing")
    return np.concatenate(features), np.concatenate(labels)
