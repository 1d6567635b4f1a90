"""The judge's evaluation data is disjoint from everything a notebook can read (issue 22, class 2).

``autograder.evaldata`` splits the MNIST test set and tf_flowers of the data caches into the copies
every sandbox sees (bound over the original files and folders) and the held-out digits and photos
that only the judge's folder holds. The splits are checked on small caches of real-format files
(real photos); the mounts on the real caches, in a sandbox as the kernel gets it and as the judge
gets it, where a walker reads every file looking for the judge's photos. About 30 seconds.
"""

from __future__ import annotations

import gzip
import json
import sys
import tarfile
import time
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from autograder import evaldata, sandbox, tfrecords  # noqa: E402
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
    held_out = sorted(os.listdir(judge))
except OSError as error:
    held_out = type(error).__name__
print("SEEN", json.dumps({"count": count, "judge": held_out}))  # into the box's log
"""


def what_it_saw(box, log: Path, seconds: float) -> dict:
    """Wait for a box's program to end; the line it printed after "SEEN " (its connection folder
    is read-only: what it saw is in its log)."""
    end = time.monotonic() + seconds
    while box.alive() and time.monotonic() < end:
        time.sleep(0.1)
    box.close()
    text = log.read_text(encoding="utf-8")
    return json.loads(text.split("SEEN ")[-1].splitlines()[0])


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
        seen[name] = what_it_saw(box, work / f"{name}.log", 60)
    assert seen["kernel"]["count"] == seen["judge"]["count"] == original - 1_000
    assert seen["kernel"]["judge"] == "FileNotFoundError"  # the folder is not there at all
    assert evaldata.JUDGE_FILE in seen["judge"]["judge"]


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


# tf_flowers (chapter 5): TFDS's prepared copy, the same photos as JPEG files and in an archive.

FLOWERS = evaldata._flowers_versions(evaldata.data_roots())
needs_flowers = pytest.mark.skipif(
    not FLOWERS, reason="tf_flowers is not prepared in TFDS_DATA_DIR"
)


@pytest.fixture
def flowers(tmp_path):
    """A TFDS_DATA_DIR holding tf_flowers prepared from the first 40 real photos in two shards (20
    and 20), and a KERAS_HOME with the same photos in class folders and in Keras's archive."""
    source = FLOWERS[0]
    records = []
    for shard in tfrecords.split_shards(source)[1]:
        records += list(tfrecords.records(shard))
    records = records[:40]
    version = tmp_path / "tfds" / "tf_flowers" / source.name
    version.mkdir(parents=True)
    for name in ("features.json", "label.labels.txt"):
        (version / name).write_bytes((source / name).read_bytes())
    for index in range(2):
        shard = version / f"tf_flowers-train.tfrecord-{index:05d}-of-00002"
        shard.write_bytes(b"".join(framed for framed, _ in records[20 * index : 20 * index + 20]))
    info = json.loads((source / "dataset_info.json").read_text())
    info["splits"][0]["shardLengths"] = ["20", "20"]
    info["splits"][0]["numBytes"] = str(sum(len(payload) for _, payload in records))
    (version / "dataset_info.json").write_text(json.dumps(info))
    names = (source / "label.labels.txt").read_text().split()
    photos = [tfrecords.example(payload) for _, payload in records]
    folder = tmp_path / "keras" / "datasets" / "flower_photos" / "flower_photos"
    for index, photo in enumerate(photos):
        (folder / names[photo["label"][0]]).mkdir(parents=True, exist_ok=True)
        (folder / names[photo["label"][0]] / f"{index}.jpg").write_bytes(photo["image"][0])
    (folder / "LICENSE.txt").write_text("the photographers' credits")
    with tarfile.open(tmp_path / "keras" / "datasets" / "flower_photos_archive", "w:gz") as tar:
        tar.add(folder, arcname="flower_photos")
    environ = {"TFDS_DATA_DIR": str(tmp_path / "tfds"), "KERAS_HOME": str(tmp_path / "keras")}
    return environ, photos


