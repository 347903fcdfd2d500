"""Step 3: one figure that shows a training image of every class, titled by class.

Each image is matched to the dataset the notebook ran on by its pixels, so the
check knows which training image it is and its true class, whatever the layout,
the pixel scaling or whether `plt.show()` was called.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from autograder.checks.common import Grading, answer_cell, stopped_early, why_missing
from autograder.checks.text import class_in_title, name_list, shorten
from autograder.model import CheckResult, Evidence, FigureEvidence
from autograder.truth import DatasetTruth

GRADE_ID = "step3_grid"
#: Shares of the points: all classes titled right but not in one figure, or in
#: one figure with titles missing or wrong; real images that miss classes.
MOST_SHARE = 2 / 3
SOME_SHARE = 1 / 3


@dataclass
class GridReading:
    """What one figure (or several together) shows, image by image."""

    image_axes: int = 0
    training_indices: list[int] = field(default_factory=list)
    shown: set[int] = field(default_factory=set)  # labels of training images
    titled_right: set[int] = field(default_factory=set)
    untitled: int = 0
    mismatched: list[str] = field(default_factory=list)  # "titled cat, shows dog"
    not_training: int = 0  # 32x32 images that are not training images
    not_images: int = 0  # shapes that cannot be a CIFAR-10 image

    def add(self, other: GridReading) -> None:
        self.image_axes += other.image_axes
        self.training_indices += other.training_indices
        self.shown |= other.shown
        self.titled_right |= other.titled_right
        self.untitled += other.untitled
        self.mismatched += other.mismatched
        self.not_training += other.not_training
        self.not_images += other.not_images


def read_figure(figure: FigureEvidence, ran_on: DatasetTruth) -> GridReading:
    """Which training images a figure shows, and whether each title names its class."""
    reading = GridReading()
    names = ran_on.label_names
    for axes in figure.axes:
        if not axes.images:
            continue
        reading.image_axes += 1
        image = axes.images[0]
        found = ran_on.lookup(image.key)
        if found is None:
            if image.key is None:
                reading.not_images += 1
            else:
                reading.not_training += 1
            continue
        index, label = found
        reading.training_indices.append(index)
        reading.shown.add(label)
        titled = class_in_title(axes.title, names)
        if titled is None:
            reading.untitled += 1
        elif titled == label:
            reading.titled_right.add(label)
        else:
            reading.mismatched.append(
                f"the image titled {shorten(axes.title, 30)!r} is a {names[label]}"
            )
    return reading


def grid_figures(evidence: Evidence) -> list[FigureEvidence]:
    """The figures of Step 3; every figure when the grid cell is not known.

    Step 3 is the grid cell and the cells a student added right after it (up to
    the next cell of the lesson's own with a grade id). Other cells draw figures
    of training images too (the suspects, the lesson's own experiments), so
    they must not stand in for the grid.
    """
    cell = answer_cell(evidence, GRADE_ID)
    if cell is None:
        return list(evidence.figures)
    step = {cell.index}
    for later in sorted(evidence.cells, key=lambda later: later.index):
        if later.index <= cell.index:
            continue
        if later.grade_id is not None:
            break
        step.add(later.index)
    return [figure for figure in evidence.figures if figure.cell in step]


def check_grid(
    evidence: Evidence, ran_on: DatasetTruth, seen: DatasetTruth, max_points: float
) -> CheckResult:
    """Grade Step 3's grid: every class shown once, each titled with its class."""
    grading = Grading("grid", max_points)
    every_class = set(range(len(ran_on.label_names)))
    readings = [read_figure(figure, ran_on) for figure in grid_figures(evidence)]
    readings = [reading for reading in readings if reading.image_axes]
    if not readings:
        if stopped_early(evidence, GRADE_ID):
            return grading.not_run(why_missing(evidence, GRADE_ID, "grid figure"))
        return grading.result(
            0.0,
            f"{why_missing(evidence, GRADE_ID, 'figure with images')} Draw one "
            "figure with plt.subplots(2, 5) and show one training image of every "
            "class with imshow.",
        )

    best = max(readings, key=lambda r: (len(r.shown), len(r.titled_right)))
    note = (
        f"{len(readings)} figure(s) with images; best: {best.image_axes} image axes, "
        f"training indices {best.training_indices[:12]}"
    )
    if best.titled_right == every_class and not best.mismatched:
        return grading.result(
            1.0, "One image of every class, each titled with its class.", note
        )

    together = GridReading()
    for reading in readings:
        together.add(reading)
    if together.titled_right == every_class and best.shown != every_class:
        return grading.result(
            MOST_SHARE,
            f"All ten classes are there, but spread over {len(readings)} figures. "
            "Put them in one figure: fig, axes = plt.subplots(2, 5), then draw "
            "one image into each axes.",
            note,
        )
    if best.shown == every_class:
        return grading.result(MOST_SHARE, _title_problem(best), note)
    return _missing_classes(grading, best, ran_on, note)


def _title_problem(reading: GridReading) -> str:
    if reading.mismatched:
        examples = "; ".join(reading.mismatched[:2])
        return (
            f"Every class is shown, but some titles do not match their image: "
            f"{examples}. Title each axes with class_names[y_train[i][0]] for the "
            "image i it shows."
        )
    return (
        "Every class is shown, but not every image is titled with its class "
        "name. Add ax.set_title(class_names[label]) to each axes."
    )


def _missing_classes(
    grading: Grading, best: GridReading, ran_on: DatasetTruth, note: str
) -> CheckResult:
    every_class = set(range(len(ran_on.label_names)))
    missing = name_list(sorted(every_class - best.shown), ran_on.label_names)
    if not best.training_indices:
        what = (
            "images that are not CIFAR-10 training images (from x_test, or "
            "changed before drawing?)"
            if best.not_training
            else "images that are not 32x32 colour images"
        )
        return grading.result(
            0.0,
            f"Your figure shows {what}. Draw the images of x_train exactly as "
            "they are, one of each class.",
            note,
        )
    first_ones = sorted(best.training_indices) == list(
        range(len(best.training_indices))
    )
    if first_ones:
        message = (
            f"Your grid shows the first {len(best.training_indices)} training "
            f"images, which miss some classes ({missing}). Pick, for each class, "
            "one image with that label, e.g. np.where(y_train.flatten() == c)[0][0]."
        )
    else:
        message = (
            f"Your grid shows {len(best.shown)} of the 10 classes; missing: "
            f"{missing}. Show one training image of every class."
        )
    return grading.result(SOME_SHARE, message, note)
