"""Fences around the process that runs a submission: limits, network, folders.

Called inside that process (a forked child, or a Jupyter kernel at start-up),
before any of the student's code runs.

A forked child run as root goes further, into a sandbox: a mount namespace of
its own whose root holds only what a notebook needs, read-only (the system's
folders, Python and its packages, the grading dataset) and a small writable
folder of its own; then it gives up root for a user id of its own, so that it
can neither undo the mounts nor signal, trace or read the grader. The grader's
output folder, other students' folders and the source notebook are simply not
there. Where the sandbox cannot be built (not root, no namespaces), the grader
says so once and runs without it.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import resource
import signal
import socket
import sys
import tempfile
import time
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from autograder.config import PROJECT_ROOT

logger = logging.getLogger(__name__)

#: The largest file a submission may write, in bytes.
MAX_FILE_BYTES = 64 * 1024 * 1024
#: Processes and threads a non-root submission may own at once.
MAX_PROCESSES = 256
#: Seconds of CPU beyond the notebook's wall-clock limit before the kernel stops it.
CPU_MARGIN_SECONDS = 10
_CLONE_NEWNET = 0x40000000
_CLONE_NEWNS = 0x00020000
_MS_RDONLY = 0x1
_MS_NOSUID = 0x2
_MS_NODEV = 0x4
_MS_NOEXEC = 0x8
_MS_REMOUNT = 0x20
_MS_BIND = 0x1000
_MS_REC = 0x4000
_MS_PRIVATE = 0x40000
_PR_SET_NO_NEW_PRIVS = 38

#: Sandboxed submissions run as user ids from here on, none of them a real user.
SANDBOX_UID_BASE = 100_000
#: Submissions one grader runs at once, at most, each with a user id of its own.
SANDBOX_SLOTS = 256
#: Bytes a sandboxed submission may keep in its own folder, all files together.
SCRATCH_BYTES = 2 * MAX_FILE_BYTES
#: The environment variables a submission keeps; every other one is dropped.
KEPT_ENVIRONMENT = frozenset(
    {"PATH", "LANG", "LANGUAGE", "LC_ALL", "LC_CTYPE", "TZ", "TF_CPP_MIN_LOG_LEVEL"}
)
#: The machine's folders a sandboxed notebook sees, read-only, where they exist.
SYSTEM_FOLDERS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/etc", "/opt")
#: Where each sandbox gets a CPU group of its own (cgroup v1's CPU controller).
CPU_GROUPS = Path("/sys/fs/cgroup/cpu")
#: The device files a sandboxed notebook may use.
DEVICES = ("null", "zero", "full", "random", "urandom")


class SandboxError(OSError):
    """The sandbox for a submission could not be built."""


class NetworkBlockedError(OSError):
    """Raised by every outward connection attempt in a grading process."""


def enter_scratch(scratch: Path) -> None:
    """Make `scratch` the working folder, HOME and temporary folder."""
    scratch.mkdir(parents=True, exist_ok=True)
    os.chdir(scratch)
    for name in ("HOME", "TMPDIR", "TEMP", "TMP"):
        os.environ[name] = str(scratch)
    tempfile.tempdir = None


def limit_resources(notebook_timeout_seconds: float) -> None:
    """CPU time, file size and (when it binds) process count limits."""
    cpu = int(notebook_timeout_seconds) + CPU_MARGIN_SECONDS
    _set_limit(resource.RLIMIT_CPU, cpu)
    _set_limit(resource.RLIMIT_FSIZE, MAX_FILE_BYTES)
    # A write past the size limit then fails with an OSError the student sees,
    # instead of killing the process.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    # Binds once the process is not root (root is exempt), e.g. in the sandbox.
    _set_limit(resource.RLIMIT_NPROC, MAX_PROCESSES)


def _set_limit(which: int, value: int) -> None:
    _, hard = resource.getrlimit(which)
    if hard != resource.RLIM_INFINITY:
        value = min(value, hard)
    try:
        resource.setrlimit(which, (value, hard))
    except (ValueError, OSError) as error:
        logger.debug("limit %s not set: %r", which, error)


def cut_network(private_namespace: bool = True) -> str:
    """Make every connection fail at once; say how.

    As root, the process moves to a network namespace of its own, which has no
    interfaces at all. Otherwise (or when that fails) Python's sockets refuse to
    connect anywhere but the local machine.
    """
    if private_namespace and os.geteuid() == 0:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.unshare(_CLONE_NEWNET) == 0:
            return "namespace"
        logger.debug("unshare failed: errno %s", ctypes.get_errno())
    _refuse_connections()
    return "sockets"


def _refuse_connections() -> None:
    original_connect = socket.socket.connect
    original_connect_ex = socket.socket.connect_ex

    def is_local(address: Any) -> bool:
        if isinstance(address, (str, bytes)):  # a Unix socket path
            return True
        host = address[0] if isinstance(address, tuple) and address else ""
        return host in ("127.0.0.1", "::1", "localhost")

    def connect(self: socket.socket, address: Any) -> None:
        if not is_local(address):
            raise NetworkBlockedError("network access is disabled while grading")
        original_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        if not is_local(address):
            raise NetworkBlockedError("network access is disabled while grading")
        return original_connect_ex(self, address)

    socket.socket.connect = connect  # type: ignore[method-assign,assignment]
    socket.socket.connect_ex = connect_ex  # type: ignore[method-assign,assignment]


def plain_warnings() -> None:
    """Python's own warning filters, whatever the parent process had set."""
    warnings.resetwarnings()
    warnings.filterwarnings("default", category=DeprecationWarning, module="__main__")
    for category in (
        DeprecationWarning,
        PendingDeprecationWarning,
        ImportWarning,
        ResourceWarning,
    ):
        warnings.filterwarnings("ignore", category=category)


