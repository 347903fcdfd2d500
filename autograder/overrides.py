"""A TA's overrides: points for one check of one student, with the reason why.

A TA writes them into `overrides.csv` beside `grades.csv`, one row per changed
check (`student_id, check_id, points, reason, by`); the next grade run applies
them. The result keeps the autograder's own score and the overrides, so that the
class summary can show both.
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Sequence
from pathlib import Path

from pydantic import ValidationError

from autograder.errors import UsageError
from autograder.model import CHECK_IDS, Override, SubmissionResult

logger = logging.getLogger(__name__)

COLUMNS = ("student_id", "check_id", "points", "reason", "by")
REQUIRED_COLUMNS = ("student_id", "check_id", "points", "reason")


def load_overrides(path: Path) -> dict[str, list[Override]]:
    """Read `path`; return each student's overrides, by student id.

    Raises `UsageError` naming the file and line of the first row that cannot
    be applied: an unknown check, points that are not a number of zero or more,
    an empty reason, or a second row for the same student and check.
    """
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise UsageError(
            f"{path} could not be read ({error}): save it as UTF-8 CSV and run again"
        ) from error
    reader = csv.DictReader(text.splitlines())
    _check_header(path, reader.fieldnames)

    by_student: dict[str, list[Override]] = {}
    first_seen: dict[tuple[str, str], int] = {}
    for line, row in enumerate(reader, start=2):
        if not any((value or "").strip() for value in row.values()):
            continue
        student_id, override = _parse_row(path, line, row)
        earlier = first_seen.setdefault((student_id, override.check_id), line)
        if earlier != line:
            raise UsageError(
                f"{path}, line {line}: {student_id} already has an override for "
                f"{override.check_id} on line {earlier}; keep one of the two rows"
            )
        by_student.setdefault(student_id, []).append(override)
    logger.info("%d overrides for %d students", len(first_seen), len(by_student))
    return by_student


def apply_overrides(
    result: SubmissionResult, overrides: Sequence[Override]
) -> SubmissionResult:
    """`result` with each override's points in place of the check's points.

    Overrides applied to `result` earlier are undone first, so a result can be
    given its overrides again on every run, and no overrides gives the
    autograder's result back. The score becomes the sum of the checks' points;
    `autograder_score` keeps the score before any override, and each applied
    override keeps the check's points before it. Raises `UsageError` when an
    override names a check the result lacks or gives more than its maximum.
    """
    result = without_overrides(result)
    if not overrides:
        return result
    by_check = {override.check_id: override for override in overrides}
    unknown = sorted(by_check.keys() - {check.id for check in result.checks})
    if unknown:
        raise UsageError(
            f"overrides.csv: {result.student_id} has no {unknown[0]} check to "
            "override; remove that row or grade the submission again"
        )

    checks = []
    applied = []
    for check in result.checks:
        override = by_check.get(check.id)
        if override is None:
            checks.append(check)
            continue
        if override.points > check.max_points:
            raise UsageError(
                f"overrides.csv: {override.points:g} points for {result.student_id}'s "
                f"{check.id} is more than its maximum of {check.max_points:g}; "
                "correct the row and run again"
            )
        checks.append(check.model_copy(update={"points": override.points}))
        applied.append(override.model_copy(update={"autograder_points": check.points}))

    return result.model_copy(
        update={
            "checks": checks,
            "score": sum(check.points for check in checks),
            "autograder_score": result.score,
            "overrides": applied,
        }
    )


def without_overrides(result: SubmissionResult) -> SubmissionResult:
    """`result` as the autograder gave it, before any override."""
    if not result.overrides:
        return result
    before = {
        override.check_id: override.autograder_points
        for override in result.overrides
        if override.autograder_points is not None
    }
    checks = [
        check.model_copy(update={"points": before[check.id]})
        if check.id in before
        else check
        for check in result.checks
    ]
    score = result.score if result.autograder_score is None else result.autograder_score
    return result.model_copy(
        update={
            "checks": checks,
            "score": score,
            "autograder_score": None,
            "overrides": [],
        }
    )


def _check_header(path: Path, header: Sequence[str] | None) -> None:
    present = {name.strip() for name in header or ()}
    missing = [name for name in REQUIRED_COLUMNS if name not in present]
    if missing:
        raise UsageError(
            f"{path}, line 1: the header lacks {', '.join(missing)}; "
            f"the first line must be: {','.join(COLUMNS)}"
        )


def _parse_row(
    path: Path, line: int, row: dict[str | None, str | None]
) -> tuple[str, Override]:
    """One row as (student id, override); `UsageError` naming the line if bad."""
    values = {
        (key or "").strip(): (value or "").strip()
        for key, value in row.items()
        if isinstance(value, str | None)
    }
    where = f"{path}, line {line}"
    student_id = values.get("student_id", "")
    if not student_id:
        raise UsageError(f"{where}: the student_id is empty; fill it in")
    check_id = values.get("check_id", "")
    if check_id not in CHECK_IDS:
        raise UsageError(
            f"{where}: {check_id!r} is not a check; use one of {', '.join(CHECK_IDS)}"
        )
    try:
        points = float(values.get("points", ""))
    except ValueError:
        raise UsageError(
            f"{where}: points {values.get('points')!r} is not a number; "
            "write the points the check should get, such as 2 or 1.5"
        ) from None
    if not points >= 0:
        raise UsageError(f"{where}: points must be 0 or more, not {points:g}")
    if not values.get("reason"):
        raise UsageError(f"{where}: the reason is empty; say why the points change")
    try:
        override = Override.model_validate(
            {
                "check_id": check_id,
                "points": points,
                "reason": values["reason"],
                "by": values.get("by", ""),
            }
        )
    except ValidationError as error:
        raise UsageError(f"{where}: {error}") from error
    return student_id, override
