"""Step 2: the number of training images in each class.

The counts must equal the truth of the dataset the notebook ran on, so counts
typed in by hand fail on a grading variant. They are looked for under the
template's name `counts` first, then in any 10-long sequence or 10-entry mapping
of whole numbers, then in printed lines that pair every class with a number.
Full marks need all ten right and printed one line per class.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from autograder.checks.common import Grading, stopped_early, why_missing
from autograder.checks.text import (
    class_in_title,
    class_mentions,
    name_list,
    numbers_in,
)
from autograder.model import (
    HARD_CODING_MARK,
    CellEvidence,
    CheckResult,
    Evidence,
    NamespaceFacts,
)
from autograder.truth import DatasetTruth

GRADE_ID = "step2_counts"
TEMPLATE_NAME = "counts"
#: Share of the points for the right counts; the rest is for printing them.
COUNTS_SHARE = 2 / 3
#: Share of the points when all but one class is right.
ALMOST_SHARE = 1 / 3

_INDEX_LINE = re.compile(r"^\s*(?P<label>\d)\s+(?P<count>\d[\d,]*)\s*$")


@dataclass(frozen=True)
class Found:
    """Per-class counts found in one place, by label; None where unreadable."""

    where: str
    by_label: list[int | None]

    def wrong(self, truth: list[int]) -> list[int]:
        return [
            label for label, count in enumerate(self.by_label) if count != truth[label]
        ]


def check_counts(
    evidence: Evidence, ran_on: DatasetTruth, seen: DatasetTruth, max_points: float
) -> CheckResult:
    """Grade Step 2's counts against the dataset the notebook ran on."""
    grading = Grading("counts", max_points)
    truth = ran_on.class_counts
    stored = _best(_stored_counts(evidence.namespace, ran_on.label_names), truth)
    printed = _best(_printed_counts(evidence.cells, ran_on), truth)

    if stored is None and printed is None:
        return _nothing_found(grading, evidence, ran_on)
    best = min(
        (found for found in (stored, printed) if found is not None),
        key=lambda found: len(found.wrong(truth)),
    )
    wrong = best.wrong(truth)
    printed_right = printed is not None and not printed.wrong(truth)
    note = f"counts taken from {best.where}"
    if not wrong and printed_right:
        return grading.result(
            1.0, "All ten class counts are right and printed one line per class.", note
        )
    if not wrong:
        return grading.result(
            COUNTS_SHARE,
            "Your counts are right, but they were not printed one line per class. "
            'Print each class with its count, e.g. print(f"{name}: {count}").',
            note,
        )
    return _wrong_counts(grading, best, wrong, ran_on, seen, note)


def _nothing_found(
    grading: Grading, evidence: Evidence, ran_on: DatasetTruth
) -> CheckResult:
    if stopped_early(evidence, GRADE_ID):
        return grading.not_run(why_missing(evidence, GRADE_ID, "class counts"))
    message = why_missing(evidence, GRADE_ID, "class counts")
    shape = evidence.namespace.array_shapes.get(TEMPLATE_NAME)
    if shape == [len(ran_on.label_names) - 1]:
        message = (
            "`counts` has 9 entries, not 10: np.bincount stops at the largest "
            "label it sees, so pass minlength=10."
        )
    elif shape is not None and shape != [len(ran_on.label_names)]:
        message = (
            f"`counts` has shape {tuple(shape)}; it should hold one number per "
            "class, 10 in all (np.bincount(y_train.flatten(), minlength=10))."
        )
    return grading.result(
        0.0,
        f"{message} Store the ten per-class counts of y_train in `counts` and "
        "print one line per class.",
    )


