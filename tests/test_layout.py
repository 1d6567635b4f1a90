"""The layout of cnnkit follows the rule of README's contributor section.

- A concern with a Keras half and a PyTorch half is a package whose ``keras.py`` and ``torch.py``
  export the same names (``__all__``) with the same arguments, but for the differences listed here
  and in the README (``ASYMMETRIES``, ``SAME_ROLE``).
- Framework-free modules import no framework; no function name ends in ``_tf``.
- Every module of cnnkit reads in one sitting: at most ``MAX_LINES`` lines.
- The grader keeps one stage per module, none over ``MAX_GRADER_LINES`` lines (issue 22).
"""

from __future__ import annotations

import importlib
import inspect
import re
import subprocess
import sys
from pathlib import Path

import pytest

CNNKIT = Path(__file__).resolve().parent.parent / "cnnkit"
AUTOGRADER = CNNKIT.parent / "autograder"
MAX_LINES = 300
MAX_GRADER_LINES = 400
MIRRORED = sorted(
    path.name
    for path in CNNKIT.iterdir()
    if (path / "keras.py").exists() or (path / "torch.py").exists()
)
ASYMMETRIES = {  # names that exist in one half only, on purpose (the README lists them)
    "blocks.torch": {"SeparableConv2D"},  # Keras has keras.layers.SeparableConv2D
    "models.torch": {"summary"},  # Keras models print their own model.summary()
    "budget.torch": {"measure_saved_tensors", "SavedTensors"},  # autograd's saved-tensor hooks
}
# A PyTorch block takes its input channels first (nn.Conv2d does), where a Keras layer reads them
# from its input; Keras layers and models also take Keras's own **kwargs and name. Model builders
# take the input shape in Keras (as keras.applications do) and the input channels in PyTorch.
# A PyTorch learning-rate scheduler wraps its optimizer, where a Keras schedule is handed to one.
FIRST_IN_TORCH = {"in_channels", "channels", "num_features", "optimizer"}
KERAS_ONLY = {"name"}
SAME_ROLE = {"models": ("input_shape", "in_channels")}


def test_the_mirrored_packages_are_found():
    assert {"blocks", "models", "data", "budget"} <= set(MIRRORED)


def arguments(function, framework: str, package: str) -> list[tuple]:
    """(name, kind, default) of each argument that must match across the halves."""
    target = function.__init__ if inspect.isclass(function) else function
    found = [
        argument
        for argument in inspect.signature(target).parameters.values()
        if argument.name != "self" and argument.kind != argument.VAR_KEYWORD
    ]
    if framework == "torch" and found and found[0].name in FIRST_IN_TORCH:
        found = found[1:]
    if framework == "keras":
        found = [argument for argument in found if argument.name not in KERAS_ONLY]
    same_role = SAME_ROLE.get(package, ())
    return [
        ("input shape or channels", a.kind) if a.name in same_role else (a.name, a.kind, a.default)
        for a in found
    ]


@pytest.mark.parametrize("package", MIRRORED)
def test_keras_and_torch_halves_export_the_same_names_and_arguments(package):
    assert (CNNKIT / package / "keras.py").exists() and (CNNKIT / package / "torch.py").exists()
    halves = {fw: importlib.import_module(f"cnnkit.{package}.{fw}") for fw in ("keras", "torch")}
    names = {}
    for framework, module in halves.items():
        assert hasattr(module, "__all__"), f"cnnkit.{package}.{framework} needs an __all__"
        names[framework] = set(module.__all__) - ASYMMETRIES.get(f"{package}.{framework}", set())
    assert names["keras"] == names["torch"], f"cnnkit.{package}: only in one half"
    for name in sorted(names["keras"]):
        keras_args = arguments(getattr(halves["keras"], name), "keras", package)
        torch_args = arguments(getattr(halves["torch"], name), "torch", package)
        assert keras_args == torch_args, f"cnnkit.{package}.keras/torch.{name} take other arguments"


def test_framework_free_modules_import_no_framework():
    code = (
        "import sys, cnnkit, cnnkit.colab, cnnkit.conv, cnnkit.device, cnnkit.profile, "
        "cnnkit.receptive, cnnkit.seed, cnnkit.plot, cnnkit.data, cnnkit.budget, cnnkit.blocks, "
        "cnnkit.models, cnnkit.hed, cnnkit.style\n"
        "print(sorted(m for m in ('tensorflow', 'keras', 'torch') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "[]"


def test_no_function_is_suffixed_tf():
    for path in sorted(CNNKIT.rglob("*.py")):
        named = re.findall(r"^\s*def (\w+_tf)\(", path.read_text(encoding="utf-8"), re.MULTILINE)
        assert not named, f"{path.name}: {named}: the suffix is _keras (or _torch), never _tf"


@pytest.mark.parametrize(
    "path", sorted(CNNKIT.rglob("*.py")), ids=lambda p: str(p.relative_to(CNNKIT))
)
def test_every_module_reads_in_one_sitting(path):
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{lines} lines: split the module by concern"


@pytest.mark.parametrize("path", sorted(AUTOGRADER.glob("*.py")), ids=lambda p: p.name)
def test_every_stage_of_the_grader_reads_in_one_sitting(path):
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_GRADER_LINES, f"{lines} lines: move a stage of its own into a module"
