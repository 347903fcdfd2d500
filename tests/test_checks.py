"""The checks on hand-built evidence and small datasets: fast, no TensorFlow."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.typing import NDArray

from autograder.checks import points_from_source, run_checks
from autograder.checks import predictions as predictions_check
from autograder.checks import report as report_check
from autograder.checks.text import class_mentions, numbers_in
from autograder.config import load_settings
from autograder.fingerprint import image_key
from autograder.hints import hint_for
from autograder.model import (
    CHECK_IDS,
    HARD_CODING_MARK,
    AxesEvidence,
    CellError,
    CellEvidence,
    CheckId,
    CheckResult,
    Evidence,
    FigureEvidence,
    ImageEvidence,
    NamespaceFacts,
    RunOutcome,
)
from autograder.truth import DatasetTruth

NAMES = ["airplane", "automobile", "bird", "cat", "deer"]
NAMES += ["dog", "frog", "horse", "ship", "truck"]
POINTS: dict[CheckId, float] = {
    "predictions": 2.0,
    "counts": 3.0,
    "grid": 3.0,
    "tricky": 2.0,
    "report": 4.0,
}
SEEN_COUNTS = [30] * 10
VARIANT_COUNTS = [28, 31, 33, 27, 30, 29, 32, 26, 34, 30]


class Dataset:
    """A small dataset in CIFAR-10's shape, and its truth."""

    def __init__(self, counts: list[int], seed: int, fingerprint: str) -> None:
        rng = np.random.default_rng(seed)
        labels = np.repeat(np.arange(10), counts)
        rng.shuffle(labels)
        self.y_train: NDArray[np.int64] = labels
        self.x_train: NDArray[np.uint8] = rng.integers(
            0, 256, (len(labels), 32, 32, 3), dtype=np.uint8
        )
        self.truth = DatasetTruth.from_arrays(
            self.x_train, self.y_train, NAMES, fingerprint
        )

    def first_of(self, label: int) -> int:
        return int(np.flatnonzero(self.y_train == label)[0])

    def image(self, index: int) -> ImageEvidence:
        return ImageEvidence(
            shape=[32, 32, 3], dtype="uint8", key=image_key(self.x_train[index])
        )


SEEN = Dataset(SEEN_COUNTS, seed=1, fingerprint="seen")
VARIANT = Dataset(VARIANT_COUNTS, seed=2, fingerprint="variant")


def evidence(
    cells: list[CellEvidence] | None = None,
    figures: list[FigureEvidence] | None = None,
    outcome: RunOutcome = "completed",
    **facts: object,
) -> Evidence:
    return Evidence(
        outcome=outcome,
        cells=cells or [],
        figures=figures or [],
        namespace=NamespaceFacts.model_validate(facts),
        dataset_fingerprint="seen",
        executor="fork",
    )


def code_cell(
    grade_id: str, stdout: str = "", error: CellError | None = None, index: int = 3
) -> CellEvidence:
    return CellEvidence(
        index=index,
        grade_id=grade_id,
        cell_type="code",
        source="...",
        stdout=stdout,
        error=error,
        seconds=0.1,
    )


def markdown(grade_id: str, source: str) -> CellEvidence:
    return CellEvidence(index=1, grade_id=grade_id, cell_type="markdown", source=source)


def grid_figure(
    dataset: Dataset, indices: list[int], titles: list[str], number: int = 1
) -> FigureEvidence:
    axes = [
        AxesEvidence(title=title, images=[dataset.image(index)], axis_on=False)
        for index, title in zip(indices, titles, strict=True)
    ]
    return FigureEvidence(number=number, cell=5, axes=axes)


def check(
    check_id: CheckId, given: Evidence, ran_on: Dataset = SEEN, seen: Dataset = SEEN
) -> CheckResult:
    results = run_checks(given, ran_on.truth, seen.truth, POINTS)
    return next(result for result in results if result.id == check_id)


def printed(counts: list[int]) -> str:
    return "\n".join(
        f"{name}: {count}" for name, count in zip(NAMES, counts, strict=True)
    )


# -- the whole -------------------------------------------------------------------


