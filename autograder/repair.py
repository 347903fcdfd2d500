"""Repair: put a handed-in notebook back into the release's shape.

Students' editors lose metadata, students delete, copy, move and retype cells.
`repair` matches every handed-in cell to a release cell, rebuilds the notebook in
release order with the release's locked and test cells and the student's own
answers, and records in `Health` how far the notebook had drifted.
"""

from __future__ import annotations

import copy
import difflib
import json
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import nbformat
from nbformat import NotebookNode

from autograder.errors import SubmissionError
from autograder.model import Health, RepairedNotebook

logger = logging.getLogger(__name__)

#: difflib ratio from which a cell whose metadata is gone counts as a release cell.
SIMILAR_ENOUGH = 0.6
_CELL_ID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


@dataclass(frozen=True)
class _ReleaseCell:
    index: int
    cell: NotebookNode
    grade_id: str | None
    is_answer: bool  # the student's source is kept; everything else is restored
    text: str  # normalised source, for matching


@dataclass
class _StudentCell:
    index: int
    cell: NotebookNode
    grade_id: str | None
    text: str
    match: int | None = None  # index of the release cell it stands for
    by_content: bool = False


@dataclass
class _Rebuild:
    """The repaired cells and the health notes gathered while placing them."""

    cells: list[NotebookNode] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)
    retyped: list[str] = field(default_factory=list)
    restored: list[str] = field(default_factory=list)
    extra_cells: int = 0


def repair(notebook_json: str, release: NotebookNode) -> RepairedNotebook:
    """The handed-in notebook in the release's shape, and how it had drifted.

    Steps: match cells by grade id, then by content (exact, then similar, then by
    their place between matched cells); rebuild in release order, restoring
    locked and test cells and keeping the student's answers and extra cells.
    Outputs are cleared: the run step makes its own.
    """
    released = [_release_cell(index, cell) for index, cell in enumerate(release.cells)]
    handed_in = [
        _student_cell(index, cell) for index, cell in enumerate(_cells(notebook_json))
    ]

    _match_by_grade_id(handed_in, released)
    _match_by_content(handed_in, released)

    rebuild = _rebuild(handed_in, released)
    repaired = _notebook_like(release, rebuild.cells)
    health = Health(
        missing=rebuild.missing,
        duplicated=rebuild.duplicated,
        retyped=rebuild.retyped,
        restored=rebuild.restored,
        matched_by_content=_matched_by_content(handed_in, released),
        extra_cells=rebuild.extra_cells,
    )
    logger.debug("repair: %s", health)
    return RepairedNotebook(notebook_json=_written(repaired), health=health)


# -- reading both notebooks -----------------------------------------------------------


def _cells(notebook_json: str) -> list[NotebookNode]:
    try:
        content = json.loads(notebook_json)
        notebook = nbformat.versions[4].to_notebook_json(content)
        cells = [cell for cell in notebook.cells if "cell_type" in cell]
    except (ValueError, AttributeError, KeyError, TypeError) as error:
        raise SubmissionError(
            "The notebook could not be read: open it in Jupyter or Colab, save it, "
            "download it again with File > Download > .ipynb and resubmit.",
            note=f"repair could not parse the notebook: {error!r}",
        ) from error
    return cells


def _grade_id(cell: NotebookNode) -> str | None:
    nbgrader = cell.get("metadata", {}).get("nbgrader", {})
    grade_id = nbgrader.get("grade_id") if isinstance(nbgrader, dict) else None
    return grade_id if isinstance(grade_id, str) and grade_id else None


def _normalised(source: str) -> str:
    return " ".join(source.split()).casefold()