def digests_in(path: Path, binds: dict[str, str]) -> set[str]:
    """The sha256 of every photo a file or folder holds as a sandbox sees it (each path of ``binds``
    covered by its copy): TFRecord records, JPEG files, JPEG files in archives."""
    path = Path(binds.get(str(path), path))
    if path.is_dir():
        return set().union(set(), *(digests_in(p, binds) for p in path.iterdir()))
    if ".tfrecord" in path.name:
        return {
            evaldata._digest(tfrecords.example(payload)["image"][0])
            for _, payload in tfrecords.records(path)
        }
    if path.suffix == ".jpg":
        return {evaldata._digest(path.read_bytes())}
    if tarfile.is_tarfile(path):
        with tarfile.open(path) as tar:
            return {
                evaldata._digest(tar.extractfile(m).read()) for m in tar if m.name.endswith(".jpg")
            }
    return set()


@needs_flowers
def test_the_judge_holds_photos_that_no_copy_of_the_notebooks_holds(flowers, tmp_path):
    environ, photos = flowers
    everything = {evaldata._digest(photo["image"][0]) for photo in photos}
    assert digests_in(tmp_path, {}) == everything and len(everything) == 40
    data = evaldata.prepare(tmp_path / "work", environ, held_out_flowers=(4, 6))
    binds = {original: view for view, original in data.binds}
    version = Path(binds[str(tmp_path / "tfds" / "tf_flowers" / "3.0.1")])
    info = json.loads((version / "dataset_info.json").read_text())["splits"][0]
    assert info["shardLengths"] == ["16", "20"]  # without the first 4 photos of 40: train[:10%]
    shards = sorted(version.glob("*.tfrecord-*"))
    assert int(info["numBytes"]) == sum(len(p) for s in shards for _, p in tfrecords.records(s))
    assert json.loads((version / "cnnkit-withheld.json").read_text())["withheld"] == [0, 4]
    with np.load(Path(data.judge_dir) / evaldata.FLOWERS_JUDGE_FILE) as judge:
        offsets, jpegs = judge["offsets"], judge["jpegs"]
        held = [jpegs[a:b].tobytes() for a, b in zip(offsets[:-1], offsets[1:], strict=True)]
        assert judge["labels"].tolist() == [photo["label"][0] for photo in photos[:4]]
    assert held == [photo["image"][0] for photo in photos[:4]]
    seen = digests_in(tmp_path / "tfds", binds) | digests_in(tmp_path / "keras", binds)
    assert seen == everything - {evaldata._digest(jpeg) for jpeg in held}
    assert str(tmp_path / "keras" / "datasets" / "flower_photos_archive") in binds


@needs_flowers
def test_a_graded_notebook_trains_on_the_same_photos_as_at_home(flowers, tmp_path):
    """Through the copy, cnnkit's slices hold the photos they hold at home (the test slice those
    the judge did not keep: none here); tfds.load reads the copy as it is."""
    import tensorflow_datasets as tfds

    from cnnkit import data as cnnkit_data

    environ, _ = flowers
    data = evaldata.prepare(tmp_path / "work", environ, held_out_flowers=(4, 6))
    graded = tmp_path / "graded" / "tf_flowers"
    graded.mkdir(parents=True)
    (graded / "3.0.1").symlink_to(
        dict((o, v) for v, o in data.binds)[str(tmp_path / "tfds" / "tf_flowers" / "3.0.1")]
    )

    def photos(data_dir, split):
        loaded, _ = cnnkit_data.load_tf_flowers(split=split, data_dir=str(data_dir))
        return [
            [(image.tobytes(), int(label)) for image, label in part.as_numpy_iterator()]
            for part in loaded
        ]

    splits = ["train[:10%]", "train[10%:25%]", "train[25%:]", "train[10%:20%]"]
    home, seen = photos(tmp_path / "tfds", splits), photos(graded.parent, splits)
    assert [len(part) for part in home] == [4, 6, 30, 4] and [len(part) for part in seen] == [
        0,
        6,
        30,
        4,
    ]
    assert seen[1:] == home[1:]
    assert len(tfds.load("tf_flowers", split="train", data_dir=str(graded.parent))) == 36


