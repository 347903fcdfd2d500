"""Small factories for cells and notebooks in the lesson's layout.

Cells carry the nbgrader metadata that `nbgrader generate_assignment` writes, so
a notebook built here looks to the kit (and to nbgrader) like the real release
or a real submission. `lesson_release()` is the release; `worked_submission()`
is that release with every answer filled in by a diligent student.
"""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any

import nbformat
from nbformat import NotebookNode, v4

from autograder.model import Submission

CODE_STUB = "# YOUR CODE HERE\nraise NotImplementedError()"
TEXT_STUB = "YOUR ANSWER HERE"

SETUP_SOURCE = """\
import numpy as np
import matplotlib.pyplot as plt
import tensorflow as tf

(x_train, y_train), (x_test, y_test) = tf.keras.datasets.cifar10.load_data()
class_names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog",
               "horse", "ship", "truck"]"""

REPORT_TEMPLATE = """\
**Data report**

- The most common class is ____ with ____ training images.
- The least common class is ____ with ____ training images.
- A class I expect to be hard for a model is ____, because ____.
- An image that looked ambiguous to me is index ____ (class ____), because ____."""

INSTRUCTIONS: dict[str, str] = {
    "title": "# Data Detective: look at CIFAR-10 before you train on it",
    "step1": "## Step 1: predict\nWhich three classes will a model confuse most?",
    "step2": "## Step 2: count\nCount the training images of every class.",
    "step3": "## Step 3: look\nShow one training image of every class in a grid.",
    "tricky": "## Step 3b: hunt for tricky images\nMeasure how sharp each image is.",
    "step4": "## Step 4: report\nFill in the blanks below.",
    "try_this": "## Try this (not graded)\nChange the class and run the cell again.",
}

#: An ungraded experiment at the end of the release: a plain, unlocked code cell.
TRY_THIS_SOURCE = """\
easy_class = "ship"
label = class_names.index(easy_class)
plt.imshow(x_train[np.flatnonzero(y_train.flatten() == label)[0]])
plt.show()"""

TESTS: dict[str, str] = {
    "step2_counts_test": (
        "assert len(counts) == 10, 'counts needs one number per class'\n"
        "assert sum(counts) == len(y_train), 'the counts must add up to all images'"
    ),
    "step3_grid_test": (
        "fig = plt.gcf()\n"
        "assert len(fig.axes) >= 10, 'the grid needs one axes per class'"
    ),
    "tricky_measure_test": (
        "assert len(sharpness) == len(x_train), 'one sharpness value per image'\n"
        "assert len(suspects) == 5, 'show five suspects'"
    ),
}

#: What a diligent student writes in each answer cell.
ANSWERS: dict[str, str] = {
    "step1_predictions": (
        "1. cat and dog, because both are furry pets seen from similar angles.\n"
        "2. automobile and truck, because both are vehicles on roads.\n"
        "3. deer and horse, because both have four legs and brown fur.\n\n"
        "I predict the classes are balanced."
    ),
    "step2_counts": (
        "counts = np.bincount(y_train.flatten(), minlength=10)\n"
        "for name, count in zip(class_names, counts):\n"
        '    print(f"{name}: {count}")'
    ),
    "step3_grid": (
        "fig, axes = plt.subplots(2, 5, figsize=(10, 4))\n"
        "for label, ax in enumerate(axes.flat):\n"
        "    index = np.flatnonzero(y_train.flatten() == label)[0]\n"
        "    ax.imshow(x_train[index])\n"
        "    ax.set_title(class_names[label])\n"
        "    ax.axis('off')\n"
        "plt.show()"
    ),
    "tricky_measure": (
        "images = x_train.astype(float)\n"
        "sharpness = np.abs(np.diff(images, axis=2)).mean(axis=(1, 2, 3))\n"
        "chosen_class = 3\n"
        "members = np.flatnonzero(y_train.flatten() == chosen_class)\n"
        "suspects = members[np.argsort(sharpness[members])[:5]]\n"
        "fig, axes = plt.subplots(1, 5)\n"
        "for ax, index in zip(axes, suspects):\n"
        "    ax.imshow(x_train[index])\n"
        "    ax.set_title(str(index))\n"
        "plt.show()\n"
        "tricky_index = int(suspects[0])"
    ),
    "step4_report": REPORT_TEMPLATE.replace(
        "is ____ with ____ training images.", "is frog with 5000 training images.", 1
    )
    .replace("is ____ with ____ training images.", "is cat with 5000 training images.")
    .replace("is ____, because ____.", "is cat, because cats and dogs look alike.", 1)
    .replace(
        "index ____ (class ____), because ____.",
        "index 2405 (class cat), because it is so blurry it could be a dog.",
    ),
}

#: The answer cells' grade ids, in release order.
ANSWER_IDS = (
    "step1_predictions",
    "step2_counts",
    "step3_grid",
    "tricky_measure",
    "step4_report",
)


def nbgrader_metadata(
    grade_id: str,
    *,
    solution: bool = False,
    grade: bool = False,
    locked: bool = False,
    points: float | None = None,
) -> dict[str, Any]:
    """The `nbgrader` cell metadata (schema 3), as generate_assignment writes it."""
    metadata: dict[str, Any] = {
        "grade": grade,
        "grade_id": grade_id,
        "locked": locked,
        "schema_version": 3,
        "solution": solution,
        "task": False,
    }
    if grade:
        metadata["points"] = points or 0
    return metadata


def new_cell(cell_type: str, source: str) -> NotebookNode:
    """A code or markdown cell without metadata."""
    make = v4.new_code_cell if cell_type == "code" else v4.new_markdown_cell
    cell: NotebookNode = make(source)  # type: ignore[no-untyped-call]
    return cell


