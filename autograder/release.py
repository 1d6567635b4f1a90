"""Pack the student version of each assignment as one zip, the file an instructor uploads to the LMS.

    python -m autograder.release [--output DIR] [--roster ROSTER.csv] [ASSIGNMENT ...]
    (`make release [ROSTER=roster.csv]`: into release/)

``DIR/<assignment>.zip`` holds the folder ``<assignment>/`` of ``exercises/`` (the notebook, and any
file beside it). The zip depends only on those files: entries are sorted and dated 1980-01-01, so
releasing unchanged exercises again gives the same bytes.

With ``--roster`` (see ``autograder.variants.read_roster`` for its columns) each student gets their
own notebook, ``DIR/<assignment>/<student_id>.ipynb``, with their own numbers in the statement and
the set-up cell (``autograder.variants``; the course secret must be set), and the zip holds them all
(``<assignment>/<student_id>.ipynb``, and the files beside the notebook).
"""

from __future__ import annotations

import argparse
import sys
import zipfile
from pathlib import Path

import nbformat

from autograder import variants
from autograder.generate import ROOT, chosen

EXERCISES = ROOT / "exercises"
FIXED_DATE = (1980, 1, 1, 0, 0, 0)


def released_files(name: str, exercises: Path = EXERCISES) -> list[Path]:
    """The files of ``exercises/<name>/`` a student gets (no hidden files, no checkpoints)."""
    folder = exercises / name
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} does not exist: run `make exercises`")
    files = [
        path
        for path in sorted(folder.rglob("*"))
        if path.is_file()
        and not any(
            part.startswith((".", "__pycache__")) for part in path.relative_to(folder).parts
        )
    ]
    if not any(path.suffix == ".ipynb" for path in files):
        raise FileNotFoundError(f"{folder} has no notebook: run `make exercises`")
    return files


def release(name: str, output: Path, exercises: Path = EXERCISES) -> Path:
    """Write ``output/<name>.zip``; return its path."""
    output.mkdir(parents=True, exist_ok=True)
    target = output / f"{name}.zip"
    partial = target.with_name(target.name + ".partial")
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in released_files(name, exercises):
            arcname = Path(name, path.relative_to(exercises / name)).as_posix()
            info = zipfile.ZipInfo(arcname, date_time=FIXED_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, path.read_bytes())
    partial.replace(target)
    return target


def release_per_student(
    name: str, output: Path, roster: dict[str, str], secret: bytes, exercises: Path = EXERCISES
) -> Path:
    """Write ``output/<name>/<student>.ipynb`` for every student of ``roster``, and the zip."""
    from autograder.assignment import Assignment

    assignment = Assignment.load(name, release_dir=exercises)
    spec = variants.spec_of(nbformat.read(assignment.source_path, as_version=4))
    folder = output / name
    folder.mkdir(parents=True, exist_ok=True)
    files = released_files(name, exercises)
    others = [p for p in files if p.suffix != ".ipynb"]
    written = []
    for student_id in sorted(roster):
        nb = nbformat.read(assignment.release_path, as_version=4)
        variant = variants.for_student(spec, name, student_id, set(roster), secret)
        if spec is not None:
            variants.render(nb, spec, variant.values)
        for cell in nb.cells:  # the rules of the draw are the instructor's
            cell.metadata.pop("variant", None)
            cell.metadata.pop("variant_text", None)
        nb.metadata[variants.RELEASED_KEY] = {"assignment": name, "released_to": student_id}
        nbformat.validate(nb)
        path = folder / f"{student_id}.ipynb"
        nbformat.write(nb, path)
        written.append(path)
    target = output / f"{name}.zip"
    partial = target.with_name(target.name + ".partial")
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        entries = [(p, Path(name, p.name)) for p in written]
        entries += [(p, Path(name, p.relative_to(exercises / name))) for p in others]
        for path, arcname in sorted(entries, key=lambda e: e[1].as_posix()):
            info = zipfile.ZipInfo(arcname.as_posix(), date_time=FIXED_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, path.read_bytes())
    partial.replace(target)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m autograder.release", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "names", nargs="*", metavar="ASSIGNMENT", help="default: every folder of solutions/"
    )
    parser.add_argument("--output", type=Path, default=ROOT / "release", help="default: release/")
    parser.add_argument(
        "--roster", type=Path, help="one notebook per student, with their own numbers"
    )
    args = parser.parse_args(argv)
    names = chosen(parser, args.names)
    if not args.roster:
        for name in names:
            print(f"released {release(name, args.output)}")
        return 0
    try:
        secret = variants.course_secret()
        roster = variants.read_roster(args.roster)
    except (variants.SecretMissing, OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for name in names:
        target = release_per_student(name, args.output, roster, secret)
        print(f"released {target}: {len(roster)} students, in {args.output / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
