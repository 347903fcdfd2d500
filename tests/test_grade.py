"""Grading a class end to end, as an instructor does: real notebooks built from
the release, the generated stand-in dataset, a secret grading variant.

One batch holds the whole class, awkward submissions included; a second, small
batch without the hanging and crashing notebooks must give the others the same
results. The command line is run as the instructor runs it: with bad arguments,
killed part-way and run again, and run twice.
"""

from __future__ import annotations

import contextlib
import csv
import html
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbformat import NotebookNode, v4

from autograder.checks import points_from_source
from autograder.config import PROJECT_ROOT, load_settings
from autograder.dataset import PreparedDataset
from autograder.model import CHECK_IDS, Evidence, SubmissionResult
from autograder.pipeline import grade_submissions

pytestmark = pytest.mark.slow

#: Short enough that the hanging notebook costs little, long enough for the
#: sharpness cell (about 1.5 s here) on a busy machine.
SETTINGS = load_settings().model_copy(
    update={"cell_timeout_seconds": 10, "notebook_timeout_seconds": 90}
)
FULL_MARKS = sum(points_from_source(SETTINGS.source_notebook).values())

#: What DESIGN.md promises an instructor finds in the output folder.
GRADES_COLUMNS = ["student_id", "status", "score", "max_score", *CHECK_IDS]
RESULT_FIELDS = {
    "student_id", "source_file", "sha256", "status", "reason", "score",
    "max_score", "health", "checks", "timings", "manifest",
}  # fmt: skip
CHECK_FIELDS = {"id", "points", "max_points", "status", "message", "note"}
CHECK_STATUSES = {"passed", "partial", "failed", "error", "not_run"}
HEALTH_FIELDS = {"missing", "duplicated", "retyped", "restored"}
MANIFEST_FIELDS = {"kit_version", "dataset_fingerprint", "libraries"}

UNREADABLE = b'{"cells": [{"cell_type": "code", "source": "print(1)"'
HANG = "while True:\n    pass"
CRASH = "import ctypes\nctypes.string_at(0)"

#: How long the killed run may take to record its first graded result.
FIRST_RESULT_DEADLINE_SECONDS = 180


# -- building the class -------------------------------------------------------------

#: The kit's example submissions, built from the release by
#: examples/make_submissions.py: the source notebook's answers, the untouched
#: release, and a partly right notebook.
EXAMPLES = PROJECT_ROOT / "examples" / "submissions"


def example(name: str) -> NotebookNode:
    notebook: NotebookNode = nbformat.read(EXAMPLES / f"{name}.ipynb", as_version=4)
    return notebook


def full_marks() -> NotebookNode:
    return example("ada_full_marks")


def blank() -> NotebookNode:
    return example("cy_blank")


def partial() -> NotebookNode:
    return example("ben_partial")


def grade_id(cell: NotebookNode) -> str | None:
    found: str | None = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
    return found


def position(notebook: NotebookNode, wanted: str) -> int:
    return next(i for i, cell in enumerate(notebook.cells) if grade_id(cell) == wanted)


def stripped() -> NotebookNode:
    """The source's answers, saved by an editor that dropped all metadata."""
    notebook = full_marks()
    notebook.metadata = nbformat.from_dict({})
    for cell in notebook.cells:
        cell.metadata = nbformat.from_dict({})
    return notebook


def deleted_test() -> NotebookNode:
    notebook = full_marks()
    del notebook.cells[position(notebook, "step2_counts_test")]
    return notebook


def duplicated_test() -> NotebookNode:
    notebook = full_marks()
    at = position(notebook, "step3_grid_test")
    copy = nbformat.from_dict(json.loads(json.dumps(notebook.cells[at])))
    copy["id"] = "pasted-again"
    notebook.cells.insert(at + 1, copy)
    return notebook


def retyped() -> NotebookNode:
    """The report turned into a code cell, the counts self-check into markdown."""
    notebook = full_marks()
    report = position(notebook, "step4_report")
    old = notebook.cells[report]
    notebook.cells[report] = v4.new_code_cell(old.source, metadata=old.metadata)
    test = position(notebook, "step2_counts_test")
    old = notebook.cells[test]
    notebook.cells[test] = v4.new_markdown_cell(old.source, metadata=old.metadata)
    return notebook


