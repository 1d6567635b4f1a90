"""Plain data: what may cross between a graded kernel and the judge, and its binary envelope.

``to_plain`` says what counts (numbers, strings, bytes, lists, tuples, dicts, sets and NumPy arrays
of numbers); ``encode``/``decode`` carry it without pickle: a JSON skeleton and raw array buffers.
"""

from __future__ import annotations

import json
import struct

ARRAY_KINDS = "biufc"  # bool, signed and unsigned integers, floats, complex numbers
MAX_DEPTH = 64
MAX_FRAME = 256 << 20  # bytes of one message


class NotPlainData(Exception):
    """A value that is not plain data (the tests cannot receive it)."""


class StudentCodeError(Exception):
    """An exception of the student's code whose type is not one of Python's built-in ones."""


# --- plain data ---------------------------------------------------------------------------------


def _tensor_to_numpy(value):
    """A torch or TensorFlow tensor as a NumPy array, else None (imports neither framework)."""
    module = type(value).__module__
    if module.startswith("torch") and hasattr(value, "detach"):
        return value.detach().cpu().numpy()
    if module.startswith(("tensorflow", "keras")) and hasattr(value, "numpy"):
        return value.numpy()
    return None


def to_plain(value, depth: int = 0):
    """``value`` as plain data (tensors become NumPy arrays); raise NotPlainData naming the type."""
    import numpy as np

    if depth > MAX_DEPTH:
        raise NotPlainData(f"nested more than {MAX_DEPTH} levels deep")
    if value is None or isinstance(value, (bool, int, float, complex, str, bytes)):
        return value
    if isinstance(value, np.generic):
        if value.dtype.kind not in ARRAY_KINDS:
            raise NotPlainData(f"a NumPy {value.dtype} scalar")
        return value
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in ARRAY_KINDS:
            raise NotPlainData(f"a NumPy array of dtype {value.dtype}")
        return value
    array = _tensor_to_numpy(value)
    if array is not None:
        return to_plain(np.asarray(array), depth)
    if type(value) in (list, tuple, set, frozenset):
        return type(value)(to_plain(item, depth + 1) for item in value)
    if type(value) is dict:
        return {to_plain(k, depth + 1): to_plain(v, depth + 1) for k, v in value.items()}
    raise NotPlainData(f"a {type(value).__module__}.{type(value).__qualname__}")


MAGIC = b"PLN1"


def _pack(value, buffers: list, depth: int = 0):
    """The JSON skeleton of a plain value; array and bytes data go to ``buffers`` (no base64)."""
    import numpy as np

    if depth > MAX_DEPTH:
        raise NotPlainData(f"nested more than {MAX_DEPTH} levels deep")
    if value is None or type(value) in (bool, int, str):
        return value
    if type(value) is float:
        return (
            value
            if value == value and abs(value) != float("inf")
            else {"t": "float", "v": repr(value)}
        )
    if type(value) is complex:
        return {"t": "complex", "v": [repr(value.real), repr(value.imag)]}
    if type(value) is bytes:
        buffers.append(value)
        return {"t": "bytes", "b": len(buffers) - 1}
    if type(value) is list:
        return [_pack(item, buffers, depth + 1) for item in value]
    if type(value) in (tuple, set, frozenset):
        items = (
            value if type(value) is tuple else sorted(value, key=repr)
        )  # the same bytes each time
        return {"t": type(value).__name__, "v": [_pack(item, buffers, depth + 1) for item in items]}
    if type(value) is dict:
        return {
            "t": "dict",
            "v": [
                [_pack(k, buffers, depth + 1), _pack(v, buffers, depth + 1)]
                for k, v in value.items()
            ],
        }
    if isinstance(value, (np.ndarray, np.generic)):
        array = np.asarray(value)
        if array.dtype.kind not in ARRAY_KINDS:
            raise NotPlainData(f"a NumPy array of dtype {array.dtype}")
        buffers.append(np.ascontiguousarray(array).tobytes())
        kind = "scalar" if isinstance(value, np.generic) else "array"
        return {
            "t": kind,
            "dtype": array.dtype.str,
            "shape": list(array.shape),
            "b": len(buffers) - 1,
        }
    reference = getattr(value, "_cnnkit_reference", None)
    if isinstance(reference, str):  # a student name the judge passes back to the student's side
        return {"t": "ref", "v": reference}
    raise NotPlainData(f"a {type(value).__module__}.{type(value).__qualname__}")


