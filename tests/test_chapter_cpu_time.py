"""benchmarks/chapter_cpu_time.py, the calibration of the chapters' CPU budgets, on a tiny notebook."""

import subprocess
import sys
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parent.parent


def test_the_calibration_prints_a_row_and_its_summary(tmp_path):
    path = tmp_path / "tiny.ipynb"
    cell = nbformat.v4.new_code_cell("total = sum(i * i for i in range(3_000_000))")
    notebook = nbformat.v4.new_notebook(cells=[cell])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                       "language": "python"}  # fmt: skip
    nbformat.write(notebook, path)
    run = subprocess.run([sys.executable, str(REPO / "benchmarks" / "chapter_cpu_time.py"), str(path)],
                         capture_output=True, text=True, timeout=300)  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    row = next(line for line in run.stdout.splitlines() if line.startswith("tiny.ipynb"))
    wall, cpu, waited, quiet, ratio = (float(value) for value in row.split()[1:])
    assert 0 < cpu and 0 <= waited < wall and quiet <= wall, row
    assert "summary:" in run.stdout and "CPU seconds per quiet wall second" in run.stdout
