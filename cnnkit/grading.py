"""What exercise tests use: ``probe``, ``time_limit`` and the plain data that crosses to the grader.

In your own Jupyter the exercise's test cells run in your kernel, and these helpers simply run there.
When a notebook is graded, the test cells run in a separate *judge* process (``autograder.judge``)
that reaches your notebook only through plain data: numbers, strings, bytes, lists, tuples, dicts and
NumPy arrays (and sets). ``to_plain`` says what counts; ``encode``/``decode`` carry it without pickle;
``serve`` is what the graded kernel runs while a test asks it for values.
"""

from __future__ import annotations

import builtins
import contextlib
import json
import signal
import socket
import struct
import sys
import time

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


# --- in the test cells ----------------------------------------------------------------------------

_judge = None  # set by the judge process: then probe and time_limit go to the student's kernel


def probe(target, function, *args, **kwargs):
    """``function(target, *args, **kwargs)``, run where the student's objects live; its result as
    plain data."""
    if _judge is not None:
        return _judge.probe(target, function, args, kwargs)
    return to_plain(function(target, *args, **kwargs))


@contextlib.contextmanager
def time_limit(seconds: float):
    """Fail the calls inside with TimeoutError when they take longer than ``seconds``."""
    if _judge is not None:
        with _judge.time_limit(seconds):
            yield
        return
    start = time.perf_counter()

    def too_slow(signum, frame):
        raise TimeoutError(f"took more than {seconds:g} s")

    alarm = hasattr(signal, "SIGALRM")  # stops a slow Python loop early (not on Windows)
    if alarm:
        previous = signal.signal(signal.SIGALRM, too_slow)
        signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        if alarm:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
    if time.perf_counter() - start > seconds:
        raise TimeoutError(f"took more than {seconds:g} s")


# --- the graded kernel's side -------------------------------------------------------------------


def send_frame(sock: socket.socket, payload: bytes) -> None:
    sock.sendall(struct.pack(">I", len(payload)) + payload)


def recv_frame(sock: socket.socket, limit: int = MAX_FRAME) -> bytes:
    header = _recv_exactly(sock, 4)
    (size,) = struct.unpack(">I", header)
    if size > limit:
        raise ValueError(f"message of {size} bytes is over the limit")
    return _recv_exactly(sock, size)


def _recv_exactly(sock: socket.socket, size: int) -> bytes:
    chunks, left = [], size
    while left:
        chunk = sock.recv(min(left, 1 << 20))
        if not chunk:
            raise ConnectionError("the other side closed the channel")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _builtin_base(error: BaseException) -> str:
    for cls in type(error).__mro__:
        if getattr(builtins, cls.__name__, None) is cls:
            return cls.__name__
    return "Exception"


class _Recorder:
    """Notes which forbidden packages' code runs during a call (a profile function)."""

    def __init__(self, forbidden):
        self.forbidden = tuple(forbidden)
        self.seen = set()

    def _check(self, module):
        if isinstance(module, str) and module.startswith(self.forbidden):
            for name in self.forbidden:
                if module == name or module.startswith(name + "."):
                    self.seen.add(name)

    def __call__(self, frame, event, arg):
        if event == "call":
            self._check(frame.f_globals.get("__name__"))
        elif event == "c_call":
            self._check(getattr(arg, "__module__", None))


class _Server:
    """Answers the judge's requests with the objects of the kernel's namespace."""

    def __init__(self, namespace: dict):
        self.namespace = namespace

    def lookup(self, name: str):
        if name not in self.namespace:
            raise NameError(f"name {name!r} is not defined")
        return self.namespace[name]

    def describe(self, name: str) -> dict:
        if name not in self.namespace:
            return {"kind": "missing"}
        value = self.namespace[name]
        if type(value).__name__ == "module":
            return {"kind": "module"}
        if callable(value):
            return {"kind": "callable", "type": type(value).__name__}
        try:
            return {"kind": "value", "value": to_plain(value)}
        except NotPlainData as error:
            return {"kind": "object", "type": str(error)}

    def run(self, request: dict) -> dict:
        op = request.get("op")
        if op == "read":
            return self.describe(request["name"])
        args, kwargs = request["args"]
        if op == "call":
            function = self.lookup(request["name"])
        elif op == "probe":
            scope = {"__builtins__": builtins}
            exec(
                compile(request["source"], "<test probe>", "exec"), scope
            )  # the instructor's probe
            function = scope[request["function"]]
            args = [self.lookup(request["name"]), *args]
        else:
            return {"kind": "error", "message": f"unknown request {op!r}"}
        recorder = _Recorder(request.get("forbid") or ())
        previous = sys.getprofile()
        if recorder.forbidden:
            sys.setprofile(recorder)
        try:
            result = function(*args, **kwargs)
        except BaseException as error:  # noqa: BLE001 - every exception goes back as data
            if recorder.forbidden:
                sys.setprofile(previous)
            if isinstance(error, KeyboardInterrupt):
                return {"kind": "interrupted"}
            return {
                "kind": "raised",
                "type": type(error).__qualname__,
                "builtin": _builtin_base(error),
                "message": _message(error),
                "ran": sorted(recorder.seen),
            }
        removed = bool(recorder.forbidden) and sys.getprofile() is not recorder
        if recorder.forbidden:
            sys.setprofile(previous)
        try:
            value = to_plain(result)
        except NotPlainData as error:
            return {"kind": "not plain", "type": str(error), "ran": sorted(recorder.seen)}
        return {
            "kind": "returned",
            "value": value,
            "ran": sorted(recorder.seen),
            "recorder_removed": removed,
        }


def _message(error: BaseException) -> str:
    try:
        return str(error)[:2000]
    except Exception:  # noqa: BLE001 - a __str__ that fails
        return "(the message could not be read)"


def _reply(reply: dict) -> bytes:
    try:
        return encode(reply)
    except NotPlainData as error:  # e.g. a value that is plain on the surface only
        return encode({"kind": "not plain", "type": str(error)})


def serve(path: str, token: str) -> None:
    """Run in the graded kernel while a test cell runs: answer the judge until it says "end"."""
    import IPython

    server = _Server(IPython.get_ipython().user_ns)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(path)
        send_frame(sock, json.dumps({"hello": token}).encode())
        while True:
            try:
                frame = recv_frame(sock)
            except (ConnectionError, KeyboardInterrupt, ValueError):
                return
            try:
                request = decode(frame, server.lookup)
                if not isinstance(request, dict) or request.get("op") == "end":
                    return
                reply = _reply(server.run(request))
            except KeyboardInterrupt:
                reply = encode({"kind": "interrupted"})
            except Exception as error:  # noqa: BLE001 - a bad request, a name that is missing
                reply = encode(
                    {"kind": "error", "message": f"{type(error).__name__}: {_message(error)}"}
                )
            try:
                send_frame(sock, reply)
            except (OSError, KeyboardInterrupt):
                return
