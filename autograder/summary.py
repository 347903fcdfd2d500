"""The class summary page, for instructors and TAs.

One self-contained HTML file beside the feedback pages: how the class scored,
how often each check passed, every student with a link to their page, the
review queue (what a person should look at first), and what the class expected
to be hard, for the next lesson.
"""

from __future__ import annotations

import base64
import difflib
import io
import json
import logging
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from itertools import combinations
from pathlib import Path
from urllib.parse import quote

from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from autograder.checks.text import class_mentions
from autograder.config import load_settings
from autograder.errors import ConfigError
from autograder.feedback import format_points, page_environment
from autograder.model import (
    ANSWER_CELL,
    CHECK_IDS,
    CLASS_NAMES,
    HARD_CODING_MARK,
    CheckId,
    CheckResult,
    Evidence,
    SubmissionResult,
)

logger = logging.getLogger(__name__)

LESSON_CLASS_NAMES = list(CLASS_NAMES)

#: Two answers this alike (difflib's ratio over their own words) are listed.
SIMILARITY_THRESHOLD = 0.9
#: Answers shorter than this, in their own tokens, are too short to compare.
MIN_OWN_TOKENS = {"markdown": 12, "code": 40}
MAX_PAIRS_SHOWN = 50
#: Report lines where the student names a class expected to be hard.
HARD_LINE = re.compile(r"\b(?:hard|difficult|tricky|confus)", re.IGNORECASE)
BALANCE_LINE = re.compile(r"balanc", re.IGNORECASE)
SOLUTION = re.compile(r"### BEGIN SOLUTION(.*?)### END SOLUTION", re.S)
STOPPED = {"timeout", "crashed", "memory", "output_limit"}
CHART_COLOURS = {
    "passed": "#2da44e",
    "partial": "#d4a72c",
    "failed": "#cf222e",
    "other": "#8c959f",
}


@dataclass(frozen=True)
class ReviewItem:
    student_id: str
    kind: str  # what to look at, in a TA's words
    detail: str


@dataclass(frozen=True)
class SimilarPair:
    first: str
    second: str
    cell: str  # the answer cell's grade id
    ratio: float


@dataclass(frozen=True)
class Row:
    """One student in the table."""

    result: SubmissionResult
    link: str
    overridden: dict[CheckId, float]  # the autograder's points, by check


def write_summary(
    results: Sequence[SubmissionResult],
    out_dir: Path,
    evidence: Mapping[str, Evidence] | None = None,
) -> Path:
    """Write `out_dir/summary.html` for `results` and return its path.

    `evidence`, by student id, is needed for the class insights, the stopped
    runs and the near-identical answers; without it those parts say so.
    """
    evidence = evidence or {}
    out_dir.mkdir(parents=True, exist_ok=True)
    pairs = similar_answers(evidence, given_answers())
    html = (
        page_environment()
        .get_template("summary.html")
        .render(
            results=results,
            graded=[r for r in results if r.status == "graded"],
            rows=[_row(result) for result in results],
            check_ids=CHECK_IDS,
            queue=review_queue(results, evidence),
            pairs=pairs[:MAX_PAIRS_SHOWN],
            more_pairs=max(0, len(pairs) - MAX_PAIRS_SHOWN),
            threshold=SIMILARITY_THRESHOLD,
            have_evidence=bool(evidence),
            score_chart=_score_chart(results),
            pass_chart=_pass_rate_chart(results),
            insight_chart=_insight_chart(evidence) if evidence else None,
            points=format_points,
        )
    )
    path = out_dir / "summary.html"
    partial = path.with_name(path.name + ".partial")
    partial.write_text(html, encoding="utf-8")
    partial.replace(path)
    logger.info("class summary of %d submissions written to %s", len(results), path)
    return path


def _row(result: SubmissionResult) -> Row:
    overridden = {
        override.check_id: override.autograder_points
        for override in result.overrides
        if override.autograder_points is not None
    }
    return Row(
        result=result,
        link=f"feedback/{quote(result.student_id)}.html",
        overridden=overridden,
    )


# -- the review queue ------------------------------------------------------------


def review_queue(
    results: Sequence[SubmissionResult], evidence: Mapping[str, Evidence]
) -> list[ReviewItem]:
    """What a TA should look at, most urgent kind first."""
    queue: list[ReviewItem] = []
    for result in results:
        queue.extend(_review_items(result, evidence.get(result.student_id)))
    urgency = {kind: rank for rank, kind in enumerate(REVIEW_KINDS)}
    return sorted(queue, key=lambda item: (urgency[item.kind], item.student_id))