def with_cell_after(grade_id_before: str, source: str) -> Callable[[], NotebookNode]:
    def build() -> NotebookNode:
        notebook = full_marks()
        at = position(notebook, grade_id_before)
        notebook.cells.insert(at + 1, v4.new_code_cell(source))
        return notebook

    return build


#: The damaged notebooks, each holding the source's answers.
DAMAGED: dict[str, Callable[[], NotebookNode]] = {
    "stripped": stripped,
    "deleted_test": deleted_test,
    "duplicated_test": duplicated_test,
    "retyped": retyped,
}
CLASS: dict[str, Callable[[], NotebookNode]] = {
    "full_marks": full_marks,
    "blank": blank,
    **DAMAGED,
    "hangs": with_cell_after("step2_counts_test", HANG),
    "crashes": with_cell_after("step3_grid_test", CRASH),
}
#: The batch the class batch is compared with: no hanging or crashing neighbour.
QUIET = ("full_marks", "blank", "stripped")
BUILDERS = {**CLASS, "partial": partial}


def write_class(folder: Path, names: Iterable[str]) -> Path:
    """The notebooks `names`, as files in `folder`, written as an editor would."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        handed_in = json.dumps(BUILDERS[name](), indent=1)
        (folder / f"{name}.ipynb").write_text(handed_in, encoding="utf-8")
    return folder


@dataclass(frozen=True)
class Batch:
    out: Path
    results: dict[str, SubmissionResult]


def grade_batch(folder: Path, out: Path, seen: PreparedDataset) -> Batch:
    results = grade_submissions([folder], out=out, seen=seen, jobs=2, settings=SETTINGS)
    return Batch(out, {result.student_id: result for result in results})


@pytest.fixture(scope="module")
def class_batch(
    tmp_path_factory: pytest.TempPathFactory, standin_dataset: PreparedDataset
) -> Batch:
    """The whole class, graded in one run on a grading variant of the stand-in."""
    root = tmp_path_factory.mktemp("class")
    folder = write_class(root / "handed_in", CLASS)
    (folder / "unreadable.ipynb").write_bytes(UNREADABLE)
    return grade_batch(folder, root / "out", standin_dataset)


@pytest.fixture(scope="module")
def quiet_batch(
    tmp_path_factory: pytest.TempPathFactory,
    standin_dataset: PreparedDataset,
    class_batch: Batch,
) -> Batch:
    """A few of the same notebooks alone, graded on the class batch's variant."""
    root = tmp_path_factory.mktemp("quiet")
    folder = write_class(root / "handed_in", QUIET)
    (root / "out").mkdir()
    shutil.copyfile(class_batch.out / "run.json", root / "out" / "run.json")
    return grade_batch(folder, root / "out", standin_dataset)


def points_of(result: SubmissionResult) -> dict[str, float]:
    return {check.id: check.points for check in result.checks}


# -- what each submission earns -----------------------------------------------------


def test_do_the_source_notebooks_answers_score_full_marks(class_batch: Batch) -> None:
    result = class_batch.results["full_marks"]

    assert result.status == "graded"
    assert result.score == result.max_score == FULL_MARKS
    assert [check.status for check in result.checks] == ["passed"] * len(CHECK_IDS)
    assert result.manifest.dataset_fingerprint != (
        result.manifest.seen_dataset_fingerprint
    ), "the class should have been graded on a grading variant"


def test_are_the_answer_cells_figures_drawn_for_the_feedback_page(
    class_batch: Batch,
) -> None:
    evidence = Evidence.model_validate_json(
        (class_batch.out / "evidence" / "full_marks.json").read_bytes()
    )
    by_cell = {cell.index: cell.grade_id for cell in evidence.cells}
    drawn = {by_cell[figure.cell] for figure in evidence.figures if figure.png_base64}
    undrawn = {by_cell[f.cell] for f in evidence.figures if not f.png_base64}

    assert drawn == {"step3_grid", "tricky_measure"}
    assert undrawn == {None}, "the lesson's ungraded experiments are not drawn"
    page = (class_batch.out / "feedback" / "full_marks.html").read_text("utf-8")
    assert page.count("data:image/png;base64,") == len(drawn)


