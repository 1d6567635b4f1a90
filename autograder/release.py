"""Pack the student version of each assignment as one zip, the file an instructor uploads to the LMS.

    python -m autograder.release [--output DIR] [ASSIGNMENT ...]     (`make release`: into release/)

``DIR/<assignment>.zip`` holds the folder ``<assignment>/`` of ``exercises/`` (the notebook, and any
file beside it). The zip depends only on those files: entries are sorted and dated 1980-01-01, so
releasing unchanged exercises again gives the same bytes.
"""

from __future__ import annotations

import argparse
import sys
import zipfile
from pathlib import Path

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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m autograder.release", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "names", nargs="*", metavar="ASSIGNMENT", help="default: every folder of solutions/"
    )
    parser.add_argument("--output", type=Path, default=ROOT / "release", help="default: release/")
    args = parser.parse_args(argv)
    for name in chosen(parser, args.names):
        print(f"released {release(name, args.output)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