def test_are_results_given_for_every_check_in_order() -> None:
    results = run_checks(evidence(), SEEN.truth, SEEN.truth, POINTS)
    assert [result.id for result in results] == list(CHECK_IDS)
    assert all(result.points == 0 for result in results)
    assert all(result.message for result in results)


def test_are_the_maxima_read_from_the_source_notebook() -> None:
    source = load_settings().source_notebook
    if not source.is_file():
        pytest.skip("the source notebook is not written yet")
    assert points_from_source(source) == POINTS


# -- counts ----------------------------------------------------------------------


def test_do_stored_and_printed_counts_earn_full_marks() -> None:
    given = evidence(
        [code_cell("step2_counts", printed(SEEN_COUNTS))],
        int_sequences={"counts": SEEN_COUNTS},
    )
    result = check("counts", given)
    assert (result.points, result.status) == (3.0, "passed")


def test_are_counts_under_another_name_found_by_value() -> None:
    given = evidence(
        [code_cell("step2_counts", printed(VARIANT_COUNTS))],
        int_sequences={"first_ten": list(range(10)), "per_class": VARIANT_COUNTS},
    )
    assert check("counts", given, ran_on=VARIANT).status == "passed"


@pytest.mark.parametrize(
    "mapping",
    [
        {str(label): count for label, count in enumerate(VARIANT_COUNTS)},
        {
            name.upper() + "S": count
            for name, count in zip(NAMES, VARIANT_COUNTS, strict=True)
        },
        {
            str(label): VARIANT_COUNTS[label]
            for label in np.argsort(VARIANT_COUNTS)[::-1].tolist()
        },
    ],
    ids=["counter-by-label", "dict-by-plural-name", "value-counts-sorted"],
)
def test_do_mappings_by_label_or_class_name_count(mapping: dict[str, int]) -> None:
    given = evidence(
        [code_cell("step2_counts", printed(VARIANT_COUNTS))],
        int_mappings={"tally": mapping},
    )
    assert check("counts", given, ran_on=VARIANT).points == 3.0


@pytest.mark.parametrize(
    "stdout",
    [
        "\n".join(f"{n} {c:,}" for n, c in zip(NAMES, VARIANT_COUNTS, strict=True)),
        "\n".join(
            f"Class {i} ({n}): {c} images, {c / 3:.1f}%"
            for i, (n, c) in enumerate(zip(NAMES, VARIANT_COUNTS, strict=True))
        ),
        "\n".join(f"{i}    {VARIANT_COUNTS[i]}" for i in (8, 2, 6, 0, 1, 3, 4, 5, 7, 9))
        + "\nName: count, dtype: int64",
        str(dict(zip(NAMES, VARIANT_COUNTS, strict=True))),
    ],
    ids=["thousands-comma", "index-and-percent", "value-counts-print", "dict-print"],
)
def test_do_printed_lines_alone_earn_full_marks(stdout: str) -> None:
    given = evidence([code_cell("step2_counts", stdout)])
    result = check("counts", given, ran_on=VARIANT)
    assert (result.points, result.status) == (3.0, "passed")


def test_do_right_counts_that_are_not_printed_get_partial_credit() -> None:
    given = evidence(
        [code_cell("step2_counts", str(VARIANT_COUNTS))],
        int_sequences={"counts": VARIANT_COUNTS},
    )
    result = check("counts", given, ran_on=VARIANT)
    assert (result.points, result.status) == (2.0, "partial")
    assert "one line per class" in result.message


def test_does_one_wrong_class_get_partial_credit_and_its_name() -> None:
    off_by_one = [*VARIANT_COUNTS[:9], 0]
    given = evidence(
        [code_cell("step2_counts", printed(off_by_one))],
        int_sequences={"counts": off_by_one},
    )
    result = check("counts", given, ran_on=VARIANT)
    assert (result.points, result.status) == (1.0, "partial")
    assert "truck" in result.message


def test_do_typed_in_counts_fail_on_a_variant_without_revealing_it() -> None:
    given = evidence(
        [code_cell("step2_counts", printed(SEEN_COUNTS))],
        int_sequences={"counts": SEEN_COUNTS},
    )
    result = check("counts", given, ran_on=VARIANT)
    assert (result.points, result.status) == (0.0, "failed")
    assert "typed in" in result.message
    assert not any(str(count) in result.message for count in VARIANT_COUNTS)
    assert result.note.startswith(HARD_CODING_MARK)  # the summary's review queue