def _release_cell(index: int, cell: NotebookNode) -> _ReleaseCell:
    """A release cell; solution cells and ungraded code cells are the student's.

    Ungraded code cells (experiments to try) are neither locked nor tested, so
    the student's version is kept, as nbgrader would keep it.
    """
    nbgrader = cell.get("metadata", {}).get("nbgrader")
    if isinstance(nbgrader, dict):
        is_answer = bool(nbgrader.get("solution", False))
    else:
        is_answer = cell.cell_type == "code"
    return _ReleaseCell(
        index=index,
        cell=cell,
        grade_id=_grade_id(cell),
        is_answer=is_answer,
        text=_normalised(cell.source),
    )


def _student_cell(index: int, cell: NotebookNode) -> _StudentCell:
    source = cell.get("source", "")
    return _StudentCell(
        index=index,
        cell=cell,
        grade_id=_grade_id(cell),
        text=_normalised(source if isinstance(source, str) else ""),
    )


# -- matching ---------------------------------------------------------------------


def _match_by_grade_id(
    handed_in: Sequence[_StudentCell], released: Sequence[_ReleaseCell]
) -> None:
    by_grade_id = {cell.grade_id: cell.index for cell in released if cell.grade_id}
    for student in handed_in:
        student.match = by_grade_id.get(student.grade_id or "")


def _match_by_content(
    handed_in: Sequence[_StudentCell], released: Sequence[_ReleaseCell]
) -> None:
    """Match the cells without a known grade id, surest evidence first.

    Steps: the same text anywhere; similar text among the release cells between
    the matched cells around it; an answer cell's place between matched cells;
    last, similar text anywhere, for a release cell that nothing matched yet.
    """
    _match_each(handed_in, released, _same_text)
    _match_each(handed_in, released, _similar_nearby)
    _match_answers_by_place(handed_in, released)
    _match_each(handed_in, released, _similar_anywhere)


@dataclass(frozen=True)
class _Place:
    """Where an unmatched cell stands, by the release cells of its neighbours."""

    matched: set[int]  # release cells matched so far
    above: int  # release index of the nearest matched cell above; -1: none
    below: int  # release index of the nearest matched cell below; len: none

    def distance(self, index: int) -> int:
        return abs(index - (self.above + 1))

    def around(self, index: int) -> bool:
        return self.above > self.below or self.above <= index <= self.below


_Finder = Callable[[_StudentCell, Sequence[_ReleaseCell], _Place], int | None]


def _match_each(
    handed_in: Sequence[_StudentCell], released: Sequence[_ReleaseCell], find: _Finder
) -> None:
    matched = {student.match for student in handed_in if student.match is not None}
    above = -1
    for position, student in enumerate(handed_in):
        if student.match is None and student.text:
            below = next(
                (s.match for s in handed_in[position + 1 :] if s.match is not None),
                len(released),
            )
            found = find(student, released, _Place(matched, above, below))
            if found is not None:
                student.match, student.by_content = found, True
                matched.add(found)
        if student.match is not None:
            above = student.match


def _same_text(
    student: _StudentCell, released: Sequence[_ReleaseCell], place: _Place
) -> int | None:
    """The release cell with the same text; among identical ones (code stubs),
    one not matched yet, then the nearest."""
    same = [cell.index for cell in released if cell.text == student.text]
    if not same:
        return None
    return min(same, key=lambda index: (index in place.matched, place.distance(index)))


def _similar_nearby(
    student: _StudentCell, released: Sequence[_ReleaseCell], place: _Place
) -> int | None:
    """The most similar release cell between the neighbours' release cells.

    One not matched yet is preferred; a matched one makes this a duplicate.
    """
    nearby = [cell for cell in released if place.around(cell.index)]
    scored = [
        (
            cell.index not in place.matched,
            score,
            -place.distance(cell.index),
            cell.index,
        )
        for cell, score in _similarities(student, nearby)
    ]
    return max(scored)[-1] if scored else None


def _similar_anywhere(
    student: _StudentCell, released: Sequence[_ReleaseCell], place: _Place
) -> int | None:
    """The most similar release cell that nothing matched, wherever it stands."""
    free = [cell for cell in released if cell.index not in place.matched]
    scored = [
        (score, -place.distance(cell.index), cell.index)
        for cell, score in _similarities(student, free)
    ]
    return max(scored)[-1] if scored else None


