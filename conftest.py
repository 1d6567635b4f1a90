"""Test-wide set-up (repository root, so that `pytest book/x.ipynb` gets it too): the quick profile, offline caches seeded with real data, quiet TensorFlow."""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "tests"))

import matplotlib  # noqa: E402
import offline_data  # noqa: E402
import pytest  # noqa: E402

# Figures in this process are drawn off-screen. Not through MPLBACKEND: notebook kernels inherit the
# environment, and there it would replace the inline backend and silently drop every figure.
matplotlib.use("Agg")

# Set before any test (and any notebook kernel, which inherits the environment) starts.
for _key, _value in offline_data.cache_paths().items():
    os.environ.setdefault(_key, _value)
os.environ.setdefault("CNNKIT_PROFILE", "quick")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def pytest_configure(config):
    if hasattr(config, "workerinput"):  # xdist worker: the controller has seeded already
        return
    shared = Path(os.environ.get("CNNKIT_SHARED_DATA", offline_data.DEFAULT_SHARED))
    offline_data.seed_caches(shared, {k: os.environ[k] for k in offline_data.cache_paths()})


# Notebooks under tests/ are fixtures (student submissions, the hostile corpus): never run them
# with nbval. (fnmatch's "*" also crosses "/", so this covers every depth.)
collect_ignore_glob = ["tests/*.ipynb", ".venv/*", ".cache/*", "_build/*", "exercises/*"]


# `make test` runs the suite on two workers with `--dist loadgroup --no-loadscope-reorder`: the tests
# of one file stay on one worker (as with `--dist loadfile`: module fixtures run once) unless they
# name their own xdist group, as each chapter's grading proof does. The groups are handed out in the
# order of the list below, the longest first (seconds alone on 2 quiet cores), so that both workers
# end at about the same time instead of one waiting for the other's last long batch.
LONGEST_FIRST = [
    "proof-ch04",  # 260 s
    "proof-ch05",  # 230 s
    "tests/test_grading_hostile.py",  # 180 s
    "proof-ch02",  # 120 s
    "proof-ch06",  # 110 s
    "proof-chA",  # 90 s
]


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook reads the groups
def pytest_collection_modifyitems(config, items):
    def group(item):
        marks = [mark.args[0] for mark in item.iter_markers("xdist_group") if mark.args]
        return marks[0] if marks else item.nodeid.split("::")[0]

    for item in items:
        if not any(item.iter_markers("xdist_group")):
            item.add_marker(pytest.mark.xdist_group(group(item)))
    rank = {name: index for index, name in enumerate(LONGEST_FIRST)}
    items.sort(
        key=lambda item: rank.get(group(item), len(rank))
    )  # stable: the rest keeps its order
