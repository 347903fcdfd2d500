"""What every check needs: its answer cell in the evidence, and a result to give."""

from __future__ import annotations

from dataclasses import dataclass

from autograder.hints import hint_for
from autograder.model import CellEvidence, CheckId, CheckResult, CheckStatus, Evidence

#: Why a run stopped early, for the student.
STOPPED: dict[str, str] = {
    "timeout": "the notebook ran out of time",
    "crashed": "the notebook's process crashed",
    "memory": "the notebook used more memory than allowed",
    "output_limit": "the notebook printed more output than allowed",
}


@dataclass(frozen=True)
class Grading:
    """One check's context: which check, out of how many points."""

    check_id: CheckId
    max_points: float

    def result(
        self,
        fraction: float,
        message: str,
        note: str = "",
        *,
        needs_review: bool = False,
        quoted: str = "",
    ) -> CheckResult:
        """A result earning `fraction` of the points; the status follows from it."""
        fraction = min(max(fraction, 0.0), 1.0)
        status: CheckStatus = "partial"
        if fraction == 1.0:
            status = "passed"
        elif fraction == 0.0:
            status = "failed"
        return CheckResult(
            id=self.check_id,
            points=round(self.max_points * fraction, 2),
            max_points=self.max_points,
            status=status,
            message=message,
            note=note,
            needs_review=needs_review,
            quoted=quoted,
        )

    def not_run(self, message: str, note: str = "") -> CheckResult:
        return CheckResult(
            id=self.check_id,
            points=0.0,
            max_points=self.max_points,
            status="not_run",
            message=message,
            note=note,
        )


def answer_cell(evidence: Evidence, grade_id: str) -> CellEvidence | None:
    """The cell with `grade_id` (the last one, if the student duplicated it)."""
    found = [cell for cell in evidence.cells if cell.grade_id == grade_id]
    return found[-1] if found else None


def why_missing(evidence: Evidence, grade_id: str, what: str) -> str:
    """Why `what` is not in the evidence, told from the answer cell's fate.

    Looks, in order, at an error in the answer cell, an error in an earlier cell,
    and a run that stopped early; otherwise says `what` was not found.
    """
    cell = answer_cell(evidence, grade_id)
    if cell is not None and cell.error is not None:
        return hint_for(cell.error)

    limit = cell.index if cell is not None else None
    for earlier in evidence.cells:
        if limit is not None and earlier.index >= limit:
            break
        if earlier.error is not None and earlier.error.ename != "NotImplementedError":
            return (
                f"An earlier cell stopped with {earlier.error.ename}, so {what} "
                f"was never made. {hint_for(earlier.error)}"
            )

    if evidence.outcome in STOPPED:
        return (
            f"No {what} was found: {STOPPED[evidence.outcome]} before it got "
            "there. Make every cell finish quickly, then run it from the top."
        )
    return f"No {what} was found."


def stopped_early(evidence: Evidence, grade_id: str) -> bool:
    """Whether the run ended early and the answer cell shows no sign of running."""
    if evidence.outcome == "completed":
        return False
    cell = answer_cell(evidence, grade_id)
    if cell is None:
        return True
    return cell.seconds == 0 and not cell.stdout and cell.error is None
