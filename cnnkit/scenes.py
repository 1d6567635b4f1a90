"""Labelled scenes built from real parts: MNIST digits pasted onto crops of real photos.

No annotated detection or segmentation set can be had offline, so chapters 6 and 7 make their own:
every image is a crop of a real photograph (scikit-learn's and scikit-image's sample photos and the
tf_flowers photos) with real handwritten MNIST digits drawn onto it. Since we draw them, the labels are
exact: a box, a class and the pixels of every digit. Photos go to the train, validation or test split
by a hash of their name (a photo never appears in two splits), and the test scenes use the MNIST test
digits, which the training scenes never contain. The same arguments and seed give the same scenes.

Conventions: images ``(n, height, width, 3)`` float32 in [0, 1]; boxes in pixels as corners
``(x_min, y_min, x_max, y_max)``, pixel ``(row, column)`` covering ``[column, column + 1) ×
[row, row + 1)``; class masks hold ``BACKGROUND`` (0) or ``digit + 1``.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass, fields

import numpy as np

from cnnkit import data

CLASS_NAMES = tuple("0123456789")
BACKGROUND = 0
SPLITS = ("train", "valid", "test")
SKIMAGE_PHOTOS = ("astronaut", "brick", "camera", "chelsea", "coffee", "coins", "grass", "gravel",
                  "hubble_deep_field", "immunohistochemistry", "rocket")  # fmt: skip
VALID_DIGIT_FRACTION = 0.15  # of the MNIST training digits, kept for validation scenes


@dataclass(frozen=True)
class Scenes:
    """Images with the exact labels of their digits; ``scenes[i]`` or ``scenes[a:b]`` selects."""

    images: np.ndarray  # (n, height, width, 3) float32 in [0, 1]
    boxes: tuple  # n arrays (k, 4) float32: x_min, y_min, x_max, y_max in pixels
    labels: tuple  # n arrays (k,) int64: the digits, 0-9
    masks: np.ndarray  # (n, height, width) uint8: BACKGROUND or digit + 1
    instances: np.ndarray  # (n, height, width) uint8: 0, or j + 1 on the pixels of object j
    photos: tuple  # n names of the source photos
    split: str
    class_names: tuple = CLASS_NAMES

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index) -> Scenes:
        keep = np.arange(len(self))[index]
        keep = np.atleast_1d(keep)
        picked = {}
        for field in fields(self):
            value = getattr(self, field.name)
            if isinstance(value, np.ndarray):
                picked[field.name] = value[keep]
            elif field.name in ("boxes", "labels", "photos"):
                picked[field.name] = tuple(value[i] for i in keep)
            else:
                picked[field.name] = value
        return Scenes(**picked)

    def padded(self, max_objects: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Boxes ``(n, m, 4)`` and labels ``(n, m)`` in fixed-size arrays; label -1 marks padding."""
        most = max((len(b) for b in self.boxes), default=0)
        m = most if max_objects is None else max_objects
        if m < most:
            raise ValueError(f"max_objects={max_objects} is below the {most} objects of an image")
        boxes = np.zeros((len(self), m, 4), np.float32)
        labels = np.full((len(self), m), -1, np.int64)
        for i, (b, c) in enumerate(zip(self.boxes, self.labels, strict=True)):
            boxes[i, : len(b)], labels[i, : len(c)] = b, c
        return boxes, labels


def photo_split(name: str) -> str:
    """The split of a photo, from a hash of its name: about 70 % train, 15 % valid, 15 % test."""
    bucket = int(hashlib.sha256(name.encode()).hexdigest()[:8], 16) % 20
    return "train" if bucket < 14 else "valid" if bucket < 17 else "test"


@functools.lru_cache(maxsize=1)
def _photo_sources() -> dict:
    """Every photo by name: a path (tf_flowers photos) or a loader (the libraries' samples)."""
    import skimage.data
    from sklearn.datasets import load_sample_image

    sources = {
        f"sklearn/{n}": functools.partial(load_sample_image, n) for n in data.SAMPLE_IMAGE_NAMES
    }
    sources.update({f"skimage/{n}": getattr(skimage.data, n) for n in SKIMAGE_PHOTOS})
    folder = data.flower_photos_dir()
    for path in sorted(folder.glob("*/*.jpg")):
        sources[f"flower_photos/{path.parent.name}/{path.name}"] = path
    return sources