def encode(value, *, plain: bool = True) -> bytes:
    """Plain data as bytes (a JSON skeleton, then the raw array buffers; never pickle).

    Raise NotPlainData for anything else. ``plain=False`` skips the conversion of tensors (the
    judge's own arguments, which may hold references to the student's names).
    """
    buffers: list[bytes] = []
    skeleton = json.dumps(_pack(to_plain(value) if plain else value, buffers)).encode()
    parts = [MAGIC, struct.pack(">II", len(skeleton), len(buffers)), skeleton]
    for buffer in buffers:
        parts += [struct.pack(">Q", len(buffer)), buffer]
    return b"".join(parts)


def _unpack(node, buffers: list, resolve, depth: int = 0):
    import numpy as np

    if depth > MAX_DEPTH:
        raise ValueError("nested too deep")
    if node is None or type(node) in (bool, int, float, str):
        return node
    if type(node) is list:
        return [_unpack(item, buffers, resolve, depth + 1) for item in node]
    if type(node) is not dict or not isinstance(node.get("t"), str):
        raise ValueError(f"unexpected {type(node).__name__} in plain data")
    tag, body = node["t"], node.get("v")
    if tag == "float" and body in ("nan", "inf", "-inf"):
        return float(body)
    if tag == "complex" and type(body) is list and len(body) == 2:
        return complex(float(body[0]), float(body[1]))
    if tag in ("tuple", "set", "frozenset") and type(body) is list:
        items = (_unpack(item, buffers, resolve, depth + 1) for item in body)
        return {"tuple": tuple, "set": set, "frozenset": frozenset}[tag](items)
    if tag == "dict" and type(body) is list:
        pairs = [_unpack(pair, buffers, resolve, depth + 1) for pair in body]
        if not all(type(pair) is list and len(pair) == 2 for pair in pairs):
            raise ValueError("malformed dict in plain data")
        return {key: val for key, val in pairs}
    index = node.get("b")
    if tag in ("bytes", "array", "scalar") and (
        type(index) is not int or not 0 <= index < len(buffers)
    ):
        raise ValueError("missing buffer in plain data")
    if tag == "bytes":
        return bytes(buffers[index])
    if tag in ("array", "scalar"):
        dtype = np.dtype(str(node.get("dtype")))
        shape = node.get("shape")
        if dtype.kind not in ARRAY_KINDS or dtype.hasobject or not isinstance(shape, list):
            raise ValueError(f"array of dtype {dtype} in plain data")
        if not all(type(n) is int and n >= 0 for n in shape):
            raise ValueError("malformed array shape in plain data")
        data = buffers[index]
        if len(data) != int(np.prod(shape, dtype=np.int64)) * dtype.itemsize:
            raise ValueError("array data does not match its shape")
        array = np.frombuffer(data, dtype=dtype).reshape(shape).copy()
        return array[()] if tag == "scalar" else array
    if tag == "ref" and type(body) is str and resolve is not None:
        return resolve(body)
    raise ValueError(f"unknown tag {tag!r} in plain data")


def decode(data: bytes, resolve=None):
    """The value of ``encode``'s bytes; nothing but plain data can come out (``resolve`` maps the
    student references that only the judge sends)."""
    view = memoryview(data)
    if bytes(view[:4]) != MAGIC or len(view) < 12:
        raise ValueError("not plain data")
    size, count = struct.unpack(">II", view[4:12])
    offset = 12 + size
    skeleton = json.loads(bytes(view[12:offset]))
    buffers = []
    for _ in range(count):
        if offset + 8 > len(view):
            raise ValueError("truncated plain data")
        (length,) = struct.unpack(">Q", view[offset : offset + 8])
        offset += 8
        if offset + length > len(view):
            raise ValueError("truncated plain data")
        buffers.append(view[offset : offset + length])
        offset += length
    return _unpack(skeleton, buffers, resolve)
