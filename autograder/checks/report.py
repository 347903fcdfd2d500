"""Step 4: the data report, judged against the dataset the student saw.

The report has four parts, a quarter of the points each: the most common class
with its count, the least common class with its count, a class expected to be
hard with a reason, and an ambiguous image (its index) with a reason. Each
sentence is read for what it says, not for the template's wording; a sentence
the check cannot place or decide goes to a TA with the points the check is
sure of.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from autograder.checks.common import Grading, answer_cell
from autograder.checks.text import (
    class_mentions,
    has_blank,
    is_untouched,
    numbers_in,
    own_words,
    sentences,
    shorten,
    without_template,
)
from autograder.model import CheckResult, Evidence
from autograder.truth import DatasetTruth

GRADE_ID = "step4_report"

#: The release's Step 4 cell as students get it (a test keeps the two equal).
TEMPLATE = """\
**My data report**

- The most common class is ____, with ____ training images.
- The least common class is ____, with ____ training images.
- A class I expect to be hard for a model: ____, because ____
- An image that looked ambiguous: index ____ (class ____), because ____"""

Part = Literal["most", "least", "hard", "ambiguous"]
PARTS: tuple[Part, ...] = ("most", "least", "hard", "ambiguous")
REASON_WORDS = 2

#: How each part is recognised, tried in this order on every sentence.
_RECOGNISE: tuple[tuple[Part, re.Pattern[str]], ...] = (
    ("ambiguous", re.compile(r"ambigu|blurr|unclear|\bindex\b|\bidx\b|#\s?\d", re.I)),
    (
        "least",
        re.compile(
            r"\b(?:least|fewest|smallest|lowest|rarest|minimum|minority)\b", re.I
        ),
    ),
    (
        "most",
        re.compile(
            r"\bmost\s+(?:common|frequent|images|examples|samples|represented|"
            r"popular)|\b(?:largest|biggest|highest|greatest|maximum|majority)\b",
            re.I,
        ),
    ),
    (
        "hard",
        re.compile(r"hard|difficult|confus|tricky|challeng|struggl|mistak|mix", re.I),
    ),
)
_EVERY_CLASS = re.compile(r"\b(?:all|every|each)\b.{0,20}\bclass", re.I)


@dataclass(frozen=True)
class Verdict:
    """One part of the report: the share of its points, and what to tell."""

    earned: float  # 0, 0.5 or 1 of the part
    message: str = ""
    undecided: bool = False
    quoted: str = ""
    note: str = ""


def check_report(
    evidence: Evidence, ran_on: DatasetTruth, seen: DatasetTruth, max_points: float
) -> CheckResult:
    """Grade Step 4's report against the class counts the student saw."""
    grading = Grading("report", max_points)
    cell = answer_cell(evidence, GRADE_ID)
    placed, unplaced = _place_sentences(cell.source if cell is not None else "")
    if not placed and not unplaced:
        return grading.result(
            0.0,
            "The report is not filled in: replace every blank ____ with what you "
            "found in Steps 2 and 3.",
        )

    verdicts = {part: _judge(part, placed.get(part), seen) for part in PARTS}
    missing = [part for part in PARTS if part not in placed]
    if missing and unplaced:
        # Sentences the check could not place may hold the missing parts, reworded.
        for part in missing:
            verdicts[part] = Verdict(
                0.0,
                f"The grader could not find your {_LABELS[part]}; a TA will read "
                "your report.",
                undecided=True,
                quoted=" ".join(unplaced),
            )
    return _combine(grading, verdicts)


_LABELS: dict[Part, str] = {
    "most": "most common class",
    "least": "least common class",
    "hard": "class expected to be hard",
    "ambiguous": "ambiguous image",
}


def _place_sentences(source: str) -> tuple[dict[Part, str], list[str]]:
    """Each part's sentence (the first that reads as it), and the ones left over."""
    placed: dict[Part, str] = {}
    unplaced: list[str] = []
    if is_untouched(source):
        return placed, unplaced
    for sentence in sentences(source):
        answer = without_template(sentence, TEMPLATE)
        if not answer.strip(" *:.,_-") or not _has_content(answer):
            continue
        part = next(
            (part for part, pattern in _RECOGNISE if pattern.search(sentence)), None
        )
        if part is not None and part not in placed:
            placed[part] = sentence
        elif part is None:
            unplaced.append(shorten(sentence))
    return placed, unplaced


def _has_content(answer: str) -> bool:
    """Whether a sentence, template set aside, holds anything but blanks."""
    return bool(re.sub(r"_+|[\W]", "", answer))


