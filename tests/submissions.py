"""A corpus of submissions written for the tests, with the grade each deserves.

Each submission is a set of answers by grade id, filled into the release
notebook: code for `step2_counts`, `step3_grid` and `tricky_measure`, markdown
for `step1_predictions` and `step4_report`. Answers not given are the
reference's. `expected` holds the exact points and status of every check when
the notebook runs on a grading variant of the generated stand-in (5,000
training images per class, so the report cites 5000).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from autograder.config import load_settings
from autograder.model import CHECK_IDS, CheckId, CheckStatus

Expected = tuple[float, CheckStatus]

PREDICTIONS = """\
**The three classes I expect a model to confuse most:**

1. cat, because at 32 x 32 pixels a cat and a dog are both a furry blob with ears.
2. deer, because a deer and a horse share a brown body and grass behind them.
3. automobile, because a small car and a truck both show wheels and windows.

**Balance:** I predict the classes are balanced (balanced / not balanced), because \
a teaching dataset is usually built with the same number of photos per class."""

COUNTS = """\
labels = y_train.flatten()
counts = np.bincount(labels, minlength=10)
for name, count in zip(class_names, counts):
    print(f"{name}: {count}")"""

GRID = """\
fig, axes = plt.subplots(2, 5, figsize=(12, 5))
for label, ax in enumerate(axes.flat):
    first = np.flatnonzero(y_train.flatten() == label)[0]
    ax.imshow(x_train[first])
    ax.set_title(class_names[label])
    ax.axis("off")
plt.show()"""

TRICKY = """\
def sharpness_of(image):
    gray = image.mean(axis=2)
    across = np.abs(np.diff(gray, axis=1)).mean()
    down = np.abs(np.diff(gray, axis=0)).mean()
    return (across + down) / 2

sharpness = np.array([sharpness_of(image) for image in x_train])
chosen_class = 3
in_class = np.flatnonzero(y_train.flatten() == chosen_class)
suspects = in_class[np.argsort(sharpness[in_class])[:5]]
suspects_fig, suspect_axes = plt.subplots(1, 5, figsize=(12, 3))
for ax, index in zip(suspect_axes, suspects):
    ax.imshow(x_train[index])
    ax.set_title(str(index))
    ax.axis("off")
plt.show()
tricky_index = int(suspects[0])"""

REPORT = """\
**My data report**

