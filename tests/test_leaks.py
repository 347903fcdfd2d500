"""Does anything the grader writes give away what students must not see?

A few notebooks are graded on a grading variant, then every file the grader
wrote (results, evidence, feedback pages, the class summary, grades.csv,
canvas.csv) is searched for every line of the source notebook that the release
does not show: hidden test code and model solutions. Student-facing pages are
also searched for the grading variant's per-class counts.

Lines shorter than `SHORTEST_LINE` are too common to tell anything. A line a
student wrote themselves is theirs to see, so each student's files are searched
only for the lines that student did not write, and the class-wide files for
those no student wrote. Evidence is for instructors only, but it holds what ran
in the student's process: hidden tests or solutions in it would mean they
reached the notebook, so it is searched like the rest. The variant's counts,
though, are what a notebook computes there, so they are looked for in the
feedback pages alone.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from autograder.config import load_settings
from autograder.dataset import PreparedDataset, make_variant, truth
from autograder.pipeline import grade_submissions
from tests.submissions import CorpusSubmission, fill_release

pytestmark = pytest.mark.slow

SETTINGS = load_settings()
SHORTEST_LINE = 12

SHARPNESS_OF = """\
def sharpness_of(image):
    # mean absolute difference between neighbouring pixels: across, then down
    gray = image.mean(axis=2)
    across = np.abs(np.diff(gray, axis=1)).mean()
    down = np.abs(np.diff(gray, axis=0)).mean()
    return (across + down) / 2
"""

#: Every step answered right, in words and code of the student's own.
OWN_WORDS = {
    "step1_predictions": (
        "1. dog, since small dogs and cats share fur and pointy ears.\n"
        "2. truck, since lorries and cars both have wheels and windscreens.\n"
        "3. bird, since a bird against the sky looks like a tiny plane.\n\n"
        "I expect the classes to be balanced: teaching sets usually are."
    ),
    "step2_counts": (
        "tally = np.zeros(10, dtype=int)\n"
        "for label in y_train.ravel():\n"
        "    tally[label] += 1\n"
        "for label in range(10):\n"
        '    print(class_names[label], "->", tally[label])'
    ),
    "step3_grid": (
        "fig, axes = plt.subplots(2, 5, figsize=(12, 5))\n"
        "for ax, wanted in zip(axes.ravel(), range(10)):\n"
        "    pick = int(np.where(y_train.ravel() == wanted)[0][0])\n"
        "    ax.imshow(x_train[pick])\n"
        "    ax.set_title(class_names[wanted])\n"
        '    ax.axis("off")\n'
        "plt.show()"
    ),
    "tricky_measure": SHARPNESS_OF
    + (
        "sharpness = np.array([sharpness_of(picture) for picture in x_train])\n"
        "chosen_class = 5\n"
        "of_class = np.where(y_train.ravel() == chosen_class)[0]\n"
        "suspects = of_class[np.argsort(sharpness[of_class])[:5]]\n"
        "look, row = plt.subplots(1, 5)\n"
        "for ax, where in zip(row, suspects):\n"
        "    ax.imshow(x_train[where])\n"
        "    ax.set_title(str(where))\n"
        "plt.show()\n"
        "tricky_index = int(suspects[0])"
    ),
    "step4_report": (
        "**My data report**\n\n"
        "- The most common class is frog, with 5000 training images; all tie.\n"
        "- The least common class is deer, also with 5000 training images.\n"
        "- A class I expect to be hard: dog, because its fur and ears look "
        "like a cat's at this size.\n"
        "- An image that looked ambiguous: index 31337 (class dog), because it "
        "is so blurred it might be a horse."
    ),
}

#: Notebooks whose pages could show the variant's counts: typed in, printed in
#: an error of the student's own, plainly and grouped in thousands.
COUNTS_PROBES = {
    "typed_in": (
        "counts = [5000] * 10\n"
        "for name, count in zip(class_names, counts):\n"
        "    print(name, count)"
    ),
    "error_plain": (
        "counts = np.bincount(y_train.ravel(), minlength=10)\n"
        'raise ValueError(f"are these right? {counts.tolist()}")'
    ),
    "error_grouped": (
        "counts = np.bincount(y_train.ravel(), minlength=10)\n"
        'raise ValueError("are these right? " + ", ".join(f"{c:,}" for c in counts))'
    ),
}

#: The untouched release: its answer cells as the release has them.
UNTOUCHED = dict.fromkeys(OWN_WORDS, "")
UNTOUCHED["step2_counts"] = "# YOUR CODE HERE\nraise NotImplementedError()"

HANDED_IN: dict[str, dict[str, str]] = {
    "untouched": UNTOUCHED,
    "own_words": OWN_WORDS,
    **{
        name: {**OWN_WORDS, "step2_counts": counts}
        for name, counts in COUNTS_PROBES.items()
    },
}


def lines_of(text: str) -> set[str]:
    """Each line, its spacing normalised, if long enough to tell anything."""
    found = {" ".join(line.split()) for line in text.splitlines()}
    return {line for line in found if len(line) >= SHORTEST_LINE}


def notebook_lines(path: Path) -> set[str]:
    notebook = json.loads(path.read_text(encoding="utf-8"))
    lines: set[str] = set()
    for cell in notebook["cells"]:
        source = cell["source"]
        lines |= lines_of(source if isinstance(source, str) else "".join(source))
    return lines


#: Solution lines the kit's own messages show on purpose, as an example: the
#: counts check tells a student who did not print the counts how to.
TAUGHT_IN_MESSAGES = {'print(f"{name}: {count}")'}


def secret_lines() -> set[str]:
    """The source notebook's lines that neither the release nor a hint shows."""
    source = notebook_lines(SETTINGS.source_notebook)
    return source - notebook_lines(SETTINGS.release_notebook) - TAUGHT_IN_MESSAGES


