"""The kernel executor: a real Jupyter kernel per submission, through nbclient.

The reference the fork executor is measured against: slower (each kernel
imports its libraries again) but exactly what a student's Jupyter runs. After
every cell a short snippet asks the kernel for that cell's evidence
(`autograder.in_kernel.emit`); the cell's outputs become its `CellEvidence`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import signal
import threading
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellTimeoutError, DeadKernelError

from autograder.config import PROJECT_ROOT
from autograder.in_kernel import EVIDENCE_MIMETYPE
from autograder.model import (
    CellError,
    CellEvidence,
    Evidence,
    FigureEvidence,
    NamespaceFacts,
    RunOutcome,
)
from autograder.run import BatchExecutor, RunJob, crash_detail, notebook_cells
from autograder.run_fork import POLL_SECONDS, _private_bytes
from autograder.serving.sitecustomize import SERVE_VARIABLE

logger = logging.getLogger(__name__)

KERNEL_NAME = "python3"
SERVING_DIR = PROJECT_ROOT / "autograder" / "serving"
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_START = (
    "__import__('autograder.in_kernel', fromlist=['start'])"
    ".start({render_png!r}, {output_limit!r}, {timeout!r})"
)
_EMIT = (
    "__import__('autograder.in_kernel', fromlist=['emit']).emit({cell!r}, {picture!r})"
)


@dataclass
class _KernelRun:
    """What one kernel's run has produced so far."""

    job: RunJob
    started: float = field(default_factory=time.monotonic)
    cells: list[CellEvidence] = field(default_factory=list)
    figures: list[FigureEvidence] = field(default_factory=list)
    namespace_by_cell: dict[int, NamespaceFacts] = field(default_factory=dict)
    outcome: RunOutcome = "completed"
    detail: str = ""
    killed: tuple[RunOutcome, str] | None = None
    running_cell: int | None = None