# -- what the child inherits from the grader ------------------------------------


PR_SET_PDEATHSIG = 1


def die_with_parent(grader_pid: int, signal_number: int = signal.SIGKILL) -> None:
    """Be sent `signal_number` when the grader dies, even by SIGKILL.

    SIGKILL (for a notebook's process) ends it at once; a process that must
    clean up after itself asks for a signal it can catch.
    """
    _libc().prctl(PR_SET_PDEATHSIG, signal_number, 0, 0, 0)
    if os.getppid() != grader_pid:  # the grader died before the request took hold
        os._exit(1)


def scrub_environment() -> None:
    """Keep only the environment variables in `KEPT_ENVIRONMENT`.

    The grader's environment may hold tokens and passwords; a notebook needs
    none of them.
    """
    for name in list(os.environ):
        if name not in KEPT_ENVIRONMENT:
            del os.environ[name]


def close_inherited_files(keep: Iterable[int]) -> None:
    """Close every file descriptor but 0, 1, 2 and `keep`.

    A forked child inherits the grader's open files (log files, results being
    written, folders); an open folder would also lead out of the sandbox.
    """
    kept = sorted({0, 1, 2, *keep})
    highest = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if highest == resource.RLIM_INFINITY or highest > 1 << 20:
        highest = 1 << 20
    start = 0
    for fd in [*kept, highest]:
        if start < fd:  # closerange(n, n) would close everything from n on
            os.closerange(start, fd)
        start = fd + 1


def forget_callers(frame: FrameType | None) -> None:
    """Drop the local variables of `frame` and of every frame that called it.

    A forked child starts as a copy of the grader: the frames that forked it
    hold the whole batch (every student's notebook, the results recorded so
    far). The child never returns into them (it ends with `os._exit`), so what
    they hold can go before the student's code could walk up to it. (No
    `gc.collect()` here: touching every object would copy the parent's whole
    heap into the child.)
    """
    locals_to_fast = getattr(ctypes.pythonapi, "PyFrame_LocalsToFast", None)
    if locals_to_fast is not None:
        locals_to_fast.argtypes = [ctypes.py_object, ctypes.c_int]
    while frame is not None:
        names = frame.f_locals
        for name in list(names):
            names[name] = None
        if locals_to_fast is not None:
            locals_to_fast(frame, 0)
        frame = frame.f_back


# -- the sandbox -----------------------------------------------------------------


@dataclass(frozen=True)
class Sandbox:
    """What a sandboxed submission sees: `visible` read-only, `scratch` its own."""

    scratch: Path
    uid: int
    visible: tuple[Path, ...]


def sandbox_for(scratch: Path, slot: int, dataset_root: Path) -> Sandbox:
    """The sandbox of the submission run in `slot`, seeing `dataset_root`.

    Its user id is this grader's own (from its process id), so that graders
    running side by side never share one, nor kill each other's processes.
    """
    return Sandbox(
        scratch=scratch,
        uid=sandbox_uid(os.getpid(), slot),
        visible=tuple(visible_folders(dataset_root)),
    )


def sandbox_uid(grader_pid: int, slot: int) -> int:
    """The user id of `slot` in the grader whose process id is `grader_pid`."""
    return SANDBOX_UID_BASE + grader_pid * SANDBOX_SLOTS + slot % SANDBOX_SLOTS


