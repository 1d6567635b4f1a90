"""What happened while grading, as small typed records, rendered twice: for the CSV and for the student.

Each stage adds records (``Event``) and verdicts (``Verdict``) to the submission's ``Result``; only
``report`` turns them into words: ``status()`` for the instructor's CSV, ``sentence()`` for the
student's feedback. Nothing parses those words back.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


def _ids(ids) -> str:
    return ", ".join(ids)


@dataclass(frozen=True)
class Event:
    def status(self) -> str:
        raise NotImplementedError

    def sentence(self) -> str:
        raise NotImplementedError


@dataclass(frozen=True)
class TestCellsPutBack(Event):
    ids: tuple[str, ...]

    def status(self):
        return f"test cells put back (deleted): {_ids(self.ids)}"

    def sentence(self):
        return f"Test cells you deleted were put back and run: {_ids(self.ids)}."


@dataclass(frozen=True)
class TestCellsRestored(Event):
    ids: tuple[str, ...]

    def status(self):
        return f"edited test cells restored: {_ids(self.ids)}"

    def sentence(self):
        return f"Test cells you edited were restored to the original: {_ids(self.ids)}."


@dataclass(frozen=True)
class CountedOnce(Event):
    ids: tuple[str, ...]

    def status(self):
        return f"duplicated cells counted once: {_ids(self.ids)}"

    def sentence(self):
        return f"Copied cells count once: {_ids(self.ids)}."


@dataclass(frozen=True)
class MetadataIgnored(Event):
    ids: tuple[str, ...]

    def status(self):
        return f"changed cell type or grading metadata ignored: {_ids(self.ids)}"

    def sentence(self):
        return f"Changes to cell types or grading metadata were ignored: {_ids(self.ids)}."


@dataclass(frozen=True)
class UnknownGradeIds(Event):
    ids: tuple[str, ...]

    def status(self):
        return f"cells with unknown grade ids run as ordinary cells: {_ids(self.ids)}"

    def sentence(self):
        return f"Cells with grading metadata that is not in the assignment ran as ordinary cells: {_ids(self.ids)}."


@dataclass(frozen=True)
class TestsMoved(Event):
    def status(self):
        return "test cells were moved: they ran where the student put them"

    def sentence(self):
        return "You moved test cells: they ran where you put them."


@dataclass(frozen=True)
class Interrupted(Event):
    cells: tuple[str, ...]
    seconds: float

    def status(self):
        return f"interrupted after {self.seconds:g} s (time limit): {_ids(self.cells)}"

    def sentence(self):
        return f"These cells ran past the {self.seconds:g} s limit and were interrupted: {_ids(self.cells)}."


@dataclass(frozen=True)
class OutputCut(Event):
    megabytes: float

    def status(self):
        return f"output cut at {self.megabytes:g} MB"

    def sentence(self):
        return f"Your notebook printed more than {self.megabytes:g} MB; the rest was not kept."


@dataclass(frozen=True)
class KernelStopped(Event):
    cell: str
    why: str

    def status(self):
        return f"partly graded: {self.why} in {self.cell}; the cells from there on score 0"

    def sentence(self):
        return f"Your notebook stopped in {self.cell}: {self.why}. The cells from there on did not run and score 0."


@dataclass(frozen=True)
class CouldNotGrade(Event):
    why: str
    retry: bool = False  # the grader's own failure: --resume tries again

    def status(self):
        return f"could not be graded: {self.why}"

    def sentence(self):
        return f"Your notebook could not be graded: {self.why}."


EVENTS = {cls.__name__: cls for cls in Event.__subclasses__()}


def to_data(event: Event) -> dict:
    return {"event": type(event).__name__, **asdict(event)}


def from_data(data: dict) -> Event:
    fields = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items() if k != "event"}
    return EVENTS[data["event"]](**fields)


@dataclass
class Verdict:
    """The outcome of one test cell. ``reason`` is the judge's record of what went wrong."""

    grade_id: str
    points: float
    max_points: float
    outcome: str  # passed, partial, failed, not run
    reason: dict = field(default_factory=dict)

    def sentence(self) -> str:
        """What the student reads under the test (hidden tests are never quoted)."""
        r, kind = self.reason, self.reason.get("kind")
        hidden = r.get("hidden", False)
        if self.outcome == "passed":
            return "Passed."
        if kind == "partial":
            return "Partly passed."
        if kind == "stopped" or self.outcome == "not run":
            return "Not run: your notebook had stopped before this test."
        if kind == "paired":
            return (
                "Failed: this test of an error case pays only when the tests of the same function's "
                f"results pass ({', '.join(r['cells'])})."
            )
        if kind == "timeout":
            return f"Failed: {r['name']} ran past its time limit and was interrupted."
        if kind == "interrupted":
            return "Failed: the test ran past the time limit."
        if kind == "missing":
            return f"Failed: {r['name']} is not defined in your notebook."
        where = " in a hidden test" if hidden else ""
        if kind == "student":
            detail = "" if hidden else f": {r['message']}"
            if hidden and r["type"] == "ModuleNotFoundError":
                detail = " (a package the exercise does not allow: it is not installed where it is graded)"
            return f"Failed: your {r['name']} raised {r['type']}{where}{detail}."
        if kind == "not plain":
            return (
                f"Failed{where}: {r['message']}."
                if not hidden
                else "Failed: a hidden test got a value it cannot use."
            )
        if kind == "assertion":
            detail = f": {r['message']}" if r.get("message") and not hidden else ""
            return f"Failed{where}{detail}." if detail or hidden else "Failed."
        if kind == "judge":
            return "Failed: the test itself could not run (tell your instructor)."
        return f"Failed{where}: {r.get('type', 'an error')}{'' if hidden else ': ' + r.get('message', '')}."


@dataclass
class Result:
    """Everything the report needs about one submission (saved as JSON in OUT/results/)."""

    student_id: str
    source_file: str
    events: list[Event] = field(default_factory=list)
    verdicts: dict[str, Verdict] = field(default_factory=dict)
    needs_manual_grading: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    feedback: str | None = None  # path of the feedback page, relative to OUT
    seconds: float = 0.0
    fingerprint: str = ""

    @property
    def retry(self) -> bool:
        return any(isinstance(e, CouldNotGrade) and e.retry for e in self.events)

    def status(self) -> str:
        """The CSV's status: graded, partly graded: ..., or could not be graded: ..."""
        failed = [e for e in self.events if isinstance(e, CouldNotGrade)]
        if failed:
            return failed[0].status()
        stopped = [e for e in self.events if isinstance(e, KernelStopped)]
        rest = [e.status() for e in self.events if not isinstance(e, KernelStopped)]
        head = [stopped[0].status()] if stopped else ["graded"]
        return "; ".join(head + rest)

    def to_data(self) -> dict:
        data = asdict(self)
        data["events"] = [to_data(e) for e in self.events]
        return data

    @classmethod
    def from_data(cls, data: dict) -> Result:
        data = dict(data)
        data["events"] = [from_data(e) for e in data.get("events", [])]
        data["verdicts"] = {k: Verdict(**v) for k, v in data.get("verdicts", {}).items()}
        return cls(**data)
