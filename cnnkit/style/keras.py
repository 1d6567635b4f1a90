"""Neural style transfer in Keras with ``tf.GradientTape`` (``cnnkit.style.torch``: the same names in
PyTorch). Images and feature maps are ``(batch, height, width, channels)``; images are RGB in [0, 1].

- ``gram_matrix``, ``content_loss``, ``style_loss``, ``total_variation_loss``: the losses, on tensors;
- ``feature_network``: a VGG stack with ImageNet, HED or random weights, preprocessing included;
- ``objective``: the weighted loss terms of an image, for one content and one style image;
- ``stylize``: optimizes the pixels with Adam (Keras) or L-BFGS (SciPy, gradients from the tape).
"""

from __future__ import annotations

import time

import keras
import numpy as np
import tensorflow as tf

from cnnkit._checks import one_of, positive_int
from cnnkit.data import announce_stand_in
from cnnkit.hed import keras as hed_keras
from cnnkit.hed import random_weights
from cnnkit.style import FeatureNetwork, Recipe, Result, check_layers, describe, input_convention

__all__ = [
    "content_loss",
    "feature_network",
    "gram_matrix",
    "objective",
    "style_loss",
    "stylize",
    "total_variation_loss",
]
APPLICATIONS = {"vgg16": "VGG16", "vgg19": "VGG19"}


def gram_matrix(features):
    """``(batch, height, width, channels)`` → ``(batch, channels, channels)``, divided by positions."""
    x = keras.ops.convert_to_tensor(features)
    positions = keras.ops.cast(keras.ops.shape(x)[1] * keras.ops.shape(x)[2], x.dtype)
    return keras.ops.einsum("bhwc,bhwd->bcd", x, x) / positions


def content_loss(generated, target):
    """The mean squared difference between two feature maps."""
    return keras.ops.mean(keras.ops.square(generated - target))


def style_loss(features, targets, weights):
    """Σ over layers of ``weights[l]`` × mean((gram(features[l]) - targets[l])²)."""
    features, targets, weights = check_layers(features, targets, weights)
    terms = [
        weight * keras.ops.mean(keras.ops.square(gram_matrix(maps) - target))
        for maps, target, weight in zip(features, targets, weights, strict=True)
    ]
    return keras.ops.sum(keras.ops.stack(terms))


def total_variation_loss(images):
    """Σ |differences between vertical and horizontal neighbours|, divided by the number of values."""
    x = keras.ops.convert_to_tensor(images)
    vertical = keras.ops.sum(keras.ops.abs(x[:, 1:] - x[:, :-1]))
    horizontal = keras.ops.sum(keras.ops.abs(x[:, :, 1:] - x[:, :, :-1]))
    return (vertical + horizontal) / keras.ops.cast(keras.ops.size(x), x.dtype)


class VGGInput(keras.layers.Layer):
    """RGB in [0, 1] → what the VGG's weights expect (``cnnkit.style.input_convention``)."""

    def __init__(self, bgr, scale, mean, std, **kwargs):
        super().__init__(**kwargs)
        self.bgr, self.scale, self.mean, self.std = bool(bgr), float(scale), tuple(mean), tuple(std)

    def call(self, images):
        x = keras.ops.flip(images, axis=-1) if self.bgr else images
        mean, std = np.float32(self.mean), np.float32(self.std)
        return (x * self.scale - mean) / std

    def get_config(self):
        return {**super().get_config(), "bgr": self.bgr, "scale": self.scale, "mean": self.mean,
                "std": self.std}  # fmt: skip


def _stack(weights: str, architecture: str, seed: int) -> keras.Model:
    if weights == "hed":
        if architecture != "vgg16":
            raise ValueError(f"HED's weights exist for vgg16 only, not {architecture!r}")
        return hed_keras.vgg16_features("hed")
    builder = getattr(keras.applications, APPLICATIONS[architecture])
    if weights == "imagenet":
        return builder(weights="imagenet", include_top=False)
    stack = builder(weights=None, include_top=False)
    convs = [layer for layer in stack.layers if isinstance(layer, keras.layers.Conv2D)]
    arrays = random_weights(seed, {layer.name: tuple(layer.kernel.shape) for layer in convs})
    for layer in convs:
        layer.set_weights(list(arrays[layer.name]))
    return stack


