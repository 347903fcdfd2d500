"""The corpus: one `HostileCase` per way a submission can break or attack."""

from __future__ import annotations

import io
import json
import os
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from autograder.config import PROJECT_ROOT
from autograder.model import (
    HARD_CODING_MARK,
    Evidence,
    RunOutcome,
    SubmissionResult,
    SubmissionStatus,
)
from tests.submissions import REFERENCE, CorpusSubmission, fill_release

#: Students who do everything right; their results must not notice the corpus.
GOOD_STUDENTS = ("good_a", "good_b")
#: Printed by a hostile notebook when it got at something it must not reach.
LEAK = "LEAKED"


@dataclass(frozen=True)
class Batch:
    """What a case may need to know about the batch it runs in."""

    classroom: Path  # the class folder the submissions are handed in to
    out: Path  # the grader's output folder
    outside: Path  # a folder outside both, where no notebook may write
    secret: str  # the value of a secret in the grader's environment


Check = Callable[[SubmissionResult, Evidence | None, Batch], str]


@dataclass(frozen=True)
class HostileCase:
    """One submission and what its result must show."""

    name: str  # the student id, from the file name
    topic: str
    write: Callable[[Path, Batch], None]  # puts the submission in the class folder
    status: SubmissionStatus = "graded"
    outcome: RunOutcome | None = "completed"  # None when nothing runs
    says: str = ""  # in the student's reason, the notes or the run's detail
    check: Check | None = None  # "" when the case's own question is answered
    needs_sandbox: bool = False  # too dangerous to run without one


def write_class(folder: Path, batch: Batch, cases: list[HostileCase]) -> None:
    """The good students and every case's submission, in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    for student in GOOD_STUDENTS:
        (folder / f"{student}.ipynb").write_text(notebook(), encoding="utf-8")
    for case in cases:
        case.write(folder, batch)


def problems(
    case: HostileCase,
    result: SubmissionResult | None,
    evidence: Evidence | None,
    batch: Batch,
) -> list[str]:
    """What in a case's result does not fit what happened; empty when all does."""
    if result is None:
        return ["no result"]
    found = []
    if result.status != case.status:
        found.append(f"status {result.status}, expected {case.status}")
    if case.outcome is not None:
        outcome = evidence.outcome if evidence is not None else None
        if outcome != case.outcome:
            found.append(f"run {outcome}, expected {case.outcome}")
    said = " ".join([result.reason, *result.notes])
    said += evidence.outcome_detail if evidence is not None else ""
    if case.says.lower() not in said.lower():
        found.append(f"{case.says!r} not in {said[:300]!r}")
    if case.check is not None and (problem := case.check(result, evidence, batch)):
        found.append(problem)
    return found


# -- building submissions ----------------------------------------------------------


def notebook(answers: dict[str, str] | None = None) -> str:
    """The release filled with the reference answers, some replaced."""
    return fill_release(CorpusSubmission("hostile", answers or {}))


def _code_case(
    name: str,
    topic: str,
    code: str | Callable[[Batch], str],
    *,
    cell: str = "step2_counts",
    keep_reference: bool = True,
    **expected: object,
) -> HostileCase:
    """A notebook whose `cell` holds `code`, then (if kept) the reference answer."""

    def write(folder: Path, batch: Batch) -> None:
        source = code(batch) if callable(code) else code
        answer = source + ("\n" + REFERENCE[cell] if keep_reference else "")
        text = notebook({cell: answer})
        (folder / f"{name}.ipynb").write_text(text, encoding="utf-8")

    return HostileCase(name, topic, write, **expected)  # type: ignore[arg-type]


def _file_case(
    name: str, topic: str, content: bytes | Callable[[], bytes], **expected: object
) -> HostileCase:
    def write(folder: Path, batch: Batch) -> None:
        data = content() if callable(content) else content
        (folder / f"{name}.ipynb").write_bytes(data)

    return HostileCase(name, topic, write, **expected)  # type: ignore[arg-type]


def _edited(edit: Callable[[dict[str, object]], None]) -> Callable[[], bytes]:
    def content() -> bytes:
        document = json.loads(notebook())
        edit(document)
        return json.dumps(document).encode()

    return content


def _cells(document: dict[str, object]) -> list[dict[str, object]]:
    cells = document["cells"]
    assert isinstance(cells, list)
    return cells


