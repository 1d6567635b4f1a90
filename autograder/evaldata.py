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
- **tf_flowers** (chapter 5's test photos). Every prepared copy of tf_flowers in the caches (TFDS's
  version folder, ``tf_flowers/3.0.1``) is covered by a copy without the first photos of its train
  split, the notebooks' test split ``train[:10%]`` (all 20 of the 200 prepared offline, all 367 of
  the 3,670): its TFRecord shards are rewritten without their records, its ``dataset_info.json``
  says the new shard lengths, and ``cnnkit-withheld.json`` tells ``cnnkit.data.load_tf_flowers``
  which positions went, so that its slices hold the same photos as at home. The same photos, as
  JPEG files (the class folders of ``flower_photos``) or in a tar archive (Keras's
  ``flower_photos_archive``), are left out of copies of those folders and archives, found by their
  bytes. The judge gets them in ``flowers_held_out.npz`` (the JPEG bytes TFDS stored, and labels).

The held-out images are never in a file the kernel or a clean room can open: their copy of the data
simply lacks them. The judge moves and rescales the digits (``shifted`` in chapter 4's judge cell)
and crops, flips and brightens the photos (``varied`` in chapter 5's) at random at each grading,
with no seed. Without namespaces (``mode: limits``)
nothing can be covered: the data caches, held-out digits included, stay readable, as the README says.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import shutil
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from autograder import tfrecords
from cnnkit.data.datasets import TF_FLOWERS_PHOTOS

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
FLOWERS_JUDGE_FILE = "flowers_held_out.npz"
FLOWERS_HELD_OUT = (20, 367)  # offline (200 photos), online (3,670): the notebooks' test split
PHOTO_SUFFIXES = (".jpg", ".jpeg")


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


def _walk(roots: list[str]):
    """(folder, file names) of every folder under the roots, hidden folders left out. A folder
    reached through two roots (a symlink and its real path) comes once for each: every alias is a
    mount of its own."""
    for root in roots:
        for folder, subfolders, files in os.walk(root):
            subfolders[:] = [s for s in subfolders if not s.startswith(".")]
            yield Path(folder), files


def _find(roots: list[str], names: set[str]) -> list[Path]:
    found = {
        str(folder / n): folder / n for folder, files in _walk(roots) for n in files if n in names
    }
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
    work: Path,
    environ=os.environ,
    held_out=(HELD_OUT_OFFLINE, HELD_OUT_ONLINE),
    held_out_flowers=FLOWERS_HELD_OUT,
) -> EvaluationData:
    """Write the notebooks' copies and the judge's held-out sets under ``work``; what to mount.
    ``held_out``: how many test digits the judge keeps, without and with real training images;
    ``held_out_flowers``: how many tf_flowers photos, with fewer than 3,670 prepared and with all."""
    roots = data_roots(environ)
    result = EvaluationData()
    views, judge = Path(work, "data-views"), Path(work, "judge-data")
    views.mkdir(parents=True, exist_ok=True)
    judge.mkdir(parents=True, exist_ok=True)
    kept = _prepare_mnist(roots, views, judge, result, held_out)
    kept |= _prepare_flowers(roots, views, judge, result, held_out_flowers)
    if kept:
        result.judge_dir = str(judge)
    judge.chmod(0o755)
    views.chmod(0o755)
    return result


def _prepare_mnist(roots, views: Path, judge: Path, result: EvaluationData, held_out) -> bool:
    """MNIST's test set: copies without the judge's digits, and ``mnist_held_out.npz``."""
    names = {TEST_IMAGES, TEST_LABELS, "mnist.npz"}
    sources = _find(roots, names | {name + ".gz" for name in names})
    if not sources:
        return False
    keep = held_out[1] if _has_training_images(roots) else held_out[0]
    judge_set = None  # (images, labels, origin) of the digits the judge keeps
    for index, path in enumerate(sources):
        view = views / f"mnist-{index}-{path.name}"
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
    if judge_set is None:
        return False
    images, labels, origin = judge_set
    np.savez(
        judge / JUDGE_FILE,
        images=images,
        labels=labels,
        source=f"{len(labels):,} MNIST test digits that no notebook can read ({origin})",
    )
    (judge / JUDGE_FILE).chmod(0o444)
    return True


# tf_flowers (chapter 5): TFDS's prepared copy, and the same photos as JPEG files and archives.


def _flowers_versions(roots) -> list[Path]:
    """Every prepared tf_flowers version folder (``tf_flowers/3.0.1``) in the data caches."""
    found = {
        str(folder): folder
        for folder, files in _walk(roots)
        if folder.parent.name == "tf_flowers" and "dataset_info.json" in files
    }
    return sorted(found.values())


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _photo_files(roots) -> list[Path]:
    """Every JPEG file and every tar archive of flower photos in the data caches."""
    found = {}
    for folder, files in _walk(roots):
        for name in files:
            path = folder / name
            photo = name.lower().endswith(PHOTO_SUFFIXES)
            archive = "flower" in name.lower() and ".tfrecord" not in name
            if photo or (archive and tarfile.is_tarfile(path)):
                found.setdefault(str(path), path)
    return sorted(found.values())


def _folder_view(folder: Path, view: Path, withheld: set[str]) -> int:
    """Copy ``folder``'s files into ``view`` except the withheld photos; how many were left out."""
    view.mkdir()
    left_out = 0
    for path in sorted(folder.iterdir()):
        if path.is_dir():
            left_out += _folder_view(path, view / path.name, withheld)
        elif path.name.lower().endswith(PHOTO_SUFFIXES) and _digest(path.read_bytes()) in withheld:
            left_out += 1
        elif path.is_file():
            shutil.copyfile(path, view / path.name)
    return left_out


def _archive_view(archive: Path, view: Path, withheld: set[str]) -> int:
    """Rewrite a tar archive (gzipped or not) without the withheld photos; how many were left out."""
    with open(archive, "rb") as handle:
        gzipped = handle.read(2) == b"\x1f\x8b"
    left_out = 0
    with (
        tarfile.open(archive, "r:*") as source,
        tarfile.open(view, "w:gz" if gzipped else "w", compresslevel=6) as out,
    ):
        for member in source:
            data = source.extractfile(member).read() if member.isfile() else None
            if data is not None and _digest(data) in withheld:
                left_out += 1
                continue
            out.addfile(member, None if data is None else io.BytesIO(data))
    return left_out


def _prepare_flowers(roots, views: Path, judge: Path, result: EvaluationData, held_out) -> bool:
    """tf_flowers: TFDS's prepared copies without the judge's photos (the first ones of the train
    split, the notebooks' test split ``train[:10%]``), the JPEG folders and archives without them
    either, and ``flowers_held_out.npz``. One copy for each real file or folder, bound over every
    path that leads to it."""
    judge_set, withheld, made = None, set(), {}  # made: real path -> its copy
    for version in _flowers_versions(roots):
        real = os.path.realpath(version)
        if real not in made:
            view = views / f"tf_flowers-{len(made)}-{version.name}"
            try:
                info, shards = tfrecords.split_shards(version)
                (split,) = [s for s in info["splits"] if s["name"] == "train"]
                count = sum(int(n) for n in split["shardLengths"])
                keep = held_out[1] if count >= TF_FLOWERS_PHOTOS else held_out[0]
                if not 0 < keep <= int(round(count * 0.1)):  # TFDS's train[:10%]
                    raise ValueError(f"{count} photos: too few to hold {keep} out")
                taken = tfrecords.copy_without(version, view, range(keep))
            except (OSError, ValueError, KeyError, IndexError, UnicodeDecodeError) as error:
                result.notes.append(f"{version}: not split ({type(error).__name__}: {error})"[:200])
                shutil.rmtree(view, ignore_errors=True)
                made[real] = None
                continue
            withheld |= {_digest(jpeg) for jpeg, _ in taken}
            judge_set = judge_set or (taken, str(version))
            _seal(view)
            made[real] = view
        if made[real]:
            result.binds.append((str(made[real]), str(version)))
    if judge_set is None:
        return False
    sizes = {len(jpeg) for jpeg, _ in judge_set[0]}
    folders = {}  # real path -> the paths that lead to it
    for path in _photo_files(roots):
        real = os.path.realpath(path)
        try:
            if path.name.lower().endswith(PHOTO_SUFFIXES):
                if path.stat().st_size in sizes and _digest(path.read_bytes()) in withheld:
                    folders.setdefault(os.path.realpath(path.parent), set()).add(path.parent)
                continue
            if real not in made:
                view = views / f"flowers-{len(made)}-{path.name}"
                made[real] = view if _archive_view(path, view, withheld) else None
                if made[real] is None:
                    view.unlink()
                else:
                    view.chmod(0o444)
        except (OSError, tarfile.TarError) as error:
            result.notes.append(f"{path}: not split ({type(error).__name__}: {error})"[:200])
            made[real] = None
        if made.get(real):
            result.binds.append((str(made[real]), str(path)))
    for real, paths in sorted(folders.items()):
        view = views / f"flower-photos-{len(made)}-{Path(real).name}"
        _folder_view(Path(real), view, withheld)
        _seal(view)
        made[real] = view
        result.binds.extend((str(view), str(path)) for path in sorted(paths))
    photos, origin = judge_set
    jpegs = [np.frombuffer(jpeg, np.uint8) for jpeg, _ in photos]
    np.savez(
        judge / FLOWERS_JUDGE_FILE,
        jpegs=np.concatenate(jpegs),
        offsets=np.cumsum([0] + [len(jpeg) for jpeg in jpegs]),
        labels=np.array([label for _, label in photos], np.int64),
        source=f"{len(photos):,} tf_flowers photos that no notebook can read ({origin})",
    )
    (judge / FLOWERS_JUDGE_FILE).chmod(0o444)
    return True


def _seal(folder: Path) -> None:
    """Files read-only, folders listable by everyone (the sandboxes mount them read-only)."""
    for path in [folder, *folder.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o444)
