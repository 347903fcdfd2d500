"""Grades out of the kit: into nbgrader's gradebook, and a CSV Canvas can import.

The gradebook gets the assignment laid out as nbgrader's own `generate_assignment`
records it (one notebook, its graded cells with their points, its answer cells),
then one submission per student with the autograder's score for every graded
cell and the check's message as the cell's comment. A TA's override becomes
nbgrader's manual score, so `nbgrader export` gives the kit's totals.
"""

from __future__ import annotations

import csv
import logging
import os
import re
import shutil
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from autograder.errors import KitError
from autograder.model import (
    ANSWER_CELL,
    CHECK_IDS,
    GRADED_CELL,
    CheckId,
    CheckResult,
    Override,
    SubmissionResult,
)

if TYPE_CHECKING:  # nbgrader takes seconds to import: only when a gradebook is due
    from nbgrader.api import Gradebook

logger = logging.getLogger(__name__)

#: The graded cells a student writes text in; the others are code test cells.
MARKDOWN_GRADED: frozenset[CheckId] = frozenset({"predictions", "report"})
CANVAS_COLUMNS = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")


def write_gradebook(
    results: Sequence[SubmissionResult],
    *,
    db_url: str,
    assignment: str,
    course_id: str | None = None,
) -> None:
    """Record `results` in the gradebook at `db_url`, replacing earlier scores.

    The notebook is named after the assignment, as the kit's layout has it.
    `course_id` defaults to `c.CourseDirectory.course_id` of course_config.py.
    """
    from nbgrader.api import Gradebook, InvalidEntry

    maxima = check_maxima(results)
    course_id = course_id or _configured_course_id()
    try:
        with _alembic_on_path(), Gradebook(db_url, course_id=course_id) as gradebook:
            _add_assignment(gradebook, assignment, maxima)
            for result in results:
                _record(gradebook, assignment, result)
    except InvalidEntry as error:
        raise KitError(
            f"the gradebook at {db_url} refused an entry ({error}); check that no "
            "other nbgrader command is writing to it, then run again"
        ) from error
    logger.info("gradebook: %d submissions of %s recorded", len(results), assignment)


def check_maxima(results: Sequence[SubmissionResult]) -> dict[CheckId, float]:
    """Each check's maximum points, as the results give them."""
    maxima: dict[CheckId, float] = {}
    for result in results:
        for check in result.checks:
            maxima.setdefault(check.id, check.max_points)
    missing = [check_id for check_id in CHECK_IDS if check_id not in maxima]
    if results and missing:
        raise KitError(
            f"no result holds the {', '.join(missing)} check, so its points are "
            "unknown: grade again with the kit's source notebook"
        )
    return maxima


@contextmanager
def _alembic_on_path() -> Iterator[None]:
    """Let nbgrader find the `alembic` command beside this Python.

    nbgrader runs `alembic` by name, from PATH, when it creates a gradebook;
    a kit run as `.venv/bin/python -m autograder` without an activated
    environment would otherwise fail there.
    """
    if shutil.which("alembic"):
        yield
        return
    before = os.environ.get("PATH", "")
    os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), before])
    try:
        yield
    finally:
        os.environ["PATH"] = before


def _configured_course_id() -> str:
    from autograder.config import load_nbgrader_config

    return str(load_nbgrader_config().CourseDirectory.course_id)


def _add_assignment(
    gradebook: Gradebook, assignment: str, maxima: dict[CheckId, float]
) -> None:
    """The assignment, its notebook, graded cells and answer cells."""
    gradebook.update_or_create_assignment(assignment)
    gradebook.update_or_create_notebook(assignment, assignment)
    for check_id, maximum in maxima.items():
        gradebook.update_or_create_grade_cell(
            GRADED_CELL[check_id],
            assignment,
            assignment,
            max_score=maximum,
            cell_type="markdown" if check_id in MARKDOWN_GRADED else "code",
        )
        gradebook.update_or_create_solution_cell(
            ANSWER_CELL[check_id], assignment, assignment
        )


def _record(gradebook: Gradebook, assignment: str, result: SubmissionResult) -> None:
    """One student's submission: a score and a comment for every check."""
    gradebook.update_or_create_student(result.student_id)
    # nbgrader builds the submission's objects before adding them to the session;
    # an autoflush in between only warns that they are not in it yet
    with gradebook.db.no_autoflush:
        gradebook.update_or_create_submission(assignment, result.student_id)
    overrides = {override.check_id: override for override in result.overrides}
    for check in result.checks:
        override = overrides.get(check.id)
        grade = gradebook.find_grade(
            GRADED_CELL[check.id], assignment, assignment, result.student_id
        )
        grade.auto_score = _autograder_points(check, override)
        grade.manual_score = override.points if override else None
        grade.needs_manual_grade = check.needs_review
        comment = gradebook.find_comment(
            ANSWER_CELL[check.id], assignment, assignment, result.student_id
        )
        comment.auto_comment = check.message
        comment.manual_comment = override.reason if override else None
    gradebook.db.commit()


def _autograder_points(check: CheckResult, override: Override | None) -> float:
    if override is None or override.autograder_points is None:
        return check.points
    return override.autograder_points


# -- Canvas ----------------------------------------------------------------------


def write_canvas_csv(
    results: Sequence[SubmissionResult],
    path: Path,
    *,
    assignment_column: str | None = None,
) -> Path:
    """A gradebook CSV Canvas imports: one row per student, the score in its column.

    Canvas matches rows by `ID` (its user id, the number in an LMS download's
    file names). Ungradable submissions are left blank, so that Canvas shows
    them as not graded rather than zero. The column defaults to the assignment.
    """
    column = assignment_column or _configured_assignment()
    maximum = max((result.max_score for result in results), default=0.0)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow([*CANVAS_COLUMNS, column])
        writer.writerow(["Points Possible", "", "", "", "", f"{maximum:g}"])
        for result in sorted(results, key=lambda result: result.student_id):
            score = f"{result.score:g}" if result.status == "graded" else ""
            name = student_name(result)
            writer.writerow([name, result.student_id, "", "", "", score])
    return path


def student_name(result: SubmissionResult) -> str:
    """The name an LMS download put before the student id, else the id itself."""
    file_name = PurePosixPath(result.source_file.split("!")[-1]).name
    found = re.match(rf"(?P<name>[^_]+)_{re.escape(result.student_id)}_", file_name)
    return found.group("name") if found else result.student_id


def _configured_assignment() -> str:
    from autograder.config import load_settings

    return load_settings().assignment
