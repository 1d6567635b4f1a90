"""cnnkit.blocks and cnnkit.models: chapter 4's blocks agree across Keras and PyTorch.

Shapes, parameter counts (against the formulas, each other and torchvision), the residual unit's
identity at a zero BatchNorm scale, equal outputs once the Keras weights are copied to PyTorch, and
Keras layers that come back whole from their config.
"""

import inspect

import keras
import numpy as np
import pytest
import torch
import torchvision

import cnnkit.blocks.keras as bk
import cnnkit.blocks.torch as bt
import cnnkit.models.keras as mk
import cnnkit.models.torch as mt

RNG = np.random.default_rng(0)


def built(layer, input_shape):
    """A Keras layer built for ``input_shape`` (batch axis included)."""
    layer.build(input_shape)
    return layer


def to_nchw(x):
    return torch.from_numpy(np.ascontiguousarray(np.asarray(x).transpose(0, 3, 1, 2)))


def to_nhwc(t):
    return t.detach().numpy().transpose(0, 2, 3, 1)


def copy_weights(keras_layers, torch_modules):
    """Copy Conv2D, BatchNormalization and Dense weights from Keras to the matching PyTorch modules."""
    keras_layers = [layer for layer in keras_layers if layer.weights]
    torch_modules = [module for module in torch_modules if list(module.parameters(recurse=False))]
    assert len(keras_layers) == len(torch_modules)
    with torch.no_grad():
        for source, target in zip(keras_layers, torch_modules, strict=True):
            if isinstance(source, keras.layers.BatchNormalization):
                source.moving_mean.assign(RNG.normal(size=source.moving_mean.shape))
                source.moving_variance.assign(
                    RNG.uniform(0.5, 2.0, size=source.moving_variance.shape)
                )
                source.gamma.assign(RNG.normal(size=source.gamma.shape))
                source.beta.assign(RNG.normal(size=source.beta.shape))
                for name, value in (
                    ("weight", source.gamma), ("bias", source.beta),
                    ("running_mean", source.moving_mean), ("running_var", source.moving_variance),
                ):  # fmt: skip
                    getattr(target, name).copy_(torch.from_numpy(np.asarray(value)))
                continue
            kernel = np.asarray(source.weights[0])
            if kernel.ndim == 4:  # (height, width, in, out) → (out, in, height, width)
                kernel = kernel.transpose(3, 2, 0, 1)
            else:  # Dense: (in, out) → Linear: (out, in)
                kernel = kernel.T
            target.weight.copy_(torch.from_numpy(np.ascontiguousarray(kernel)))
            if len(source.weights) > 1:
                target.bias.copy_(torch.from_numpy(np.asarray(source.weights[1])))


def keras_params(layer):
    return bk.count_parameters(layer)


