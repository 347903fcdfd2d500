"""One feedback page per student: what each step earned, and what to do next.

The page is a single self-contained HTML file (styles and images inline) that a
student can open offline. It shows the total, every check with its points and
message, the student's own figures and text with the parts a check used marked,
the lesson's hint beside each step that fell short, and the error beside the step
whose cell stopped. It never shows test cells' code or tracebacks, the TA's
notes, or the counts of the grading variant.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup, escape

from autograder.hints import hint_for
from autograder.model import (
    ANSWER_CELL,
    CHECK_IDS,
    GRADED_CELL,
    CellError,
    CellEvidence,
    CheckId,
    CheckResult,
    Evidence,
    FigureEvidence,
    Override,
    SubmissionResult,
)

logger = logging.getLogger(__name__)

STEP_TITLES: dict[CheckId, str] = {
    "predictions": "Step 1: predict before you look",
    "counts": "Step 2: count the images of every class",
    "grid": "Step 3: one image of every class",
    "tricky": "Hunt for tricky images",
    "report": "Step 4: the data report",
}

#: The lesson's hint for a step that fell short: what to do, never the answer.
HINTS: dict[CheckId, str] = {
    "predictions": (
        "Before you count anything, name three classes you expect a model to "
        "confuse most, give a reason for each in your own words, and say whether "
        "you think the ten classes have the same number of training images."
    ),
    "counts": (
        "y_train holds one label (0 to 9) for every training image. Count how "
        "often each label occurs, keep the ten numbers in `counts` in the order of "
        "`class_names`, and print one line per class as `name: count`."
    ),
    "grid": (
        "Make one figure of 2 rows and 5 columns. For each class, pick a training "
        "image whose label is that class, show it with `imshow`, title the axes "
        "with the class name and turn the axes off."
    ),
    "tricky": (
        "Give every training image a `sharpness`: the mean absolute difference "
        "between neighbouring pixels. Choose a class in `chosen_class`, keep its 5 "
        "least sharp images in `suspects`, show them titled by their index, and "
        "put the index you write about in `tricky_index`."
    ),
    "report": (
        "Fill in every blank with what your notebook showed: the most and the "
        "least common class with their counts, a class you expect to be hard and "
        "why, and the index and class of an image that looked ambiguous, with why."
    ),
}

#: What a student can do when the whole notebook could not be graded.
UNGRADABLE_NEXT_STEPS = (
    "Open your notebook, run every cell from the top (Runtime > Run all in Colab, "
    "Run > Run All Cells in Jupyter) and check that it finishes without errors.",
    "Download it as a notebook file (.ipynb), not as PDF, HTML or .py, and hand "
    "that file in again.",
    "If it still cannot be graded, show this page to your TA.",
)

OUTCOME_NOTICES = {
    "timeout": "Your notebook ran out of time, so the cells after that point did "
    "not run. Look for a loop that runs much longer than it needs to.",
    "crashed": "Your notebook stopped unexpectedly, so the cells after that point "
    "did not run.",
    "memory": "Your notebook used more memory than allowed, so the cells after "
    "that point did not run. Avoid copying the whole training set many times.",
    "output_limit": "Your notebook printed more than allowed, so the cells after "
    "that point did not run. Print a summary rather than every value.",
}

FALLING_SHORT = frozenset({"partial", "failed", "error", "not_run"})
TRACEBACK_LINES = 6
FIGURES_PER_STEP = 3
#: Numbers at least this large that the notebook computed on the grading
#: variant are kept off the page, so the variant's class counts never leak.
SECRET_NUMBER_MIN = 100
#: A whole number as people and programs write it: 4793, 4,793, 4.793, 4 793, 4_793.
WHOLE_NUMBER = re.compile(
    r"(?<![\d.,_])\d{1,3}(?:[,._ \u00a0\u202f]\d{3})+(?![\d_])|(?<![\d.])\d+(?![\d.])"
)


@dataclass(frozen=True)
class Passage:
    """A piece of the student's own text, marked when a check used it."""

    text: str
    marked: bool


@dataclass(frozen=True)
class ShownError:
    cell: str
    heading: str  # `ename: evalue`
    lines: list[str]  # the traceback's last lines; empty for test cells
    hint: str = ""  # the lesson's advice for this kind of error


@dataclass
class Step:
    """Everything one section of the page shows about one check."""

    check: CheckResult
    title: str
    hint: str | None
    override: Override | None  # carries the autograder's points before it
    errors: list[ShownError] = field(default_factory=list)
    figures: list[str] = field(default_factory=list)  # png base64
    answer: list[Passage] = field(default_factory=list)


