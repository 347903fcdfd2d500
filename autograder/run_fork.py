"""The fork executor: one warm parent, a fresh forked child per submission.

The parent imports the heavy libraries once, serves the grading dataset, reads
its batches into memory and warms Matplotlib's renderer; each child then starts
in milliseconds with all of that already in place. Children are forked only
from the loop in `run_many`, in the main thread, and watched with `select`:
the parent enforces the time and memory limits and reaps every child. `grade`
keeps this parent in a process of its own (`autograder.run_warm`).
"""

from __future__ import annotations

import contextlib
import errno
import faulthandler
import functools
import gc
import importlib
import logging
import os
import select
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from autograder.errors import KitError
from autograder.isolation import (
    Sandbox,
    close_inherited_files,
    cut_network,
    enter_sandbox,
    enter_scratch,
    forget_callers,
    kill_everything_of,
    limit_resources,
    processes_of,
    release_cpu_group,
    release_orphaned_cpu_groups,
    sandbox_available,
    sandbox_for,
    sandbox_uid,
    scrub_environment,
)
from autograder.model import (
    CellError,
    CellEvidence,
    Evidence,
    FigureEvidence,
    NamespaceFacts,
    RunOutcome,
)
from autograder.run import (
    BatchExecutor,
    RunJob,
    RunSetup,
    crash_detail,
    notebook_cells,
)
from autograder.shell import receive, run_cells, send

logger = logging.getLogger(__name__)

#: How often the parent looks at its children's clocks and memory, in seconds.
POLL_SECONDS = 0.1
_READ_BYTES = 1 << 20
#: Bytes of evidence the parent holds for one child before it stops that child.
MAX_BUFFERED_BYTES = 64 * 2**20
#: Exit status of a child whose own machinery failed (not the student's code).
_CHILD_FAILED = 70
PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")
#: What IPython's shell imports when it starts and when it first shows a
#: traceback; a child imports none of it again.
SHELL_MODULES = (
    "IPython.core.application",
    "IPython.core.completer",
    "IPython.core.completerlib",
    "IPython.core.crashhandler",
    "IPython.core.logger",
    "IPython.core.magic_arguments",
    "IPython.core.magics",
    "IPython.core.magics.ast_mod",
    "IPython.core.magics.execution",
    "IPython.core.oinspect",
    "IPython.utils.contexts",
    "IPython.utils.module_paths",
    "pygments.formatters.terminal256",
    "pygments.styles",
)


# -- warming the parent -------------------------------------------------------


def warm_parent(dataset_root: Path) -> float:
    """Import and prepare everything children share; return the seconds taken.

    Steps: import what a notebook and its shell use (`warm_imports`, at once if
    done before); serve `dataset_root` to Keras and keep its batches in memory,
    so a child's `load_data()` reads no file; then freeze every object so far
    out of the garbage collector's reach, so that a child's collections neither
    walk nor copy them.
    """
    started = time.perf_counter()
    warm_imports()

    import tensorflow as tf

    from autograder.serving import sitecustomize as serving

    serving.install(str(dataset_root))
    _keep_batches_in_memory()
    tf.keras.datasets.cifar10.load_data()

    _freeze_shared_objects()
    return time.perf_counter() - started


@functools.cache
def warm_imports() -> None:
    """Import the libraries a notebook uses and warm what its first figure needs.

    Most of a parent's start-up, and none of it depends on the dataset: import
    TensorFlow, Matplotlib and IPython; draw and render one figure, so no child
    pays the renderer's first use; load what IPython's shell loads when it
    starts and when it first shows a traceback.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

    import matplotlib

    matplotlib.use("Agg")
    import IPython  # noqa: F401
    import matplotlib_inline.backend_inline  # noqa: F401

    with _quiet_native_stderr():
        import tensorflow  # noqa: F401

    _warm_renderer()
    _warm_shell()


@contextlib.contextmanager
def _quiet_native_stderr() -> Iterator[None]:
    """Hold back what native code writes to stderr; show it only on an error.

    TensorFlow's C++ start-up notices ignore `TF_CPP_MIN_LOG_LEVEL` and would
    land in the middle of the instructor's progress bar. Being stopped (a
    signal, Ctrl-C) is no error: the notices stay held back.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    failed = False
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            yield
        except Exception:
            failed = True
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            if failed:
                held.seek(0)
                sys.stderr.write(held.read().decode("utf-8", "replace"))


