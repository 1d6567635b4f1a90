"""Rebuild the student versions (``exercises/``) of every assignment in ``solutions/``.

    python -m autograder.generate [--release-dir DIR] [--db-url URL] [ASSIGNMENT ...]

Each assignment is a folder ``solutions/<name>/`` holding its source notebook(s); nbgrader's
``generate_assignment`` writes ``exercises/<name>/``. The output depends only on the sources, so a test
regenerates into a temporary folder and compares.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from autograder.assignment import ROOT, assignments

AUTOGRADER = ROOT / "autograder"


def nbgrader_env() -> dict[str, str]:
    """The environment for an nbgrader subprocess: this Python's bin folder first (nbgrader runs alembic)."""
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH", "")]))
    return env


def generate(name: str, release_dir: Path | None = None, db_url: str | None = None) -> None:
    """Run ``nbgrader generate_assignment NAME --force`` with the course's config."""
    command = [
        sys.executable,
        "-m",
        "nbgrader",
        "generate_assignment",
        name,
        "--force",
        "--log-level=WARN",
    ]
    if release_dir is not None:
        command.append(f"--CourseDirectory.release_directory={Path(release_dir).resolve()}")
    if db_url is not None:
        command.append(f"--CourseDirectory.db_url={db_url}")
    result = subprocess.run(
        command, cwd=AUTOGRADER, env=nbgrader_env(), capture_output=True, text=True
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"nbgrader generate_assignment {name} failed:\n{result.stdout}{result.stderr}"
        )


def chosen(parser: argparse.ArgumentParser, names: list[str]) -> list[str]:
    """The assignments named on the command line (all of solutions/ when none); unknown ones: an error."""
    known = assignments()
    unknown = sorted(set(names) - set(known))
    if unknown:
        parser.error(f"no such assignment in solutions/: {', '.join(unknown)}")
    return names or known


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "names", nargs="*", metavar="ASSIGNMENT", help="default: every folder of solutions/"
    )
    parser.add_argument("--release-dir", type=Path, help="write here instead of exercises/")
    parser.add_argument(
        "--db-url", help="gradebook to record the assignments in (default: the course's)"
    )
    args = parser.parse_args(argv)
    for name in chosen(parser, args.names):
        generate(name, args.release_dir, args.db_url)
        print(f"generated {(args.release_dir or ROOT / 'exercises') / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
