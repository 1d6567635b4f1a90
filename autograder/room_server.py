"""The clean room's side: run the cells a graded function needs, then answer the judge's requests.

The grader copies this file and ``cnnkit/grading/plain.py`` (as ``_plain.py``) into the room's
connection folder and runs ``python -s room_server.py SOCKET TOKEN`` there, in a sandbox where the
packages the exercise forbids are replaced by stubs whose import raises ``ImportError``. It imports
nothing of ``cnnkit``: in most rooms ``cnnkit`` does not exist. Everything it sends is untrusted.
"""

from __future__ import annotations

import ast
import builtins
import json
import signal
import socket
import struct
import sys

import _plain  # the copy of cnnkit/grading/plain.py next to this file

MAX_FAILURES = 5


def send_frame(sock: socket.socket, payload: bytes) -> None:
    sock.sendall(struct.pack(">I", len(payload)) + payload)


def recv_frame(sock: socket.socket, limit: int = _plain.MAX_FRAME) -> bytes:
    (size,) = struct.unpack(">I", _exactly(sock, 4))
    if size > limit:
        raise ValueError(f"message of {size} bytes is over the limit")
    return _exactly(sock, size)


def _exactly(sock: socket.socket, size: int) -> bytes:
    chunks = []
    while size:
        chunk = sock.recv(min(size, 1 << 20))
        if not chunk:
            raise ConnectionError("closed")
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def _message(error: BaseException) -> str:
    try:
        return str(error)[:2000]
    except Exception:  # noqa: BLE001 - a __str__ that fails
        return "(the message could not be read)"


def _builtin_base(error: BaseException) -> str:
    for cls in type(error).__mro__:
        if getattr(builtins, cls.__name__, None) is cls:
            return cls.__name__
    return "Exception"


class _Nothing:
    """What ``get_ipython()`` gives in the room: magics and shell calls do nothing."""

    def __call__(self, *args, **kwargs):
        return self

    def __getattr__(self, name):
        return self


class _Absent:
    """What an import of a removed package binds in the room: using it raises the import's error.

    In the student's own Jupyter the import worked; here only the code that uses the package
    fails, so a forbidden import at the top of a cell does not take the cell's other answers down.
    """

    def __init__(self, error: ImportError):
        self._error = (type(error), str(error), error.name)

    def _raise(self, *args, **kwargs):
        kind, message, name = self._error
        raise kind(message, name=name)

    __call__ = _raise

    def __getattr__(self, attribute):
        if attribute.startswith("__"):
            raise AttributeError(attribute)
        self._raise()


