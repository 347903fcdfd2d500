"""Repair: does a drifted notebook come back in the release's shape, answers kept?"""

from __future__ import annotations

import copy
import json

import pytest
from nbformat import NotebookNode

from autograder.config import load_settings
from autograder.errors import SubmissionError
from autograder.model import Health, RepairedNotebook
from autograder.repair import repair
from tests.factories import (
    ANSWER_IDS,
    ANSWERS,
    CODE_STUB,
    REPORT_TEMPLATE,
    SETUP_SOURCE,
    TEXT_STUB,
    TRY_THIS_SOURCE,
    cell_by_grade_id,
    grade_id_of,
    lesson_release,
    new_cell,
    notebook_text,
    parsed,
    read_notebook,
    stream_output,
    without_metadata,
    worked_submission,
)


def repaired(notebook: NotebookNode) -> RepairedNotebook:
    return repair(notebook_text(notebook), lesson_release())


def cells_of(result: RepairedNotebook) -> list[NotebookNode]:
    cells: list[NotebookNode] = parsed(result.notebook_json).cells
    return cells


def answers_of(result: RepairedNotebook) -> dict[str, str]:
    return {
        grade_id: cell.source
        for cell in cells_of(result)
        if (grade_id := grade_id_of(cell)) in ANSWER_IDS
    }


def release_layout() -> list[tuple[str, str | None]]:
    return [(cell.cell_type, grade_id_of(cell)) for cell in lesson_release().cells]


def layout_of(result: RepairedNotebook) -> list[tuple[str, str | None]]:
    return [(cell.cell_type, grade_id_of(cell)) for cell in cells_of(result)]


def index_of(notebook: NotebookNode, grade_id: str) -> int:
    return [grade_id_of(cell) for cell in notebook.cells].index(grade_id)


@pytest.mark.parametrize(
    "metadata", ["kept", "stripped"], ids=["with-metadata", "metadata-stripped"]
)
def test_does_a_worked_notebook_keep_its_answers_in_release_order(
    metadata: str,
) -> None:
    notebook = worked_submission()
    if metadata == "stripped":
        notebook = without_metadata(notebook)

    result = repaired(notebook)

    assert answers_of(result) == ANSWERS
    assert layout_of(result) == release_layout()
    assert result.health.missing == []
    assert result.health.extra_cells == 0


def test_does_an_intact_notebook_report_no_drift() -> None:
    assert repaired(worked_submission()).health == Health()


def test_is_every_graded_cell_of_a_stripped_notebook_matched_by_content() -> None:
    health = repaired(without_metadata(worked_submission())).health

    graded = [grade_id for _, grade_id in release_layout() if grade_id is not None]
    assert health.matched_by_content == graded


def test_does_an_untouched_stripped_release_get_each_stub_in_its_own_place() -> None:
    result = repaired(without_metadata(lesson_release()))

    assert layout_of(result) == release_layout()
    assert answers_of(result)["step2_counts"] == CODE_STUB
    assert answers_of(result)["step1_predictions"] == TEXT_STUB
    assert result.health.duplicated == []


@pytest.mark.parametrize(
    "test_id", ["step2_counts_test", "step3_grid_test", "tricky_measure_test"]
)
def test_is_a_deleted_test_cell_restored(test_id: str) -> None:
    notebook = worked_submission()
    del notebook.cells[index_of(notebook, test_id)]

    result = repaired(notebook)

    assert layout_of(result) == release_layout()
    assert test_id in result.health.missing
    assert test_id in result.health.restored
    assert answers_of(result) == ANSWERS


@pytest.mark.parametrize(
    "metadata", ["kept", "stripped"], ids=["with-metadata", "metadata-stripped"]
)
def test_is_a_duplicated_test_cell_kept_once(metadata: str) -> None:
    notebook = worked_submission()
    position = index_of(notebook, "step2_counts_test")
    notebook.cells.insert(position + 1, copy.deepcopy(notebook.cells[position]))
    if metadata == "stripped":
        notebook = without_metadata(notebook)

    result = repaired(notebook)

    assert layout_of(result) == release_layout()
    assert result.health.duplicated == ["step2_counts_test"]
    assert "step2_counts_test" in result.health.restored


@pytest.mark.parametrize(
    ("first", "second", "kept"),
    [
        (CODE_STUB, ANSWERS["step2_counts"], ANSWERS["step2_counts"]),
        (ANSWERS["step2_counts"], CODE_STUB, ANSWERS["step2_counts"]),
        ("counts = [1] * 10", ANSWERS["step2_counts"], ANSWERS["step2_counts"]),
        (CODE_STUB, CODE_STUB, CODE_STUB),
    ],
    ids=["stub-then-work", "work-then-stub", "two-attempts-later-wins", "two-stubs"],
)
def test_does_a_duplicated_answer_cell_keep_the_most_worked_on_copy(
    first: str, second: str, kept: str
) -> None:
    notebook = worked_submission()
    position = index_of(notebook, "step2_counts")
    notebook.cells[position].source = first
    copied = copy.deepcopy(notebook.cells[position])
    copied.source = second
    notebook.cells.insert(position + 1, copied)

    result = repaired(notebook)

    assert answers_of(result)["step2_counts"] == kept
    assert layout_of(result) == release_layout()
    assert result.health.duplicated == ["step2_counts"]


