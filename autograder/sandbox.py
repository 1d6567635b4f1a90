"""Start one student's kernel in a sandbox: ``python -m autograder.sandbox CONFIG.json``.

The grader (trusted) writes CONFIG.json and runs this launcher, which starts the kernel command in
``config["argv"]`` so that the student's code

- runs in its own user, mount, PID, network and IPC namespaces (Linux), as an unprivileged user:
  a user id of its own when the grader runs as root, the grader's own user id otherwise;
- sees the file system read-only, with the secret places (the course repository and its
  ``solutions/``, the batch's work folder, the submissions, the output, home folders) covered by
  empty folders; only Python, the course package ``cnnkit``, the data caches and the kernel's
  connection folder are put back, all read-only; it writes only into private tmpfs of a fixed
  size (``/tmp``, ``/dev/shm``, ``/var/tmp``: ``autograder.mounts``), never on the grader's disk;
- has no network: only a loopback interface of its own;
- has resource limits: memory (``RLIMIT_DATA``: a bigger allocation raises ``MemoryError``),
  number of processes and threads (``RLIMIT_NPROC``, counted in its own user namespace), file size,
  CPU time, open files; no core dumps;
- cannot outlive the launcher: when the kernel exits, or the launcher is killed, the PID
  namespace ends and every process the notebook started is killed with it
  (``autograder.lifetime``).

When the system does not allow namespaces (a non-root user where unprivileged user namespaces are
disabled, e.g. Ubuntu 24.04's AppArmor default), the launcher falls back to ``mode: "limits"``:
the same resource limits, a private working folder, a sub-reaper that kills whatever the notebook
left running; but no hiding of files and no network isolation. ``probe()`` says which mode works.

The launcher exits with the kernel's exit code, or 128 + the signal that killed it; 125 when the
sandbox could not be set up (the reason is in the report file).
"""

from __future__ import annotations

import json
import os
import resource
import select
import signal
import sys
import threading
from pathlib import Path

from autograder.lifetime import (
    PR_SET_DUMPABLE,
    PR_SET_NO_NEW_PRIVS,
    PR_SET_PDEATHSIG,
    SETUP_FAILED,
    die_with_parent,
    prctl,
    run_init,
    status_code,
)
from autograder.mounts import (
    CLONE_NEWIPC,
    CLONE_NEWNET,
    CLONE_NEWNS,
    CLONE_NEWPID,
    CLONE_NEWUSER,
    MS_NODEV,
    MS_NOSUID,
    SandboxError,
    _build_filesystem,
    _check,
    _libc,
    _loopback_up,
    _mount,
    _open_kept,
    _write,
)
from autograder.sandbox_config import (  # noqa: F401 - the names the grader knows them by
    base_config,
    probe,
    python_paths,
    standard_hidden,
)

INNER_UID = 1000  # the kernel's user id inside its namespaces


def _set_limits(limits: dict) -> None:
    table = {
        "data_bytes": resource.RLIMIT_DATA,
        "nproc": resource.RLIMIT_NPROC,
        "fsize_bytes": resource.RLIMIT_FSIZE,
        "cpu_seconds": resource.RLIMIT_CPU,
        "nofile": resource.RLIMIT_NOFILE,
    }
    for key, which in table.items():
        if limits.get(key):
            value = int(limits[key])
            hard = resource.getrlimit(which)[1]
            if hard != resource.RLIM_INFINITY:
                value = min(value, hard)
            resource.setrlimit(which, (value, value))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _drop_to_inner_user() -> None:
    """A nested user namespace where the kernel is an ordinary user with no capabilities at all:
    it cannot unmount the covers or reconfigure its network namespace."""
    prctl(PR_SET_DUMPABLE, 1)  # changing user ids cleared it: /proc/self/* must be ours to write
    _check(_libc.unshare(CLONE_NEWUSER), "unshare (inner user namespace)")
    _write("/proc/self/setgroups", "deny")
    _write("/proc/self/uid_map", f"{INNER_UID} 0 1")
    _write("/proc/self/gid_map", f"{INNER_UID} 0 1")
    os.setresgid(INNER_UID, INNER_UID, INNER_UID)
    os.setresuid(INNER_UID, INNER_UID, INNER_UID)


def _redirect_output(log_fd: int) -> None:
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)


