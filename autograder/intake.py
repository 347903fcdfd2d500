"""Intake: find the handed-in notebooks, name their students and read them safely.

`collect` takes what an instructor points at (notebooks, folders, LMS zips) and
gives one `Submission` per student. A file that cannot be graded still becomes a
`Submission`, with a `problem` the student can act on, and the batch goes on.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import unicodedata
import zipfile
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import IO, Any

import nbformat

from autograder.config import KitSettings
from autograder.errors import SubmissionError, UsageError
from autograder.model import Submission

logger = logging.getLogger(__name__)

NOTEBOOK_SUFFIX = ".ipynb"
ZIP_SUFFIX = ".zip"

#: Canvas appends `-1`, `-2`, ... to the file name of a resubmission.
_RESUBMISSION = re.compile(r"-(\d+)$")
_CELL_ID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_MAX_ID_LENGTH = 100
_CHUNK = 1024 * 1024

_DOWNLOAD_AGAIN = (
    "download the notebook again with File > Download > .ipynb and resubmit"
)
_SAVE_AND_DOWNLOAD = (
    "open your notebook in Jupyter or Colab, save it, "
    "download it again with File > Download > .ipynb and resubmit"
)

#: How the first bytes of a file give away what it really is.
_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"%PDF", "a PDF document"),
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"PK\x03\x04", "a zip archive (or a Word/Office document)"),
)


@dataclass(frozen=True)
class _Found:
    """A file that may be one student's notebook; read only if it is chosen."""

    raw_id: str
    source_file: str
    modified: float
    is_notebook: bool  # named `.ipynb`; other files are a last resort
    read: Callable[[], bytes]  # raises SubmissionError
    problem: str | None = None  # known before reading: a broken zip, a bad entry
    resubmission: int = 0
    unusable_zip: Path | None = None  # the whole zip is what was handed in


@dataclass
class _ZipBudget:
    """Bytes a zip may still expand to, counted as they are actually read."""

    remaining: int
    limit: int


@dataclass
class _Chosen:
    found: _Found
    notes: list[str] = field(default_factory=list)


def collect(paths: Sequence[Path], settings: KitSettings) -> list[Submission]:
    """One `Submission` per student from notebooks, folders and zips.

    Steps: find every candidate file; keep the newest file of each student; give
    every student a file-name-safe, unique id; read and validate the chosen
    notebooks. The result is sorted by student id.
    """
    pattern = re.compile(settings.student_id_pattern)

    found = _without_repeats(
        [item for path in paths for item in _find(path, pattern, settings)]
    )
    logger.info("intake: %d candidate files under %d paths", len(found), len(paths))

    chosen = _newest_per_student(found)
    safe_ids = _safe_ids(sorted(chosen))

    submissions = [
        _read_submission(chosen[raw_id], safe_ids[raw_id], settings)
        for raw_id in chosen
    ]
    submissions.sort(key=lambda submission: submission.student_id)
    unreadable = sum(submission.problem is not None for submission in submissions)
    logger.info(
        "intake: %d submissions, %d of them ungradable", len(submissions), unreadable
    )
    return submissions


# -- finding files ----------------------------------------------------------------


def _without_repeats(found: list[_Found]) -> list[_Found]:
    """Each file once, when a path was given twice or inside a given folder."""
    unique = {item.source_file: item for item in reversed(found)}
    return [item for item in found if unique[item.source_file] is item]


def _find(path: Path, pattern: re.Pattern[str], settings: KitSettings) -> list[_Found]:
    if path.is_dir():
        return list(_find_in_folder(path, pattern, settings))
    if path.is_file():
        if path.suffix.lower() == ZIP_SUFFIX:
            return list(_find_in_zip(path, str(path), [], pattern, settings, True))
        return [_file_candidate(path, str(path), [], pattern, settings, True)]
    raise UsageError(f"{path} does not exist: check the path and run the grader again")


def _find_in_folder(
    folder: Path, pattern: re.Pattern[str], settings: KitSettings
) -> Iterator[_Found]:
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if not path.is_file() or _is_junk(relative.parts):
            continue
        folders = list(relative.parts[:-1])
        if path.suffix.lower() == ZIP_SUFFIX:
            # a zip inside a class folder is one student's: it names them as a
            # folder would
            folders.append(path.stem)
            yield from _find_in_zip(path, str(path), folders, pattern, settings, False)
        else:
            yield _file_candidate(path, str(path), folders, pattern, settings, False)


