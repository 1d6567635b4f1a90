"""A PyTorch ``DataLoader`` for photos of any size: the same steps as ``cnnkit.photos.keras``.

The examples are read once into memory (uint8 tensors), and the worker processes of the
``DataLoader`` resize, augment and preprocess them while the model trains.
"""

from __future__ import annotations

import os

import numpy as np

from cnnkit.photos import check_batch_size, check_image_size, check_num_workers

__all__ = ["augmentation", "photo_batches"]
DEFAULT_WORKERS = 2  # worker processes when num_workers is None (at most one per core)


def augmentation(seed: int = 0):
    """Random horizontal flips and zooms into the photo (up to 1.25 ×): ``torchvision.transforms.v2``.

    The same changes as the Keras version. (Transforms draw from PyTorch's global random generator,
    which the ``DataLoader`` seeds in each worker from its own generator; ``seed`` is accepted for
    the Keras signature.)
    """
    from torchvision.transforms import v2

    return v2.Compose([v2.RandomHorizontalFlip(), v2.RandomAffine(degrees=0, scale=(1.0, 1.25))])


class Photos:
    """A map-style dataset: ``(image, label)`` with ``transform`` applied to the image."""

    def __init__(self, examples, transform):
        self.examples, self.transform = examples, transform

    def __len__(self):
        return len(self.examples)

    def __getitem__(self, index):
        image, label = self.examples[index]
        return self.transform(image), label


def read_examples(dataset) -> list:
    """``(image, label)`` pairs, uint8 ``(height, width, 3)`` images (a tfds split, a list, ...) →
    a list of ``(uint8 tensor (3, height, width), int label)``."""
    import torch

    examples = []
    for image, label in dataset:
        image = np.asarray(image)
        if image.ndim != 3 or image.shape[-1] != 3 or image.dtype != np.uint8:
            raise ValueError(
                f"each image must be uint8 (height, width, 3), got {image.dtype} {image.shape}"
            )
        examples.append((torch.from_numpy(image.transpose(2, 0, 1).copy()), int(label)))
    if not examples:
        raise ValueError("the dataset holds no examples")
    return examples


def photo_batches(
    dataset, *, preprocess, image_size=224, augment=None, batch_size=32, shuffle=False, seed=0,
    num_workers=None,
):  # fmt: skip
    """A ``DataLoader`` of ``(images, labels)`` batches from ``(image, label)`` pairs (a tfds split).

    Each photo is resized so that its shorter side is ``image_size``, then cropped to the central
    square (the same region as Keras's ``crop_to_aspect_ratio``); then ``augment`` (for the training
    set only), then ``preprocess`` (pixels in [0, 255] → the model's input). Images come out as
    ``(batch, 3, image_size, image_size)`` float32. The photos are read into memory when the
    loader is made (``read_examples``). ``num_workers``: the ``DataLoader``'s worker processes
    (``None``: two, or one per core if there are fewer cores; 0: the main process).
    """
    import torch
    from torchvision.transforms import v2

    check_image_size(image_size)
    check_batch_size(batch_size)
    if check_num_workers(num_workers) is None:
        num_workers = min(DEFAULT_WORKERS, os.cpu_count() or 1)
    if not callable(preprocess):
        raise TypeError("preprocess must be a function: pixels in [0, 255] -> the model's input")
    steps = [v2.Resize(image_size, antialias=True), v2.CenterCrop(image_size)]
    steps += [augment] if augment is not None else []
    steps += [v2.ToDtype(torch.float32), preprocess]  # ToDtype keeps the [0, 255] range
    examples = read_examples(dataset)
    return torch.utils.data.DataLoader(
        Photos(examples, v2.Compose(steps)),
        batch_size=batch_size,
        shuffle=shuffle,
        generator=torch.Generator().manual_seed(seed),
        num_workers=num_workers,
        persistent_workers=num_workers > 0,
    )
