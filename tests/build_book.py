"""Build the book: execute the chapters in parallel into Jupyter Book's cache, then build the HTML.

    python tests/build_book.py [--workers N]        (what `make book` and `make test` run)

1. Every notebook of ``_toc.yml`` that the book executes (``execute.exclude_patterns`` of
   ``_config.yml`` left out) and whose outputs are not already in Jupyter Book's execution cache
   (``_build/.jupyter_cache/<profile>``, keyed by the cells) runs, N at a time, longest first, in
   one cnnkit profile (``--profile``, else ``CNNKIT_PROFILE``, else full with a GPU).
2. ``jupyter-book build . -W -n --keep-going`` then finds every output in the cache and executes
   nothing. A notebook that failed is built without outputs instead of being run a second time.
3. ``_build/book-report.json`` records, per notebook, whether it ran or came from the cache, its
   execution time (``seconds``: wall; ``cpu_seconds``: user + system CPU time of its kernel's
   process tree, what the chapters' budgets are stated in, see ``execute_one``) and its error; and the build's exit code, log (``_build/build.log``) and the
   hashes of the sources it was built from. ``tests/test_book.py`` and ``tests/test_browser.py``
   check that report and the pages, so that the suite executes every chapter exactly once.

The exit code is 0 only when every notebook ran and the build had no warning.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import fnmatch
import hashlib
import json
import multiprocessing
import os
import resource
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from cnnkit.profile import PROFILES, get_profile  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "_build"
REPORT = BUILD / "book-report.json"
LOG = BUILD / "build.log"


def load_yaml(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8")) or {}


def toc_files(root: Path = ROOT) -> list[str]:
    """Every ``file:`` of ``_toc.yml`` (the root first), as paths relative to ``root`` without suffix."""
    toc = load_yaml(root / "_toc.yml")
    files = [toc["root"]]

    def walk(node):
        if isinstance(node, dict):
            if "file" in node:
                files.append(node["file"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk({key: value for key, value in toc.items() if key != "root"})
    return [str(Path(name).with_suffix("")) if name.endswith((".md", ".ipynb")) else name
            for name in files]  # fmt: skip


def source_of(entry: str, root: Path = ROOT) -> Path:
    """The source file of a toc entry (``.ipynb`` or ``.md``)."""
    for suffix in (".ipynb", ".md"):
        if (root / f"{entry}{suffix}").is_file():
            return root / f"{entry}{suffix}"
    raise FileNotFoundError(f"_toc.yml lists {entry}, which has no .ipynb or .md")


def executed_notebooks(root: Path = ROOT) -> list[str]:
    """The notebooks the book executes: toc entries that are notebooks and not excluded."""
    execute = load_yaml(root / "_config.yml").get("execute", {})
    excluded = execute.get("exclude_patterns", []) or []
    notebooks = []
    for entry in toc_files(root):
        path = source_of(entry, root).relative_to(root).as_posix()
        if path.endswith(".ipynb") and not any(fnmatch.fnmatch(path, p) for p in excluded):
            notebooks.append(path)
    return notebooks


def sources_digest(root: Path = ROOT) -> dict[str, str]:
    """sha256 of every file the pages are built from (a report of other sources is stale)."""
    paths = ["_config.yml", "_toc.yml"]
    paths += [source_of(entry, root).relative_to(root).as_posix() for entry in toc_files(root)]
    paths += sorted(p.relative_to(root).as_posix() for folder in ("_static", "_ext")
                    for p in (root / folder).rglob("*.*") if "__pycache__" not in p.parts)  # fmt: skip
    return {path: hashlib.sha256((root / path).read_bytes()).hexdigest() for path in paths}


def children_cpu_seconds() -> float:
    """User + system CPU seconds of this process's children that have ended (and theirs)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def execute_one(root: Path, path: str, timeout: int) -> dict:
    """Run one notebook in its folder (a worker process); return the executed notebook or the error.

    ``seconds`` is the wall time; ``cpu_seconds`` the CPU time (user + system) of the kernel's
    process tree, from its start-up to its exit: the kernel is this worker's only child, and
    jupyter_client waits for it when it shuts it down, so the rise of ``RUSAGE_CHILDREN`` is the
    kernel's time with that of every process it started and waited for. Other programs on the
    machine slow the wall time down, not this.
    """
    import nbformat
    from jupyter_cache.executors.utils import single_nb_execution

    notebook = nbformat.read(root / path, as_version=4)
    cpu_before = children_cpu_seconds()
    result = single_nb_execution(
        notebook, cwd=str((root / path).parent), timeout=timeout, allow_errors=False
    )
    record = {
        "path": path,
        "seconds": result.time,
        "cpu_seconds": round(children_cpu_seconds() - cpu_before, 2),
    }
    if result.err is not None:
        return {**record, "error": result.exc_string or repr(result.err)}
    return {**record, "notebook": nbformat.writes(notebook)}