def _exec_kernel(config: dict, log_fd: int) -> None:
    """The last step in the child: limits, no new privileges, then the kernel's program."""
    try:
        os.chdir(config["cwd"])
        _redirect_output(log_fd)
        prctl(PR_SET_NO_NEW_PRIVS, 1)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
        os.execve(config["argv"][0], config["argv"], config["env"])
    except BaseException as error:  # noqa: BLE001 - report and leave
        os.write(2, f"[sandbox] cannot start the kernel: {error}\n".encode())
    os._exit(SETUP_FAILED)


def _copy_capped(read_fd: int, log_path: str, cap: int) -> None:
    """Copy the kernel's stdout/stderr to the log, keeping the first ``cap`` bytes."""
    written = 0
    with open(log_path, "ab") as log:
        while True:
            try:
                chunk = os.read(read_fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            if written < cap:
                piece = chunk[: cap - written]
                log.write(piece)
                log.flush()
                written += len(piece)
                if written >= cap:
                    log.write(b"\n[sandbox] output cut here\n")
                    log.flush()


def _namespaces_child(config: dict, sync_read: int, ready_write: int, log_fd: int, report: dict):
    """The child that enters the namespaces (runs until the kernel ends)."""
    launcher = os.getppid()
    die_with_parent(launcher)
    flags = CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC
    if config.get("user_namespace", True):
        _check(_libc.unshare(flags), "unshare")
    else:  # root without user namespaces: the same, then drop to the outer user id below
        _check(_libc.unshare(flags & ~CLONE_NEWUSER), "unshare")
    os.write(ready_write, b"u")  # the parent writes our uid/gid maps now
    if os.read(sync_read, 1) != b"m":
        os._exit(SETUP_FAILED)
    keep = _open_kept(config)
    if config.get("user_namespace", True):
        if config.get("outer_uid") is not None:
            os.setgroups([])
        os.setresgid(0, 0, 0)
        os.setresuid(0, 0, 0)
    # unshare(CLONE_NEWUSER) and the new user ids cleared the parent-death signal: set it again
    # (this process is not in the new PID namespace, so its parent's PID still reads right)
    die_with_parent(launcher)
    _build_filesystem(config, report, keep)
    try:
        _loopback_up()
        report["loopback"] = True
    except OSError as error:
        report["loopback"] = f"not up: {error}"
    # Init's parent is outside its PID namespace (getppid() reads 0): it learns that this process
    # is gone from a pipe whose only writer is this process.
    lifeline_read, lifeline_write = os.pipe()
    init = os.fork()  # the first process of the new PID namespace
    if init == 0:
        try:
            os.close(lifeline_write)
            prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
            try:
                _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV)
                report["proc"] = "private"
            except SandboxError as error:
                report["proc"] = f"shared ({error})"
            _set_limits(config["limits"])
            if config.get("user_namespace", True):
                _drop_to_inner_user()
            else:
                os.setgroups([])
                os.setresgid(config["outer_uid"], config["outer_uid"], config["outer_uid"])
                os.setresuid(config["outer_uid"], config["outer_uid"], config["outer_uid"])
            prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # the new user ids cleared it
            if select.select([lifeline_read], [], [], 0)[0]:  # EOF: the parent died meanwhile
                os._exit(SETUP_FAILED)
            os.close(lifeline_read)
            report["setup"] = "ok"
            os.write(ready_write, json.dumps(report).encode() + b"\n")
            os.close(ready_write)
            os._exit(run_init(lambda: _exec_kernel(config, log_fd), None, kill_orphans=False))
        except BaseException as error:  # noqa: BLE001
            report["setup"] = f"failed: {type(error).__name__}: {error}"
            os.write(ready_write, json.dumps(report).encode() + b"\n")
            os._exit(SETUP_FAILED)
    os.close(ready_write)
    os.close(lifeline_read)
    _, status = os.waitpid(init, 0)
    os._exit(status_code(status))


