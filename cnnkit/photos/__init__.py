"""Input pipelines for photos of any size (tf_flowers), mirrored: ``photo_batches`` and ``augmentation``.

``cnnkit.photos.keras`` builds a ``tf.data`` pipeline, ``cnnkit.photos.torch`` a ``DataLoader`` with
worker processes; both take the same ``(image, label)`` examples (a tfds split), resize them the same
way (crop the central square, then resize: the aspect ratio is kept), augment only when asked, and
apply the model's preprocessing last. (To move into ``cnnkit.data.keras`` / ``cnnkit.data.torch`` with
the package layout of issue 9.)
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