def execute(
    root: Path, notebooks: list[str], workers: int, timeout: int, previous: dict, profile: str
) -> dict[str, dict]:
    """Execute what the cache lacks, ``workers`` at a time; return the record of every notebook."""
    import nbformat
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn

    cache = get_cache(str(cache_dir(root, profile)))
    records, pending = {}, []
    for path in notebooks:
        notebook = nbformat.read(root / path, as_version=4)
        try:
            cached = cache.match_cache_notebook(notebook)
        except KeyError:
            pending.append(path)
            continue
        seconds, cpu = cached.data.get("execution_seconds"), cached.data.get("cpu_seconds")
        if cpu is None:  # cached by a build that did not measure CPU time: measure it now
            pending.append(path)
            continue
        records[path] = {"status": "cached", "seconds": seconds, "cpu_seconds": cpu, "error": None}
        print(f"cached    {path} (executed in {seconds or 0:.0f} s, {cpu:.0f} CPU s)", flush=True)

    # Longest first (known from the last report, else the largest file), so the workers end together.
    def expected(path):
        return previous.get(path, {}).get("seconds") or (root / path).stat().st_size / 1e4

    pending.sort(key=expected, reverse=True)
    if pending:
        print(f"executing {len(pending)} notebook(s), {workers} at a time", flush=True)
    # Fresh interpreters (spawn): the workers share nothing with this process's cache database.
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(max(1, workers), mp_context=context) as pool:
        futures = [pool.submit(execute_one, root, path, timeout) for path in pending]
        for future in concurrent.futures.as_completed(futures):
            try:
                result = future.result()
            except Exception:  # the worker itself died
                path = pending[futures.index(future)]
                result = {"path": path, "seconds": None, "cpu_seconds": None,
                          "error": traceback.format_exc()}  # fmt: skip
            path = result["path"]
            if "notebook" in result:
                cache.cache_notebook_bundle(
                    CacheBundleIn(
                        nbformat.reads(result["notebook"], as_version=4),
                        str(root / path),
                        data={
                            "execution_seconds": result["seconds"],
                            "cpu_seconds": result["cpu_seconds"],
                        },
                    ),
                    check_validity=False,
                    overwrite=True,
                )
                records[path] = {
                    "status": "executed",
                    "seconds": result["seconds"],
                    "cpu_seconds": result["cpu_seconds"],
                    "error": None,
                }
                print(f"executed  {path} in {result['seconds']:.0f} s, "
                      f"{result['cpu_seconds']:.0f} CPU s", flush=True)  # fmt: skip
            else:
                records[path] = {"status": "failed", **result}
                print(f"FAILED    {path}:\n{result['error'][-3000:]}", flush=True)
    return {path: records[path] for path in notebooks}


def cache_dir(root: Path, profile: str) -> Path:
    """Jupyter Book's execution cache, one per profile: the cells' code does not say which ran."""
    return root / "_build" / ".jupyter_cache" / profile


