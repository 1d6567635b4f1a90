"""Data sets and layouts, framework-free; ``cnnkit.data.keras`` and ``cnnkit.data.torch`` batch them.

The loaders call the genuine library functions and return NumPy arrays in TensorFlow's layout
(``cnnkit.data.datasets``); offline, a stand-in replaces what cannot be had, and says so. The layout
conversions are in ``cnnkit.data.layout``. Importing this package imports neither framework.
"""

from cnnkit.data.datasets import (
    DIGIT_CLASSES,
    FASHION_MNIST_CLASSES,
    SAMPLE_IMAGE_NAMES,
    ImageData,
    announce_stand_in,
    data_dir,
    flower_photos_dir,
    load_fashion_mnist,
    load_mnist,
    load_sample_images,
    load_tf_flowers,
)
from cnnkit.data.layout import nchw_to_nhwc, nhwc_to_nchw

__all__ = [
    "DIGIT_CLASSES",
    "FASHION_MNIST_CLASSES",
    "SAMPLE_IMAGE_NAMES",
    "ImageData",
    "announce_stand_in",
    "data_dir",
    "flower_photos_dir",
    "load_fashion_mnist",
    "load_mnist",
    "load_sample_images",
    "load_tf_flowers",
    "nchw_to_nhwc",
    "nhwc_to_nchw",
]
