"""The judge's evaluation data is disjoint from everything a notebook can read (issue 22, class 2).

``autograder.evaldata`` splits the MNIST test set of the data caches into the copy every sandbox
sees (bound over the original files) and the held-out digits that only the judge's folder holds.
The split is checked on a small cache of real-format files; the mounts on the real caches, in a
sandbox as the kernel gets it and as the judge gets it. A few seconds.
"""

from __future__ import annotations

import gzip
import json
import sys
import time
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from autograder import evaldata, sandbox  # noqa: E402
from autograder.grade import isolation_for  # noqa: E402
from autograder.run import Box, Limits, process_env  # noqa: E402


def idx_bytes(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 8, array.ndim]) + b"".join(n.to_bytes(4, "big") for n in array.shape)
    return header + array.tobytes()


@pytest.fixture
def cache(tmp_path):
    """A CNNKIT_DATA_DIR as offline: 60 real-format test digits, no training images; and a shared
    folder with the same test set gzipped."""
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (60, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, 60, dtype=np.uint8)
    raw = tmp_path / "cnnkit" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    (raw / "t10k-images-idx3-ubyte").write_bytes(idx_bytes(images))
    (raw / "t10k-labels-idx1-ubyte").write_bytes(idx_bytes(labels))
    (raw / "train-images-idx3-ubyte").write_bytes(idx_bytes(images[:0]))
    shared = tmp_path / "shared" / "mnist"
    shared.mkdir(parents=True)
    (shared / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(idx_bytes(images)))
    environ = {
        "CNNKIT_DATA_DIR": str(tmp_path / "cnnkit"),
        "CNNKIT_SHARED_DATA": str(shared.parent),
    }
    return environ, images, labels


def test_the_judge_holds_digits_no_copy_of_the_notebooks_holds(cache, tmp_path):
    environ, images, labels = cache
    data = evaldata.prepare(tmp_path / "work", environ, held_out=(20, 30))
    originals = {Path(original).name: Path(view) for view, original in data.binds}
    assert set(originals) == {
        "t10k-images-idx3-ubyte",
        "t10k-labels-idx1-ubyte",
        "t10k-images-idx3-ubyte.gz",
    }
    seen = evaldata._read_idx(originals["t10k-images-idx3-ubyte"])
    zipped = evaldata._read_idx(originals["t10k-images-idx3-ubyte.gz"])
    with np.load(Path(data.judge_dir) / evaldata.JUDGE_FILE) as judge:
        held_images, held_labels = judge["images"], judge["labels"]
    assert len(seen) == len(zipped) == 40 and len(held_images) == 20  # offline: 20 held out
    assert np.array_equal(np.concatenate([seen[:20], held_images, seen[20:]]), images)
    assert np.array_equal(held_labels, labels[20:40])  # the notebooks keep their last 20
    assert not {image.tobytes() for image in held_images} & {image.tobytes() for image in seen}
    assert data.judge_env() == {"CNNKIT_JUDGE_DATA": data.judge_dir}


def test_too_small_a_test_set_is_left_alone_with_a_note(cache, tmp_path):
    environ, _, _ = cache
    data = evaldata.prepare(tmp_path / "work", environ, held_out=(40, 40))
    assert data.binds == [] and data.judge_dir is None
    assert any("too few" in note for note in data.notes)


READER = """
import json, os, sys
raw = os.path.join(os.environ["CNNKIT_DATA_DIR"], "MNIST", "raw", "t10k-images-idx3-ubyte")
with open(raw, "rb") as handle:
    count = int.from_bytes(handle.read(8)[4:8], "big")
judge = os.environ.get("CNNKIT_JUDGE_DATA") or sys.argv[1]
try:
    held_out = len(os.listdir(judge))
except OSError as error:
    held_out = type(error).__name__
print("SEEN", json.dumps({"count": count, "judge": held_out}))  # into the box's log
"""


@pytest.mark.skipif(
    sandbox.probe()["mode"] != "namespaces", reason="without namespaces nothing can be covered"
)
def test_the_kernel_reads_its_copy_and_only_the_judge_reads_the_held_out_digits(tmp_path):
    real = Path(evaldata.data_roots()[0]) if evaldata.data_roots() else None
    raw = [p for p in evaldata._find(evaldata.data_roots(), {evaldata.TEST_IMAGES})]
    if real is None or not raw:
        pytest.skip("no MNIST test set in the data caches")
    original = len(evaldata._read_idx(raw[0]))
    work = tmp_path / "work"
    work.mkdir()
    work.chmod(0o755)
    isolation = isolation_for(work, [])
    assert isolation.judge_data and isolation.binds
    limits = Limits(timeout=60, cell_timeout=30, memory_bytes=1 << 30, max_processes=8)
    seen = {}
    for name in ("kernel", "judge"):
        box = Box(work, work / name, limits, isolation)
        env = process_env(limits, "/tmp/home")
        extra = []
        if name == "judge":
            env["CNNKIT_JUDGE_DATA"] = isolation.judge_data
            extra = [isolation.judge_data]
        argv = [sys.executable, "-c", READER, isolation.judge_data]
        box.start(argv, env, name, extra_readonly=extra)
        end = time.monotonic() + 60
        while box.alive() and time.monotonic() < end:
            time.sleep(0.1)
        box.close()
        log = (work / f"{name}.log").read_text(
            encoding="utf-8"
        )  # its connection folder is read-only
        seen[name] = json.loads(log.split("SEEN ")[-1].splitlines()[0])
    assert seen["kernel"]["count"] == seen["judge"]["count"] == original - 1_000
    assert seen["kernel"]["judge"] == "FileNotFoundError"  # the folder is not there at all
    assert seen["judge"]["judge"] == 1


def test_a_graded_notebook_trains_on_the_same_digits_as_at_home(tmp_path, monkeypatch):
    """Offline, load_mnist trains on the first 8,000 test digits: the graded copy (without the
    judge's 1,000, the 8,000th to the 9,000th) gives the same training digits and the last 1,000
    of the test split."""
    from cnnkit import data

    roots = evaldata.data_roots()
    raw = [p for p in evaldata._find(roots, {evaldata.TEST_IMAGES}) if p.parent.name == "raw"]
    if not raw or evaldata._has_training_images(roots):
        pytest.skip("needs the offline MNIST cache (the test set only)")
    home = data.load_mnist()
    copy = tmp_path / "cnnkit" / "MNIST" / "raw"
    copy.mkdir(parents=True)
    for path in raw[0].parent.iterdir():
        array = evaldata._read_idx(path)
        if path.name.startswith("t10k"):
            array = np.concatenate([array[:8_000], array[9_000:]])
        evaldata._write_idx(array, copy / path.name, gzipped=False)
    monkeypatch.setenv("CNNKIT_DATA_DIR", str(tmp_path / "cnnkit"))
    graded = data.load_mnist()
    assert np.array_equal(graded.x_train, home.x_train) and len(graded.x_train) == 8_000
    assert np.array_equal(graded.x_test, home.x_test[1_000:])
