"""Does `nbgrader autograde` give the code steps the kit's points?

The source notebook's hidden tests call the kit's own checks, so nbgrader, run
with course_config.py, should score counts, grid and tricky as
`python -m autograder grade` does, also when a step's visible self-check fails
and the kit gives partial credit. Both grade the same notebooks on the same
dataset: a grading variant of the stand-in, served to nbgrader's kernel and
given to the kit as the dataset the students saw. nbgrader takes about 13 s a
notebook, so all of them go through one `autograde` command.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from autograder.config import load_settings
from autograder.dataset import PreparedDataset, make_variant
from autograder.model import GRADED_CELL, CheckId, Evidence, SubmissionResult
from autograder.nbgrader_course import CODE_CHECKS, autograde_with_nbgrader
from autograder.pipeline import grade_submissions
from tests.submissions import TRICKY, CorpusSubmission, fill_release, grid_code

pytestmark = pytest.mark.slow

#: The kit grades on the dataset it is given, as nbgrader does.
SETTINGS = load_settings().model_copy(update={"grading_variant": False})
VARIANT_SEED = 7
STUB = "# YOUR CODE HERE\nraise NotImplementedError()"

Points = dict[CheckId, float]


@dataclass(frozen=True)
class Case:
    """A handed-in notebook and what grading it should show.

    `points` are what both graders give its code steps; `failing_self_checks`
    the steps whose visible self-check raises in it.
    """

    submission: CorpusSubmission
    points: Points
    failing_self_checks: frozenset[CheckId] = field(default_factory=frozenset)


NOTEBOOKS: dict[str, Case] = {
    "full_marks": Case(
        CorpusSubmission("reference"),
        {"counts": 3, "grid": 3, "tricky": 2},
    ),
    "typed_in": Case(
        CorpusSubmission(
            "counts and the tricky index typed in",
            {
                "step2_counts": "counts = [5000] * 10\n"
                "for name, count in zip(class_names, counts):\n"
                "    print(f'{name}: {count}')",
                "tricky_measure": TRICKY.replace("int(suspects[0])", "49999"),
            },
        ),
        {"counts": 0, "grid": 3, "tricky": 1},
        frozenset({"counts"}),
    ),
    "blank": Case(
        CorpusSubmission(
            "the untouched release",
            {
                "step1_predictions": "",
                "step2_counts": STUB,
                "step3_grid": "",
                "tricky_measure": "",
                "step4_report": "",
            },
        ),
        {"counts": 0, "grid": 0, "tricky": 0},
        frozenset({"counts", "grid", "tricky"}),
    ),
    "titles_shifted": Case(
        CorpusSubmission(
            "a grid whose every title names the next class",
            {
                "step3_grid": grid_code(
                    "ax.imshow(x_train[i])\n"
                    "ax.set_title(class_names[(label + 1) % 10])\n"
                    "ax.axis('off')"
                )
            },
        ),
        {"counts": 3, "grid": 2, "tricky": 2},
    ),
    "ticks_left_on": Case(
        CorpusSubmission(
            "a right grid that keeps its tick marks",
            {
                "step3_grid": grid_code(
                    "ax.imshow(x_train[i])\nax.set_title(class_names[label])"
                )
            },
        ),
        {"counts": 3, "grid": 3, "tricky": 2},
        frozenset({"grid"}),
    ),
    "first_ten_images": Case(
        CorpusSubmission(
            "a grid of the first ten training images, each titled with its class",
            {
                "step3_grid": "fig, axes = plt.subplots(2, 5, figsize=(12, 5))\n"
                "for i, ax in enumerate(axes.flat):\n"
                "    ax.imshow(x_train[i])\n"
                "    ax.set_title(class_names[y_train[i][0]])\n"
                "    ax.axis('off')\n"
                "plt.show()"
            },
        ),
        {"counts": 3, "grid": 1, "tricky": 2},
        frozenset({"grid"}),
    ),
    "counts_by_name": Case(
        CorpusSubmission(
            "counts kept in a dictionary by class name",
            {
                "step2_counts": "labels = y_train.flatten()\n"
                "counts = {name: int(np.sum(labels == label))\n"
                "          for label, name in enumerate(class_names)}\n"
                "for name, count in counts.items():\n"
                "    print(f'{name}: {count}')"
            },
        ),
        {"counts": 3, "grid": 3, "tricky": 2},
        frozenset({"counts"}),
    ),
    "sharpest_suspects": Case(
        CorpusSubmission(
            "suspects taken from the sharp end of the class",
            {"tricky_measure": TRICKY.replace("[:5]]", "[-5:]]")},
        ),
        {"counts": 3, "grid": 3, "tricky": 2},
        frozenset({"tricky"}),
    ),
}


@pytest.fixture(scope="module")
def variant(standin_dataset: PreparedDataset) -> PreparedDataset:
    return make_variant(standin_dataset, VARIANT_SEED, SETTINGS.variant_count_range)


@pytest.fixture(scope="module")
def handed_in(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("handed_in")
    paths = {}
    for name, case in NOTEBOOKS.items():
        paths[name] = folder / f"{name}.ipynb"
        paths[name].write_text(fill_release(case.submission), encoding="utf-8")
    return paths


@pytest.fixture(scope="module")
def by_nbgrader(
    tmp_path_factory: pytest.TempPathFactory,
    handed_in: dict[str, Path],
    variant: PreparedDataset,
) -> dict[str, Points]:
    root = tmp_path_factory.mktemp("nbgrader_course")
    return autograde_with_nbgrader(handed_in, root=root, dataset=variant)


@pytest.fixture(scope="module")
def kit_out(
    tmp_path_factory: pytest.TempPathFactory,
    handed_in: dict[str, Path],
    variant: PreparedDataset,
) -> Path:
    """The kit's output folder after grading every notebook."""
    out = tmp_path_factory.mktemp("kit")
    grade_submissions(
        list(handed_in.values()), out=out, seen=variant, jobs=2, settings=SETTINGS
    )
    return out


def kit_points(kit_out: Path, name: str) -> Points:
    path = kit_out / "results" / f"{name}.json"
    result = SubmissionResult.model_validate_json(path.read_bytes())
    return {
        check.id: check.points for check in result.checks if check.id in CODE_CHECKS
    }


def kit_failing_self_checks(kit_out: Path, name: str) -> frozenset[CheckId]:
    """The code steps whose self-check raised an AssertionError in the kit's run."""
    path = kit_out / "evidence" / f"{name}.json"
    evidence = Evidence.model_validate_json(path.read_bytes())
    failed = {
        cell.grade_id
        for cell in evidence.cells
        if cell.error is not None and cell.error.ename == "AssertionError"
    }
    return frozenset(check for check in CODE_CHECKS if GRADED_CELL[check] in failed)


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_does_the_kit_give_each_notebook_the_points_it_deserves(
    name: str, kit_out: Path
) -> None:
    assert kit_points(kit_out, name) == NOTEBOOKS[name].points


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_do_the_self_checks_fail_where_the_answer_has_a_problem(
    name: str, kit_out: Path
) -> None:
    assert kit_failing_self_checks(kit_out, name) == NOTEBOOKS[name].failing_self_checks


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_does_nbgrader_give_the_code_steps_the_kits_points(
    name: str, by_nbgrader: dict[str, Points], kit_out: Path
) -> None:
    assert by_nbgrader[name] == kit_points(kit_out, name)