class KernelExecutor(BatchExecutor):
    """Runs each submission in a fresh Jupyter kernel, `jobs` kernels at once."""

    kind = "kernel"
    _pool: ThreadPoolExecutor | None = None

    def __enter__(self) -> KernelExecutor:
        started = time.perf_counter()
        self._pool = ThreadPoolExecutor(
            self.setup.jobs, thread_name_prefix="kernel-run"
        )
        self.startup_seconds = time.perf_counter() - started
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def run_many(self, jobs: Iterable[RunJob]) -> Iterator[tuple[RunJob, Evidence]]:
        """Run every job in its own kernel; yield each as soon as it finishes."""
        if self._pool is None:
            raise RuntimeError("use the kernel executor inside a `with` block")
        pending: set[Future[tuple[RunJob, Evidence]]] = {
            self._pool.submit(self.run_one, job) for job in jobs
        }
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                yield future.result()

    def run_one(self, job: RunJob) -> tuple[RunJob, Evidence]:
        """Run one notebook from start to end in a new kernel.

        Each run has an event loop of its own, closed when the run ends.
        """
        return asyncio.run(self._run_one(job))

    async def _run_one(self, job: RunJob) -> tuple[RunJob, Evidence]:
        job.scratch.mkdir(parents=True, exist_ok=True)
        run = _KernelRun(job)
        notebook = nbformat.reads(job.notebook_json, as_version=4)
        snippet_slot = len(notebook.cells)
        notebook.cells.append(nbformat.v4.new_code_cell(""))
        client = NotebookClient(
            notebook,
            kernel_name=KERNEL_NAME,
            timeout=self.setup.settings.cell_timeout_seconds,
            allow_errors=True,
            record_timing=False,
            resources={"metadata": {"path": str(job.scratch)}},
        )
        try:
            async with client.async_setup_kernel(env=self._kernel_env(job)):
                watcher = self._watch_memory(client, run)
                try:
                    await self._run_cells(client, run, snippet_slot)
                finally:
                    watcher.set()
        except Exception as error:  # the kernel would not start or died oddly
            if run.outcome == "completed":
                run.outcome, run.detail = "crashed", f"the kernel failed: {error!r}"
        return job, self._evidence(run, notebook_cells(job.notebook_json))

    def _kernel_env(self, job: RunJob) -> dict[str, str]:
        env = dict(os.environ)
        paths = [str(SERVING_DIR), str(PROJECT_ROOT), env.get("PYTHONPATH", "")]
        env.update(
            {
                SERVE_VARIABLE: str(self.setup.dataset_root),
                "PYTHONPATH": os.pathsep.join(path for path in paths if path),
                "HOME": str(job.scratch),
                "TMPDIR": str(job.scratch),
                "TF_CPP_MIN_LOG_LEVEL": "3",
            }
        )
        env.pop("MPLBACKEND", None)
        return env

    async def _run_cells(
        self, client: NotebookClient, run: _KernelRun, slot: int
    ) -> None:
        """Start the fences, then run each code cell and ask for its evidence."""
        settings = self.setup.settings
        start = _START.format(
            render_png=self.setup.render_png,
            output_limit=settings.output_limit_bytes,
            timeout=settings.notebook_timeout_seconds,
        )
        await self._snippet(client, slot, start)

        for index, cell in enumerate(client.nb.cells[:slot]):
            evidence = CellEvidence(
                index=index,
                grade_id=cell.get("metadata", {}).get("nbgrader", {}).get("grade_id"),
                cell_type=cell.cell_type,
                source=cell.source,
            )
            if cell.cell_type != "code":
                run.cells.append(evidence)
                continue
            left = settings.notebook_timeout_seconds - (time.monotonic() - run.started)
            client.timeout = int(max(1, min(settings.cell_timeout_seconds, left)))
            run.running_cell = index
            started = time.monotonic()
            try:
                await client.async_execute_cell(cell, index)
            except CellTimeoutError:
                run.cells.append(_timed_out(evidence, client.timeout, started))
                run.outcome, run.detail = "timeout", run.cells[-1].error.evalue  # type: ignore[union-attr]
                return
            except DeadKernelError:
                self._dead(client, run, evidence, started)
                return
            run.running_cell = None
            run.cells.append(_cell_evidence(evidence, cell.outputs, started))
            picture = evidence.grade_id is not None
            if not await self._collect(client, run, slot, index, picture):
                return

    async def _snippet(self, client: NotebookClient, slot: int, source: str) -> Any:
        snippet = nbformat.v4.new_code_cell(source)
        client.timeout = 30
        await client.async_execute_cell(snippet, slot, store_history=False)
        for output in snippet.outputs:
            if output.get("output_type") == "error":
                raise RuntimeError(
                    f"the grader's snippet failed in the kernel: "
                    f"{output.get('ename')}: {output.get('evalue')}"
                )
        return snippet.outputs

    async def _collect(
        self,
        client: NotebookClient,
        run: _KernelRun,
        slot: int,
        index: int,
        picture: bool,
    ) -> bool:
        """Take cell `index`'s figures and namespace; False when the run must end.

        `picture`: render the figures too (the answer cells' figures only).
        """
        source = _EMIT.format(cell=index, picture=picture)
        outputs = await self._snippet(client, slot, source)
        payload: dict[str, Any] = {}
        for output in outputs:
            if EVIDENCE_MIMETYPE in output.get("data", {}):
                payload = output["data"][EVIDENCE_MIMETYPE]
        run.figures.extend(
            FigureEvidence.model_validate(figure)
            for figure in payload.get("figures", [])
        )
        if payload.get("namespace") is not None:
            run.namespace_by_cell[index] = NamespaceFacts.model_validate(
                payload["namespace"]
            )
        if payload.get("output_limit"):
            limit = self.setup.settings.output_limit_bytes
            run.outcome = "output_limit"
            run.detail = (
                f"cell {index} wrote more than {limit} bytes of output; "
                "the rest of the notebook was not run"
            )
            return False
        return True

    def _dead(
        self,
        client: NotebookClient,
        run: _KernelRun,
        evidence: CellEvidence,
        started: float,
    ) -> None:
        if run.killed is not None:
            run.outcome, run.detail = run.killed
        else:
            status = _exit_status(client)
            run.outcome = "crashed"
            run.detail = f"cell {evidence.index}: {status}"
        error = CellError(
            ename=run.outcome.capitalize(), evalue=run.detail, traceback=run.detail
        )
        run.cells.append(
            evidence.model_copy(
                update={"error": error, "seconds": round(time.monotonic() - started, 4)}
            )
        )

    def _watch_memory(self, client: NotebookClient, run: _KernelRun) -> threading.Event:
        """Kill the kernel when it owns more memory than allowed; set to stop."""
        stop = threading.Event()
        pid = _kernel_pid(client)
        limit = self.setup.settings.memory_limit_bytes
        if pid is None:
            return stop

        def watch() -> None:
            while not stop.wait(POLL_SECONDS):
                if _private_bytes(pid) > limit:
                    where = (
                        f"cell {run.running_cell}"
                        if run.running_cell is not None
                        else "the notebook"
                    )
                    run.killed = (
                        "memory",
                        f"{where} used more than {limit // 2**20} MiB of memory",
                    )
                    _kill_group(pid)
                    return

        threading.Thread(target=watch, name="kernel-memory", daemon=True).start()
        return stop

    def _evidence(self, run: _KernelRun, cells: list[dict[str, Any]]) -> Evidence:
        namespace = (
            run.namespace_by_cell[max(run.namespace_by_cell)]
            if run.namespace_by_cell
            else NamespaceFacts()
        )
        return Evidence(
            outcome=run.outcome,
            outcome_detail=run.detail,
            cells=run.cells,
            figures=run.figures,
            namespace=namespace,
            namespace_by_cell=run.namespace_by_cell,
            dataset_fingerprint=self.setup.dataset_fingerprint,
            executor="kernel",
            seconds=round(time.monotonic() - run.started, 3),
        )


