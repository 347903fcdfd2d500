"""nbgrader's gradebook and the Canvas CSV: the kit's totals, as others read them."""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from nbgrader.api import Gradebook

from autograder.config import CONFIG_FILE
from autograder.gradebook import write_canvas_csv, write_gradebook
from autograder.model import Override, SubmissionResult
from autograder.overrides import apply_overrides
from tests.test_feedback import make_check, make_result

ASSIGNMENT = "data_detective"
COURSE_ID = "data-detective"


def class_results() -> list[SubmissionResult]:
    overridden = apply_overrides(
        make_result("333", [make_check("report", "failed", message="No count cited.")]),
        [Override(check_id="report", points=3.5, reason="cited in Step 1", by="ta")],
    )
    return [
        make_result("111"),
        make_result(
            "222", [make_check("grid", "partial"), make_check("counts", "failed")]
        ),
        overridden,
        make_result("444", status="ungradable", reason="Not a notebook."),
    ]


@pytest.fixture(scope="module")
def class_gradebook(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A gradebook holding `class_results()`, written once (nbgrader is slow to
    create one); each test works on its own copy."""
    path = tmp_path_factory.mktemp("gradebook") / "gradebook.db"
    write_gradebook(
        class_results(),
        db_url=f"sqlite:///{path}",
        assignment=ASSIGNMENT,
        course_id=COURSE_ID,
    )
    return path


@pytest.fixture
def db_url(class_gradebook: Path, tmp_path: Path) -> str:
    copy = shutil.copy(class_gradebook, tmp_path / "gradebook.db")
    return f"sqlite:///{copy}"


@pytest.fixture
def course(class_gradebook: Path, tmp_path: Path) -> Path:
    """A temporary copy of the course, with the class's gradebook beside it."""
    shutil.copy(CONFIG_FILE, tmp_path / CONFIG_FILE.name)
    shutil.copy(class_gradebook, tmp_path / "gradebook.db")
    return tmp_path


def nbgrader_export(course: Path) -> dict[str, float]:
    """Total per student, as `nbgrader export` writes them."""
    exported = course / "export.csv"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "nbgrader",
            "export",
            f"--NbGrader.config_file={course / CONFIG_FILE.name}",
            f"--to={exported}",
        ],
        cwd=course,
        check=True,
        capture_output=True,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
        timeout=120,
    )
    with exported.open(newline="") as handle:
        return {
            row["student_id"]: float(row["score"]) for row in csv.DictReader(handle)
        }


def test_does_nbgrader_export_give_the_kits_totals(course: Path) -> None:
    results = class_results()

    exported = nbgrader_export(course)
    assert exported == {r.student_id: r.score for r in results}
    assert exported["333"] == 13.5


def test_does_the_gradebook_keep_the_autograders_score_and_the_override(
    db_url: str,
) -> None:
    with Gradebook(db_url, course_id=COURSE_ID) as gradebook:
        grade = gradebook.find_grade("step4_report", ASSIGNMENT, ASSIGNMENT, "333")
        assert (grade.auto_score, grade.manual_score, grade.score) == (0.0, 3.5, 3.5)
        comment = gradebook.find_comment("step4_report", ASSIGNMENT, ASSIGNMENT, "333")
        assert comment.auto_comment == "No count cited."
        assert comment.manual_comment == "cited in Step 1"
        assert gradebook.find_assignment(ASSIGNMENT).max_score == 14


def test_does_a_second_run_replace_the_first_runs_scores(db_url: str) -> None:
    regraded = make_result("222", [make_check("grid", "failed")])

    write_gradebook(
        [regraded], db_url=db_url, assignment=ASSIGNMENT, course_id=COURSE_ID
    )

    with Gradebook(db_url, course_id=COURSE_ID) as gradebook:
        assert gradebook.find_submission(ASSIGNMENT, "222").score == 11
        assert len(gradebook.students) == 4


def test_does_the_canvas_csv_hold_one_score_per_student(tmp_path: Path) -> None:
    results = class_results()
    results[0] = results[0].model_copy(
        update={"source_file": "submissions.zip!lovelace_111_9876_data_detective.ipynb"}
    )

    path = write_canvas_csv(results, tmp_path / "canvas.csv", assignment_column="DD")

    with path.open(newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "DD"]
    assert rows[1][0] == "Points Possible"
    assert rows[1][-1] == "14"
    assert rows[2:] == [
        ["lovelace", "111", "", "", "", "14"],
        ["222", "222", "", "", "", "9.5"],
        ["333", "333", "", "", "", "13.5"],
        ["444", "444", "", "", "", ""],
    ]
