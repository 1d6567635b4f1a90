"""cnnkit.data: the genuine loaders on real offline files, labelled stand-ins, clear errors, and
``cnnkit.data.keras.batches`` / ``cnnkit.data.torch.batches`` giving the same batches."""

import numpy as np
import pytest
import tensorflow as tf
import torch

import cnnkit.data.keras
import cnnkit.data.torch
from cnnkit import data


def test_sample_images_are_the_real_photos_in_tf_layout():
    images = data.load_sample_images()
    assert images.shape == (2, 427, 640, 3) and images.dtype == np.float32
    assert 0.0 <= images.min() and images.max() <= 1.0 and images.std() > 0.1
    assert data.load_sample_images("flower.jpg").shape == (1, 427, 640, 3)
    with pytest.raises(ValueError, match="unknown sample image 'cat.jpg'"):
        data.load_sample_images(["cat.jpg"])


def test_layout_conversion_round_trip_and_bad_shapes():
    x = np.arange(2 * 5 * 7 * 3).reshape(2, 5, 7, 3)
    chw = data.nhwc_to_nchw(x)
    assert chw.shape == (2, 3, 5, 7) and chw[1, 2, 4, 6] == x[1, 4, 6, 2]
    np.testing.assert_array_equal(data.nchw_to_nhwc(chw), x)
    with pytest.raises(
        ValueError, match=r"must be 4-D \(batch, height, width, channels\), got shape \(5, 7, 3\)"
    ):
        data.nhwc_to_nchw(x[0])
    with pytest.raises(ValueError, match="batch, channels, height, width"):
        data.nchw_to_nhwc(x[0])


def test_mnist_offline_uses_the_real_test_set_as_a_labelled_stand_in(capsys):
    mnist = data.load_mnist()
    out = capsys.readouterr().out
    if mnist.source.startswith("offline"):  # no internet: the case on CI
        assert "OFFLINE STAND-IN" in out and "Online you would see" in out
        assert mnist.is_stand_in
        assert len(mnist.x_train) == 8000 and len(mnist.x_test) == 2000
    assert mnist.x_train.shape[1:] == (28, 28) and mnist.x_train.dtype == np.uint8
    assert set(np.unique(mnist.y_test)) == set(range(10))
    assert mnist.class_names == tuple("0123456789")
    small = mnist.subset(100, 10)
    assert len(small.x_train) == len(small.y_train) == 100 and len(small.x_test) == 10
    with pytest.raises(ValueError, match="num_train must be a positive int"):
        mnist.subset(0)


def test_mnist_with_no_internet_and_no_cache_names_the_problem(tmp_path, monkeypatch):
    monkeypatch.setenv("CNNKIT_DATA_DIR", str(tmp_path))
    with pytest.raises(
        RuntimeError, match=r"MNIST could not be loaded \(no internet connection and no cached copy"
    ):
        data.load_mnist()


def test_fashion_mnist_offline_stand_in_is_labelled(capsys):
    fashion = data.load_fashion_mnist()
    if fashion.is_stand_in:
        assert "Fashion-MNIST could not be loaded" in capsys.readouterr().out
        assert "MNIST digits in place of Fashion-MNIST" in fashion.source
    else:
        assert fashion.class_names == data.FASHION_MNIST_CLASSES


def test_tf_flowers_through_tensorflow_datasets():
    (test, valid, train), info = data.load_tf_flowers()
    assert info.features["label"].names == ["dandelion", "daisy", "tulips", "sunflowers", "roses"]
    sizes = [sum(1 for _ in split) for split in (test, valid, train)]
    total = info.splits["train"].num_examples
    assert sum(sizes) == total and sizes[0] == pytest.approx(total * 0.10, abs=1)
    image, label = next(iter(train))
    assert image.shape[-1] == 3 and image.dtype == tf.uint8 and 0 <= int(label) < 5


def test_tf_flowers_missing_offline_fails_fast_and_clearly(tmp_path):
    with pytest.raises(RuntimeError, match="tf_flowers is not prepared in"):
        data.load_tf_flowers(data_dir=str(tmp_path))


def test_flower_photos_folder_reads_with_keras_and_torchvision():
    import keras
    import torchvision

    folder = data.flower_photos_dir()
    classes = sorted(p.name for p in folder.iterdir() if p.is_dir())
    assert classes == ["daisy", "dandelion", "roses", "sunflowers", "tulips"]
    torch_set = torchvision.datasets.ImageFolder(folder)
    keras_set = keras.utils.image_dataset_from_directory(folder, image_size=(64, 64), batch_size=8)
    assert torch_set.classes == keras_set.class_names == classes
    assert len(torch_set) == sum(len(batch[1]) for batch in keras_set) > 0


def test_batches_of_both_frameworks_agree():
    images = np.random.default_rng(0).integers(0, 256, size=(10, 6, 5), dtype=np.uint8)
    labels = np.arange(10) % 3
    x_torch, y_torch = next(iter(cnnkit.data.torch.batches(images, labels, batch_size=4)))
    x_tf, y_tf = next(iter(cnnkit.data.keras.batches(images, labels, batch_size=4)))
    assert tuple(x_torch.shape) == (4, 1, 6, 5) and x_torch.dtype == torch.float32
    assert tuple(x_tf.shape) == (4, 6, 5, 1) and x_tf.dtype == tf.float32
    np.testing.assert_allclose(x_torch.numpy().transpose(0, 2, 3, 1), x_tf.numpy())
    np.testing.assert_array_equal(y_torch.numpy(), y_tf.numpy())
    assert float(x_tf.numpy().max()) <= 1.0
    with pytest.raises(ValueError, match="differ in length: 10 vs 9"):
        cnnkit.data.torch.batches(images, labels[:9])
    with pytest.raises(ValueError, match=r"images must be \(n, height, width\[, channels\]\)"):
        cnnkit.data.keras.batches(images[0], labels)
    for half in (cnnkit.data.keras, cnnkit.data.torch):
        with pytest.raises(ValueError, match="batch_size must be a positive int, got 0"):
            half.batches(images, labels, batch_size=0)
