"""Does the grading-speed benchmark still make its classes, grade them and report?

The benchmark itself prints figures and is run by hand; these tests only keep it
from rotting, on the smallest classes that go through every one of its paths.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from autograder.dataset import PreparedDataset
from benchmarks.grading_speed import KINDS, KIT, NBGRADER, parse_args, run, write_class


def test_does_a_class_hold_every_kind_of_submission_in_turn(tmp_path: Path) -> None:
    class_files = write_class(tmp_path, 2 * len(KINDS))

    kinds = Counter(student_id.split("-", 2)[2] for student_id in class_files)
    assert kinds == dict.fromkeys(KINDS, 2)
    assert sorted(tmp_path.glob("*.ipynb")) == sorted(class_files.values())
    notebook = json.loads(class_files["student-003-crash"].read_text("utf-8"))
    sources = ["".join(cell["source"]) for cell in notebook["cells"]]
    assert any("ctypes.string_at(0)" in source for source in sources)


@pytest.mark.slow
def test_does_a_tiny_benchmark_grade_with_both_graders_and_print_figures(
    standin_dataset: PreparedDataset, capsys: pytest.CaptureFixture[str]
) -> None:
    sizes = ["--sizes", "1", str(len(KINDS))]
    dataset = ["--dataset", str(standin_dataset.batches)]
    options = parse_args(["--n", "1", *sizes, "--jobs", "2", *dataset])

    report = run(options)

    assert [grading.tool for grading in report.compared] == [KIT, NBGRADER]
    assert [grading.submissions for grading in report.by_size] == [1, len(KINDS)]
    for grading in [*report.compared, *report.by_size]:
        assert grading.graded == grading.submissions, grading.tool
        assert grading.wall_seconds > 0
        assert grading.peak_bytes > 0
    printed = capsys.readouterr().out
    assert "throughput ratio, whole commands" in printed
    assert "wall time: " in printed
    assert "s per submission; a line through two sizes" in printed
    assert "reach 20x nbgrader's throughput" in printed
