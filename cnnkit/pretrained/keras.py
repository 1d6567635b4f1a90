"""Pretrained ImageNet models for Keras, with real weights even offline.

``mobilenet_v2`` builds a Keras MobileNetV2 that mirrors torchvision's layer for layer and fills it
with torchvision's ImageNet weights (``MobileNet_V2_Weights.IMAGENET1K_V1``), so that both frameworks
run the very same network. Two details make the mirror exact: every 3 × 3 convolution pads one pixel
on each side (Keras's ``padding="same"`` would put the extra zero of a stride-2 layer only at the
bottom and right), and BatchNorm uses PyTorch's epsilon, 1e-5 (Keras's default is 1e-3).
``imagenet_classifier`` returns ``keras.applications.ResNet50`` and ``transfer_base`` Keras's own
``keras.applications.MobileNetV2`` when their weights can be downloaded, and each says so plainly
when it falls back on the mirror instead (``cnnkit.pretrained.mirror``).
"""

from __future__ import annotations

import warnings

import numpy as np

from cnnkit.pretrained import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    Base,
    Classifier,
    check_num_blocks,
    check_num_classes,
    check_weights,
    decode_predictions,
)
from cnnkit.pretrained.mirror import (  # noqa: F401 (Keras only: the mirror and its weights)
    BATCH_NORM_EPSILON,
    BATCH_NORM_MOMENTUM,
    build_mobilenet_v2,
    copy_weights_from_torch,
)

__all__ = [
    "extract_features",
    "frozen_classifier",
    "imagenet_classifier",
    "mobilenet_v2",
    "preprocess_input",
    "transfer_base",
    "unfreeze_top",
]  # also build_mobilenet_v2, copy_weights_from_torch: Keras only


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


def _downloaded(load, what: str, instead: str, online: str):
    """``load()``, which downloads ``what``'s weights; offline, None after a banner saying so."""
    try:
        return load()
    except Exception as error:  # keras raises a bare Exception when the download fails
        reason = str(error).splitlines()[0][:200]
    print(
        f"OFFLINE: {what}'s ImageNet weights could not be downloaded\n  ({reason}).\n"
        f"  Using instead: {instead}\n  Online you would see: {online}"
    )
    return None


def imagenet_classifier() -> Classifier:
    """``keras.applications.ResNet50`` with its ImageNet weights, or the MobileNetV2 mirror offline.

    The fallback prints a banner that names the weights in use, so it is never silent: they are
    real ImageNet weights (torchvision's MobileNetV2), not ResNet50's.
    """
    import keras

    resnet50 = keras.applications.resnet50
    model = _downloaded(
        lambda: keras.applications.ResNet50(weights="imagenet"),
        "keras.applications.ResNet50",
        "cnnkit's Keras MobileNetV2 filled with torchvision's real ImageNet\n"
        "  weights (MobileNet_V2_Weights.IMAGENET1K_V1), with their preprocessing and class names.",
        "ResNet50, keras.applications.resnet50.preprocess_input and\n"
        "  decode_predictions(top=3) (its top-3 lists and probabilities differ from MobileNetV2's).",
    )
    if model is not None:
        return Classifier(
            model, resnet50.preprocess_input, resnet50.decode_predictions, 224,
            "keras.applications.ResNet50 with its ImageNet weights",
        )  # fmt: skip
    return Classifier(
        mobilenet_v2(), preprocess_input, decode_predictions, 224,
        "offline: cnnkit's Keras MobileNetV2 with torchvision's ImageNet weights",
    )  # fmt: skip


def _applications_mobilenet_v2(weights):
    """``keras.applications.MobileNetV2`` without its top, for inputs of any size."""
    import keras

    with warnings.catch_warnings():  # the 224 × 224 weights serve any size, as Keras says
        warnings.filterwarnings("ignore", message="`input_shape` is undefined")
        return keras.applications.MobileNetV2(weights=weights, include_top=False)


def transfer_base(weights: str | None = "imagenet") -> Base:
    """The base of transfer learning: ``keras.applications.MobileNetV2`` without its top, or the mirror.

    Online: Keras's own MobileNetV2 with its ImageNet weights and
    ``keras.applications.mobilenet_v2.preprocess_input`` (pixels to [-1, 1]). When those weights
    cannot be downloaded, a banner says so and the base is ``mobilenet_v2(include_top=False)``,
    torchvision's real weights in the Keras mirror, with this module's ``preprocess_input``.
    ``base.random()`` builds the same architecture with random weights; ``weights=None`` returns it.
    """
    import keras

    check_weights(weights)
    model = _downloaded(
        lambda: _applications_mobilenet_v2(weights),
        "keras.applications.MobileNetV2",
        "cnnkit's Keras mirror of torchvision's MobileNetV2, filled with torchvision's\n"
        "  real ImageNet weights, with their preprocessing (ImageNet mean and standard deviation).",
        "keras.applications.MobileNetV2 and its preprocess_input ([-1, 1]);\n"
        "  it was trained separately, so its accuracies differ a little from PyTorch's.",
    )
    if model is not None:
        return Base(model, keras.applications.mobilenet_v2.preprocess_input,
                    lambda: _applications_mobilenet_v2(None),
                    f"keras.applications.MobileNetV2 with {'its ImageNet' if weights else 'random'} weights")  # fmt: skip
    return Base(mobilenet_v2(include_top=False), preprocess_input,
                lambda: mobilenet_v2(weights=None, include_top=False),
                "offline: cnnkit's Keras mirror of MobileNetV2 with torchvision's ImageNet weights")  # fmt: skip


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
    """Make the last ``num_blocks`` blocks of the MobileNetV2 base of a classifier trainable.

    The model holds the base as its one nested model (``frozen_classifier`` builds such a model;
    the base of ``transfer_base``, the mirror or ``keras.applications``'s). The blocks are the 17
    inverted residual blocks plus the last 1 × 1 convolution, so
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
    """The name prefixes of the base's 18 blocks, bottom to top.

    The mirror's: ``block1_`` … ``block17_``, ``head_``. ``keras.applications.MobileNetV2``'s:
    ``expanded_conv_``, ``block_1_`` … ``block_16_``, ``Conv_1`` (its last 1 × 1 convolution).
    """
    names = [layer.name for layer in base.layers]
    if any(name.startswith("block_1_") for name in names):  # keras.applications
        numbers = sorted({int(name.split("_")[1]) for name in names if name.startswith("block_")})
        return ["expanded_conv_", *(f"block_{n}_" for n in numbers), "Conv_1"]
    prefixes = []
    for name in names:
        prefix = name.split("_")[0] + "_"
        if prefix.startswith(("block", "head")) and prefix not in prefixes:
            prefixes.append(prefix)
    if not prefixes:
        raise ValueError(f"{base.name!r} is not a MobileNetV2 base: it has no named blocks")
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
