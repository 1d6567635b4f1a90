"""The book is published by a GitHub Actions workflow that cannot run here: check what it would do.

On a push to main it builds with the same `make book` as everyone and deploys ``_build/html`` to
GitHub Pages. The repository's URL is written in ``_config.yml`` only (the notebooks' install cells
are generated from it by `make colab-cells`, and tests/test_notebooks.py checks them).
"""

import subprocess
from pathlib import Path

import pytest
import yaml

from cnnkit import colab

REPO = Path(__file__).resolve().parent.parent
WORKFLOW = REPO / ".github" / "workflows" / "book.yml"


@pytest.fixture(scope="module")
def workflow() -> dict:
    return yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))


def steps(job: dict) -> list[dict]:
    return job.get("steps", [])


def uses(step: dict, action: str) -> bool:
    return step.get("uses", "").split("@")[0] == action


def test_runs_on_every_push_to_main(workflow):
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as true
    assert "main" in triggers["push"]["branches"]


def test_builds_with_make_book_and_uploads_the_html(workflow):
    jobs = workflow["jobs"]
    builders = [name for name, job in jobs.items()
                if any("make book" in step.get("run", "").split("\n") for step in steps(job))]  # fmt: skip
    assert len(builders) == 1, "exactly one job runs `make book` as a command of its own"
    build = jobs[builders[0]]
    names = [step.get("run", step.get("uses", "")) for step in steps(build)]
    make = names.index("make book")
    uploads = [
        i for i, step in enumerate(steps(build)) if uses(step, "actions/upload-pages-artifact")
    ]
    assert uploads and uploads[0] > make, "the Pages artifact is uploaded after `make book`"
    assert steps(build)[uploads[0]]["with"]["path"].rstrip("/").removeprefix("./") == "_build/html"
    python = next(step for step in steps(build) if uses(step, "actions/setup-python"))
    assert str(python["with"]["python-version"]) == "3.11"


def test_deploys_the_artifact_to_pages(workflow):
    jobs = workflow["jobs"]
    deployers = [name for name, job in jobs.items()
                 if any(uses(step, "actions/deploy-pages") for step in steps(job))]  # fmt: skip
    assert len(deployers) == 1
    deploy = jobs[deployers[0]]
    needs = deploy.get("needs", [])
    builder = next(name for name, job in jobs.items()
                   if any(uses(step, "actions/upload-pages-artifact") for step in steps(job)))  # fmt: skip
    assert builder in ([needs] if isinstance(needs, str) else needs)
    assert deploy["environment"]["name"] == "github-pages"
    permissions = {**workflow.get("permissions", {}), **deploy.get("permissions", {})}
    assert permissions.get("pages") == "write" and permissions.get("id-token") == "write"


def test_the_repository_url_is_written_only_in_the_book_config():
    url = colab.repository_url(REPO / "_config.yml")
    slug = url.removeprefix("https://github.com/").removesuffix(".git")
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, text=True,
                             check=True).stdout.split("\0")  # fmt: skip
    written = []
    for name in filter(None, tracked):
        path = REPO / name
        if name == "_config.yml" or path.suffix == ".ipynb" or not path.is_file():
            continue  # notebooks: their install cell is generated from _config.yml
        if slug in path.read_text(encoding="utf-8", errors="ignore"):
            written.append(name)
    assert not written, f"{slug} is written in {written}: read it from _config.yml instead"
