"""`grade`: intake, repair, run, check, record and feedback for a whole class.

Each submission flows through the steps on its own; whatever goes wrong with one
becomes that submission's recorded result, and the batch goes on.
"""

from __future__ import annotations

import contextlib
import json
import logging
import secrets
import shutil
import tempfile
import time
import traceback
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import nbformat
from tqdm import tqdm

from autograder import KIT_VERSION
from autograder.checks import points_from_source, run_checks
from autograder.config import KitSettings, load_nbgrader_config, load_settings
from autograder.dataset import PreparedDataset, make_variant, truth
from autograder.errors import SubmissionError
from autograder.feedback import write_feedback
from autograder.gradebook import write_canvas_csv, write_gradebook
from autograder.intake import collect
from autograder.model import (
    CheckId,
    Evidence,
    Health,
    Manifest,
    Override,
    Submission,
    SubmissionResult,
)
from autograder.overrides import apply_overrides, load_overrides
from autograder.record import Record, graded_result, ungradable_result, zero_checks
from autograder.repair import repair
from autograder.run import (
    ExecutorKind,
    RunJob,
    RunSetup,
    open_executor,
    with_written_answers,
)
from autograder.run_warm import WarmRunner
from autograder.summary import write_summary
from autograder.truth import DatasetTruth

logger = logging.getLogger(__name__)

#: The libraries whose versions each result records.
RECORDED_LIBRARIES = ("numpy", "matplotlib", "tensorflow-cpu", "ipython", "nbgrader")

NEUTRAL_ERROR_MESSAGE = (
    "The grader hit a problem of its own while checking this step. Your work is "
    "kept; your instructor has the details and will grade it."
)


@dataclass
class Run:
    """What every submission of one grading run shares."""

    settings: KitSettings
    record: Record
    seen: DatasetTruth
    ran_on: DatasetTruth
    manifest: Manifest
    points: dict[CheckId, float]
    release: nbformat.NotebookNode
    overrides: dict[str, list[Override]] = field(default_factory=dict)
    results: dict[str, SubmissionResult] = field(default_factory=dict)
    failed: set[str] = field(default_factory=set)  # ungradable, or the run stopped


def grade_submissions(
    paths: Sequence[Path],
    *,
    out: Path,
    seen: PreparedDataset,
    jobs: int,
    executor: ExecutorKind = "fork",
    gradebook: bool = False,
    settings: KitSettings | None = None,
    runner: WarmRunner | None = None,
) -> list[SubmissionResult]:
    """Grade every submission under `paths` into `out`; return all results.

    Steps: start the fork executor's runner warming (unless `runner` is one
    already started); prepare the run (datasets, points, release); take in the
    files; reuse what an earlier run recorded; run and check the rest; write
    the class pages and, if asked, the gradebook.
    """
    with contextlib.ExitStack() as stack:
        if executor == "fork" and runner is None:
            runner = stack.enter_context(WarmRunner())
        settings = settings or load_settings()
        out.mkdir(parents=True, exist_ok=True)
        ran_on = _grading_dataset(seen, out, settings)
        run = _prepare_run(settings, out, seen, ran_on)

        submissions = collect(paths, settings)
        logger.info("%d submissions found", len(submissions))

        with tqdm(total=len(submissions), unit="notebook", desc="grading") as bar:
            pending = _settle_without_running(run, submissions, bar)
            with _scratch_root() as scratch:
                _run_and_check(
                    run, pending, ran_on, jobs, executor, runner, scratch, bar
                )

    results = [run.results[sub.student_id] for sub in submissions]
    run.record.write_grades(results)
    write_canvas_csv(results, out / "canvas.csv")
    # the summary reads the answers, never the figures: memory stays small
    evidence = {
        result.student_id: found.model_copy(update={"figures": []})
        for result in results
        if (found := run.record.load_evidence(result.student_id)) is not None
    }
    write_summary(results, out, evidence)
    if gradebook:
        _write_gradebook(results, settings)
    return results


def _grading_dataset(
    seen: PreparedDataset, out: Path, settings: KitSettings
) -> PreparedDataset:
    """The dataset notebooks run on: a secret variant of `seen`, or `seen` itself.

    The variant's seed is kept in `out/run.json` so that a resumed run grades on
    the same variant.
    """
    if not settings.grading_variant:
        return seen
    state_path = out / "run.json"
    state: dict[str, object] = {}
    if state_path.is_file():
        state = json.loads(state_path.read_text(encoding="utf-8"))
    seed = state.get("variant_seed")
    if state.get("seen_fingerprint") != seen.fingerprint or not isinstance(seed, int):
        seed = secrets.randbelow(2**31)
        state = {"seen_fingerprint": seen.fingerprint, "variant_seed": seed}
        state_path.write_text(json.dumps(state, indent=2), encoding="utf-8")
    return make_variant(seen, seed, settings.variant_count_range)


