"""Input pipelines for photos of any size (tf_flowers), mirrored: ``photo_batches`` and ``augmentation``.

``cnnkit.photos.keras`` builds a ``tf.data`` pipeline, ``cnnkit.photos.torch`` a ``DataLoader`` with
worker processes; both take the same ``(image, label)`` examples (a tfds split), resize them the same
way (crop the central square, then resize: the aspect ratio is kept), augment only when asked, and
apply the model's preprocessing last. ``num_workers`` is how many batches are prepared in parallel
(tf.data's parallel calls in Keras, worker processes in PyTorch); ``None`` lets each framework choose.
"""

from __future__ import annotations


def check_image_size(image_size) -> int:
    """``image_size`` must be a positive int (the side of the square the photos are resized to)."""
    if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 1:
        raise ValueError(f"image_size must be a positive int, got {image_size!r}")
    return image_size


def check_batch_size(batch_size) -> int:
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    return batch_size


def check_num_workers(num_workers) -> int | None:
    """``num_workers`` must be ``None`` (the framework chooses) or an int >= 0."""
    if num_workers is not None and (
        isinstance(num_workers, bool) or not isinstance(num_workers, int) or num_workers < 0
    ):
        raise ValueError(f"num_workers must be None or an int >= 0, got {num_workers!r}")
    return num_workers
