"""The lifetime of a sandbox's processes: none outlives the launcher (``autograder.sandbox``).

Each process of the launcher's chain gets SIGKILL when its parent dies (``die_with_parent``; set
again after every change of user ids, which clears it). The kernel's parent is an init
(``run_init``) that reaps every orphan: in a PID namespace its end kills every process left there;
without one (``kill_orphans``) it is a sub-reaper, gets SIGTERM when its parent dies, and kills
every process below it itself.
"""

from __future__ import annotations

import os
import signal

from autograder.mounts import _libc

PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_SET_NO_NEW_PRIVS, PR_SET_CHILD_SUBREAPER = 1, 4, 38, 36
SETUP_FAILED = 125  # the launcher's exit code when the sandbox could not be set up


def prctl(option: int, value: int) -> None:
    _libc.prctl(option, value, 0, 0, 0)


def die_with_parent(parent: int | None = None) -> None:
    """Get SIGKILL when the parent dies; exit now if it already has.

    ``parent``: the PID the parent had, when the caller knows it. Read here instead, a parent that
    died before this line would go unnoticed (the orphan's parent is then init or a sub-reaper).
    """
    parent = os.getppid() if parent is None else parent
    prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:
        os._exit(SETUP_FAILED)


def status_code(status: int) -> int:
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status) if os.WIFEXITED(status) else SETUP_FAILED


def run_init(start, launcher: int | None, kill_orphans: bool) -> int:
    """Fork and ``start()`` the kernel in the child (``start`` never returns); wait for it, reaping
    every orphan; return the kernel's status code. ``launcher``: the PID of this process's parent.

    In a PID namespace this process is its init: when it returns, the kernel kills every process
    left in the namespace. Without one (``kill_orphans``) it is a sub-reaper and kills them itself.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # interrupts are for the kernel only
    if kill_orphans:
        prctl(PR_SET_CHILD_SUBREAPER, 1)
        # No PID namespace ends the orphans when this process dies: its parent's death sends
        # SIGTERM instead of SIGKILL, and it kills them all first.
        signal.signal(signal.SIGTERM, _end_all)
        prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != launcher:
            _end_all()
    kernel = os.fork()
    if kernel == 0:
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        start()
    code = SETUP_FAILED
    while True:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            break
        if pid == kernel:
            code = status_code(status)
            break
    if kill_orphans:
        kill_descendants()
    return code


def _end_all(*_) -> None:
    kill_descendants()
    os._exit(128 + signal.SIGKILL)


def kill_descendants() -> None:
    """SIGKILL every process whose parent chain leads here (orphans were re-parented to us)."""
    me = os.getpid()
    for _ in range(50):
        children = _children_of(me)
        if not children:
            return
        for pid in children:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            while os.waitpid(-1, os.WNOHANG)[0]:
                pass
        except ChildProcessError:
            pass


def _children_of(parent: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                stat = handle.read()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2 :].split()
        if int(fields[1]) == parent:
            found.append(int(entry))
    return found