CASES = {
    "residual unit": (
        lambda: bk.ResidualUnit(64), lambda: bt.ResidualUnit(64, 64), (8, 8, 64), (8, 8, 64),
        2 * 9 * 64 * 64 + 2 * 2 * 64,
    ),
    "residual unit, stride 2": (
        lambda: bk.ResidualUnit(128, strides=2), lambda: bt.ResidualUnit(64, 128, strides=2),
        (8, 8, 64), (4, 4, 128), 9 * 64 * 128 + 9 * 128 * 128 + 64 * 128 + 3 * 2 * 128,
    ),
    "bottleneck unit": (
        lambda: bk.BottleneckUnit(64), lambda: bt.BottleneckUnit(64, 64), (8, 8, 64), (8, 8, 256),
        64 * 64 + 9 * 64 * 64 + 64 * 256 + 64 * 256 + 2 * (64 + 64 + 256 + 256),
    ),
    "bottleneck unit, stride 2": (
        lambda: bk.BottleneckUnit(128, strides=2), lambda: bt.BottleneckUnit(256, 128, strides=2),
        (8, 8, 256), (4, 4, 512),
        256 * 128 + 9 * 128 * 128 + 128 * 512 + 256 * 512 + 2 * (128 + 128 + 512 + 512),
    ),
    "SE block": (
        lambda: bk.SEBlock(), lambda: bt.SEBlock(64), (8, 8, 64), (8, 8, 64),
        64 * 4 + 4 + 4 * 64 + 64,
    ),
    "inception module (3a)": (
        lambda: bk.InceptionModule(64, 96, 128, 16, 32, 32),
        lambda: bt.InceptionModule(192, 64, 96, 128, 16, 32, 32), (7, 7, 192), (7, 7, 256),
        (192 * 64 + 64) + (192 * 96 + 96) + (9 * 96 * 128 + 128) + (192 * 16 + 16)
        + (25 * 16 * 32 + 32) + (192 * 32 + 32),
    ),
    "separable conv": (
        lambda: keras.layers.SeparableConv2D(256, 3, padding="same"),
        lambda: bt.SeparableConv2D(128, 256, 3, padding="same"), (8, 8, 128), (8, 8, 256),
        9 * 128 + 128 * 256 + 256,
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", list(CASES))
def test_shapes_and_parameter_counts_match_the_formula_in_both_frameworks(case):
    make_keras, make_torch, input_shape, output_shape, trainable = CASES[case]
    layer = built(make_keras(), (None, *input_shape))
    module = make_torch()
    assert keras_params(layer)["trainable"] == trainable
    assert bt.count_parameters(module) == keras_params(layer)
    x = RNG.normal(size=(2, *input_shape)).astype(np.float32)
    assert tuple(layer(x).shape) == (2, *output_shape)
    assert tuple(layer.compute_output_shape((2, *input_shape))) == (2, *output_shape)
    module.eval()
    assert tuple(to_nhwc(module(to_nchw(x))).shape) == (2, *output_shape)


def test_batch_norm_statistics_are_counted_alike():
    layer = built(bk.ResidualUnit(128, strides=2), (None, 8, 8, 64))
    counts = bt.count_parameters(bt.ResidualUnit(64, 128, strides=2))
    assert keras_params(layer)["non_trainable"] == counts["non_trainable"] == 3 * 2 * 128


@pytest.mark.parametrize("strides", [1, 2])
def test_residual_unit_is_its_skip_path_plus_relu_when_the_last_bn_scale_is_zero(strides):
    x = RNG.normal(size=(2, 8, 8, 64)).astype(np.float32)
    filters = 64 * strides
    layer = built(bk.ResidualUnit(filters, strides=strides), (None, 8, 8, 64))
    layer.main[-1].gamma.assign(np.zeros(filters))
    module = bt.ResidualUnit(64, filters, strides=strides).eval()
    with torch.no_grad():
        module.main[-1].weight.zero_()
        torch_out = module(to_nchw(x))
        torch_skip = module.skip(to_nchw(x))
    keras_out = np.asarray(layer(x, training=False))
    if strides == 1:  # identity skip: the unit is just a ReLU
        np.testing.assert_allclose(keras_out, np.maximum(x, 0), atol=1e-6)
        np.testing.assert_allclose(to_nhwc(torch_out), np.maximum(x, 0), atol=1e-6)
    else:  # projected skip: a 1×1 conv with stride 2 (and BN) feeds the ReLU
        assert module.skip[0].kernel_size == (1, 1) and module.skip[0].stride == (2, 2)
        assert layer.skip[0].kernel_size == (1, 1) and layer.skip[0].strides == (2, 2)
        skip = layer.skip[1](layer.skip[0](x), training=False)
        np.testing.assert_allclose(keras_out, np.maximum(skip, 0), atol=1e-6)
        np.testing.assert_allclose(
            to_nhwc(torch_out), np.maximum(to_nhwc(torch_skip), 0), atol=1e-6
        )


def test_residual_unit_computes_the_same_in_both_frameworks():
    x = RNG.normal(size=(2, 8, 8, 32)).astype(np.float32)
    layer = built(bk.ResidualUnit(48), (None, 8, 8, 32))  # stride 1, projected skip (32 → 48)
    module = bt.ResidualUnit(32, 48).eval()
    copy_weights([*layer.main, *layer.skip], [*module.main, *module.skip])
    np.testing.assert_allclose(
        to_nhwc(module(to_nchw(x))), layer(x, training=False), rtol=1e-4, atol=1e-4
    )


def test_se_block_computes_the_same_in_both_frameworks_and_only_rescales_maps():
    x = np.abs(RNG.normal(size=(2, 5, 5, 32))).astype(np.float32) + 0.1
    layer = built(bk.SEBlock(ratio=4), (None, 5, 5, 32))
    module = bt.SEBlock(32, ratio=4)
    copy_weights([layer.squeeze, layer.excite], [module.squeeze, module.excite])
    keras_out = np.asarray(layer(x))
    np.testing.assert_allclose(to_nhwc(module(to_nchw(x))), keras_out, rtol=1e-5, atol=1e-6)
    scale = keras_out / x  # one weight per (instance, map), in (0, 1)
    assert np.allclose(scale, scale[:, :1, :1, :], atol=1e-5)
    assert ((scale > 0) & (scale < 1)).all()


def test_inception_module_computes_the_same_in_both_frameworks():
    x = RNG.normal(size=(1, 9, 9, 16)).astype(np.float32)
    layer = built(bk.InceptionModule(4, 6, 8, 2, 3, 5), (None, 9, 9, 16))
    module = bt.InceptionModule(16, 4, 6, 8, 2, 3, 5)
    keras_convs = [sub for branch in layer.branches for sub in branch]
    torch_convs = [sub for branch in module.branches for sub in branch]
    copy_weights(keras_convs, torch_convs)
    np.testing.assert_allclose(to_nhwc(module(to_nchw(x))), layer(x), rtol=1e-4, atol=1e-5)


def test_separable_conv_computes_the_same_in_both_frameworks():
    x = RNG.normal(size=(2, 7, 7, 8)).astype(np.float32)
    layer = built(keras.layers.SeparableConv2D(5, 3, padding="same"), (None, 7, 7, 8))
    module = bt.SeparableConv2D(8, 5, 3, padding="same")
    # Keras kernels: depthwise (3, 3, 8, 1), pointwise (1, 1, 8, 5), bias (5,)
    depthwise, pointwise, bias = (np.asarray(w) for w in layer.weights)
    with torch.no_grad():
        module.depthwise.weight.copy_(torch.from_numpy(depthwise.transpose(2, 3, 0, 1).copy()))
        module.pointwise.weight.copy_(torch.from_numpy(pointwise.transpose(3, 2, 0, 1).copy()))
        module.pointwise.bias.copy_(torch.from_numpy(bias))
    np.testing.assert_allclose(to_nhwc(module(to_nchw(x))), layer(x), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    ("depth_radius", "bias", "alpha", "beta"),
    [(2, 1.0, 0.00002, 0.75), (1, 2.0, 1e-4, 0.75), (0, 1.0, 0.5, 0.5), (5, 1.0, 1.0, 0.5)],
)
def test_lrn_layers_agree_once_parameters_are_mapped(depth_radius, bias, alpha, beta):
    x = (RNG.normal(size=(2, 4, 4, 12)) * 10).astype(np.float32)
    keras_out = bk.LocalResponseNormalization(depth_radius, bias, alpha, beta)(x)
    module = bt.LocalResponseNormalization(depth_radius, bias, alpha, beta)
    assert module.size == 2 * depth_radius + 1
    np.testing.assert_allclose(to_nhwc(module(to_nchw(x))), keras_out, rtol=1e-5, atol=1e-6)


def test_resnets_have_torchvision_parameter_counts_in_both_frameworks():
    resnet34 = bt.count_parameters(torchvision.models.resnet34())
    assert resnet34["trainable"] == 21_797_672  # "about 21.8 million" with a 1,000-class head
    assert bt.count_parameters(mt.resnet34()) == resnet34
    assert bk.count_parameters(mk.resnet34()) == resnet34
    resnet50 = bt.count_parameters(torchvision.models.resnet50())
    assert bt.count_parameters(mt.resnet50()) == resnet50
    assert bk.count_parameters(mk.resnet50()) == resnet50


def test_resnet34_runs_on_a_small_input_with_a_small_head():
    keras_model = mk.resnet34(num_classes=5, input_shape=(64, 64, 3))
    torch_model = mt.resnet34(num_classes=5).eval()
    x = RNG.random((1, 64, 64, 3)).astype(np.float32)
    assert keras_model(x).shape == (1, 5)
    assert torch_model(to_nchw(x)).shape == (1, 5)
    assert bk.count_parameters(keras_model) == bt.count_parameters(torch_model)


def test_fashion_mnist_cnn_has_the_same_parameters_in_both_frameworks():
    keras_model = mk.fashion_mnist_cnn()
    torch_model = mt.fashion_mnist_cnn().eval()
    assert keras_model.count_params() == bt.count_parameters(torch_model)["total"] == 1_413_834
    x = RNG.random((3, 28, 28, 1)).astype(np.float32)
    assert keras_model(x).shape == torch_model(to_nchw(x)).shape == (3, 10)


ROUND_TRIP = {  # every constructor argument away from its default, and the input to build on
    "residual": (lambda: bk.ResidualUnit(24, strides=2), (2, 8, 8, 16)),
    "bottleneck": (lambda: bk.BottleneckUnit(8, strides=2, expansion=2), (2, 8, 8, 12)),
    "se": (lambda: bk.SEBlock(ratio=4), (2, 5, 5, 16)),
    "inception": (lambda: bk.InceptionModule(1, 2, 3, 4, 5, 6), (2, 6, 6, 3)),
    "lrn": (lambda: bk.LocalResponseNormalization(2, 2.0, 1e-3, 0.75), (2, 4, 4, 12)),
}


@pytest.mark.parametrize("block", list(ROUND_TRIP))
def test_keras_blocks_come_back_whole_from_their_config(block):
    make, input_shape = ROUND_TRIP[block]
    layer = make()
    config = layer.get_config()
    arguments = inspect.signature(type(layer).__init__).parameters.values()
    arguments = [a for a in arguments if a.name != "self" and a.kind != a.VAR_KEYWORD]
    for argument in arguments:  # a forgotten key would come back as its default: test without them
        assert argument.name in config, f"get_config forgets {argument.name!r}"
        assert config[argument.name] != argument.default, f"give {argument.name!r} a non-default"
    clone = type(layer).from_config(config)
    assert clone.get_config() == config
    x = RNG.normal(size=input_shape).astype(np.float32) * 3
    layer.build(input_shape)
    clone.build(input_shape)
    clone.set_weights(layer.get_weights())  # fails if a forgotten size changed a weight's shape
    np.testing.assert_allclose(clone(x, training=False), layer(x, training=False), rtol=1e-6)


@pytest.mark.parametrize(
    "make",
    [
        lambda: bk.ResidualUnit(0), lambda: bt.ResidualUnit(3, 8, strides=0),
        lambda: bk.SEBlock(ratio=0), lambda: bt.SEBlock(0), lambda: bt.BottleneckUnit(3, 4, expansion=0),
        lambda: bk.InceptionModule(1, 2, 3, 4, 5, 0), lambda: bt.InceptionModule(3, 1, 2, 3, 4, 5, -1),
        lambda: bk.LocalResponseNormalization(-1), lambda: bt.LocalResponseNormalization(1.5),
        lambda: mk.resnet((3, 4, 6)), lambda: mt.resnet((3, 0, 6, 3)),
    ],
)  # fmt: skip
def test_bad_arguments_raise_value_error(make):
    with pytest.raises(ValueError):
        make()


def test_torch_summary_lists_top_level_layers_with_shapes_and_counts(capsys):
    model = mt.fashion_mnist_cnn()
    mt.summary(model, input_shape=(1, 28, 28))
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["Layer", "(type)", "Output", "shape", "Param", "#"]
    assert "0 (Conv2d)" in lines[2] and "(N, 64, 28, 28)" in lines[2] and "3,200" in lines[2]
    assert "(N, 10)" in lines[-3] and "650" in lines[-3]
    assert lines[-1] == "Total params: 1,413,834 (trainable: 1,413,834, non-trainable: 0)"
    assert model.training  # the mode is restored after the shape pass
    mt.summary(mt.resnet34())  # without an input shape: counts only, nothing computed
    out = capsys.readouterr().out
    assert "(N," not in out and "21,814,696 (trainable: 21,797,672, non-trainable: 17,024)" in out