def _similarities(
    student: _StudentCell, released: Sequence[_ReleaseCell]
) -> list[tuple[_ReleaseCell, float]]:
    """Release cells at least `SIMILAR_ENOUGH` alike, with their rounded ratio."""
    similar = []
    matcher = difflib.SequenceMatcher(autojunk=False)
    matcher.set_seq2(student.text)
    for cell in released:
        matcher.set_seq1(cell.text)
        if (
            matcher.real_quick_ratio() >= SIMILAR_ENOUGH
            and matcher.quick_ratio() >= SIMILAR_ENOUGH
            and (score := matcher.ratio()) >= SIMILAR_ENOUGH
        ):
            similar.append((cell, round(score, 2)))
    return similar


def _match_answers_by_place(
    handed_in: Sequence[_StudentCell], released: Sequence[_ReleaseCell]
) -> None:
    """An answer cell still unmatched, or left as the stub, takes the student's
    cell that stands in its place.

    Its place is between the handed-in cells matched to the release cells around
    it. A cell of the release's type is preferred, the first one wins. Beside an
    untouched stub (the student wrote in a new cell below it) only a cell of the
    release's type counts, and only for graded answers, not ungraded experiments.
    """
    for answer in released:
        stubs = [s for s in handed_in if s.match == answer.index]
        worked_on = any(stub.text != answer.text for stub in stubs)
        if not answer.is_answer or worked_on or (stubs and answer.grade_id is None):
            continue
        between = _unmatched_between(handed_in, answer.index)
        same_type = [s for s in between if s.cell.cell_type == answer.cell.cell_type]
        candidates = same_type if stubs else same_type or between
        if candidates:
            candidates[0].match, candidates[0].by_content = answer.index, True


def _unmatched_between(
    handed_in: Sequence[_StudentCell], release_index: int
) -> list[_StudentCell]:
    """Unmatched, non-empty cells between the matched cells around a release cell."""
    above = [
        s.index for s in handed_in if s.match is not None and s.match < release_index
    ]
    below = [
        s.index for s in handed_in if s.match is not None and s.match > release_index
    ]
    low, high = max(above, default=-1), min(below, default=len(handed_in))
    return [s for s in handed_in[low + 1 : high] if s.match is None and s.text]


def _matched_by_content(
    handed_in: Sequence[_StudentCell], released: Sequence[_ReleaseCell]
) -> list[str]:
    grade_ids = {
        released[student.match].grade_id
        for student in handed_in
        if student.by_content and student.match is not None
    }
    return [
        cell.grade_id
        for cell in released
        if cell.grade_id in grade_ids and cell.grade_id
    ]


# -- rebuilding in release order ------------------------------------------------------


def _rebuild(
    handed_in: Sequence[_StudentCell], released: Sequence[_ReleaseCell]
) -> _Rebuild:
    """Release cells in release order, each followed by the extras that followed it."""
    rebuild = _Rebuild()
    extras_after = _extras_by_place(handed_in)
    rebuild.cells.extend(
        _as_extra(student.cell) for student in extras_after.get(-1, [])
    )
    rebuild.extra_cells += len(extras_after.get(-1, []))

    for release_cell in released:
        matches = [
            student for student in handed_in if student.match == release_cell.index
        ]
        rebuild.cells.append(_place(release_cell, matches, rebuild))
        extras = extras_after.get(release_cell.index, [])
        rebuild.cells.extend(_as_extra(student.cell) for student in extras)
        rebuild.extra_cells += len(extras)
    return rebuild


def _extras_by_place(
    handed_in: Sequence[_StudentCell],
) -> dict[int, list[_StudentCell]]:
    """Unmatched, non-empty cells by the release cell they followed (-1: none)."""
    extras: dict[int, list[_StudentCell]] = {}
    follows = -1
    for student in handed_in:
        if student.match is not None:
            follows = student.match
        elif student.text:
            extras.setdefault(follows, []).append(student)
    return extras


