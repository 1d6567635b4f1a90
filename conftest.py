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
# PyTorch's OpenMP threads sleep while they wait instead of spinning on a core that the suite's other
# worker, or another program, needs (benchmarks/thread_wait_policy.py). The Makefile sets it too.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def pytest_configure(config):
    # `make check` (-m "not slow") leaves these out; `make test` runs everything.
    config.addinivalue_line(
        "markers",
        "slow: executes notebooks or grades a batch of submissions (the solutions' notebooks under "
        "nbval, the grading batches and proofs, a fresh Colab install)",
    )
    if hasattr(config, "workerinput"):  # xdist worker: the controller has seeded already
        return
    shared = Path(os.environ.get("CNNKIT_SHARED_DATA", offline_data.DEFAULT_SHARED))
    offline_data.seed_caches(shared, {k: os.environ[k] for k in offline_data.cache_paths()})


# Notebooks under tests/ are fixtures (student submissions, the hostile corpus): never run them
# with nbval. (fnmatch's "*" also crosses "/", so this covers every depth.)
collect_ignore_glob = ["tests/*.ipynb", ".venv/*", ".cache/*", "_build/*", "exercises/*"]


def proved_assignments() -> set[str]:
    """The assignments that a grading proof (tests/grading_cases) executes: its reference is the
    solution notebook itself, graded whole, and the proof fails on any cell that raised."""
    import grading_cases

    return {case.ASSIGNMENT for case in grading_cases.load().values()}


def pytest_ignore_collect(collection_path, config):
    """A solution notebook runs once: in its grading proof where it has one, under nbval otherwise.
    Named on the command line, it runs under nbval too."""
    path = Path(collection_path)
    if path.suffix != ".ipynb" or path.parent.parent.name != "solutions":
        return None
    named = {Path(arg.split("::")[0]).resolve() for arg in config.args}
    if path.resolve() in named or path.stem not in proved_assignments():
        return None
    return True


# `make test` runs the suite on two workers. The grading batches (the chapters' proofs, the hostile
# corpus, the LMS round trip) run one after the other on one worker, first: each keeps both cores
# busy by itself (two kernels of one thread), so two at once only slow each other down (the chapter 4
# proof: 353 s alone, 576 s beside the hostile batch). That chain is the longest path of the suite;
# every other file (each solution notebook under nbval too: one kernel, about one core) is a unit of
# its own (its module fixtures run once, as with `--dist loadfile`) and goes to the other worker.
# (A scheduler of our own, not `--dist loadgroup`: with pytest 9, xdist 3.8's groups are ignored.)
ONE_AFTER_THE_OTHER = (
    "tests/test_grading_proofs.py",
    "tests/test_grading_hostile.py",
    "tests/test_lms_round_trip.py",
)


def unit_of(nodeid: str) -> str:
    """The unit of work a test belongs to: "grading", or its file."""
    path = nodeid.split("::")[0]
    return "grading" if path.startswith(ONE_AFTER_THE_OTHER) else path


@pytest.hookimpl(tryfirst=True)
def pytest_xdist_make_scheduler(config, log):
    if config.getvalue("dist") != "loadfile":
        return None  # whatever else was asked for
    from xdist.scheduler import LoadScopeScheduling

    class GradingTogether(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return unit_of(nodeid)

    return GradingTogether(config, log)


@pytest.hookimpl(tryfirst=True)  # before the -m selection
def pytest_collection_modifyitems(config, items):
    for item in items:  # nbval's items of the solutions' notebooks: each executes a notebook
        if item.nodeid.startswith("solutions/"):
            item.add_marker(pytest.mark.slow)
    items.sort(
        key=lambda item: unit_of(item.nodeid) != "grading"
    )  # stable: the rest keeps its order