def photo_names(split: str) -> list[str]:
    """The names of the photos of one split, sorted."""
    _check_split(split)
    return [name for name in sorted(_photo_sources()) if photo_split(name) == split]


def _read_photo(source):
    """A photo as an RGB PIL image, from an array, a loader returning one, or a path."""
    from PIL import Image

    if not (callable(source) or isinstance(source, np.ndarray)):
        with Image.open(source) as image:
            return image.convert("RGB")
    photo = np.asarray(source() if callable(source) else source)
    if photo.ndim == 2:
        photo = np.repeat(photo[..., None], 3, axis=-1)
    return Image.fromarray(np.ascontiguousarray(photo[..., :3]))


@functools.lru_cache(maxsize=1)
def _mnist() -> data.ImageData:
    return data.load_mnist()


def digit_pool(split: str) -> tuple[np.ndarray, np.ndarray]:
    """The MNIST digits a split draws from: test scenes use the MNIST test set only.

    Train and valid share MNIST's training digits, cut into two disjoint parts.
    """
    _check_split(split)
    mnist = _mnist()
    if split == "test":
        return mnist.x_test, mnist.y_test
    cut = int(round(len(mnist.x_train) * (1 - VALID_DIGIT_FRACTION)))
    part = slice(None, cut) if split == "train" else slice(cut, None)
    return mnist.x_train[part], mnist.y_train[part]


def make_scenes(num_images: int, split: str = "train", *, image_size=96, digit_sizes=(16, 40),
                digits_per_image=(1, 3), stroke: int = 0, seed: int = 0, photos=None,
                digits=None) -> Scenes:  # fmt: skip
    """Make ``num_images`` scenes of one split (deterministic for given arguments).

    ``image_size``: an int or ``(height, width)``. ``digit_sizes``: the range of a digit's height in
    pixels (the height of its box). ``digits_per_image``: the range of the number of digits (fewer
    when no free place is found; digits never overlap). ``stroke``: 0 draws the digits as written,
    1 or 2 draw them bolder. ``photos`` (``{name: (h, w, 3) uint8}``) and ``digits`` (``(images,
    labels)``) replace the split's own photos and MNIST digits.
    """
    _check_split(split)
    height, width = (image_size, image_size) if np.ndim(image_size) == 0 else tuple(image_size)
    low, high = _range("digit_sizes", digit_sizes, 4, min(height, width))
    fewest, most = _range("digits_per_image", digits_per_image, 1, 64)
    if not isinstance(num_images, int | np.integer) or num_images < 1:
        raise ValueError(f"num_images must be a positive int, got {num_images!r}")
    if stroke not in (0, 1, 2):
        raise ValueError(f"stroke must be 0, 1 or 2, got {stroke!r}")
    if photos is None:
        sources = _photo_sources()
        names = photo_names(split)
    else:
        sources, names = photos, sorted(photos)
    if not names:
        raise ValueError(f"no photos for the {split!r} split")
    digit_images, digit_labels = digit_pool(split) if digits is None else digits
    images = np.zeros((num_images, height, width, 3), np.float32)
    instances = np.zeros((num_images, height, width), np.uint8)
    boxes, labels = [None] * num_images, [None] * num_images
    rngs = [np.random.default_rng([seed, SPLITS.index(split), i]) for i in range(num_images)]
    chosen = np.array([rng.integers(len(names)) for rng in rngs])
    for photo_index in np.unique(chosen):  # each photo is decoded once
        photo = _read_photo(sources[names[photo_index]])
        for i in np.flatnonzero(chosen == photo_index):
            rng = rngs[i]
            images[i] = _crop(photo, height, width, rng)
            wanted = int(rng.integers(fewest, most + 1))
            boxes[i], labels[i] = _paste_digits(images[i], instances[i], wanted, (low, high), stroke,
                                                digit_images, digit_labels, rng)  # fmt: skip
    masks = np.zeros_like(instances)
    for i, image_labels in enumerate(labels):
        lookup = np.concatenate([[BACKGROUND], image_labels + 1]).astype(np.uint8)
        masks[i] = lookup[instances[i]]
    return Scenes(images, tuple(boxes), tuple(labels), masks, instances,
                  tuple(names[c] for c in chosen), split)  # fmt: skip


