"""What the Colab install cell does, done for real: pip builds ``cnnkit`` from a git clone of this
repository into a fresh virtual environment that holds only what Colab preinstalls of our stack.

The environment is fresh (``python -m venv``: its own, empty ``site-packages``) and sees, through a
``.pth`` line, a folder of links to exactly the files of Colab's packages and of everything they
depend on (and pip), taken from this environment (no 8 GB copy). That folder lies outside the new environment,
so pip can neither remove nor change what it links: were pip to upgrade a package, the new version
would land in the environment's own ``site-packages``, where the test sees it.

The cell runs exactly as the notebook has it, with ``google.colab`` imported as on Colab; git sends
the repository URL of ``_config.yml`` to the local clone (``url.<clone>.insteadOf``). Then the first
cells of chapter 1 run from a folder outside the repository, so that they import the ``cnnkit`` pip
installed.
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
import sysconfig
from importlib import metadata
from pathlib import Path

import nbformat
import pytest
import tomllib
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from cnnkit import colab

REPO = Path(__file__).resolve().parent.parent
CHAPTER = REPO / "book" / "01_visual_cortex.ipynb"
# What Colab preinstalls of the course's stack (cnnkit is not among them).
COLAB_STACK = [
    "numpy",
    "matplotlib",
    "tqdm",
    "tensorflow",
    "keras",
    "torch",
    "torchvision",
    "scikit-learn",
    "scikit-image",
    "tensorflow-datasets",
    "pillow",
    "h5py",
    "joblib",
    "scipy",
    "ipython",  # Colab's kernel is IPython's
]
# Imported by cnnkit only for the course's developers, never in a notebook: not a dependency.
# The environment's own site-packages: only what is installed there counts. (Once something has
# imported setuptools, its vendored copies of zipp, packaging and wheel are on sys.path too, and
# their dist-info folders are not in site-packages: links to them would be broken.)
SITE = Path(sysconfig.get_paths()["purelib"])


def installed(name: str | None = None):
    """The distributions installed in SITE (all, or the one called ``name``)."""
    found = metadata.distributions(path=[str(SITE)], **({"name": name} if name else {}))
    return found if name is None else next(iter(found), None)


DEVELOPER_ONLY = {
    "nbformat": "cnnkit.colab's `make colab-cells` (the notebooks' own format)",
    "myst_nb": "cnnkit.results glues values for the book's build; elsewhere (Colab) it only prints them",
}


def closure(names: list[str]) -> dict[str, metadata.Distribution]:
    """The installed distributions ``names`` need, with the extras they ask of each other."""
    found: dict[str, metadata.Distribution] = {}
    extras_of: dict[str, set[str]] = {}
    todo = [(name, frozenset()) for name in names]
    while todo:
        name, extras = todo.pop()
        key = canonicalize_name(name)
        if key in found and extras <= extras_of[key]:
            continue
        dist = installed(name)
        if dist is None:
            pytest.fail(f"{name} is needed by Colab's stack but is not installed here")
        found[key] = dist
        extras_of[key] = extras_of.get(key, set()) | set(extras)
        for line in dist.requires or []:
            requirement = Requirement(line)
            environments = [{"extra": extra} for extra in ("", *extras_of[key])]
            marker = requirement.marker
            if marker is None or any(marker.evaluate(env) for env in environments):
                todo.append((requirement.name, frozenset(requirement.extras)))
    return found


def link_packages(dists: dict[str, metadata.Distribution], farm: Path) -> None:
    """Link into ``farm`` the files of ``dists`` (and nothing that belongs to another package).

    A folder owned only by these packages is linked whole; a folder that other installed packages
    share (a namespace such as ``google/``) is made real and its own entries are considered.
    """
    owners: dict[tuple[str, ...], set[str]] = {}
    for dist in installed():
        key = canonicalize_name(dist.metadata["Name"])
        for file in dist.files or []:
            parts = file.parts
            if parts and parts[0] != "..":  # scripts in bin/ are not needed
                for depth in range(1, len(parts) + 1):
                    owners.setdefault(parts[:depth], set()).add(key)
    wanted = set(dists)
    site = SITE

    def plant(prefix: tuple[str, ...]) -> None:
        source, target = site.joinpath(*prefix), farm.joinpath(*prefix)
        if owners[prefix] <= wanted or not source.is_dir():
            if not target.exists():
                target.symlink_to(source)
            return
        target.mkdir(exist_ok=True)
        children = {p[: len(prefix) + 1] for p in owners if len(p) == len(prefix) + 1
                    and p[: len(prefix)] == prefix and owners[p] & wanted}  # fmt: skip
        for child in sorted(children):
            plant(child)

    farm.mkdir()
    tops = {parts[:1] for parts, keys in owners.items() if len(parts) == 1 and keys & wanted}
    for top in sorted(tops):
        plant(top)


def snapshot(python: Path) -> set[tuple[str, str, str]]:
    """Every distribution the environment of ``python`` sees, as (name, version, location).

    All of them, shadowed ones included: a package pip upgraded would appear twice.
    """
    code = (
        "import json, importlib.metadata as m\n"
        "print(json.dumps([(d.metadata['Name'], d.version, str(d.locate_file('')))"
        " for d in m.distributions()]))"
    )
    # -I: neither the working directory (a checkout holds cnnkit.egg-info) nor PYTHONPATH may add
    # distributions that the new environment does not have
    out = subprocess.run([python, "-I", "-c", code], capture_output=True, text=True, check=True,
                         cwd=python.parent)  # fmt: skip
    return {
        (canonicalize_name(name), version, where) for name, version, where in json.loads(out.stdout)
    }


def snapshot_of_repository(target: Path) -> str:
    """A git clone of the working tree as it is (committed or not), on branch main; its commit."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=REPO, capture_output=True, text=True, check=True,
    ).stdout.split("\0")  # fmt: skip
    for name in filter(None, listed):
        if (REPO / name).is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, target / name)
    git = ["git", "-c", "user.name=test", "-c", "user.email=test@localhost", "-C", str(target)]
    subprocess.run([*git, "init", "-q", "-b", "main"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "snapshot"], check=True)
    return subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True,
                          check=True).stdout.strip()  # fmt: skip