def _prepare_run(
    settings: KitSettings, out: Path, seen: PreparedDataset, ran_on: PreparedDataset
) -> Run:
    """What every submission of this run shares, read once."""
    manifest = Manifest(
        kit_version=KIT_VERSION,
        dataset_fingerprint=ran_on.fingerprint,
        seen_dataset_fingerprint=seen.fingerprint,
        libraries=_library_versions(),
    )
    overrides_file = out / "overrides.csv"
    return Run(
        settings=settings,
        record=Record(out),
        seen=truth(seen),
        ran_on=truth(ran_on),
        manifest=manifest,
        points=points_from_source(settings.source_notebook),
        release=nbformat.read(settings.release_notebook, as_version=4),
        overrides=dict(load_overrides(overrides_file))
        if overrides_file.is_file()
        else {},
    )


def _library_versions() -> dict[str, str]:
    versions = {}
    for name in RECORDED_LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "absent"
    return versions


def _settle_without_running(
    run: Run, submissions: Sequence[Submission], progress: tqdm[object]
) -> list[tuple[Submission, RunJob, Health]]:
    """Reuse recorded results and record the ungradable; return the rest to run."""
    pending = []
    for submission in submissions:
        reusable = run.record.reusable(submission)
        if reusable is not None:
            _finish(run, _with_overrides(run, reusable), None, progress, write=False)
            continue
        if submission.problem is not None or submission.notebook_json is None:
            reason = submission.problem or "the notebook could not be read"
            _finish(run, _ungradable(run, submission, reason), None, progress)
            continue
        try:
            repaired = repair(submission.notebook_json, run.release)
        except SubmissionError as error:
            result = _ungradable(run, submission, error.student_message, error.note)
            _finish(run, result, None, progress)
            continue
        job = RunJob(
            key=submission.student_id,
            notebook_json=repaired.notebook_json,
            scratch=Path(),  # set when the scratch root exists
        )
        pending.append((submission, job, repaired.health))
    return pending


@contextmanager
def _scratch_root() -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="data-detective-"))
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _run_and_check(
    run: Run,
    pending: list[tuple[Submission, RunJob, Health]],
    ran_on: PreparedDataset,
    jobs: int,
    executor: ExecutorKind,
    runner: WarmRunner | None,
    scratch: Path,
    progress: tqdm[object],
) -> None:
    if not pending:
        return
    by_key = {}
    run_jobs = []
    for submission, job, health in pending:
        job = job.model_copy(update={"scratch": scratch / submission.student_id})
        by_key[job.key] = (submission, health)
        run_jobs.append(job)
    setup = RunSetup(
        dataset_root=ran_on.root,
        dataset_fingerprint=ran_on.fingerprint,
        settings=run.settings,
        jobs=jobs,
    )
    with open_executor(executor, setup, runner=runner) as running:
        for job, evidence in running.run_many(run_jobs):
            submission, health = by_key[job.key]
            evidence = with_written_answers(evidence, job.notebook_json)
            result = _check(run, submission, evidence, health)
            _finish(run, _with_overrides(run, result), evidence, progress)


def _check(
    run: Run, submission: Submission, evidence: Evidence, health: Health
) -> SubmissionResult:
    """Run the checks on one submission's evidence; a checker bug is contained."""
    started = time.perf_counter()
    try:
        checks = run_checks(evidence, run.ran_on, run.seen, run.points)
    except Exception:
        logger.exception("checks failed on %s", submission.student_id)
        checks = zero_checks(
            run.points,
            "error",
            NEUTRAL_ERROR_MESSAGE,
            note=traceback.format_exc(),
            needs_review=True,
        )
    timings = {
        "run": round(evidence.seconds, 3),
        "check": round(time.perf_counter() - started, 3),
    }
    notes = []
    if evidence.outcome != "completed":
        notes.append(f"run {evidence.outcome}: {evidence.outcome_detail}")
    return graded_result(
        submission,
        checks=checks,
        health=health,
        manifest=run.manifest,
        timings=timings,
        notes=notes,
    )


def _ungradable(
    run: Run, submission: Submission, reason: str, note: str = ""
) -> SubmissionResult:
    return ungradable_result(
        submission, reason=reason, points=run.points, manifest=run.manifest, note=note
    )


def _with_overrides(run: Run, result: SubmissionResult) -> SubmissionResult:
    # applied even when there are none, so that a removed override is undone
    return apply_overrides(result, run.overrides.get(result.student_id, []))


def _finish(
    run: Run,
    result: SubmissionResult,
    evidence: Evidence | None,
    progress: tqdm[object],
    *,
    write: bool = True,
) -> None:
    """Record one result as soon as it is known, and move the progress bar."""
    run.results[result.student_id] = result
    if write:
        run.record.save(result, evidence)
    feedback = run.record.feedback_path(result.student_id)
    if write or not feedback.exists():
        write_feedback(
            result, evidence or run.record.load_evidence(result.student_id), feedback
        )
    run.record.write_grades(run.results.values())
    stopped = evidence is not None and evidence.outcome != "completed"
    if result.status != "graded" or stopped:
        run.failed.add(result.student_id)
    progress.set_postfix(failed=len(run.failed), refresh=False)
    progress.update()


def _write_gradebook(
    results: Sequence[SubmissionResult], settings: KitSettings
) -> None:
    config = load_nbgrader_config()
    write_gradebook(
        results,
        db_url=str(config.CourseDirectory.db_url),
        assignment=settings.assignment,
    )
