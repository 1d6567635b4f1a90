"""cnnkit.photos: the same photo pipeline in tf.data and in a PyTorch DataLoader.

Photos of any size are cropped to their central square and resized (never stretched), augmented
only when asked, preprocessed once, and batched; both frameworks give the same photos in the same
order, and the real tf_flowers splits go through both.
"""

import os

import numpy as np
import pytest
import tensorflow as tf
import torch

import cnnkit.data
from cnnkit.photos import keras as photos_keras
from cnnkit.photos import torch as photos_torch


def thirds(height, width):
    """A wide or tall photo: red, green and blue thirds along its longer side (uint8)."""
    image = np.zeros((height, width, 3), np.uint8)
    axis = 1 if width >= height else 0
    for channel, part in enumerate(np.array_split(np.arange(max(height, width)), 3)):
        index = (slice(None), part) if axis == 1 else (part, slice(None))
        image[index + (channel,)] = 200
    return image


PHOTOS = [thirds(60, 180), thirds(150, 50), thirds(80, 80)]
LABELS = [2, 0, 1]


def keras_photos():
    return tf.data.Dataset.from_generator(
        lambda: iter(zip(PHOTOS, LABELS, strict=True)),
        output_signature=(
            tf.TensorSpec((None, None, 3), tf.uint8),
            tf.TensorSpec((), tf.int64),
        ),
    )


def identity(x):
    return x


def as_batches_keras(**kwargs):
    batches = photos_keras.photo_batches(keras_photos(), preprocess=identity, **kwargs)
    images, labels = zip(*((x.numpy(), y.numpy()) for x, y in batches), strict=True)
    return np.concatenate(images), np.concatenate(labels)


def as_batches_torch(**kwargs):
    loader = photos_torch.photo_batches(
        list(zip(PHOTOS, LABELS, strict=True)), preprocess=identity, num_workers=0, **kwargs
    )
    images, labels = zip(*((x.numpy(), y.numpy()) for x, y in loader), strict=True)
    return np.concatenate(images).transpose(0, 2, 3, 1), np.concatenate(labels)


def test_photos_are_cropped_to_their_central_square_not_stretched():
    for images in (as_batches_keras(image_size=30)[0], as_batches_torch(image_size=30)[0]):
        assert images.shape == (3, 30, 30, 3) and images.dtype == np.float32
        # The two wide/tall photos keep only their middle (green) third; the square one is whole.
        for photo in images[:2]:
            assert photo[..., 1].min() > 150 and photo[..., [0, 2]].max() < 50
        assert images[2, :, :8, 0].mean() > 150 and images[2, :, -8:, 2].mean() > 150


def test_both_frameworks_give_the_same_photos_in_the_same_order():
    keras_images, keras_labels = as_batches_keras(image_size=30, batch_size=2)
    torch_images, torch_labels = as_batches_torch(image_size=30, batch_size=2)
    assert keras_labels.tolist() == torch_labels.tolist() == LABELS
    # Resampling differs a little at the colour edges; the photos are the same.
    assert np.mean(np.abs(keras_images - torch_images)) < 6


def test_preprocessing_is_applied_once_to_pixels_in_0_255():
    seen = []

    def record(x):
        seen.append(1)
        return x / 255.0

    images = np.concatenate(
        [x.numpy() for x, _ in photos_keras.photo_batches(keras_photos(), preprocess=record)]
    )
    assert 0.7 < images.max() <= 200 / 255 + 1e-6  # scaled once, not twice
    loader = photos_torch.photo_batches(
        list(zip(PHOTOS, LABELS, strict=True)), preprocess=lambda x: x / 255.0, num_workers=0
    )
    torch_images = torch.cat([x for x, _ in loader])
    assert 0.7 < torch_images.max().item() <= 200 / 255 + 1e-6


def test_evaluation_batches_are_deterministic_and_augmented_ones_are_not():
    first, second = as_batches_keras(image_size=32)[0], as_batches_keras(image_size=32)[0]
    np.testing.assert_array_equal(first, second)
    augment = photos_keras.augmentation(seed=1)
    dataset = photos_keras.photo_batches(
        keras_photos(), preprocess=identity, image_size=32, augment=augment
    )
    epochs = [np.concatenate([x.numpy() for x, _ in dataset]) for _ in range(3)]
    assert any(not np.allclose(epoch, first) for epoch in epochs)

    torch_first = as_batches_torch(image_size=32)[0]
    np.testing.assert_array_equal(torch_first, as_batches_torch(image_size=32)[0])
    torch.manual_seed(0)
    augmented = [
        as_batches_torch(image_size=32, augment=photos_torch.augmentation())[0] for _ in range(3)
    ]
    assert any(not np.allclose(epoch, torch_first) for epoch in augmented)


def test_shuffling_keeps_every_photo_with_its_label():
    images, labels = as_batches_torch(image_size=16, shuffle=True, seed=3)
    keras_images, keras_labels = as_batches_keras(image_size=16, shuffle=True, seed=3)
    for batch_images, batch_labels in ((images, labels), (keras_images, keras_labels)):
        assert sorted(batch_labels.tolist()) == sorted(LABELS)
        for image, label in zip(batch_images, batch_labels, strict=True):
            if label == 1:  # the square photo: red on the left, blue on the right
                assert image[:, :3, 0].mean() > 150


@pytest.mark.parametrize("module", [photos_keras, photos_torch])
def test_bad_arguments_are_named(module):
    dataset = keras_photos() if module is photos_keras else [(PHOTOS[0], 0)]
    with pytest.raises(ValueError, match="image_size"):
        module.photo_batches(dataset, preprocess=identity, image_size=0)
    with pytest.raises(ValueError, match="batch_size"):
        module.photo_batches(dataset, preprocess=identity, batch_size=2.5)
    with pytest.raises(TypeError, match="preprocess"):
        module.photo_batches(dataset, preprocess="imagenet")
    with pytest.raises(ValueError, match="num_workers"):
        module.photo_batches(dataset, preprocess=identity, num_workers=-1)


def test_num_workers_changes_the_parallelism_not_the_photos():
    one_at_a_time = as_batches_keras(image_size=30, num_workers=0)
    chosen = as_batches_keras(image_size=30)
    np.testing.assert_array_equal(one_at_a_time[0], chosen[0])
    loader = photos_torch.photo_batches([(PHOTOS[0], 0)], preprocess=identity)
    assert loader.num_workers == min(2, os.cpu_count())


def test_torch_pipeline_checks_the_examples():
    with pytest.raises(ValueError, match="uint8"):
        photos_torch.read_examples([(np.zeros((8, 8, 3), np.float32), 0)])
    with pytest.raises(ValueError, match="no examples"):
        photos_torch.read_examples([])
    with pytest.raises(TypeError, match="tf.data.Dataset"):
        photos_keras.photo_batches([(PHOTOS[0], 0)], preprocess=identity)


def test_tf_flowers_splits_go_through_both_pipelines():
    (test, valid, train), info = cnnkit.data.load_tf_flowers()
    assert info.features["label"].num_classes == 5
    batches = photos_keras.photo_batches(test, preprocess=identity, image_size=64, batch_size=8)
    keras_labels = np.concatenate([y.numpy() for _, y in batches])
    loader = photos_torch.photo_batches(
        test, preprocess=identity, image_size=64, batch_size=8, num_workers=2
    )
    images, labels = next(iter(loader))
    assert images.shape == (8, 3, 64, 64) and images.dtype == torch.float32
    torch_labels = np.concatenate([y.numpy() for _, y in loader])
    assert torch_labels.tolist() == keras_labels.tolist()
    assert len(keras_labels) == len(test)
