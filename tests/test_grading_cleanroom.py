"""The clean room (autograder/room.py) and the sandbox's process lifetime, without a notebook.

A function graded under ``grading.forbid`` runs in a fresh sandboxed Python in which the forbidden
packages are stubs: importing one raises ModuleNotFoundError with our sentence, however the import
is spelled, and their code is not on the file system. Every process of a sandbox dies with the
process that started it, even under SIGKILL (class 7 of issue 22). A few seconds each.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from processes import marked_processes  # noqa: E402

from autograder import reach, sandbox  # noqa: E402
from autograder.grade import isolation_for  # noqa: E402
from autograder.room import CleanRoom, absent_packages  # noqa: E402
from autograder.run import Box, Isolation, Limits  # noqa: E402
from cnnkit.grading import decode, encode  # noqa: E402

NAMESPACES = sandbox.probe()["mode"] == "namespaces"

CELLS = [
    ["setup", "import numpy as np\n"],
    [
        "answer",
        textwrap.dedent(
            """
            def honest(x):
                return np.asarray(x, dtype=float) * 2

            def sneaky(x):
                import scipy.signal
                return scipy.signal.convolve(x, [1.0], mode="same")

            def by_name(x):
                return __import__("importlib").import_module("sci" + "py").__name__

            def reads_files(x):
                import glob, os, sys
                found = []
                for entry in sys.path:
                    found += glob.glob(os.path.join(entry, "scipy", "*.py"))
                    found += glob.glob(os.path.join(entry, "cnnkit", "*.py"))
                return sorted(os.path.basename(p) for p in found)

            def course_package(x):
                import cnnkit.receptive
                return 1
            """
        ),
    ],
    ["forbidden_on_top", "import scipy.ndimage\n\ndef after(x):\n    return 3\n\n"
                         "def uses(x):\n    return scipy.ndimage.maximum_filter(x, 2)\n"],
    ["exits", "import sys\nsys.exit('bye')\n\ndef gone(x):\n    return 4\n"],
]  # fmt: skip


def request(room: CleanRoom, name: str, *args) -> dict:
    room.ensure([label for label, _ in CELLS], time.monotonic() + 60)
    payload = encode({"op": "call", "name": name, "args": [list(args), {}]}, plain=False)
    reply, interrupted = room.request(payload, 30, time.monotonic() + 60)
    assert not interrupted
    return decode(reply)


@pytest.fixture(scope="module", params=["namespaces", "limits"])
def room(tmp_path_factory, request):
    """A clean room in each sandbox mode: in ``limits`` mode (no namespaces) an import hook of the
    room refuses the packages that no stub covers there."""
    if request.param == "namespaces" and not NAMESPACES:
        pytest.skip("no namespaces here")
    work = tmp_path_factory.mktemp("room")
    work.chmod(0o755)
    limits = Limits(timeout=120, cell_timeout=30, memory_bytes=2 << 30, max_processes=16)
    isolation = isolation_for(work, [])
    if request.param == "limits":
        isolation = Isolation("limits", isolation.hidden, isolation.readonly)
    box = Box(work, work / "room", limits, isolation)
    clean = CleanRoom(box, limits, "room", ["scipy", "cnnkit"], CELLS)
    clean.start()
    clean.connect(time.monotonic() + 120)
    yield clean
    clean.close()


def test_the_stubs_cover_every_copy_of_a_forbidden_package():
    paths = [entry["path"] for entry in absent_packages(["scipy", "cnnkit"])]
    assert any(p.endswith("/scipy") for p in paths)
    assert str(REPO / "cnnkit") in paths
    assert all("scipy" in e["stub"] or "cnnkit" in e["stub"] for e in absent_packages(["scipy"]))


def test_cells_needed_follow_the_graded_name():
    program = reach.Program(
        [("a", "import numpy as np\n"), ("b", "def f(x):\n    return g(x)\n"),
         ("c", "def g(x):\n    return np.sum(x)\n"), ("d", "print(globals())\n")]
    )  # fmt: skip
    assert reach.cells_needed(program, ["f"]) == {"a", "b", "c"}
    # a cell runs whole: what its other statements use comes along (here math, for maps)
    program = reach.Program(
        [
            ("a", "import math\n"),
            ("b", "maps = []\nfor d in (1, 2):\n    maps.append(math.ceil(d))\n"),
        ]
    )
    assert reach.cells_needed(program, ["maps"]) == {"a", "b"}


def test_allowed_code_runs_in_the_room(room):
    assert room.broken == ""
    reply = request(room, "honest", [1, 2])
    assert reply["kind"] == "returned" and list(reply["value"]) == [2.0, 4.0]


@pytest.mark.parametrize("name", ["sneaky", "by_name", "course_package"])
def test_a_forbidden_import_is_a_plain_import_error(room, name):
    reply = request(room, name, [1.0, 2.0])
    assert reply["kind"] == "raised", reply
    assert reply["builtin"] == "ImportError" or reply["type"] == "ModuleNotFoundError"
    assert "does not exist where this answer is graded" in reply["message"]


def test_a_forbidden_import_on_top_of_a_cell_fails_only_where_it_is_used(room):
    assert request(room, "after", 0)["value"] == 3
    reply = request(room, "uses", [1.0, 2.0])
    assert reply["type"] == "ModuleNotFoundError" and "scipy does not exist" in reply["message"]


def test_any_other_error_ends_its_cell_as_in_jupyter(room):
    reply = request(room, "gone", 0)
    assert reply["type"] == "NameError"
    assert "exits raised SystemExit: bye" in reply["message"]


def test_the_forbidden_code_is_not_on_the_rooms_file_system(room):
    if room.box.isolation.mode != "namespaces":
        pytest.skip(
            "without namespaces the files stay where they are (the import hook refuses them)"
        )
    reply = request(room, "reads_files", 0)
    assert reply["kind"] == "returned"
    assert set(reply["value"]) <= {"__init__.py"}, reply["value"]


# --- class 7: no process outlives the process that started the sandbox -------------------------

STARTER = """
import json, subprocess, sys, time
from pathlib import Path
config = json.loads(Path(sys.argv[1]).read_text())
import os
config["parent"] = os.getpid()
Path(sys.argv[1]).write_text(json.dumps(config))
subprocess.Popen([sys.executable, "-m", "autograder.sandbox", sys.argv[1]], start_new_session=True)
time.sleep(600)
"""


@pytest.mark.parametrize("mode", ["namespaces", "limits"])
def test_every_process_dies_with_the_grader_that_started_it(tmp_path, mode):
    if mode == "namespaces" and not NAMESPACES:
        pytest.skip("no namespaces here")
    tmp_path.chmod(0o755)
    marker = f"ag-lifetime-{os.getpid()}-{mode}"
    script = (
        f"import subprocess, time; subprocess.Popen(['sleep', '600']); time.sleep(600)  # {marker}"
    )
    config = sandbox.base_config(
        [sys.executable, "-c", script],
        rundir=tmp_path / "run",
        report=tmp_path / "report.json",
        log=tmp_path / "log.txt",
        hide=sandbox.standard_hidden(),
        readonly=sandbox.python_paths(),
        env={"PATH": "/usr/bin:/bin"},
        limits={"nproc": 64},
        mode=mode,
    )
    (tmp_path / "run").mkdir()
    path = tmp_path / "config.json"
    path.write_text(__import__("json").dumps(config))
    grader = subprocess.Popen(
        [sys.executable, "-c", STARTER, str(path)],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not marked_processes(marker):
            time.sleep(0.2)
        assert marked_processes(marker), (
            (tmp_path / "log.txt").read_text() if (tmp_path / "log.txt").exists() else ""
        )
        descendants = psutil.Process(grader.pid).children(recursive=True)
        assert len(descendants) >= 3  # launcher, ..., the kernel and its sleep
        grader.send_signal(signal.SIGKILL)  # the grader "crashes"
        grader.wait()
        end = time.monotonic() + 15
        alive = descendants
        while time.monotonic() < end and alive:
            alive = [p for p in alive if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
            time.sleep(0.2)
        assert alive == [], [(p.pid, p.cmdline()) for p in alive]
    finally:
        for process in marked_processes(marker):
            process.kill()
        grader.kill()
