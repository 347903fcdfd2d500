"""The class summary: the table, the review queue, near-identical answers, insights."""

from __future__ import annotations

import re
from pathlib import Path

from matplotlib import pyplot as plt

from autograder.model import (
    HARD_CODING_MARK,
    CellEvidence,
    Evidence,
    Override,
    SubmissionResult,
)
from autograder.overrides import apply_overrides
from autograder.summary import (
    LESSON_CLASS_NAMES,
    class_insights,
    predicted_hard,
    reported_hard,
    similar_answers,
    write_summary,
)
from tests import browser
from tests.test_feedback import REPORT, make_check, make_evidence, make_result

OTHER_REPORT = """**My data report**

- The most common class is airplane, with 5000 training images.
- The least common class is truck, with 5000 training images.
- A class I expect to be hard for a model: automobile, because cars and
  lorries look alike from behind on a motorway at night.
- An image that looked ambiguous: index 31 (class bird), because only a wing
  shows against white clouds."""


def summary_of(
    tmp_path: Path,
    results: list[SubmissionResult],
    evidence: dict[str, Evidence] | None = None,
) -> str:
    return write_summary(results, tmp_path, evidence).read_text(encoding="utf-8")


def test_does_the_table_link_every_student_to_their_page(tmp_path: Path) -> None:
    results = [
        make_result("111"),
        make_result("222", [make_check("grid", "failed")]),
        make_result("a b&c", status="ungradable", reason="Not a notebook."),
    ]

    html = summary_of(tmp_path, results)

    table = html[html.index('id="students"') :]
    assert 'href="feedback/111.html"' in table
    assert 'href="feedback/a%20b%26c.html"' in table
    assert "11 / 14" in table
    assert "ungradable" in table


def test_is_everything_a_ta_must_look_at_in_the_review_queue(tmp_path: Path) -> None:
    hard_coded = make_check(
        "counts", "failed", note=f"{HARD_CODING_MARK} right on CIFAR-10, not here"
    )
    undecided = make_check("report", "partial", needs_review=True, quoted="deer")
    results = [
        make_result("100", status="ungradable", reason="The file is empty."),
        make_result("200", [hard_coded]),
        make_result("300", [undecided]),
        make_result("400", [make_check("grid", "error", note="KeyError in grid")]),
        make_result("500"),
        make_result("600"),
    ]
    evidence = {
        "500": make_evidence(outcome="timeout"),
        "600": make_evidence(report=OTHER_REPORT),
    }

    html = summary_of(tmp_path, results, evidence)

    queue = html[html.index('id="review"') : html.index("Near-identical")]
    rows = re.findall(r'feedback/(\d+)\.html">\d+</a></td>\s*<td>([^<]+)</td>', queue)
    assert rows == [
        ("100", "ungradable"),
        ("500", "run stopped"),
        ("400", "check crashed"),
        ("200", "suspected hard-coding"),
        ("300", "undecided"),
    ]


def test_are_two_near_identical_reports_listed_as_a_pair(tmp_path: Path) -> None:
    copied = REPORT.replace("frog", "frogs")
    evidence = {
        "111": make_evidence(),
        "222": make_evidence(report=copied),
        "333": make_evidence(report=OTHER_REPORT),
    }

    pairs = similar_answers(evidence, {})

    reports = [(p.first, p.second) for p in pairs if p.cell == "step4_report"]
    assert reports == [("111", "222")]


def test_is_the_lessons_own_answer_never_flagged_as_copied() -> None:
    from autograder.summary import GivenAnswer

    solution = "\n".join(
        f"value_{n} = compute(x_train, {n}) + offset" for n in range(8)
    )
    given = {"step2_counts": GivenAnswer(template="", solution=solution)}
    evidence = {
        student: make_evidence().model_copy(
            update={
                "cells": [
                    CellEvidence(
                        index=0,
                        grade_id="step2_counts",
                        cell_type="code",
                        source=solution,
                    )
                ]
            }
        )
        for student in ("111", "222")
    }

    assert similar_answers(evidence, {}) != []
    assert similar_answers(evidence, given) == []


def test_are_classes_read_with_plurals_and_synonyms() -> None:
    step1 = (
        "1. Cars, because a lorry is a big car.\n"
        "2. aeroplanes, because birds fly too.\n"
        "3. lorries, because they look like cars.\n"
        "**Balance:** not balanced, because there are more cats."
    )
    report = (
        "- The most common class is dog, with 5000 training images.\n"
        "- A class I expect to be hard for a model: Deer, because horses."
    )

    assert predicted_hard(step1, LESSON_CLASS_NAMES) == {
        "automobile",
        "airplane",
        "truck",
    }
    assert reported_hard(report, LESSON_CLASS_NAMES) == {"deer"}


def test_do_the_insights_count_each_student_once_per_class() -> None:
    evidence: dict[str, Evidence] = {
        "111": make_evidence(),
        "222": make_evidence(report=OTHER_REPORT),
        "333": make_evidence(report=REPORT),
    }

    predicted, reported = class_insights(evidence)

    assert predicted == {"truck": 3, "dog": 3, "bird": 3}
    assert reported == {"deer": 2, "automobile": 1}


def test_are_overridden_scores_shown_beside_the_autograders(tmp_path: Path) -> None:
    result = make_result("111", [make_check("report", "failed")])
    overridden = apply_overrides(
        result, [Override(check_id="report", points=3, reason="counts cited", by="ta")]
    )

    html = summary_of(tmp_path, [overridden])

    row = html[html.index('id="students"') :]
    assert "13 / 14" in row
    assert "autograder: 10" in row
    assert "autograder: 0" in row
    overrides = html[html.index('id="overrides"') :]
    assert "counts cited" in overrides


def test_is_the_summary_self_contained_with_inline_charts(tmp_path: Path) -> None:
    html = summary_of(tmp_path, [make_result("111")], {"111": make_evidence()})

    assert html.count('src="data:image/png;base64,') == 3
    assert browser.external_references(html) == []


def test_does_the_summary_render_in_a_browser_without_console_errors(
    tmp_path: Path,
) -> None:
    results = [
        make_result("101"),
        make_result("102", [make_check("counts", "failed", note=HARD_CODING_MARK)]),
        make_result("103", [make_check("report", "partial", needs_review=True)]),
        make_result("104", status="ungradable", reason="Not a notebook."),
    ]
    evidence = {
        "101": make_evidence(),
        "102": make_evidence(report=REPORT.replace("frog", "frogs")),
        "103": make_evidence(report=OTHER_REPORT),
    }
    page = write_summary(results, tmp_path, evidence)

    view = browser.view(page, tmp_path / "summary.png", height=2400)

    assert view.console == []
    assert plt.imread(view.screenshot).std() > 0.05, "the screenshot is not blank"