def visible_folders(dataset_root: Path) -> list[Path]:
    """The folders a notebook needs: the system, Python, packages, the dataset.

    The project itself is not among them (its `source/` holds the hidden
    tests): only the grader's package is, for the imports of its own code.
    """
    wanted = [Path(name) for name in SYSTEM_FOLDERS]
    wanted += [Path(sys.base_prefix), Path(sys.prefix), PROJECT_ROOT / "autograder"]
    for entry in sys.path:
        path = Path(entry)
        if entry and path.is_absolute() and not PROJECT_ROOT.is_relative_to(path):
            wanted.append(path)
    wanted.append(dataset_root)
    folders: list[Path] = []
    for path in sorted({path.absolute() for path in wanted if path.exists()}):
        if not any(path.is_relative_to(parent) for parent in folders):
            folders.append(path)
    return folders


def enter_sandbox(sandbox: Sandbox) -> None:
    """Move this process into `sandbox`, as its user; raise `SandboxError` if not.

    Steps: a private mount namespace; a new root (a small memory file system)
    with the visible folders bound read-only, a few devices, a `/proc` that
    shows only the sandbox's own processes, and the scratch folder; then chroot
    into it and give up root for good.
    """
    try:
        _share_cpu_fairly(sandbox.uid)
        libc = _libc()
        _check(libc.unshare(_CLONE_NEWNS), "unshare the mount namespace")
        _mount(libc, None, "/", None, _MS_REC | _MS_PRIVATE)

        root = sandbox.scratch
        _mount(libc, "tmpfs", root, "tmpfs", _MS_NOSUID | _MS_NODEV, "size=1m")
        for folder in sandbox.visible:
            _bind_read_only(libc, folder, root)
        _add_devices(libc, root)
        _add_proc(libc, root)
        _add_scratch(libc, root, sandbox)
        _mount(libc, None, root, None, _MS_REMOUNT | _MS_RDONLY | _MS_NOSUID)

        os.chroot(root)
        os.chdir(sandbox.scratch)
        drop_root(sandbox.uid)
    except OSError as error:
        raise SandboxError(f"the sandbox could not be built: {error}") from error


def _share_cpu_fairly(uid: int) -> None:
    """Join a CPU group of this sandbox's own, where cgroups allow it.

    Each group gets an equal share of the processors however many processes
    it holds, so a fork bomb slows down its own run and not its neighbours'.
    """
    group = CPU_GROUPS / f"data-detective-{uid}"
    try:
        group.mkdir(exist_ok=True)
        (group / "cgroup.procs").write_text("0", encoding="ascii")
    except OSError as error:
        logger.debug("no CPU group of its own for %s: %r", uid, error)


def release_cpu_group(uid: int, wait_seconds: float = 2.0) -> None:
    """Remove the CPU group of `uid`'s sandbox once its killed processes are gone."""
    group = CPU_GROUPS / f"data-detective-{uid}"
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            group.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError as error:  # busy until the last process has exited
            if time.monotonic() > deadline:
                logger.debug("CPU group %s left in place: %r", group, error)
                return
            time.sleep(0.05)


def release_orphaned_cpu_groups() -> None:
    """Remove the empty CPU groups of graders that are no longer running.

    A grader killed outright (SIGKILL) cannot remove its groups; the next one
    does. A group still holding a process, or whose grader's process id is
    taken again, stays.
    """
    for group in CPU_GROUPS.glob("data-detective-*"):
        try:
            uid = int(group.name.rsplit("-", 1)[1])
        except ValueError:
            continue
        grader_pid = (uid - SANDBOX_UID_BASE) // SANDBOX_SLOTS
        if grader_pid <= 0 or Path(f"/proc/{grader_pid}").exists():
            continue
        with contextlib.suppress(OSError):
            group.rmdir()
            logger.debug("removed %s, left by a grader that was killed", group)


def drop_root(uid: int) -> None:
    """Become `uid` (group too, no other groups), with no way back to root."""
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)
    _check(_libc().prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "set no_new_privs")


def sandbox_available(dataset_root: Path) -> str:
    """Why a sandbox cannot be built here, or "" when it can (tried in a child)."""
    if sys.platform != "linux" or os.geteuid() != 0:
        return "the grader is not running as root on Linux"
    with tempfile.TemporaryDirectory(prefix="data-detective-probe-") as folder:
        sandbox = sandbox_for(Path(folder), 0, dataset_root)
        reader, writer = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the probe child
            _probe(reader, writer, sandbox)
        os.close(writer)
        with os.fdopen(reader, "rb") as stream:
            reason = stream.read().decode("utf-8", "replace")
        os.waitpid(pid, 0)
    release_cpu_group(sandbox.uid)
    return reason


