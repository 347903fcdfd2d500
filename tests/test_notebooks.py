"""The lesson's notebooks: their layout, and what happens when they run.

The running tests execute each notebook top to bottom once, in a real Jupyter
kernel that reads the real CIFAR-10 through the kit's dataset serving.
"""

from __future__ import annotations

import ast
import os
import tarfile
from pathlib import Path
from typing import Any

import matplotlib
import nbformat
import numpy as np
import pytest
from matplotlib import pyplot as plt
from nbclient import NotebookClient

from autograder import hooks
from autograder.config import CONFIG_FILE, PROJECT_ROOT, load_settings
from autograder.model import GRADED_CELL

SETTINGS = load_settings(CONFIG_FILE)
SOURCE = SETTINGS.source_notebook
RELEASE = SETTINGS.release_notebook

#: The classes of CIFAR-10, in label order.
CLASS_NAMES = [
    "airplane", "automobile", "bird", "cat", "deer",
    "dog", "frog", "horse", "ship", "truck",
]  # fmt: skip

GRADE_IDS = [
    "setup",
    "step1_predictions",
    "step2_counts",
    "step2_counts_test",
    "step3_grid",
    "step3_grid_test",
    "tricky_measure",
    "tricky_measure_test",
    "step4_report",
]
#: The code test cells, by grade id, and the check each one grades.
TEST_CELLS = {
    grade_id: check
    for check, grade_id in GRADED_CELL.items()
    if grade_id.endswith("_test")
}

#: What each self-check says in the untouched release, where nothing is answered.
UNANSWERED_MESSAGES = {
    "step2_counts_test": "counts is not defined: run the counting cell above",
    "step3_grid_test": "no figure with 10 images found (yours has 0)",
    "tricky_measure_test": "sharpness is not defined: run the cell above",
}

CELL_TIMEOUT_SECONDS = 600


def read(path: Path) -> Any:
    return nbformat.read(path, as_version=4)


def nbgrader_of(cell: Any) -> dict[str, Any]:
    return dict(cell.metadata.get("nbgrader", {}))


def errors_by_cell(notebook: Any) -> dict[str, tuple[str, str]]:
    """Each cell's error, as (name, value), keyed by the cell's id."""
    return {
        cell.id: (output.ename, output.evalue)
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.outputs
        if output.output_type == "error"
    }


def stdout_of(cell: Any) -> str:
    return "".join(
        output.text
        for output in cell.outputs
        if output.output_type == "stream" and output.name == "stdout"
    )


# -- the source's layout ------------------------------------------------------------


def test_is_the_source_a_valid_notebook_with_ids_on_every_cell() -> None:
    notebook = read(SOURCE)
    nbformat.validate(notebook)

    assert (notebook.nbformat, notebook.nbformat_minor) == (4, 5)
    assert all(cell.get("id") for cell in notebook.cells)


def test_are_the_graded_and_answer_cells_in_the_lesson_order() -> None:
    grade_ids = [
        nbgrader_of(cell)["grade_id"]
        for cell in read(SOURCE).cells
        if "grade_id" in nbgrader_of(cell)
    ]

    assert grade_ids == GRADE_IDS


def test_is_the_setup_cell_locked_and_loading_cifar10() -> None:
    setup = next(c for c in read(SOURCE).cells if c.id == "setup")

    assert nbgrader_of(setup)["locked"] is True
    assert "tf.keras.datasets.cifar10.load_data()" in setup.source
    assert "class_names = [" in setup.source


def hidden_ending(check: str) -> str:
    """How a test cell ends, after its self-check has collected its problems.

    Hidden: the problems cleared, so that nbgrader still reaches the grading.
    Visible: the first problem raised, for students. Hidden: the step's points
    as the cell's last expression, nbgrader's partial credit.
    """
    return (
        "### BEGIN HIDDEN TESTS\n"
        "problems = []  # graded below, with partial credit: "
        "a failed self-check must not zero it\n"
        "### END HIDDEN TESTS\n"
        "assert not problems, problems[0]\n"
        "### BEGIN HIDDEN TESTS\n"
        "from autograder.hooks import grade_step\n"
        f'grade_step("{check}", globals())\n'
        "### END HIDDEN TESTS"
    )