def _warm_renderer() -> None:
    """Draw and render one small figure: no child pays Agg's first use."""
    import matplotlib.pyplot as plt
    import numpy as np

    figure, axes = plt.subplots(1, 2, figsize=(2, 1))
    for each in axes:
        each.imshow(np.zeros((32, 32, 3), dtype=np.uint8))
        each.set_title("warm")
    figure.savefig(os.devnull, format="png", dpi=50)
    plt.close(figure)


def _warm_shell() -> None:
    """Load what a child's shell would load on its first cell and first error.

    Creating a shell in the parent would leave it behind in every child, so
    only its modules and Matplotlib's backend lookup are loaded here.
    """
    from IPython.core.pylabtools import find_gui_and_backend

    for module in SHELL_MODULES:
        importlib.import_module(module)
    find_gui_and_backend("inline")  # reads every installed backend's entry point


def _freeze_shared_objects() -> None:
    """Keep the garbage collector of every child off the parent's objects.

    A child's full collection would otherwise visit each of the parent's
    millions of objects (TensorFlow's among them), costing tenths of a second
    and copying every memory page it touches.
    """
    gc.collect()
    gc.freeze()


def _keep_batches_in_memory() -> None:
    """Make Keras's CIFAR-10 loader read each batch file once per parent.

    The student's unchanged `load_data()` still runs Keras's own code; only the
    `load_batch` it calls answers from memory. Keras copies every batch into
    new arrays, so no child can change what the next one reads.
    """
    import keras.src.datasets.cifar10 as keras_cifar10

    read_batch: Callable[..., Any] = keras_cifar10.load_batch
    if getattr(read_batch, "kept_in_memory", False):
        return
    batches: dict[str, Any] = {}

    def load_batch(fpath: str, *args: Any, **kwargs: Any) -> Any:
        if args or kwargs:
            return read_batch(fpath, *args, **kwargs)
        if fpath not in batches:
            batches[fpath] = read_batch(fpath)
        data, labels = batches[fpath]
        return data, list(labels)

    load_batch.kept_in_memory = True  # type: ignore[attr-defined]
    keras_cifar10.load_batch = load_batch


# -- one child ----------------------------------------------------------------