@pytest.mark.parametrize(
    ("grade_id", "turned_into"),
    [("step2_counts", "markdown"), ("step4_report", "code")],
    ids=["code-turned-markdown", "markdown-turned-code"],
)
def test_does_a_retyped_answer_cell_get_its_type_back_and_keep_its_source(
    grade_id: str, turned_into: str
) -> None:
    notebook = worked_submission()
    position = index_of(notebook, grade_id)
    retyped = new_cell(turned_into, ANSWERS[grade_id])
    retyped.metadata = notebook.cells[position].metadata
    notebook.cells[position] = retyped

    result = repaired(notebook)

    assert layout_of(result) == release_layout()
    assert answers_of(result)[grade_id] == ANSWERS[grade_id]
    assert result.health.retyped == [grade_id]


def test_is_an_edited_setup_cell_restored() -> None:
    notebook = worked_submission()
    cell_by_grade_id(notebook, "setup").source = "import numpy as np\nx_train = 0"

    result = repaired(notebook)

    assert cell_by_grade_id_in(result, "setup").source == SETUP_SOURCE
    assert result.health.restored == ["setup"]


def test_is_an_edited_test_cell_restored() -> None:
    notebook = worked_submission()
    cell_by_grade_id(notebook, "step3_grid_test").source = "pass"

    result = repaired(notebook)

    assert cell_by_grade_id_in(result, "step3_grid_test").source == (
        cell_by_grade_id(lesson_release(), "step3_grid_test").source
    )
    assert result.health.restored == ["step3_grid_test"]


def cell_by_grade_id_in(result: RepairedNotebook, grade_id: str) -> NotebookNode:
    return next(cell for cell in cells_of(result) if grade_id_of(cell) == grade_id)


@pytest.mark.parametrize(
    "metadata", ["kept", "stripped"], ids=["with-metadata", "metadata-stripped"]
)
def test_are_extra_student_cells_kept_after_the_cell_they_followed(
    metadata: str,
) -> None:
    notebook = worked_submission()
    notebook.cells.insert(0, new_cell("markdown", "My name: Ada"))
    after_counts = index_of(notebook, "step2_counts") + 1
    notebook.cells.insert(after_counts, new_cell("code", "print(counts.sum())"))
    notebook.cells.append(new_cell("markdown", "Thanks for reading!"))
    notebook.cells.append(new_cell("code", "   "))
    if metadata == "stripped":
        notebook = without_metadata(notebook)

    result = repaired(notebook)
    sources = [cell.source for cell in cells_of(result)]

    assert result.health.extra_cells == 3
    assert sources[0] == "My name: Ada"
    assert sources[sources.index(ANSWERS["step2_counts"]) + 1] == "print(counts.sum())"
    assert sources[-1] == "Thanks for reading!"
    assert answers_of(result) == ANSWERS


@pytest.mark.parametrize(
    "metadata", ["kept", "stripped"], ids=["with-metadata", "metadata-stripped"]
)
def test_does_an_edited_ungraded_experiment_keep_the_students_version(
    metadata: str,
) -> None:
    notebook = worked_submission()
    edited = TRY_THIS_SOURCE.replace('"ship"', '"frog"')
    notebook.cells[-1].source = edited
    if metadata == "stripped":
        notebook = without_metadata(notebook)

    result = repaired(notebook)

    assert cells_of(result)[-1].source == edited
    assert layout_of(result) == release_layout()
    assert result.health.extra_cells == 0


@pytest.mark.parametrize(
    "metadata", ["kept", "stripped"], ids=["with-metadata", "metadata-stripped"]
)
@pytest.mark.parametrize("grade_id", ["step1_predictions", "step2_counts"])
def test_does_work_written_in_a_new_cell_under_the_stub_count_as_the_answer(
    metadata: str, grade_id: str
) -> None:
    notebook = lesson_release()
    stub = index_of(notebook, grade_id)
    cell_type = notebook.cells[stub].cell_type
    notebook.cells.insert(stub + 1, new_cell(cell_type, ANSWERS[grade_id]))
    if metadata == "stripped":
        notebook = without_metadata(notebook)

    result = repaired(notebook)

    assert answers_of(result)[grade_id] == ANSWERS[grade_id]
    assert layout_of(result) == release_layout()
    assert result.health.extra_cells == 0


