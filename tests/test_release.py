"""The student release: built by nbgrader from the source, and free of answers."""

from __future__ import annotations

import importlib
import json
import re
import shutil
from pathlib import Path
from typing import Any

import nbformat
import pytest

from autograder.config import CONFIG_FILE, PROJECT_ROOT, load_settings
from autograder.errors import ReleaseError
from autograder.model import GRADED_CELL, CheckId
from autograder.release import build_release

SETTINGS = load_settings(CONFIG_FILE)
SOURCE = SETTINGS.source_notebook
RELEASE = SETTINGS.release_notebook

#: nbgrader's markers around what students must never see, begin to end.
SECRET_REGIONS = (
    ("### BEGIN SOLUTION", "### END SOLUTION"),
    ("### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"),
)


def read(path: Path) -> Any:
    return nbformat.read(path, as_version=4)


def secret_and_public_lines(source: str) -> tuple[list[str], list[str]]:
    """A cell's lines inside solution or hidden-test regions, and the others."""
    secret: list[str] = []
    public: list[str] = []
    end_marker: str | None = None
    for line in source.splitlines():
        begins = [end for begin, end in SECRET_REGIONS if begin in line]
        if end_marker is None and begins:
            end_marker = begins[0]
        elif end_marker is not None and end_marker in line:
            end_marker = None
        elif end_marker is not None:
            secret.append(line.strip())
        else:
            public.append(line.strip())
    return [line for line in secret if line], [line for line in public if line]


def course_copy(tmp_path: Path) -> Path:
    """A course folder with the project's config and source, and no release yet."""
    root = tmp_path / "course"
    root.mkdir()
    shutil.copy(CONFIG_FILE, root / CONFIG_FILE.name)
    shutil.copytree(PROJECT_ROOT / "source", root / "source")
    return root


@pytest.fixture(scope="module")
def fresh_release(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_release(course_copy(tmp_path_factory.mktemp("fresh")))


def test_is_the_committed_release_what_a_fresh_build_gives(fresh_release: Path) -> None:
    committed = json.loads(RELEASE.read_text(encoding="utf-8"))
    fresh = json.loads(fresh_release.read_text(encoding="utf-8"))

    assert committed == fresh, (
        "release/ is out of date: run `python -m autograder release` and commit it"
    )


def test_does_a_build_leave_only_the_release_behind(fresh_release: Path) -> None:
    root = fresh_release.parents[2]
    written = {
        path.relative_to(root).as_posix()
        for path in root.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }

    assert written == {
        CONFIG_FILE.name,
        f"source/{SETTINGS.assignment}/{SETTINGS.assignment}.ipynb",
        f"release/{SETTINGS.assignment}/{SETTINGS.assignment}.ipynb",
    }


def test_does_a_broken_source_fail_clearly_and_keep_the_old_release(
    tmp_path: Path,
) -> None:
    root = course_copy(tmp_path)
    old_release = build_release(root)
    before = old_release.read_bytes()
    source = root / SOURCE.relative_to(PROJECT_ROOT)
    notebook = read(source)
    answer_cell = next(c for c in notebook.cells if c.id == "step2_counts")
    answer_cell.source = answer_cell.source.replace("### END SOLUTION", "")
    nbformat.write(notebook, source)

    with pytest.raises(ReleaseError, match=r"(?i)no end solution statement found"):
        build_release(root)
    assert old_release.read_bytes() == before


def test_is_a_missing_source_notebook_a_release_error(tmp_path: Path) -> None:
    root = course_copy(tmp_path)
    (root / SOURCE.relative_to(PROJECT_ROOT)).unlink()

    with pytest.raises(ReleaseError, match="no source notebook"):
        build_release(root)


def test_does_the_release_hold_no_solution_hidden_test_or_model_answer() -> None:
    source_cells = read(SOURCE).cells
    release_text = RELEASE.read_text(encoding="utf-8")
    release_lines = {
        line.strip() for cell in read(RELEASE).cells for line in cell.source.split("\n")
    }
    secret: set[str] = set()
    public: set[str] = set()
    for cell in source_cells:
        cell_secret, cell_public = secret_and_public_lines(cell.source)
        secret.update(cell_secret)
        public.update(cell_public)
    # a line the source also shows students outside any region is no secret
    leaked = sorted((secret - public) & release_lines)

    assert len(secret - public) > 20, "the source lost its solutions"
    assert leaked == []
    for marker in ("BEGIN SOLUTION", "HIDDEN TESTS", "grade_step", "autograder"):
        assert marker not in release_text


@pytest.mark.parametrize(
    "grade_id", ["step2_counts_test", "step3_grid_test", "tricky_measure_test"]
)
def test_does_a_released_self_check_raise_its_first_problem_at_the_end(
    grade_id: str,
) -> None:
    self_check = next(c for c in read(RELEASE).cells if c.id == grade_id).source
    lines = self_check.splitlines()

    assert lines[0].startswith("# Self-check")
    assert lines[1] == "problems = []"
    assert lines[-1] == "assert not problems, problems[0]"
    assert [line for line in lines if "assert" in line] == [lines[-1]]


@pytest.mark.parametrize("grade_id", ["step1_predictions", "step4_report"])
def test_does_a_written_answer_cell_show_students_its_template(grade_id: str) -> None:
    source_cell = next(c for c in read(SOURCE).cells if c.id == grade_id)
    release_cell = next(c for c in read(RELEASE).cells if c.id == grade_id)
    template = source_cell.source.split("### BEGIN SOLUTION")[0].strip()

    assert release_cell.source.strip() == template
    assert "YOUR ANSWER HERE" not in release_cell.source


def test_does_the_report_template_leave_a_blank_for_every_answer() -> None:
    report = next(c for c in read(RELEASE).cells if c.id == "step4_report").source
    lines = {
        topic: next(line for line in report.splitlines() if topic in line)
        for topic in ("most common", "least common", "hard", "ambiguous")
    }

    assert [len(re.findall("____", line)) for line in lines.values()] == [2, 2, 2, 3]


def test_does_the_release_keep_every_graded_cell_with_its_points() -> None:
    points = {
        cell.metadata["nbgrader"]["grade_id"]: cell.metadata["nbgrader"]["points"]
        for cell in read(RELEASE).cells
        if cell.metadata.get("nbgrader", {}).get("grade")
    }

    assert sorted(points) == sorted(GRADED_CELL.values())
    assert points == {
        "step1_predictions": 2,
        "step2_counts_test": 3,
        "step3_grid_test": 3,
        "tricky_measure_test": 2,
        "step4_report": 4,
    }


def test_are_the_release_outputs_cleared() -> None:
    code_cells = [c for c in read(RELEASE).cells if c.cell_type == "code"]

    assert all(c.outputs == [] and c.execution_count is None for c in code_cells)


@pytest.mark.parametrize("check", ["predictions", "report"])
def test_do_the_written_checks_know_the_template_students_get(check: CheckId) -> None:
    module = importlib.import_module(f"autograder.checks.{check}")
    released = next(c for c in read(RELEASE).cells if c.id == GRADED_CELL[check])

    assert module.TEMPLATE.strip() == released.source.strip()