@pytest.mark.parametrize("grade_id", sorted(TEST_CELLS))
def test_does_a_test_cell_collect_its_problems_then_grade_its_step_hidden(
    grade_id: str,
) -> None:
    cell = next(c for c in read(SOURCE).cells if c.id == grade_id)
    self_check = cell.source.removesuffix(hidden_ending(TEST_CELLS[grade_id]))

    assert cell.source.startswith("# Self-check")
    assert self_check != cell.source
    assert "\nproblems = []\n" in self_check
    assert "assert" not in self_check, (
        "a self-check that raises zeroes nbgrader's grade"
    )
    assert nbgrader_of(cell)["locked"] is True


def test_are_the_source_outputs_cleared() -> None:
    code_cells = [c for c in read(SOURCE).cells if c.cell_type == "code"]

    assert all(c.outputs == [] for c in code_cells)


# -- the self-checks, on answers that are wrong -------------------------------------

WRONG_ANSWERS = {
    "forgot minlength": (
        "step2_counts_test",
        "counts = np.bincount(y_train.flatten()[y_train.flatten() < 9])",
        "counts has 9 entries: pass minlength=10 to np.bincount",
    ),
    "hard-coded counts": (
        "step2_counts_test",
        "counts = [5000] * 10",
        "counts adds up to 50000, but there are 200 training labels",
    ),
    "two classes missing": (
        "step3_grid_test",
        "fig, axes = plt.subplots(2, 5)\n"
        "for ax, label in zip(axes.flat, [0, 1, 2, 3, 4, 5, 6, 7, 0, 1]):\n"
        "    ax.imshow(x_train[label]); ax.set_title(class_names[label])\n"
        "    ax.axis('off')",
        "the grid shows 8 classes: pick one image of every class",
    ),
    "axes left on": (
        "step3_grid_test",
        "fig, axes = plt.subplots(2, 5)\n"
        "for ax, label in zip(axes.flat, range(10)):\n"
        "    ax.imshow(x_train[label]); ax.set_title(class_names[label])",
        "some axes still show tick marks",
    ),
    "suspects not the lowest": (
        "tricky_measure_test",
        "sharpness = np.arange(200.0)\nchosen_class = 3\n"
        "suspects = np.flatnonzero(y_train.flatten() == 3)[-5:]\ntricky_index = 3",
        "suspects are not the 5 lowest-sharpness images of chosen_class",
    ),
    "index beyond the training set": (
        "tricky_measure_test",
        "sharpness = np.arange(200.0)\nchosen_class = 3\n"
        "suspects = np.flatnonzero(y_train.flatten() == 3)[:5]\ntricky_index = 200",
        "tricky_index must be a training index between 0 and 199",
    ),
    # answers of a shape the self-checks must survive, to say what to fix
    "counts kept by class name": (
        "step2_counts_test",
        "counts = {name: 20 for name in class_names}",
        "counts does not hold one number per class",
    ),
    "counts left as what print returns": (
        "step2_counts_test",
        "counts = print(np.bincount(y_train.flatten()))",
        "counts does not hold one number per class",
    ),
    "counts nested unevenly": (
        "step2_counts_test",
        "counts = [[20, 20], [20]]",
        "counts does not hold one number per class",
    ),
    "fig holding an image, not a figure": (
        "step3_grid_test",
        "fig = plt.imshow(x_train[0])",
        "no figure called fig",
    ),
    "sharpness left as a list": (
        "tricky_measure_test",
        "sharpness = [0.0] * 200",
        "sharpness is not a NumPy array",
    ),
    "a measure that returns nothing": (
        "tricky_measure_test",
        "sharpness = np.array([None] * 200)",
        "sharpness must hold numbers",
    ),
    "chosen_class several classes": (
        "tricky_measure_test",
        "sharpness = np.arange(200.0)\nchosen_class = np.array([3, 5])",
        "chosen_class must be a class number between 0 and 9",
    ),
    "suspects a single index": (
        "tricky_measure_test",
        "sharpness = np.arange(200.0)\nchosen_class = 3\nsuspects = 3",
        "suspects must hold the indices of 5 training images",
    ),
    "suspects beyond the training set": (
        "tricky_measure_test",
        "sharpness = np.arange(200.0)\nchosen_class = 3\n"
        "suspects = [3, 13, 23, 33, 203]",
        "suspects must hold the indices of 5 training images",
    ),
}
#: Nothing answered: what each self-check meets in the untouched release.
NOTHING_ANSWERED = {
    f"{grade_id} unanswered": (grade_id, "", message)
    for grade_id, message in UNANSWERED_MESSAGES.items()
}