def _crop(photo, height: int, width: int, rng) -> np.ndarray:
    """A random crop of the photo (a random scale, maybe mirrored), resized to height × width."""
    from PIL import Image

    scale = rng.uniform(0.4, 1.0) * min(photo.height / height, photo.width / width)
    crop_h, crop_w = max(1, int(height * scale)), max(1, int(width * scale))
    top = int(rng.integers(photo.height - crop_h + 1))
    left = int(rng.integers(photo.width - crop_w + 1))
    box = (left, top, left + crop_w, top + crop_h)
    crop = np.asarray(photo.resize((width, height), Image.BILINEAR, box=box), np.float32) / 255
    return crop[:, ::-1] if rng.random() < 0.5 else crop


def _paste_digits(image, instances, wanted, sizes, stroke, digit_images, digit_labels, rng):
    """Draw up to ``wanted`` digits onto ``image`` in place; return their boxes and classes."""
    from PIL import Image

    boxes, labels, taken = [], [], []
    height, width = instances.shape
    for _ in range(wanted):
        index = int(rng.integers(len(digit_images)))
        ink = _bolder(digit_images[index].astype(np.float32) / 255, stroke)
        rows, cols = np.flatnonzero(ink.max(1) > 0), np.flatnonzero(ink.max(0) > 0)
        ink = ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]  # the digit's own extent
        h = int(rng.integers(sizes[0], sizes[1] + 1))
        w = int(np.clip(round(h * ink.shape[1] / ink.shape[0]), 1, width))
        alpha = np.asarray(Image.fromarray(ink).resize((w, h), Image.BILINEAR)).clip(0, 1)
        for _ in range(20):  # look for a free place, 2 pixels away from the others
            top, left = int(rng.integers(height - h + 1)), int(rng.integers(width - w + 1))
            if all(top >= b + 2 or left >= r + 2 or top + h + 2 <= t or left + w + 2 <= c
                   for t, c, b, r in taken):  # fmt: skip
                break
        else:
            continue
        mask = alpha >= 0.5
        if not mask.any():
            continue
        region = image[top : top + h, left : left + w]
        dark = region.mean() > 0.5  # a dark digit on a light place, a light one on a dark place
        colour = rng.uniform(0.0, 0.25, 3) if dark else rng.uniform(0.75, 1.0, 3)
        region[:] = (1 - alpha[..., None]) * region + alpha[..., None] * colour
        instances[top : top + h, left : left + w][mask] = len(boxes) + 1
        ys, xs = np.nonzero(mask)
        boxes.append([left + xs.min(), top + ys.min(), left + xs.max() + 1, top + ys.max() + 1])
        labels.append(int(digit_labels[index]))
        taken.append((top, left, top + h, left + w))
    return np.array(boxes, np.float32).reshape(-1, 4), np.array(labels, np.int64)


def _bolder(ink: np.ndarray, times: int) -> np.ndarray:
    """Grey dilation with a 3 × 3 square, ``times`` times: thicker strokes."""
    for _ in range(times):
        padded = np.pad(ink, 1)
        ink = np.max([padded[r : r + ink.shape[0], c : c + ink.shape[1]]
                      for r in range(3) for c in range(3)], axis=0)  # fmt: skip
    return ink


def _check_split(split) -> None:
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")


def _range(name: str, value, lowest: int, highest: int) -> tuple[int, int]:
    low, high = (value, value) if np.ndim(value) == 0 else tuple(value)
    if not lowest <= low <= high <= highest:
        raise ValueError(
            f"{name} must be (low, high) with {lowest} <= low <= high <= {highest}, got {value!r}"
        )
    return int(low), int(high)
