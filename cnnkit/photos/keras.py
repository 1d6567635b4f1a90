"""A ``tf.data`` pipeline for photos of any size: resize, augment (training only), preprocess, batch."""

from __future__ import annotations

from cnnkit.photos import check_batch_size, check_image_size, check_num_workers

__all__ = ["augmentation", "photo_batches"]

SHUFFLE_BUFFER = 1_000  # photos held for shuffling (the whole split when it is smaller)


def augmentation(seed: int = 0):
    """Random horizontal flips and zooms into the photo (up to 1.25 ×): Keras preprocessing layers.

    Zooming in, rather than out or rotating, never adds pixels that the photo did not have. The
    layers change the images only when called with ``training=True``, as ``photo_batches`` does.
    """
    import keras

    return keras.Sequential(
        [
            keras.layers.RandomFlip("horizontal", seed=seed),
            keras.layers.RandomZoom(
                (-0.2, 0.0), seed=seed + 1
            ),  # negative: zoom in, 80-100 % shown
        ],
        name="augmentation",
    )


def photo_batches(
    dataset, *, preprocess, image_size=224, augment=None, batch_size=32, shuffle=False, seed=0,
    num_workers=None,
):  # fmt: skip
    """Batches ``(images, labels)`` of a ``tf.data.Dataset`` of ``(image, label)`` pairs (a tfds split).

    Each photo (uint8, any height and width) is cropped to its central square and resized to
    ``image_size`` (``keras.layers.Resizing(..., crop_to_aspect_ratio=True)``, so nothing is
    stretched); then, in this order, shuffled (``shuffle``), batched, augmented (``augment``, a layer
    called with ``training=True``; leave it ``None`` for validation and test sets), preprocessed
    (``preprocess``: pixels in [0, 255] → the model's input) and prefetched. Images come out as
    ``(batch, image_size, image_size, 3)`` float32. ``num_workers`` is the number of parallel calls
    of each ``map`` (``None``: ``tf.data.AUTOTUNE``; 0 or 1: one photo at a time).
    """
    import keras
    import tensorflow as tf

    check_image_size(image_size)
    check_batch_size(batch_size)
    check_num_workers(num_workers)
    if not isinstance(dataset, tf.data.Dataset):
        raise TypeError(f"dataset must be a tf.data.Dataset, got {type(dataset).__name__}")
    if not callable(preprocess):
        raise TypeError("preprocess must be a function: pixels in [0, 255] -> the model's input")
    resize = keras.layers.Resizing(
        image_size, image_size, crop_to_aspect_ratio=True, antialias=True
    )
    autotune = tf.data.AUTOTUNE
    parallel = autotune if num_workers is None else max(1, num_workers)
    batches = dataset.map(lambda image, label: (resize(image), label), num_parallel_calls=parallel)
    if shuffle:
        batches = batches.shuffle(SHUFFLE_BUFFER, seed=seed, reshuffle_each_iteration=True)
    batches = batches.batch(batch_size)
    if augment is not None:
        batches = batches.map(
            lambda x, y: (augment(x, training=True), y), num_parallel_calls=parallel
        )
    batches = batches.map(lambda x, y: (preprocess(x), y), num_parallel_calls=parallel)
    return batches.prefetch(autotune)
