"""cnnkit.grading: what crosses from the student's kernel to the judge is plain data, nothing else."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest

from cnnkit import grading
from cnnkit.grading import NotPlainData, decode, encode

PLAIN = [
    None,
    True,
    0,
    -(10**30),
    1.5,
    float("nan"),
    float("-inf"),
    2 - 3j,
    "text é",
    b"\x00\xff",
    [1, [2, (3, 4)], {"a": 1, 5: "b", (1, 2): None}],
    {"A", "C", 3},
    frozenset({(1, 2), None}),
    np.arange(12, dtype=np.int16).reshape(3, 4),
    np.array([True, False]),
    np.zeros((0, 3), np.float32),
    np.array([1 + 2j], np.complex64),
    np.float32(2.5),
    np.int64(7),
]


def same(a, b) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return (
            type(a) is type(b)
            and a.dtype == b.dtype
            and a.shape == b.shape
            and np.array_equal(a, b, equal_nan=True)
        )
    if isinstance(a, np.generic):
        return type(a) is type(b) and (a == b or (a != a and b != b))
    if isinstance(a, float) and a != a:
        return isinstance(b, float) and b != b
    if type(a) in (list, tuple):
        return (
            type(a) is type(b)
            and len(a) == len(b)
            and all(same(x, y) for x, y in zip(a, b, strict=False))
        )
    if type(a) in (set, frozenset):
        return type(a) is type(b) and a == b
    if type(a) is dict:
        return type(b) is dict and a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


@pytest.mark.parametrize("value", PLAIN, ids=lambda v: type(v).__name__)
def test_plain_data_round_trips_exactly(value):
    assert same(decode(encode(value)), value)


class Always(int):
    def __eq__(self, other):
        return True

    __hash__ = int.__hash__


class ListLike(list):
    pass


@pytest.mark.parametrize(
    "value, named",
    [
        (object(), "object"),
        (Always(3), "Always"),
        (ListLike([1]), "ListLike"),
        (np.array([object()], dtype=object), "dtype object"),
        (np.array(["a"]), "dtype <U1"),
        ({1, Always(2)}, "Always"),
        (lambda: 1, "function"),
        ([[[[[[]]]]]] * 1, None),
    ],
)
def test_anything_else_is_refused_with_its_type(value, named):
    if named is None:
        deep = []
        for _ in range(grading.MAX_DEPTH + 5):
            deep = [deep]
        value, named = deep, "deep"
    with pytest.raises(NotPlainData, match=named):
        encode(value)


def test_tensors_become_numpy_arrays():
    torch = pytest.importorskip("torch")
    assert same(decode(encode(torch.arange(4, dtype=torch.int32))), np.arange(4, dtype=np.int32))
    assert same(
        decode(encode({"x": torch.ones(2, requires_grad=True)})), {"x": np.ones(2, np.float32)}
    )


def packet(skeleton, *buffers: bytes) -> bytes:
    head = json.dumps(skeleton).encode()
    parts = [grading.MAGIC, struct.pack(">II", len(head), len(buffers)), head]
    for buffer in buffers:
        parts += [struct.pack(">Q", len(buffer)), buffer]
    return b"".join(parts)


@pytest.mark.parametrize(
    "data",
    [
        packet({"t": "array", "dtype": "|O", "shape": [1], "b": 0}, b"\0" * 8),
        packet({"t": "array", "dtype": "<f4", "shape": [3], "b": 0}, b"\0" * 4),
        packet({"t": "array", "dtype": "<f4", "shape": [-1], "b": 0}, b""),
        packet({"t": "array", "dtype": "<f4", "shape": [1], "b": 1}, b"\0" * 4),
        packet({"t": "pickle", "v": "gASVAAAA"}),
        packet({"t": "dict", "v": [[1]]}),
        packet({"t": "ref", "v": "x"}),
        packet({"not": "tagged"}),
        packet([1, 2])[:-1],
        b"\x80\x04\x95pickle",
        grading.encode(np.zeros(4))[:-3],
    ],
)
def test_malformed_or_unsafe_payloads_are_refused(data):
    with pytest.raises(ValueError):
        decode(data)


def test_probe_and_time_limit_run_locally_without_a_judge():
    def shape_of(function, n):
        return np.asarray(function(n)).shape

    assert grading.probe(np.zeros, shape_of, 3) == (3,)
    with pytest.raises(TimeoutError):
        with grading.time_limit(0.2):
            while True:
                pass
