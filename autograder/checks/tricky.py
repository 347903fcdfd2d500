"""The tricky-image hunt: a measure over every training image, and one image cited.

Half the points for a measure with one value per training image (`sharpness` in
the template), half for a valid training index in `tricky_index` whose image the
student actually looked at: it must appear in one of the notebook's figures.
"""

from __future__ import annotations

import re

from autograder.checks.common import Grading, stopped_early, why_missing
from autograder.model import CheckResult, Evidence
from autograder.truth import DatasetTruth

GRADE_ID = "tricky_measure"
MEASURE_NAME = "sharpness"
INDEX_NAME = "tricky_index"
#: Names that hold the dataset itself, never a measure.
DATASET_NAMES = frozenset({"x_train", "y_train", "x_test", "y_test"})
_LABELS = re.compile(r"label|^y_|_y$|target|class", re.I)


def find_measure(evidence: Evidence, image_count: int) -> str | None:
    """The name of a measure with one value per training image.

    The template's `sharpness` is judged by its own shape; only when it is
    absent is another array of that length taken (labels excepted).
    """
    shapes = evidence.namespace.array_shapes
    wanted = ([image_count], [image_count, 1])
    if MEASURE_NAME in shapes:
        return MEASURE_NAME if shapes[MEASURE_NAME] in wanted else None
    for name in shapes:
        labels = name in DATASET_NAMES or _LABELS.search(name)
        if not labels and shapes[name] in wanted:
            return name
    return None


def shown_keys(evidence: Evidence) -> set[str]:
    """The pixel keys of every image in every figure the notebook showed."""
    return {
        image.key
        for figure in evidence.figures
        for axes in figure.axes
        for image in axes.images
        if image.key is not None
    }


def check_tricky(
    evidence: Evidence, ran_on: DatasetTruth, seen: DatasetTruth, max_points: float
) -> CheckResult:
    """Grade the tricky-image step: the measure computed, the cited image looked at."""
    grading = Grading("tricky", max_points)
    image_count = len(ran_on)
    measure = find_measure(evidence, image_count)
    index = evidence.namespace.ints.get(INDEX_NAME)
    if measure is None and index is None and stopped_early(evidence, GRADE_ID):
        return grading.not_run(why_missing(evidence, GRADE_ID, "tricky-image measure"))

    parts: list[str] = []
    earned = 0.0
    if measure is not None:
        earned += 0.5
    else:
        parts.append(
            f"{why_missing(evidence, GRADE_ID, 'measure')} Compute `sharpness`: "
            f"one number for each of the {image_count} training images (the mean "
            "absolute difference between neighbouring pixels)."
        )

    if index is None:
        parts.append(
            "Set `tricky_index` to the training index of the image you will cite "
            "in your report."
        )
    elif not 0 <= index < image_count:
        parts.append(
            f"`tricky_index` is {index}, which is not a training index (0 to "
            f"{image_count - 1})."
        )
    elif _was_shown(index, evidence, ran_on, seen):
        earned += 0.5
    elif ran_on.fingerprint != seen.fingerprint and len(seen) > index:
        return _unconfirmed(grading, earned, index, measure)
    else:
        parts.append(
            f"Image {index} was never shown in a figure: show your suspects with "
            "imshow and pick `tricky_index` among the images you looked at."
        )

    note = f"measure: {measure or 'none'}; tricky_index: {index}"
    if earned == 1.0:
        return grading.result(
            1.0, f"You measured every image and looked at image {index}.", note
        )
    return grading.result(earned, " ".join(parts), note)


def _was_shown(
    index: int, evidence: Evidence, ran_on: DatasetTruth, seen: DatasetTruth
) -> bool:
    """Whether training image `index` appears in a figure.

    A typed-in index names an image of the dataset the student saw; on a grading
    variant the same image may sit at another index, so both are looked for.
    """
    keys = shown_keys(evidence)
    if ran_on.key_of(index) in keys:
        return True
    return index < len(seen) and seen.key_of(index) in keys


def _unconfirmed(
    grading: Grading, earned: float, index: int, measure: str | None
) -> CheckResult:
    """A typed-in index on a grading variant: a person decides."""
    return grading.result(
        earned,
        f"The grader could not confirm that you looked at image {index}; a TA "
        "will check it. Picking `tricky_index` from your `suspects` (for example "
        "suspects[0]) avoids this.",
        f"measure: {measure or 'none'}; tricky_index {index} is typed in: its "
        "image is not in the variant's figures",
        needs_review=True,
        quoted=f"tricky_index = {index}",
    )
