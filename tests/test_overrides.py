"""A TA's overrides: read from overrides.csv, applied on the next run, undoable."""

from __future__ import annotations

from pathlib import Path

import pytest

from autograder.errors import UsageError
from autograder.model import Override
from autograder.overrides import apply_overrides, load_overrides, without_overrides
from tests.test_feedback import make_check, make_result

HEADER = "student_id,check_id,points,reason,by\n"


def overrides_file(tmp_path: Path, rows: str) -> Path:
    path = tmp_path / "overrides.csv"
    path.write_text(HEADER + rows, encoding="utf-8")
    return path


def test_are_rows_read_by_student(tmp_path: Path) -> None:
    path = overrides_file(
        tmp_path,
        "111,report,3.5,cited counts in Step 1,ta-ana\n"
        "\n"
        "111,grid,3,titles in French,ta-ana\n"
        '222,counts,0,"copied, see 111",\n',
    )

    overrides = load_overrides(path)

    assert sorted(overrides) == ["111", "222"]
    assert [o.check_id for o in overrides["111"]] == ["report", "grid"]
    assert overrides["222"] == [
        Override(check_id="counts", points=0, reason="copied, see 111", by="")
    ]


@pytest.mark.parametrize(
    ("row", "named", "line"),
    [
        ("111,reprot,2,typo,ta\n", "'reprot' is not a check", 3),
        ("111,report,two,words,ta\n", "is not a number", 3),
        ("111,report,-1,negative,ta\n", "0 or more", 3),
        ("111,report,2,,ta\n", "the reason is empty", 3),
        (",report,2,no student,ta\n", "student_id is empty", 3),
        ("111,report,2,a,ta\n111,report,3,b,ta\n", "already has an override", 4),
    ],
    ids=["unknown check", "words", "negative", "no reason", "no student", "twice"],
)
def test_does_a_bad_row_give_an_error_naming_its_line(
    tmp_path: Path, row: str, named: str, line: int
) -> None:
    path = overrides_file(tmp_path, "222,grid,1,fine,ta\n" + row)

    with pytest.raises(UsageError, match=named) as raised:
        load_overrides(path)

    assert f"overrides.csv, line {line}:" in str(raised.value)


def test_does_a_missing_column_name_the_header(tmp_path: Path) -> None:
    path = tmp_path / "overrides.csv"
    path.write_text("student_id,check_id,points\n111,report,2\n", encoding="utf-8")

    with pytest.raises(UsageError, match="line 1: the header lacks reason"):
        load_overrides(path)


def test_does_an_override_change_the_score_and_keep_the_autograders() -> None:
    result = make_result("111", [make_check("report", "failed")])
    override = Override(check_id="report", points=3, reason="counts cited", by="ta")

    overridden = apply_overrides(result, [override])

    assert (overridden.score, overridden.autograder_score) == (13, 10)
    report = next(check for check in overridden.checks if check.id == "report")
    assert report.points == 3
    assert overridden.overrides[0].autograder_points == 0


def test_does_applying_again_on_the_next_run_give_the_same_result() -> None:
    result = make_result("111", [make_check("report", "failed")])
    first = [Override(check_id="report", points=3, reason="counts cited")]
    second = [Override(check_id="report", points=2, reason="one count cited")]

    again = apply_overrides(apply_overrides(result, first), first)
    changed = apply_overrides(apply_overrides(result, first), second)

    assert again == apply_overrides(result, first)
    assert (changed.score, changed.autograder_score) == (12, 10)


def test_does_removing_every_override_give_the_autograders_result_back() -> None:
    result = make_result("111", [make_check("grid", "partial")])
    overridden = apply_overrides(
        result, [Override(check_id="grid", points=3, reason="all ten shown")]
    )

    assert apply_overrides(overridden, []) == result
    assert without_overrides(overridden) == result


def test_are_points_above_the_maximum_refused() -> None:
    result = make_result("111")

    with pytest.raises(UsageError, match="more than its maximum of 4"):
        apply_overrides(result, [Override(check_id="report", points=5, reason="x")])
