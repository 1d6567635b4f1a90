"""The sandbox's configuration, and finding out once which sandbox this system allows.

``base_config`` is the launcher's config (``autograder.sandbox``); ``probe`` starts the launcher
on a tiny program to learn whether the namespace sandbox works here; ``standard_hidden`` and
``python_paths`` are the places every sandbox covers, and the ones it puts back.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path


def probe(work: Path | None = None) -> dict:
    """Try the namespace sandbox once with a tiny program; return its report (``mode``: the mode
    that works, ``namespaces`` or ``limits``; ``why`` when namespaces could not be used)."""
    with tempfile.TemporaryDirectory(prefix="ag-probe-", dir=work) as folder:
        folder = Path(folder)
        os.chmod(folder, 0o755)
        rundir = folder / "run"
        rundir.mkdir()
        secret = folder / "secret"
        secret.mkdir()
        (secret / "s").write_text("s", encoding="utf-8")
        script = f"import os, sys; sys.exit(3 if os.path.exists({str(secret / 's')!r}) else 0)"
        for user_namespace in (True, False):
            if not user_namespace and os.geteuid() != 0:
                break
            config = base_config(
                [sys.executable, "-I", "-c", script],
                rundir=rundir,
                report=folder / "report.json",
                log=folder / "log.txt",
                hide=[secret, *standard_hidden()],
                readonly=python_paths(),
                env={"PATH": "/usr/bin:/bin"},
                limits={"nproc": 64},
                mode="namespaces",
            )
            config["user_namespace"] = user_namespace
            code = _run_launcher(config, folder / "config.json")
            report = _read_json(folder / "report.json")
            if code == 0 and report.get("setup") == "ok":
                report["mode"] = "namespaces"
                report["user_namespace"] = user_namespace
                return report
        why = _read_json(folder / "report.json").get("setup") or f"exit code {code}"
        log = (folder / "log.txt").read_text(encoding="utf-8", errors="replace")[-300:]
        return {"mode": "limits", "why": f"{why} {log}".strip()}


SYSTEM_TOP_LEVEL = {
    "bin",
    "dev",
    "etc",
    "lib",
    "lib32",
    "lib64",
    "libx32",
    "proc",
    "sbin",
    "sys",
    "tmp",
    "usr",
    "var",
}


def standard_hidden() -> list[str]:
    """Places a notebook has no business reading: home folders (keys, tokens), mounted disks,
    add-on software, runtime sockets. Whatever the kernel needs from them is put back read-only."""
    places = ["/root", "/home", "/mnt", "/media", "/srv", "/opt", "/run", "/var/run"]
    # Allow-list the top level: any other folder of / (e.g. /work, where another checkout of the
    # course with its solutions may live) is covered too, not only this repository.
    for entry in sorted(os.listdir("/")):
        path = os.path.join("/", entry)
        if entry not in SYSTEM_TOP_LEVEL and os.path.isdir(path) and not os.path.islink(path):
            places.append(path)
    home = os.path.expanduser("~")
    if home not in ("/", ""):
        places.append(os.path.realpath(home))
    return places


def python_paths() -> list[str]:
    """The folders this Python needs: the virtual environment and the installation it came from."""
    paths = {sys.prefix, sys.exec_prefix, sys.base_prefix, sys.base_exec_prefix}
    paths |= {os.path.realpath(p) for p in paths}
    paths.add(str(Path(os.path.realpath(sys.executable)).parent.parent))
    return sorted(paths)


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _run_launcher(config: dict, path: Path) -> int:
    path.write_text(json.dumps(config), encoding="utf-8")
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = root
    try:
        return subprocess.run(
            [sys.executable, "-m", "autograder.sandbox", str(path)],
            env=env,
            cwd=root,
            timeout=60,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        ).returncode
    except subprocess.TimeoutExpired:
        return -9


def base_config(
    argv: list[str],
    *,
    rundir: Path,
    report: Path,
    log: Path,
    hide: list,
    readonly: list,
    env: dict,
    limits: dict,
    mode: str,
    cwd: str = "/tmp/home",
    tmp_size_mb: int = 512,
    shm_size_mb: int = 256,
    absent: list[dict] | None = None,
    binds: list | None = None,
) -> dict:
    return {
        "argv": argv,
        "mode": mode,
        "rundir": str(rundir),
        "report": str(report),
        "log": str(log),
        "log_cap": 1 << 20,
        "hide": [str(p) for p in hide],
        "readonly": [str(p) for p in readonly],
        "env": env,
        "limits": limits,
        "cwd": cwd,
        "tmp_size_mb": tmp_size_mb,
        "shm_size_mb": shm_size_mb,
        "outer_uid": "auto",
        "user_namespace": True,
        "parent": os.getpid(),  # the launcher is started by the process that writes its config
        "absent": absent or [],  # packages replaced by a stub that raises ImportError
        "binds": [list(pair) for pair in binds or []],  # (copy, original): the copy covers it
    }
