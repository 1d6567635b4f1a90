""" "Write it yourself", checked on the submitted source (autograder.reach)."""

from __future__ import annotations

import pytest

from autograder.reach import Program, check

FORBID = ("tensorflow", "keras", "torch", "scipy", "cnnkit", "keras.applications")
SETUP = ("cell 1", "import numpy as np\nimport cnnkit\n")


def finding(*cells, name="answer", helpers=("tf_conv2d",)):
    return check(Program([SETUP, *cells]), name, FORBID, set(helpers))


CLEAN = [
    "def answer(x):\n    return np.pad(x, 1).sum()\n",
    "def helper(x):\n    return x * 2\n\ndef answer(x):\n    return helper(np.asarray(x))\n",
    "def answer(tf):\n    return tf + 1  # a parameter called tf is not TensorFlow\n",
    "def answer(x):\n    import math\n    return math.ceil(x)\n",
    "def answer(x):\n    total = 0\n    for i in range(x):\n        total += i\n    return total\n",
]


@pytest.mark.parametrize("source", CLEAN)
def test_honest_code_is_clean(source):
    assert finding(("answer cell", source)) is None


def test_safe_magics_and_shell_commands_are_fine():
    cells = [("answer cell", CLEAN[0]), ("cell 3", "%matplotlib inline\n%timeit answer(3)\n!ls\n")]
    assert finding(*cells) is None


FORBIDDEN = {
    "alias outside the function": [
        "from cnnkit.receptive import receptive_field_size as rf\n\ndef answer(layers):\n    return rf(layers)\n"
    ],
    "helper in another cell": [
        "import tensorflow as t\n",
        "def helper(x):\n    return t.nn.relu(x)\n\ndef answer(x):\n    return helper(x)\n",
    ],
    "assigned alias": [
        "import torch\nops = torch.nn.functional\n",
        "def answer(x):\n    return ops.relu(x)\n",
    ],
    "default argument": [
        "import scipy.signal\n\ndef answer(x, f=scipy.signal.convolve):\n    return f(x, x)\n"
    ],
    "decorator": ["import torch\n\n@torch.no_grad()\ndef answer(x):\n    return x\n"],
    "class method": [
        "import torch\n\nclass Helper:\n    def run(self, x):\n        return torch.relu(x)\n",
        "def answer(x):\n    return Helper().run(x)\n",
    ],
    "monkeypatched numpy": [
        "import tensorflow as tf\nnp.pad = tf.pad\n",
        "def answer(x):\n    return np.pad(x, 1)\n",
    ],
    "cnnkit from the setup cell": [
        "def answer(x):\n    return cnnkit.receptive.receptive_field_size(x)\n"
    ],
    "dotted prefix": ["import keras\n\ndef answer(x):\n    return keras.applications.ResNet50()\n"],
    "star import": ["from torch.nn.functional import *\n\ndef answer(x):\n    return relu(x)\n"],
    "lambda": ["import tensorflow as tf\nanswer = lambda x: tf.reduce_sum(x)\n"],
    "global written by a function": [
        "def install():\n    global ops\n    import torch as ops\n",
        "def answer(x):\n    return ops.relu(x)\n",
    ],
    "test helper": ["def answer(x):\n    return tf_conv2d(x, x)\n"],
    "conditional import": [
        "if True:\n    import torch as backend\nelse:\n    backend = np\n",
        "def answer(x):\n    return backend.relu(x)\n",
    ],
}


@pytest.mark.parametrize("name", sorted(FORBIDDEN))
def test_forbidden_reaches_are_found_with_their_line(name):
    cells = [(f"cell {i + 2}", source) for i, source in enumerate(FORBIDDEN[name])]
    found = finding(*cells)
    assert found is not None and found.kind == "forbidden", found
    assert found.line >= 1 and found.cell.startswith("cell")
    sentence = found.sentence()
    assert "answer" in sentence and "line" in sentence


UNCHECKABLE = {
    "exec": "exec('from cnnkit.receptive import receptive_field_size as answer')\n",
    "eval inside": "def answer(x):\n    return eval('x + 1')\n",
    "globals write": "def answer(x):\n    return x\nglobals()['answer'] = len\n",
    "__import__": "def answer(x):\n    return __import__('cnnkit').pick(quick=x, full=x)\n",
    "importlib": "import importlib\n\ndef answer(x):\n    return importlib.import_module('torch').relu(x)\n",
    "computed getattr": "def answer(x):\n    return getattr(np, 'p' + 'ad')(x, 1)\n",
    "frame walking": "import sys\n\ndef answer(x):\n    return sys._getframe(1).f_globals['tf_conv2d'](x)\n",
    "dunder escape": "def answer(x):\n    return ().__class__.__bases__[0].__subclasses__()\n",
    "module written to disk": "import helper_of_mine\n\ndef answer(x):\n    return helper_of_mine.f(x)\n",
    "cell magic hides code": "%%writefile mine.py\nimport tensorflow\n",
    "user namespace": "get_ipython().user_ns['answer'] = len\n",
}


@pytest.mark.parametrize("name", sorted(UNCHECKABLE))
def test_unfollowable_reaches_cannot_be_checked(name):
    cells = [("answer cell", "def answer(x):\n    return x\n"), ("cell 3", UNCHECKABLE[name])]
    if "answer" in UNCHECKABLE[name].split("\n")[0]:
        cells = [("cell 3", UNCHECKABLE[name])]
    found = finding(*cells)
    assert found is not None and found.kind == "uncheckable", found
    assert "cannot be checked" in found.sentence()


def test_a_name_nobody_defines_is_left_to_the_tests():
    assert finding(("cell 2", "x = 1\n")) is None


def test_a_cell_that_does_not_parse_binds_nothing():
    cells = [("cell 2", "import torch as np\ndef (\n"), ("answer cell", CLEAN[0])]
    assert finding(*cells) is None


def test_imports_inside_the_function_count():
    found = finding(("answer cell", "def answer(x):\n    import torch\n    return torch.relu(x)\n"))
    assert found is not None and found.kind == "forbidden" and found.what == "torch"
