"""nbgrader settings of the course (read by every `nbgrader` command run from this folder).

Paths are computed from this file's place, so the repository can live anywhere. The gradebook
database stays out of git, under the ignored `.cache/` folder.
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent  # the repository root
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # so that nbgrader can import autograder.nbgrader_feedback

c = get_config()  # noqa: F821 (provided by nbgrader when it reads this file)

c.CourseDirectory.course_id = "deep-cv-cnn"
c.CourseDirectory.root = str(ROOT)
# instructors' notebooks (solutions, hidden tests) -> student versions, both committed
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "exercises"
GRADEBOOK = ROOT / ".cache" / "nbgrader" / "gradebook.db"
GRADEBOOK.parent.mkdir(parents=True, exist_ok=True)  # SQLite creates the file, not its folder
c.CourseDirectory.db_url = f"sqlite:///{GRADEBOOK}"

c.Execute.timeout = 120  # seconds per cell when autograding

# Feedback shows the student their notebook with scores: strip the hidden tests from it, and the
# outputs (tracebacks) of the cells that ran them.
c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.GetGrades",
    "autograder.nbgrader_feedback.HideHiddenTests",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
]
