"""Write the demo's example submissions into `examples/submissions/`.

Each example is the student release with its answer cells filled in the way one
kind of student would, saved as that student would hand it in. Run this again
after the lesson changes: `./kit run` is not needed, only the project's Python:

    .venv/bin/python examples/make_submissions.py
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from pathlib import Path

import nbformat
from nbformat import NotebookNode

from autograder.config import load_settings

HERE = Path(__file__).resolve().parent
SUBMISSIONS = HERE / "submissions"

SOLUTION_REGION = re.compile(
    r"### BEGIN SOLUTION\n(?P<solution>.*?)### END SOLUTION\n?", re.DOTALL
)
DELIMITER_LINE = re.compile(r"^### (BEGIN|END) SOLUTION\n", re.MULTILINE)


def _grade_id(cell: NotebookNode) -> str | None:
    grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
    return grade_id if isinstance(grade_id, str) else None


def model_answers() -> dict[str, str]:
    """What the source notebook's solutions put in each answer cell."""
    source = nbformat.read(load_settings().source_notebook, as_version=4)
    answers = {}
    for cell in source.cells:
        grade_id = _grade_id(cell)
        solution = cell.metadata.get("nbgrader", {}).get("solution", False)
        if grade_id is None or not solution:
            continue
        if cell.cell_type == "markdown":
            match = SOLUTION_REGION.search(cell.source)
            answers[grade_id] = match.group("solution").strip() if match else ""
        else:
            answers[grade_id] = DELIMITER_LINE.sub("", cell.source).strip()
    return answers


def filled_release(answers: dict[str, str]) -> NotebookNode:
    release = nbformat.read(load_settings().release_notebook, as_version=4)
    notebook: NotebookNode = copy.deepcopy(release)
    for cell in notebook.cells:
        grade_id = _grade_id(cell)
        if grade_id in answers:
            cell.source = answers[grade_id]
    return notebook


def full_marks() -> NotebookNode:
    return filled_release(model_answers())


def blank() -> NotebookNode:
    return filled_release({})


def colab_stripped() -> NotebookNode:
    """Full answers, saved by an editor that dropped every cell's metadata."""
    notebook = full_marks()
    for cell in notebook.cells:
        cell.metadata = {}
    notebook.metadata = {
        "colab": {"provenance": []},
        "kernelspec": {"name": "python3", "display_name": "Python 3"},
    }
    return notebook


def partial() -> NotebookNode:
    """Counts typed in by hand, a grid of the first ten images, a thin report."""
    answers = model_answers()
    answers["step2_counts"] = (
        "counts = [5000] * 10\n"
        "for name, count in zip(class_names, counts):\n"
        '    print(f"{name}: {count}")'
    )
    answers["step3_grid"] = (
        "fig, axes = plt.subplots(2, 5, figsize=(12, 5))\n"
        "for index, ax in enumerate(axes.flat):\n"
        "    ax.imshow(x_train[index])\n"
        "    ax.set_title(class_names[y_train[index][0]])\n"
        '    ax.axis("off")\n'
        "plt.show()"
    )
    answers["step4_report"] = (
        "**My data report**\n\n"
        "- The most common class is cat, with 6000 training images.\n"
        "- The least common class is ____, with ____ training images.\n"
        "- A class I expect to be hard for a model: ____, because ____\n"
        "- An image that looked ambiguous: index ____ (class ____), because ____"
    )
    return filled_release(answers)


def loops_forever() -> NotebookNode:
    answers = model_answers()
    answers["step2_counts"] = (
        "counts = np.zeros(10, dtype=int)\n"
        "index = 0\n"
        "while index < len(y_train):  # forgot to move on to the next label\n"
        "    counts[y_train[index][0]] += 1"
    )
    return filled_release(answers)


EXAMPLES: dict[str, Callable[[], NotebookNode]] = {
    "ada_full_marks": full_marks,
    "ben_partial": partial,
    "cy_blank": blank,
    "dee_colab_stripped": colab_stripped,
    "eli_loops_forever": loops_forever,
}


def main() -> None:
    SUBMISSIONS.mkdir(parents=True, exist_ok=True)
    for name, build in EXAMPLES.items():
        path = SUBMISSIONS / f"{name}.ipynb"
        nbformat.write(build(), path)
        print(f"wrote {path.relative_to(HERE.parent)}")


if __name__ == "__main__":
    main()