def test_does_the_blank_release_score_zero_with_a_message_per_check(
    class_batch: Batch,
) -> None:
    result = class_batch.results["blank"]

    assert result.status == "graded"
    assert result.score == 0
    assert [check.id for check in result.checks] == list(CHECK_IDS)
    for check in result.checks:
        assert check.points == 0
        assert check.status in ("failed", "not_run"), check.id
        assert len(check.message.split()) >= 5, (check.id, check.message)


@pytest.mark.parametrize("name", DAMAGED)
def test_does_a_damaged_notebook_still_earn_what_its_answers_earn(
    class_batch: Batch, name: str
) -> None:
    result = class_batch.results[name]

    assert result.status == "graded"
    assert points_of(result) == points_of(class_batch.results["full_marks"])


@pytest.mark.parametrize(
    ("name", "damage", "cells"),
    [
        ("stripped", "matched_by_content", ["step2_counts_test", "step4_report"]),
        ("deleted_test", "missing", ["step2_counts_test"]),
        ("deleted_test", "restored", ["step2_counts_test"]),
        ("duplicated_test", "duplicated", ["step3_grid_test"]),
        ("retyped", "retyped", ["step2_counts_test", "step4_report"]),
    ],
)
def test_is_the_damage_to_a_notebook_recorded_in_its_health(
    class_batch: Batch, name: str, damage: str, cells: list[str]
) -> None:
    health = class_batch.results[name].health.model_dump()

    assert set(cells) <= set(health[damage])


def test_do_a_hanging_and_a_crashing_notebook_leave_the_others_unchanged(
    class_batch: Batch, quiet_batch: Batch
) -> None:
    hung, crashed = class_batch.results["hangs"], class_batch.results["crashes"]
    assert any(note.startswith("run timeout") for note in hung.notes), hung.notes
    assert any(note.startswith("run crashed") for note in crashed.notes), crashed.notes

    def comparable(result: SubmissionResult) -> dict[str, Any]:
        return result.model_dump(exclude={"timings", "source_file"})

    for student_id, alone in quiet_batch.results.items():
        assert comparable(class_batch.results[student_id]) == comparable(alone)


def test_does_a_hanging_notebook_keep_the_credit_earned_before_it_hung(
    class_batch: Batch,
) -> None:
    statuses = {check.id: check.status for check in class_batch.results["hangs"].checks}

    assert statuses == {
        "predictions": "passed",
        "counts": "passed",
        "grid": "not_run",
        "tricky": "not_run",
        "report": "passed",
    }


def test_does_an_unreadable_file_get_an_ungradable_row_with_a_reason(
    class_batch: Batch,
) -> None:
    result = class_batch.results["unreadable"]
    rows = {row["student_id"]: row for row in read_grades(class_batch.out)}

    assert result.status == "ungradable"
    assert len(result.reason.split()) >= 5
    assert rows["unreadable"]["status"] == "ungradable"
    assert rows["unreadable"]["score"] == "0"
    page = (class_batch.out / "feedback" / "unreadable.html").read_text("utf-8")
    assert result.reason in html.unescape(page)


# -- the output folder --------------------------------------------------------------


def read_grades(out: Path) -> list[dict[str, str]]:
    with (out / "grades.csv").open(newline="", encoding="utf-8") as stream:
        return list(csv.DictReader(stream))


def test_does_grades_csv_hold_one_row_per_submission_in_the_promised_columns(
    class_batch: Batch,
) -> None:
    with (class_batch.out / "grades.csv").open(newline="", encoding="utf-8") as stream:
        header = next(csv.reader(stream))
    rows = read_grades(class_batch.out)

    assert header == GRADES_COLUMNS
    assert sorted(row["student_id"] for row in rows) == sorted(class_batch.results)
    for row in rows:
        result = class_batch.results[row["student_id"]]
        assert float(row["score"]) == result.score
        assert float(row["max_score"]) == FULL_MARKS
        assert {check_id: float(row[check_id]) for check_id in CHECK_IDS} == (
            points_of(result)
        )