def _file_candidate(
    path: Path,
    source_file: str,
    folders: list[str],
    pattern: re.Pattern[str],
    settings: KitSettings,
    given: bool,
) -> _Found:
    logger.debug("intake: found %s", source_file)
    is_notebook = given or path.suffix.lower() == NOTEBOOK_SUFFIX
    return _Found(
        raw_id=_student_id(path.name, folders, pattern),
        source_file=source_file,
        modified=path.stat().st_mtime,
        is_notebook=is_notebook,
        read=lambda: _read_file(path, settings.max_notebook_bytes),
        resubmission=_resubmission(path.name),
    )


def _find_in_zip(
    archive: Path,
    source_file: str,
    folders: list[str],
    pattern: re.Pattern[str],
    settings: KitSettings,
    given: bool,
) -> Iterator[_Found]:
    """The notebooks inside a zip, or one candidate that says why it is unusable.

    A zip given on the command line always yields something; one found inside a
    student's folder is only a last resort for that student when it is broken.
    """
    try:
        with zipfile.ZipFile(archive) as opened:
            members = [info for info in opened.infolist() if not info.is_dir()]
    except (zipfile.BadZipFile, OSError) as error:
        logger.debug("intake: %s is not a readable zip: %s", source_file, error)
        yield _zip_problem(archive, folders, pattern, given, _NOT_A_ZIP)
        return

    declared = sum(info.file_size for info in members)
    if declared > settings.max_zip_bytes:
        problem = _zip_too_large(settings.max_zip_bytes)
        yield _zip_problem(archive, folders, pattern, given, problem)
        return

    budget = _ZipBudget(settings.max_zip_bytes, settings.max_zip_bytes)
    for info in members:
        member = PurePosixPath(info.filename.replace("\\", "/"))
        escapes = _escapes(info.filename)
        if _is_junk(member.parts) and not escapes:
            continue
        logger.debug("intake: found %s!%s", source_file, info.filename)
        yield _Found(
            raw_id=_student_id(member.name, [*folders, *member.parts[:-1]], pattern),
            source_file=f"{source_file}!{info.filename}",
            modified=datetime(*info.date_time).timestamp(),
            is_notebook=member.suffix.lower() == NOTEBOOK_SUFFIX,
            read=_member_reader(archive, info, budget, settings.max_notebook_bytes),
            problem=_ESCAPES if escapes else None,
            resubmission=_resubmission(member.name),
        )


_NOT_A_ZIP = (
    "The zip file is damaged or is not a zip: "
    "create it again (or hand in the .ipynb file itself) and resubmit."
)
_ESCAPES = (
    "The zip holds a file whose path leaves its folder (it starts with / or "
    "contains ..): zip only the notebook itself and resubmit."
)


def _zip_too_large(limit: int) -> str:
    return (
        f"The zip file expands to more than {_size(limit)}: "
        "hand in the .ipynb file itself, with its outputs cleared, and resubmit."
    )


def _zip_problem(
    archive: Path,
    folders: list[str],
    pattern: re.Pattern[str],
    given: bool,
    problem: str,
) -> _Found:
    return _Found(
        raw_id=_student_id(archive.name, folders, pattern),
        source_file=str(archive),
        modified=archive.stat().st_mtime,
        is_notebook=given,
        read=lambda: b"",
        problem=problem,
        unusable_zip=archive,
    )


def _is_junk(parts: Sequence[str]) -> bool:
    """Hidden files, Jupyter's checkpoints and macOS's `__MACOSX/` shadows."""
    return any(part.startswith(".") or part == "__MACOSX" for part in parts)


def _escapes(member_name: str) -> bool:
    posix = member_name.replace("\\", "/")
    is_absolute = posix.startswith("/") or re.match(r"^[A-Za-z]:", posix) is not None
    return is_absolute or ".." in posix.split("/")


def _resubmission(file_name: str) -> int:
    match = _RESUBMISSION.search(PurePosixPath(file_name).stem)
    return int(match.group(1)) if match else 0


# -- student ids ------------------------------------------------------------------