- The most common class is airplane, with 5000 training images (all tie).
- The least common class is truck, with 5,000 training images, as I predicted.
- A class I expect to be hard for a model: cat, because in a tiny photo a cat \
loses the whiskers that tell it apart from a dog.
- An image that looked ambiguous: index 25023 (class cat), because it is so dark \
that it could just as well be a dog."""

REFERENCE: dict[str, str] = {
    "step1_predictions": PREDICTIONS,
    "step2_counts": COUNTS,
    "step3_grid": GRID,
    "tricky_measure": TRICKY,
    "step4_report": REPORT,
}
FULL: dict[CheckId, Expected] = {
    "predictions": (2.0, "passed"),
    "counts": (3.0, "passed"),
    "grid": (3.0, "passed"),
    "tricky": (2.0, "passed"),
    "report": (4.0, "passed"),
}
STUB = "# YOUR CODE HERE\nraise NotImplementedError()"


@dataclass(frozen=True)
class CorpusSubmission:
    name: str
    answers: dict[str, str] = field(default_factory=dict)
    expected: dict[CheckId, Expected] = field(default_factory=dict)

    def all_answers(self) -> dict[str, str]:
        return {**REFERENCE, **self.answers}

    def all_expected(self) -> dict[CheckId, Expected]:
        return {
            check_id: self.expected.get(check_id, FULL[check_id])
            for check_id in CHECK_IDS
        }


def grid_code(body: str, layout: str = "2, 5") -> str:
    """A grid cell that draws one image per class with `body` (uses label, ax, i)."""
    return (
        f"fig, axes = plt.subplots({layout}, figsize=(12, 5))\n"
        "for label, ax in zip(range(10), axes.flat):\n"
        "    i = int(np.flatnonzero(y_train.flatten() == label)[0])\n"
        + "".join(f"    {line}\n" for line in body.splitlines())
        + "plt.show()"
    )


CORPUS: list[CorpusSubmission] = [
    CorpusSubmission("reference"),
    # -- counts, correct in many styles ----------------------------------------
    CorpusSubmission(
        "counts-np-unique",
        {
            "step2_counts": "values, counts = np.unique(y_train, return_counts=True)\n"
            "for value, count in zip(values, counts):\n"
            "    print(class_names[value], count)"
        },
    ),
    CorpusSubmission(
        "counts-counter",
        {
            "step2_counts": "from collections import Counter\n"
            "tally = Counter(y_train.flatten().tolist())\n"
            "for label in range(10):\n"
            "    print(f'{class_names[label]} has {tally[label]:,} images')"
        },
    ),
    CorpusSubmission(
        "counts-dict-loop",
        {
            "step2_counts": "per_class = {}\n"
            "for label in y_train.flatten():\n"
            "    name = class_names[label]\n"
            "    per_class[name] = per_class.get(name, 0) + 1\n"
            "for name in class_names:\n"
            "    print(name, per_class[name])"
        },
    ),
    CorpusSubmission(
        "counts-pandas-value-counts",
        {
            "step2_counts": "import pandas as pd\n"
            "names = pd.Series([class_names[i] for i in y_train.flatten()])\n"
            "print(names.value_counts())"
        },
    ),
    CorpusSubmission(
        "counts-bincount-without-minlength",
        {
            "step2_counts": "how_many = np.bincount(y_train.flatten())\n"
            "for label in range(10):\n"
            "    print(f'{label} {class_names[label]}: {how_many[label]}')"
        },
    ),
    # -- counts, partly right or shortcuts -------------------------------------
    CorpusSubmission(
        "counts-typed-in",
        {
            "step2_counts": "counts = [5000] * 10\n"
            "for name, count in zip(class_names, counts):\n"
            "    print(f'{name}: {count}')"
        },
        {"counts": (0.0, "failed")},
    ),
    CorpusSubmission(
        "counts-not-printed",
        {"step2_counts": "counts = np.bincount(y_train.flatten(), minlength=10)"},
        {"counts": (2.0, "partial")},
    ),
    CorpusSubmission(
        "counts-loop-misses-a-class",
        {
            "step2_counts": "counts = [0] * 10\n"
            "for label in range(9):\n"
            "    counts[label] = int((y_train == label).sum())\n"
            "for name, count in zip(class_names, counts):\n"
            "    print(f'{name}: {count}')"
        },
        {"counts": (1.0, "partial")},
    ),
    CorpusSubmission(
        "counts-print-typo",
        {
            "step2_counts": "counts = np.bincount(y_train.flatten(), minlength=10)\n"
            "for name, count in zip(class_name, counts):\n"
            "    print(f'{name}: {count}')"
        },
        {"counts": (2.0, "partial")},
    ),
    CorpusSubmission(
        "counts-untouched", {"step2_counts": STUB}, {"counts": (0.0, "failed")}
    ),
    # -- grid, correct in many styles ------------------------------------------
    CorpusSubmission(
        "grid-floats-five-by-two",
        {
            "step3_grid": grid_code(
                "ax.imshow(x_train[i] / 255.0)\nax.set_title(class_names[label])",
                "5, 2",
            )
        },
    ),
    CorpusSubmission(
        "grid-one-row-plural-titles",
        {
            "step3_grid": grid_code(
                "ax.imshow(x_train[i])\n"
                "ax.set_title(class_names[label].capitalize() + 's')\n"
                "ax.axis('off')",
                "1, 10",
            )
        },
    ),
    CorpusSubmission(
        "grid-three-by-four",
        {
            "step3_grid": grid_code(
                "ax.imshow(x_train[i])\nax.set_title(f'{label}: {class_names[label]}')",
                "3, 4",
            )
        },
    ),
    # -- grid, partly right or shortcuts ---------------------------------------
    CorpusSubmission(
        "grid-first-ten-images",
        {
            "step3_grid": "fig, axes = plt.subplots(2, 5)\n"
            "for i, ax in enumerate(axes.flat):\n"
            "    ax.imshow(x_train[i])\n"
            "    ax.set_title(class_names[y_train[i][0]])\n"
            "plt.show()"
        },
        {"grid": (1.0, "partial")},
    ),
    CorpusSubmission(
        "grid-no-titles",
        {"step3_grid": grid_code("ax.imshow(x_train[i])")},
        {"grid": (2.0, "partial")},
    ),
    CorpusSubmission(
        "grid-titles-shifted",
        {
            "step3_grid": grid_code(
                "ax.imshow(x_train[i])\nax.set_title(class_names[(label + 1) % 10])"
            )
        },
        {"grid": (2.0, "partial")},
    ),
    CorpusSubmission(
        "grid-ten-figures",
        {
            "step3_grid": "for label in range(10):\n"
            "    i = int(np.flatnonzero(y_train.flatten() == label)[0])\n"
            "    plt.figure()\n"
            "    plt.imshow(x_train[i])\n"
            "    plt.title(class_names[label])\n"
            "    plt.show()"
        },
        {"grid": (2.0, "partial")},
    ),
    CorpusSubmission(
        "grid-test-images",
        {
            "step3_grid": "fig, axes = plt.subplots(2, 5)\n"
            "for label, ax in enumerate(axes.flat):\n"
            "    i = int(np.flatnonzero(y_test.flatten() == label)[0])\n"
            "    ax.imshow(x_test[i])\n"
            "    ax.set_title(class_names[label])\n"
            "plt.show()"
        },
        {"grid": (0.0, "failed")},
    ),
    # -- tricky ----------------------------------------------------------------
    CorpusSubmission(
        "tricky-index-typed-in",
        {"tricky_measure": TRICKY.replace("int(suspects[0])", "49999")},
        {"tricky": (1.0, "partial")},
    ),
    CorpusSubmission(
        "tricky-measure-of-one-class",
        {
            "tricky_measure": TRICKY.split("sharpness = ")[0] + "chosen_class = 3\n"
            "in_class = np.flatnonzero(y_train.flatten() == chosen_class)\n"
            "sharpness = np.array([sharpness_of(x_train[i]) for i in in_class])\n"
            "suspects = in_class[np.argsort(sharpness)[:5]]\n"
            + "suspects_fig"
            + TRICKY.split("suspects_fig")[1]
        },
        {"tricky": (1.0, "partial")},
    ),
    CorpusSubmission(
        "tricky-never-shown",
        {
            "tricky_measure": TRICKY.split("suspects_fig")[0]
            + "tricky_index = int(suspects[0])"
        },
        {"tricky": (1.0, "partial")},
    ),
    # -- predictions -----------------------------------------------------------
    CorpusSubmission(
        "predictions-synonyms",
        {
            "step1_predictions": "1. Cars, because from far away cars and lorries "
            "look alike.\n2. Planes, since planes and birds both fly in a blue sky.\n"
            "3. Kittens, because they are small furry animals like puppies.\n\n"
            "I think the dataset is not balanced."
        },
    ),
    CorpusSubmission(
        "predictions-two-classes-no-balance",
        {
            "step1_predictions": "1. cat, because cats resemble dogs a lot\n"
            "2. ship, because ships sit on water"
        },
        {"predictions": (0.5, "partial")},
    ),
    # -- report ----------------------------------------------------------------
    CorpusSubmission(
        "report-every-class-tied",
        {
            "step4_report": "**My data report**\n\n"
            "- Most common class: none; every class has 5 000 training images.\n"
            "- Least common class: all classes tie at 5000 images.\n"
            "- Hard class: dog, because small dogs look like cats in low resolution.\n"
            "- Ambiguous image: index 25023, a cat so dark it could be anything."
        },
    ),
    CorpusSubmission(
        "report-wrong-count",
        {"step4_report": REPORT.replace("airplane, with 5000", "airplane, with 6000")},
        {"report": (3.0, "partial")},
    ),
    CorpusSubmission(
        "report-reworded",
        {
            "step4_report": REPORT.replace(
                "- An image that looked ambiguous: index 25023 (class cat), because "
                "it is so dark that it could just as well be a dog.",
                "- Picture 25023 fooled me: so dark it could be a dog.",
            )
        },
        {"report": (3.0, "partial")},
    ),
    # -- untouched -------------------------------------------------------------
    CorpusSubmission(
        "untouched-release",
        {
            "step1_predictions": "",
            "step2_counts": STUB,
            "step3_grid": "",
            "tricky_measure": "",
            "step4_report": "",
        },
        {
            "predictions": (0.0, "failed"),
            "counts": (0.0, "failed"),
            "grid": (0.0, "failed"),
            "tricky": (0.0, "failed"),
            "report": (0.0, "failed"),
        },
    ),
]


def release_cells() -> list[dict[str, object]]:
    notebook = json.loads(load_settings().release_notebook.read_text(encoding="utf-8"))
    cells: list[dict[str, object]] = notebook["cells"]
    return cells


def fill_release(submission: CorpusSubmission) -> str:
    """The release notebook with the submission's answers, as nbformat JSON.

    An empty answer keeps the release's cell as it is (the student never
    touched it).
    """
    notebook = json.loads(load_settings().release_notebook.read_text(encoding="utf-8"))
    answers = submission.all_answers()
    for cell in notebook["cells"]:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if answers.get(grade_id):
            cell["source"] = answers[grade_id]
    return json.dumps(notebook)
