"""The sandbox's file system: what the kernel sees, built in its new mount namespace.

Everything read-only, the connection folder included (its sockets still connect); the secret places
covered by empty tmpfs; what the kernel needs (Python, the course package, the data caches) put back
read-only from descriptors opened before covering; the copies of the data that the grader made for
the sandboxes bound over the originals (``autograder.evaldata``); the packages a clean room must not
have replaced by stubs. The only writable places are private tmpfs of a fixed size (``/tmp``,
``/dev/shm``, ``/var/tmp``), in memory and in this mount namespace only: nothing a sandbox writes
reaches the grader's disk.
Used by ``autograder.sandbox`` in the child that entered the namespaces.
"""

from __future__ import annotations

import ctypes
import os
import socket
import struct

CLONE_NEWNS = 0x00020000


CLONE_NEWIPC = 0x08000000


CLONE_NEWUSER = 0x10000000


CLONE_NEWPID = 0x20000000


CLONE_NEWNET = 0x40000000


MS_RDONLY, MS_NOSUID, MS_NODEV, MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = (
    1,
    2,
    4,
    32,
    4096,
    16384,
    1 << 18,
)


SYS_MOUNT_SETATTR = 442  # same number on x86_64 and aarch64


AT_FDCWD, AT_RECURSIVE, MOUNT_ATTR_RDONLY, MOUNT_ATTR_NOSUID = -100, 0x8000, 1, 2


_libc = ctypes.CDLL(None, use_errno=True)


class SandboxError(RuntimeError):
    pass


def _check(result: int, what: str) -> None:
    if result != 0:
        code = ctypes.get_errno()
        raise SandboxError(f"{what}: {os.strerror(code)} (errno {code})")


def _mount(
    source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None
):
    _check(
        _libc.mount(
            source.encode() if source else None,
            target.encode(),
            fstype.encode() if fstype else None,
            flags,
            data.encode() if data else None,
        ),
        f"mount {target}",
    )


def _write(path: str, text: str) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def _under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def _mkdirs(path: str) -> None:
    os.makedirs(path, mode=0o755, exist_ok=True)


def _loopback_up() -> None:
    """Bring up ``lo`` in the new network namespace (local sockets work, nothing else)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        import fcntl

        iff_up, iff_loopback, iff_running = 0x1, 0x8, 0x40
        request = struct.pack("16sH14x", b"lo", iff_up | iff_loopback | iff_running)
        fcntl.ioctl(sock, 0x8914, request)  # SIOCSIFFLAGS


def _readonly_root() -> bool:
    """Make every mount read-only (kernel >= 5.12); False where the call is unavailable."""
    attr = struct.pack("QQQQ", MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID, 0, 0, 0)
    buffer = ctypes.create_string_buffer(attr, len(attr))
    result = _libc.syscall(
        SYS_MOUNT_SETATTR, AT_FDCWD, b"/", AT_RECURSIVE, buffer, ctypes.c_size_t(len(attr))
    )
    return result == 0


def _open_kept(config: dict) -> dict[str, int]:
    """O_PATH descriptors of what the kernel may see, opened before anything is covered (and, as
    root, before taking the outer user id, which may not be allowed into the grader's folders)."""
    keep = {}
    for path in [*config["readonly"], config["rundir"]]:
        if path not in keep:
            try:
                keep[path] = os.open(path, os.O_PATH | os.O_CLOEXEC)
            except OSError:
                pass  # missing: nothing to put back
    for view, _ in config.get("binds", []):
        try:
            keep[f"view:{view}"] = os.open(view, os.O_PATH | os.O_CLOEXEC)
        except OSError as error:
            raise SandboxError(f"the data copy {view} cannot be opened: {error}") from None
    return keep


def _build_filesystem(config: dict, report: dict, keep: dict[str, int]) -> None:
    """In a new mount namespace: read-only everything, cover the secrets, put back what is needed."""
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    report["readonly_root"] = _readonly_root()
    private = {"/tmp": config["tmp_size_mb"], "/dev/shm": config["shm_size_mb"], "/var/tmp": 16}
    private = {p: size for p, size in private.items() if os.path.isdir(p) and not os.path.islink(p)}
    for path, size in private.items():
        _mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, f"size={size}m,mode=1777")
    covers = []
    for path in sorted(set(config["hide"]), key=len):
        if any(_under(path, done) for done in [*covers, *private]):
            continue  # already out of sight
        if not os.path.isdir(path) or os.path.islink(path):
            continue
        _mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, "size=64k,mode=755")
        covers.append(path)
    report["hidden"] = covers
    for path, fd in keep.items():
        if path.startswith("view:"):
            continue
        if path != config["rundir"] and not any(_under(path, r) for r in [*covers, *private]):
            continue  # still visible where it is (read-only like everything else)
        if os.path.isdir(f"/proc/self/fd/{fd}"):
            _mkdirs(path)
        else:
            _mkdirs(os.path.dirname(path))
            if not os.path.exists(path):
                open(path, "w").close()  # noqa: SIM115 - a mount point for a file
        _mount(f"/proc/self/fd/{fd}", path, None, MS_BIND | MS_REC)
        # the connection folder too: read-only, its sockets still connect (Linux exempts sockets
        # from EROFS), and the sandbox writes nothing onto the grader's disk
        _mount(None, path, None, MS_BIND | MS_REMOUNT | MS_NOSUID | MS_RDONLY)
        os.close(fd)
    for path in covers:  # nothing can be created in the covers any more
        _mount(None, path, None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, "size=64k,mode=755")
    report["views"] = _bind_views(config, keep)
    report["absent"] = _remove_packages(config)
    for path in [config["cwd"], *config.get("folders", [])]:  # in the private /tmp
        _mkdirs(path)


def _bind_views(config: dict, keep: dict[str, int]) -> list[str]:
    """Cover each original data file with the grader's copy of it (read-only): the judge's held-out
    part is not in the copy, and the original is nowhere else this process can see."""
    done = []
    for view, original in config.get("binds", []):
        if not os.path.exists(original):
            continue  # not put back in this sandbox: nothing to cover
        _mount(f"/proc/self/fd/{keep[f'view:{view}']}", original, None, MS_BIND)
        _mount(None, original, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID)
        done.append(original)
    for view in {view for view, _ in config.get("binds", [])}:  # one copy may cover several paths
        os.close(keep[f"view:{view}"])
    return done


def _remove_packages(config: dict) -> list[str]:
    """Replace each package of ``config["absent"]`` (its folder, or its module file) by a stub whose
    import raises ImportError: its code is no longer on the file system this process sees."""
    done = []
    for entry in config.get("absent", []):
        path, text = entry["path"], entry["stub"].encode()
        if os.path.isdir(path) and not os.path.islink(path):
            _mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, "size=64k,mode=755")
            fd = os.open(os.path.join(path, "__init__.py"), os.O_WRONLY | os.O_CREAT, 0o644)
            os.write(fd, text)
            os.close(fd)
            _mount(None, path, None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, "size=64k")
        elif os.path.isfile(path):  # the grader wrote the stub into the connection folder
            _mount(entry["stub_file"], path, None, MS_BIND)
            _mount(None, path, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID)
        else:
            continue
        done.append(path)
    return done
