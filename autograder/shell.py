"""Running a notebook's cells inside a forked child, one IPython cell at a time.

The child sends the grader a stream of messages, one per step, so that whatever
happens to it later the evidence up to the last finished cell is kept:

- `{"type": "start", "index": i}` before cell `i` runs;
- `{"type": "cell", "cell": ..., "figures": [...], "namespace": ...}` after it;
- `{"type": "stop", "outcome": ..., "detail": ...}` when the run ends early;
- `{"type": "done"}` after the last cell.
"""

from __future__ import annotations

import builtins
import contextlib
import io
import json
import logging
import os
import re
import struct
import sys
import time
import types
from collections.abc import Iterator
from typing import Any

from IPython.core.displayhook import DisplayHook
from IPython.core.interactiveshell import InteractiveShell
from traitlets.config import Config

from autograder.capture import FigureRecorder, namespace_facts
from autograder.model import CellError, CellEvidence
from autograder.run import notebook_cells

logger = logging.getLogger(__name__)

_HEADER = struct.Struct(">I")
#: A figure's picture larger than this (base64 characters) is left out of the
#: evidence: a page of feedback has no room for it, the grid check needs none.
MAX_PNG_CHARS = 2**20
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


# -- the message channel ------------------------------------------------------


def send(fd: int, message: dict[str, Any]) -> None:
    """Write one length-prefixed JSON message to the pipe `fd`."""
    body = json.dumps(message).encode("utf-8")
    data = memoryview(_HEADER.pack(len(body)) + body)
    while data:
        written = os.write(fd, data)
        data = data[written:]


def receive(buffer: bytearray) -> Iterator[dict[str, Any]]:
    """Take every complete message out of `buffer`, leaving any partial one."""
    while len(buffer) >= _HEADER.size:
        (length,) = _HEADER.unpack_from(buffer)
        end = _HEADER.size + length
        if len(buffer) < end:
            return
        body = bytes(buffer[_HEADER.size : end])
        del buffer[:end]
        message = json.loads(body)
        if not isinstance(message, dict):
            raise ValueError("a message from the child is not an object")
        yield message


# -- output -------------------------------------------------------------------


class OutputLimitExceeded(BaseException):
    """The notebook printed more than the grader keeps.

    A BaseException, so that a student's `except Exception` does not swallow it.
    """


class OutputBudget:
    """The bytes of output a whole notebook may still write."""

    def __init__(self, limit_bytes: int) -> None:
        self.left = limit_bytes
        self.exceeded = False


class CellStream(io.TextIOBase):
    """`sys.stdout` or `sys.stderr` of the child: text kept per cell, capped."""

    def __init__(self, budget: OutputBudget) -> None:
        super().__init__()
        self._budget = budget
        self._parts: list[str] = []

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        budget = self._budget
        if budget.exceeded:
            raise OutputLimitExceeded("output limit reached")
        size = len(text.encode("utf-8", "replace"))
        if size > budget.left:
            self._parts.append(text[: max(budget.left, 0)])
            budget.left = 0
            budget.exceeded = True
            raise OutputLimitExceeded("output limit reached")
        budget.left -= size
        self._parts.append(text)
        return len(text)

    def take(self) -> str:
        text = "".join(self._parts)
        self._parts.clear()
        return text


# -- the shell ----------------------------------------------------------------


class _QuietDisplayHook(DisplayHook):
    """Writes a cell's displayed value as a kernel would send it: no prompt."""

    def write_output_prompt(self) -> None:
        pass

    def write_format_data(
        self, format_dict: dict[str, Any], md_dict: dict[str, Any] | None = None
    ) -> None:
        print(format_dict.get("text/plain", ""))


class GradingShell(InteractiveShell):
    """IPython without a terminal: accepts `%matplotlib inline`, records errors."""

    displayhook_class = _QuietDisplayHook

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)  # type: ignore[no-untyped-call]
        self.last_error: CellError | None = None

    def enable_gui(self, gui: str | None = None) -> None:
        """No event loop to start: figures are captured, not shown."""

    def _showtraceback(
        self, etype: type, evalue: BaseException, stb: list[str]
    ) -> None:
        self.last_error = CellError(
            ename=etype.__name__,
            evalue=_safe_str(evalue),
            traceback=_ANSI.sub("", "\n".join(stb)),
        )


def _safe_str(value: object) -> str:
    try:
        return str(value)
    except Exception:
        return f"<{type(value).__name__} that cannot be shown>"


