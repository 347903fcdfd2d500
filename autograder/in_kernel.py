"""The grader's side of a Jupyter kernel that runs a submission.

`start` runs in the kernel before the first cell: it fences the kernel in the
way a forked child is (limits, network, output cap) and registers the figure
recorder. `emit` runs after every cell and sends that cell's figures and
namespace facts back as one display output of type `EVIDENCE_MIMETYPE`.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from autograder.capture import FigureRecorder, namespace_facts
from autograder.isolation import cut_network, limit_resources
from autograder.shell import OutputBudget, OutputLimitExceeded

logger = logging.getLogger(__name__)

EVIDENCE_MIMETYPE = "application/vnd.data-detective.evidence+json"

_recorder = FigureRecorder()
_budget = OutputBudget(0)


def start(render_png: bool, output_limit_bytes: int, notebook_timeout: float) -> None:
    """Fence the kernel in and start recording figures."""
    from IPython import get_ipython
    from matplotlib.figure import Figure

    limit_resources(notebook_timeout)
    # A private network namespace would cut the kernel's own ZeroMQ sockets too.
    cut_network(private_namespace=False)
    _recorder.render_png = render_png
    _budget.left = output_limit_bytes
    shell = get_ipython()
    # IPython swaps each stream's `write` while a cell runs and puts it back
    # after, so the cap goes on at the start of every cell.
    shell.events.register("pre_run_cell", _cap_streams)
    shell.InteractiveTB.set_mode("Minimal")
    shell.display_formatter.ipython_display_formatter.for_type(Figure, _recorder.shown)


def _cap_streams(info: object = None) -> None:
    for stream in (sys.stdout, sys.stderr):
        _cap(stream)


def _cap(stream: Any) -> None:
    """Make `stream.write` stop the notebook once the output budget is spent."""
    write = stream.write

    def capped_write(text: str) -> int:
        if _budget.exceeded:
            raise OutputLimitExceeded("output limit reached")
        size = len(str(text).encode("utf-8", "replace"))
        if size > _budget.left:
            write(str(text)[: max(_budget.left, 0)])
            _budget.left = 0
            _budget.exceeded = True
            raise OutputLimitExceeded("output limit reached")
        _budget.left -= size
        return int(write(text))

    stream.write = capped_write


def emit(cell: int, picture: bool = True) -> None:
    """Display the evidence of cell `cell` for the grader to collect.

    `picture`: render its figures too, if the run renders pictures at all.
    """
    from IPython import get_ipython
    from IPython.display import display

    shell = get_ipython()
    try:
        figures = [
            figure.model_dump() for figure in _recorder.finish_cell(cell, picture)
        ]
        namespace: Any = namespace_facts(shell.user_ns).model_dump()
    except Exception as error:
        logger.debug("capture after cell %s failed: %r", cell, error)
        figures, namespace = [], None
    payload = {
        "figures": figures,
        "namespace": namespace,
        "output_limit": _budget.exceeded,
    }
    display({EVIDENCE_MIMETYPE: payload}, raw=True)
