"""Where a forked child's time goes: each cell, and what the grader adds around them.

Run from the project's folder:

    .venv/bin/python -m benchmarks.child_costs [--repeat 3] [--dataset PATH]

Warms one fork executor, as `grade` does, then runs each kind of submission of
the grading-speed benchmark `--repeat` times, one child at a time, with figures
rendered for the feedback page. It prints the median seconds of every code cell
and, apart, the rest of the child's life: forking, starting the shell,
rendering and describing figures, reading the namespace, ending. It prints
figures; nothing passes or fails.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from autograder.config import load_settings
from autograder.model import Evidence
from autograder.run import RunJob, RunSetup, open_executor
from benchmarks.grading_speed import BENCHMARK_CACHE_HOME, KINDS, benchmark_dataset
from tests.submissions import fill_release


def child_costs(dataset_path: Path | None, repeat: int) -> dict[str, list[Evidence]]:
    """The evidence of `repeat` runs of every kind, each run alone."""
    dataset, _ = benchmark_dataset(dataset_path)
    runs: dict[str, list[Evidence]] = {kind: [] for kind in KINDS}
    with (
        tempfile.TemporaryDirectory(prefix="child-costs-") as scratch,
        open_executor(
            "fork",
            RunSetup(
                dataset_root=dataset.root,
                dataset_fingerprint=dataset.fingerprint,
                settings=load_settings(),
            ),
        ) as runner,
    ):
        print(f"parent warmed in {runner.startup_seconds:.1f} s")
        jobs = [
            RunJob(
                key=f"{kind}-{number}",
                notebook_json=fill_release(kind_of),
                scratch=Path(scratch) / f"{kind}-{number}",
            )
            for number in range(repeat)
            for kind, kind_of in KINDS.items()
        ]
        for job, evidence in runner.run_many(jobs):
            runs[job.key.rsplit("-", 1)[0]].append(evidence)
    return runs


def print_costs(runs: dict[str, list[Evidence]]) -> None:
    """Median seconds per code cell and around the cells, per kind."""
    for kind, evidences in runs.items():
        print(f"\n{kind} ({evidences[0].outcome}), median of {len(evidences)} runs")
        by_cell: dict[tuple[int, str], list[float]] = {}
        around: list[float] = []
        for evidence in evidences:
            code = [cell for cell in evidence.cells if cell.cell_type == "code"]
            for cell in code:
                key = (cell.index, cell.grade_id or "")
                by_cell.setdefault(key, []).append(cell.seconds)
            around.append(evidence.seconds - sum(cell.seconds for cell in code))
        for (index, grade_id), seconds in sorted(by_cell.items()):
            print(
                f"  cell {index:>2} {grade_id:<22} {statistics.median(seconds):6.3f} s"
            )
        print(f"  {'around the cells':<30} {statistics.median(around):6.3f} s")
        whole = statistics.median(evidence.seconds for evidence in evidences)
        print(f"  {'whole child':<30} {whole:6.3f} s")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.child_costs")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--dataset", type=Path)
    options = parser.parse_args(argv)
    os.environ.setdefault("XDG_CACHE_HOME", str(BENCHMARK_CACHE_HOME))
    print_costs(child_costs(options.dataset, options.repeat))
    return 0


if __name__ == "__main__":
    sys.exit(main())
