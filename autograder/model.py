"""The values that pass from one step of grading to the next.

Each step hands the next a plain, typed value that survives a trip through JSON:
intake yields a `Submission`, repair a `RepairedNotebook`, run an `Evidence`,
check a list of `CheckResult`, and record a `SubmissionResult`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

#: CIFAR-10's classes in the order of their labels 0-9: the lesson's `class_names`.
CLASS_NAMES: tuple[str, ...] = (
    "airplane", "automobile", "bird", "cat", "deer",
    "dog", "frog", "horse", "ship", "truck",
)  # fmt: skip

CheckId = Literal["predictions", "counts", "grid", "tricky", "report"]
CHECK_IDS: tuple[CheckId, ...] = ("predictions", "counts", "grid", "tricky", "report")

CheckStatus = Literal["passed", "partial", "failed", "error", "not_run"]
SubmissionStatus = Literal["graded", "ungradable"]


class Model(BaseModel):
    """Immutable, strict and JSON-friendly: the base of every contract value."""

    model_config = ConfigDict(frozen=True, extra="forbid")


# -- intake ---------------------------------------------------------------------


class Submission(Model):
    """One handed-in notebook, found and read but not yet trusted."""

    student_id: str
    source_file: str  # as the instructor named it: a path, or `archive.zip!member`
    sha256: str  # of the bytes handed in
    notebook_json: str | None  # upgraded to nbformat 4; None when unreadable
    problem: str | None = None  # why the file cannot be graded, for the student
    notes: list[str] = Field(default_factory=list)  # e.g. "newer file replaced ..."


# -- repair ---------------------------------------------------------------------


class Health(Model):
    """How far the handed-in notebook had drifted from the release."""

    missing: list[str] = Field(default_factory=list)  # grade ids not found
    duplicated: list[str] = Field(default_factory=list)  # grade ids seen twice
    retyped: list[str] = Field(default_factory=list)  # e.g. code turned markdown
    restored: list[str] = Field(default_factory=list)  # locked/test cells put back
    matched_by_content: list[str] = Field(default_factory=list)  # metadata lost
    extra_cells: int = 0  # the student's own cells, kept


class RepairedNotebook(Model):
    notebook_json: str  # nbformat 4, test and setup cells as in the source
    health: Health


# -- run ------------------------------------------------------------------------


class ImageEvidence(Model):
    """One `imshow` (or equivalent) image inside an axes."""

    shape: list[int]
    dtype: str
    key: str | None  # `autograder.fingerprint.image_key`; None when not 32x32x3


class AxesEvidence(Model):
    title: str
    images: list[ImageEvidence]
    axis_on: bool


class FigureEvidence(Model):
    """A figure that was shown (or left open) when a cell finished."""

    number: int
    cell: int  # index of the cell after which it was captured
    axes: list[AxesEvidence]
    png_base64: str | None = None  # small rendering, for the feedback page


class CellError(Model):
    ename: str
    evalue: str
    traceback: str  # plain text, no ANSI colours


class CellEvidence(Model):
    index: int
    grade_id: str | None
    cell_type: Literal["code", "markdown", "raw"]
    source: str
    stdout: str = ""
    stderr: str = ""
    error: CellError | None = None
    seconds: float = 0.0


class NamespaceFacts(Model):
    """What the checks look for in the student's namespace, as plain data."""

    # every 10-long sequence of whole numbers (list, tuple, ndarray, Series) and
    # every mapping of 10 entries to whole numbers, by variable name; mapping keys
    # are kept as strings
    int_sequences: dict[str, list[int]] = Field(default_factory=dict)
    int_mappings: dict[str, dict[str, int]] = Field(default_factory=dict)
    # whole-number scalars (a cited image index, for example)
    ints: dict[str, int] = Field(default_factory=dict)
    # arrays' shapes by name (a tricky-image measure over all images, for example)
    array_shapes: dict[str, list[int]] = Field(default_factory=dict)
    class_names: list[str] | None = None


RunOutcome = Literal["completed", "timeout", "crashed", "memory", "output_limit"]


class Evidence(Model):
    """Everything the checks may use about one run of one submission."""

    outcome: RunOutcome
    outcome_detail: str = ""  # for the TA: which cell timed out, the signal...
    cells: list[CellEvidence]
    figures: list[FigureEvidence]
    namespace: NamespaceFacts  # after the last cell that ran
    namespace_by_cell: dict[int, NamespaceFacts] = Field(default_factory=dict)
    dataset_fingerprint: str  # the dataset the notebook ran on
    executor: Literal["fork", "kernel", "nbgrader"]
    seconds: float = 0.0


# -- check ----------------------------------------------------------------------


class CheckResult(Model):
    id: CheckId
    points: float
    max_points: float
    status: CheckStatus
    message: str  # for the student, in the lesson's words
    note: str = ""  # for the TA only
    needs_review: bool = False  # the check could not decide with confidence
    quoted: str = ""  # the student's sentence the check used, for highlighting


# -- record ---------------------------------------------------------------------


class Manifest(Model):
    kit_version: str
    dataset_fingerprint: str
    seen_dataset_fingerprint: str  # what the report is judged against
    libraries: dict[str, str]


class Override(Model):
    check_id: CheckId
    points: float
    reason: str
    by: str = ""
    autograder_points: float | None = None  # the check's points before; set on apply


class SubmissionResult(Model):
    student_id: str
    source_file: str
    sha256: str
    status: SubmissionStatus
    reason: str = ""  # why ungradable, for the student
    score: float
    max_score: float
    health: Health
    checks: list[CheckResult]
    timings: dict[str, float] = Field(default_factory=dict)
    manifest: Manifest
    notes: list[str] = Field(default_factory=list)
    autograder_score: float | None = None  # before any TA override
    overrides: list[Override] = Field(default_factory=list)


#: Where each check's points live: the nbgrader grade id of its graded cell in the
#: source notebook. The cell's `points` metadata is the check's maximum.
GRADED_CELL: dict[CheckId, str] = {
    "predictions": "step1_predictions",
    "counts": "step2_counts_test",
    "grid": "step3_grid_test",
    "tricky": "tricky_measure_test",
    "report": "step4_report",
}

#: The answer cell each check reads: where the student wrote what the check judges,
#: and where nbgrader keeps the check's comment.
ANSWER_CELL: dict[CheckId, str] = {
    "predictions": "step1_predictions",
    "counts": "step2_counts",
    "grid": "step3_grid",
    "tricky": "tricky_measure",
    "report": "step4_report",
}

#: Put at the start of a `counts` check's `note` when the counts matched the
#: dataset the student saw but not the grading variant: the class summary lists
#: such submissions as suspected hard-coding for a TA to look at.
HARD_CODING_MARK = "suspected hard-coding:"
