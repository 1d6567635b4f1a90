"""cnnkit.device: the accelerators of both frameworks, with the CPU as the fallback.

Each test asserts what cnnkit must do on the machine it runs on, whatever that machine has: the
choices follow what PyTorch and TensorFlow report, not a list of devices written here.
"""

import contextlib

import keras
import pytest
import tensorflow as tf
import torch

import cnnkit
from cnnkit import device


def torch_available() -> dict[str, bool]:
    mps = getattr(torch.backends, "mps", None)
    return {
        "cuda": torch.cuda.is_available(),
        "mps": bool(mps is not None and mps.is_available()),
        "cpu": True,
    }


def test_select_torch_picks_the_best_device_found():
    best = next(name for name, there in torch_available().items() if there)  # CUDA, MPS, CPU
    assert device.select_torch() == torch.device(best)
    for name, there in torch_available().items():
        if there:
            assert device.select_torch(prefer=name) == torch.device(name)


def test_asking_for_a_missing_accelerator_says_so():
    missing = [name for name, there in torch_available().items() if not there]
    assert missing, "a machine has CUDA or Apple MPS, not both"
    for name in missing:
        with pytest.raises(RuntimeError, match=f"cannot see a '{name}' device"):
            device.select_torch(prefer=name)
    with pytest.raises(ValueError, match="prefer must be one of 'cuda', 'mps', 'cpu', got 'tpu'"):
        device.select_torch(prefer="tpu")


def test_select_keras_names_the_gpus_tensorflow_sees():
    assert device.select_keras() == [gpu.name for gpu in tf.config.list_physical_devices("GPU")]


def test_mixed_precision_switches_keras_and_returns_a_torch_context():
    where = device.select_torch()
    try:
        context = device.set_mixed_precision(True)
        assert keras.mixed_precision.global_policy().name == "mixed_float16"
        assert isinstance(context, torch.autocast)
        with context:
            out = torch.nn.Linear(4, 2).to(where)(torch.ones(1, 4, device=where))
        # float16 on CUDA (with a gradient scaler); bfloat16 elsewhere, where float16 is slow
        assert out.dtype == (torch.float16 if where.type == "cuda" else torch.bfloat16)
    finally:
        off = device.set_mixed_precision(False)
    assert keras.mixed_precision.global_policy().name == "float32"
    assert isinstance(off, contextlib.nullcontext)


def test_describe_names_both_frameworks_their_devices_and_the_profile():
    line = device.describe()
    tf_part, torch_part, profile_part = line.split(" | ")
    assert tf_part.startswith(f"TensorFlow {tf.__version__} (Keras {keras.__version__}) on ")
    gpus = tf.config.list_physical_devices("GPU")
    assert tf_part.endswith("CPU") == (not gpus)
    assert torch_part.startswith(f"PyTorch {torch.__version__} on ")
    where = device.select_torch()
    if where.type == "cuda":
        assert torch_part.endswith(torch.cuda.get_device_name(where))
    else:
        assert torch_part.endswith(where.type.upper())
    assert profile_part == f"profile: {cnnkit.get_profile()}"