def test_does_an_untouched_experiment_keep_its_place_beside_a_new_cell() -> None:
    notebook = worked_submission()
    notebook.cells.append(new_cell("code", "print('my own experiment')"))

    result = repaired(notebook)

    assert [cell.source for cell in cells_of(result)][-2:] == [
        TRY_THIS_SOURCE,
        "print('my own experiment')",
    ]
    assert result.health.extra_cells == 1


def test_are_reordered_cells_put_back_in_release_order() -> None:
    notebook = worked_submission()
    step3 = index_of(notebook, "step3_grid") - 1
    moved = notebook.cells[step3 : step3 + 3]
    del notebook.cells[step3 : step3 + 3]
    notebook.cells[2:2] = moved

    result = repaired(notebook)

    assert layout_of(result) == release_layout()
    assert answers_of(result) == ANSWERS


@pytest.mark.parametrize("grade_id", ANSWER_IDS)
def test_does_a_deleted_answer_cell_come_back_empty_and_recorded_missing(
    grade_id: str,
) -> None:
    notebook = worked_submission()
    del notebook.cells[index_of(notebook, grade_id)]

    result = repaired(notebook)

    release_source = cell_by_grade_id(lesson_release(), grade_id).source
    assert answers_of(result)[grade_id] == release_source
    assert result.health.missing == [grade_id]
    assert layout_of(result) == release_layout()


def test_does_a_filled_report_template_match_its_cell_by_wording() -> None:
    notebook = without_metadata(worked_submission())
    report = index_of(lesson_release(), "step4_report")
    notebook.cells[report - 1] = new_cell("markdown", "Extra thoughts on the data.")

    result = repaired(notebook)

    assert answers_of(result)["step4_report"] == ANSWERS["step4_report"]
    assert answers_of(result)["step4_report"] != REPORT_TEMPLATE
    assert result.health.extra_cells == 1


def test_is_answer_cell_metadata_restored_from_the_release() -> None:
    notebook = worked_submission()
    cell_by_grade_id(notebook, "step4_report").metadata["nbgrader"]["points"] = 100

    result = repaired(notebook)

    assert cell_by_grade_id_in(result, "step4_report").metadata == (
        cell_by_grade_id(lesson_release(), "step4_report").metadata
    )


def test_are_outputs_cleared_and_cell_ids_unique() -> None:
    notebook = worked_submission()
    counts = cell_by_grade_id(notebook, "step2_counts")
    counts.outputs = [stream_output("frog: 5000\n")]
    counts.execution_count = 3
    twin = copy.deepcopy(counts)
    twin.metadata = {}
    twin.source = "print('scratch')"
    notebook.cells.append(twin)

    cells = cells_of(repaired(notebook))

    assert all(cell.get("outputs", []) == [] for cell in cells)
    assert len({cell.id for cell in cells}) == len(cells)


def test_is_a_notebook_with_no_cells_rebuilt_as_the_release() -> None:
    notebook = worked_submission()
    notebook.cells = []

    result = repaired(notebook)

    assert layout_of(result) == release_layout()
    assert set(result.health.missing) >= set(ANSWER_IDS)


@pytest.mark.parametrize(
    "text", ["", "not json", json.dumps([1, 2])], ids=["empty", "not-json", "a-list"]
)
def test_does_unreadable_text_raise_a_submission_error(text: str) -> None:
    with pytest.raises(SubmissionError):
        repair(text, lesson_release())


def test_does_the_real_release_survive_being_stripped_of_metadata() -> None:
    path = load_settings().release_notebook
    if not path.is_file():
        pytest.skip("the release notebook has not been generated yet")
    release = read_notebook(path)

    result = repair(notebook_text(without_metadata(release)), release)

    back = cells_of(result)
    assert [cell.source for cell in back] == [cell.source for cell in release.cells]
    assert [grade_id_of(cell) for cell in back] == [
        grade_id_of(cell) for cell in release.cells
    ]
    assert result.health.missing == []
    assert result.health.duplicated == []


@pytest.mark.parametrize(
    "metadata", ["kept", "stripped"], ids=["with-metadata", "metadata-stripped"]
)
def test_does_a_worked_real_release_keep_its_answers(metadata: str) -> None:
    path = load_settings().release_notebook
    if not path.is_file():
        pytest.skip("the release notebook has not been generated yet")
    release = read_notebook(path)
    notebook = copy.deepcopy(release)
    for grade_id, source in ANSWERS.items():
        cell_by_grade_id(notebook, grade_id).source = source
    notebook.cells.insert(3, new_cell("code", "print(x_train.shape)"))
    if metadata == "stripped":
        notebook = without_metadata(notebook)

    result = repair(notebook_text(notebook), release)

    assert answers_of(result) == ANSWERS
    assert [grade_id_of(cell) for cell in cells_of(result)].count(None) == (
        [grade_id_of(cell) for cell in release.cells].count(None) + 1
    )
    assert result.health.extra_cells == 1
    assert result.health.missing == []
