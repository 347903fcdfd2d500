"""Does the grader survive submissions that stall, crash, cheat or attack it?

The whole corpus (`tests/hostile/`) is graded in one batch, beside good
students, then the good students alone: their results must be identical.
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path

import pytest

from autograder.dataset import PreparedDataset
from autograder.isolation import SANDBOX_UID_BASE
from tests.hostile.cases import (
    CASES,
    GOOD_STUDENTS,
    Batch,
    HostileCase,
    problems,
    write_class,
)
from tests.hostile.grading import (
    SECRET,
    SECRET_NAME,
    SETTINGS,
    CorpusRun,
    grade_class,
    grade_corpus,
    unchanged_good_students,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def corpus(
    standin_dataset: PreparedDataset, tmp_path_factory: pytest.TempPathFactory
) -> CorpusRun:
    return grade_corpus(standin_dataset, tmp_path_factory.mktemp("hostile"))


def test_is_the_corpus_large_enough() -> None:
    assert len(CASES) >= 30
    assert len({case.name for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_does_the_result_fit_what_the_submission_did(
    corpus: CorpusRun, case: HostileCase
) -> None:
    if case not in corpus.cases:
        pytest.skip("this case is only safe inside the sandbox")
    result = corpus.results.get(case.name)
    evidence = corpus.evidence.get(case.name)
    assert problems(case, result, evidence, corpus.batch) == []


def test_does_every_submission_get_a_row(corpus: CorpusRun) -> None:
    rows = (corpus.batch.out / "grades.csv").read_text(encoding="utf-8").splitlines()
    students = {row.split(",")[0] for row in rows[1:]}
    assert students == {*GOOD_STUDENTS, *(case.name for case in corpus.cases)}


def test_are_the_good_students_graded_as_if_alone(corpus: CorpusRun) -> None:
    assert corpus.alone["good_a"].score == corpus.alone["good_a"].max_score
    assert unchanged_good_students(corpus) == []


def test_is_no_sandbox_process_left_behind(corpus: CorpusRun) -> None:
    leftovers = []
    for status in Path("/proc").glob("[0-9]*/status"):
        with contextlib.suppress(OSError):
            real_uid = next(
                int(line.split()[1])
                for line in status.read_text(encoding="utf-8").splitlines()
                if line.startswith("Uid:")
            )
            if real_uid >= SANDBOX_UID_BASE:
                leftovers.append(status.parent.name)
    assert leftovers == []


def test_does_the_grader_stay_within_its_memory(corpus: CorpusRun) -> None:
    assert corpus.grader_peak_bytes < 3 * 2**30


# -- without the sandbox -----------------------------------------------------------


class _Caught(logging.Handler):
    """Keeps every record it is given."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(scope="module")
def unfenced(
    standin_dataset: PreparedDataset, tmp_path_factory: pytest.TempPathFactory
) -> tuple[CorpusRun, list[logging.LogRecord]]:
    """A few cases graded where no sandbox can be built."""
    workdir = tmp_path_factory.mktemp("unfenced")
    batch = Batch(workdir / "class", workdir / "out", workdir / "outside", SECRET)
    chosen = [
        case
        for case in CASES
        if case.name in {"reads_secrets", "snoops_memory", "opens_a_connection"}
    ]
    write_class(batch.classroom, batch, chosen)
    handler = _Caught()
    caught = handler.records
    logging.getLogger("autograder.run_fork").addHandler(handler)
    unsandboxed = SETTINGS.model_copy(update={"sandbox": False})
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(SECRET_NAME, SECRET)
        try:
            results, evidence = grade_class(
                batch.classroom, batch.out, standin_dataset, unsandboxed
            )
        finally:
            logging.getLogger("autograder.run_fork").removeHandler(handler)
    run = CorpusRun(batch, chosen, False, results, evidence, {}, {}, 0)
    return run, caught


def test_does_the_grader_warn_when_it_cannot_fence_submissions_in(
    unfenced: tuple[CorpusRun, list[logging.LogRecord]],
) -> None:
    _, caught = unfenced
    warnings = [
        record.getMessage() for record in caught if record.levelname == "WARNING"
    ]
    reason = "without a sandbox (c.DataDetective.sandbox is False)"
    assert any(reason in text for text in warnings)


@pytest.mark.parametrize(
    "name", ["reads_secrets", "snoops_memory", "opens_a_connection"]
)
def test_are_secrets_memory_and_network_fenced_even_without_the_sandbox(
    unfenced: tuple[CorpusRun, list[logging.LogRecord]], name: str
) -> None:
    run, _ = unfenced
    case = next(case for case in run.cases if case.name == name)
    assert problems(case, run.results[name], run.evidence[name], run.batch) == []
