"""Helpers for the course *Deep Computer Vision with Convolutional Neural Networks*.

Importing ``cnnkit`` is cheap: TensorFlow and PyTorch are imported only by the functions that need
them, and nothing is seeded or configured until a notebook asks for it.
"""

from cnnkit.profile import get_profile, pick
from cnnkit.seed import seed_everything

__all__ = ["get_profile", "pick", "seed_everything"]
__version__ = "0.1.0"