def first_cells(path: Path) -> list[str]:
    """The code cells of a chapter up to the end of its Setup section."""
    cells, in_setup = [], False
    for cell in nbformat.read(path, as_version=4).cells:
        if cell.cell_type == "markdown" and cell.source.startswith("## "):
            if in_setup:
                break
            in_setup = cell.source.startswith("## Setup")
        elif cell.cell_type == "code":
            cells.append(cell.source)
    return cells


RUN_CELLS = """
import json, sys, traceback, types
sys.modules["google.colab"] = types.ModuleType("google.colab")  # what Colab's runtime has imported
namespace = {"__name__": "__main__"}
for index, source in enumerate(json.load(open(sys.argv[1]))):
    try:
        exec(compile(source, f"<cell {index}>", "exec"), namespace)
    except BaseException:
        traceback.print_exc()
        sys.exit(f"cell {index} failed")
import cnnkit
print("CNNKIT_FROM", cnnkit.__file__)
"""


@pytest.fixture(scope="module")
def on_colab(tmp_path_factory):
    """(the new environment's python, what it saw before the cell, what it sees after, the run)."""
    tmp = tmp_path_factory.mktemp("colab")
    clone = tmp / "clone"
    clone.mkdir()
    commit = snapshot_of_repository(clone)
    # pip comes with Colab's packages (linked, like them) rather than from ensurepip: much faster
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(tmp / "venv")], check=True)
    python = tmp / "venv" / "bin" / "python"
    site = Path(subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())  # fmt: skip
    link_packages(closure([*COLAB_STACK, "pip"]), tmp / "colab-packages")
    (site / "colab_packages.pth").write_text(
        f"import site; site.addsitedir({str(tmp / 'colab-packages')!r})\n"
    )
    before = snapshot(python)

    cells = tmp / "cells.json"
    cells.write_text(json.dumps(first_cells(CHAPTER)))
    (tmp / "run_cells.py").write_text(RUN_CELLS)
    url = colab.repository_url(REPO / "_config.yml")
    env = {
        key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "VIRTUAL_ENV")
    }
    env.update(
        PATH=f"{python.parent}{os.pathsep}{env.get('PATH', '')}",
        MPLBACKEND="Agg",  # a script, not a notebook kernel: no inline figures to keep
        GIT_CONFIG_COUNT="1",
        GIT_CONFIG_KEY_0=f"url.{clone.as_uri()}.insteadOf",
        GIT_CONFIG_VALUE_0=url,
        GIT_TERMINAL_PROMPT="0",
        PIP_NO_INPUT="1",
    )
    run = subprocess.run([python, tmp / "run_cells.py", cells], cwd=tmp, env=env,
                         capture_output=True, text=True, timeout=900)  # fmt: skip
    after = snapshot(python)
    return {"python": python, "site": site, "before": before, "after": after, "run": run,
            "commit": commit, "url": url}  # fmt: skip


