"""Neural style transfer in PyTorch with autograd (``cnnkit.style.keras``: the same names in Keras).
Images and feature maps are ``(batch, channels, height, width)``; images are RGB in [0, 1].

- ``gram_matrix``, ``content_loss``, ``style_loss``, ``total_variation_loss``: the losses, on tensors;
- ``feature_network``: a VGG stack with ImageNet, HED or random weights, preprocessing included;
- ``objective``: the weighted loss terms of an image, for one content and one style image;
- ``stylize``: optimizes the pixels with ``torch.optim.Adam`` or ``torch.optim.LBFGS``.
"""

from __future__ import annotations

import time

import numpy as np
import torch
import torchvision
from torch import nn

from cnnkit._checks import one_of, positive_int
from cnnkit.data import announce_stand_in
from cnnkit.device import select_torch
from cnnkit.hed import random_weights
from cnnkit.hed import torch as hed_torch
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
WEIGHTS_ENUMS = {"vgg16": "VGG16_Weights", "vgg19": "VGG19_Weights"}


def gram_matrix(features):
    """``(batch, channels, height, width)`` → ``(batch, channels, channels)``, divided by positions."""
    x = torch.as_tensor(features)
    batch, channels, height, width = x.shape
    flat = x.reshape(batch, channels, height * width)  # (batch, channels, positions)
    return flat @ flat.transpose(1, 2) / (height * width)


def content_loss(generated, target):
    """The mean squared difference between two feature maps."""
    return torch.mean((generated - target) ** 2)


def style_loss(features, targets, weights):
    """Σ over layers of ``weights[l]`` × mean((gram(features[l]) - targets[l])²)."""
    features, targets, weights = check_layers(features, targets, weights)
    return sum(
        weight * torch.mean((gram_matrix(maps) - target) ** 2)
        for maps, target, weight in zip(features, targets, weights, strict=True)
    )


def total_variation_loss(images):
    """Σ |differences between vertical and horizontal neighbours|, divided by the number of values."""
    x = torch.as_tensor(images)
    vertical = (x[:, :, 1:] - x[:, :, :-1]).abs().sum()
    horizontal = (x[:, :, :, 1:] - x[:, :, :, :-1]).abs().sum()
    return (vertical + horizontal) / x.numel()


class _Network(nn.Module):
    """RGB in [0, 1] → what the VGG's weights expect → the feature maps of the chosen layers."""

    def __init__(self, extractor: nn.Module, convention):
        super().__init__()
        self.extractor, self.bgr, self.scale = extractor, convention.bgr, convention.scale
        self.register_buffer("mean", torch.tensor(convention.mean).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(convention.std).view(1, 3, 1, 1))

    def forward(self, images):
        x = images.flip(1) if self.bgr else images
        return self.extractor((x * self.scale - self.mean) / self.std)


def _stack(weights: str, architecture: str, seed: int) -> nn.Sequential:
    if weights == "hed":
        if architecture != "vgg16":
            raise ValueError(f"HED's weights exist for vgg16 only, not {architecture!r}")
        return hed_torch.vgg16_features("hed")
    builder = getattr(torchvision.models, architecture)
    if weights == "imagenet":
        enum = getattr(torchvision.models, WEIGHTS_ENUMS[architecture])
        return builder(weights=enum.IMAGENET1K_V1).features
    stack = builder().features
    names = {index - 1: name for name, index in hed_torch.layer_indices(stack).items()}
    convs = {names[i]: m for i, m in enumerate(stack) if isinstance(m, nn.Conv2d)}
    shapes = {name: tuple(m.weight.shape[i] for i in (2, 3, 1, 0)) for name, m in convs.items()}
    arrays = random_weights(seed, shapes)  # the Keras half draws the same arrays
    with torch.no_grad():
        for name, module in convs.items():
            module.weight.copy_(torch.from_numpy(arrays[name][0].transpose(3, 2, 0, 1).copy()))
            module.bias.copy_(torch.from_numpy(arrays[name][1]))
    return stack


