"""Step 1: three classes the student expects a model to confuse, and a balance guess.

Half the points for three classes, each with a reason in the student's own
words; half for a prediction of whether the classes are balanced. Any wording
is fine: the template's words are set aside, and what is left must say
something.
"""

from __future__ import annotations

import re

from autograder.checks.common import Grading, answer_cell
from autograder.checks.text import (
    class_mentions,
    has_blank,
    is_untouched,
    name_list,
    own_words,
    sentences,
    shorten,
    without_template,
)
from autograder.model import CheckResult, Evidence
from autograder.truth import DatasetTruth

GRADE_ID = "step1_predictions"

#: The release's Step 1 cell as students get it (a test keeps the two equal).
TEMPLATE = """\
**The three classes I expect a model to confuse most:**

1. ____, because ____
2. ____, because ____
3. ____, because ____

**Balance:** I predict the classes are ____ (balanced / not balanced), because ____"""

CLASSES_WANTED = 3
#: Words beyond the class names that make a reason.
REASON_WORDS = 2
_REASON_MARK = re.compile(r"\b(?:because|since)\b", re.I)
_BALANCE_TOPIC = re.compile(
    r"balanc|equal|same (?:number|amount|size)|evenly|skew|distribut", re.I
)
_BALANCE_ANSWER = re.compile(
    r"\b(?:balanced|unbalanced|imbalanced|equal(?:ly)?|evenly|same|uniform|"
    r"skewed|lopsided|different|uneven|yes|no)\b",
    re.I,
)


def check_predictions(
    evidence: Evidence, ran_on: DatasetTruth, seen: DatasetTruth, max_points: float
) -> CheckResult:
    """Grade Step 1: three reasoned classes and a balance prediction."""
    grading = Grading("predictions", max_points)
    cell = answer_cell(evidence, GRADE_ID)
    if cell is None or is_untouched(cell.source) or _only_template(cell.source):
        return grading.result(
            0.0,
            "Step 1 is not filled in: name three classes you expect a model to "
            "confuse, each with a reason, and predict whether the classes are "
            "balanced.",
        )

    names = seen.label_names
    reasoned: set[int] = set()
    unreasoned: set[int] = set()
    balance_given = False
    for sentence in sentences(cell.source):
        answer = without_template(sentence, TEMPLATE)
        if _BALANCE_TOPIC.search(sentence) and _BALANCE_ANSWER.search(answer):
            balance_given = True
            continue
        labels = _predicted_classes(sentence, names)
        if len(own_words(answer, names, TEMPLATE)) >= REASON_WORDS:
            reasoned |= labels
        else:
            unreasoned |= labels

    return _grade(grading, reasoned, unreasoned - reasoned, balance_given, names)


def _predicted_classes(sentence: str, names: list[str]) -> set[int]:
    """The classes a sentence predicts: those named before its reason.

    In `cat, because it looks like a dog` the prediction is cat; dog is part of
    the reason. Without `because` or `since`, the first class named.
    """
    before_reason = _REASON_MARK.split(sentence, maxsplit=1)[0]
    named = class_mentions(before_reason, names) or class_mentions(sentence, names)[:1]
    return {mention.label for mention in named}


def _only_template(source: str) -> bool:
    """Whether the cell still holds the template with every blank left empty."""
    return all(
        has_blank(line) or not without_template(line, TEMPLATE).strip(" *:.")
        for line in sentences(source)
    )


def _grade(
    grading: Grading,
    reasoned: set[int],
    unreasoned: set[int],
    balance_given: bool,
    names: list[str],
) -> CheckResult:
    problems = []
    earned = 0.0
    if len(reasoned) >= CLASSES_WANTED:
        earned += 0.5
    elif reasoned:
        earned += 0.25
        problems.append(
            f"You gave reasons for {len(reasoned)} class(es) "
            f"({name_list(sorted(reasoned), names)}); name three, each with a "
            "reason."
        )
    else:
        problems.append("Name three classes, each with a reason of your own.")
    if unreasoned:
        problems.append(
            f"Say why for {name_list(sorted(unreasoned), names)} too ('because ...')."
        )
    if balance_given:
        earned += 0.5
    else:
        problems.append(
            "Predict whether the classes are balanced (about the same number "
            "of images each) or not."
        )

    note = f"classes with reasons: {name_list(sorted(reasoned), names) or 'none'}"
    if not problems:
        return grading.result(
            1.0, "Three classes with reasons, and a balance prediction.", note
        )
    return grading.result(earned, " ".join(problems), shorten(note))