def _grade_id(cell: dict[str, object]) -> object:
    metadata = cell.get("metadata")
    nbgrader = metadata.get("nbgrader", {}) if isinstance(metadata, dict) else {}
    return nbgrader.get("grade_id") if isinstance(nbgrader, dict) else None


def _set_cell(grade_id: str, **changes: object) -> Callable[[dict[str, object]], None]:
    def edit(document: dict[str, object]) -> None:
        for cell in _cells(document):
            if _grade_id(cell) == grade_id:
                cell.update(changes)

    return edit


def _delete_cell(grade_id: str) -> Callable[[dict[str, object]], None]:
    def edit(document: dict[str, object]) -> None:
        document["cells"] = [c for c in _cells(document) if _grade_id(c) != grade_id]

    return edit


def _strip_metadata(document: dict[str, object]) -> None:
    document["metadata"] = {}
    for cell in _cells(document):
        cell["metadata"] = {}


def _duplicate_ids(document: dict[str, object]) -> None:
    document["nbformat_minor"] = 5
    for cell in _cells(document):
        cell["id"] = "same-id"


def _zip_of(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _zip_case(
    name: str, members: Callable[[], dict[str, bytes]], **expected: object
) -> HostileCase:
    def write(folder: Path, batch: Batch) -> None:
        (folder / f"{name}.zip").write_bytes(_zip_of(members()))

    return HostileCase(name, "intake", write, **expected)  # type: ignore[arg-type]


def _two_files(folder: Path, batch: Batch) -> None:
    student = folder / "two_files"
    student.mkdir()
    (student / "draft.ipynb").write_text(notebook({"step2_counts": "x ="}))
    (student / "final.ipynb").write_text(notebook())
    older = (student / "final.ipynb").stat().st_mtime - 60
    os.utime(student / "draft.ipynb", (older, older))


def _named(file_name: str) -> Callable[[Path, Batch], None]:
    def write(folder: Path, batch: Batch) -> None:
        (folder / file_name).write_text(notebook(), encoding="utf-8")

    return write


# -- questions some cases need answered ----------------------------------------------


def _cell(evidence: Evidence | None, grade_id: str) -> str:
    """What the cell printed and the error it ended with, as one text."""
    if evidence is None:
        return ""
    for cell in evidence.cells:
        if cell.grade_id == grade_id:
            error = f"{cell.error.ename}: {cell.error.evalue}" if cell.error else ""
            return cell.stdout + cell.stderr + error
    return ""


def _points(check_id: str, result: SubmissionResult) -> float:
    return next(check.points for check in result.checks if check.id == check_id)


def printed(words: str) -> Check:
    """The counting cell printed (or raised) `words`."""

    def check(result: SubmissionResult, evidence: Evidence | None, b: Batch) -> str:
        text = _cell(evidence, "step2_counts")
        return "" if words in text else f"{words!r} not in the cell: {text[:300]!r}"

    return check


def nothing_leaked(
    result: SubmissionResult, evidence: Evidence | None, b: Batch
) -> str:
    text = _cell(evidence, "step2_counts")
    if LEAK in text:
        return f"the notebook reached what it must not: {text[:400]!r}"
    if "checked" not in text:
        return f"the notebook's probe did not finish: {text[:400]!r}"
    return ""


def wrote_nothing_outside(
    result: SubmissionResult, evidence: Evidence | None, batch: Batch
) -> str:
    planted = [
        path
        for path in (
            batch.out / "planted.txt",
            batch.outside / "planted.txt",
            PROJECT_ROOT / "planted.txt",
        )
        if path.exists()
    ]
    return (
        f"files written outside: {planted}"
        if planted
        else nothing_leaked(result, evidence, batch)
    )


def no_counts_credit(
    result: SubmissionResult, evidence: Evidence | None, b: Batch
) -> str:
    points = _points("counts", result)
    return f"counts earned {points} points" if points else ""


def hard_coding_flagged(
    result: SubmissionResult, evidence: Evidence | None, b: Batch
) -> str:
    counts = next(check for check in result.checks if check.id == "counts")
    if counts.points or HARD_CODING_MARK not in counts.note:
        return f"counts not flagged as hard-coded: {counts.points} {counts.note!r}"
    return ""


def no_grid_credit(
    result: SubmissionResult, evidence: Evidence | None, b: Batch
) -> str:
    points = _points("grid", result)
    return f"grid earned {points} points" if points else ""


def full_counts_credit(
    result: SubmissionResult, evidence: Evidence | None, b: Batch
) -> str:
    counts = next(check for check in result.checks if check.id == "counts")
    return "" if counts.status == "passed" else f"counts {counts.status}"


def restored(grade_id: str) -> Check:
    def check(result: SubmissionResult, evidence: Evidence | None, b: Batch) -> str:
        if grade_id not in result.health.restored:
            return f"{grade_id} not restored: {result.health}"
        return full_counts_credit(result, evidence, b)

    return check


def health_shows(field_name: str) -> Check:
    def check(result: SubmissionResult, evidence: Evidence | None, b: Batch) -> str:
        return "" if getattr(result.health, field_name) else f"no {field_name} noted"

    return check


def no_secret(result: SubmissionResult, evidence: Evidence | None, batch: Batch) -> str:
    text = _cell(evidence, "step2_counts")
    if batch.secret in text or "GRADER_TOKEN" in text:
        return "the grader's secret reached the notebook"
    return "" if "HOME" in text else f"the environment was not printed: {text[:200]!r}"


def small_picture(result: SubmissionResult, evidence: Evidence | None, b: Batch) -> str:
    if evidence is None:
        return "no evidence"
    largest = max((len(f.png_base64 or "") for f in evidence.figures), default=0)
    return f"a picture of {largest} characters was kept" if largest > 2**20 else ""


# -- the hostile code ------------------------------------------------------------------

_READ_OUTSIDE = """\
import os
from pathlib import Path
own = {{Path.cwd().name, ".pyenv"}}  # its own folder; Python, where it lives
for path in [{out!r} + "/grades.csv", {out!r} + "/results", {source!r},
             str(Path.cwd().parent), "/root", "/proc/1/environ"]:
    try:
        if os.path.isdir(path):
            found = [name for name in os.listdir(path) if name not in own]
            if found:
                print("{leak}", path, found[:3])
        else:
            with open(path, "rb") as stream:
                print("{leak}", path, len(stream.read()))
    except OSError as error:
        print("refused", path, type(error).__name__)
print("checked")
"""

_WRITE_OUTSIDE = """\
import os
for path in [{out!r} + "/planted.txt", {out!r} + "/results/good_a.json",
             {outside!r} + "/planted.txt", {project!r} + "/planted.txt"]:
    try:
        with open(path, "w") as stream:
            stream.write("planted")
        print("{leak}", path)
    except OSError as error:
        print("refused", path, type(error).__name__)
print("checked")
"""

_SNOOP_MEMORY = """\
import gc, sys
others = set()
def note(value):
    kind = type(value).__name__
    if kind in ("Submission", "SubmissionResult", "RunJob", "Evidence"):
        others.add(getattr(value, "student_id", getattr(value, "key", kind)))
for value in gc.get_objects():
    note(value)
frame = sys._getframe()
while frame is not None:
    for value in list(frame.f_locals.values()):
        note(value)
    frame = frame.f_back
others.discard("snoops_memory")  # its own job is its own
if others:
    print("{leak}", sorted(map(str, others))[:5])
print("checked")
"""

_FLOOD_CHANNEL = """\
import os
for fd in os.listdir("/proc/self/fd"):
    try:
        if os.readlink("/proc/self/fd/" + fd).startswith("pipe:"):
            for _ in range(200):
                os.write(int(fd), b"\\xff" * 2**20)
    except OSError:
        pass
"""

_FORK_BOMB = """\
import os
while True:
    try:
        os.fork()
    except OSError:
        pass
"""

_HUGE_PICTURE = """\
from IPython.display import Image, display
display(Image(data=os.urandom(50 * 2**20), format="png"))
noise = np.random.default_rng(0).integers(0, 255, (2000, 2000, 3), dtype=np.uint8)
fig = plt.figure(figsize=(40, 40))
plt.imshow(noise)
plt.show()
"""


def _formatted(template: str) -> Callable[[Batch], str]:
    def code(batch: Batch) -> str:
        return template.format(
            out=str(batch.out),
            outside=str(batch.outside),
            source=str(PROJECT_ROOT / "source"),
            project=str(PROJECT_ROOT),
            leak=LEAK,
        )

    return code


def _huge_zip() -> dict[str, bytes]:
    return {"huge.ipynb": b" " * (64 * 2**20)}


CASES: list[HostileCase] = [
    # stalls
    _code_case(
        "infinite_loop",
        "stalls",
        "while True:\n    pass",
        outcome="timeout",
        says="limit",
    ),
    _code_case(
        "sleeps",
        "stalls",
        "import time\ntime.sleep(600)",
        outcome="timeout",
        says="limit",
    ),
    _code_case(
        "waits_for_input",
        "stalls",
        "name = input('your name? ')",
        check=printed("EOFError"),
    ),
    # resources
    _code_case(
        "memory_growth",
        "resources",
        "hoard = []\nwhile True:\n    hoard.append(bytearray(50 * 2**20))",
        outcome="memory",
        says="MiB of memory",
    ),
    _code_case(
        "fork_bomb",
        "resources",
        _FORK_BOMB,
        outcome="timeout",
        says="limit",
        needs_sandbox=True,
    ),
    _code_case(
        "huge_file",
        "resources",
        "with open('big.bin', 'wb') as f:\n"
        "    for _ in range(300):\n        f.write(bytes(2**20))",
        check=printed("OSError"),
    ),
    _code_case(
        "prints_a_gigabyte",
        "resources",
        "for _ in range(1024):\n    print('x' * 2**20)",
        outcome="output_limit",
        says="bytes of output",
    ),
    _code_case(
        "huge_picture", "resources", "import os\n" + _HUGE_PICTURE, check=small_picture
    ),
    _code_case(
        "floods_the_channel",
        "resources",
        _FLOOD_CHANNEL,
        outcome="output_limit",
        says="MiB",
    ),
    # exits and crashes
    _code_case(
        "sys_exit", "exits", "import sys\nsys.exit(0)", check=printed("SystemExit")
    ),
    _code_case(
        "raises_system_exit",
        "exits",
        "raise SystemExit(3)",
        check=printed("SystemExit"),
    ),
    _code_case(
        "os_exit",
        "exits",
        "import os\nos._exit(0)",
        outcome="crashed",
        says="exited with status 0",
    ),
    _code_case(
        "segfault",
        "exits",
        "import ctypes\nctypes.string_at(0)",
        outcome="crashed",
        says="SIGSEGV",
    ),
    _code_case(
        "keyboard_interrupt",
        "exits",
        "raise KeyboardInterrupt",
        check=printed("KeyboardInterrupt"),
    ),
    _code_case(
        "kills_itself",
        "exits",
        "import os\nos.kill(os.getpid(), 9)",
        outcome="crashed",
        says="SIGKILL",
    ),
    _code_case(
        "kills_its_group",
        "exits",
        "import os\nos.killpg(0, 9)",
        outcome="crashed",
        says="SIGKILL",
    ),
    _code_case(
        "kills_the_grader",
        "exits",
        "import os\ntry:\n    os.kill(os.getppid(), 9)\n"
        "except OSError as error:\n    print('refused', type(error).__name__)",
        check=printed("refused PermissionError"),
        needs_sandbox=True,
    ),
    _code_case(
        "kills_everyone",
        "exits",
        "import os\nos.kill(-1, 9)\nprint('alive')",
        check=printed("alive"),
        needs_sandbox=True,
    ),
    # damaged files
    _file_case(
        "invalid_json",
        "files",
        b'{"cells": [}',
        status="ungradable",
        outcome=None,
        says="not valid JSON",
    ),
    _file_case(
        "empty_file", "files", b"", status="ungradable", outcome=None, says="empty"
    ),
    _file_case(
        "truncated",
        "files",
        lambda: notebook().encode()[:5000],
        status="ungradable",
        outcome=None,
        says="breaks off",
    ),
    _file_case(
        "format_3",
        "files",
        lambda: json.dumps(
            {
                "nbformat": 3,
                "nbformat_minor": 0,
                "metadata": {},
                "worksheets": [
                    {
                        "cells": [
                            {
                                "cell_type": "code",
                                "input": REFERENCE["step2_counts"],
                                "outputs": [],
                                "language": "python",
                                "metadata": {},
                            }
                        ],
                        "metadata": {},
                    }
                ],
            }
        ).encode(),
        says="format 3",
    ),
    _file_case(
        "byte_order_mark",
        "files",
        lambda: b"\xef\xbb\xbf" + notebook().encode(),
        says="byte-order mark",
        check=full_counts_credit,
    ),
    _file_case(
        "invalid_utf8",
        "files",
        lambda: notebook().encode() + b"\xff\xfe",
        status="ungradable",
        outcome=None,
        says="not UTF-8",
    ),
    _file_case(
        "really_a_zip",
        "files",
        lambda: _zip_of({"a.ipynb": b"{}"}),
        status="ungradable",
        outcome=None,
        says="zip archive",
    ),
    _file_case(
        "really_an_image",
        "files",
        b"\x89PNG\r\n\x1a\n" + bytes(100),
        status="ungradable",
        outcome=None,
        says="PNG image",
    ),
    _file_case(
        "duplicated_cell_ids",
        "files",
        _edited(_duplicate_ids),
        says="cell ids were renewed",
        check=full_counts_credit,
    ),
    _file_case(
        "metadata_stripped",
        "files",
        _edited(_strip_metadata),
        check=health_shows("matched_by_content"),
    ),
    _file_case(
        "retyped_to_markdown",
        "files",
        _edited(_set_cell("step2_counts", cell_type="markdown")),
        check=health_shows("retyped"),
    ),
    _file_case(
        "setup_deleted",
        "files",
        _edited(_delete_cell("setup")),
        check=restored("setup"),
    ),
    # shortcuts
    _code_case(
        "hard_coded_counts",
        "shortcuts",
        "counts = [5000] * 10\nprint(counts)\n",
        keep_reference=False,
        check=hard_coding_flagged,
    ),
    _code_case(
        "prints_all_tests_passed",
        "shortcuts",
        "print('All tests passed')",
        keep_reference=False,
        check=no_counts_credit,
    ),
    _code_case(
        "redefines_bincount",
        "shortcuts",
        "np.bincount = lambda *args, **kwargs: np.array([5000] * 10)",
        check=hard_coding_flagged,
    ),
    _code_case(
        "redefines_builtins",
        "shortcuts",
        "import builtins\nbuiltins.len = lambda value: 10\n"
        "builtins.AssertionError = type('Quiet', (Exception,), {})\n"
        "counts = [1] * 10",
        keep_reference=False,
        check=no_counts_credit,
    ),
    _code_case(
        "fakes_the_grid",
        "shortcuts",
        "import matplotlib.axes\nmatplotlib.axes.Axes.imshow = "
        "lambda self, *a, **k: None\n",
        cell="step3_grid",
        check=no_grid_credit,
    ),
    _code_case(
        "replaces_y_train",
        "shortcuts",
        "y_train = np.repeat(np.arange(10), 5000).reshape(-1, 1)",
        check=no_counts_credit,
    ),
    _file_case(
        "edits_the_setup_cell",
        "shortcuts",
        _edited(_set_cell("setup", source="import numpy as np\ncounts = [5000] * 10")),
        check=restored("setup"),
    ),
    _file_case(
        "edits_a_test_cell",
        "shortcuts",
        _edited(_set_cell("step2_counts_test", source="pass")),
        check=restored("step2_counts_test"),
    ),
    # reaching out
    _code_case(
        "reads_outside",
        "reaching out",
        _formatted(_READ_OUTSIDE),
        check=nothing_leaked,
        needs_sandbox=True,
    ),
    _code_case(
        "writes_outside",
        "reaching out",
        _formatted(_WRITE_OUTSIDE),
        check=wrote_nothing_outside,
        needs_sandbox=True,
    ),
    _code_case(
        "snoops_memory", "reaching out", _formatted(_SNOOP_MEMORY), check=nothing_leaked
    ),
    _code_case(
        "opens_a_connection",
        "reaching out",
        "import socket\ntry:\n    socket.create_connection(('192.0.2.1', 80),"
        " timeout=5)\nexcept OSError as error:\n"
        "    print('refused', type(error).__name__)",
        check=printed("refused"),
    ),
    _code_case(
        "reads_secrets",
        "reaching out",
        "import os\nprint(sorted(os.environ))\nprint(os.environ)",
        check=no_secret,
    ),
    # intake
    _zip_case(
        "zip_slip",
        lambda: {"../../escape.ipynb": notebook().encode()},
        status="ungradable",
        outcome=None,
        says="leaves its folder",
    ),
    _zip_case(
        "zip_bomb",
        _huge_zip,
        status="ungradable",
        outcome=None,
        says="expands to more than",
    ),
    HostileCase(
        "two_files",
        "intake",
        _two_files,
        says="was replaced by the newer",
        check=full_counts_credit,
    ),
    HostileCase(
        "Ana_María_López",
        "intake",
        _named("Ana María López.ipynb"),
        says="is written as",
    ),
    HostileCase(
        "Zoë_Ångström", "intake", _named("Zoë Ångström.ipynb"), says="is written as"
    ),
]