@cache
def page_environment() -> Environment:
    """The Jinja environment for the kit's pages: autoescaped, strict."""
    environment = Environment(
        loader=PackageLoader("autograder", "templates"),
        autoescape=select_autoescape(default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    environment.filters["code_spans"] = code_spans
    return environment


def write_feedback(
    result: SubmissionResult, evidence: Evidence | None, path: Path
) -> Path:
    """Write the student's feedback page to `path` and return it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    html = render_feedback(result, evidence)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(html, encoding="utf-8")
    partial.replace(path)
    logger.debug("feedback for %s written to %s", result.student_id, path)
    return path


def render_feedback(result: SubmissionResult, evidence: Evidence | None) -> str:
    """The feedback page for `result`, as HTML text."""
    secret = _secret_numbers(result, evidence)
    steps = [
        _step(check, result, evidence, secret) for check in _in_lesson_order(result)
    ]
    setup_errors = _errors_before_first_step(evidence, secret)
    notice = OUTCOME_NOTICES.get(evidence.outcome) if evidence else None
    return (
        page_environment()
        .get_template("feedback.html")
        .render(
            result=result,
            handed_in=_handed_in_name(result.source_file),
            steps=steps,
            setup_errors=setup_errors,
            outcome_notice=notice,
            next_steps=UNGRADABLE_NEXT_STEPS,
            health_lines=_health_lines(result),
            points=format_points,
        )
    )


def _handed_in_name(source_file: str) -> str:
    """The file's own name, without the folders it sat in on the grader's disk."""
    return source_file.replace("\\", "/").rsplit("/", 1)[-1]


def code_spans(text: str) -> Markup:
    """`text` escaped, with its `backquoted` parts shown as code."""
    parts = str(escape(text)).split("`")
    if len(parts) % 2 == 0:
        return Markup("`".join(parts))
    return Markup(
        "".join(
            f"<code>{part}</code>" if position % 2 else part
            for position, part in enumerate(parts)
        )
    )


def format_points(value: float) -> str:
    """Points as people write them: 3, 1.5."""
    return f"{value:g}"


# -- one step --------------------------------------------------------------------


def _in_lesson_order(result: SubmissionResult) -> list[CheckResult]:
    order = {check_id: position for position, check_id in enumerate(CHECK_IDS)}
    return sorted(result.checks, key=lambda check: order[check.id])


def _step(
    check: CheckResult,
    result: SubmissionResult,
    evidence: Evidence | None,
    secret: frozenset[int],
) -> Step:
    """Gather what the page shows about `check`: message, hint, errors, work."""
    override = next((o for o in result.overrides if o.check_id == check.id), None)
    step = Step(
        check=check.model_copy(update={"message": hide_numbers(check.message, secret)}),
        title=STEP_TITLES[check.id],
        hint=HINTS[check.id] if check.status in FALLING_SHORT else None,
        override=override,
    )
    if evidence is None:
        return step

    cells = cells_of_step(evidence, check.id)
    step.errors = [
        _without_repeats(_shown_error(cell, cell.error, secret), step.check.message)
        for cell in cells
        if cell.error
    ]
    step.figures = _figures(evidence.figures, {cell.index for cell in cells})
    if check.id in ("predictions", "report"):
        answer = _answer_cell(evidence, check.id)
        if answer is not None:
            step.answer = mark_quoted(answer.source, check.quoted)
    return step


def step_of_cells(evidence: Evidence) -> dict[int, CheckId | None]:
    """Each cell's step: its own, or that of the nearest step cell before it.

    Cells before the first step's cells (the setup) belong to no step.
    """
    step_by_grade_id: dict[str, CheckId] = {}
    for check_id in CHECK_IDS:
        step_by_grade_id[ANSWER_CELL[check_id]] = check_id
        step_by_grade_id[GRADED_CELL[check_id]] = check_id
    current: CheckId | None = None
    steps: dict[int, CheckId | None] = {}
    for cell in sorted(evidence.cells, key=lambda cell: cell.index):
        if cell.grade_id in step_by_grade_id:
            current = step_by_grade_id[cell.grade_id]
        elif cell.grade_id == "setup":
            current = None
        steps[cell.index] = current
    return steps


def cells_of_step(evidence: Evidence, check_id: CheckId | None) -> list[CellEvidence]:
    steps = step_of_cells(evidence)
    return [cell for cell in evidence.cells if steps[cell.index] == check_id]


def _answer_cell(evidence: Evidence, check_id: CheckId) -> CellEvidence | None:
    grade_id = ANSWER_CELL[check_id]
    return next((cell for cell in evidence.cells if cell.grade_id == grade_id), None)


def _figures(figures: Sequence[FigureEvidence], cells: set[int]) -> list[str]:
    shown = [
        figure.png_base64
        for figure in figures
        if figure.cell in cells and figure.png_base64
    ]
    return shown[:FIGURES_PER_STEP]


def _errors_before_first_step(
    evidence: Evidence | None, secret: frozenset[int]
) -> list[ShownError]:
    if evidence is None:
        return []
    return [
        _shown_error(cell, cell.error, secret)
        for cell in cells_of_step(evidence, None)
        if cell.error
    ]


def _shown_error(
    cell: CellEvidence, error: CellError, secret: frozenset[int]
) -> ShownError:
    """The error as the student may see it; a test cell shows only its kind.

    A test cell's message and traceback can quote hidden test code or the
    grading variant, so they stay with the TA.
    """
    name = cell.grade_id or f"cell {cell.index + 1}"
    if cell.grade_id in GRADED_CELL.values() and cell.cell_type == "code":
        return ShownError(
            cell=name,
            heading=f"{error.ename} in the step's self-check cell",
            lines=[],
        )
    lines = [line for line in error.traceback.splitlines() if line.strip()]
    heading = f"{error.ename}: {error.evalue}" if error.evalue else error.ename
    return ShownError(
        cell=name,
        heading=hide_numbers(heading, secret),
        lines=[hide_numbers(line, secret) for line in lines[-TRACEBACK_LINES:]],
        hint=hide_numbers(hint_for(error), secret),
    )


def _without_repeats(error: ShownError, message: str) -> ShownError:
    """`error` without the lines the step's message or its heading already say."""
    lines = [line for line in error.lines if line not in error.heading]
    hint = error.hint if error.hint not in message else ""
    return replace(error, lines=lines, hint=hint)


# -- the student's text, marked --------------------------------------------------


def mark_quoted(text: str, quoted: str) -> list[Passage]:
    """Split `text` into passages, marking each line of `quoted` found in it.

    A quote is found even when its spacing or line breaks differ from the text.
    """
    spans: list[tuple[int, int]] = []
    for quote in (line.strip() for line in quoted.splitlines()):
        if not quote:
            continue
        pattern = r"\s+".join(re.escape(word) for word in quote.split())
        found = re.search(pattern, text)
        if found is None:
            found = re.search(pattern, text, flags=re.IGNORECASE)
        if found is not None:
            spans.append(found.span())
    return _passages(text, _merged(spans))


def _merged(spans: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def _passages(text: str, spans: Sequence[tuple[int, int]]) -> list[Passage]:
    passages: list[Passage] = []
    position = 0
    for start, end in spans:
        if start > position:
            passages.append(Passage(text[position:start], marked=False))
        passages.append(Passage(text[start:end], marked=True))
        position = end
    if position < len(text):
        passages.append(Passage(text[position:], marked=False))
    return passages


# -- what stays off the page -----------------------------------------------------


def _secret_numbers(
    result: SubmissionResult, evidence: Evidence | None
) -> frozenset[int]:
    """Large whole numbers the notebook computed on the grading variant.

    Empty when the notebook ran on the dataset the student saw.
    """
    manifest = result.manifest
    if evidence is None or (
        manifest.dataset_fingerprint == manifest.seen_dataset_fingerprint
    ):
        return frozenset()
    namespace = evidence.namespace
    values = [v for sequence in namespace.int_sequences.values() for v in sequence]
    values += [
        v for mapping in namespace.int_mappings.values() for v in mapping.values()
    ]
    return frozenset(v for v in values if abs(v) >= SECRET_NUMBER_MIN)


def hide_numbers(text: str, secret: frozenset[int]) -> str:
    """`text` with every whole number in `secret` replaced by an ellipsis."""
    if not secret:
        return text

    def hide(found: re.Match[str]) -> str:
        value = int(re.sub(r"\D", "", found.group()))
        return "…" if value in secret else found.group()

    return WHOLE_NUMBER.sub(hide, text)


def _health_lines(result: SubmissionResult) -> list[str]:
    """What the grader noticed about the notebook's cells, for the student."""
    health = result.health
    lines = []
    if health.missing:
        lines.append(
            "These cells were missing from your notebook: "
            + ", ".join(health.missing)
            + ". Start from a fresh copy of the assignment and copy your answers in."
        )
    if health.restored:
        lines.append(
            "These cells must not be changed and were put back as given: "
            + ", ".join(health.restored)
            + "."
        )
    if health.retyped:
        lines.append(
            "These cells had changed type (code or text) and were read as given: "
            + ", ".join(health.retyped)
            + "."
        )
    return lines
