"""A prepared tf_flowers (TFDS's TFRecord files) read, and copied without some of its photos,
with no TensorFlow: the records of a TFRecord file, the features of a ``tf.train.Example``, and a
copy of a version folder whose shards, ``dataset_info.json`` and a note for
``cnnkit.data.load_tf_flowers`` leave some positions of the train split out (``evaldata.py``).
"""

from __future__ import annotations

import json
import shutil
import struct
from pathlib import Path

from cnnkit.data.datasets import TF_FLOWERS_WITHHELD


def records(path: Path):
    """The records of a TFRecord file: (framed bytes as stored, payload). A record is its length
    (8 bytes), the length's checksum (4), the payload and the payload's checksum (4)."""
    with open(path, "rb") as handle:
        while header := handle.read(12):
            (length,) = struct.unpack("<Q", header[:8])
            payload = handle.read(length)
            footer = handle.read(4)
            if len(payload) != length or len(footer) != 4:
                raise ValueError(f"{path.name}: a record is cut short")
            yield header + payload + footer, payload


def _varint(data: bytes, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[at]
        value |= (byte & 0x7F) << shift
        at, shift = at + 1, shift + 7
        if byte < 0x80:
            return value, at


def _fields(message: bytes):
    """The (number, value) fields of a protocol buffer: bytes for length-delimited ones, int for
    varints (``tf.train.Example`` has no other kinds in a TFDS record)."""
    at = 0
    while at < len(message):
        key, at = _varint(message, at)
        number, kind = key >> 3, key & 7
        if kind == 0:
            value, at = _varint(message, at)
        elif kind == 2:
            length, at = _varint(message, at)
            value, at = message[at : at + length], at + length
        else:
            raise ValueError(f"unexpected protocol buffer field kind {kind}")
        yield number, value


def example(payload: bytes) -> dict:
    """A ``tf.train.Example``'s features: name -> list of bytes (bytes_list) or ints (int64_list)."""
    features = {}
    for _, container in _fields(payload):  # Example.features
        for _, entry in _fields(container):  # Features.feature, a map entry
            parts = dict(_fields(entry))
            name, values = parts[1].decode(), []
            for kind, listed in _fields(parts.get(2, b"")):  # Feature: bytes 1, int64 3
                for _, value in _fields(listed):
                    if kind == 3 and isinstance(value, bytes):  # packed varints
                        at = 0
                        while at < len(value):
                            number, at = _varint(value, at)
                            values.append(number - (1 << 64) if number >= 1 << 63 else number)
                    else:
                        values.append(value)
            features[name] = values
    return features


def split_shards(version: Path) -> tuple[dict, list[Path]]:
    """dataset_info.json and the train split's shard files, in TFDS's order."""
    info = json.loads((version / "dataset_info.json").read_text())
    (split,) = [s for s in info["splits"] if s["name"] == "train"]
    lengths = [int(n) for n in split["shardLengths"]]
    stem = f"tf_flowers-train.{info.get('fileFormat', 'tfrecord')}"
    shards = [version / f"{stem}-{i:05d}-of-{len(lengths):05d}" for i in range(len(lengths))]
    return info, shards


def copy_without(version: Path, view: Path, withheld: range) -> list[tuple[bytes, int]]:
    """Copy one prepared tf_flowers without the photos at ``withheld`` (positions in TFDS's order)
    into ``view``: shards, dataset_info.json (split size, shard lengths) and the note for cnnkit.
    Returns the withheld photos: (JPEG bytes, label)."""
    info, shards = split_shards(version)
    view.mkdir()
    for path in version.iterdir():
        if path.is_file() and path not in shards and path.name != "dataset_info.json":
            shutil.copyfile(path, view / path.name)
    position, taken, lengths, payload_bytes = 0, [], [], 0
    for shard in shards:
        kept = 0
        with open(view / shard.name, "wb") as out:
            for framed, payload in records(shard):
                if position in withheld:
                    features = example(payload)
                    taken.append((features["image"][0], int(features["label"][0])))
                else:
                    out.write(framed)
                    kept, payload_bytes = kept + 1, payload_bytes + len(payload)
                position += 1
        lengths.append(kept)
    (split,) = [s for s in info["splits"] if s["name"] == "train"]
    split["shardLengths"] = [str(n) for n in lengths]
    split["numBytes"] = str(payload_bytes)
    (view / "dataset_info.json").write_text(json.dumps(info, indent=2))
    note = {
        "examples": position,
        "withheld": [withheld.start, withheld.stop],
        "why": "graded: the photos at these positions of the train split are the grader's tests' "
        "(autograder/evaldata.py); cnnkit.data.load_tf_flowers maps its splits onto this copy",
    }
    (view / TF_FLOWERS_WITHHELD).write_text(json.dumps(note, indent=2))
    return taken