def test_the_slices_of_a_copy_skip_the_withheld_photos():
    from cnnkit.data.datasets import _without_withheld

    assert _without_withheld("train[:10%]", 200, 0, 20) == ""  # all withheld
    assert _without_withheld("train[:10%]", 200, 0, 12) == "train[0:8]"  # the 8 left
    assert _without_withheld("train[10%:25%]", 200, 0, 20) == "train[0:30]"
    assert _without_withheld("train[25%:]", 3_670, 0, 367) == "train[551:3303]"
    assert _without_withheld("train[:5]+train[-10%:]", 200, 0, 20) == "train[160:180]"


WALKER = """
import gzip, json, os, sys
needles = [bytes.fromhex(n) for n in json.load(open(os.path.join(sys.argv[1], "needles.json")))]
found, files = set(), 0
roots = [os.environ[k] for k in ("TFDS_DATA_DIR", "KERAS_HOME", "CNNKIT_DATA_DIR", "TORCH_HOME", "CNNKIT_SHARED_DATA") if k in os.environ]
judge = os.environ.get("CNNKIT_JUDGE_DATA")
for root in roots + ([judge] if judge else []):
    for folder, _, names in os.walk(root):
        for name in names:
            try:
                data = open(os.path.join(folder, name), "rb").read()
            except OSError:
                continue
            files += 1
            if data[:2] == b"\\x1f\\x8b":
                data = gzip.decompress(data)
            found |= {i for i, needle in enumerate(needles) if needle in data}
print("SEEN", json.dumps({"files": files, "found": sorted(found)}))  # into the box's log
"""


@needs_flowers
@pytest.mark.skipif(
    sandbox.probe()["mode"] != "namespaces", reason="without namespaces nothing can be covered"
)
def test_a_kernel_that_reads_every_file_of_the_caches_finds_none_of_the_judges_photos(tmp_path):
    """Every file of the data caches, archives unpacked, searched for 256 bytes of each of the
    judge's photos: the kernel finds none, the judge (its folder included) finds every one."""
    work = tmp_path / "work"
    work.mkdir()
    work.chmod(0o755)
    isolation = isolation_for(work, [])
    with np.load(Path(isolation.judge_data) / evaldata.FLOWERS_JUDGE_FILE) as judge:
        offsets, jpegs = judge["offsets"], judge["jpegs"]
    middles = [(a + b) // 2 for a, b in zip(offsets[:-1], offsets[1:], strict=True)]
    needles = [jpegs[m : m + 256].tobytes().hex() for m in middles]
    home = [
        evaldata._digest(jpegs[a:b].tobytes())
        for a, b in zip(offsets[:-1], offsets[1:], strict=True)
    ]
    assert set(home) <= digests_in(FLOWERS[0], {})  # the needles are in the caches, outside
    limits = Limits(timeout=120, cell_timeout=60, memory_bytes=1 << 30, max_processes=8)
    seen = {}
    for name in ("kernel", "judge"):
        box = Box(work, work / name, limits, isolation)
        env, extra = process_env(limits, "/tmp/home"), []
        if name == "judge":
            env["CNNKIT_JUDGE_DATA"], extra = isolation.judge_data, [isolation.judge_data]
        (work / name).mkdir()
        (work / name / "needles.json").write_text(json.dumps(needles))
        box.start([sys.executable, "-c", WALKER, str(work / name)], env, name, extra_readonly=extra)
        seen[name] = what_it_saw(box, work / f"{name}.log", 120)
    assert seen["kernel"]["files"] > 100 and seen["kernel"]["found"] == []
    assert seen["judge"]["found"] == list(range(len(needles)))