def new_shell(recorder: FigureRecorder) -> GradingShell:
    """A shell as a Jupyter kernel would be: inline figures, plain tracebacks."""
    config = Config()
    config.HistoryManager.enabled = False  # no history file, no saving thread
    shell: GradingShell = GradingShell.instance(
        config=config, xmode="Minimal", colors="nocolor"
    )
    shell.enable_matplotlib("inline")  # type: ignore[no-untyped-call]
    _draw_no_figure_after_each_cell(shell)
    from matplotlib.figure import Figure

    formatter = shell.display_formatter
    if formatter is None:
        raise RuntimeError("IPython's shell has no display formatter")
    formatter.ipython_display_formatter.for_type(Figure, recorder.shown)
    return shell


def _draw_no_figure_after_each_cell(shell: GradingShell) -> None:
    """Drop pyplot's hook that draws every open figure after a cell.

    It draws for a screen a grader has not: a figure left open by a cell that
    failed before `plt.show()` would be drawn in full for nothing (about 0.2 s
    for a 2x5 grid). The recorder reads figures without drawing them and
    renders only those the feedback page shows.
    """
    for callback in list(shell.events.callbacks["post_execute"]):
        if getattr(callback, "__qualname__", "") == "_draw_all_if_interactive":
            shell.events.unregister("post_execute", callback)


def _own_builtins(shell: GradingShell) -> None:
    """Give the notebook a copy of the builtins, so the grader keeps the real ones.

    A notebook that replaces `builtins.len` (or `print`, `AssertionError`...)
    then changes only its own copy, not the code that sends its evidence.
    """
    copy = types.ModuleType("builtins", builtins.__doc__)
    copy.__dict__.update(builtins.__dict__)
    shell.user_ns["__builtins__"] = copy
    sys.modules["builtins"] = copy


# -- running the cells --------------------------------------------------------


def run_cells(
    notebook_json: str, channel: int, output_limit_bytes: int, render_png: bool
) -> None:
    """Run every code cell in order and send each cell's evidence to `channel`.

    Markdown and raw cells are sent with their source; the run stops early only
    when the notebook has written more output than the grader keeps.
    """
    budget = OutputBudget(output_limit_bytes)
    stdout, stderr = CellStream(budget), CellStream(budget)
    sys.stdout, sys.stderr = stdout, stderr
    sys.stdin = io.StringIO()  # input() ends at once: nobody is there to type
    recorder = FigureRecorder(render_png=render_png)
    shell = new_shell(recorder)
    _own_builtins(shell)

    for index, cell in enumerate(notebook_cells(notebook_json)):
        evidence = CellEvidence(
            index=index,
            grade_id=cell["grade_id"],
            cell_type=cell["cell_type"],
            source=cell["source"],
        )
        if cell["cell_type"] != "code":
            send(channel, {"type": "cell", "cell": evidence.model_dump()})
            continue

        send(channel, {"type": "start", "index": index})
        started = time.perf_counter()
        shell.last_error = None
        with contextlib.suppress(OutputLimitExceeded):  # the budget says so
            shell.run_cell(cell["source"], store_history=True)  # type: ignore[no-untyped-call]
        evidence = evidence.model_copy(
            update={
                "stdout": stdout.take(),
                "stderr": stderr.take(),
                "error": shell.last_error,
                "seconds": round(time.perf_counter() - started, 4),
            }
        )
        _send_cell(channel, shell, recorder, evidence)

        if budget.exceeded:
            detail = (
                f"cell {index} wrote more than {output_limit_bytes} bytes of output;"
                " the rest of the notebook was not run"
            )
            send(channel, {"type": "stop", "outcome": "output_limit", "detail": detail})
            return
    send(channel, {"type": "done"})


def _send_cell(
    channel: int,
    shell: GradingShell,
    recorder: FigureRecorder,
    evidence: CellEvidence,
) -> None:
    # Feedback pages show the figures of the answer cells; the lesson's ungraded
    # experiments are described but not drawn, which saves most of the rendering.
    picture = evidence.grade_id is not None
    try:
        figures = [
            _without_huge_png(figure.model_dump())
            for figure in recorder.finish_cell(evidence.index, picture)
        ]
        namespace = namespace_facts(shell.user_ns).model_dump()
    except BaseException as error:  # the evidence of the cell itself still counts
        logger.debug("capture after cell %s failed: %r", evidence.index, error)
        figures, namespace = [], None
    message = {"type": "cell", "cell": evidence.model_dump(), "figures": figures}
    if namespace is not None:
        message["namespace"] = namespace
    send(channel, message)


def _without_huge_png(figure: dict[str, Any]) -> dict[str, Any]:
    png = figure.get("png_base64")
    if png is not None and len(png) > MAX_PNG_CHARS:
        logger.debug("a picture of %d characters left out", len(png))
        figure["png_base64"] = None
    return figure
