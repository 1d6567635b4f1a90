"""Broken and hostile submissions (tests/hostile/corpus.py) graded in ONE batch with honest ones.

Every submission gets its row with the expected status and points; the honest submissions keep
their exact scores; nothing reaches the feedback, the other students' files, the grader's files or
the network; no process survives the batch. Then a smaller batch is interrupted, resumed and graded
again: no row lost or duplicated, identical CSV.

The limits are tight to keep this quick (``LIMITS``); the batch takes about 3 minutes on 2 cores.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import html
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import nbformat
import psutil
import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from hostile import corpus  # noqa: E402
from processes import marked_processes  # noqa: E402

from autograder import sandbox  # noqa: E402
from autograder.assignment import HIDDEN_BEGIN  # noqa: E402
from autograder.box import Limits  # noqa: E402
from autograder.nbgrader_feedback import hidden_test_lines  # noqa: E402

LIMITS = ["--timeout", "120", "--cell-timeout", "12", "--memory", "2.5", "--max-processes", "24"]
ISOLATED = sandbox.probe()["mode"] == "namespaces"


class Listener:
    """A TCP server on 127.0.0.1 that records whatever connects (nothing should)."""

    def __init__(self):
        self.server = socket.create_server(("127.0.0.1", 0))
        self.server.settimeout(0.5)
        self.port = self.server.getsockname()[1]
        self.received: list[bytes] = []
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self._stop.is_set():
            try:
                connection, _ = self.server.accept()
            except OSError:
                continue
            with connection:
                connection.settimeout(2)
                try:
                    self.received.append(connection.recv(1 << 20) or b"(connected)")
                except OSError:
                    self.received.append(b"(connected)")

    def close(self):
        self._stop.set()
        self.thread.join(timeout=5)
        self.server.close()


class DiskWatch:
    """The most bytes any job folder of the batch held, sampled four times a second: what the
    sandboxes wrote onto the grader's disk, beside the grader's own files of the job (its logs,
    configs and sockets). A job folder lives in a work folder ``/tmp/ag-*`` made after the start."""

    def __init__(self):
        self.before = set(Path("/tmp").glob("ag-*"))
        self.peak = 0
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._watch, daemon=True)
        self.thread.start()

    def _watch(self):
        while not self._stop.wait(0.25):
            for work in set(Path("/tmp").glob("ag-*")) - self.before:
                for job in work.glob("jobs/*"):
                    self.peak = max(self.peak, _bytes_under(job))

    def close(self):
        self._stop.set()
        self.thread.join(timeout=10)


def _bytes_under(folder: Path) -> int:
    total = 0
    for root, _, files in os.walk(folder):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(root, name)).st_blocks * 512
    return total


def grade(folder: Path, output: Path, *extra: str, workers: int = 2) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "autograder.grade", str(folder), "--assignment"]
    command += [corpus.ASSIGNMENT, "--output", str(output), "--workers", str(workers)]
    return subprocess.run(
        [*command, *LIMITS, *extra], cwd=REPO, capture_output=True, text=True, timeout=1500
    )


def read_rows(output: Path) -> list[dict]:
    with (output / "grades.csv").open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    """Grade the whole corpus once; return (rows by student, output folder, cases, context)."""
    folder = tmp_path_factory.mktemp("hostile")
    output = tmp_path_factory.mktemp("hostile-graded")
    listener = Listener()
    context = corpus.Context(
        submissions=folder, output=output, port=listener.port, marker=f"ag-{uuid.uuid4().hex}"
    )
    cases = corpus.write(folder, context, isolated=ISOLATED)
    victim = folder / context.victim_file
    victim_hash = hashlib.sha256(victim.read_bytes()).hexdigest()
    probe = REPO / "cnnkit" / "_hostile_probe.py"
    disk = DiskWatch()
    try:
        start = time.monotonic()
        run = grade(folder, output)
        seconds = time.monotonic() - start
        survivors = marked_processes(context.marker)
        for process in survivors:
            process.kill()
    finally:
        listener.close()
        disk.close()
    wrote_probe = probe.exists()
    probe.unlink(missing_ok=True)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    rows = read_rows(output)
    return {
        "rows": {row["student_id"]: row for row in rows},
        "all_rows": rows,
        "output": output,
        "cases": cases,
        "context": context,
        "listener": listener,
        "survivors": survivors,
        "victim_unchanged": hashlib.sha256(victim.read_bytes()).hexdigest() == victim_hash,
        "wrote_probe": wrote_probe,
        "seconds": seconds,
        "disk_peak": disk.peak,
        "stdout": run.stdout,
    }


@pytest.mark.slow
def test_every_submission_has_exactly_one_row(batch):
    ids = [row["student_id"] for row in batch["all_rows"]]
    assert sorted(ids) == sorted(batch["cases"]), batch["stdout"][-2000:]
    assert len(ids) == len(set(ids))


def _case_ids():
    return [case.name for case in corpus.cases()]


@pytest.mark.slow
@pytest.mark.parametrize("name", _case_ids())
def test_status_and_points(batch, name):
    if name not in batch["cases"]:
        pytest.skip("not run without the namespace sandbox (see autograder.sandbox)")
    case = batch["cases"][name]
    row = batch["rows"][name]
    if case.status == "graded":
        assert row["status"].split(";")[0] == "graded", row["status"]
    else:
        assert row["status"].startswith(case.status), row["status"]
    for fragment in case.contains:
        assert fragment in row["status"], row["status"]
    got = {cell: float(row[cell]) for cell in corpus.CELLS}
    assert got == {cell: float(v) for cell, v in case.scores.items()}, row["status"]
    assert float(row["total_autograded"]) == sum(case.scores.values())
    assert row["max_autograded"] == "7"


@pytest.mark.slow
def test_honest_submissions_keep_their_exact_scores(batch):
    rows = batch["rows"]
    assert rows["honest_full"]["status"] == "graded"
    assert rows["honest_full"]["total_autograded"] == "7"
    assert rows["honest_full"]["needs_manual_grading"] == "cnn_vs_dense_answer"
    assert rows["honest_partial"]["status"] == "graded"
    assert rows["honest_partial"]["total_autograded"] == "3"
    assert rows["honest_blank"]["status"] == "graded"
    assert rows["honest_blank"]["total_autograded"] == "0"
    assert rows["honest_blank"]["needs_manual_grading"] == ""


def visible_text(path: Path) -> str:
    page = re.sub(r"<(style|script)\b.*?</\1>", "", path.read_text(encoding="utf-8"), flags=re.S)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", "", page)).split())


@pytest.mark.slow
def test_no_feedback_shows_a_hidden_test(batch):
    source = nbformat.read(corpus.SOLUTION, as_version=4)
    hidden = {
        " ".join(line.split())
        for cell in source.cells
        for line in hidden_test_lines(cell.source)
        if len(line.strip()) > 12
    }
    pages = sorted((batch["output"] / "feedback").glob("*.html"))
    assert len(pages) > 15
    for page in pages:
        text = visible_text(page)
        assert "<script" not in page.read_text(encoding="utf-8")
        leaked = [line for line in hidden if line in text]
        assert not leaked, f"{page.name} shows hidden tests: {leaked[:3]}"
        assert HIDDEN_BEGIN not in text


@pytest.mark.slow
def test_the_hidden_tests_never_reach_the_students_kernel(batch):
    """read_secrets printed the kernel's whole input history: the hidden tests were never in it."""
    graded = nbformat.read(batch["output"] / "notebooks" / "read_secrets.ipynb", as_version=4)
    printed = "".join(
        output.get("text", "")
        for cell in graded.cells
        if cell.cell_type == "code" and "enumerate(In)" in cell.source
        for output in cell.outputs
    )
    assert "def receptive_field_size" in printed  # the history was printed...
    assert "receptive_field_size([(3, 2), (3, 2)]) == 7" not in printed  # ...without a hidden test
    assert HIDDEN_BEGIN not in printed and "test_helpers" not in printed


