"""Find the submissions in an LMS download and give each student a safe, unique id.

Two layouts are understood, and may be mixed:

- flat files, named as the LMS leaves them. Canvas: ``doejohn_12345_67890_01_visual_cortex.ipynb``
  (``name[_LATE]_userid_submissionid_filename``); Moodle:
  ``Jane Doe_4321_assignsubmission_file_01_visual_cortex.ipynb``; anything else: the file name.
  Several files of one person (same Canvas user id, same Moodle participant id) are one submission.
- one folder per student, as ``nbgrader zip_collect`` leaves them: ``<student>/<assignment>/<nb>.ipynb``
  or ``<student>/<nb>.ipynb``.

Ids are short (``doejohn``) unless two people would share one; then each of them gets the longer id
that includes their LMS number (``doejohn_12345``), and, should that still collide, a counter.
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

CANVAS = re.compile(r"^(?P<name>[^_]+)_(?:LATE_)?(?P<user>\d+)_(?P<submission>\d+)_(?P<file>.+)$")
MOODLE = re.compile(
    r"^(?P<name>.+?)_(?P<user>\d+)_assignsubmission_(?:file|onlinetext)_(?P<file>.*)$"
)
CANVAS_COPY = re.compile(r"-\d+$")  # Canvas renames a resubmitted file.ipynb to file-1.ipynb


def sanitize(text: str) -> str:
    """A lower-case ASCII id made of letters, digits and underscores (``student`` if nothing is left)."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    cleaned = re.sub(r"[^a-z0-9]+", "_", ascii_text.lower()).strip("_")
    return cleaned or "student"


@dataclass(frozen=True)
class Owner:
    """Who a file belongs to, read from its name: ids from shortest to longest."""

    key: tuple[str, ...]  # identical for every file of one person
    candidates: tuple[str, ...]
    file_name: str  # the student's own file name, without the LMS prefix


def parse_filename(name: str, assignment: str) -> Owner:
    """Read the owner of a flat file (or of a Moodle per-student folder) from its LMS name."""
    for lms, pattern in (("canvas", CANVAS), ("moodle", MOODLE)):
        if match := pattern.match(name):
            short = sanitize(match["name"])
            return Owner((lms, match["user"]), (short, f"{short}_{match['user']}"), match["file"])
    # a plain name: leave out the assignment's name, unless nothing else is left
    stem = Path(name).stem if name.lower().endswith(".ipynb") else name
    full = sanitize(stem)
    rest = stem.replace(assignment, "")
    short = sanitize(rest) if re.search(r"[A-Za-z0-9]", rest) else full
    return Owner(("file", name), (short, full), name)


@dataclass
class Submission:
    """One student's submission: the files found for them and the notebook to grade (if any)."""

    student_id: str
    source_file: str  # the file(s) found for them, relative to the submissions folder
    notebook: Path | None = None
    problem: str = ""  # why there is nothing to grade, when notebook is None


def pick_notebook(files: list[Path], names: list[str], assignment: str) -> tuple[Path | None, str]:
    """The notebook to grade among a student's ``files`` (``names``: their names without LMS prefix)."""
    notebooks = [
        (path, name)
        for path, name in zip(files, names, strict=True)
        if name.lower().endswith(".ipynb")
    ]
    if len(notebooks) == 1:
        return notebooks[0][0], ""
    if not notebooks:
        kinds = ", ".join(sorted({path.suffix or "no extension" for path in files}))
        if len(files) == 1:
            return None, f"not a notebook ({kinds} file)"
        return None, f"no notebook among {len(files)} files ({kinds})"
    exact = [path for path, name in notebooks if CANVAS_COPY.sub("", Path(name).stem) == assignment]
    if len(exact) == 1:
        return exact[0], ""
    listed = ", ".join(sorted(path.name for path, _ in notebooks))
    return None, f"{len(notebooks)} notebooks submitted, expected one: {listed}"


def visible(name: str) -> bool:
    """False for hidden files and folders, and for the debris of zip tools and editors."""
    return not name.startswith((".", "__MACOSX", "~$"))


def student_files(folder: Path, assignment: str) -> list[Path]:
    """The files of a per-student folder (``<student>/<assignment>/...`` or ``<student>/...``)."""
    inner = folder / assignment if (folder / assignment).is_dir() else folder
    paths = sorted(inner.rglob("*"))
    return [p for p in paths if p.is_file() and all(map(visible, p.relative_to(inner).parts))]


def find_submissions(folder: Path, assignment: str, skip=None, skipped=None) -> list[Submission]:
    """Every submission in ``folder``, one per student, sorted by student id.

    ``skip(path)`` may name a reason to leave a file out (e.g. a notebook of another assignment):
    it is then appended to ``skipped`` as ``(path relative to folder, reason)``, and a student with
    nothing left gets no submission.
    """
    groups: dict[tuple[str, ...], list[tuple[Path, str]]] = defaultdict(list)
    owners: dict[tuple[str, ...], tuple[str, ...]] = {}
    folder = Path(folder)
    for entry in sorted(folder.iterdir()):
        if not visible(entry.name):
            continue
        owner = parse_filename(entry.name, assignment)
        if entry.is_dir():
            if owner.key[0] == "file":  # a zip_collect folder: its name is the student id
                owner = Owner(("folder", entry.name), (sanitize(entry.name),), entry.name)
            groups[owner.key].extend((path, path.name) for path in student_files(entry, assignment))
        elif entry.is_file():
            groups[owner.key].append((entry, owner.file_name))
        else:
            continue
        owners[owner.key] = owner.candidates
    if skip is not None:
        for key in list(groups):
            kept = []
            for path, name in groups[key]:
                why = skip(path)
                if why:
                    if skipped is not None:
                        skipped.append((str(path.relative_to(folder)), why))
                else:
                    kept.append((path, name))
            if groups[key] and not kept:
                del groups[key]
                del owners[key]
            else:
                groups[key] = kept
    ids = unique_ids(owners)
    submissions = []
    for key, pairs in groups.items():
        files = [path for path, _ in pairs]
        notebook, problem = (
            pick_notebook(files, [name for _, name in pairs], assignment)
            if files
            else (None, "empty folder")
        )
        source = ", ".join(str(path.relative_to(folder)) for path in files) or key[-1]
        submissions.append(Submission(ids[key], source, notebook, problem))
    return sorted(submissions, key=lambda s: s.student_id)


def unique_ids(candidates: dict[tuple[str, ...], tuple[str, ...]]) -> dict[tuple[str, ...], str]:
    """One id per owner: the shortest candidate nobody else shares, else the longest plus a counter."""
    level = dict.fromkeys(candidates, 0)
    while True:
        chosen = {key: names[min(level[key], len(names) - 1)] for key, names in candidates.items()}
        by_id: dict[str, list] = defaultdict(list)
        for key, name in chosen.items():
            by_id[name].append(key)
        clashes = [keys for keys in by_id.values() if len(keys) > 1]
        movable = [key for keys in clashes for key in keys if level[key] < len(candidates[key]) - 1]
        if not movable:
            break
        for key in movable:
            level[key] += 1
    result, taken = {}, set()
    for key in sorted(chosen, key=lambda k: (chosen[k], k)):
        name, counter = chosen[key], 1
        while name in taken:
            counter += 1
            name = f"{chosen[key]}_{counter}"
        taken.add(name)
        result[key] = name
    return result