def small_lesson_namespace() -> dict[str, Any]:
    """What the setup cell gives, on 200 images whose label is their index mod 10."""
    labels = np.arange(200) % 10
    return {
        "np": np,
        "plt": plt,
        "x_train": np.zeros((200, 32, 32, 3), dtype=np.uint8),
        "y_train": labels.reshape(-1, 1),
        "class_names": CLASS_NAMES,
    }


def run_as_cell(source: str, namespace: dict[str, Any]) -> object:
    """Run `source` as a kernel runs a cell: the value of its last expression."""
    body = ast.parse(source).body
    last = body[-1] if body else None
    if not isinstance(last, ast.Expr):
        exec(compile(source, "<cell>", "exec"), namespace)
        return None
    exec(compile(ast.Module(body[:-1], type_ignores=[]), "<cell>", "exec"), namespace)
    return eval(compile(ast.Expression(last.value), "<cell>", "eval"), namespace)


@pytest.mark.parametrize(
    ("grade_id", "answer", "message"),
    list(WRONG_ANSWERS.values()),
    ids=list(WRONG_ANSWERS),
)
def test_does_a_self_check_say_what_to_fix_in_a_wrong_answer(
    grade_id: str, answer: str, message: str
) -> None:
    self_check = next(c for c in read(RELEASE).cells if c.id == grade_id).source
    namespace = small_lesson_namespace()
    matplotlib.use("Agg")
    exec(answer, namespace)

    try:
        with pytest.raises(AssertionError) as failure:
            exec(self_check, namespace)
    finally:
        plt.close("all")
    assert str(failure.value).startswith(message)