def feature_network(
    weights: str = "imagenet", architecture: str | None = None, layer_names=None, seed: int = 0
) -> FeatureNetwork:
    """A VGG from RGB images in [0, 1] to the maps of ``layer_names`` (default ``Recipe().layer_names``).

    ``weights``: ``"imagenet"`` (torchvision's ``vgg19`` by default, downloaded once; offline, a
    labelled stand-in: HED's VGG16), ``"hed"`` (VGG16 only) or ``"random"`` (He-normal from NumPy,
    ``seed``: the same arrays as in Keras). Frozen, in evaluation mode, on ``select_torch()``.
    """
    one_of(weights, ("imagenet", "hed", "random"), "weights")
    default = "vgg19" if weights == "imagenet" else "vgg16"
    architecture = one_of(architecture or default, tuple(WEIGHTS_ENUMS), "architecture")
    layer_names = tuple(layer_names or Recipe().layer_names)
    try:
        stack = _stack(weights, architecture, seed)
    except Exception as error:  # URLError offline; torch.hub raises others for a bad cache
        if weights != "imagenet":
            raise
        announce_stand_in(
            f"torchvision's {architecture} ImageNet weights ({type(error).__name__})",
            describe("vgg16", "hed") + ", a real pretrained network",
            f"torchvision.models.{architecture}(weights={WEIGHTS_ENUMS[architecture]}.IMAGENET1K_V1), "
            "as in the classic recipe",
        )
        return feature_network("hed", "vgg16", layer_names, seed)
    extractor = hed_torch.feature_extractor(stack, layer_names)
    model = _Network(extractor, input_convention("torch", weights)).eval().requires_grad_(False)
    model = model.to(select_torch())
    return FeatureNetwork(
        model, architecture, weights, describe(architecture, weights, seed), layer_names
    )


def _batch(images, device) -> torch.Tensor:
    x = torch.as_tensor(np.asarray(images) if not torch.is_tensor(images) else images)
    x = x.to(device=device, dtype=torch.float32).contiguous()
    return x[None] if x.dim() == 3 else x


def objective(network: FeatureNetwork, content, style, recipe: Recipe | None = None):
    """``loss(image)`` → dict of scalar tensors ``total``, ``content``, ``style``, ``tv`` (weighted).

    The targets (content features, style Gram matrices) are computed once, here.
    """
    recipe = recipe or Recipe()
    if tuple(network.layer_names) != recipe.layer_names:
        raise ValueError("the network's layer_names must be the recipe's layer_names")
    count, device = len(recipe.content_layers), network.model.mean.device
    with torch.no_grad():
        content_targets = network.model(_batch(content, device))[:count]
        style_targets = [gram_matrix(maps) for maps in network.model(_batch(style, device))[count:]]
    content_weights, style_weights = recipe.scaled(
        [t.cpu().numpy() for t in content_targets], [t.cpu().numpy() for t in style_targets]
    )

    def loss(image):
        maps = network.model(image)
        terms = {
            "content": sum(
                w * content_loss(m, t)
                for m, t, w in zip(maps[:count], content_targets, content_weights, strict=True)
            ),
            "style": style_loss(maps[count:], style_targets, style_weights),
            "tv": recipe.tv_weight * total_variation_loss(image),
        }
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
    one step per evaluation (then the pixels are clamped to [0, 1]); L-BFGS (strong Wolfe line
    search) also spends some on line searches. The result's image is ``(height, width, 3)``.
    """
    one_of(optimizer, ("adam", "lbfgs"), "optimizer")
    num_steps = positive_int(num_steps, "num_steps")
    loss = objective(network, content, style, recipe)
    image = _batch(content, network.model.mean.device).clone().requires_grad_(True)
    history = {"total": [], "content": [], "style": [], "tv": []}

    def evaluate():
        terms = loss(image)
        for key, value in terms.items():
            history[key].append(float(value.detach()))
        return terms["total"]

    start = time.perf_counter()
    if optimizer == "adam":
        adam = torch.optim.Adam([image], lr=learning_rate)
        for _ in range(num_steps):
            adam.zero_grad()
            evaluate().backward()
            adam.step()
            with torch.no_grad():
                image.clamp_(0.0, 1.0)
    else:
        lbfgs = torch.optim.LBFGS([image], lr=1, max_iter=num_steps, max_eval=num_steps,
                                  tolerance_grad=0, tolerance_change=0, history_size=20,
                                  line_search_fn="strong_wolfe")  # fmt: skip

        def closure():
            lbfgs.zero_grad()
            total = evaluate()
            total.backward()
            return total

        lbfgs.step(closure)
    pixels = image.detach().clamp(0.0, 1.0)[0].permute(1, 2, 0).cpu().numpy()
    return Result(pixels, optimizer, history, time.perf_counter() - start)