def test_do_counts_in_count_order_fail_with_a_hint_about_labels() -> None:
    by_size = sorted(VARIANT_COUNTS, reverse=True)
    given = evidence(
        [code_cell("step2_counts", str(by_size))], int_sequences={"counts": by_size}
    )
    result = check("counts", given, ran_on=VARIANT)
    assert result.points == 0
    assert "value_counts" in result.message


def test_does_bincount_without_minlength_say_so() -> None:
    given = evidence(
        [code_cell("step2_counts", "")], array_shapes={"counts": [9], "y_train": [300]}
    )
    result = check("counts", given)
    assert result.status == "failed"
    assert "minlength=10" in result.message


def test_does_an_untouched_counting_cell_say_to_fill_it_in() -> None:
    stub = CellError(ename="NotImplementedError", evalue="", traceback="")
    result = check("counts", evidence([code_cell("step2_counts", error=stub)]))
    assert result.status == "failed"
    assert "NotImplementedError" in result.message


def test_does_a_run_that_timed_out_before_counting_give_not_run() -> None:
    cell = CellEvidence(index=4, grade_id="step2_counts", cell_type="code", source="")
    result = check("counts", evidence([cell], outcome="timeout"))
    assert (result.status, result.points) == ("not_run", 0.0)
    assert "ran out of time" in result.message


def test_does_a_counting_cell_the_grader_stopped_say_why_in_the_lessons_words() -> None:
    stopped = CellError(
        ename="Timeout", evalue="cell 6 ran past its 60 s limit", traceback=""
    )
    result = check("counts", evidence([code_cell("step2_counts", error=stopped)]))
    assert result.status == "failed"
    assert "time limit" in result.message
    assert "cell 6" not in result.message  # the grader's own numbering


# -- grid ------------------------------------------------------------------------


def one_of_each(dataset: Dataset) -> list[int]:
    return [dataset.first_of(label) for label in range(10)]


def test_does_a_titled_image_of_every_class_earn_full_marks() -> None:
    titles = [name.capitalize() + "s" for name in NAMES]  # plurals and case
    figure = grid_figure(VARIANT, one_of_each(VARIANT), titles)
    result = check("grid", evidence(figures=[figure]), ran_on=VARIANT)
    assert (result.points, result.status) == (3.0, "passed")


def step3_cells(grid_cell_index: int = 5) -> list[CellEvidence]:
    """The grid cell, a cell the student added after it, the test, an experiment."""
    return [
        code_cell("step3_grid", index=grid_cell_index),
        CellEvidence(index=6, grade_id=None, cell_type="code", source="..."),
        code_cell("step3_grid_test", index=7),
        CellEvidence(index=12, grade_id=None, cell_type="code", source="..."),
    ]


def test_does_a_grid_drawn_in_a_cell_added_after_the_grid_cell_count() -> None:
    figure = grid_figure(SEEN, one_of_each(SEEN), list(NAMES))
    moved = figure.model_copy(update={"cell": 6})
    result = check("grid", evidence(step3_cells(), figures=[moved]))
    assert (result.points, result.status) == (3.0, "passed")


def test_does_a_grid_drawn_by_a_later_experiment_not_count() -> None:
    figure = grid_figure(SEEN, one_of_each(SEEN), list(NAMES))
    experiment = figure.model_copy(update={"cell": 12})
    result = check("grid", evidence(step3_cells(), figures=[experiment]))
    assert result.points == 0.0


def test_does_a_three_by_four_grid_with_empty_axes_earn_full_marks() -> None:
    figure = grid_figure(SEEN, one_of_each(SEEN), NAMES)
    empty = AxesEvidence(title="", images=[], axis_on=True)
    padded = figure.model_copy(update={"axes": [*figure.axes, empty, empty]})
    assert check("grid", evidence(figures=[padded])).points == 3.0