def _probe(reader: int, writer: int, sandbox: Sandbox) -> None:
    code = 0
    try:
        os.close(reader)
        enter_sandbox(sandbox)
    except BaseException as error:
        os.write(writer, str(error).encode("utf-8") or b"unknown")
        code = 1
    finally:
        os._exit(code)


def processes_of(uid: int) -> Iterator[int]:
    """The ids of every process running as `uid`."""
    try:
        entries = list(os.scandir("/proc"))
    except OSError:
        return
    for entry in entries:
        if not entry.name.isdecimal():
            continue
        try:
            if entry.stat(follow_symlinks=False).st_uid == uid:
                yield int(entry.name)
        except OSError:
            continue


def kill_everything_of(uid: int) -> None:
    """SIGKILL every process of `uid`, also those that left their session.

    A helper child becomes `uid` and signals all it may: exactly the
    processes of that user, at once, however fast they fork.
    """
    if any(True for _ in processes_of(uid)):
        _kill_as(uid)
    with contextlib.suppress(OSError):  # busy while a killed process exits
        (CPU_GROUPS / f"data-detective-{uid}").rmdir()


def _kill_as(uid: int) -> None:
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the helper child
        code = 0
        try:
            os.setresuid(uid, uid, uid)
            os.kill(-1, signal.SIGKILL)
        except BaseException:
            code = 1
        finally:
            os._exit(code)
    os.waitpid(pid, 0)


def _libc() -> ctypes.CDLL:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mount.argtypes = [
        ctypes.c_char_p,
        ctypes.c_char_p,
        ctypes.c_char_p,
        ctypes.c_ulong,
        ctypes.c_char_p,
    ]
    return libc


def _check(result: int, what: str) -> None:
    if result != 0:
        number = ctypes.get_errno()
        raise OSError(number, f"{what}: {os.strerror(number)}")


def _mount(
    libc: ctypes.CDLL,
    source: str | Path | None,
    target: str | Path,
    kind: str | None,
    flags: int,
    options: str | None = None,
) -> None:
    def encoded(value: str | Path | None) -> bytes | None:
        return None if value is None else os.fsencode(value)

    result = libc.mount(
        encoded(source), encoded(target), encoded(kind), flags, encoded(options)
    )
    _check(result, f"mount {target}")


def _inside(root: Path, path: Path) -> Path:
    return root / path.relative_to("/")


def _bind_read_only(libc: ctypes.CDLL, folder: Path, root: Path) -> None:
    """`folder` at the same path under `root`, read-only; a symlink stays one."""
    target = _inside(root, folder)
    if folder.is_symlink():
        target.parent.mkdir(parents=True, exist_ok=True)
        target.symlink_to(folder.readlink())
        return
    target.mkdir(parents=True, exist_ok=True)
    _mount(libc, folder, target, None, _MS_BIND | _MS_REC)
    flags = _MS_REMOUNT | _MS_BIND | _MS_RDONLY | _MS_NOSUID | _MS_NODEV
    _mount(libc, None, target, None, flags)


def _add_devices(libc: ctypes.CDLL, root: Path) -> None:
    devices = root / "dev"
    devices.mkdir()
    for name in DEVICES:
        (devices / name).touch()
        _mount(libc, f"/dev/{name}", devices / name, None, _MS_BIND)
    shared = devices / "shm"
    shared.mkdir()
    flags = _MS_NOSUID | _MS_NODEV | _MS_NOEXEC
    _mount(libc, "tmpfs", shared, "tmpfs", flags, "size=16m,mode=1777")


def _add_proc(libc: ctypes.CDLL, root: Path) -> None:
    proc = root / "proc"
    proc.mkdir()
    flags = _MS_NOSUID | _MS_NODEV | _MS_NOEXEC
    _mount(libc, "proc", proc, "proc", flags, "hidepid=invisible")


def _add_scratch(libc: ctypes.CDLL, root: Path, sandbox: Sandbox) -> None:
    scratch = _inside(root, sandbox.scratch)
    scratch.mkdir(parents=True, exist_ok=True)
    options = f"size={SCRATCH_BYTES},mode=0700,uid={sandbox.uid},gid={sandbox.uid}"
    _mount(libc, "tmpfs", scratch, "tmpfs", _MS_NOSUID | _MS_NODEV, options)
