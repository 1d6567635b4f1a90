"""What the grader keeps of the kernel's outputs: a cell's run (``CellRun``) and ``Outputs``.

Everything the kernel sends on its iopub socket is untrusted: ``Outputs`` counts what arrives (past
``Limits.output_flood_bytes`` the kernel is stopped), keeps only text and PNG images, and keeps at
most ``output_cell_bytes`` per cell and ``output_keep_bytes`` per notebook, marking where it cut.
Used by ``autograder.run``'s ``Kernel``.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class CellRun:
    """One cell's run in the kernel (or a test's, in the judge): how it ended, what it printed."""

    status: str = "not run"  # ok, error, interrupted, not run
    ename: str = ""
    evalue: str = ""
    outputs: list = field(default_factory=list)
    seconds: float = 0.0
    kept: int = 0  # bytes of output kept


class Outputs:
    """The outputs received from one kernel, and those kept for the graded notebook."""

    def __init__(self, limits):
        self.limits = limits
        self.received = 0  # bytes of output received
        self.kept = 0  # ... and kept
        self.truncated = False

    def flooded(self, msg: dict) -> bool:
        """Count a message's bytes; True past the flood limit (the kernel is then stopped)."""
        self.received += _size(msg.get("content"))
        return self.received > self.limits.output_flood_bytes

    def handle(self, msg: dict, run: CellRun, streams: dict) -> str | None:
        """Keep what ``msg`` adds to ``run``'s outputs; "idle" when the kernel says it is done."""
        kind = msg.get("msg_type")
        content = msg.get("content")
        if not isinstance(content, dict):
            return None
        if kind == "status":
            return "idle" if content.get("execution_state") == "idle" else None
        if kind == "stream":
            name = "stderr" if content.get("name") == "stderr" else "stdout"
            text = content.get("text") if isinstance(content.get("text"), str) else ""
            self._keep_stream(run, streams, name, text)
        elif kind in ("display_data", "execute_result"):
            data = content.get("data") if isinstance(content.get("data"), dict) else {}
            kept = {m: data[m] for m in ("text/plain", "image/png") if isinstance(data.get(m), str)}
            output = {"output_type": kind, "data": kept, "metadata": {}}
            if kind == "execute_result":
                output["execution_count"] = None
            self._keep(run, output, _size(kept))
        elif kind == "error":
            run.ename = clipped(content.get("ename"), 200)
            run.evalue = clipped(content.get("evalue"), 2000)
            traceback = (
                content.get("traceback") if isinstance(content.get("traceback"), list) else []
            )
            lines = [clipped(line, 2000) for line in traceback[-30:]]
            output = {
                "output_type": "error",
                "ename": run.ename,
                "evalue": run.evalue,
                "traceback": lines,
            }
            self._keep(run, output, sum(map(len, lines)) + len(run.evalue), always=True)
        elif kind == "clear_output":
            run.outputs = [o for o in run.outputs if o.get("output_type") == "error"]
            streams.clear()
        return None

    def _keep(self, run: CellRun, output: dict, size: int, always: bool = False) -> None:
        limits = self.limits
        if not always and (
            self.kept + size > limits.output_keep_bytes
            or run.kept + size > limits.output_cell_bytes
        ):
            self._mark_truncated(run)
            return
        self.kept += size
        run.kept += size
        run.outputs.append(output)

    def _mark_truncated(self, run: CellRun) -> None:
        self.truncated = True
        if not any(o.get("_autograder") for o in run.outputs):
            note = "\n[autograder] output cut here: the limit was reached\n"
            run.outputs.append(
                {"output_type": "stream", "name": "stdout", "text": note, "_autograder": True}
            )

    def _keep_stream(self, run: CellRun, streams: dict, name: str, text: str) -> None:
        if not text:
            return
        room = min(
            self.limits.output_cell_bytes - run.kept, self.limits.output_keep_bytes - self.kept
        )
        piece = text[: max(0, room)]
        if piece:
            output = streams.get(name)
            if output is None:
                output = streams[name] = {"output_type": "stream", "name": name, "text": ""}
                run.outputs.append(output)
            output["text"] += piece
            self.kept += len(piece)
            run.kept += len(piece)
        if len(piece) < len(text):
            self._mark_truncated(run)


def clipped(value, limit: int) -> str:
    """``value`` if it is a string, cut to ``limit`` characters; else the empty string."""
    return value[:limit] if isinstance(value, str) else ""


def _size(value) -> int:
    if isinstance(value, str):
        return len(value)
    if isinstance(value, dict):
        return sum(_size(v) for v in value.values()) + 16
    if isinstance(value, list):
        return sum(_size(v) for v in value) + 16
    return 16