def _cell_evidence(
    evidence: CellEvidence, outputs: list[Any], started: float
) -> CellEvidence:
    """A cell's outputs as evidence: streams, displayed text and its error."""
    stdout: list[str] = []
    stderr: list[str] = []
    error = None
    for output in outputs:
        kind = output.get("output_type")
        if kind == "stream":
            (stdout if output.get("name") == "stdout" else stderr).append(
                output.get("text", "")
            )
        elif kind in ("execute_result", "display_data"):
            text = output.get("data", {}).get("text/plain")
            if text is not None:
                stdout.append(f"{text}\n")
        elif kind == "error":
            error = CellError(
                ename=output.get("ename", ""),
                evalue=output.get("evalue", ""),
                traceback=_ANSI.sub("", "\n".join(output.get("traceback", []))),
            )
    return evidence.model_copy(
        update={
            "stdout": "".join(stdout),
            "stderr": "".join(stderr),
            "error": error,
            "seconds": round(time.monotonic() - started, 4),
        }
    )


def _timed_out(evidence: CellEvidence, limit: float, started: float) -> CellEvidence:
    detail = f"cell {evidence.index} ran past its {limit:g} s limit"
    return evidence.model_copy(
        update={
            "error": CellError(ename="Timeout", evalue=detail, traceback=detail),
            "seconds": round(time.monotonic() - started, 4),
        }
    )


def _kernel_pid(client: NotebookClient) -> int | None:
    provisioner = getattr(client.km, "provisioner", None)
    process = getattr(provisioner, "process", None)
    pid = getattr(process, "pid", None)
    return pid if isinstance(pid, int) else None


def _exit_status(client: NotebookClient) -> str:
    provisioner = getattr(client.km, "provisioner", None)
    process = getattr(provisioner, "process", None)
    code = process.poll() if process is not None else None
    if code is None:
        return "the kernel stopped answering"
    if code < 0:
        return crash_detail(-code)  # a signal number is its own wait status
    return crash_detail(code << 8)


def _kill_group(pid: int) -> None:
    try:
        os.killpg(os.getpgid(pid), signal.SIGKILL)
    except OSError:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
