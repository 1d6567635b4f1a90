"""cnnkit.profile: the quick/full switch."""

import pytest

import cnnkit
from cnnkit import profile


@pytest.mark.parametrize(
    "value, expected", [("quick", "quick"), ("full", "full"), (" FULL ", "full")]
)
def test_environment_variable_chooses_the_profile(monkeypatch, value, expected):
    monkeypatch.setenv("CNNKIT_PROFILE", value)
    assert cnnkit.get_profile() == expected


def test_unknown_profile_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("CNNKIT_PROFILE", "fast")
    with pytest.raises(ValueError, match=r"CNNKIT_PROFILE='fast'.*quick, full"):
        cnnkit.get_profile()


@pytest.mark.parametrize("gpu, expected", [(True, "full"), (False, "quick")])
def test_default_follows_the_gpu(monkeypatch, gpu, expected):
    monkeypatch.delenv("CNNKIT_PROFILE", raising=False)
    monkeypatch.setattr(profile, "gpu_present", lambda: gpu)
    assert cnnkit.get_profile() == expected
    monkeypatch.setenv("CNNKIT_PROFILE", "auto")
    assert cnnkit.get_profile() == expected


def test_gpu_present_says_what_the_frameworks_see(monkeypatch):
    import tensorflow as tf
    import torch

    mps = getattr(torch.backends, "mps", None)
    seen = (
        torch.cuda.is_available()
        or bool(mps is not None and mps.is_available())
        or bool(tf.config.list_physical_devices("GPU"))
    )
    assert profile.gpu_present() is seen
    monkeypatch.delenv("CNNKIT_PROFILE", raising=False)
    assert cnnkit.get_profile() == ("full" if seen else "quick")


def test_pick_returns_the_value_of_the_active_profile(monkeypatch):
    monkeypatch.setenv("CNNKIT_PROFILE", "quick")
    assert cnnkit.pick(quick=2, full=30) == 2
    monkeypatch.setenv("CNNKIT_PROFILE", "full")
    assert cnnkit.pick(quick=2, full=30) == 30