def _judge(part: Part, sentence: str | None, seen: DatasetTruth) -> Verdict:
    if sentence is None:
        return Verdict(0.0, f"Add your {_LABELS[part]} to the report.")
    if part in ("most", "least"):
        return _judge_count(part, sentence, seen)
    if part == "hard":
        return _judge_hard(sentence, seen)
    return _judge_ambiguous(sentence, seen)


def _judge_count(part: Part, sentence: str, seen: DatasetTruth) -> Verdict:
    """A most (or least) common class with its count, true of the data seen."""
    counts = seen.class_counts
    extreme = max(counts) if part == "most" else min(counts)
    answer = without_template(sentence, TEMPLATE)
    labels = [mention.label for mention in class_mentions(answer, seen.label_names)]
    cited = [number.value for number in numbers_in(answer)]
    label = labels[0] if labels else None
    what = _LABELS[part]

    if label is None and _EVERY_CLASS.search(sentence) and len(set(counts)) == 1:
        label = 0  # "every class has 5,000 images": each one ties for both
    if label is None:
        if has_blank(sentence):
            return Verdict(0.0, f"Fill in the blanks of your {what}.")
        if extreme in cited:
            return Verdict(0.5, f"Name the {what} along with its count.")
        return Verdict(0.0, "", undecided=True, quoted=sentence)
    name = seen.label_names[label]
    if not cited:
        message = f"Give the number of training images of {name} too."
        return Verdict(0.5 if counts[label] == extreme else 0.0, message)
    if counts[label] not in cited:
        return Verdict(
            0.0,
            f"The count you give for {name} is not the number of {name} images in "
            "the training set: copy it from your Step 2 output.",
        )
    if counts[label] != extreme:
        return Verdict(
            0.0,
            f"{name} is not the {what}: compare it with the other counts of Step 2.",
        )
    return Verdict(1.0)


def _judge_hard(sentence: str, seen: DatasetTruth) -> Verdict:
    answer = without_template(sentence, TEMPLATE)
    named = class_mentions(answer, seen.label_names)
    reasoned = len(own_words(answer, seen.label_names, TEMPLATE)) >= REASON_WORDS
    if named and reasoned:
        return Verdict(1.0)
    if named:
        return Verdict(0.5, "Say in your own words why that class will be hard.")
    if reasoned:
        return Verdict(0.0, "", undecided=True, quoted=sentence)
    return Verdict(0.0, "Name a class you expect to be hard, and say why.")


def _judge_ambiguous(sentence: str, seen: DatasetTruth) -> Verdict:
    answer = without_template(sentence, TEMPLATE)
    indices = [number.value for number in numbers_in(answer)]
    reasoned = len(own_words(answer, seen.label_names, TEMPLATE)) >= REASON_WORDS
    if not indices:
        if reasoned:
            return Verdict(0.5, "Give the index of the ambiguous image too.")
        return Verdict(0.0, "Fill in the ambiguous image: its index, class and why.")
    index = indices[0]
    if not 0 <= index < len(seen):
        return Verdict(
            0.5 if reasoned else 0.0,
            f"{index} is not a training index (0 to {len(seen) - 1}): give the "
            "index of the image you chose as tricky_index.",
        )
    if not reasoned:
        return Verdict(0.5, "Say why that image looked ambiguous to you.")
    labels = {mention.label for mention in class_mentions(answer, seen.label_names)}
    note = ""
    if labels and int(seen.labels[index]) not in labels:
        true_name = seen.label_names[int(seen.labels[index])]
        note = f"image {index} is labelled {true_name} in the training set"
    return Verdict(1.0, note=note)


def _combine(grading: Grading, verdicts: dict[Part, Verdict]) -> CheckResult:
    earned = sum(verdict.earned for verdict in verdicts.values()) / len(PARTS)
    undecided = [part for part in PARTS if verdicts[part].undecided]
    messages = [verdicts[part].message for part in PARTS if verdicts[part].message]
    notes = [f"{part}: {verdicts[part].note}" for part in PARTS if verdicts[part].note]
    if undecided:
        notes.append("to review: " + ", ".join(_LABELS[part] for part in undecided))
        if not any(verdicts[part].message for part in undecided):
            messages.append("A TA will read part of your report.")
    quoted = " | ".join(
        dict.fromkeys(
            verdicts[part].quoted for part in undecided if verdicts[part].quoted
        )
    )
    if earned == 1.0:
        messages = ["Your report cites true counts and explains its choices."]
    return grading.result(
        earned,
        " ".join(messages),
        "; ".join(notes),
        needs_review=bool(undecided),
        quoted=quoted,
    )