def _student_id(
    file_name: str, folders: Sequence[str], pattern: re.Pattern[str]
) -> str:
    """The pattern's `student_id` in the file name, else in (or as) its top folder.

    Folders count from the path the instructor gave: `given/alice/work/x.ipynb`
    belongs to `alice`, and so does `given/alice.zip!x.ipynb` (a zip inside a
    given folder counts as a folder). A file with neither is named by its stem,
    without the `-N` Canvas adds to a resubmission.
    """
    for name in (file_name, *folders[:1]):
        match = pattern.search(name)
        if match and match.group("student_id"):
            return match.group("student_id")
    if folders:
        return folders[0]
    stem = PurePosixPath(file_name).stem
    return _RESUBMISSION.sub("", stem) or stem


def safe_student_id(raw_id: str) -> str:
    """`raw_id` made safe as a file name: letters, digits, `-`, `_` and `.` only.

    Other characters become `_`; a leading dot becomes `_` (no hidden files, no
    `..`); never empty.
    """
    text = unicodedata.normalize("NFC", raw_id)
    kept = "".join(
        char if char.isalpha() or char.isdecimal() or char in "-_." else "_"
        for char in text
    )
    kept = re.sub(r"^\.", "_", kept)[:_MAX_ID_LENGTH]
    return kept or "unnamed"


def _safe_ids(raw_ids: Sequence[str]) -> dict[str, str]:
    """A distinct safe id per raw id, also on case-insensitive file systems.

    When several raw ids sanitise to the same name, one already safe keeps it and
    the others get a suffix from a hash of their raw id, so the mapping does not
    depend on which students are in the batch.
    """
    by_safe: dict[str, list[str]] = defaultdict(list)
    for raw_id in raw_ids:
        by_safe[safe_student_id(raw_id).casefold()].append(raw_id)

    safe_ids: dict[str, str] = {}
    taken: set[str] = set()
    for group in by_safe.values():
        keeper = next((raw for raw in group if safe_student_id(raw) == raw), group[0])
        for raw_id in sorted(group, key=lambda raw: raw != keeper):
            safe = safe_student_id(raw_id)
            if raw_id != keeper:
                safe = _suffixed(safe, raw_id, taken)
            safe_ids[raw_id] = safe
            taken.add(safe.casefold())
    return safe_ids


def _suffixed(safe: str, raw_id: str, taken: set[str]) -> str:
    digest = hashlib.sha256(raw_id.encode()).hexdigest()
    for length in range(6, len(digest) + 1):
        candidate = f"{safe}-{digest[:length]}"
        if candidate.casefold() not in taken:
            return candidate
    raise AssertionError("a sha256 digest cannot collide with every shorter one")


# -- newest file wins ---------------------------------------------------------------


def _newest_per_student(found: Sequence[_Found]) -> dict[str, _Chosen]:
    """Each student's newest notebook (or, without one, newest other file)."""
    by_student: dict[str, list[_Found]] = defaultdict(list)
    for item in found:
        by_student[item.raw_id].append(item)

    chosen: dict[str, _Chosen] = {}
    for raw_id, items in by_student.items():
        notebooks = [item for item in items if item.is_notebook]
        pool = notebooks or items
        newest = max(pool, key=_age_order)
        notes = [
            f"{older.source_file} was replaced by the newer {newest.source_file}"
            for older in sorted(pool, key=_age_order)
            if older is not newest
        ]
        if not notebooks:
            notes.append(f"no .ipynb file was found; {newest.source_file} was read")
        chosen[raw_id] = _Chosen(newest, notes)
    return chosen


def _age_order(item: _Found) -> tuple[float, int, str]:
    return (item.modified, item.resubmission, item.source_file)


# -- reading ------------------------------------------------------------------------


def _read_file(path: Path, limit: int) -> bytes:
    try:
        if path.stat().st_size > limit:
            raise SubmissionError(_too_large(limit))
        with path.open("rb") as stream:
            return _read_capped(stream, limit, None)
    except OSError as error:
        raise SubmissionError(
            f"The file could not be read: {_DOWNLOAD_AGAIN}.", note=str(error)
        ) from error