@pytest.mark.parametrize(
    ("grade_id", "answer"),
    [
        (grade_id, answer)
        for grade_id, answer, _ in [*WRONG_ANSWERS.values(), *NOTHING_ANSWERED.values()]
    ],
    ids=[*WRONG_ANSWERS, *NOTHING_ANSWERED],
)
def test_does_a_failing_self_check_still_end_on_the_steps_points_for_nbgrader(
    grade_id: str,
    answer: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    test_cell = next(c for c in read(SOURCE).cells if c.id == grade_id).source
    graded: list[str] = []

    def grade_step(check_id: str, namespace: dict[str, object]) -> float:
        graded.append(check_id)
        return 1.5

    monkeypatch.setattr(hooks, "grade_step", grade_step)
    namespace = small_lesson_namespace()
    matplotlib.use("Agg")
    exec(answer, namespace)

    try:
        points = run_as_cell(test_cell, namespace)
    finally:
        plt.close("all")
    assert "self-check passed" not in capsys.readouterr().out
    assert (points, graded) == (1.5, [TEST_CELLS[grade_id]])


# -- running the notebooks ----------------------------------------------------------


@pytest.fixture(scope="session")
def served_dataset(
    real_archive: Path, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """A folder holding the real `cifar-10-batches-py/`, for the kit's serving."""
    folder = tmp_path_factory.mktemp("served")
    with tarfile.open(real_archive) as archive:
        archive.extractall(folder, filter="data")
    if not (folder / "cifar-10-batches-py").is_dir():
        pytest.fail(f"{real_archive.name} holds no cifar-10-batches-py folder")
    return folder


def run_in_kernel(path: Path, served: Path, workdir: Path) -> Any:
    """Execute the notebook at `path` top to bottom; errors stay in its outputs."""
    env = dict(os.environ)
    env.pop("MPLBACKEND", None)
    env.update(
        DATA_DETECTIVE_SERVE=str(served),
        PYTHONPATH=os.pathsep.join(
            [str(PROJECT_ROOT / "autograder" / "serving"), str(PROJECT_ROOT)]
        ),
        TF_CPP_MIN_LOG_LEVEL="3",
    )
    notebook = read(path)
    client = NotebookClient(
        notebook,
        kernel_name="python3",
        timeout=CELL_TIMEOUT_SECONDS,
        allow_errors=True,
        resources={"metadata": {"path": str(workdir)}},
    )
    client.execute(env=env)
    return notebook


@pytest.fixture(scope="module")
def kernel_workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the kernels start, so that nothing they write lands in the project."""
    return tmp_path_factory.mktemp("kernel-cwd")


@pytest.fixture(scope="module")
def ran_source(served_dataset: Path, kernel_workdir: Path) -> Any:
    return run_in_kernel(SOURCE, served_dataset, kernel_workdir)


@pytest.fixture(scope="module")
def ran_release(served_dataset: Path, kernel_workdir: Path) -> Any:
    return run_in_kernel(RELEASE, served_dataset, kernel_workdir)


@pytest.mark.slow
@pytest.mark.shared_data
def test_does_the_source_run_without_any_error(ran_source: Any) -> None:
    assert errors_by_cell(ran_source) == {}


@pytest.mark.slow
@pytest.mark.shared_data
@pytest.mark.parametrize("grade_id", sorted(TEST_CELLS))
def test_does_the_source_pass_every_self_check_with_full_points(
    ran_source: Any, grade_id: str
) -> None:
    cell = next(c for c in ran_source.cells if c.id == grade_id)
    results = [o for o in cell.outputs if o.output_type == "execute_result"]

    assert "self-check passed" in stdout_of(cell)
    assert not [o for o in cell.outputs if getattr(o, "name", "") == "stderr"], (
        "nbgrader scores a test cell that writes to stderr zero"
    )
    assert len(results) == 1, "the hidden test must end on grade_step's score"
    assert float(results[0].data["text/plain"]) == nbgrader_of(cell)["points"]


@pytest.mark.slow
@pytest.mark.shared_data
def test_does_the_source_print_one_count_per_class(ran_source: Any) -> None:
    cell = next(c for c in ran_source.cells if c.id == "step2_counts")
    lines = stdout_of(cell).splitlines()

    assert lines == [f"{name}: 5000" for name in CLASS_NAMES]


@pytest.mark.slow
@pytest.mark.shared_data
def test_does_the_untouched_release_fail_each_self_check_with_its_message(
    ran_release: Any,
) -> None:
    errors = errors_by_cell(ran_release)
    answer_cells = [
        cell.id
        for cell in ran_release.cells
        if cell.cell_type == "code" and nbgrader_of(cell).get("solution")
    ]

    assert {cell_id: errors.pop(cell_id)[0] for cell_id in answer_cells} == {
        "step2_counts": "NotImplementedError",
        "step3_grid": "NotImplementedError",
        "tricky_measure": "NotImplementedError",
    }
    assert {cell_id: name for cell_id, (name, _) in errors.items()} == {
        grade_id: "AssertionError" for grade_id in UNANSWERED_MESSAGES
    }
    for grade_id, message in UNANSWERED_MESSAGES.items():
        assert errors[grade_id][1].startswith(message)
