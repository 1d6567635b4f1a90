"""Rebuild the student versions (``exercises/``) of every assignment in ``solutions/``.

    python -m autograder.generate [--release-dir DIR] [--db-url URL] [ASSIGNMENT ...]

Each assignment is a folder ``solutions/<name>/`` holding its source notebook(s); nbgrader's
``generate_assignment`` writes ``exercises/<name>/``. The output depends only on the sources, so a test
regenerates into a temporary folder and compares.
"""

from __future__ import annotations

import argparse
import json
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


def generate(names: list[str], release_dir: Path | None = None, db_url: str | None = None) -> None:
    """``nbgrader generate_assignment NAME --force`` for each of ``names``, with the course's config,
    all in one nbgrader process (its start-up and the gradebook's creation cost more than a notebook's
    conversion)."""
    request = {"names": list(names), "db_url": db_url}
    request["release_dir"] = None if release_dir is None else str(Path(release_dir).resolve())
    program = "import sys; from autograder.generate import in_this_process as run; sys.exit(run())"
    result = subprocess.run(
        [sys.executable, "-c", program, json.dumps(request)],
        cwd=AUTOGRADER, env=nbgrader_env(), capture_output=True, text=True,
    )  # fmt: skip
    if result.returncode != 0:
        raise RuntimeError(
            f"nbgrader generate_assignment {' '.join(names)} failed:\n{result.stdout}{result.stderr}"
        )


def in_this_process() -> int:
    """``generate``'s nbgrader process (run from autograder/, where nbgrader_config.py is)."""
    from nbgrader.apps import NbGraderAPI
    from traitlets.config.loader import PyFileConfigLoader

    request = json.loads(sys.argv[1])
    config = PyFileConfigLoader("nbgrader_config.py", path=str(AUTOGRADER)).load_config()
    if request["release_dir"] is not None:
        config.CourseDirectory.release_directory = request["release_dir"]
    if request["db_url"] is not None:
        config.CourseDirectory.db_url = request["db_url"]
    api = NbGraderAPI(config=config)
    for name in request["names"]:
        result = api.generate_assignment(name, force=True)
        if not result["success"]:
            print(f"{name}:\n{result.get('log', '')}\n{result.get('error', '')}", file=sys.stderr)
            return 1
    return 0


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
    names = chosen(parser, args.names)
    generate(names, args.release_dir, args.db_url)
    for name in names:
        print(f"generated {(args.release_dir or ROOT / 'exercises') / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
