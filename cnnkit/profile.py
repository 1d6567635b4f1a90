"""The quick/full switch: one environment variable, an automatic default, values picked per profile."""

from __future__ import annotations

import os

PROFILES = ("quick", "full")
ENV_VAR = "CNNKIT_PROFILE"


def gpu_present() -> bool:
    """True when PyTorch or TensorFlow can see a CUDA GPU (Apple MPS counts too)."""
    try:
        import torch

        if torch.cuda.is_available():
            return True
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return True
    except ImportError:
        pass
    try:
        import tensorflow as tf

        return bool(tf.config.list_physical_devices("GPU"))
    except ImportError:
        return False


def get_profile() -> str:
    """Return ``"quick"`` or ``"full"``.

    ``CNNKIT_PROFILE`` decides when it is set; otherwise the profile is ``"full"`` when a GPU is
    present and ``"quick"`` on a CPU-only machine.
    """
    value = os.environ.get(ENV_VAR, "").strip().lower()
    if not value or value == "auto":
        return "full" if gpu_present() else "quick"
    if value not in PROFILES:
        raise ValueError(
            f"{ENV_VAR}={os.environ[ENV_VAR]!r} is not a known profile; "
            f"expected one of {', '.join(PROFILES)} (or unset for automatic)"
        )
    return value


def pick(*, quick, full):
    """Return ``quick`` or ``full`` depending on the active profile.

    Notebooks use it for every size that differs between profiles, so that both run the same code:
    ``num_epochs = cnnkit.pick(quick=1, full=20)``.
    """
    return quick if get_profile() == "quick" else full
