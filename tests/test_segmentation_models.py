"""cnnkit.segmentation.keras / .torch: bilinear upsampling layers, FCN heads and MobileNetV2 stages,
the same numbers in both frameworks."""

import numpy as np
import pytest

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")
torch = pytest.importorskip("torch")

import cnnkit.segmentation.keras as seg_keras  # noqa: E402
import cnnkit.segmentation.torch as seg_torch  # noqa: E402
from cnnkit.conv import copy_conv2d_weights  # noqa: E402

F = torch.nn.functional


def nchw(x):
    return torch.from_numpy(np.ascontiguousarray(np.asarray(x, np.float32).transpose(0, 3, 1, 2)))


def nhwc(t):
    return t.detach().numpy().transpose(0, 2, 3, 1)


@pytest.mark.parametrize("factor", [2, 4, 8])
def test_bilinear_upsampling_layers_interpolate(factor):
    x = np.random.default_rng(factor).random((2, 5, 6, 3)).astype(np.float32)
    from_keras = np.asarray(seg_keras.bilinear_upsampling(3, factor)(x))
    from_torch = nhwc(seg_torch.bilinear_upsampling(3, factor)(nchw(x)))
    assert from_keras.shape == (2, 5 * factor, 6 * factor, 3)
    np.testing.assert_allclose(from_keras, from_torch, atol=1e-5)
    resized = tf.image.resize(x, (5 * factor, 6 * factor)).numpy()
    inner = (slice(None), slice(factor, -factor), slice(factor, -factor))
    np.testing.assert_allclose(from_keras[inner], resized[inner], atol=1e-5)
    interpolated = nhwc(F.interpolate(nchw(x), scale_factor=factor, mode="bilinear"))
    np.testing.assert_allclose(from_torch[inner], interpolated[inner], atol=1e-5)
    assert not seg_torch.bilinear_upsampling(3, factor, trainable=False).weight.requires_grad


def maps(batch=2, size=64, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((batch, size // s, size // s, c)).astype(np.float32)
            for s, c in zip((8, 16, 32), seg_torch.STAGE_CHANNELS, strict=True)]  # fmt: skip


@pytest.mark.parametrize("variant", ["32s", "16s", "8s"])
def test_heads_have_the_same_shapes_parameters_and_outputs(variant):
    taps = maps()
    keras_head = seg_keras.FCNHead(11, variant)
    from_keras = np.asarray(keras_head(taps))
    torch_head = seg_torch.FCNHead(num_classes=11, variant=variant)
    for keras_score, torch_score in zip(keras_head.scores, torch_head.scores, strict=True):
        copy_conv2d_weights(keras_score, torch_score)
    from_torch = nhwc(torch_head(*[nchw(t) for t in taps]))
    assert from_keras.shape == (2, 64, 64, 11)
    np.testing.assert_allclose(from_keras, from_torch, atol=1e-4)
    trainable = sum(p.numel() for p in torch_head.parameters() if p.requires_grad)
    assert trainable == sum(int(np.prod(w.shape)) for w in keras_head.trainable_weights)
    coarse = seg_torch.FCNHead(num_classes=11, variant="32s")
    assert len(torch_head.scores) == {"32s": 1, "16s": 2, "8s": 3}[variant]
    assert trainable == sum(p.numel() for p in coarse.parameters() if p.requires_grad) + {
        "32s": 0, "16s": 96 * 11 + 11 + 4 * 4 * 11 * 11, "8s": 128 * 11 + 22 + 2 * 4 * 4 * 11 * 11
    }[variant]  # fmt: skip


def test_skips_start_at_zero():
    head = seg_torch.FCNHead(num_classes=3, variant="8s")
    assert all(float(score.weight.detach().abs().sum()) == 0 for score in head.scores[1:])
    keras_head = seg_keras.FCNHead(3, "8s")
    keras_head(maps())
    assert all(np.abs(np.asarray(score.kernel)).sum() == 0 for score in keras_head.scores[1:])


def test_bad_arguments():
    with pytest.raises(ValueError, match="variant"):
        seg_torch.FCNHead(variant="4s")
    with pytest.raises(ValueError, match="variant"):
        seg_keras.FCNHead(11, "8")
    with pytest.raises(ValueError, match="3 maps"):
        seg_torch.FCN(seg_torch.FCNHead())(torch.zeros(1, 32, 8, 8))
    with pytest.raises(ValueError, match="length"):
        seg_torch.map_batches(np.zeros((3, 2)), np.zeros((4, 5, 5)))


def test_pretrained_stages_give_the_same_maps_and_masks_in_both_frameworks():
    images = np.random.default_rng(0).random((2, 64, 64, 3)).astype(np.float32)
    keras_stages = seg_keras.mobilenet_v2_stages("imagenet")
    torch_stages = seg_torch.mobilenet_v2_stages("imagenet")
    from_keras = seg_keras.compute_maps(keras_stages, images)
    from_torch = seg_torch.compute_maps(torch_stages, nchw(images).numpy())
    for stride, a, b, channels in zip(
        (8, 16, 32), from_keras, from_torch, seg_keras.STAGE_CHANNELS, strict=True
    ):
        assert a.shape == (2, 64 // stride, 64 // stride, channels)
        np.testing.assert_allclose(a, b.transpose(0, 2, 3, 1), atol=1e-3 * max(1, np.abs(a).max()))
    keras_model = seg_keras.FCN(seg_keras.FCNHead(11, "8s"), keras_stages)
    keras_masks = seg_keras.predict_masks(keras_model, images)
    torch_model = seg_torch.FCN(seg_torch.FCNHead(num_classes=11), torch_stages)
    for keras_score, torch_score in zip(
        keras_model.head.scores, torch_model.head.scores, strict=True
    ):
        copy_conv2d_weights(keras_score, torch_score)
    torch_masks = seg_torch.predict_masks(torch_model, nchw(images).numpy())
    assert keras_masks.shape == torch_masks.shape == (2, 64, 64)
    assert np.mean(keras_masks == torch_masks) > 0.99


def test_training_on_cached_maps_keeps_the_pretrained_statistics():
    stages = seg_torch.mobilenet_v2_stages(None)
    model = seg_torch.FCN(seg_torch.FCNHead(), stages[2:])
    model.train()
    norms = [m for m in model.stages.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert model.head.training and norms and not any(m.training for m in norms)
    seg_torch.FCN(seg_torch.FCNHead(), stages[2:], keep_statistics=False).train()
    assert all(m.training for m in norms)
    x8, x16 = torch.zeros(2, 32, 8, 8), torch.zeros(2, 96, 4, 4)
    assert model(x8, x16).shape == (2, 11, 64, 64)
    loader = seg_torch.map_batches((x8.numpy(), x16.numpy()), np.zeros((2, 64, 64)), batch_size=2)
    (a, b), masks = next(iter(loader))
    assert a.shape == (2, 32, 8, 8) and b.shape == (2, 96, 4, 4) and masks.dtype == torch.int64
