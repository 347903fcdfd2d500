"""Grading the whole corpus in one batch, and the good students alone beside it."""

from __future__ import annotations

import json
import os
import resource
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from autograder.config import KitSettings, load_settings
from autograder.dataset import PreparedDataset
from autograder.isolation import sandbox_available
from autograder.model import Evidence, SubmissionResult
from autograder.pipeline import grade_submissions
from autograder.record import Record
from tests.hostile.cases import CASES, GOOD_STUDENTS, Batch, HostileCase, write_class

#: Short limits, so that every stall ends in seconds.
SETTINGS = load_settings().model_copy(
    update={
        "cell_timeout_seconds": 8,
        "notebook_timeout_seconds": 40,
        "memory_limit_bytes": 700 * 2**20,
        "output_limit_bytes": 20_000,
        "max_zip_bytes": 32 * 2**20,
    }
)
#: The same grading variant for both batches, so that their results compare.
VARIANT_SEED = 20240601
SECRET_NAME = "GRADER_TOKEN"
SECRET = "s3cret-token-of-the-grader"


@dataclass
class CorpusRun:
    """The corpus graded beside the good students, and those graded alone."""

    batch: Batch
    cases: list[HostileCase]
    sandboxed: bool
    results: dict[str, SubmissionResult]
    evidence: dict[str, Evidence | None]
    alone: dict[str, SubmissionResult]
    alone_evidence: dict[str, Evidence | None]
    grader_peak_bytes: int


def corpus_cases(sandboxed: bool) -> list[HostileCase]:
    """The cases this machine can run: some need the sandbox to be safe at all."""
    return [case for case in CASES if sandboxed or not case.needs_sandbox]


def grade_corpus(seen: PreparedDataset, workdir: Path) -> CorpusRun:
    """Grade the corpus (first) and then the good students alone, under `workdir`."""
    sandboxed = sandbox_available(seen.root) == ""
    cases = corpus_cases(sandboxed)
    batch = Batch(
        classroom=workdir / "class",
        out=workdir / "out",
        outside=workdir / "outside",
        secret=SECRET,
    )
    batch.outside.mkdir(parents=True, exist_ok=True)
    write_class(batch.classroom, batch, cases)
    os.environ[SECRET_NAME] = SECRET
    try:
        results, evidence = grade_class(batch.classroom, batch.out, seen, SETTINGS)
    finally:
        del os.environ[SECRET_NAME]

    good = workdir / "good"
    write_class(good, batch, [])
    alone, alone_evidence = grade_class(good, workdir / "out-good", seen, SETTINGS)
    return CorpusRun(
        batch=batch,
        cases=cases,
        sandboxed=sandboxed,
        results=results,
        evidence=evidence,
        alone=alone,
        alone_evidence=alone_evidence,
        grader_peak_bytes=largest_resident_bytes(),
    )


def largest_resident_bytes() -> int:
    """The peak resident size of this process or of the runner it waited for."""
    peaks = (
        resource.getrusage(who).ru_maxrss
        for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
    )
    return max(peaks) * 1024


def grade_class(
    classroom: Path, out: Path, seen: PreparedDataset, settings: KitSettings
) -> tuple[dict[str, SubmissionResult], dict[str, Evidence | None]]:
    """Results and evidence by student id, graded on the corpus's variant."""
    out.mkdir(parents=True, exist_ok=True)
    state = {"seen_fingerprint": seen.fingerprint, "variant_seed": VARIANT_SEED}
    (out / "run.json").write_text(json.dumps(state), encoding="utf-8")
    results = grade_submissions(
        [classroom], out=out, seen=seen, jobs=2, settings=settings
    )
    record = Record(out)
    by_id = {result.student_id: result for result in results}
    return by_id, {student: record.load_evidence(student) for student in by_id}


def masked(value: SubmissionResult | Evidence | None) -> Any:
    """A result or evidence without what differs from run to run: times, paths."""
    if value is None:
        return None
    data = value.model_dump(exclude={"seconds", "timings", "source_file"})
    for cell in data.get("cells", []):
        cell["seconds"] = 0
    return data


def unchanged_good_students(run: CorpusRun) -> list[str]:
    """The good students whose result or evidence differs from their run alone."""
    return [
        student
        for student in GOOD_STUDENTS
        if masked(run.results.get(student)) != masked(run.alone.get(student))
        or masked(run.evidence.get(student)) != masked(run.alone_evidence.get(student))
    ]
