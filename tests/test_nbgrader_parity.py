"""Does `nbgrader autograde` give the code steps the kit's points?

The source notebook's hidden tests call the kit's own checks, so nbgrader, run
with course_config.py, should score counts, grid and tricky as
`python -m autograder grade` does. Both grade the same notebooks on the same
dataset: a grading variant of the stand-in, served to nbgrader's kernel and
given to the kit as the dataset the students saw. nbgrader takes about 13 s a
notebook, so all of them go through one `autograde` command.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from autograder.config import load_settings
from autograder.dataset import PreparedDataset, make_variant
from autograder.model import CheckId
from autograder.nbgrader_course import CODE_CHECKS, autograde_with_nbgrader
from autograder.pipeline import grade_submissions
from tests.submissions import TRICKY, CorpusSubmission, fill_release, grid_code

pytestmark = pytest.mark.slow

#: The kit grades on the dataset it is given, as nbgrader does.
SETTINGS = load_settings().model_copy(update={"grading_variant": False})
VARIANT_SEED = 7
STUB = "# YOUR CODE HERE\nraise NotImplementedError()"

Points = dict[CheckId, float]

#: Each notebook, and the points of its code steps that both graders should give.
NOTEBOOKS: dict[str, tuple[CorpusSubmission, Points]] = {
    "full_marks": (
        CorpusSubmission("reference"),
        {"counts": 3, "grid": 3, "tricky": 2},
    ),
    "typed_in": (
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
    ),
    "blank": (
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
    ),
    "titles_shifted": (
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
}

#: A grid the kit gives full marks, but whose visible self-check fails on its
#: tick marks: the failing assert stops the test cell before its hidden test.
TICKS_LEFT_ON = CorpusSubmission(
    "a right grid that keeps its tick marks",
    {
        "step3_grid": grid_code(
            "ax.imshow(x_train[i])\nax.set_title(class_names[label])"
        )
    },
)


@pytest.fixture(scope="module")
def variant(standin_dataset: PreparedDataset) -> PreparedDataset:
    return make_variant(standin_dataset, VARIANT_SEED, SETTINGS.variant_count_range)


@pytest.fixture(scope="module")
def handed_in(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("handed_in")
    notebooks = {name: submission for name, (submission, _) in NOTEBOOKS.items()}
    notebooks["ticks_left_on"] = TICKS_LEFT_ON
    paths = {}
    for name, submission in notebooks.items():
        paths[name] = folder / f"{name}.ipynb"
        paths[name].write_text(fill_release(submission), encoding="utf-8")
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
def by_the_kit(
    tmp_path_factory: pytest.TempPathFactory,
    handed_in: dict[str, Path],
    variant: PreparedDataset,
) -> dict[str, Points]:
    results = grade_submissions(
        list(handed_in.values()),
        out=tmp_path_factory.mktemp("kit"),
        seen=variant,
        jobs=2,
        settings=SETTINGS,
    )
    return {
        result.student_id: {
            check.id: check.points for check in result.checks if check.id in CODE_CHECKS
        }
        for result in results
    }


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_does_nbgrader_give_the_code_steps_the_kits_points(
    name: str, by_nbgrader: dict[str, Points], by_the_kit: dict[str, Points]
) -> None:
    _, expected = NOTEBOOKS[name]

    assert by_the_kit[name] == expected
    assert by_nbgrader[name] == by_the_kit[name]


@pytest.mark.xfail(
    strict=True,
    reason="a failing visible self-check zeroes the test cell under nbgrader "
    "before its hidden test runs; the kit still gives the step its points",
)
def test_does_a_failing_self_check_cost_the_same_points_under_nbgrader(
    by_nbgrader: dict[str, Points], by_the_kit: dict[str, Points]
) -> None:
    assert by_nbgrader["ticks_left_on"] == by_the_kit["ticks_left_on"]
