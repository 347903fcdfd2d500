"""Intake: is every handed-in file found, named, read, or turned into a reason?"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import unicodedata
import zipfile
from pathlib import Path

import pytest

from autograder.config import KitSettings, load_settings
from autograder.errors import UsageError
from autograder.intake import collect, safe_student_id
from autograder.model import Submission
from tests.factories import (
    ANSWERS,
    cell_by_grade_id,
    format3_text,
    notebook_text,
    parsed,
    worked_submission,
)

NOTEBOOK = notebook_text(worked_submission()).encode()
LMS_NAME = "lovelace_12345_67890_data_detective.ipynb"


@pytest.fixture
def settings() -> KitSettings:
    return load_settings()


def write(path: Path, data: bytes = NOTEBOOK, modified: float | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    if modified is not None:
        os.utime(path, (modified, modified))
    return path


def write_zip(path: Path, members: dict[str, bytes], year: int = 2024) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(zipfile.ZipInfo(name, (year, 3, 1, 12, 0, 0)), data)
    return path


def only(submissions: list[Submission]) -> Submission:
    assert len(submissions) == 1, [s.source_file for s in submissions]
    return submissions[0]


def by_id(submissions: list[Submission]) -> dict[str, Submission]:
    return {submission.student_id: submission for submission in submissions}


def counts_answer(submission: Submission) -> str:
    assert submission.notebook_json is not None, submission.problem
    notebook = parsed(submission.notebook_json)
    source: str = cell_by_grade_id(notebook, "step2_counts").source
    return source


# -- finding and naming ---------------------------------------------------------------


def test_is_a_single_notebook_read_and_named_by_its_stem(
    tmp_path: Path, settings: KitSettings
) -> None:
    path = write(tmp_path / "ada.ipynb")

    submission = only(collect([path], settings))

    assert submission.student_id == "ada"
    assert submission.source_file == str(path)
    assert submission.sha256 == hashlib.sha256(NOTEBOOK).hexdigest()
    assert submission.problem is None
    assert counts_answer(submission) == ANSWERS["step2_counts"]


@pytest.mark.parametrize(
    ("name", "student_id"),
    [
        (LMS_NAME, "12345"),
        ("lovelace_12345_67890_data_detective-2.ipynb", "12345"),
        ("data_detective.ipynb", "data_detective"),
        ("ada-1.ipynb", "ada"),
    ],
    ids=["lms-name", "canvas-resubmission", "plain", "plain-resubmit"],
)
def test_is_the_student_id_taken_from_the_lms_file_name(
    tmp_path: Path, settings: KitSettings, name: str, student_id: str
) -> None:
    submission = only(collect([write(tmp_path / name)], settings))

    assert submission.student_id == student_id


@pytest.mark.parametrize(
    ("relative", "student_id"),
    [
        ("ada/data_detective.ipynb", "ada"),
        ("ada/work/data_detective.ipynb", "ada"),
        (f"ada/{LMS_NAME}", "12345"),
        ("Ada Lovelace_12345_assignsubmission_file_/x.ipynb", "12345"),
        ("data_detective.ipynb", "data_detective"),
    ],
    ids=["folder", "nested-folder", "file-name-wins", "moodle-folder", "top-level"],
)
def test_does_a_folder_per_student_name_the_student(
    tmp_path: Path, settings: KitSettings, relative: str, student_id: str
) -> None:
    write(tmp_path / "class" / relative)

    submission = only(collect([tmp_path / "class"], settings))

    assert submission.student_id == student_id
    assert submission.problem is None


def test_are_lms_zip_members_read_with_their_member_path(
    tmp_path: Path, settings: KitSettings
) -> None:
    archive = write_zip(
        tmp_path / "lms.zip",
        {LMS_NAME: NOTEBOOK, "turing_777_1_data_detective.ipynb": NOTEBOOK},
    )

    submissions = collect([archive], settings)

    assert [s.student_id for s in submissions] == ["12345", "777"]
    assert submissions[0].source_file == f"{archive}!{LMS_NAME}"
    assert submissions[0].sha256 == hashlib.sha256(NOTEBOOK).hexdigest()
    assert counts_answer(submissions[0]) == ANSWERS["step2_counts"]


@pytest.mark.parametrize(
    ("relative", "member", "student_id"),
    [
        ("ada.zip", "data_detective.ipynb", "ada"),
        ("ada/handin.zip", "data_detective.ipynb", "ada"),
        ("lovelace_12345_67890_handin.zip", "data_detective.ipynb", "12345"),
        ("handin.zip", LMS_NAME, "12345"),
    ],
    ids=["zip-named-by-student", "zip-in-student-folder", "lms-zip-name", "lms-member"],
)
def test_does_a_students_zip_inside_a_folder_name_the_student(
    tmp_path: Path, settings: KitSettings, relative: str, member: str, student_id: str
) -> None:
    (tmp_path / "class" / relative).parent.mkdir(parents=True)
    write_zip(tmp_path / "class" / relative, {member: NOTEBOOK})

    submission = only(collect([tmp_path / "class"], settings))

    assert submission.student_id == student_id
    assert submission.source_file == f"{tmp_path / 'class' / relative}!{member}"


def test_is_a_file_given_twice_read_once(tmp_path: Path, settings: KitSettings) -> None:
    path = write(tmp_path / "ada.ipynb")

    submission = only(collect([path, path], settings))

    assert submission.notes == []


def test_are_submissions_sorted_by_student_id_whatever_the_path_order(
    tmp_path: Path, settings: KitSettings
) -> None:
    paths = [write(tmp_path / f"{name}.ipynb") for name in ("zoe", "ada", "Bo")]

    assert [s.student_id for s in collect(paths, settings)] == ["Bo", "ada", "zoe"]


def test_does_a_path_that_does_not_exist_stop_the_grader(
    tmp_path: Path, settings: KitSettings
) -> None:
    with pytest.raises(UsageError, match="does not exist"):
        collect([tmp_path / "missing"], settings)


# -- newest wins ----------------------------------------------------------------------


def test_does_the_newest_file_of_a_student_win_with_a_note(
    tmp_path: Path, settings: KitSettings
) -> None:
    older = write(tmp_path / "ada" / "b.ipynb", modified=1_700_000_000)
    newer_text = NOTEBOOK.replace(b"minlength=10", b"minlength=10 ")
    newer = write(tmp_path / "ada" / "a.ipynb", newer_text, modified=1_700_000_500)

    submission = only(collect([tmp_path], settings))

    assert submission.source_file == str(newer)
    assert submission.sha256 == hashlib.sha256(newer_text).hexdigest()
    assert submission.notes == [f"{older} was replaced by the newer {newer}"]


def test_does_the_newest_zip_member_win(tmp_path: Path, settings: KitSettings) -> None:
    with zipfile.ZipFile(tmp_path / "lms.zip", "w") as archive:
        for name, day in [("lovelace_12345_2_dd-1.ipynb", 9), (LMS_NAME, 2)]:
            archive.writestr(zipfile.ZipInfo(name, (2024, 3, day, 0, 0, 0)), NOTEBOOK)

    submission = only(collect([tmp_path / "lms.zip"], settings))

    assert submission.source_file.endswith("!lovelace_12345_2_dd-1.ipynb")
    assert "replaced by the newer" in submission.notes[0]


def test_does_a_canvas_resubmission_win_a_tie_of_dates(
    tmp_path: Path, settings: KitSettings
) -> None:
    write_zip(
        tmp_path / "lms.zip",
        {LMS_NAME.replace(".ipynb", "-1.ipynb"): NOTEBOOK, LMS_NAME: NOTEBOOK},
    )

    submission = only(collect([tmp_path / "lms.zip"], settings))

    assert submission.source_file.endswith("data_detective-1.ipynb")


# -- safe, distinct ids ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw_id", "safe_id"),
    [
        ("José Müller", "José_Müller"),
        (unicodedata.normalize("NFD", "José"), "José"),
        ("a/b\\c:d", "a_b_c_d"),
        ("..", "_."),
        (".hidden", "_hidden"),
        ("", "unnamed"),
        ("ok-id_1.2", "ok-id_1.2"),
    ],
    ids=[
        "spaces",
        "decomposed-accents",
        "separators",
        "dot-dot",
        "hidden",
        "empty",
        "kept",
    ],
)
def test_is_a_student_id_made_safe_as_a_file_name(raw_id: str, safe_id: str) -> None:
    assert safe_student_id(raw_id) == safe_id


def test_do_ids_that_sanitise_alike_stay_distinct(
    tmp_path: Path, settings: KitSettings
) -> None:
    for folder in ("a b", "a_b", "a?b", "A_B"):
        write(tmp_path / "class" / folder / "data_detective.ipynb")

    ids = [s.student_id for s in collect([tmp_path / "class"], settings)]

    assert len({student_id.casefold() for student_id in ids}) == 4
    assert sum(student_id in ("a_b", "A_B") for student_id in ids) == 1
    assert all(safe_student_id(student_id) == student_id for student_id in ids)


def test_is_a_renamed_student_id_noted(tmp_path: Path, settings: KitSettings) -> None:
    write(tmp_path / "class" / "Ada L" / "x.ipynb")

    submission = only(collect([tmp_path / "class"], settings))

    assert submission.student_id == "Ada_L"
    assert "'Ada L' is written as 'Ada_L'" in submission.notes[0]


# -- what is skipped ------------------------------------------------------------------


def test_are_stray_files_skipped_silently(
    tmp_path: Path, settings: KitSettings
) -> None:
    root = tmp_path / "class"
    write(root / "ada" / "data_detective.ipynb")
    write(root / "ada" / ".DS_Store", b"\x00\x01")
    write(root / "ada" / "counts.csv", b"class,count\n")
    write(root / "ada" / ".ipynb_checkpoints" / "data_detective-checkpoint.ipynb")
    write_zip(root / "bo.zip", {"bo.ipynb": NOTEBOOK, "__MACOSX/._bo.ipynb": b"\0"})

    submissions = collect([root], settings)

    assert [s.student_id for s in submissions] == ["ada", "bo"]
    assert all(s.problem is None and s.notes == [] for s in submissions)


def test_does_a_student_with_no_notebook_get_a_reason(
    tmp_path: Path, settings: KitSettings
) -> None:
    write(tmp_path / "class" / "ada" / "report.pdf", b"%PDF-1.7 ...")

    submission = only(collect([tmp_path / "class"], settings))

    assert submission.student_id == "ada"
    assert submission.problem is not None
    assert "PDF" in submission.problem
    assert "no .ipynb file was found" in submission.notes[0]


# -- bad files become reasons, and the batch goes on ----------------------------------


BAD_FILES = {
    "pdf": (b"%PDF-1.4\n%\xe2\xe3\xcf\xd3 ...", "PDF"),
    "png": (b"\x89PNG\r\n\x1a\n\x00\x00", "PNG image"),
    "html": (b"<!DOCTYPE html><html><body>Colab</body></html>", "web page"),
    "truncated-json": (NOTEBOOK[: len(NOTEBOOK) // 2], "not valid JSON"),
    "not-utf8": (b'{"cells": "\xff\xfe"}', "not UTF-8"),
    "empty": (b"", "file is empty"),
    "blank": (b"  \n", "file is empty"),
    "json-not-notebook": (b'{"name": "ada"}', "JSON data, not a Jupyter notebook"),
    "plain-text": (b"counts = [5000] * 10", "plain text"),
    "future-format": (b'{"nbformat": 5, "cells": []}', "format 5"),
    "broken-structure": (
        b'{"nbformat": 4, "nbformat_minor": 4, "metadata": {}, "cells": [{}]}',
        "structure is damaged",
    ),
}


@pytest.mark.parametrize(
    ("data", "reason"), list(BAD_FILES.values()), ids=list(BAD_FILES)
)
def test_does_a_bad_file_get_a_reason_while_the_batch_goes_on(
    tmp_path: Path, settings: KitSettings, data: bytes, reason: str
) -> None:
    bad = write(tmp_path / "bad.ipynb", data)
    good = write(tmp_path / "good.ipynb")

    submissions = by_id(collect([bad, good], settings))

    assert submissions["bad"].problem is not None
    assert reason in submissions["bad"].problem
    assert submissions["bad"].notebook_json is None
    assert submissions["bad"].sha256 == hashlib.sha256(data).hexdigest()
    assert submissions["good"].problem is None


def test_does_every_reason_tell_the_student_what_to_do(
    tmp_path: Path, settings: KitSettings
) -> None:
    paths = [
        write(tmp_path / f"{name}.ipynb", data) for name, (data, _) in BAD_FILES.items()
    ]

    problems = [s.problem or "" for s in collect(paths, settings)]

    assert all("resubmit" in problem for problem in problems), problems


def test_is_a_notebook_over_the_size_limit_refused(
    tmp_path: Path, settings: KitSettings
) -> None:
    small = settings.model_copy(update={"max_notebook_bytes": len(NOTEBOOK) - 1})

    submission = only(collect([write(tmp_path / "ada.ipynb")], small))

    assert submission.problem is not None
    assert "Clear All Outputs" in submission.problem


# -- repairs that intake makes and notes ----------------------------------------------


def test_is_a_byte_order_mark_stripped_and_noted(
    tmp_path: Path, settings: KitSettings
) -> None:
    submission = only(
        collect([write(tmp_path / "ada.ipynb", b"\xef\xbb\xbf" + NOTEBOOK)], settings)
    )

    assert counts_answer(submission) == ANSWERS["step2_counts"]
    assert any("byte-order mark" in note for note in submission.notes)


def test_is_an_old_format_3_notebook_upgraded_and_noted(
    tmp_path: Path, settings: KitSettings
) -> None:
    data = format3_text("counts = [1] * 10").encode()

    submission = only(collect([write(tmp_path / "ada.ipynb", data)], settings))

    assert submission.notebook_json is not None
    upgraded = json.loads(submission.notebook_json)
    assert upgraded["nbformat"] == 4
    assert "".join(upgraded["cells"][0]["source"]) == "counts = [1] * 10"
    assert any("format 3" in note for note in submission.notes)


@pytest.mark.parametrize("damage", ["duplicated", "missing", "invalid"])
def test_are_broken_cell_ids_renewed_and_noted(
    tmp_path: Path, settings: KitSettings, damage: str
) -> None:
    content = json.loads(NOTEBOOK)
    first, second = content["cells"][0], content["cells"][1]
    if damage == "duplicated":
        second["id"] = first["id"]
    elif damage == "missing":
        del second["id"]
    else:
        second["id"] = "not a valid id!"
    data = json.dumps(content).encode()

    submission = only(collect([write(tmp_path / "ada.ipynb", data)], settings))

    assert submission.notebook_json is not None
    ids = [cell["id"] for cell in json.loads(submission.notebook_json)["cells"]]
    assert len(set(ids)) == len(ids)
    assert ids[0] == first["id"]
    assert any("cell ids were renewed" in note for note in submission.notes)


# -- zips that must not be trusted ----------------------------------------------------


@pytest.mark.parametrize(
    "member",
    [
        "../escape.ipynb",
        "/etc/escape.ipynb",
        "ada/../../escape.ipynb",
        "..\\escape.ipynb",
    ],
    ids=["dot-dot", "absolute", "nested-dot-dot", "windows-dot-dot"],
)
def test_is_a_zip_entry_that_leaves_its_folder_refused(
    tmp_path: Path, settings: KitSettings, member: str
) -> None:
    archive = write_zip(tmp_path / "lms.zip", {member: NOTEBOOK, LMS_NAME: NOTEBOOK})

    submissions = collect([archive], settings)

    escaped = [s for s in submissions if "escape" in s.source_file]
    assert len(escaped) == 1
    assert escaped[0].problem is not None
    assert "leaves its folder" in escaped[0].problem
    assert escaped[0].notebook_json is None
    assert by_id(submissions)["12345"].problem is None


def test_is_a_zip_that_expands_past_the_limit_refused(
    tmp_path: Path, settings: KitSettings
) -> None:
    archive = write_zip(tmp_path / "lms.zip", {LMS_NAME: NOTEBOOK, "b.ipynb": NOTEBOOK})
    limit = settings.model_copy(update={"max_zip_bytes": len(NOTEBOOK) + 10})

    submission = only(collect([archive], limit))

    assert submission.problem is not None
    assert "expands to more than" in submission.problem
    assert submission.source_file == str(archive)
    assert submission.sha256 == hashlib.sha256(archive.read_bytes()).hexdigest()


def test_is_a_zip_whose_headers_understate_its_size_refused(
    tmp_path: Path, settings: KitSettings
) -> None:
    bomb = b"{" + b" " * 1_000_000 + b"}"
    archive = write_zip(tmp_path / "lms.zip", {LMS_NAME: bomb})
    understate_sizes(archive, declared=100)
    limit = settings.model_copy(update={"max_zip_bytes": 10_000})

    submission = only(collect([archive], limit))

    assert submission.problem is not None
    assert submission.notebook_json is None


def understate_sizes(archive: Path, declared: int) -> None:
    """Rewrite the uncompressed size in a one-entry zip's headers, as a bomb does."""
    data = bytearray(archive.read_bytes())
    local = data.index(b"PK\x03\x04")
    central = data.index(b"PK\x01\x02")
    struct.pack_into("<I", data, local + 22, declared)
    struct.pack_into("<I", data, central + 24, declared)
    archive.write_bytes(bytes(data))


def test_is_a_zip_that_is_not_a_zip_refused(
    tmp_path: Path, settings: KitSettings
) -> None:
    fake = write(tmp_path / "lovelace_12345_lms.zip", b"this is not a zip")

    submission = only(collect([fake, write(tmp_path / "good.ipynb")], settings)[:1])

    assert submission.student_id == "12345"
    assert submission.problem is not None
    assert "not a zip" in submission.problem
    assert submission.sha256 == hashlib.sha256(b"this is not a zip").hexdigest()


def test_does_a_broken_zip_beside_a_notebook_not_hide_the_notebook(
    tmp_path: Path, settings: KitSettings
) -> None:
    write(tmp_path / "class" / "ada" / "data_detective.ipynb")
    write(tmp_path / "class" / "ada" / "backup.zip", b"not a zip")

    submission = only(collect([tmp_path / "class"], settings))

    assert submission.problem is None
    assert submission.source_file.endswith("data_detective.ipynb")