@dataclass
class _Child:
    """What the parent knows about one running submission."""

    job: RunJob
    pid: int
    channel: int
    started: float
    cells: list[dict[str, Any]]
    buffer: bytearray = field(default_factory=bytearray)
    evidence: list[CellEvidence] = field(default_factory=list)
    figures: list[FigureEvidence] = field(default_factory=list)
    namespace_by_cell: dict[int, NamespaceFacts] = field(default_factory=dict)
    running_cell: int | None = None
    cell_started: float = 0.0
    finished: bool = False
    stop: tuple[RunOutcome, str] | None = None
    killed: tuple[RunOutcome, str] | None = None
    status: int | None = None
    slot: int = 0
    sandbox: Sandbox | None = None

    def take(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == "start":
            self.running_cell = int(message["index"])
            self.cell_started = time.monotonic()
        elif kind == "cell":
            cell = CellEvidence.model_validate(message["cell"])
            self.evidence.append(cell)
            self.figures.extend(
                FigureEvidence.model_validate(figure)
                for figure in message.get("figures", [])
            )
            if "namespace" in message:
                facts = NamespaceFacts.model_validate(message["namespace"])
                self.namespace_by_cell[cell.index] = facts
            self.running_cell = None
        elif kind == "stop":
            self.stop = (message["outcome"], str(message.get("detail", "")))
        elif kind == "done":
            self.finished = True


def _child_main(
    job: RunJob, channel: int, setup: RunSetup, sandbox: Sandbox | None
) -> None:
    """The forked child: fence itself in, then run the notebook. Never returns."""
    code = _CHILD_FAILED
    grader_pid = os.getppid()
    try:
        os.setsid()
        faulthandler.disable()  # a crash is the parent's to report
        for number in (signal.SIGINT, signal.SIGTERM, signal.SIGPIPE):
            signal.signal(number, signal.SIG_DFL)
        _forget_the_grader(channel)
        from autograder.isolation import die_with_parent, plain_warnings

        settings = setup.settings
        limit_resources(settings.notebook_timeout_seconds)
        cut_network()
        if sandbox is not None:
            enter_sandbox(sandbox)
        # set after the sandbox changed our user, which clears it
        die_with_parent(grader_pid)
        enter_scratch(job.scratch)
        plain_warnings()
        output_limit = settings.output_limit_bytes
        run_cells(job.notebook_json, channel, output_limit, setup.render_png)
        code = 0
    except BaseException as error:
        try:
            detail = f"the grader failed inside the run: {error!r}"
            send(channel, {"type": "stop", "outcome": "crashed", "detail": detail})
        except BaseException:
            pass
    finally:
        os._exit(code)


def _forget_the_grader(channel: int) -> None:
    """Let go of what the child inherited: files, environment, the batch."""
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    close_inherited_files(keep=[channel])
    scrub_environment()
    forget_callers(sys._getframe(2))  # the frames that forked this child


def _resident_bytes(pid: int) -> int:
    """The process's resident memory, shared pages included, in bytes."""
    try:
        fields = Path(f"/proc/{pid}/statm").read_text().split()
        return int(fields[1]) * PAGE_BYTES
    except (OSError, ValueError, IndexError):
        return 0


def _private_bytes(pid: int) -> int:
    """Memory the child owns alone (not shared with the parent), in bytes."""
    total = 0
    try:
        with Path(f"/proc/{pid}/smaps_rollup").open() as rollup:
            for line in rollup:
                if line.startswith(("Private_Clean:", "Private_Dirty:")):
                    total += int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return 0
    return total


# -- the executor -------------------------------------------------------------


class ForkExecutor(BatchExecutor):
    """Runs submissions in children forked from this warm process."""

    kind = "fork"

    def __init__(self, setup: RunSetup, *, sandboxed: bool = True) -> None:
        """`sandboxed`: fence each child in a sandbox, where the machine allows."""
        super().__init__(setup)
        self.sandboxed = sandboxed

    def __enter__(self) -> ForkExecutor:
        self.startup_seconds = warm_parent(self.setup.dataset_root)
        if not self.sandboxed or not self.setup.settings.sandbox:
            reason = "c.DataDetective.sandbox is False"
        else:
            reason = sandbox_available(self.setup.dataset_root)
        if reason:
            logger.warning(
                "submissions run without a sandbox (%s): their code can read "
                "and write whatever this user can; run the grader as root on "
                "Linux, with c.DataDetective.sandbox = True, to fence each one in",
                reason,
            )
            self.sandboxed = False
        else:
            release_orphaned_cpu_groups()
        logger.info(
            "fork executor ready in %.1f s (%s)",
            self.startup_seconds,
            "sandboxed" if self.sandboxed else "no sandbox",
        )
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        """Leave nothing behind: no process of a sandbox, none of their CPU groups."""
        if not self.sandboxed:
            return
        for slot in range(self.setup.jobs):
            uid = sandbox_uid(os.getpid(), slot)
            kill_everything_of(uid)
            release_cpu_group(uid)

    def run_many(self, jobs: Iterable[RunJob]) -> Iterator[tuple[RunJob, Evidence]]:
        """Run every job, up to `setup.jobs` at once; yield each as it finishes.

        Must be iterated from the main thread: children are forked only here.
        """
        if threading.current_thread() is not threading.main_thread():
            raise KitError(
                "the fork executor runs only in the main thread: "
                "call run_many from there, or use the kernel executor"
            )
        waiting = iter(jobs)
        running: dict[int, _Child] = {}
        try:
            yield from self._loop(waiting, running)
        finally:
            for child in running.values():
                _kill(child, ("crashed", "the grader stopped before the run ended"))
                _reap(child, block=True)
                os.close(child.channel)

    def _loop(
        self, waiting: Iterator[RunJob], running: dict[int, _Child]
    ) -> Iterator[tuple[RunJob, Evidence]]:
        exhausted = False
        while running or not exhausted:
            while not exhausted and len(running) < self.setup.jobs:
                job = next(waiting, None)
                if job is None:
                    exhausted = True
                    break
                child = self._start(job, _free_slot(running))
                running[child.channel] = child
            if not running:
                break

            readable, _, _ = select.select(list(running), [], [], POLL_SECONDS)
            for channel in readable:
                _read(running[channel])
            for channel, child in list(running.items()):
                self._watch(child)
                if child.status is not None:
                    _read(child)
                    os.close(channel)
                    del running[channel]
                    shutil.rmtree(child.job.scratch, ignore_errors=True)
                    yield child.job, self._evidence(child)

    def _start(self, job: RunJob, slot: int) -> _Child:
        job.scratch.mkdir(parents=True, exist_ok=True)
        cells = notebook_cells(job.notebook_json)
        sandbox = None
        if self.sandboxed:
            sandbox = sandbox_for(job.scratch, slot, self.setup.dataset_root)
            kill_everything_of(sandbox.uid)  # nothing left from an earlier run
        reader, writer = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(reader)
            _child_main(job, writer, self.setup, sandbox)
        os.close(writer)
        os.set_blocking(reader, False)
        logger.debug("submission %s runs in process %s", job.key, pid)
        return _Child(
            job, pid, reader, time.monotonic(), cells, slot=slot, sandbox=sandbox
        )

    def _watch(self, child: _Child) -> None:
        """Reap the child if it ended; stop it if it broke a limit."""
        if _reap(child, block=False):
            return
        now = time.monotonic()
        settings = self.setup.settings
        if now - child.started > settings.notebook_timeout_seconds:
            limit = settings.notebook_timeout_seconds
            _kill(
                child,
                (
                    "timeout",
                    f"{self._where(child)}: the notebook ran past "
                    f"its {limit:g} s limit",
                ),
            )
        elif (
            child.running_cell is not None
            and now - child.cell_started > settings.cell_timeout_seconds
        ):
            limit = settings.cell_timeout_seconds
            _kill(
                child,
                ("timeout", f"{self._where(child)} ran past its {limit:g} s limit"),
            )
        else:
            if _uses_too_much_memory(child, settings.memory_limit_bytes):
                _kill(
                    child,
                    (
                        "memory",
                        f"{self._where(child)} used more than "
                        f"{settings.memory_limit_bytes // 2**20} MiB of memory",
                    ),
                )
        if child.killed is not None:
            _reap(child, block=True)

    @staticmethod
    def _where(child: _Child) -> str:
        if child.running_cell is None:
            return "the notebook"
        return f"cell {child.running_cell}"

    def _evidence(self, child: _Child) -> Evidence:
        outcome, detail = _outcome(child)
        cells = list(child.evidence)
        if child.running_cell is not None and outcome != "completed":
            cells.append(_unfinished_cell(child, outcome, detail))
        namespace = (
            child.namespace_by_cell[max(child.namespace_by_cell)]
            if child.namespace_by_cell
            else NamespaceFacts()
        )
        seconds = time.monotonic() - child.started
        logger.debug("submission %s: %s in %.2f s", child.job.key, outcome, seconds)
        return Evidence(
            outcome=outcome,
            outcome_detail=detail,
            cells=cells,
            figures=child.figures,
            namespace=namespace,
            namespace_by_cell=child.namespace_by_cell,
            dataset_fingerprint=self.setup.dataset_fingerprint,
            executor="fork",
            seconds=round(seconds, 3),
        )


def _free_slot(running: dict[int, _Child]) -> int:
    """The lowest slot no running child holds: it picks the sandbox's user id."""
    taken = {child.slot for child in running.values()}
    return next(slot for slot in range(len(running) + 1) if slot not in taken)


def _uses_too_much_memory(child: _Child, limit: int) -> bool:
    """Whether the child (and, sandboxed, all it started) owns more than `limit`.

    The resident size, cheap to read, is never below the private size, which is
    costly to read; so the private size is read only when the resident one is
    over the limit.
    """
    if child.sandbox is None:
        pids = [child.pid]
    else:
        pids = list(processes_of(child.sandbox.uid))
    if sum(_resident_bytes(pid) for pid in pids) <= limit:
        return False
    return sum(_private_bytes(pid) for pid in pids) > limit


def _read(child: _Child) -> None:
    """Take whatever the child has written so far; a garbled stream ends it.

    A known limit: the child's code can write to this pipe itself, so a
    notebook could forge evidence; it would have to compute the true counts and
    images to gain anything. Evidence signed with a key the student's code
    cannot reach (a second process that runs the cells) would close this.
    """
    while len(child.buffer) <= MAX_BUFFERED_BYTES:
        try:
            chunk = os.read(child.channel, _READ_BYTES)
        except BlockingIOError:
            break
        except OSError as error:
            if error.errno == errno.EINTR:
                continue
            break
        if not chunk:
            break
        child.buffer.extend(chunk)
    if len(child.buffer) > MAX_BUFFERED_BYTES:
        child.buffer.clear()
        limit = MAX_BUFFERED_BYTES // 2**20
        _kill(child, ("output_limit", f"the notebook sent more than {limit} MiB"))
        return
    try:
        for message in receive(child.buffer):
            child.take(message)
    except (ValueError, KeyError, TypeError) as error:
        logger.debug("unreadable message from %s: %r", child.job.key, error)
        child.buffer.clear()
        _kill(child, ("crashed", "the notebook's process sent unreadable evidence"))


def _kill(child: _Child, reason: tuple[RunOutcome, str]) -> None:
    if child.status is not None:
        return
    if child.killed is None:
        child.killed = reason
    try:
        os.killpg(child.pid, signal.SIGKILL)
    except OSError:
        with contextlib.suppress(OSError):
            os.kill(child.pid, signal.SIGKILL)
    if child.sandbox is not None:
        kill_everything_of(child.sandbox.uid)


def _reap(child: _Child, *, block: bool) -> bool:
    """Collect the child's exit status; True once it has ended."""
    if child.status is not None:
        return True
    try:
        pid, status = os.waitpid(child.pid, 0 if block else os.WNOHANG)
    except ChildProcessError:
        child.status = -1
        return True
    if pid == 0:
        return False
    child.status = status
    with contextlib.suppress(OSError):  # what the child started goes with it
        os.killpg(child.pid, signal.SIGKILL)
    if child.sandbox is not None:  # also what left the child's session
        kill_everything_of(child.sandbox.uid)
    return True


def _outcome(child: _Child) -> tuple[RunOutcome, str]:
    if child.killed is not None:
        return child.killed
    if child.stop is not None:
        return child.stop
    status = child.status if child.status is not None else -1
    if child.finished and os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0:
        return "completed", ""
    if os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGXCPU:
        return "timeout", "the notebook used up its CPU time"
    where = (
        f"cell {child.running_cell}" if child.running_cell is not None else "the run"
    )
    return "crashed", f"{where}: {crash_detail(status)}"


def _unfinished_cell(child: _Child, outcome: RunOutcome, detail: str) -> CellEvidence:
    index = child.running_cell if child.running_cell is not None else 0
    cell = child.cells[index]
    return CellEvidence(
        index=index,
        grade_id=cell["grade_id"],
        cell_type=cell["cell_type"],
        source=cell["source"],
        error=CellError(ename=outcome.capitalize(), evalue=detail, traceback=detail),
        seconds=round(time.monotonic() - child.cell_started, 4),
    )
