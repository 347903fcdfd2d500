"""Run each submission in a process of its own and capture its evidence.

Two executors share one interface. `fork` (the default) forks a fresh child per
submission from a warm parent, a process of its own that starts importing as
soon as it is asked for (`autograder.run_warm`); `kernel` (the reference)
starts a real Jupyter kernel per submission through nbclient. Both run the
notebook on the grading dataset, under the same limits, and yield the same
`Evidence`.
"""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from pydantic import Field

from autograder.config import KitSettings
from autograder.errors import UsageError
from autograder.model import CellEvidence, Evidence, Model

if TYPE_CHECKING:
    from autograder.run_warm import WarmRunner

ExecutorKind = Literal["fork", "kernel"]


class RunJob(Model):
    """One notebook to run: `key` names it in the results, `scratch` is its folder."""

    key: str
    notebook_json: str
    scratch: Path


class Executor(Protocol):
    """Runs jobs, up to its `jobs` at once, yielding each as soon as it finishes."""

    startup_seconds: float

    def run_many(self, jobs: Iterable[RunJob]) -> Iterator[tuple[RunJob, Evidence]]: ...


class RunSetup(Model):
    """What every notebook of a batch runs with.

    `dataset_root` holds `cifar-10-batches-py/`; every notebook's `load_data()`
    reads it. `settings` holds the limits, `jobs` how many notebooks run at
    once. `render_png` adds a small picture of every figure to the evidence,
    for the feedback page.
    """

    dataset_root: Path
    dataset_fingerprint: str
    settings: KitSettings
    jobs: int = Field(default=1, ge=1)
    render_png: bool = True


class BatchExecutor:
    """What both executors keep: their setup, and how long they took to start."""

    def __init__(self, setup: RunSetup) -> None:
        self.setup = setup
        self.startup_seconds = 0.0


def open_executor(
    kind: ExecutorKind, setup: RunSetup, *, runner: WarmRunner | None = None
) -> AbstractContextManager[Executor]:
    """An executor of `kind`, ready to use in a `with` block.

    `runner`, for `fork`, is a warm runner started earlier; without one, one
    is started now.
    """
    if kind == "fork":
        from autograder.run_warm import WarmRunner

        return (runner or WarmRunner()).open(setup)
    if kind == "kernel":
        from autograder.run_kernel import KernelExecutor

        return KernelExecutor(setup)
    raise UsageError(f"unknown executor {kind!r}: choose 'fork' or 'kernel'")


def with_written_answers(evidence: Evidence, notebook_json: str) -> Evidence:
    """`evidence` with every markdown cell of the notebook, also those after a stop.

    A run that timed out or crashed records no cell after the one that stopped
    it; the student's written answers below it are still theirs to be graded.
    """
    recorded = {cell.index for cell in evidence.cells}
    missing = [
        CellEvidence(
            index=index,
            grade_id=cell["grade_id"],
            cell_type="markdown",
            source=cell["source"],
        )
        for index, cell in enumerate(notebook_cells(notebook_json))
        if cell["cell_type"] == "markdown" and index not in recorded
    ]
    if not missing:
        return evidence
    cells = sorted([*evidence.cells, *missing], key=lambda cell: cell.index)
    return evidence.model_copy(update={"cells": cells})


def notebook_cells(notebook_json: str) -> list[dict[str, Any]]:
    """The cells of an nbformat 4 notebook, sources joined into one string."""
    cells = json.loads(notebook_json).get("cells", [])
    return [
        {
            "cell_type": cell.get("cell_type", "raw"),
            "source": _joined(cell.get("source", "")),
            "grade_id": cell.get("metadata", {}).get("nbgrader", {}).get("grade_id"),
        }
        for cell in cells
    ]


def _joined(source: str | list[str]) -> str:
    return source if isinstance(source, str) else "".join(source)


def crash_detail(status: int) -> str:
    """How a process ended, from its `waitpid` status, in a TA's words."""
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        try:
            name = signal.Signals(number).name
        except ValueError:
            name = f"signal {number}"
        return f"the process was killed by {name}"
    if os.WIFEXITED(status):
        return f"the process exited with status {os.WEXITSTATUS(status)}"
    return "the process ended for an unknown reason"