@pytest.mark.slow
def test_the_cell_installs_cnnkit_from_the_repository_and_the_chapter_starts(on_colab):
    run = on_colab["run"]
    assert run.returncode == 0, (run.stdout + run.stderr)[-6000:]
    location = next(line for line in run.stdout.splitlines() if line.startswith("CNNKIT_FROM"))
    assert location.split()[1].startswith(str(on_colab["site"])), (
        location
    )  # pip's copy, not the repo's
    direct_url = json.loads(
        next(on_colab["site"].glob("cnnkit-*.dist-info")).joinpath("direct_url.json").read_text()
    )
    assert direct_url["url"] == on_colab["url"], direct_url
    assert direct_url["vcs_info"]["commit_id"] == on_colab["commit"], direct_url
    assert direct_url["vcs_info"]["requested_revision"] == "main", direct_url


@pytest.mark.slow
def test_nothing_but_cnnkit_is_installed_or_upgraded(on_colab):
    before, after = on_colab["before"], on_colab["after"]
    assert not any(name == "cnnkit" for name, _, _ in before)
    added, removed = after - before, before - after
    assert [name for name, _, _ in added] == ["cnnkit"], sorted(added)
    assert not removed, sorted(removed)
    # Colab's packages are all there once, at the versions this environment has
    for name in COLAB_STACK:
        versions = [version for dist, version, _ in after if dist == canonicalize_name(name)]
        assert versions == [installed(name).version], (name, versions)


@pytest.mark.slow
def test_the_installed_package_has_every_module_of_the_repository(on_colab):
    """Subpackages included: whatever setuptools finds, the wheel must hold all of cnnkit."""
    ours = {p.relative_to(REPO).as_posix() for p in (REPO / "cnnkit").rglob("*.py")}
    installed = {
        p.relative_to(on_colab["site"]).as_posix()
        for p in (on_colab["site"] / "cnnkit").rglob("*.py")
    }
    assert ours <= installed, sorted(ours - installed)


def third_party_imports() -> dict[str, set[str]]:
    """Top-level modules imported anywhere in cnnkit (outside the standard library and cnnkit)."""
    found: dict[str, set[str]] = {}
    for path in sorted((REPO / "cnnkit").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top not in ("cnnkit", "__future__"):
                    found.setdefault(top, set()).add(path.relative_to(REPO).as_posix())
    return found


def test_pyproject_declares_what_cnnkit_imports_and_pins_nothing():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    declared = {canonicalize_name(Requirement(line).name): Requirement(line)
                for line in project["dependencies"]}  # fmt: skip
    distributions = metadata.packages_distributions()
    for module, files in sorted(third_party_imports().items()):
        if module in DEVELOPER_ONLY:
            continue
        names = {canonicalize_name(name) for name in distributions.get(module, [module])}
        assert names & set(declared), f"{module} (imported by {sorted(files)}) is not declared"
    for name, requirement in declared.items():
        # Colab's versions win: lower bounds only, never == or an upper bound
        for spec in requirement.specifier:
            assert spec.operator in (">=", ">"), f"{requirement}: no pins or caps in cnnkit"
        assert canonicalize_name(name) in {canonicalize_name(n) for n in COLAB_STACK}, (
            f"{name} is not preinstalled on Colab: the install cell would have to download it"
        )