class Room:
    def __init__(self):
        self.namespace = {
            "__name__": "__main__",
            "__builtins__": builtins,
            "get_ipython": _Nothing(),
        }
        self.failures: list[str] = []

    def run_cells(self, cells: list, absent: list[str]) -> None:
        """Run each cell as Jupyter would (its first error ends it), except that an import
        statement of a removed package binds ``_Absent`` placeholders and the cell goes on."""
        for label, code in cells:
            try:
                statements = ast.parse(code, f"<{label}>").body
            except SyntaxError as error:
                self._failed(label, error)
                continue
            for statement in statements:
                try:
                    module = ast.Module(body=[statement], type_ignores=[])
                    exec(compile(module, f"<{label}>", "exec"), self.namespace)
                except ImportError as error:
                    if not _removed(error, absent) or not self._bind_absent(statement, error):
                        self._failed(label, error)
                        break
                except BaseException as error:  # noqa: BLE001 - the cell's error, kept
                    self._failed(label, error)
                    break

    def _bind_absent(self, statement, error: ImportError) -> bool:
        if not isinstance(statement, (ast.Import, ast.ImportFrom)):
            return False
        for alias in statement.names:
            if alias.name == "*":
                continue
            name = alias.asname or alias.name.split(".")[0]
            self.namespace[name] = _Absent(error)
        return True

    def _failed(self, label: str, error: BaseException) -> None:
        if len(self.failures) < MAX_FAILURES:
            first = (_message(error).strip().splitlines() or [""])[0][:300]
            self.failures.append(f"{label} raised {type(error).__name__}: {first}")

    def lookup(self, name: str):
        if name not in self.namespace:
            why = "; ".join(self.failures)
            raise NameError(
                f"name {name!r} is not defined in the clean room" + (f" ({why})" if why else "")
            )
        return self.namespace[name]

    def describe(self, name: str) -> dict:
        if name not in self.namespace:
            return {"kind": "missing"}
        value = self.namespace[name]
        if callable(value) and type(value).__name__ != "module":
            return {"kind": "callable", "type": type(value).__name__}
        try:
            return {"kind": "value", "value": _plain.to_plain(value)}
        except _plain.NotPlainData as error:
            return {"kind": "object", "type": str(error)}

    def run(self, request: dict) -> dict:
        op = request.get("op")
        if op == "read":
            return self.describe(request["name"])
        args, kwargs = request["args"]
        try:
            if op == "call":
                function = self.lookup(request["name"])
            elif op == "probe":
                scope = {"__builtins__": builtins}
                exec(compile(request["source"], "<test probe>", "exec"), scope)
                function = scope[request["function"]]
                args = [self.lookup(request["name"]), *args]
            else:
                return {"kind": "error", "message": f"unknown request {op!r}"}
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
            return {"kind": "returned", "value": _plain.to_plain(result)}
        except _plain.NotPlainData as error:
            return {"kind": "not plain", "type": str(error)}


class _Refuse:
    """Without namespaces (the sandbox's ``limits`` mode) no stub covers the removed packages: this
    import hook refuses them instead. It lives in the student's process, so it is a weaker fence
    than the missing files; the grader says which mode a batch runs in."""

    def __init__(self, absent: list[str]):
        self.absent = list(absent)

    def find_spec(self, name, path=None, target=None):
        for module in self.absent:
            if name == module or name.startswith(module + "."):
                raise ModuleNotFoundError(
                    f"{module} does not exist where this answer is graded: the exercise asks you "
                    f"to write it without {module}",
                    name=module,
                )
        return None


def _refuse(absent: list[str]) -> None:
    if absent and not any(isinstance(hook, _Refuse) for hook in sys.meta_path):
        sys.meta_path.insert(0, _Refuse(absent))


def _removed(error: ImportError, absent: list[str]) -> bool:
    name = getattr(error, "name", None) or ""
    return any(name == module or name.startswith(module + ".") for module in absent)


def _encode(reply: dict) -> bytes:
    try:
        return _plain.encode(reply)
    except _plain.NotPlainData as error:
        return _plain.encode({"kind": "not plain", "type": str(error)})


def main(argv: list[str]) -> int:
    path, token = argv
    signal.signal(signal.SIGINT, signal.default_int_handler)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(path)
    send_frame(sock, json.dumps({"hello": token}).encode())
    room = Room()
    while True:
        try:
            frame = recv_frame(sock)
        except (ConnectionError, ValueError):
            return 0
        if not frame.startswith(_plain.MAGIC):  # more cells to run (JSON), before a request
            try:
                message = json.loads(frame)
                _refuse(message.get("absent", []))
                room.run_cells(message["cells"], message.get("absent", []))
            except KeyboardInterrupt:
                room.failures.append("a cell was interrupted")
            send_frame(sock, json.dumps({"ran": True}).encode())
            continue
        try:
            request = _plain.decode(frame, room.lookup)
            reply = _encode(room.run(request)) if isinstance(request, dict) else b""
        except KeyboardInterrupt:
            reply = _encode({"kind": "interrupted"})
        except NameError as error:
            reply = _encode(
                {
                    "kind": "raised",
                    "type": "NameError",
                    "builtin": "NameError",
                    "message": str(error),
                }
            )
        except Exception as error:  # noqa: BLE001 - a bad request
            reply = _encode({"kind": "error", "message": f"{type(error).__name__}: {error}"[:500]})
        if not reply:
            return 0
        send_frame(sock, reply)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
