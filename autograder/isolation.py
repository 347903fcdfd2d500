"""Fences around the process that runs a submission: limits, network, folders.

Called inside that process (a forked child, or a Jupyter kernel at start-up),
before any of the student's code runs.
"""

from __future__ import annotations

import ctypes
import logging
import os
import resource
import signal
import socket
import tempfile
import warnings
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

#: The largest file a submission may write, in bytes.
MAX_FILE_BYTES = 64 * 1024 * 1024
#: Processes and threads a non-root submission may own at once.
MAX_PROCESSES = 256
#: Seconds of CPU beyond the notebook's wall-clock limit before the kernel stops it.
CPU_MARGIN_SECONDS = 10
_CLONE_NEWNET = 0x40000000


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
    if os.geteuid() != 0:  # root is exempt from RLIMIT_NPROC
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
