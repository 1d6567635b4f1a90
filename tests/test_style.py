"""cnnkit.style: the NumPy reference losses, the Keras and PyTorch halves agreeing with it (and with
TensorFlow's own total variation), feature networks that are the same in both frameworks, and
optimizations that lower the loss."""

import numpy as np
import pytest
import tensorflow as tf
import torch

from cnnkit import style
from cnnkit.style import keras as style_keras
from cnnkit.style import torch as style_torch

# Exact float32 on GPUs too (TensorFloat-32 would round convolutions to a 10-bit mantissa).
tf.config.experimental.enable_tensor_float_32_execution(False)
torch.backends.cudnn.conv.fp32_precision = "ieee"
torch.backends.cuda.matmul.fp32_precision = "ieee"


def nchw(array):
    return np.ascontiguousarray(np.asarray(array).transpose(0, 3, 1, 2))


def close(actual, expected, rtol=1e-5):
    actual, expected = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    scale = max(float(np.abs(expected).max()), 1e-12)
    assert float(np.abs(actual - expected).max()) <= rtol * scale


# --- the NumPy reference -------------------------------------------------------------------------


def test_gram_matrix_worked_example_in_both_layouts():
    # Two channels on a 1 x 2 map: positions (1, 2) and (3, 4).
    features = np.array([[[[1.0, 2.0], [3.0, 4.0]]]])  # (1, 1, 2, 2) channels last
    expected = np.array([[[1 + 9, 2 + 12], [2 + 12, 4 + 16]]]) / 2  # divided by 2 positions
    close(style.gram_matrix(features), expected)
    close(style.gram_matrix(nchw(features), layout="nchw"), expected)
    rng = np.random.default_rng(0)
    maps = rng.standard_normal((3, 5, 7, 4))
    einsum = np.einsum("bhwc,bhwd->bcd", maps, maps) / 35
    close(style.gram_matrix(maps), einsum)
    close(style.gram_matrix(nchw(maps), "nchw"), einsum)
    with pytest.raises(ValueError, match="layout must be one of 'nhwc', 'nchw', got 'hwc'"):
        style.gram_matrix(maps, "hwc")
    with pytest.raises(ValueError, match=r"features must be 4-D \(batch, channels, height"):
        style.gram_matrix(maps[0], "nchw")


def test_gram_matrix_forgets_where_things_are():
    rng = np.random.default_rng(1)
    maps = rng.standard_normal((1, 6, 6, 3))
    shuffled = rng.permutation(maps.reshape(36, 3)).reshape(1, 6, 6, 3)
    close(style.gram_matrix(shuffled), style.gram_matrix(maps))
    assert style.content_loss(shuffled, maps) > 0.5  # the content loss does notice


def test_style_and_content_and_variation_losses_by_hand():
    a, b = np.zeros((1, 2, 2, 1)), np.ones((1, 2, 2, 1))
    assert style.content_loss(a, b) == 1.0
    target = np.array([[[0.5]]])  # gram(b) is [[1.0]]
    assert style.style_loss([b, b], [target, target], [2.0, 4.0]) == pytest.approx(6 * 0.25)
    with pytest.raises(ValueError, match="got 2 feature maps, 2 targets and 1 weights"):
        style.style_loss([b, b], [target, target], [1.0])
    with pytest.raises(ValueError, match="differ in shape"):
        style.content_loss(a, np.ones((1, 2, 3, 1)))
    steps = np.zeros((1, 3, 4, 2))
    steps[:, :, 2:, 0] = 1.0  # one vertical edge in channel 0: 3 jumps of 1, none vertically
    assert style.total_variation_loss(steps) == pytest.approx(3 / 24)
    assert style.total_variation_loss(nchw(steps), "nchw") == pytest.approx(3 / 24)


def test_recipe_checks_and_scaling():
    recipe = style.Recipe()
    assert recipe.layer_names == (*style.CONTENT_LAYERS, *style.STYLE_LAYERS)
    content_weights, style_weights = recipe.scaled([np.full(4, 2.0)], [np.full(2, 0.5)] * 5)
    assert content_weights == [0.25] and style_weights == pytest.approx([10 * 0.2 / 0.25] * 5)
    with pytest.raises(ValueError, match="one weight per style layer"):
        style.Recipe(style_layer_weights=(1.0,))


# --- the framework halves ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def layers():
    """Three layers of random feature maps (channels last), their targets and weights."""
    rng = np.random.default_rng(2)
    maps = [rng.standard_normal((2, h, w, c)).astype(np.float32) for h, w, c in
            [(8, 9, 3), (4, 5, 6), (2, 3, 8)]]  # fmt: skip
    targets = [style.gram_matrix(rng.standard_normal(m.shape)).astype(np.float32) for m in maps]
    return maps, targets, [0.5, 2.0, 0.25]