# -- what a reader of each file sees --------------------------------------------------

DATA_URI = re.compile(r"data:[\w/+.-]+;base64,[A-Za-z0-9+/=]+")
TAG = re.compile(r"<[^>]+>")


def page_text(path: Path) -> str:
    """A page's text and attributes as a reader sees them, without inline images."""
    page = DATA_URI.sub(" ", path.read_text(encoding="utf-8"))
    return " ".join(html.unescape(TAG.sub(" ", page) + " " + page).split())


def json_text(path: Path) -> str:
    """Every string and number in a JSON file, one after the other."""

    def leaves(value: Any) -> Iterator[str]:
        if isinstance(value, dict):
            for key, item in value.items():
                yield str(key)
                yield from leaves(item)
        elif isinstance(value, list):
            for item in value:
                yield from leaves(item)
        else:
            yield str(value)

    content = json.loads(path.read_text(encoding="utf-8"))
    return " ".join(" ".join(leaves(content)).split())


def file_text(path: Path) -> str:
    if path.suffix == ".html":
        return page_text(path)
    if path.suffix == ".json":
        return json_text(path)
    return " ".join(path.read_text(encoding="utf-8").split())


# -- the graded class ---------------------------------------------------------------


@dataclass(frozen=True)
class Graded:
    out: Path
    handed_in: dict[str, Path]
    variant_counts: list[int]
    seen_counts: list[int]


@pytest.fixture(scope="module")
def graded(
    tmp_path_factory: pytest.TempPathFactory, standin_dataset: PreparedDataset
) -> Graded:
    root = tmp_path_factory.mktemp("leaks")
    folder = root / "handed_in"
    folder.mkdir()
    paths = {}
    for name, answers in HANDED_IN.items():
        paths[name] = folder / f"{name}.ipynb"
        paths[name].write_text(
            fill_release(CorpusSubmission(name, answers)), encoding="utf-8"
        )
    out = root / "out"
    grade_submissions([folder], out=out, seen=standin_dataset, jobs=2)

    # the pipeline keeps the variant's seed beside the results, for resuming
    seed = json.loads((out / "run.json").read_text(encoding="utf-8"))["variant_seed"]
    variant = make_variant(standin_dataset, seed, SETTINGS.variant_count_range)
    return Graded(
        out,
        paths,
        truth(variant).class_counts,
        truth(standin_dataset).class_counts,
    )


def files_of(graded: Graded, student_id: str) -> list[Path]:
    return [
        graded.out / folder / f"{student_id}{suffix}"
        for folder, suffix in (
            ("results", ".json"),
            ("evidence", ".json"),
            ("feedback", ".html"),
        )
    ]


def class_files(graded: Graded) -> list[Path]:
    return [graded.out / name for name in ("summary.html", "grades.csv", "canvas.csv")]


def found_in(paths: Iterable[Path], lines: set[str]) -> dict[str, list[str]]:
    found = {}
    for path in paths:
        text = file_text(path)
        if hits := sorted(line for line in lines if line in text):
            found[f"{path.parent.name}/{path.name}"] = hits
    return found


# -- the searches -------------------------------------------------------------------


def test_is_there_enough_to_search_for() -> None:
    secrets = secret_lines()

    assert 'grade_step("counts", globals())' in secrets
    assert len(secrets) >= 20
    assert not secrets & notebook_lines(SETTINGS.release_notebook)


def test_are_the_variants_counts_those_the_notebooks_computed(graded: Graded) -> None:
    evidence = json.loads(
        (graded.out / "evidence" / "own_words.json").read_text(encoding="utf-8")
    )

    assert evidence["namespace"]["int_sequences"]["tally"] == graded.variant_counts


def test_does_the_search_see_a_line_that_is_there(graded: Graded) -> None:
    own_line = "pick = int(np.where(y_train.ravel() == wanted)[0][0])"

    assert found_in(files_of(graded, "own_words"), {own_line}) == {
        "evidence/own_words.json": [own_line]
    }


@pytest.mark.parametrize("student_id", HANDED_IN)
def test_do_a_students_files_hold_no_hidden_test_or_solution_line(
    graded: Graded, student_id: str
) -> None:
    searched = secret_lines() - notebook_lines(graded.handed_in[student_id])
    paths = files_of(graded, student_id)

    assert all(path.is_file() for path in paths)
    assert found_in(paths, searched) == {}


def test_do_the_class_files_hold_no_hidden_test_or_solution_line(
    graded: Graded,
) -> None:
    searched = secret_lines()
    for path in graded.handed_in.values():
        searched -= notebook_lines(path)

    assert searched
    assert found_in(class_files(graded), searched) == {}


def count_pattern(count: int) -> re.Pattern[str]:
    """The count written plainly or grouped in thousands, not inside a number."""
    grouped = f"{count:,}"
    forms = {str(count), grouped, grouped.replace(",", " "), grouped.replace(",", ".")}
    alternatives = "|".join(re.escape(form) for form in forms)
    return re.compile(rf"(?<![\d.,])(?:{alternatives})(?![\d])")


@pytest.mark.parametrize("student_id", HANDED_IN)
def test_does_no_feedback_page_show_the_variants_counts(
    graded: Graded, student_id: str
) -> None:
    secret_counts = set(graded.variant_counts) - set(graded.seen_counts)
    page = page_text(graded.out / "feedback" / f"{student_id}.html")

    assert len(secret_counts) >= 5, "the variant should differ from what was seen"
    shown = sorted(c for c in secret_counts if count_pattern(c).search(page))
    assert shown == []
