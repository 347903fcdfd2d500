"""Is every submission of the corpus graded as it deserves, and the same in nbgrader?

The corpus runs in one batch through the fork executor on a grading variant of
the generated stand-in, and is checked against the stand-in the student saw.
The hidden tests of the source notebook are run in this process, on a small
dataset, to compare `hooks.grade_step` with `run_checks`.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from autograder import dataset, hooks
from autograder.capture import figure_evidence, namespace_facts, open_figures
from autograder.checks import points_from_source, run_checks
from autograder.config import load_settings
from autograder.hooks import grade_step
from autograder.model import (
    CellError,
    CellEvidence,
    CheckId,
    CheckResult,
    Evidence,
    FigureEvidence,
)
from autograder.run import RunJob, RunSetup, open_executor
from autograder.truth import DatasetTruth
from tests.submissions import CORPUS, CorpusSubmission, fill_release

VARIANT_SEED = 20_240_601


@pytest.fixture(scope="module")
def corpus_results(
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, list[CheckResult]]:
    """Every corpus submission run on a grading variant, then checked."""
    settings = load_settings()
    seen = dataset.standin()
    ran_on = dataset.make_variant(seen, VARIANT_SEED, settings.variant_count_range)
    seen_truth, ran_on_truth = dataset.truth(seen), dataset.truth(ran_on)
    points = points_from_source(settings.source_notebook)
    scratch = tmp_path_factory.mktemp("corpus")
    jobs = [
        RunJob(
            key=submission.name,
            notebook_json=fill_release(submission),
            scratch=scratch / submission.name,
        )
        for submission in CORPUS
    ]
    setup = RunSetup(
        dataset_root=ran_on.root,
        dataset_fingerprint=ran_on.fingerprint,
        settings=settings,
        jobs=2,
        render_png=False,
    )
    with open_executor("fork", setup) as executor:
        ran = {job.key: evidence for job, evidence in executor.run_many(jobs)}
    return {
        key: run_checks(evidence, ran_on_truth, seen_truth, points)
        for key, evidence in ran.items()
    }


def test_does_the_corpus_hold_at_least_25_distinct_submissions() -> None:
    assert len({submission.name for submission in CORPUS}) == len(CORPUS) >= 25


@pytest.mark.slow
@pytest.mark.parametrize("submission", CORPUS, ids=lambda s: s.name)
def test_is_each_submission_graded_as_it_deserves(
    submission: CorpusSubmission, corpus_results: dict[str, list[CheckResult]]
) -> None:
    results = corpus_results[submission.name]
    graded = {result.id: (result.points, result.status) for result in results}
    assert graded == submission.all_expected(), {r.id: r.message for r in results}


@pytest.mark.slow
def test_does_a_reworded_report_go_to_a_ta_with_its_sentence(
    corpus_results: dict[str, list[CheckResult]],
) -> None:
    report = corpus_results["report-reworded"][-1]
    assert report.needs_review
    assert "Picture 25023" in report.quoted


@pytest.mark.slow
def test_does_no_message_reveal_the_variant_counts(
    corpus_results: dict[str, list[CheckResult]],
) -> None:
    ran_on = dataset.make_variant(
        dataset.standin(), VARIANT_SEED, load_settings().variant_count_range
    )
    counts = dataset.truth(ran_on).class_counts
    messages = " ".join(
        result.message for results in corpus_results.values() for result in results
    )
    assert not any(re.search(rf"\b{count}\b", messages) for count in counts)


# -- the source notebook's hidden tests, in this process -----------------------

NAMES = ["airplane", "automobile", "bird", "cat", "deer"]
NAMES += ["dog", "frog", "horse", "ship", "truck"]
HIDDEN = re.compile(r"### BEGIN HIDDEN TESTS.*?### END HIDDEN TESTS", re.S)
HOOKED = re.compile(r'grade_step\("(?P<check>\w+)"')


@contextlib.contextmanager
def agg_backend() -> Iterator[None]:
    import matplotlib
    import matplotlib.pyplot as plt

    previous = matplotlib.get_backend()
    plt.switch_backend("Agg")
    try:
        yield
    finally:
        plt.close("all")
        plt.switch_backend(previous)


def run_source_here(namespace: dict[str, Any]) -> tuple[Evidence, dict[str, float]]:
    """Run the source notebook's graded code in `namespace`, as a kernel would.

    Figures are described and closed after every cell, as the inline backend
    closes them; the hidden tests' `grade_step` calls are made and their
    points kept by check id.
    """
    import matplotlib.pyplot as plt

    notebook = json.loads(load_settings().source_notebook.read_text("utf-8"))
    cells: list[CellEvidence] = []
    figures: list[FigureEvidence] = []
    hooked: dict[str, float] = {}
    for index, cell in enumerate(notebook["cells"]):
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if cell["cell_type"] != "code" or grade_id in (None, "setup"):
            continue
        source = "".join(cell["source"])
        namespace["In"].append(source)
        stdout = io.StringIO()
        error = None
        with contextlib.redirect_stdout(stdout):
            try:
                exec(HIDDEN.sub("", source), namespace)
                for check in HOOKED.findall(source):
                    hooked[check] = grade_step(check, namespace)
            except Exception as raised:
                error = CellError(
                    ename=type(raised).__name__, evalue=str(raised), traceback=""
                )
        figures += [figure_evidence(figure, index) for figure in open_figures()]
        plt.close("all")
        cells.append(
            CellEvidence(
                index=index,
                grade_id=grade_id,
                cell_type="code",
                source=source,
                stdout=stdout.getvalue(),
                error=error,
                seconds=0.01,
            )
        )
    evidence = Evidence(
        outcome="completed",
        cells=cells,
        figures=figures,
        namespace=namespace_facts(namespace),
        dataset_fingerprint="small",
        executor="nbgrader",
    )
    return evidence, hooked


def test_do_the_hidden_tests_give_the_points_the_checks_give(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import matplotlib.pyplot as plt

    rng = np.random.default_rng(5)
    y_train = np.repeat(np.arange(10), [21, 19, 20, 22, 18, 20, 20, 21, 19, 20])
    rng.shuffle(y_train)
    x_train = rng.integers(0, 256, (len(y_train), 32, 32, 3), dtype=np.uint8)
    namespace: dict[str, Any] = {
        "np": np,
        "plt": plt,
        "x_train": x_train,
        "y_train": y_train.reshape(-1, 1),
        "x_test": x_train[:10],
        "y_test": y_train[:10].reshape(-1, 1),
        "class_names": list(NAMES),
        "In": [""],
    }
    truth = DatasetTruth.from_arrays(x_train, y_train, NAMES, "small")
    # the hook reads the truth from the dataset on disk, here these arrays
    monkeypatch.setattr(hooks, "reference_truth", lambda: truth)
    with agg_backend():
        evidence, hooked = run_source_here(namespace)
    points = points_from_source(load_settings().source_notebook)
    checked = {r.id: r.points for r in run_checks(evidence, truth, truth, points)}

    code_steps: list[CheckId] = ["counts", "grid", "tricky"]
    assert hooked == {step: checked[step] for step in code_steps}
    assert hooked == {step: points[step] for step in code_steps}
