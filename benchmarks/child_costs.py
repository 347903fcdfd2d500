"""Where a forked child's time goes: each cell, and what the grader adds around them.

Run from the project's folder:

    .venv/bin/python -m benchmarks.child_costs [--repeat 3] [--no-pictures]
        [--dataset PATH]

Warms one fork executor, as `grade`'s runner does, then runs each kind of
submission of the grading-speed benchmark `--repeat` times, one child at a time,
with figures rendered for the feedback page unless `--no-pictures`. It prints
the median seconds of every code cell and, apart, the rest of the child's life:
forking, starting the shell, rendering and describing figures, reading the
namespace, ending; then the child's CPU time (user + system, its own processes
included). It prints figures; nothing passes or fails.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from autograder.config import load_settings
from autograder.model import Evidence
from autograder.run import RunJob, RunSetup
from autograder.run_fork import ForkExecutor
from benchmarks.grading_speed import (
    BENCHMARK_CACHE_HOME,
    KINDS,
    benchmark_dataset,
    children_cpu_seconds,
)
from tests.submissions import fill_release


@dataclass
class ChildRun:
    evidence: Evidence
    cpu_seconds: float  # user + system time of the child and all it started


def child_costs(
    dataset_path: Path | None, repeat: int, *, pictures: bool = True
) -> dict[str, list[ChildRun]]:
    """`repeat` runs of every kind, each run alone, in this process's executor."""
    dataset, _ = benchmark_dataset(dataset_path)
    setup = RunSetup(
        dataset_root=dataset.root,
        dataset_fingerprint=dataset.fingerprint,
        settings=load_settings(),
        render_png=pictures,
    )
    runs: dict[str, list[ChildRun]] = {kind: [] for kind in KINDS}
    with (
        tempfile.TemporaryDirectory(prefix="child-costs-") as scratch,
        ForkExecutor(setup) as executor,
    ):
        print(f"parent warmed in {executor.startup_seconds:.1f} s")
        for number in range(repeat):
            for kind, kind_of in KINDS.items():
                job = RunJob(
                    key=f"{kind}-{number}",
                    notebook_json=fill_release(kind_of),
                    scratch=Path(scratch) / f"{kind}-{number}",
                )
                before = children_cpu_seconds()
                [(_, evidence)] = executor.run_many([job])
                cpu = children_cpu_seconds() - before
                runs[kind].append(ChildRun(evidence, cpu))
    return runs


def print_costs(runs: dict[str, list[ChildRun]]) -> None:
    """Median seconds per code cell, around the cells and of CPU, per kind."""
    for kind, child_runs in runs.items():
        evidences = [run.evidence for run in child_runs]
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
        cpu = statistics.median(run.cpu_seconds for run in child_runs)
        print(f"  {'CPU time of the child':<30} {cpu:6.3f} s")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.child_costs")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--no-pictures",
        dest="pictures",
        action="store_false",
        help="render no figure for the feedback page",
    )
    parser.add_argument("--dataset", type=Path)
    options = parser.parse_args(argv)
    os.environ.setdefault("XDG_CACHE_HOME", str(BENCHMARK_CACHE_HOME))
    print_costs(child_costs(options.dataset, options.repeat, pictures=options.pictures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