def feature_network(
    weights: str = "imagenet", architecture: str | None = None, layer_names=None, seed: int = 0
) -> FeatureNetwork:
    """A VGG from RGB images in [0, 1] to the maps of ``layer_names`` (default ``Recipe().layer_names``).

    ``weights``: ``"imagenet"`` (``keras.applications.VGG19`` by default, downloaded once; offline,
    a labelled stand-in: HED's VGG16), ``"hed"`` (VGG16 only) or ``"random"`` (He-normal from NumPy,
    ``seed``: the same arrays as in PyTorch). The weights are frozen.
    """
    one_of(weights, ("imagenet", "hed", "random"), "weights")
    default = "vgg19" if weights == "imagenet" else "vgg16"
    architecture = one_of(architecture or default, tuple(APPLICATIONS), "architecture")
    layer_names = tuple(layer_names or Recipe().layer_names)
    try:
        stack = _stack(weights, architecture, seed)
    except Exception as error:  # keras raises a bare Exception when the download fails
        if weights != "imagenet":
            raise
        announce_stand_in(
            f"{APPLICATIONS[architecture]}'s ImageNet weights ({type(error).__name__})",
            describe("vgg16", "hed") + ", a real pretrained network",
            f"keras.applications.{APPLICATIONS[architecture]}(weights='imagenet'), as in the classic recipe",
        )
        return feature_network("hed", "vgg16", layer_names, seed)
    stack.trainable = False
    convention = input_convention("keras", weights)
    inputs = keras.Input((None, None, 3))
    maps = hed_keras.feature_extractor(stack, layer_names)(VGGInput(**vars(convention))(inputs))
    model = keras.Model(inputs, maps, name=f"{architecture}_{weights}")
    return FeatureNetwork(
        model, architecture, weights, describe(architecture, weights, seed), layer_names
    )


def _batch(images) -> tf.Tensor:
    x = tf.convert_to_tensor(images, tf.float32)
    return x[None] if x.shape.rank == 3 else x


def objective(network: FeatureNetwork, content, style, recipe: Recipe | None = None):
    """``loss(image)`` → dict of scalar tensors ``total``, ``content``, ``style``, ``tv`` (weighted).

    The targets (content features, style Gram matrices) are computed once, here.
    """
    recipe = recipe or Recipe()
    if tuple(network.layer_names) != recipe.layer_names:
        raise ValueError("the network's layer_names must be the recipe's layer_names")
    count = len(recipe.content_layers)
    content_targets = network.model(_batch(content))[:count]
    style_targets = [gram_matrix(maps) for maps in network.model(_batch(style))[count:]]
    content_weights, style_weights = recipe.scaled(
        [np.asarray(t) for t in content_targets], [np.asarray(t) for t in style_targets]
    )

    def loss(image):
        maps = network.model(image)
        terms = {
            "content": keras.ops.sum(keras.ops.stack([
                w * content_loss(m, t)
                for m, t, w in zip(maps[:count], content_targets, content_weights, strict=True)
            ])),
            "style": style_loss(maps[count:], style_targets, style_weights),
            "tv": recipe.tv_weight * total_variation_loss(image),
        }  # fmt: skip
        return {"total": terms["content"] + terms["style"] + terms["tv"], **terms}

    return loss


def stylize(
    network: FeatureNetwork,
    content,
    style,
    recipe: Recipe | None = None,
    optimizer: str = "lbfgs",
    num_steps: int = 50,
    learning_rate: float = 0.02,
) -> Result:
    """Optimize an image, starting from ``content``, to ``objective``'s minimum; return a ``Result``.

    ``num_steps`` counts evaluations of the loss and its gradient, for both optimizers: Adam takes
    one step per evaluation (``keras.optimizers.Adam``, then the pixels are clipped to [0, 1]);
    L-BFGS (``scipy.optimize.minimize``, which Keras lacks) also spends some on line searches.
    """
    one_of(optimizer, ("adam", "lbfgs"), "optimizer")
    num_steps = positive_int(num_steps, "num_steps")
    loss = objective(network, content, style, recipe)
    image = tf.Variable(_batch(content))
    history = {"total": [], "content": [], "style": [], "tv": []}

    @tf.function
    def evaluate():
        with tf.GradientTape() as tape:
            terms = loss(image)
        return terms, tape.gradient(terms["total"], image)

    def record(terms):
        for key, value in terms.items():
            history[key].append(float(value))

    start = time.perf_counter()
    if optimizer == "adam":
        adam = keras.optimizers.Adam(learning_rate, epsilon=1e-8)  # PyTorch's epsilon
        for _ in range(num_steps):
            terms, gradient = evaluate()
            record(terms)
            adam.apply_gradients([(gradient, image)])
            image.assign(tf.clip_by_value(image, 0.0, 1.0))
    else:
        from scipy.optimize import minimize

        def value_and_gradient(pixels):
            image.assign(pixels.reshape(image.shape).astype(np.float32))
            terms, gradient = evaluate()
            record(terms)
            return float(terms["total"]), gradient.numpy().ravel().astype(np.float64)

        options = {"maxiter": num_steps, "maxfun": num_steps, "maxcor": 20, "gtol": 0, "ftol": 0}
        found = minimize(value_and_gradient, image.numpy().ravel().astype(np.float64), jac=True,
                         method="L-BFGS-B", options=options)  # fmt: skip
        image.assign(found.x.reshape(image.shape).astype(np.float32))
    pixels = np.clip(image.numpy()[0], 0.0, 1.0)
    return Result(pixels, optimizer, history, time.perf_counter() - start)
