"""The student's feedback page: what it shows, where, and what it never shows."""

from __future__ import annotations

import base64
import io
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from functools import cache
from pathlib import Path

import matplotlib
import numpy as np
import pytest

from autograder.config import load_settings
from autograder.feedback import HINTS, UNGRADABLE_NEXT_STEPS, write_feedback
from autograder.hints import hint_for
from autograder.model import (
    CHECK_IDS,
    CellError,
    CellEvidence,
    CheckId,
    CheckResult,
    CheckStatus,
    Evidence,
    FigureEvidence,
    Health,
    Manifest,
    NamespaceFacts,
    Override,
    SubmissionResult,
)
from tests import browser

matplotlib.use("Agg")
from matplotlib import pyplot as plt

CLASS_NAMES = [
    "airplane", "automobile", "bird", "cat", "deer",
    "dog", "frog", "horse", "ship", "truck",
]  # fmt: skip
MAX_POINTS: dict[CheckId, float] = {
    "predictions": 2,
    "counts": 3,
    "grid": 3,
    "tricky": 2,
    "report": 4,
}
#: What the grading variant's counts look like inside a notebook that ran on it.
VARIANT_COUNTS = [4731, 5212, 4988, 5391, 4603, 5077, 4850, 5444, 4519, 5185]

PREDICTIONS = """**The three classes I expect a model to confuse most:**

1. truck, because from far away a lorry looks like a big car.
2. dog, because puppies and kittens are both small and fluffy.
3. bird, because a bird in the sky is a small dark spot like a plane.

**Balance:** I predict the classes are not balanced, because birds are rarer."""

REPORT = """**My data report**

- The most common class is frog, with 5000 training images.
- The least common class is ship, with 5000 training images.
- A class I expect to be hard for a model: deer, because they stand in brown
  fields that blend with their fur.
- An image that looked ambiguous: index 2405 (class cat), because it is just a
  grey smudge with two dots."""

HIDDEN_TEST = (
    "# Self-check for Step 2\n"
    "assert len(counts) == 10\n"
    "### BEGIN HIDDEN TESTS\n"
    "grade_step_secretly('counts', globals())\n"
    "### END HIDDEN TESTS"
)


# -- factories -----------------------------------------------------------------


def make_check(
    check_id: CheckId,
    status: CheckStatus = "passed",
    *,
    points: float | None = None,
    message: str = "",
    note: str = "",
    needs_review: bool = False,
    quoted: str = "",
) -> CheckResult:
    maximum = MAX_POINTS[check_id]
    if points is None:
        points = {"passed": maximum, "partial": maximum / 2}.get(status, 0.0)
    return CheckResult(
        id=check_id,
        points=points,
        max_points=maximum,
        status=status,
        message=message or f"{check_id}: {status}",
        note=note,
        needs_review=needs_review,
        quoted=quoted,
    )


def make_result(
    student_id: str = "12345",
    checks: Sequence[CheckResult] = (),
    *,
    status: str = "graded",
    reason: str = "",
    overrides: Sequence[Override] = (),
    on_variant: bool = True,
) -> SubmissionResult:
    """A result in which every check passed, except those given in `checks`."""
    given = {check.id: check for check in checks}
    all_checks = [given.get(check_id, make_check(check_id)) for check_id in CHECK_IDS]
    if status == "ungradable":
        all_checks = [
            make_check(check_id, "not_run", message="Not graded: " + reason)
            for check_id in CHECK_IDS
        ]
    score = sum(check.points for check in all_checks)
    return SubmissionResult(
        student_id=student_id,
        source_file=f"{student_id}_data_detective.ipynb",
        sha256="0" * 64,
        status="ungradable" if status == "ungradable" else "graded",
        reason=reason,
        score=score,
        max_score=sum(MAX_POINTS.values()),
        health=Health(),
        checks=all_checks,
        manifest=Manifest(
            kit_version="test",
            dataset_fingerprint="variant" if on_variant else "real",
            seen_dataset_fingerprint="real",
            libraries={},
        ),
        overrides=list(overrides),
    )


