"""The graded kernel's side: ``serve`` answers the judge's requests while a test cell runs."""

from __future__ import annotations

import builtins
import json
import socket
import struct

from cnnkit.grading.plain import MAX_FRAME, NotPlainData, decode, encode, to_plain


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
        try:
            result = function(*args, **kwargs)
        except BaseException as error:  # noqa: BLE001 - every exception goes back as data
            if isinstance(error, KeyboardInterrupt):
                return {"kind": "interrupted"}
            return {
                "kind": "raised",
                "type": type(error).__qualname__,
                "builtin": _builtin_base(error),
                "message": _message(error),
            }
        try:
            return {"kind": "returned", "value": to_plain(result)}
        except NotPlainData as error:
            return {"kind": "not plain", "type": str(error)}


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