def _member_reader(
    archive: Path, info: zipfile.ZipInfo, budget: _ZipBudget, limit: int
) -> Callable[[], bytes]:
    def read() -> bytes:
        if info.file_size > limit:
            raise SubmissionError(_too_large(limit))
        try:
            with zipfile.ZipFile(archive) as opened, opened.open(info) as stream:
                return _read_capped(stream, limit, budget)
        except (zipfile.BadZipFile, OSError, EOFError) as error:
            raise SubmissionError(_NOT_A_ZIP, note=str(error)) from error
        except RuntimeError as error:  # zipfile's word for an encrypted entry
            raise SubmissionError(
                "The zip is password-protected: zip the notebook without a "
                "password (or hand in the .ipynb itself) and resubmit.",
                note=str(error),
            ) from error
        except NotImplementedError as error:
            raise SubmissionError(
                "The zip uses a compression the grader cannot read: create it "
                "again with a standard zip tool (or hand in the .ipynb itself).",
                note=str(error),
            ) from error

    return read


def _read_capped(stream: IO[bytes], limit: int, budget: _ZipBudget | None) -> bytes:
    """Read at most `limit` bytes, counting them against a zip's budget.

    Python's zipfile already stops at an entry's declared size and then fails
    its checksum; the budget counts the bytes really read all the same, so that
    a lying header cannot expand a zip past its limit whatever the reader does.
    """
    chunks: list[bytes] = []
    total = 0
    while chunk := stream.read(_CHUNK):
        total += len(chunk)
        if budget is not None:
            budget.remaining -= len(chunk)
            if budget.remaining < 0:
                raise SubmissionError(_zip_too_large(budget.limit))
        if total > limit:
            raise SubmissionError(_too_large(limit))
        chunks.append(chunk)
    return b"".join(chunks)


def _read_submission(
    chosen: _Chosen, student_id: str, settings: KitSettings
) -> Submission:
    found = chosen.found
    notes = list(chosen.notes)
    if student_id != found.raw_id:
        notes.append(f"student id {found.raw_id!r} is written as {student_id!r}")

    data = b""
    problem = found.problem
    notebook_json: str | None = None
    try:
        data = found.read()
        if problem is None:
            notebook_json = read_notebook(data, notes)
    except SubmissionError as error:
        problem = error.student_message
        if error.note:
            notes.append(error.note)
    logger.debug(
        "intake: %s -> %s (%s)", found.source_file, student_id, problem or "ok"
    )
    return Submission(
        student_id=student_id,
        source_file=found.source_file,
        sha256=_sha256(found, data),
        notebook_json=notebook_json if problem is None else None,
        problem=problem,
        notes=notes,
    )


def _sha256(found: _Found, data: bytes) -> str:
    """Of the bytes handed in: the file, the zip entry or the unusable zip."""
    if found.unusable_zip is None:
        return hashlib.sha256(data).hexdigest()
    with found.unusable_zip.open("rb") as stream:
        return hashlib.file_digest(stream, "sha256").hexdigest()


# -- from bytes to a valid nbformat 4 notebook ----------------------------------------


def read_notebook(data: bytes, notes: list[str]) -> str:
    """The notebook in `data` as valid nbformat 4 JSON; fixes are added to `notes`.

    Raises `SubmissionError` with the reason when `data` is no usable notebook.
    """
    if not data.strip():
        raise SubmissionError(f"The file is empty: {_DOWNLOAD_AGAIN}.")
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
        notes.append("a UTF-8 byte-order mark at the start of the file was removed")

    text = _decode(data)
    content = _parse_json(text)
    notebook = _upgrade(content, notes)
    _fix_cell_ids(notebook, notes)
    try:
        nbformat.validate(notebook)
    except nbformat.ValidationError as first_error:
        _salvage(notebook, notes, first_error.message)
        try:
            nbformat.validate(notebook)
        except nbformat.ValidationError as error:
            raise SubmissionError(
                f"The notebook's structure is damaged: {_SAVE_AND_DOWNLOAD}.",
                note=f"nbformat validation: {error.message}",
            ) from error
    written: str = nbformat.writes(notebook)
    return written


