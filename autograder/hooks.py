"""Grading from inside a running notebook: the source notebook's hidden tests.

Under `nbgrader autograde` each graded code step ends with
`grade_step("<check id>", globals())`. The hook builds the same `Evidence` the
grader's own executor would, from the live kernel, runs the same check, prints
the student's message and returns the points, which nbgrader takes as the test
cell's partial credit.

What the live kernel can give differs from a recorded run in two ways. Figures
that a backend closed after `plt.show()` are found through the variables that
still hold them (`fig`, `axes`, ...). Printed output is gone once a cell ends,
so the counting cell (the cell run just before the test) is run again, in a
copy of the namespace, to read what it prints.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from autograder.capture import figure_evidence, namespace_facts, open_figures
from autograder.checks import CHECKS, points_from_source
from autograder.config import load_settings
from autograder.dataset import prepare, truth
from autograder.model import CLASS_NAMES, CellEvidence, CheckId, Evidence
from autograder.serving.sitecustomize import SERVE_VARIABLE
from autograder.truth import DatasetTruth

if TYPE_CHECKING:
    from matplotlib.figure import Figure

# Only debug records: a kernel that writes to stderr loses the test cell's points.
logger = logging.getLogger(__name__)

#: The checks a hidden test can run: the code steps.
HOOK_CHECKS: tuple[CheckId, ...] = ("counts", "grid", "tricky")
COUNTS_CELL = "step2_counts"
KERAS_FINGERPRINT = "keras-load-data"
GRADER_TROUBLE = (
    "The grader could not check this step here; your teacher will look at it."
)


def grade_step(check_id: str, namespace: dict[str, object]) -> float:
    """Run check `check_id` on the live notebook; print its message, return points.

    Never raises: a hidden test that fails shows its code to the student, so any
    trouble becomes a neutral message and no points, for a person to look at.
    """
    try:
        check = next((known for known in HOOK_CHECKS if known == check_id), None)
        if check is None:
            print(f"There is no automatic check called {check_id!r}.")
            return 0.0
        if not all(name in namespace for name in ("x_train", "y_train")):
            print("The training data is not loaded: run the setup cell first.")
            return 0.0
        reference = reference_truth()
        evidence = live_evidence(check_id, namespace, reference)
        result = CHECKS[check](evidence, reference, reference, _max_points()[check])
    except Exception as error:  # the hook must not fail the student's notebook
        logger.debug("grade_step(%s) failed: %r", check_id, error)
        print(GRADER_TROUBLE)
        return 0.0
    print(result.message)
    return result.points


@cache
def _max_points() -> dict[CheckId, float]:
    return points_from_source(load_settings().source_notebook)


@cache
def reference_truth() -> DatasetTruth:
    """The truth of the dataset this kernel's `load_data()` reads, read afresh.

    Never taken from the notebook's own `x_train` and `y_train`, which the
    student's code may have replaced. Under the kit's grading the dataset is the
    one served through `DATA_DETECTIVE_SERVE`; under a plain `nbgrader autograde`
    it is whatever Keras's `cifar10.load_data()` reads on this machine.
    """
    served = os.environ.get(SERVE_VARIABLE)
    if served:
        return truth(prepare(Path(served)))
    from keras.datasets import cifar10

    (x_train, y_train), _ = cifar10.load_data()
    return DatasetTruth.from_arrays(
        x_train, y_train.ravel(), list(CLASS_NAMES), KERAS_FINGERPRINT
    )


def live_evidence(
    check_id: str, namespace: dict[str, object], truth: DatasetTruth
) -> Evidence:
    """What the check needs, gathered from the live kernel."""
    cells = []
    if check_id == "counts":
        cells = _rerun_answer_cell(namespace)
    return Evidence(
        outcome="completed",
        cells=cells,
        figures=[figure_evidence(figure, -1) for figure in live_figures(namespace)],
        namespace=namespace_facts(namespace),
        dataset_fingerprint=truth.fingerprint,
        executor="nbgrader",
    )


def live_figures(namespace: Mapping[str, object]) -> list[Figure]:
    """Figures still open, and figures kept in variables after a backend closed them."""
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    found: dict[int, Figure] = {id(figure): figure for figure in open_figures()}
    for name, value in list(namespace.items()):
        if name.startswith("_"):
            continue
        candidates: list[Any] = [value]
        if isinstance(value, np.ndarray) and value.dtype == object:
            candidates = list(value.flat)
        for candidate in candidates:
            figure = candidate.figure if isinstance(candidate, Axes) else candidate
            if isinstance(figure, Figure):
                found.setdefault(id(figure), figure)
    return list(found.values())


def _rerun_answer_cell(namespace: dict[str, object]) -> list[CellEvidence]:
    """The cell run before this test, run again in a copy of the namespace.

    IPython keeps every cell's source in `In`; its printed output it does not
    keep, so this is the only way to see what the counting cell prints.
    """
    history = namespace.get("In")
    if not isinstance(history, list) or len(history) < 2:
        return []
    source = str(history[-2])
    if "grade_step" in source:
        return []

    printed = io.StringIO()
    before = {id(figure) for figure in open_figures()}
    try:
        with contextlib.redirect_stdout(printed):
            exec(compile(source, "<answer cell>", "exec"), dict(namespace))
    except Exception as error:  # the first run succeeded; keep what was printed
        logger.debug("re-running the answer cell failed: %r", error)
    _close_new_figures(before)
    return [
        CellEvidence(
            index=len(history) - 2,
            grade_id=COUNTS_CELL,
            cell_type="code",
            source=source,
            stdout=printed.getvalue(),
        )
    ]


def _close_new_figures(before: set[int]) -> None:
    import matplotlib.pyplot as plt

    for figure in open_figures():
        if id(figure) not in before:
            plt.close(figure)