@pytest.mark.slow
def test_hidden_inputs_and_messages_stay_out_of_the_feedback(batch):
    """print_inputs printed every input, leak_in_exception raised them as its exception's name."""
    for student in ("print_inputs", "leak_in_exception"):
        graded = (batch["output"] / "notebooks" / f"{student}.ipynb").read_text(encoding="utf-8")
        text = visible_text(batch["output"] / "feedback" / f"{student}.html")
        assert "LEAKED" in graded or student == "leak_in_exception"  # the instructor may see them
        assert corpus.HIDDEN_INPUT not in text and "Leak11_4" not in text, student
    text = visible_text(batch["output"] / "feedback" / "leak_in_exception.html")
    assert "raised ValueError in a hidden test" in text


def outputs_of(batch, student: str) -> str:
    nb = nbformat.read(batch["output"] / "notebooks" / f"{student}.ipynb", as_version=4)
    return "".join(
        output.get("text", "")
        for cell in nb.cells
        if cell.cell_type == "code"
        for output in cell.outputs
    )


@pytest.mark.slow
@pytest.mark.skipif(not ISOLATED, reason="needs the namespace sandbox")
def test_no_secret_could_be_read(batch):
    text = outputs_of(batch, "read_secrets")
    found = re.search(r"found (\[.*?\])", text)
    assert found, text[:2000]
    paths = eval(found.group(1))  # noqa: S307 - the list the notebook printed
    context = batch["context"]
    secret = (
        "solutions",
        ".git",
        "gradebook",
        ".ipynb",
        str(context.output),
        str(context.submissions),
    )
    assert not [p for p in paths if any(word in p for word in secret)], paths
    assert not re.search(r"^STOLEN /", text, re.MULTILINE)


