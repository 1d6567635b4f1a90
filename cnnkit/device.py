"""Finding and configuring the accelerators of TensorFlow and PyTorch (CUDA, Apple MPS, CPU)."""

from __future__ import annotations

import contextlib

from cnnkit._checks import one_of
from cnnkit.profile import get_profile


def select_torch(prefer: str | None = None):
    """Return the best ``torch.device`` available: CUDA, then Apple MPS, then the CPU.

    ``prefer`` ("cuda", "mps" or "cpu") forces a choice; asking for one that is missing is an error.
    """
    import torch

    available = {"cpu": True, "cuda": torch.cuda.is_available()}
    mps = getattr(torch.backends, "mps", None)
    available["mps"] = bool(mps is not None and mps.is_available())
    if prefer is not None:
        if not available[one_of(prefer, ("cuda", "mps", "cpu"), "prefer")]:
            raise RuntimeError(f"PyTorch cannot see a {prefer!r} device on this machine")
        return torch.device(prefer)
    for name in ("cuda", "mps", "cpu"):
        if available[name]:
            return torch.device(name)
    raise AssertionError("unreachable: the CPU is always available")


def select_keras(memory_growth: bool = True) -> list[str]:
    """Return the GPU names that TensorFlow, Keras's backend, can see (empty on a CPU-only machine).

    Keras places its work on the first GPU by itself: there is no device to pass around. With
    ``memory_growth`` TensorFlow allocates GPU memory as it needs it instead of taking it all, so
    that PyTorch can share the GPU in the same notebook. Call it before the first TF operation.
    """
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if memory_growth:
        for gpu in gpus:
            with contextlib.suppress(RuntimeError):  # already initialized: keep its setting
                tf.config.experimental.set_memory_growth(gpu, True)
    return [gpu.name for gpu in gpus]


def set_mixed_precision(enabled: bool):
    """Switch mixed precision on or off for Keras; return the PyTorch autocast context to use.

    Keras gets the global policy ``mixed_float16`` (or ``float32``). PyTorch has no global switch:
    wrap the forward pass in the returned context (``torch.autocast`` on CUDA with float16, on CPU
    with bfloat16, or a context that does nothing when ``enabled`` is False).
    """
    import keras

    keras.mixed_precision.set_global_policy("mixed_float16" if enabled else "float32")
    if not enabled:
        return contextlib.nullcontext()
    import torch

    device = select_torch()
    dtype = torch.float16 if device.type == "cuda" else torch.bfloat16
    return torch.autocast(device_type=device.type, dtype=dtype)


def describe() -> str:
    """One line for a notebook's setup cell: versions, devices and the active profile."""
    import keras
    import tensorflow as tf
    import torch

    gpus = select_keras()
    tf_part = f"TensorFlow {tf.__version__} (Keras {keras.__version__}) on " + (
        ", ".join(gpus) if gpus else "CPU"
    )
    device = select_torch()
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else device.type.upper()
    torch_part = f"PyTorch {torch.__version__} on {name}"
    return f"{tf_part} | {torch_part} | profile: {get_profile()}"