def test_do_float_images_match_their_training_image() -> None:
    index = SEEN.first_of(3)
    as_float = SEEN.x_train[index].astype(np.float32) / 255
    assert SEEN.truth.lookup(image_key(as_float)) == (index, 3)


def test_does_a_grid_of_the_first_ten_images_get_a_third() -> None:
    labels = SEEN.y_train[:10].tolist()
    figure = grid_figure(SEEN, list(range(10)), [NAMES[label] for label in labels])
    result = check("grid", evidence(figures=[figure]))
    assert (result.points, result.status) == (1.0, "partial")
    assert "first 10 training images" in result.message


def test_does_a_grid_without_titles_get_two_thirds() -> None:
    figure = grid_figure(SEEN, one_of_each(SEEN), [""] * 10)
    result = check("grid", evidence(figures=[figure]))
    assert (result.points, result.status) == (2.0, "partial")
    assert "set_title" in result.message


def test_does_a_grid_with_titles_shifted_by_one_get_two_thirds() -> None:
    shifted = NAMES[1:] + NAMES[:1]
    figure = grid_figure(SEEN, one_of_each(SEEN), shifted)
    result = check("grid", evidence(figures=[figure]))
    assert (result.points, result.status) == (2.0, "partial")
    assert "do not match" in result.message


def test_do_ten_separate_figures_get_two_thirds() -> None:
    figures = [
        grid_figure(SEEN, [SEEN.first_of(label)], [NAMES[label]], number=label)
        for label in range(10)
    ]
    result = check("grid", evidence(figures=figures))
    assert (result.points, result.status) == (2.0, "partial")
    assert "one figure" in result.message


def test_do_images_from_outside_the_training_set_earn_nothing() -> None:
    figure = grid_figure(VARIANT, one_of_each(VARIANT), NAMES)
    result = check("grid", evidence(figures=[figure]), ran_on=SEEN)
    assert (result.points, result.status) == (0.0, "failed")
    assert "not CIFAR-10 training images" in result.message


# -- tricky ----------------------------------------------------------------------


def tricky_evidence(
    dataset: Dataset, index: int, shown: list[int], measure: bool = True
) -> Evidence:
    figure = grid_figure(dataset, shown, [str(i) for i in shown])
    shapes = {"sharpness": [len(dataset.y_train)]} if measure else {}
    return evidence(figures=[figure], ints={"tricky_index": index}, array_shapes=shapes)


def test_does_a_measure_and_a_shown_index_earn_full_marks() -> None:
    result = check("tricky", tricky_evidence(SEEN, 7, [3, 7, 11]))
    assert (result.points, result.status) == (2.0, "passed")


def test_does_a_missing_measure_cost_half() -> None:
    result = check("tricky", tricky_evidence(SEEN, 7, [7], measure=False))
    assert (result.points, result.status) == (1.0, "partial")
    assert "sharpness" in result.message


def test_does_an_index_never_shown_cost_half() -> None:
    result = check("tricky", tricky_evidence(SEEN, 8, [3, 7]))
    assert (result.points, result.status) == (1.0, "partial")
    assert "never shown" in result.message


def test_does_an_index_beyond_the_training_set_cost_half() -> None:
    result = check("tricky", tricky_evidence(SEEN, 10_000, [3]))
    assert result.points == 1.0
    assert "not a training index" in result.message


def test_does_a_typed_in_index_unseen_on_a_variant_go_to_review() -> None:
    result = check("tricky", tricky_evidence(VARIANT, 8, [3]), ran_on=VARIANT)
    assert (result.points, result.needs_review) == (1.0, True)


# -- predictions -----------------------------------------------------------------

PREDICTIONS = """\
**The three classes I expect a model to confuse most:**

1. cat, because at 32 x 32 pixels a cat and a dog are both a furry blob.
2. deer, because deer and horses share brown bodies and grass.
3. car, because a small car and a lorry both show wheels and windows.

**Balance:** I predict the classes are balanced (balanced / not balanced), \
because a teaching set is built that way."""


def predictions(source: str) -> CheckResult:
    return check("predictions", evidence([markdown("step1_predictions", source)]))


