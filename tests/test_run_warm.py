"""The fork executor's runner: a process of its own, warming from the start.

What an instructor sees of it: the runner and every notebook's process end with
the grader, however the grader ends; a runner that dies stops the command with
a one-line reason and keeps what was recorded; a runner nobody needed goes at
once.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from autograder.config import PROJECT_ROOT, load_settings
from autograder.dataset import PreparedDataset
from autograder.errors import KitError
from autograder.isolation import (
    CPU_GROUPS,
    release_orphaned_cpu_groups,
    sandbox_uid,
)
from autograder.run import RunSetup
from autograder.run_warm import WarmRunner
from tests.submissions import CorpusSubmission, fill_release

pytestmark = pytest.mark.slow

#: Long enough for the runner to warm and grade the first notebook.
FIRST_RESULT_DEADLINE_SECONDS = 120
SLEEPER = CorpusSubmission("sleeper", {"step2_counts": "import time\ntime.sleep(90)"})


@dataclass
class Grading:
    """A `grade` command caught after its first result, with its process tree."""

    process: subprocess.Popen[str]
    runner: int
    notebooks: list[int]
    out: Path


@pytest.fixture
def grading(tmp_path: Path, standin_dataset: PreparedDataset) -> Iterator[Grading]:
    """`grade` on a quick notebook and a sleeping one, once the quick one is in."""
    folder = tmp_path / "handed_in"
    folder.mkdir()
    (folder / "a-quick.ipynb").write_text(fill_release(CorpusSubmission("quick")))
    (folder / "b-sleeper.ipynb").write_text(fill_release(SLEEPER))
    out = tmp_path / "out"
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "autograder", "grade", str(folder)),
            *("--out", str(out), "--dataset", str(standin_dataset.root)),
            *("--jobs", "2"),
        ],
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + FIRST_RESULT_DEADLINE_SECONDS
        while not (out / "results" / "a-quick.json").is_file():
            assert process.poll() is None, process.communicate()[1]
            assert time.monotonic() < deadline, "nothing was graded in time"
            time.sleep(0.05)
        (runner,) = children_of(process.pid)
        yield Grading(process, runner, descendants(runner), out)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.communicate()


def children_of(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            found += [int(child) for child in (task / "children").read_text().split()]
    return found


def descendants(pid: int) -> list[int]:
    return [each for child in children_of(pid) for each in (child, *descendants(child))]


def alive_after(pids: list[int], seconds: float) -> list[int]:
    """The processes of `pids` still running (not zombies) after up to `seconds`."""
    deadline = time.monotonic() + seconds
    while True:
        alive = [pid for pid in pids if _running(pid)]
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.05)


def _running(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8")
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def cpu_groups_of(runner: int) -> set[Path]:
    """The CPU groups of the runner's sandboxes that exist now."""
    groups = (
        CPU_GROUPS / f"data-detective-{sandbox_uid(runner, slot)}" for slot in (0, 1)
    )
    return {group for group in groups if group.is_dir()}


def test_does_the_grader_dying_end_the_runner_and_every_notebook(
    grading: Grading,
) -> None:
    groups_while_running = cpu_groups_of(grading.runner)
    assert grading.notebooks, "the sleeping notebook should still be running"

    os.kill(grading.process.pid, signal.SIGKILL)  # the grader alone, not its group

    assert alive_after([grading.runner, *grading.notebooks], seconds=15) == []
    if groups_while_running:  # sandboxed: the runner cleaned up as it went
        assert cpu_groups_of(grading.runner) == set()


def test_are_the_cpu_groups_of_a_killed_grader_removed_by_the_next() -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()  # its process id is free now
    group = CPU_GROUPS / f"data-detective-{sandbox_uid(dead.pid, 0)}"
    try:
        group.mkdir()
    except OSError as error:
        pytest.skip(f"no CPU groups can be made here: {error}")

    release_orphaned_cpu_groups()

    assert not group.exists()


def test_does_a_dead_runner_stop_the_grade_with_a_reason_keeping_the_results(
    grading: Grading,
) -> None:
    os.kill(grading.runner, signal.SIGKILL)

    _, stderr = grading.process.communicate(timeout=60)
    assert grading.process.returncode == 1
    assert stderr.splitlines()[-1] == (
        "error: the process running the notebooks was killed by SIGKILL; the "
        "results recorded so far are kept: run the same command again to grade "
        "the rest"
    )
    kept = json.loads((grading.out / "results" / "a-quick.json").read_text())
    assert kept["status"] == "graded"
    assert not (grading.out / "results" / "b-sleeper.json").exists()
    assert alive_after(grading.notebooks, seconds=15) == []


def test_does_a_runner_nobody_needed_end_at_once() -> None:
    started = time.monotonic()
    with WarmRunner() as runner:
        time.sleep(0.5)  # importing by now
    assert runner.process.returncode is not None
    assert time.monotonic() - started < 5


def test_is_a_dataset_the_runner_cannot_serve_reported(tmp_path: Path) -> None:
    with (
        pytest.raises(KitError, match="the notebooks could not be run"),
        WarmRunner().open(
            RunSetup(
                dataset_root=tmp_path / "nothing-here",
                dataset_fingerprint="0" * 24,
                settings=load_settings(),
            )
        ),
    ):
        pass