def build(root: Path, failed: list[str], profile: str) -> tuple[int, float]:
    """``jupyter-book build``, with the notebooks that failed left unexecuted; (exit code, seconds)."""
    jupyter_book = Path(sys.executable).with_name("jupyter-book")
    command = [str(jupyter_book), "build", str(root), "-W", "-n", "--keep-going"]
    with tempfile.TemporaryDirectory() as tmp:
        # _config.yml with this profile's cache and the failed notebooks left unexecuted
        config = load_yaml(root / "_config.yml")
        execute = config.setdefault("execute", {})
        execute["cache"] = str(cache_dir(root, profile))
        execute["exclude_patterns"] = [*(execute.get("exclude_patterns") or []), *failed]
        extensions = config.get("sphinx", {}).get("local_extensions") or {}
        for name, path in extensions.items():  # relative to the config file: make absolute
            extensions[name] = str((root / path).resolve())
        derived = Path(tmp) / "_config.yml"
        derived.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
        command += ["--config", str(derived)]
        start = time.monotonic()
        with (root / LOG.relative_to(ROOT)).open("w", encoding="utf-8") as log:
            process = subprocess.Popen(command, cwd=root, stdout=subprocess.PIPE,
                                       stderr=subprocess.STDOUT, text=True)  # fmt: skip
            for line in process.stdout:
                sys.stdout.write(line)
                log.write(line)
            code = process.wait()
    return code, time.monotonic() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                        help="notebooks executed at once (default: one per core)")  # fmt: skip
    parser.add_argument("--root", type=Path, default=ROOT, help="the book (default: this one)")
    parser.add_argument("--profile", choices=PROFILES,
                        help="default: $CNNKIT_PROFILE, else cnnkit's choice (full with a GPU)")  # fmt: skip
    args = parser.parse_args(argv)
    root = args.root.resolve()
    profile = args.profile or get_profile()
    os.environ["CNNKIT_PROFILE"] = profile  # every kernel, ours and jupyter-book's, runs this one
    # PyTorch's OpenMP threads sleep while they wait instead of spinning on a shared core (as the
    # Makefile sets it; benchmarks/thread_wait_policy.py).
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    report_path = root / REPORT.relative_to(ROOT)
    report_path.parent.mkdir(exist_ok=True)
    previous = {}
    if report_path.is_file():
        previous = json.loads(report_path.read_text(encoding="utf-8")).get("notebooks", {})
    report_path.unlink(missing_ok=True)  # never leave a report that could pass for this build

    timeout = int(load_yaml(root / "_config.yml").get("execute", {}).get("timeout", 900))
    start = time.monotonic()
    notebooks = execute(root, executed_notebooks(root), args.workers, timeout, previous, profile)
    executed_s = time.monotonic() - start
    failed = [path for path, record in notebooks.items() if record["status"] == "failed"]
    code, build_s = build(root, failed, profile)
    report = {
        "notebooks": notebooks,
        "profile": profile,
        "workers": args.workers,
        "build": {"returncode": code, "log": LOG.relative_to(ROOT).as_posix()},
        "seconds": {
            "execute": round(executed_s, 1),
            "build": round(build_s, 1),
            "total": round(time.monotonic() - start, 1),
        },  # fmt: skip
        "sources": sources_digest(root),
    }
    report_path.write_text(json.dumps(report, indent=1), encoding="utf-8")
    seconds = report["seconds"]
    print(f"book: executed in {seconds['execute']:.0f} s, built in {seconds['build']:.0f} s "
          f"({seconds['total']:.0f} s in all); {len(failed)} notebook(s) failed; "
          f"jupyter-book exit code {code}; report in {report_path.relative_to(root)}")  # fmt: skip
    return 1 if failed or code else 0


if __name__ == "__main__":
    sys.exit(main())