@pytest.mark.slow
@pytest.mark.skipif(not ISOLATED, reason="needs the namespace sandbox")
def test_nothing_outside_the_sandbox_could_be_written(batch):
    text = outputs_of(batch, "write_elsewhere")
    assert "WROTE" not in text, text[:2000]
    for name in ("victim", "results", "csv", "cnnkit", "gradebook", "numpy"):
        assert f"BLOCKED {name}" in text
    assert batch["victim_unchanged"]
    assert not batch["wrote_probe"]


@pytest.mark.slow
@pytest.mark.skipif(not ISOLATED, reason="needs the namespace sandbox")
def test_no_network(batch):
    assert "NO NETWORK" in outputs_of(batch, "network")
    assert batch["listener"].received == []


@pytest.mark.slow
def test_no_process_outlives_the_batch(batch):
    assert {"lingering_process", "v3_linger_in_room"} <= set(batch["rows"])
    assert batch["survivors"] == [], [p.pid for p in batch["survivors"]]


@pytest.mark.slow
def test_no_trick_scores_above_its_honest_twin(batch):
    rows, cases = batch["rows"], batch["cases"]
    twins = [(name, case.twin) for name, case in cases.items() if case.twin]
    assert len([name for name, _ in twins if name.startswith("v3_")]) >= 12
    for name, twin in twins:
        assert float(rows[name]["total_autograded"]) <= float(rows[twin]["total_autograded"]), name


@pytest.mark.slow
@pytest.mark.skipif(not ISOLATED, reason="needs the namespace sandbox")
def test_every_writable_place_is_a_small_private_tmpfs(batch):
    """600 MB tried in every place a notebook finds writable: each stops at its tmpfs's size, the
    connection folder is read-only, and no job folder on the grader's disk grew past the cap."""
    text = outputs_of(batch, "v3_fill_every_place")
    filled = {m[1]: (int(m[2]), m[3]) for m in re.finditer(r"FILLED (\S+) (\d+) MB \((.*)\)", text)}
    caps = {"/tmp": Limits().tmp_mb, "/dev/shm": 256, "/var/tmp": 16}
    assert set(caps) <= set(filled), text[:2000]
    for place, cap in caps.items():
        assert 0 < filled[place][0] <= cap and filled[place][1] == "No space left on device"
    folder = next(place for place in filled if re.search(r"/jobs/\d+/k$", place))
    assert filled[folder] == (0, "Read-only file system")
    assert sum(megabytes for megabytes, _ in filled.values()) < 1000  # not 600 MB anywhere
    assert 0 < batch["disk_peak"] <= Limits().folder_bytes, batch["disk_peak"]
    for name in ("honest_full", "honest_partial", "honest_blank"):
        assert batch["rows"][name]["status"] == "graded"