def test_keras_and_torch_losses_equal_the_reference(layers):
    maps, targets, weights = layers
    for m in maps:
        close(style_keras.gram_matrix(m), style.gram_matrix(m))
        close(style_torch.gram_matrix(torch.from_numpy(nchw(m))), style.gram_matrix(m))
    expected = style.style_loss(maps, targets, weights)
    close(style_keras.style_loss(maps, targets, weights), expected)
    close(style_torch.style_loss([torch.from_numpy(nchw(m)) for m in maps],
                                 [torch.from_numpy(t) for t in targets], weights), expected)  # fmt: skip
    close(
        style_keras.content_loss(maps[0], maps[0] * 0.5), style.content_loss(maps[0], maps[0] * 0.5)
    )
    images = np.random.default_rng(3).random((2, 6, 7, 3)).astype(np.float32)
    framework = tf.reduce_sum(tf.image.total_variation(tf.constant(images))) / images.size
    close(style.total_variation_loss(images), framework)
    close(style_keras.total_variation_loss(images), framework)
    close(style_torch.total_variation_loss(torch.from_numpy(nchw(images))), framework)
    for half, data in (
        (style_keras, maps),
        (style_torch, [torch.from_numpy(nchw(m)) for m in maps]),
    ):
        with pytest.raises(ValueError, match="one target and one weight per layer"):
            half.style_loss(data, targets, weights[:2])


@pytest.fixture(scope="module")
def images():
    """A small content photo and a style photo (scikit-image), RGB in [0, 1], (32, 32, 3)."""
    from skimage import data, transform

    content = transform.resize(data.chelsea()[:, 75:375], (32, 32), anti_aliasing=True)
    style_image = transform.resize(data.immunohistochemistry(), (32, 32), anti_aliasing=True)
    return content.astype(np.float32), style_image.astype(np.float32)


@pytest.mark.parametrize(("weights", "architecture"), [("imagenet", None), ("random", "vgg19")])
def test_networks_losses_and_gradients_agree_across_frameworks(
    weights, architecture, images, capsys
):
    content, style_image = images
    keras_net = style_keras.feature_network(weights, architecture, seed=5)
    torch_net = style_torch.feature_network(weights, architecture, seed=5)
    if weights == "imagenet" and keras_net.weights == "hed":  # offline: a labelled stand-in
        out = capsys.readouterr().out
        assert out.count("OFFLINE STAND-IN") == 2 and "not pure ImageNet" in out
        assert torch_net.weights == "hed" and "not pure ImageNet" in keras_net.description
    elif weights == "imagenet":
        pytest.skip("online: each framework has its own ImageNet VGG19, they need not agree")
    assert keras_net.architecture == torch_net.architecture
    start = np.clip(content + 0.1 * (style_image - 0.5), 0, 1)
    keras_image = tf.Variable(start[None])
    with tf.GradientTape() as tape:
        keras_terms = style_keras.objective(keras_net, content, style_image)(keras_image)
    keras_gradient = tape.gradient(keras_terms["total"], keras_image).numpy()
    device = torch_net.model.mean.device  # the GPU, where there is one
    torch_image = torch.from_numpy(nchw(start[None])).to(device).requires_grad_(True)
    torch_loss = style_torch.objective(torch_net, nchw(content[None]), nchw(style_image[None]))
    torch_terms = torch_loss(torch_image)
    torch_terms["total"].backward()
    for key in ("total", "content", "style", "tv"):
        close(float(torch_terms[key].detach()), float(keras_terms[key]), rtol=1e-4)
    assert float(keras_terms["content"]) > 0 and float(keras_terms["style"]) > 0
    # Compared as a whole: a max-pooling tie that rounding makes in one framework only moves the
    # gradient of one window to a neighbouring pixel.
    difference = nchw(keras_gradient) - torch_image.grad.cpu().numpy()
    assert np.linalg.norm(difference) < 1e-3 * np.linalg.norm(keras_gradient)


def test_bad_choices_are_named():
    for half in (style_keras, style_torch):
        with pytest.raises(ValueError, match="weights must be one of"):
            half.feature_network("vgg19")
        with pytest.raises(ValueError, match="HED's weights exist for vgg16 only"):
            half.feature_network("hed", "vgg19")
        network = half.feature_network("random", layer_names=("block1_conv1", "block1_conv2"))
        with pytest.raises(ValueError, match="the recipe's layer_names"):
            half.objective(network, np.zeros((8, 8, 3)), np.zeros((8, 8, 3)))


@pytest.mark.parametrize("optimizer", ["adam", "lbfgs"])
@pytest.mark.parametrize("framework", ["keras", "torch"])
def test_stylize_lowers_the_loss_within_its_budget(framework, optimizer, images):
    content, style_image = images
    half = style_keras if framework == "keras" else style_torch
    if framework == "torch":
        content, style_image = content.transpose(2, 0, 1), style_image.transpose(2, 0, 1)
    network = half.feature_network("hed")
    result = half.stylize(network, content, style_image, optimizer=optimizer, num_steps=12)
    assert result.image.shape == (32, 32, 3) and result.optimizer == optimizer
    assert 0.0 <= result.image.min() and result.image.max() <= 1.0
    assert 1 <= result.evaluations <= 12 + 3  # a line search may finish past the budget
    assert set(result.losses) == {"total", "content", "style", "tv"}
    assert min(result.losses["total"]) < 0.6 * result.losses["total"][0]
    assert result.losses["content"][0] == pytest.approx(0.0, abs=1e-6)  # starts at the content
    with pytest.raises(ValueError, match="optimizer must be one of 'adam', 'lbfgs', got 'sgd'"):
        half.stylize(network, content, style_image, optimizer="sgd")