def test_does_each_result_file_hold_the_promised_fields(class_batch: Batch) -> None:
    for student_id in class_batch.results:
        path = class_batch.out / "results" / f"{student_id}.json"
        recorded = json.loads(path.read_text(encoding="utf-8"))

        assert set(recorded) >= RESULT_FIELDS, student_id
        assert recorded["student_id"] == student_id
        assert recorded["status"] in ("graded", "ungradable")
        assert set(recorded["health"]) >= HEALTH_FIELDS
        assert set(recorded["manifest"]) >= MANIFEST_FIELDS
        assert [check["id"] for check in recorded["checks"]] == list(CHECK_IDS)
        for check in recorded["checks"]:
            assert set(check) >= CHECK_FIELDS
            assert check["status"] in CHECK_STATUSES


def test_are_the_feedback_pages_summary_and_canvas_export_written(
    class_batch: Batch,
) -> None:
    feedback = class_batch.out / "feedback"
    with (class_batch.out / "canvas.csv").open(newline="", encoding="utf-8") as stream:
        canvas_ids = [row[1] for row in csv.reader(stream)][2:]
    summary = (class_batch.out / "summary.html").read_text(encoding="utf-8")

    assert sorted(path.stem for path in feedback.glob("*.html")) == sorted(
        class_batch.results
    )
    for path in feedback.glob("*.html"):
        assert path.read_text(encoding="utf-8").lstrip().lower().startswith("<!doctype")
    assert sorted(canvas_ids) == sorted(class_batch.results)
    assert all(student_id in summary for student_id in class_batch.results)


# -- the command line ---------------------------------------------------------------


def run_cli(*arguments: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "autograder", *map(str, arguments)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.mark.parametrize(
    ("arguments", "exit_code", "reason"),
    [
        pytest.param(["--out", "{tmp}/out", "--jobs", "0"], 2, "--jobs", id="jobs-0"),
        pytest.param(["--jobs", "2"], 2, "--out", id="no-out"),
        pytest.param(
            ["{tmp}/nobody.ipynb", "--out", "{tmp}/out"],
            2,
            "nobody.ipynb does not exist",
            id="no-file",
        ),
        pytest.param(
            ["--out", "{tmp}/out", "--dataset", "{tmp}/no-cifar"],
            3,
            "no-cifar does not exist",
            id="no-dataset",
        ),
    ],
)
def test_does_the_grader_stop_with_a_one_line_reason_when_it_cannot_run(
    tmp_path: Path, arguments: list[str], exit_code: int, reason: str
) -> None:
    handed_in = write_class(tmp_path / "handed_in", ("blank",))
    filled = [argument.format(tmp=tmp_path) for argument in arguments]
    if not filled[0].endswith(".ipynb"):
        filled.insert(0, str(handed_in))

    finished = run_cli("grade", *filled)

    assert finished.returncode == exit_code
    assert len(finished.stderr.strip().splitlines()) == 1, finished.stderr
    assert finished.stderr.startswith("error: ")
    assert reason in finished.stderr
    assert not (tmp_path / "out").exists()


@dataclass(frozen=True)
class ResumedRun:
    out: Path
    uninterrupted: Path
    kept: dict[str, int]  # result files written before the kill, by mtime
    exit_code: int


def killed_part_way(
    command: list[str], results: Path, log_path: Path
) -> dict[str, int]:
    """Start `command`, SIGKILL it once it has graded a notebook; what it recorded.

    The run (the grader and its runner) is frozen before the kill so that it
    forks no new child meanwhile; the notebooks' processes, each in a session
    of its own, must die with it.
    """
    log = log_path.open("w", encoding="utf-8")
    process = subprocess.Popen(
        command, cwd=PROJECT_ROOT, stdout=log, stderr=log, start_new_session=True
    )
    try:
        deadline = time.monotonic() + FIRST_RESULT_DEADLINE_SECONDS
        while not graded_results(results):
            assert process.poll() is None, "the run ended before it was killed"
            assert time.monotonic() < deadline, "the run recorded nothing in time"
            time.sleep(0.05)
        os.killpg(process.pid, signal.SIGSTOP)
        children = descendants(process.pid)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        log.close()
    outlived = still_running(children, within_seconds=10)
    for child in outlived:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child, signal.SIGKILL)
    assert outlived == [], "a notebook's process outlived the killed grader"
    return {path.name: path.stat().st_mtime_ns for path in results.glob("*.json")}