@cache
def grid_png() -> str:
    """A 2x5 grid drawn the way the lesson asks, as the run step renders it."""
    rng = np.random.default_rng(0)
    figure, axes = plt.subplots(2, 5, figsize=(6, 2.6))
    for label, ax in enumerate(axes.flat):
        ax.imshow(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8))
        ax.set_title(CLASS_NAMES[label])
        ax.axis("off")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=60)
    plt.close(figure)
    return base64.b64encode(buffer.getvalue()).decode()


def make_evidence(
    *,
    predictions: str = PREDICTIONS,
    report: str = REPORT,
    errors: Mapping[str, CellError] | None = None,
    counts: Sequence[int] = VARIANT_COUNTS,
    outcome: str = "completed",
) -> Evidence:
    """Evidence of a notebook laid out as the lesson's, run to the end."""
    errors = errors or {}
    layout = [
        ("setup", "code", "import numpy as np"),
        ("step1_predictions", "markdown", predictions),
        ("step2_counts", "code", "my_counts = np.bincount(y_train.ravel())"),
        ("step2_counts_test", "code", HIDDEN_TEST),
        ("step3_grid", "code", "fig, axes = plt.subplots(2, 5)"),
        ("step3_grid_test", "code", "assert 'fig' in globals()"),
        ("tricky_measure", "code", "sharpness = my_measure(x_train)"),
        ("tricky_measure_test", "code", "assert 'sharpness' in globals()"),
        ("step4_report", "markdown", report),
    ]
    cells = [
        CellEvidence(
            index=index,
            grade_id=grade_id,
            cell_type=cell_type,
            source=source,
            error=errors.get(grade_id),
        )
        for index, (grade_id, cell_type, source) in enumerate(layout)
    ]
    return Evidence(
        outcome=outcome,
        cells=cells,
        figures=[FigureEvidence(number=1, cell=4, axes=[], png_base64=grid_png())],
        namespace=NamespaceFacts(int_sequences={"counts": list(counts)}),
        dataset_fingerprint="variant",
        executor="fork",
    )


def page_of(result: SubmissionResult, evidence: Evidence | None, tmp_path: Path) -> str:
    path = write_feedback(result, evidence, tmp_path / f"{result.student_id}.html")
    return path.read_text(encoding="utf-8")


def section(html: str, check_id: str) -> str:
    """The part of the page about one step."""
    found = re.search(
        rf'<section class="step" id="step-{check_id}">(.*?)</section>', html, re.S
    )
    assert found, f"no section for {check_id}"
    return found.group(1)


# -- what the page shows -------------------------------------------------------


def test_does_the_page_show_the_total_and_every_check(tmp_path: Path) -> None:
    result = make_result(
        checks=[make_check("grid", "failed", message="Only 8 classes are shown.")]
    )

    html = page_of(result, make_evidence(), tmp_path)

    assert "11 / 14 points" in html
    for check in result.checks:
        part = section(html, check.id)
        assert f"{check.points:g} / {check.max_points:g}" in part
        assert check.status.replace("_", " ") in part
        assert check.message in part


def test_is_the_students_own_grid_shown_in_the_grid_step(tmp_path: Path) -> None:
    html = page_of(make_result(), make_evidence(), tmp_path)

    assert f"data:image/png;base64,{grid_png()}" in section(html, "grid")
    assert "base64" not in section(html, "counts")


def test_are_the_report_parts_the_check_used_marked(tmp_path: Path) -> None:
    quoted = "deer, because they stand in brown fields that blend with their fur."
    result = make_result(checks=[make_check("report", quoted=quoted)])

    part = section(page_of(result, make_evidence(), tmp_path), "report")

    marked = re.findall(r"<mark>(.*?)</mark>", part, re.S)
    assert [" ".join(text.split()) for text in marked[1:]] == [quoted]
    assert "grey smudge with two dots" in part