REVIEW_KINDS = (
    "ungradable",
    "run stopped",
    "check crashed",
    "suspected hard-coding",
    "undecided",
)


def _review_items(
    result: SubmissionResult, evidence: Evidence | None
) -> Iterable[ReviewItem]:
    student = result.student_id
    if result.status == "ungradable":
        yield ReviewItem(student, "ungradable", result.reason)
    if evidence is not None and evidence.outcome in STOPPED:
        detail = f"{evidence.outcome}: {evidence.outcome_detail}".rstrip(": ")
        yield ReviewItem(student, "run stopped", detail)
    for check in result.checks:
        if check.status == "error":
            yield ReviewItem(student, "check crashed", _check_detail(check))
        if is_suspected_hard_coding(check):
            yield ReviewItem(student, "suspected hard-coding", _check_detail(check))
        if check.needs_review:
            yield ReviewItem(student, "undecided", _check_detail(check))


def is_suspected_hard_coding(check: CheckResult) -> bool:
    """Did the counts check mark these counts as right only on the seen data?"""
    mark = HARD_CODING_MARK.lower()
    return check.id == "counts" and (
        mark in check.note.lower() or mark in check.message.lower()
    )


def _check_detail(check: CheckResult) -> str:
    parts = [f"{check.id}:", check.note or check.message]
    if check.quoted:
        parts.append(f"(read: “{check.quoted}”)")
    return " ".join(parts)


# -- near-identical answers ------------------------------------------------------


@dataclass(frozen=True)
class GivenAnswer:
    """An answer cell of the source: what the release gives, and the solution."""

    template: str
    solution: str


@cache
def given_answers() -> dict[str, GivenAnswer]:
    """The source notebook's answer cells, by grade id.

    Empty when the source notebook cannot be read, so that whole cells are
    compared and no answer is taken for the lesson's own solution.
    """
    try:
        path = load_settings().source_notebook
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    except (ConfigError, OSError, ValueError, KeyError) as error:
        logger.warning("source answers unavailable (%s); comparing whole cells", error)
        return {}
    given = {}
    for cell in cells:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if grade_id in ANSWER_CELL.values():
            source = "".join(cell["source"])
            given[grade_id] = GivenAnswer(
                template=SOLUTION.sub("", source),
                solution="\n".join(SOLUTION.findall(source)),
            )
    return given


def own_tokens(source: str, template: str, cell_type: str) -> list[str]:
    """The student's own tokens: the template's lines, words and comments removed."""
    given_lines = {line.strip() for line in template.splitlines() if line.strip()}
    kept = [
        line
        for line in source.splitlines()
        if line.strip() and line.strip() not in given_lines
    ]
    if cell_type == "code":
        kept = [line for line in kept if not line.strip().startswith("#")]
        return re.findall(r"\w+|[^\w\s]", "\n".join(kept))
    given_words = set(re.findall(r"\w+", template.lower()))
    words = re.findall(r"\w+", "\n".join(kept).lower())
    return [word for word in words if word not in given_words and word != "_"]


def similar_answers(
    evidence: Mapping[str, Evidence], given: Mapping[str, GivenAnswer]
) -> list[SimilarPair]:
    """Pairs of students whose own words in an answer cell are near-identical.

    Short answers are skipped, and so are answers near-identical to the lesson's
    solution: many students legitimately write the expected few lines.
    """
    pairs: list[SimilarPair] = []
    for grade_id in ANSWER_CELL.values():
        answers = _own_answers(evidence, grade_id, given.get(grade_id))
        for (first, a), (second, b) in combinations(sorted(answers.items()), 2):
            ratio = _similarity(a, b)
            if ratio >= SIMILARITY_THRESHOLD:
                pairs.append(SimilarPair(first, second, grade_id, ratio))
    return sorted(pairs, key=lambda pair: -pair.ratio)


def _own_answers(
    evidence: Mapping[str, Evidence], grade_id: str, given: GivenAnswer | None
) -> dict[str, list[str]]:
    template = given.template if given else ""
    answers = {}
    for student_id, run in evidence.items():
        cell = next((c for c in run.cells if c.grade_id == grade_id), None)
        if cell is None:
            continue
        tokens = own_tokens(cell.source, template, cell.cell_type)
        if len(tokens) < MIN_OWN_TOKENS.get(cell.cell_type, 12):
            continue
        solution = own_tokens(given.solution, template, cell.cell_type) if given else []
        if solution and _similarity(tokens, solution) >= SIMILARITY_THRESHOLD:
            continue
        answers[student_id] = tokens
    return answers


