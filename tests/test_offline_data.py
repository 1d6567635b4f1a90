"""tests/offline_data.py: the real files of ../shared/data land where the libraries look for them."""

import os
from pathlib import Path

import offline_data
import torch


def test_every_cache_is_inside_the_repository_and_set_for_the_tests():
    paths = offline_data.cache_paths()
    assert {"KERAS_HOME", "TFDS_DATA_DIR", "CNNKIT_DATA_DIR", "TORCH_HOME"} <= set(paths)
    for key, value in paths.items():
        assert Path(value).is_relative_to(offline_data.REPO / ".cache"), key
        assert key in os.environ, f"conftest.py does not set {key}"


def test_torch_hub_looks_in_the_seeded_torch_home():
    assert Path(torch.hub.get_dir()) == Path(os.environ["TORCH_HOME"]) / "hub"


def test_weights_files_are_copied_to_torch_hubs_checkpoints(tmp_path):
    shared = tmp_path / "shared"
    (shared / "torch" / "hub" / "checkpoints").mkdir(parents=True)
    (shared / "torch" / "hub" / "checkpoints" / "net-0123.pth").write_bytes(b"weights")
    env = offline_data.cache_paths(tmp_path / "cache")
    done = offline_data.seed_caches(shared, env)
    copied = Path(env["TORCH_HOME"]) / "hub" / "checkpoints" / "net-0123.pth"
    assert copied.read_bytes() == b"weights"
    assert any("net-0123.pth" in item for item in done)
    assert offline_data.seed_caches(shared, env) == done  # a second run changes nothing
    assert not list(copied.parent.glob("*.partial"))