def _salvage(notebook: nbformat.NotebookNode, notes: list[str], problem: str) -> None:
    """Drop what grading never reads (metadata, outputs) where it breaks the format.

    Editors write notebook metadata of their own, sometimes invalid; the answers
    live in the cells' sources, which are kept.
    """
    notebook.metadata = {
        key: value
        for key, value in notebook.get("metadata", {}).items()
        if key not in ("kernelspec", "language_info")
    }
    for cell in notebook.get("cells", []):
        cell.setdefault("metadata", {})
        if cell.get("cell_type") == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
        else:
            cell.pop("outputs", None)
            cell.pop("execution_count", None)
    notes.append(f"invalid notebook metadata or outputs were dropped ({problem})")


def _decode(data: bytes) -> str:
    for signature, kind in _SIGNATURES:
        if data.startswith(signature):
            raise SubmissionError(_not_a_notebook(kind))
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise SubmissionError(
            f"The file is not a notebook saved as text (it is not UTF-8): "
            f"{_DOWNLOAD_AGAIN}.",
            note=str(error),
        ) from error


def _parse_json(text: str) -> dict[str, Any]:
    opening = text.lstrip()[:15].lower()
    if opening.startswith(("<!doctype html", "<html")):
        raise SubmissionError(_not_a_notebook("a web page (HTML)"))
    try:
        content = json.loads(text)
    except json.JSONDecodeError as error:
        if not opening.startswith("{"):
            raise SubmissionError(_not_a_notebook("plain text")) from error
        raise SubmissionError(
            f"The notebook file is damaged (it breaks off or is not valid JSON "
            f"at line {error.lineno}, column {error.colno}): {_SAVE_AND_DOWNLOAD}.",
            note=str(error),
        ) from error
    if not isinstance(content, dict) or "nbformat" not in content:
        raise SubmissionError(_not_a_notebook("JSON data"))
    return content


def _upgrade(content: dict[str, Any], notes: list[str]) -> Any:
    """An nbformat 4 notebook node; format 3 is converted and noted."""
    version = content.get("nbformat")
    if version not in (3, 4):
        raise SubmissionError(
            f"The notebook is in format {version!r}, which the grader does not "
            f"read (it reads 3 and 4): {_SAVE_AND_DOWNLOAD}."
        )
    try:
        notebook = nbformat.versions[version].to_notebook_json(content)
        if version == 3:
            notebook = nbformat.convert(notebook, 4)
    except Exception as error:  # nbformat raises whatever the damage provokes
        raise SubmissionError(
            f"The notebook's structure is damaged: {_SAVE_AND_DOWNLOAD}.",
            note=f"nbformat {version} could not be read: {error!r}",
        ) from error
    if version == 3:
        notes.append("the notebook was in the old format 3 and was converted to 4")
    return notebook


def _fix_cell_ids(notebook: Any, notes: list[str]) -> None:
    """Give every cell a valid, unique id where the format asks for ids (4.5+)."""
    cells = notebook.get("cells")
    if notebook.get("nbformat_minor", 0) < 5 or not isinstance(cells, list):
        return
    cells = [cell for cell in cells if isinstance(cell, dict)]
    taken = {cell.get("id") for cell in cells}
    kept: set[str] = set()
    renewed = 0
    for index, cell in enumerate(cells):
        cell_id = cell.get("id")
        if isinstance(cell_id, str) and _CELL_ID.match(cell_id) and cell_id not in kept:
            kept.add(cell_id)
            continue
        cell["id"] = _fresh_id(index, taken)
        taken.add(cell["id"])
        kept.add(cell["id"])
        renewed += 1
    if renewed:
        notes.append(f"{renewed} missing, invalid or duplicated cell ids were renewed")


def _fresh_id(index: int, taken: set[Any]) -> str:
    candidate = f"cell-{index}"
    suffix = 0
    while candidate in taken:
        suffix += 1
        candidate = f"cell-{index}-{suffix}"
    return candidate


def _not_a_notebook(kind: str) -> str:
    return (
        f"The file is {kind}, not a Jupyter notebook: {_DOWNLOAD_AGAIN} "
        f"(the file name must end in .ipynb)."
    )


def _too_large(limit: int) -> str:
    return (
        f"The notebook is larger than {_size(limit)}: clear all outputs "
        f"(Edit > Clear All Outputs), save, {_DOWNLOAD_AGAIN}."
    )


def _size(count: int) -> str:
    return f"{count / 1024 / 1024:.0f} MB" if count >= 1024 * 1024 else f"{count} bytes"