def test_is_the_hint_shown_beside_the_failed_step_only(tmp_path: Path) -> None:
    result = make_result(checks=[make_check("counts", "failed")])

    html = page_of(result, make_evidence(), tmp_path)

    assert "<code>counts</code>" in section(html, "counts")
    assert HINTS["counts"].split("`")[0] in section(html, "counts")
    assert "Hint:" not in section(html, "grid")


def test_is_a_cell_error_shown_beside_the_step_whose_cell_failed(
    tmp_path: Path,
) -> None:
    error = CellError(
        ename="IndexError",
        evalue="index 10 is out of bounds for axis 0 with size 10",
        traceback="Traceback (most recent call last):\n"
        "  Cell In[5], line 3\n    ax.set_title(class_names[label + 1])\n"
        "IndexError: index 10 is out of bounds for axis 0 with size 10",
    )
    result = make_result(checks=[make_check("grid", "error")])

    html = page_of(result, make_evidence(errors={"step3_grid": error}), tmp_path)

    grid = section(html, "grid")
    assert "IndexError: index 10 is out of bounds" in grid
    assert "ax.set_title(class_names[label + 1])" in grid
    assert "IndexError" not in section(html, "counts")


def test_does_a_stopped_cell_say_what_happened_once(tmp_path: Path) -> None:
    stopped = CellError(
        ename="Timeout",
        evalue="cell 2 ran past its 60 s limit",
        traceback="cell 2 ran past its 60 s limit",
    )
    advice = hint_for(stopped)
    result = make_result(checks=[make_check("counts", "failed", message=advice)])

    html = page_of(result, make_evidence(errors={"step2_counts": stopped}), tmp_path)

    counts = section(html, "counts")
    assert "Timeout: cell 2 ran past its 60 s limit" in counts
    assert counts.count("ran past its 60 s limit") == 1
    assert counts.count("time limit") == 1


def test_does_a_failing_self_check_keep_its_code_and_message_hidden(
    tmp_path: Path,
) -> None:
    error = CellError(
        ename="AssertionError",
        evalue="expected 4731 airplanes",
        traceback="Cell In[4], line 4\n    grade_step_secretly('counts', globals())\n"
        "AssertionError: expected 4731 airplanes",
    )
    result = make_result(checks=[make_check("counts", "failed")])

    html = page_of(result, make_evidence(errors={"step2_counts_test": error}), tmp_path)

    assert "AssertionError in the step&#39;s self-check cell" in section(html, "counts")
    assert "grade_step_secretly" not in html
    assert "expected 4731" not in html


def test_does_the_tas_note_stay_off_the_students_page(tmp_path: Path) -> None:
    note = "TA only: printed lines matched but the variable was renamed"
    result = make_result(checks=[make_check("counts", note=note)])

    html = page_of(result, make_evidence(), tmp_path)

    assert note not in html


def test_are_the_variants_counts_kept_off_the_page(tmp_path: Path) -> None:
    message = "Your counts 4731, 5212 do not match the labels."
    error = CellError(
        ename="ValueError", evalue="got 5391 cats", traceback="ValueError: got 5391"
    )
    result = make_result(checks=[make_check("counts", "failed", message=message)])

    html = page_of(result, make_evidence(errors={"step2_counts": error}), tmp_path)

    for count in VARIANT_COUNTS:
        assert str(count) not in html
    assert "2405" in html, "numbers the student wrote in the report are kept"


def test_does_an_ungradable_submission_get_a_page_saying_why_and_what_next(
    tmp_path: Path,
) -> None:
    reason = "The file is not a notebook: it looks like a PDF."
    result = make_result(status="ungradable", reason=reason)

    html = page_of(result, None, tmp_path)

    assert "could not be graded" in html
    assert reason in html
    assert UNGRADABLE_NEXT_STEPS[1].split(",")[0] in html


