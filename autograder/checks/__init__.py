"""Check: pure functions from a submission's evidence to its check results.

Each check reads only the `Evidence` of one run and the truth of two datasets:
the one the notebook ran on (`ran_on`, maybe a grading variant) and the one the
student saw (`seen`), against which the written report is judged. Nothing here
runs student code or touches files, except `points_from_source`, which reads
each check's maximum from the source notebook.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from pathlib import Path

from autograder.checks.counts import check_counts
from autograder.checks.grid import check_grid
from autograder.checks.predictions import check_predictions
from autograder.checks.report import check_report
from autograder.checks.tricky import check_tricky
from autograder.errors import ConfigError
from autograder.model import CHECK_IDS, GRADED_CELL, CheckId, CheckResult, Evidence
from autograder.truth import DatasetTruth

logger = logging.getLogger(__name__)

Check = Callable[[Evidence, DatasetTruth, DatasetTruth, float], CheckResult]

#: Every check by its id.
CHECKS: dict[CheckId, Check] = {
    "predictions": check_predictions,
    "counts": check_counts,
    "grid": check_grid,
    "tricky": check_tricky,
    "report": check_report,
}


def run_checks(
    evidence: Evidence,
    ran_on: DatasetTruth,
    seen: DatasetTruth,
    points: Mapping[CheckId, float],
) -> list[CheckResult]:
    """Every check's result for one run, in `CHECK_IDS` order."""
    missing = [check_id for check_id in CHECK_IDS if check_id not in points]
    if missing:
        raise ConfigError(
            f"no points for the check(s) {', '.join(missing)}: give their graded "
            "cells `points` in the source notebook"
        )
    results = [
        CHECKS[check_id](evidence, ran_on, seen, points[check_id])
        for check_id in CHECK_IDS
    ]
    logger.debug(
        "checks: %s", ", ".join(f"{r.id}={r.points}/{r.max_points}" for r in results)
    )
    return results


def points_from_source(source_notebook: Path) -> dict[CheckId, float]:
    """Each check's maximum: the `points` of its graded cell in the source notebook."""
    try:
        notebook = json.loads(source_notebook.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ConfigError(
            f"the source notebook {source_notebook.name} could not be read "
            f"({error}): restore it from the kit"
        ) from error

    points_by_grade_id: dict[str, float] = {}
    for cell in notebook.get("cells", []):
        nbgrader = cell.get("metadata", {}).get("nbgrader", {})
        if nbgrader.get("grade") and "grade_id" in nbgrader:
            points_by_grade_id[nbgrader["grade_id"]] = float(nbgrader.get("points", 0))

    absent = [gid for gid in GRADED_CELL.values() if gid not in points_by_grade_id]
    if absent:
        raise ConfigError(
            f"the source notebook {source_notebook.name} has no graded cell "
            f"{', '.join(absent)}: mark it graded with points in its nbgrader "
            "metadata"
        )
    return {
        check_id: points_by_grade_id[grade_id]
        for check_id, grade_id in GRADED_CELL.items()
    }


__all__ = ["CHECKS", "points_from_source", "run_checks"]
