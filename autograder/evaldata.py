"""Evaluation data that only the judge can read (issue 22, class 2).

Once per batch, before any sandbox starts, the grader splits each evaluation set it knows into the
part the notebooks may read and a part held out for the judge, and writes both into its work folder:

- **MNIST** (chapter 4's held-out digits). Every copy of the MNIST test set in the data caches (the
  idx files torchvision reads, gzipped or not, and Keras's ``mnist.npz``) is covered in every
  sandbox, by a bind mount, with a copy that lacks some of the test set's digits: the 1,000 before
  the last 1,000 of the 10,000 when the caches hold no MNIST training images (offline, where
  ``cnnkit.data.load_mnist`` trains on the first 8,000 of the test set: a notebook then tests on
  the last 1,000 instead of the last 2,000), else the first 5,000. Those held-out digits go into
  ``mnist_held_out.npz`` in a folder mounted only in the judge,
  whose path the judge gets in ``CNNKIT_JUDGE_DATA``.

The held-out images are never in a file the kernel or a clean room can open: their copy of the test
set simply lacks them. The judge moves and rescales them at random at each grading
(``shifted`` in the chapter's judge cell), with no seed. Without namespaces (``mode: limits``)
nothing can be covered: the data caches, held-out digits included, stay readable, as the README says.
"""

from __future__ import annotations

import gzip
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

DATA_VARIABLES = (
    "KERAS_HOME",
    "TFDS_DATA_DIR",
    "TORCH_HOME",
    "CNNKIT_DATA_DIR",
    "CNNKIT_SHARED_DATA",
)
TEST_IMAGES, TEST_LABELS, TRAIN_IMAGES = (
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
    "train-images-idx3-ubyte",
)
HELD_OUT_OFFLINE, HELD_OUT_ONLINE = 1_000, 5_000
JUDGE_FILE = "mnist_held_out.npz"


@dataclass
class EvaluationData:
    """What ``prepare`` made: covers for every sandbox, a folder for the judge only."""

    binds: list[tuple[str, str]] = field(default_factory=list)  # (view, original) pairs
    judge_dir: str | None = None  # mounted only in the judge: CNNKIT_JUDGE_DATA
    notes: list[str] = field(default_factory=list)

    def judge_env(self) -> dict:
        return {"CNNKIT_JUDGE_DATA": self.judge_dir} if self.judge_dir else {}


def data_roots(environ=os.environ) -> list[str]:
    """The data caches a sandbox gets read-only (and their real paths)."""
    roots = set()
    for key in DATA_VARIABLES:
        value = environ.get(key)
        if value and os.path.isdir(value):
            roots |= {value, os.path.realpath(value)}
    return sorted(roots)


def _find(roots: list[str], names: set[str]) -> list[Path]:
    found = {}
    for root in roots:
        for folder, subfolders, files in os.walk(root):
            subfolders[:] = [s for s in subfolders if not s.startswith(".")]
            for name in files:
                if name in names:
                    path = Path(folder, name)  # every alias: each one is a mount of its own
                    found.setdefault(str(path), path)
    return sorted(found.values())


def _idx_shape(data: bytes) -> tuple[int, ...]:
    """The shape an idx file's header gives (its first 4 + 4 * dimensions bytes)."""
    dims = data[3]
    return tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims))


def _open_idx(path: Path):
    return (gzip.open if path.suffix == ".gz" else open)(path, "rb")


def _read_idx(path: Path) -> np.ndarray:
    with _open_idx(path) as handle:
        data = handle.read()
    shape = _idx_shape(data)
    return np.frombuffer(data, np.uint8, offset=4 + 4 * len(shape)).reshape(shape)


def _write_idx(array: np.ndarray, path: Path, gzipped: bool) -> None:
    header = bytes([0, 0, 8, array.ndim]) + b"".join(n.to_bytes(4, "big") for n in array.shape)
    payload = header + np.ascontiguousarray(array, np.uint8).tobytes()
    path.write_bytes(gzip.compress(payload, mtime=0) if gzipped else payload)


def _has_training_images(roots: list[str]) -> bool:
    for path in _find(roots, {TRAIN_IMAGES, TRAIN_IMAGES + ".gz", "mnist.npz"}):
        try:
            if path.name == "mnist.npz":
                return True
            with _open_idx(path) as handle:  # the header says how many: no need to read 47 MB
                header = handle.read(4)
                header += handle.read(4 * header[3])
            if _idx_shape(header)[0]:
                return True
        except (OSError, ValueError, IndexError, EOFError):
            continue
    return False


def _held_out(count: int, keep: int) -> slice:
    """The ``keep`` digits the judge holds: the ones before the last ``keep`` (offline, the last
    ones are a notebook's own test split), which is the first half when ``2 * keep == count``."""
    if count < 2 * keep:
        raise ValueError(f"{count} test images: too few to hold {keep} out")
    return slice(count - 2 * keep, count - keep)


def _without(array: np.ndarray, part: slice) -> np.ndarray:
    return np.concatenate([array[: part.start], array[part.stop :]])


def prepare(
    work: Path, environ=os.environ, held_out=(HELD_OUT_OFFLINE, HELD_OUT_ONLINE)
) -> EvaluationData:
    """Write the notebooks' copies and the judge's held-out set under ``work``; what to mount.
    ``held_out``: how many test digits the judge keeps, without and with real training images."""
    roots = data_roots(environ)
    result = EvaluationData()
    names = {TEST_IMAGES, TEST_LABELS, "mnist.npz"}
    sources = _find(roots, names | {name + ".gz" for name in names})
    if not sources:
        return result
    views, judge = Path(work, "data-views"), Path(work, "judge-data")
    views.mkdir(parents=True, exist_ok=True)
    judge.mkdir(parents=True, exist_ok=True)
    keep = held_out[1] if _has_training_images(roots) else held_out[0]
    judge_set = None  # (images, labels, origin) of the digits the judge keeps
    for index, path in enumerate(sources):
        view = views / f"{index}-{path.name}"
        try:
            if path.name == "mnist.npz":
                with np.load(path) as data:
                    arrays = {key: data[key] for key in data.files}
                part = _held_out(len(arrays["x_test"]), keep)
                judge_set = judge_set or (arrays["x_test"][part], arrays["y_test"][part], str(path))
                arrays["x_test"] = _without(arrays["x_test"], part)
                arrays["y_test"] = _without(arrays["y_test"], part)
                with open(view, "wb") as handle:
                    np.savez(handle, **arrays)
            else:
                array = _read_idx(path)
                part = _held_out(len(array), keep)
                _write_idx(_without(array, part), view, path.suffix == ".gz")
                if judge_set is None and path.name == TEST_IMAGES:
                    labels = path.with_name(TEST_LABELS)
                    if labels.exists():
                        judge_set = (array[part], _read_idx(labels)[part], str(path))
        except (OSError, ValueError, KeyError, IndexError) as error:
            result.notes.append(f"{path}: not split ({type(error).__name__}: {error})"[:200])
            continue
        view.chmod(0o444)
        result.binds.append((str(view), str(path)))
    if judge_set is not None:
        images, labels, origin = judge_set
        np.savez(
            judge / JUDGE_FILE,
            images=images,
            labels=labels,
            source=f"{len(labels):,} MNIST test digits that no notebook can read ({origin})",
        )
        (judge / JUDGE_FILE).chmod(0o444)
        result.judge_dir = str(judge)
    judge.chmod(0o755)
    views.chmod(0o755)
    return result