def test_does_an_override_show_the_tas_points_and_reason(tmp_path: Path) -> None:
    override = Override(
        check_id="report", points=4, reason="blanks filled in Step 1", by="ta-ana",
        autograder_points=2,
    )  # fmt: skip
    result = make_result(
        checks=[make_check("report", points=4)], overrides=[override]
    ).model_copy(update={"autograder_score": 12.0})

    html = page_of(result, make_evidence(), tmp_path)

    assert "changed these points from 2 to 4: blanks filled in Step 1" in section(
        html, "report"
    )


def test_is_html_in_the_students_report_shown_as_text(tmp_path: Path) -> None:
    report = REPORT + "\n<script>alert('hi')</script><img src=x onerror=alert(1)>"

    html = page_of(make_result(), make_evidence(report=report), tmp_path)

    assert "<script>alert" not in html
    assert "&lt;script&gt;alert" in html
    assert "<img src=x" not in html


def test_is_the_page_self_contained(tmp_path: Path) -> None:
    html = page_of(make_result(), make_evidence(), tmp_path)

    assert browser.external_references(html) == []
    assert "<script" not in html


# -- nothing secret, in anything the kit writes ----------------------------------


def secret_lines(notebook: Path) -> Iterator[str]:
    """Each hidden-test line and each solution line of the source notebook.

    Lines the release also gives (a report template repeated in the model
    answer, say) are not secret and are left out.
    """
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    for cell in cells:
        source = "".join(cell["source"])
        for begin, end in (
            ("### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"),
            ("### BEGIN SOLUTION", "### END SOLUTION"),
        ):
            region = re.compile(re.escape(begin) + r"(.*?)" + re.escape(end), re.S)
            given = {line.strip() for line in region.sub("", source).splitlines()}
            for block in region.findall(source):
                lines = (line.strip() for line in block.splitlines())
                yield from (line for line in lines if line not in given)


def test_do_the_pages_hold_no_hidden_test_or_solution_line(tmp_path: Path) -> None:
    from autograder.gradebook import write_canvas_csv
    from autograder.summary import write_summary

    source = load_settings().source_notebook
    if not source.is_file():
        pytest.skip("the source notebook is not written yet")
    results = [
        make_result("111", [make_check("counts", "failed", quoted="frog")]),
        make_result("222", [make_check("report", "partial", needs_review=True)]),
        make_result("333", status="ungradable", reason="Not a notebook."),
    ]
    evidence = {"111": make_evidence(), "222": make_evidence()}

    for result in results:
        write_feedback(
            result,
            evidence.get(result.student_id),
            tmp_path / "feedback" / f"{result.student_id}.html",
        )
    write_summary(results, tmp_path, evidence)
    write_canvas_csv(results, tmp_path / "canvas.csv")

    written = {path: path.read_text() for path in tmp_path.rglob("*") if path.is_file()}
    assert len(written) == 5
    lines = [line for line in secret_lines(source) if len(line) >= 10]
    assert lines, "the source notebook has solution and hidden-test lines"
    for path, text in written.items():
        leaked = [line for line in lines if line in text]
        assert leaked == [], f"{path.name} holds {leaked}"


# -- in a browser ----------------------------------------------------------------


def test_does_the_page_render_in_a_browser_without_console_errors(
    tmp_path: Path,
) -> None:
    result = make_result(
        checks=[
            make_check("counts", "failed", message="Your counts miss two classes."),
            make_check("report", quoted="deer, because they stand in brown"),
        ]
    )
    error = CellError(
        ename="ValueError", evalue="bad shape", traceback="ValueError: bad shape"
    )
    page = write_feedback(
        result,
        make_evidence(errors={"step2_counts": error}),
        tmp_path / "feedback.html",
    )

    view = browser.view(page, tmp_path / "feedback.png")

    assert view.console == []
    pixels = plt.imread(view.screenshot)
    assert pixels.std() > 0.05, "the screenshot is not blank"