@pytest.mark.slow
def test_feedback_says_what_happened_in_plain_words(batch):
    feedback = batch["output"] / "feedback"
    assert "The cells from there on did not run" in visible_text(feedback / "os_exit.html")
    assert "interrupted" in visible_text(feedback / "infinite_loop.html")
    assert "which the tests cannot receive" in visible_text(feedback / "eq_always_true.html")
    text = visible_text(feedback / "delegate_to_cnnkit.html")
    assert "cnnkit does not exist where this answer is graded" in text
    text = visible_text(feedback / "torch_through_torchvision.html")
    assert "torch does not exist where this answer is graded" in text
    # what the reach analysis cannot follow is a note for the instructor, not a score
    assert "cannot be checked" not in visible_text(feedback / "globals_rebinding.html")
    assert "cannot be checked" in batch["rows"]["globals_rebinding"]["notes"]
    assert "Test cells you deleted were put back" in visible_text(feedback / "cells_deleted.html")
    ungradable = {n for n, c in batch["cases"].items() if c.status.startswith("could not")}
    assert {p.stem for p in feedback.glob("*.html")} == set(batch["cases"]) - ungradable


# --- interrupted and repeated batches ------------------------------------------------------------

SMALL = (
    "honest_full",
    "honest_partial",
    "delegate_to_cnnkit",
    "os_exit",
    "invalid_json",
    "cells_deleted",
)


@pytest.mark.slow
def test_interrupted_batch_resumes_and_regrading_is_identical(tmp_path):
    folder, output = tmp_path / "small", tmp_path / "graded"
    folder.mkdir()
    for case in corpus.cases():
        if case.name in SMALL:
            (folder / corpus.file_name(case)).write_text(case.text, encoding="utf-8")
    command = [sys.executable, "-m", "autograder.grade", str(folder), "--assignment"]
    command += [corpus.ASSIGNMENT, "--output", str(output), "--workers", "2", *LIMITS]
    process = subprocess.Popen(
        command,
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    results = output / "results"
    deadline = time.monotonic() + 600
    batch_processes: dict[int, psutil.Process] = {}
    while time.monotonic() < deadline and len(list(results.glob("*.json"))) < 2:
        with contextlib.suppress(psutil.Error):  # every process of the batch, as it appears
            for child in psutil.Process(process.pid).children(recursive=True):
                batch_processes.setdefault(child.pid, child)
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)  # the grader "crashes" mid-batch (its workers too)
    process.wait()
    # Launchers run in sessions of their own, and kernels in PID namespaces: nothing but the
    # parent-death chain ends them. None of them may be left.
    assert batch_processes, "no process of the batch was seen"
    end = time.monotonic() + 20
    left = list(batch_processes.values())
    while left and time.monotonic() < end:
        left = [p for p in left if _alive(p)]
        time.sleep(0.2)
    assert left == [], [p.pid for p in left]
    done = {p.name: p.read_bytes() for p in results.glob("*.json")}
    assert 2 <= len(done) < len(SMALL), "the batch should have been interrupted midway"
    assert not (output / "grades.csv").exists()

    resumed = grade(folder, output, "--resume")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert f"{len(done)} kept from an earlier run" in resumed.stdout
    for name, content in done.items():  # kept, not graded again
        assert (results / name).read_bytes() == content
    rows = read_rows(output)
    assert sorted(row["student_id"] for row in rows) == sorted(SMALL)
    first = (output / "grades.csv").read_bytes()

    again = grade(folder, output)  # a full re-grade from scratch
    assert again.returncode == 0, again.stdout + again.stderr
    assert (output / "grades.csv").read_bytes() == first


# --- the pieces on their own (no kernel) ---------------------------------------------------------


def test_screening_flags_code_that_reaches_into_the_grader():
    from autograder.notes import screen

    flags = screen(
        [
            ("cell 1", "import numpy as np\nnp.testing.assert_allclose = print\n"),
            ("cell 2", "class A:\n    def __eq__(self, o):\n        return True\n"),
            ("cell 3", "import os\nos._exit(0)\nprint(In[3])\n"),
            ("cell 4", "def f(x):\n    return x + 1\n"),
        ]
    )
    text = " | ".join(flags)
    assert "changes the library attribute np.testing.assert_allclose (cell 1)" in text
    assert "defines __eq__ (class A) (cell 2)" in text
    assert "os._exit" in text and "input history (In)" in text
    assert "cell 4" not in text
