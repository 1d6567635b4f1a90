"""HED's VGG16 in Keras (``cnnkit.hed.torch``: the same names in PyTorch). Images ``(batch, height,
width, channels)``.

- ``vgg16_features``: ``keras.applications.VGG16(weights=None, include_top=False)`` filled with HED's
  weights (ImageNet VGG16 retrained for edges: not pure ImageNet) or with random weights;
- ``feature_extractor``: a model giving the outputs of named layers of any keras.applications VGG;
- ``hed``: the whole edge detector, side outputs at strides 1 to 16, upsampled and fused;
- ``preprocess``: RGB in [0, 1] to HED's input (BGR in 0-255 minus ``cnnkit.hed.MEAN_BGR``).
"""

from __future__ import annotations

import keras
import numpy as np

from cnnkit.hed import BLOCKS, CONV_CHANNELS, FUSE, MEAN_BGR, SIDE_OUTPUTS, load_weights

__all__ = ["feature_extractor", "hed", "preprocess", "vgg16_features"]


def _fill(model: keras.Model, weights: dict) -> None:
    for name, (kernel, bias) in weights.items():
        if any(layer.name == name for layer in model.layers):
            model.get_layer(name).set_weights([kernel, bias])


def vgg16_features(weights: str = "hed", seed: int = 0) -> keras.Model:
    """VGG16's convolutional stack (keras.applications) with HED's weights, or random ones (``seed``).

    The input is preprocessed (``preprocess``), of any size; ``block5_pool`` is at stride 32.
    """
    arrays = load_weights(weights, seed)
    model = keras.applications.VGG16(weights=None, include_top=False)
    _fill(model, {name: arrays[name] for block in BLOCKS for name in block})
    return model


def feature_extractor(features: keras.Model, layer_names) -> keras.Model:
    """A model from ``features``' input to the outputs of ``layer_names`` (a list, in that order).

    Works with any keras.applications VGG (``block4_conv2``, ``block3_pool``, ...): each conv output
    is after its ReLU.
    """
    names = [layer_names] if isinstance(layer_names, str) else list(layer_names)
    known = {layer.name for layer in features.layers}
    missing = [name for name in names if name not in known]
    if not names or missing:
        raise ValueError(f"layer_names must name layers of {features.name}; unknown: {missing}")
    outputs = [features.get_layer(name).output for name in names]
    return keras.Model(features.input, outputs, name=f"{features.name}_features")


def preprocess(images):
    """RGB images with values in [0, 1] → HED's (and Caffe VGG's) input: BGR × 255 minus the mean."""
    bgr = keras.ops.flip(keras.ops.convert_to_tensor(images, "float32"), axis=-1)
    return bgr * 255.0 - np.asarray(MEAN_BGR, np.float32)


class ResizeLike(keras.layers.Layer):
    """Bilinear resize of its first input to the height and width of its second (any size)."""

    def call(self, maps, reference):
        size = keras.ops.shape(reference)[1:3]
        return keras.ops.image.resize(maps, size, interpolation="bilinear")

    def compute_output_shape(self, maps_shape, reference_shape):
        return (maps_shape[0], reference_shape[1], reference_shape[2], maps_shape[3])


def hed(weights: str = "hed", seed: int = 0, logits: bool = False) -> keras.Model:
    """The HED network: a preprocessed batch → 6 edge maps ``(batch, height, width, 1)``.

    The maps are the five side outputs (strides 1, 2, 4, 8, 16, each upsampled bilinearly to the
    input's size) and their fusion, as probabilities (sigmoid) or, with ``logits``, before it. Pools
    use "same" padding, so every input size works. The layers carry VGG16's names (``block3_conv3``).
    """
    inputs = keras.Input((None, None, 3))
    x, sides = inputs, []
    for index, (block, side) in enumerate(zip(BLOCKS, SIDE_OUTPUTS, strict=True)):
        if index:
            x = keras.layers.MaxPooling2D(2, padding="same", name=f"block{index}_pool")(x)
        for name in block:
            x = keras.layers.Conv2D(
                CONV_CHANNELS[name], 3, padding="same", activation="relu", name=name
            )(x)
        side_map = keras.layers.Conv2D(1, 1, name=side)(x)
        sides.append(side_map if index == 0 else ResizeLike(name=f"{side}_up")(side_map, inputs))
    fused = keras.layers.Conv2D(1, 1, name=FUSE)(keras.layers.Concatenate()(sides))
    outputs = [*sides, fused]
    if not logits:
        outputs = [keras.layers.Activation("sigmoid")(output) for output in outputs]
    model = keras.Model(inputs, outputs, name="hed")
    _fill(model, load_weights(weights, seed))
    return model