def _similarity(first: list[str], second: list[str]) -> float:
    matcher = difflib.SequenceMatcher(None, first, second, autojunk=False)
    if matcher.real_quick_ratio() < SIMILARITY_THRESHOLD:
        return 0.0
    if matcher.quick_ratio() < SIMILARITY_THRESHOLD:
        return 0.0
    return matcher.ratio()


# -- class insights --------------------------------------------------------------


def predicted_hard(source: str, label_names: list[str]) -> set[str]:
    """Classes a Step 1 answer expects a model to confuse: each line's first class.

    The balance prediction is left out, since it names classes for another reason.
    """
    return _first_class_per_line(
        (line for line in source.splitlines() if not BALANCE_LINE.search(line)),
        label_names,
    )


def reported_hard(source: str, label_names: list[str]) -> set[str]:
    """Classes a report names as hard: the first class on its lines about hardness."""
    return _first_class_per_line(
        (line for line in source.splitlines() if HARD_LINE.search(line)), label_names
    )


def _first_class_per_line(lines: Iterable[str], label_names: list[str]) -> set[str]:
    named = set()
    for line in lines:
        mentions = class_mentions(line, label_names)
        if mentions:
            named.add(label_names[mentions[0].label])
    return named


def class_insights(
    evidence: Mapping[str, Evidence],
) -> tuple[Counter[str], Counter[str]]:
    """How many students predicted, and later reported, each class as hard."""
    predicted: Counter[str] = Counter()
    reported: Counter[str] = Counter()
    for run in evidence.values():
        for cell in run.cells:
            if cell.grade_id == ANSWER_CELL["predictions"]:
                predicted.update(predicted_hard(cell.source, LESSON_CLASS_NAMES))
            elif cell.grade_id == ANSWER_CELL["report"]:
                reported.update(reported_hard(cell.source, LESSON_CLASS_NAMES))
    return predicted, reported


# -- charts ----------------------------------------------------------------------


def _png(figure: Figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _score_chart(results: Sequence[SubmissionResult]) -> str:
    figure = Figure(figsize=(5.5, 3.2))
    ax = figure.subplots()
    scores = [r.score for r in results if r.status == "graded"]
    maximum = max((r.max_score for r in results), default=1.0) or 1.0
    ax.hist(scores, bins=[x - 0.5 for x in range(int(maximum) + 2)], color="#0969da")
    ax.set_xlim(-0.5, maximum + 0.5)
    ax.set_xlabel("score")
    ax.set_ylabel("students")
    ax.set_title(f"Scores of {len(scores)} graded notebooks")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    return _png(figure)


def _pass_rate_chart(results: Sequence[SubmissionResult]) -> str:
    """Per check, the share of graded notebooks that passed, partly passed, failed."""
    graded = [r for r in results if r.status == "graded"]
    figure = Figure(figsize=(5.5, 3.2))
    ax = figure.subplots()
    left = [0.0] * len(CHECK_IDS)
    for outcome in ("passed", "partial", "failed", "other"):
        shares = [_share(graded, check_id, outcome) for check_id in CHECK_IDS]
        ax.barh(
            CHECK_IDS, shares, left=left, color=CHART_COLOURS[outcome], label=outcome
        )
        left = [a + b for a, b in zip(left, shares, strict=True)]
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.set_xlabel("% of graded notebooks")
    ax.set_title("How each check went")
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, -0.55), ncol=4, frameon=False)
    return _png(figure)


def _share(graded: Sequence[SubmissionResult], check_id: str, outcome: str) -> float:
    if not graded:
        return 0.0
    statuses = [
        next((c.status for c in r.checks if c.id == check_id), "not_run")
        for r in graded
    ]
    if outcome == "other":
        hits = sum(s not in ("passed", "partial", "failed") for s in statuses)
    else:
        hits = sum(s == outcome for s in statuses)
    return 100.0 * hits / len(graded)


def _insight_chart(evidence: Mapping[str, Evidence]) -> str:
    predicted, reported = class_insights(evidence)
    figure = Figure(figsize=(10, 3.6), layout="constrained")
    axes = figure.subplots(1, 2, sharex=True)
    for ax, counts, title in (
        (axes[0], predicted, "Predicted hardest (Step 1)"),
        (axes[1], reported, "Named as hard in the report (Step 4)"),
    ):
        ax.barh(
            LESSON_CLASS_NAMES,
            [counts[name] for name in LESSON_CLASS_NAMES],
            color="#8250df",
        )
        ax.invert_yaxis()
        ax.set_title(title)
        ax.set_xlabel("students")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    return _png(figure)