def _run_namespaces(config: dict, log_fd: int) -> int:
    sync_read, sync_write = os.pipe()
    ready_read, ready_write = os.pipe()
    report = {"mode": "namespaces"}
    child = os.fork()
    if child == 0:
        os.close(sync_write)
        os.close(ready_read)
        try:
            _namespaces_child(config, sync_read, ready_write, log_fd, report)
        except BaseException as error:  # noqa: BLE001
            report["setup"] = f"failed: {type(error).__name__}: {error}"
            try:
                os.write(ready_write, b"u" + json.dumps(report).encode() + b"\n")
            except OSError:
                pass
        os._exit(SETUP_FAILED)
    os.close(sync_read)
    os.close(ready_write)
    first = os.read(ready_read, 1)
    if first == b"u" and config.get("user_namespace", True):
        try:
            uid, gid = os.getuid(), os.getgid()
            if config.get("outer_uid") is not None:  # root: any free user id
                outer_uid = outer_gid = config["outer_uid"]
            else:
                outer_uid, outer_gid = uid, gid
                _write(f"/proc/{child}/setgroups", "deny")
            _write(f"/proc/{child}/uid_map", f"0 {outer_uid} 1")
            _write(f"/proc/{child}/gid_map", f"0 {outer_gid} 1")
        except OSError as error:
            report["setup"] = f"failed: uid map: {error}"
            _write_report(config, report)
            os.kill(child, signal.SIGKILL)
            os.waitpid(child, 0)
            return SETUP_FAILED
    os.write(sync_write, b"m")
    rest = b""
    while not rest.endswith(b"\n"):
        chunk = os.read(ready_read, 65536)
        if not chunk:
            break
        rest += chunk
    try:
        report = json.loads(rest.lstrip(b"u") or b"{}")
    except json.JSONDecodeError:
        report = {"mode": "namespaces", "setup": "failed: no report"}
    _write_report(config, report)
    os.close(ready_read)
    while True:
        try:
            _, status = os.waitpid(child, 0)
            return status_code(status)
        except InterruptedError:
            continue


def _run_limits(config: dict, log_fd: int) -> int:
    """No namespaces: limits, a private folder, a sub-reaper; the kernel runs as this user."""
    report = {"mode": "limits", "setup": "ok"}
    nproc = config["limits"].get("nproc")
    if nproc:  # counted over all of this user's processes here: leave room for the others
        config["limits"]["nproc"] = nproc + _user_task_count()
    _write_report(config, report)
    launcher = os.getpid()
    init = os.fork()
    if init == 0:
        try:
            os.makedirs(config["cwd"], exist_ok=True)
            _set_limits(config["limits"])
            os._exit(run_init(lambda: _exec_kernel(config, log_fd), launcher, kill_orphans=True))
        except BaseException as error:  # noqa: BLE001
            os.write(log_fd, f"[sandbox] {error}\n".encode())
            os._exit(SETUP_FAILED)
    _, status = os.waitpid(init, 0)
    return status_code(status)


def _user_task_count() -> int:
    uid, count = os.getuid(), 0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.stat(f"/proc/{entry}").st_uid == uid:
                    count += len(os.listdir(f"/proc/{entry}/task"))
            except OSError:
                pass
    return count


def _write_report(config: dict, report: dict) -> None:
    path = config.get("report")
    if path:
        Path(path).write_text(json.dumps(report), encoding="utf-8")


def launch(config: dict) -> int:
    """Run the kernel described by ``config`` in the sandbox; return the exit code to use."""
    # The grader starts this launcher: if the grader is killed while the launcher starts up, the
    # launcher (and the kernel it would start) must not live on as orphans.
    die_with_parent(config.get("parent"))
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if config["mode"] == "namespaces" and config.get("outer_uid") == "auto":
        # root: a user id nobody uses, unique while this launcher lives (its PID is)
        config["outer_uid"] = 1_000_000 + os.getpid() if os.geteuid() == 0 else None
        if config["outer_uid"] is not None:
            os.chown(config["rundir"], config["outer_uid"], config["outer_uid"])
    read_fd, write_fd = os.pipe()
    copier = threading.Thread(
        target=_copy_capped, args=(read_fd, config["log"], config.get("log_cap", 1 << 20))
    )
    copier.daemon = True
    copier.start()
    if config["mode"] == "namespaces":
        code = _run_namespaces(config, write_fd)
    else:
        code = _run_limits(config, write_fd)
    os.close(write_fd)
    copier.join(timeout=2)
    return code


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m autograder.sandbox CONFIG.json", file=sys.stderr)
        return 2
    config = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    for procs in config.get("cgroup_procs", []):  # its CPU share (autograder.cpushare), first
        try:
            Path(procs).write_text(str(os.getpid()))
        except OSError:
            pass  # the box then counts its processes' CPU seconds itself
    return launch(config)


# --- finding out what the system allows ----------------------------------------------------


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