def locked_cell(grade_id: str, source: str, cell_type: str = "code") -> NotebookNode:
    """A read-only cell: the setup code, or instructions the student must keep."""
    cell = new_cell(cell_type, source)
    cell.metadata["nbgrader"] = nbgrader_metadata(grade_id, locked=True)
    return cell


def answer_cell(
    grade_id: str,
    source: str,
    cell_type: str = "code",
    points: float | None = None,
) -> NotebookNode:
    """A cell the student writes in; with `points`, a manually graded answer."""
    cell = new_cell(cell_type, source)
    cell.metadata["nbgrader"] = nbgrader_metadata(
        grade_id, solution=True, grade=points is not None, points=points
    )
    return cell


def graded_test_cell(grade_id: str, source: str, points: float) -> NotebookNode:
    """An autograder test cell: locked, graded, worth `points`.

    Not named `test_...`, so that pytest never collects it where it is imported.
    """
    cell = new_cell("code", source)
    cell.metadata["nbgrader"] = nbgrader_metadata(
        grade_id, grade=True, locked=True, points=points
    )
    return cell


def instructions_cell(source: str) -> NotebookNode:
    """A plain markdown cell without nbgrader metadata."""
    return new_cell("markdown", source)


def lesson_release() -> NotebookNode:
    """The student notebook of the lesson, stubs in the answer cells."""
    notebook: NotebookNode = v4.new_notebook()
    notebook.metadata["kernelspec"] = {
        "display_name": "Python 3",
        "language": "python",
        "name": "python3",
    }
    notebook.cells = [
        instructions_cell(INSTRUCTIONS["title"]),
        locked_cell("setup", SETUP_SOURCE),
        instructions_cell(INSTRUCTIONS["step1"]),
        answer_cell("step1_predictions", TEXT_STUB, "markdown", points=2),
        instructions_cell(INSTRUCTIONS["step2"]),
        answer_cell("step2_counts", CODE_STUB),
        graded_test_cell("step2_counts_test", TESTS["step2_counts_test"], points=3),
        instructions_cell(INSTRUCTIONS["step3"]),
        answer_cell("step3_grid", CODE_STUB),
        graded_test_cell("step3_grid_test", TESTS["step3_grid_test"], points=3),
        instructions_cell(INSTRUCTIONS["tricky"]),
        answer_cell("tricky_measure", CODE_STUB),
        graded_test_cell("tricky_measure_test", TESTS["tricky_measure_test"], points=2),
        instructions_cell(INSTRUCTIONS["step4"]),
        answer_cell("step4_report", REPORT_TEMPLATE, "markdown", points=4),
        instructions_cell(INSTRUCTIONS["try_this"]),
        new_cell("code", TRY_THIS_SOURCE),
    ]
    return notebook


def worked_submission(answers: dict[str, str] | None = None) -> NotebookNode:
    """The release with answers filled in (by default, every one in `ANSWERS`)."""
    notebook = lesson_release()
    for grade_id, source in (ANSWERS if answers is None else answers).items():
        cell_by_grade_id(notebook, grade_id).source = source
    return notebook


def cell_by_grade_id(notebook: NotebookNode, grade_id: str) -> NotebookNode:
    """The first cell with this nbgrader grade id."""
    for cell in notebook.cells:
        if grade_id_of(cell) == grade_id:
            found: NotebookNode = cell
            return found
    raise KeyError(grade_id)


def grade_id_of(cell: NotebookNode) -> str | None:
    grade_id: str | None = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
    return grade_id


def without_metadata(notebook: NotebookNode) -> NotebookNode:
    """A copy with every cell's metadata gone, as some editors hand it back."""
    stripped = copy.deepcopy(notebook)
    for cell in stripped.cells:
        cell.metadata = nbformat.from_dict({})
    return stripped


def notebook_text(notebook: NotebookNode) -> str:
    """The notebook as the JSON text of an .ipynb file, valid or not.

    Written without nbformat's validation, which would quietly repair (and warn
    about) exactly the damage a test may want to hand in.
    """
    return json.dumps(notebook, indent=1, ensure_ascii=False) + "\n"


def parsed(text: str) -> NotebookNode:
    """Notebook JSON text read back as nbformat 4, after checking it validates."""
    notebook: NotebookNode = nbformat.reads(text, as_version=4)
    nbformat.validate(notebook)
    return notebook


def read_notebook(path: Path) -> NotebookNode:
    """An .ipynb file from disk, as nbformat 4."""
    return parsed(path.read_text(encoding="utf-8"))


def stream_output(text: str) -> NotebookNode:
    """A code cell's printed output."""
    output: NotebookNode = v4.new_output("stream", text=text)
    return output


def format3_text(code: str) -> str:
    """An old (nbformat 3) notebook of one code cell, as its file's text."""
    v3 = nbformat.v3
    old = v3.new_notebook()
    sheet = v3.new_worksheet()
    sheet.cells.append(v3.new_code_cell(code))
    old.worksheets.append(sheet)
    text: str = nbformat.writes(old, version=3)
    return text


def submission(
    student_id: str = "12345", notebook: NotebookNode | None = None
) -> Submission:
    """A readable `Submission` of `notebook` (by default a worked submission)."""
    text = notebook_text(notebook if notebook is not None else worked_submission())
    return Submission(
        student_id=student_id,
        source_file=f"{student_id}.ipynb",
        sha256=hashlib.sha256(text.encode()).hexdigest(),
        notebook_json=text,
    )
