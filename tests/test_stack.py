"""The pinned stack works together: TensorFlow first, then torch and torchvision, in one process.

An environment check, not a test of cnnkit: the versions installed are the ones requirements.txt
pins (a CUDA build of torch adds a local suffix such as ``+cu128``, which is ignored), so it holds on
any machine, with or without a GPU, that installed the requirements.
"""

import re
import subprocess
import sys
import textwrap
from pathlib import Path

REQUIREMENTS = (Path(__file__).resolve().parent.parent / "requirements.txt").read_text()
PINNED = dict(re.findall(r"^(tensorflow|torch|torchvision)==(\S+)", REQUIREMENTS, re.MULTILINE))


def test_tensorflow_then_torchvision_in_one_process_agree_on_conv2d():
    # A fresh interpreter, so the import order is really TensorFlow first (it crashed with TF 2.20+).
    code = textwrap.dedent(
        """
        import numpy as np
        import tensorflow as tf
        import torch
        import torchvision
        import tensorflow_datasets  # pulls protobuf: its version must suit TensorFlow
        rng = np.random.default_rng(0)
        x = rng.standard_normal((2, 9, 9, 3))
        w = rng.standard_normal((3, 3, 3, 4))
        expected = np.zeros((2, 7, 7, 4))
        for i in range(7):
            for j in range(7):
                expected[:, i, j, :] = np.tensordot(x[:, i:i + 3, j:j + 3, :], w, axes=3)
        tf_out = tf.nn.conv2d(x.astype("float32"), w.astype("float32"), 1, "VALID").numpy()
        torch_out = torch.nn.functional.conv2d(
            torch.from_numpy(x.transpose(0, 3, 1, 2)).float(),
            torch.from_numpy(w.transpose(3, 2, 0, 1)).float(),
        ).numpy().transpose(0, 2, 3, 1)
        np.testing.assert_allclose(tf_out, expected, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(torch_out, expected, rtol=1e-5, atol=1e-5)
        print("versions", tf.__version__, torch.__version__, torchvision.__version__)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    versions = re.search(r"^versions (\S+) (\S+) (\S+)$", result.stdout, re.MULTILINE).groups()
    installed = [version.split("+")[0] for version in versions]  # 2.14.1+cu128 is 2.14.1
    assert set(PINNED) == {"tensorflow", "torch", "torchvision"}
    assert installed == [PINNED["tensorflow"], PINNED["torch"], PINNED["torchvision"]]


def test_reading_a_notebook_compiles_no_grammar():
    # requirements.txt pins jsonschema below 4.24: its rfc3987-syntax extra costs 1.3 CPU s at each
    # import of nbformat, in each of the grader's and nbgrader's processes.
    code = "import sys, nbformat, autograder.grade; print(sorted({'rfc3987_syntax', 'lark'} & set(sys.modules)))"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         cwd=Path(__file__).resolve().parent.parent)  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip() == "[]", run.stdout
