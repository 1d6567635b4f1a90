"""What the chapters measured, read from the book's executed notebooks (the values they glue).

A chapter whose model stops working still executes without error; these tests catch it. The
thresholds are the quick profile's, with a margin below what our runs reached (recorded in the
README's measurements): chapter 6's detectors reached mAP@0.5 0.87-0.90 and COCO mAP 0.49-0.53.
"""

import os

import book_checks
import pytest

PROFILE = os.environ.get("CNNKIT_PROFILE", "quick")
# (notebook, glued name, lowest acceptable value) in the quick profile
FLOORS = [
    ("book/06_object_detection.ipynb", "keras_map50", 0.8),
    ("book/06_object_detection.ipynb", "torch_map50", 0.8),
    ("book/06_object_detection.ipynb", "keras_map", 0.45),
    ("book/06_object_detection.ipynb", "torch_map", 0.45),
]


@pytest.mark.parametrize(("notebook", "name", "floor"), FLOORS, ids=[f[1] for f in FLOORS])
def test_the_chapter_reaches_what_its_text_promises(notebook, name, floor):
    if PROFILE != "quick":
        pytest.skip("the floors are the quick profile's")
    book_checks.load_report()  # fails (or skips outside make test) when the build is missing or stale
    values = book_checks.glued_values(notebook, PROFILE)
    assert name in values, f"{notebook} glued no {name!r} (it glued {sorted(values)})"
    assert values[name] >= floor, f"{notebook}: {name} = {values[name]}, below {floor}"
