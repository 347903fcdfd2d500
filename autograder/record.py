"""Recording results: one JSON per submission, `grades.csv`, nothing ever lost.

Every file is written atomically (a temporary name in the same folder, then a
rename), so a grading run killed at any moment leaves each file either as it was
or complete. A result is reused by the next run when the submission's bytes and
the kit's version are unchanged.
"""

from __future__ import annotations

import csv
import io
import logging
import os
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path

from autograder import KIT_VERSION
from autograder.model import (
    CHECK_IDS,
    CheckId,
    CheckResult,
    CheckStatus,
    Evidence,
    Health,
    Manifest,
    Submission,
    SubmissionResult,
)

logger = logging.getLogger(__name__)

GRADES_COLUMNS = ["student_id", "status", "score", "max_score", *CHECK_IDS]


def _file_mode() -> int:
    """The mode `open()` gives a new file: read-write for all, less the umask."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


#: Read once: changing the umask is process-wide, so it is not done per write.
FILE_MODE = _file_mode()


def write_atomically(path: Path, text: str) -> None:
    """Replace `path` with `text` so that readers see the old or the new file.

    The file gets the mode a plain `open()` would give it, not the private mode
    of a temporary file, so that TAs and a web server can read the pages.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, partial = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(handle, FILE_MODE)
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as stream:
            stream.write(text)
        Path(partial).replace(path)
    except BaseException:
        Path(partial).unlink(missing_ok=True)
        raise


class Record:
    """The output folder of a grading run: results, evidence and grades."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.results_dir = out / "results"
        self.evidence_dir = out / "evidence"
        self.feedback_dir = out / "feedback"

    def result_path(self, student_id: str) -> Path:
        return self.results_dir / f"{student_id}.json"

    def evidence_path(self, student_id: str) -> Path:
        return self.evidence_dir / f"{student_id}.json"

    def feedback_path(self, student_id: str) -> Path:
        return self.feedback_dir / f"{student_id}.html"

    def load_result(self, student_id: str) -> SubmissionResult | None:
        """The recorded result, or None when there is none or it is unreadable."""
        path = self.result_path(student_id)
        try:
            return SubmissionResult.model_validate_json(path.read_bytes())
        except FileNotFoundError:
            return None
        except ValueError:
            logger.warning("%s is unreadable; the submission is graded again", path)
            return None

    def load_evidence(self, student_id: str) -> Evidence | None:
        try:
            return Evidence.model_validate_json(
                self.evidence_path(student_id).read_bytes()
            )
        except (FileNotFoundError, ValueError):
            return None

    def reusable(self, submission: Submission) -> SubmissionResult | None:
        """The recorded result when it was graded from these bytes by this kit."""
        result = self.load_result(submission.student_id)
        if result is None:
            return None
        if result.sha256 != submission.sha256:
            return None
        if result.manifest.kit_version != KIT_VERSION:
            return None
        return result

    def save(self, result: SubmissionResult, evidence: Evidence | None) -> None:
        """Write the evidence first, then the result that refers to it."""
        if evidence is not None:
            write_atomically(
                self.evidence_path(result.student_id), evidence.model_dump_json()
            )
        write_atomically(
            self.result_path(result.student_id), result.model_dump_json(indent=2)
        )

    def write_grades(self, results: Iterable[SubmissionResult]) -> Path:
        """`grades.csv`: one row per submission, sorted by student id."""
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=GRADES_COLUMNS)
        writer.writeheader()
        for result in sorted(results, key=lambda result: result.student_id):
            writer.writerow(grades_row(result))
        path = self.out / "grades.csv"
        write_atomically(path, buffer.getvalue())
        return path


def _number(value: float) -> str:
    return f"{value:g}"


def grades_row(result: SubmissionResult) -> dict[str, str]:
    points = {check.id: _number(check.points) for check in result.checks}
    return {
        "student_id": result.student_id,
        "status": result.status,
        "score": _number(result.score),
        "max_score": _number(result.max_score),
        **{check_id: points.get(check_id, "0") for check_id in CHECK_IDS},
    }


def zero_checks(
    points: Mapping[CheckId, float],
    status: CheckStatus,
    message: str,
    *,
    note: str = "",
    needs_review: bool = False,
) -> list[CheckResult]:
    """Every check with zero points, the same status and the same message."""
    return [
        CheckResult(
            id=check_id,
            points=0.0,
            max_points=points[check_id],
            status=status,
            message=message,
            note=note,
            needs_review=needs_review,
        )
        for check_id in CHECK_IDS
    ]


def ungradable_result(
    submission: Submission,
    *,
    reason: str,
    points: Mapping[CheckId, float],
    manifest: Manifest,
    note: str = "",
    health: Health | None = None,
) -> SubmissionResult:
    """A result for a submission that could not be graded: zero, with the reason."""
    checks = zero_checks(points, "not_run", "Not graded: " + reason, note=note)
    return SubmissionResult(
        student_id=submission.student_id,
        source_file=submission.source_file,
        sha256=submission.sha256,
        status="ungradable",
        reason=reason,
        score=0.0,
        max_score=sum(points.values()),
        health=health or Health(),
        checks=checks,
        manifest=manifest,
        notes=list(submission.notes),
    )


def graded_result(
    submission: Submission,
    *,
    checks: list[CheckResult],
    health: Health,
    manifest: Manifest,
    timings: dict[str, float],
    notes: Iterable[str] = (),
) -> SubmissionResult:
    score = round(sum(check.points for check in checks), 4)
    return SubmissionResult(
        student_id=submission.student_id,
        source_file=submission.source_file,
        sha256=submission.sha256,
        status="graded",
        score=score,
        max_score=sum(check.max_points for check in checks),
        health=health,
        checks=checks,
        timings=timings,
        manifest=manifest,
        notes=[*submission.notes, *notes],
        autograder_score=score,
    )
