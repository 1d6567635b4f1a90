"""Train the reference solution of exercise 7 of chapter 4 (your best MNIST CNN) and report it.

The code is read from the nbgrader source notebook, so that this measures exactly what the graders
run: the setup cell, the cell that loads MNIST, and the solution cells ``mnist_model``,
``mnist_training_1``, ``mnist_training_2`` and ``mnist_predict``. It prints the profile, the data
source, the training time and the test accuracy (offline: on the 2,000 held-out images of the
labelled stand-in) next to the grading threshold of the profile.

Run: ``python benchmarks/mnist_reference.py`` (``CNNKIT_PROFILE=quick`` or ``full`` to choose;
``--images N`` keeps N training and N test digits, for a quick check that it still runs).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import nbformat
import numpy as np

SOURCE = (
    Path(__file__).resolve().parent.parent
    / "solutions"
    / "04_architectures"
    / "04_architectures.ipynb"
)
TRAINING_CELLS = ("mnist_training_1", "mnist_training_2")
THRESHOLDS = {"quick": 0.97, "full": 0.99}  # as in the hidden test mnist_hidden


def reference_cells() -> dict[str, str]:
    """The code the benchmark runs, by name: setup, data, then the exercise's solution cells."""
    nb = nbformat.read(SOURCE, as_version=4)
    # the student's cells only: the judge cell (tagged "judge") loads MNIST too, under another name
    code = [cell for cell in nb.cells
            if cell.cell_type == "code" and "judge" not in cell.metadata.get("tags", [])]  # fmt: skip
    cells = {"setup": next(c.source for c in code if "seed_everything" in c.source)}
    cells["data"] = next(c.source for c in code if "digits = cnnkit.data.load_mnist()" in c.source)
    by_id = {c.metadata.get("nbgrader", {}).get("grade_id"): c.source for c in code}
    for grade_id in ("mnist_model", *TRAINING_CELLS, "mnist_predict"):
        cells[grade_id] = by_id[grade_id]
    return cells


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, help="training and test digits kept (default: all)")
    images = parser.parse_args(argv).images
    namespace: dict = {}
    timings = {}
    for name, source in reference_cells().items():
        start = time.perf_counter()
        exec(compile(source, f"<{name}>", "exec"), namespace)
        timings[name] = time.perf_counter() - start
        if name == "data" and images:
            namespace["digits"] = namespace["digits"].subset(num_train=images, num_test=images)
    import cnnkit

    digits = namespace["digits"]
    start = time.perf_counter()
    predicted = np.asarray(namespace["predict_digits"](digits.x_test))
    predict_seconds = time.perf_counter() - start
    accuracy = float(np.mean(predicted == digits.y_test))
    profile = cnnkit.get_profile()
    train_seconds = sum(timings[name] for name in TRAINING_CELLS)
    print(f"profile: {profile}; data: {digits.source}")
    print(
        f"training: {len(namespace['train_data'].x_train):,} images, {train_seconds:.1f} s ("
        + ", ".join(f"{name} {timings[name]:.1f} s" for name in TRAINING_CELLS)
        + ")"
    )
    print(
        f"test accuracy: {accuracy:.2%} on {len(predicted):,} images ({predict_seconds:.1f} s); "
        f"grading threshold {THRESHOLDS[profile]:.0%}"
    )


if __name__ == "__main__":
    main()