def _place(
    release_cell: _ReleaseCell, matches: Sequence[_StudentCell], rebuild: _Rebuild
) -> NotebookNode:
    """The cell that stands for `release_cell`, noting what was wrong with it."""
    label = release_cell.grade_id
    wanted_type = release_cell.cell.cell_type
    if label is not None:
        if not matches:
            rebuild.missing.append(label)
        if len(matches) > 1:
            rebuild.duplicated.append(label)
        if any(student.cell.cell_type != wanted_type for student in matches):
            rebuild.retyped.append(label)

    if release_cell.is_answer and matches:
        kept = _most_worked_on(release_cell, matches)
        return _answer(release_cell, kept.cell.source)

    if label is not None and _needs_restoring(release_cell, matches):
        rebuild.restored.append(label)
    return _fresh_copy(release_cell.cell)


def _most_worked_on(
    release_cell: _ReleaseCell, matches: Sequence[_StudentCell]
) -> _StudentCell:
    """The last copy that differs from the release's stub, else the last copy."""
    worked = [student for student in matches if student.text != release_cell.text]
    return (worked or list(matches))[-1]


def _needs_restoring(
    release_cell: _ReleaseCell, matches: Sequence[_StudentCell]
) -> bool:
    if len(matches) != 1:
        return True
    student = matches[0].cell
    return bool(
        student.cell_type != release_cell.cell.cell_type
        or student.source != release_cell.cell.source
    )


def _answer(release_cell: _ReleaseCell, source: str) -> NotebookNode:
    """The release's answer cell (type, metadata, id) holding the student's source."""
    cell = _fresh_copy(release_cell.cell)
    cell.source = source
    return cell


def _fresh_copy(cell: NotebookNode) -> NotebookNode:
    fresh: NotebookNode = copy.deepcopy(cell)
    if fresh.cell_type == "code":
        fresh.outputs = []
        fresh.execution_count = None
    return fresh


def _as_extra(cell: NotebookNode) -> NotebookNode:
    """The student's own cell, without outputs, id or stale nbgrader metadata.

    The id goes so that the release's cells keep theirs: an extra cell copied
    from a release cell carries the same id.
    """
    extra = _fresh_copy(cell)
    extra.pop("id", None)
    extra.get("metadata", {}).pop("nbgrader", None)
    return extra


def _notebook_like(release: NotebookNode, cells: list[NotebookNode]) -> NotebookNode:
    notebook: NotebookNode = copy.deepcopy(release)
    notebook.cells = cells
    if notebook.nbformat_minor >= 5:
        _unique_ids(cells)
    else:
        for cell in cells:
            cell.pop("id", None)
    return notebook


def _unique_ids(cells: Sequence[NotebookNode]) -> None:
    """Keep every valid id the first time it is seen; give the other cells new ones."""
    taken = {cell.get("id") for cell in cells}
    seen: set[str] = set()
    for index, cell in enumerate(cells):
        cell_id = cell.get("id")
        if isinstance(cell_id, str) and _CELL_ID.match(cell_id) and cell_id not in seen:
            seen.add(cell_id)
            continue
        cell_id = f"extra-{index}"
        while cell_id in taken or cell_id in seen:
            cell_id += "-x"
        cell["id"] = cell_id
        seen.add(cell_id)


def _written(notebook: NotebookNode) -> str:
    try:
        nbformat.validate(notebook)
    except nbformat.ValidationError as error:
        raise SubmissionError(
            "The notebook's cells are damaged: open it in Jupyter or Colab, save it, "
            "download it again with File > Download > .ipynb and resubmit.",
            note=f"the repaired notebook does not validate: {error.message}",
        ) from error
    text: str = nbformat.writes(notebook)
    return text
