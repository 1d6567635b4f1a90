"""Run nbgrader on one submission in a private course folder, and read its scores back.

Every nbgrader call goes through ``nbgrader()``: the one place where a later sandbox (resource limits,
no network, another user) wraps the command.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from nbgrader.api import Gradebook
from traitlets.config.loader import PyFileConfigLoader

from autograder.generate import AUTOGRADER, nbgrader_env

ERROR_LINE = re.compile(r"^\s*((?:[\w.]+\.)?(\w+(?:Error|Exception|Exit))\b.*)$", re.MULTILINE)


@dataclass
class Result:
    returncode: int  # -9 when killed after the timeout
    output: str


def course_id() -> str:
    """The course id set in ``autograder/nbgrader_config.py``."""
    config = PyFileConfigLoader("nbgrader_config.py", path=str(AUTOGRADER)).load_config()
    return config.CourseDirectory.course_id


def course_config() -> str:
    """``nbgrader_config.py`` of a private course folder: the course's settings, rooted where it lies."""
    return (
        "# Written by autograder.grade: the course's settings, with this folder as the course root.\n"
        "import os\n\n"
        "c = get_config()  # noqa: F821\n"
        f"load_subconfig({str(AUTOGRADER / 'nbgrader_config.py')!r})\n"
        "here = os.path.dirname(os.path.abspath(__file__))\n"
        "c.CourseDirectory.root = here\n"
        'c.CourseDirectory.source_directory = "source"\n'
        'c.CourseDirectory.release_directory = "release"\n'
        'c.CourseDirectory.db_url = "sqlite:///" + os.path.join(here, "gradebook.db")\n'
    )


def nbgrader(args: list[str], course: Path, timeout: float) -> Result:
    """Run ``nbgrader ARGS`` in ``course``; kill it and its kernel if it runs past ``timeout``."""
    env = nbgrader_env()
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env.setdefault("MPLBACKEND", "Agg")
    command = [sys.executable, "-m", "nbgrader", *args]
    process = subprocess.Popen(
        command,
        cwd=course,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group, kernels included
    )
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate()
        return Result(-9, output + f"\n[autograder] killed after {timeout:g} s\n")
    return Result(process.returncode, output)


def short_reason(output: str) -> str:
    """The most telling error line of nbgrader's output."""
    errors = ERROR_LINE.findall(output)
    if errors:  # the last exception raised, without its module path
        line, name = errors[-1]
        return line[line.index(name) :][:200]
    lines = [line for line in output.splitlines() if "ERROR" in line]
    return (lines[-1].split("]", 1)[-1].strip() if lines else "see the log")[:200]


def autograde(job: dict, result: dict) -> str:
    """Autograde one validated notebook and write its feedback; fill ``result``; return a problem or ""."""
    course, student, assignment = Path(job["work"]), job["student_id"], job["assignment"]
    shutil.copytree(job["template"], course)
    submitted = course / "submitted" / student / assignment
    submitted.mkdir(parents=True)
    shutil.copyfile(job["notebook"], submitted / f"{job['notebook_name']}.ipynb")
    log = Path(job["output"]) / "logs" / f"{student}.log"
    steps = (
        ["autograde", assignment, "--student", student, "--force"],
        ["generate_feedback", assignment, "--student", student, "--force"],
    )
    with log.open("w", encoding="utf-8") as handle:
        for step in steps:
            run = nbgrader(step, course, timeout=job["timeout"])
            handle.write(f"$ nbgrader {' '.join(step)}\n{run.output}\n")
            if run.returncode == -9:
                return f"timed out ({step[0]} ran past {job['timeout']} s)"
            if run.returncode != 0 and step[0] == "autograde":
                return f"nbgrader failed: {short_reason(run.output)}"
            if run.returncode != 0:
                result["warnings"].append(f"no feedback: {short_reason(run.output)}")
    read_scores(course, job, result)
    feedback = course / "feedback" / student / assignment / f"{job['notebook_name']}.html"
    result["feedback"] = str(feedback) if feedback.is_file() else None
    return ""


def read_scores(course: Path, job: dict, result: dict) -> None:
    """Per-cell scores and the cells waiting for a person, from the private gradebook."""
    order = {grade_id: index for index, grade_id in enumerate(job["grade_ids"])}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", course_id=job["course_id"]) as gradebook:
        notebook = gradebook.find_submission_notebook(
            job["notebook_name"], job["assignment"], job["student_id"]
        )
        grades = sorted(notebook.grades, key=lambda grade: order.get(grade.name, len(order)))
        for grade in grades:
            result["scores"][grade.name] = grade.score
            if grade.needs_manual_grade:
                result["needs_manual_grading"].append(grade.name)
