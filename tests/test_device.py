"""cnnkit.device: accelerators of both frameworks, with the CPU as the fallback."""

import contextlib

import keras
import pytest
import torch

from cnnkit import device


def test_torch_device_falls_back_to_cpu_here():
    assert device.torch_device() == torch.device("cpu")
    assert device.torch_device(prefer="cpu") == torch.device("cpu")


def test_asking_for_a_missing_accelerator_says_so():
    with pytest.raises(RuntimeError, match="cannot see a 'cuda' device"):
        device.torch_device(prefer="cuda")
    with pytest.raises(ValueError, match="prefer must be"):
        device.torch_device(prefer="tpu")


def test_tf_has_no_gpu_here():
    assert device.tf_devices() == []


def test_mixed_precision_switches_keras_and_returns_a_torch_context():
    try:
        context = device.set_mixed_precision(True)
        assert keras.mixed_precision.global_policy().name == "mixed_float16"
        assert isinstance(context, torch.autocast)
        with context:
            out = torch.nn.Linear(4, 2)(torch.ones(1, 4))
        assert out.dtype == torch.bfloat16  # CPU autocast uses bfloat16
    finally:
        off = device.set_mixed_precision(False)
    assert keras.mixed_precision.global_policy().name == "float32"
    assert isinstance(off, contextlib.nullcontext)


def test_describe_names_both_frameworks_and_the_profile():
    line = device.describe()
    assert "TensorFlow 2.19.1" in line and "on CPU" in line
    assert "PyTorch 2.14.1" in line
    assert line.endswith("profile: quick")