def still_running(pids: list[int], within_seconds: float) -> list[int]:
    """The processes of `pids` still alive (not zombies) after waiting a while."""
    deadline = time.monotonic() + within_seconds
    while True:
        alive = [pid for pid in pids if is_alive(pid)]
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.05)


def is_alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8")
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def graded_results(results: Path) -> list[Path]:
    graded = []
    for path in results.glob("*.json"):
        if json.loads(path.read_text(encoding="utf-8"))["status"] == "graded":
            graded.append(path)
    return graded


def descendants(pid: int) -> list[int]:
    """The processes `pid` started, and those they started, and so on."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            for child in (task / "children").read_text().split():
                found += [int(child), *descendants(int(child))]
    return found


@pytest.fixture(scope="module")
def resumed_run(
    tmp_path_factory: pytest.TempPathFactory, standin_dataset: PreparedDataset
) -> ResumedRun:
    """A `grade` command killed after its first graded notebook, then run again.

    The same folder is also graded without interruption, on the same variant.
    """
    root = tmp_path_factory.mktemp("resumed")
    folder = write_class(
        root / "handed_in", ("blank", "full_marks", "partial", "stripped")
    )
    (folder / "unreadable.ipynb").write_bytes(UNREADABLE)
    out = root / "out"
    command = [
        *(sys.executable, "-m", "autograder", "grade", str(folder)),
        *("--out", str(out), "--dataset", str(standin_dataset.root), "--jobs", "1"),
    ]

    kept = killed_part_way(command, out / "results", root / "killed-run.log")
    graded_before_kill = len(graded_results(out / "results"))
    assert 1 <= graded_before_kill < 4, "the run must be killed part-way"
    resumed = subprocess.run(
        command, cwd=PROJECT_ROOT, capture_output=True, timeout=300, check=False
    )

    uninterrupted = root / "uninterrupted"
    uninterrupted.mkdir()
    shutil.copyfile(out / "run.json", uninterrupted / "run.json")
    grade_submissions(
        [folder], out=uninterrupted, seen=standin_dataset, jobs=2, settings=SETTINGS
    )
    return ResumedRun(out, uninterrupted, kept, resumed.returncode)


def test_does_a_killed_run_resume_to_the_grades_of_an_uninterrupted_run(
    resumed_run: ResumedRun,
) -> None:
    resumed = (resumed_run.out / "grades.csv").read_text(encoding="utf-8")
    uninterrupted = (resumed_run.uninterrupted / "grades.csv").read_text(
        encoding="utf-8"
    )

    assert resumed_run.exit_code == 0
    assert resumed == uninterrupted
    assert len(read_grades(resumed_run.out)) == 5


def test_does_a_resumed_run_leave_what_was_recorded_before_the_kill(
    resumed_run: ResumedRun,
) -> None:
    results = resumed_run.out / "results"
    now = {path.name: path.stat().st_mtime_ns for path in results.glob("*.json")}

    assert resumed_run.kept
    assert {name: now[name] for name in resumed_run.kept} == resumed_run.kept
    assert len(now) == 5


def test_does_running_the_same_command_twice_regrade_nothing(
    resumed_run: ResumedRun, standin_dataset: PreparedDataset
) -> None:
    out = resumed_run.out
    before = {path: path.stat().st_mtime_ns for path in out.glob("results/*.json")}
    grades = (out / "grades.csv").read_text(encoding="utf-8")

    again = run_cli(
        "grade", out.parent / "handed_in", "--out", out,
        "--dataset", standin_dataset.root, "--jobs", "1",
    )  # fmt: skip

    assert again.returncode == 0, again.stderr
    assert {path: path.stat().st_mtime_ns for path in before} == before
    assert (out / "grades.csv").read_text(encoding="utf-8") == grades
    assert sorted(out.glob("evidence/*.json")) == sorted(
        out / "evidence" / f"{path.stem}.json"
        for path in before
        if path.stem != "unreadable"
    )