def test_do_three_reasoned_classes_and_a_balance_guess_earn_full_marks() -> None:
    result = predictions(PREDICTIONS)
    assert (result.points, result.status) == (2.0, "passed")


@pytest.mark.parametrize(
    "source", ["YOUR ANSWER HERE", predictions_check.TEMPLATE], ids=["stub", "template"]
)
def test_does_an_untouched_step_one_earn_nothing(source: str) -> None:
    result = predictions(source)
    assert (result.points, result.status) == (0.0, "failed")


def test_does_a_missing_balance_prediction_cost_half() -> None:
    result = predictions(PREDICTIONS.split("**Balance:**")[0])
    assert (result.points, result.status) == (1.0, "partial")
    assert "balanced" in result.message


def test_do_classes_without_reasons_lose_their_share() -> None:
    bare = "1. cat, because ____\n2. planes, because ____\n3. lorry\n\n"
    result = predictions(bare + "Balance: not balanced")
    assert (result.points, result.status) == (1.0, "partial")
    assert "Say why" in result.message


# -- report ----------------------------------------------------------------------

REPORT = """\
**My data report**

- The most common class is airplane, with 30 training images (all tie).
- The least common class is truck, with 30 training images, as I predicted.
- A class I expect to be hard for a model: cat, because its ears vanish at 32 pixels.
- An image that looked ambiguous: index 12 (class dog), because it is very dark."""


def report(source: str, seen: Dataset = SEEN) -> CheckResult:
    given = evidence([markdown("step4_report", source)])
    return check("report", given, seen=seen)


def test_does_a_filled_in_report_earn_full_marks() -> None:
    result = report(REPORT)
    assert (result.points, result.status, result.needs_review) == (4.0, "passed", False)


def test_does_the_untouched_template_earn_nothing() -> None:
    result = report(report_check.TEMPLATE + "\n\nYOUR ANSWER HERE")
    assert (result.points, result.status) == (0.0, "failed")


def test_does_a_count_wrong_for_its_class_cost_that_part() -> None:
    result = report(REPORT.replace("airplane, with 30", "airplane, with 5000"))
    assert (result.points, result.status) == (3.0, "partial")
    assert "airplane" in result.message


def test_does_a_class_that_is_not_the_most_common_cost_that_part() -> None:
    result = report(REPORT.replace("30", "28"), seen=VARIANT)  # airplane has 28
    assert result.points == 2.0
    assert "not the most common class" in result.message


def test_does_every_class_tied_answer_both_count_sentences() -> None:
    tied = REPORT.replace(
        "The most common class is airplane, with 30 training images (all tie).",
        "The most common class: every class has 30 images.",
    ).replace(
        "The least common class is truck, with 30 training images, as I predicted.",
        "Least common class: all classes tie at 30.",
    )
    assert report(tied).points == 4.0


def test_does_a_hard_class_without_a_reason_get_half_that_part() -> None:
    result = report(REPORT.replace("because its ears vanish at 32 pixels", ""))
    assert result.points == 3.5


def test_does_a_reworded_report_go_to_review_with_the_points_it_is_sure_of() -> None:
    reworded = REPORT.replace(
        "An image that looked ambiguous: index 12 (class dog), because it is very "
        "dark.",
        "Picture 12 fooled me: it is so dark that the dog could be a cat.",
    )
    result = report(reworded)
    assert (result.points, result.needs_review) == (3.0, True)
    assert "Picture 12" in result.quoted


# -- reading text and errors -----------------------------------------------------


def test_are_synonyms_and_plurals_read_as_classes() -> None:
    text = "Planes, cars, lorries, a kitten and two boats; not a category."
    labels = [mention.label for mention in class_mentions(text, NAMES)]
    assert labels == [0, 1, 9, 3, 8]


def test_are_numbers_read_as_people_write_them() -> None:
    values = [number.value for number in numbers_in("5000, 5,000, 5 000, 10% 3.5")]
    assert values == [5000, 5000, 5000]


def test_does_a_name_error_for_class_names_point_to_the_setup_cell() -> None:
    error = CellError(
        ename="NameError", evalue="name 'class_names' is not defined", traceback=""
    )
    assert "setup cell" in hint_for(error)