def _wrong_counts(
    grading: Grading,
    best: Found,
    wrong: list[int],
    ran_on: DatasetTruth,
    seen: DatasetTruth,
    note: str,
) -> CheckResult:
    names = name_list(wrong, ran_on.label_names)
    if best.by_label == seen.class_counts and seen.class_counts != ran_on.class_counts:
        return grading.result(
            0.0,
            "Your counts do not match the dataset your notebook was graded on: "
            "they look typed in rather than computed. Count the labels in y_train "
            "with NumPy so the numbers follow the data.",
            f"{HARD_CODING_MARK} {note}; equal to the counts of the dataset the "
            "student saw",
        )
    if sorted(count or 0 for count in best.by_label) == sorted(ran_on.class_counts):
        return grading.result(
            0.0,
            "Your numbers are the right counts, but not in class order: they are "
            f"paired with the wrong classes ({names}). If you used pandas' "
            "value_counts, it sorts by count; look each class up by its label.",
            note,
        )
    if len(wrong) == 1:
        return grading.result(
            ALMOST_SHARE,
            f"Nine classes are right, but the count for {names} is not. Count "
            "every label from 0 to 9 in y_train.",
            note,
        )
    return grading.result(
        0.0,
        f"The counts for {names} do not match the training labels. Count how "
        "often each label 0-9 appears in y_train (np.bincount or np.unique).",
        note,
    )


def _best(candidates: list[Found], truth: list[int]) -> Found | None:
    """The candidate with the fewest wrong classes; the first wins a tie."""
    if not candidates:
        return None
    return min(candidates, key=lambda found: len(found.wrong(truth)))


def _stored_counts(facts: NamespaceFacts, label_names: list[str]) -> list[Found]:
    """Counts in the namespace: the template's name first, then by value."""
    candidates = []
    names = sorted(
        {*facts.int_sequences, *facts.int_mappings},
        key=lambda name: name != TEMPLATE_NAME,
    )
    for name in names:
        if name in facts.int_sequences:
            values = facts.int_sequences[name]
            candidates.append(Found(f"`{name}`", list[int | None](values)))
        else:
            by_label = _mapping_by_label(facts.int_mappings[name], label_names)
            if by_label is not None:
                candidates.append(Found(f"`{name}`", by_label))
    return candidates


def _mapping_by_label(
    mapping: dict[str, int], label_names: list[str]
) -> list[int | None] | None:
    """A mapping's counts in label order; keys are labels "0".."9" or class names."""
    by_label: list[int | None] = [None] * len(label_names)
    for key, count in mapping.items():
        label = int(key) if key.isdigit() else class_in_title(key, label_names)
        if label is None or not 0 <= label < len(label_names):
            return None
        by_label[label] = count
    return by_label


def _printed_counts(cells: list[CellEvidence], ran_on: DatasetTruth) -> list[Found]:
    """Counts printed by a cell, one candidate per cell; the answer cell first."""
    ordered = sorted(cells, key=lambda cell: cell.grade_id != GRADE_ID)
    candidates = []
    for cell in ordered:
        if not cell.stdout:
            continue
        by_label = _read_printout(cell.stdout, ran_on.label_names, len(ran_on))
        if all(count is not None for count in by_label):
            candidates.append(Found(f"the output of cell {cell.index}", by_label))
    return candidates


def _read_printout(stdout: str, label_names: list[str], total: int) -> list[int | None]:
    """Pair class names (or bare labels 0-9 starting a line) with their counts.

    On every line each class name owns the text up to the next class name, and
    its count is the largest whole number there below the number of training
    images (so `cat (3): 5000 of 50000` reads 5000). A class printed twice keeps
    its last count.
    """
    by_label: list[int | None] = [None] * len(label_names)
    for line in stdout.splitlines():
        index_line = _INDEX_LINE.match(line)
        if index_line is not None:
            count = numbers_in(index_line.group("count"))
            label = int(index_line.group("label"))
            if count and label < len(label_names):
                by_label[label] = count[0].value
            continue
        mentions = class_mentions(line, label_names)
        ends = [following.start for following in mentions[1:]] + [len(line)]
        for mention, end in zip(mentions, ends[: len(mentions)], strict=True):
            numbers = [n.value for n in numbers_in(line[mention.end : end])]
            below_total = [number for number in numbers if number < total]
            if numbers:
                by_label[mention.label] = max(below_total or numbers)
    return by_label
