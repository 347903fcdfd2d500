"""What a grader may learn from inside the student's process, as plain data.

Runs in the process that executes the submission (a forked child or a Jupyter
kernel), so it trusts nothing it finds there: it looks only at objects of a few
known types, calls no method a student could have written, catches everything
per variable, and skips anything too large to be an answer.
"""

from __future__ import annotations

import base64
import io
import logging
import sys
import weakref
from collections import Counter, OrderedDict, defaultdict
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from autograder.fingerprint import image_key
from autograder.model import (
    AxesEvidence,
    FigureEvidence,
    ImageEvidence,
    NamespaceFacts,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

logger = logging.getLogger(__name__)

#: One entry per class of CIFAR-10.
CLASS_COUNT = 10
#: Names a notebook's namespace holds that are never the student's answers.
IGNORED_NAMES = frozenset({"In", "Out", "exit", "quit", "get_ipython"})
#: Namespaces larger than this are only read up to this many names.
MAX_NAMES = 5000
#: Mappings are read only when their keys are of these exact types.
_KEY_TYPES = (str, int, np.integer)
_MAPPING_TYPES = (dict, Counter, OrderedDict, defaultdict)
_SEQUENCE_TYPES = (list, tuple)
#: The dpi of a figure's rendering for the feedback page.
PNG_DPI = 50


# -- namespace ----------------------------------------------------------------


def namespace_facts(namespace: Mapping[str, object]) -> NamespaceFacts:
    """The whole numbers, count-like sequences and array shapes in `namespace`.

    Every variable is read on its own; one that cannot be read is skipped.
    """
    facts: dict[str, Any] = {
        "int_sequences": {},
        "int_mappings": {},
        "ints": {},
        "array_shapes": {},
    }
    for position, name in enumerate(list(namespace)):
        if position >= MAX_NAMES:
            logger.debug("namespace has more than %s names; the rest skipped", position)
            break
        if type(name) is not str or name.startswith("_") or name in IGNORED_NAMES:
            continue
        try:
            _read_variable(name, namespace[name], facts)
        except Exception as error:  # a hostile object: skip it, keep the rest
            logger.debug("variable %s skipped: %r", name, error)
    class_names = _class_names(namespace.get("class_names"))
    return NamespaceFacts(**facts, class_names=class_names)


def _read_variable(name: str, value: object, facts: dict[str, Any]) -> None:
    kind = type(value)
    if kind is int or issubclass(kind, np.integer):
        facts["ints"][name] = int(value)  # type: ignore[call-overload]
        return
    if issubclass(kind, np.ndarray):
        array = np.ndarray.view(value, np.ndarray)  # type: ignore[call-overload]
        facts["array_shapes"][name] = [int(size) for size in array.shape]
        counts = _whole_numbers_of_array(array)
        if counts is not None:
            facts["int_sequences"][name] = counts
        return
    if kind in _SEQUENCE_TYPES:
        counts = _whole_numbers_of_sequence(value)  # type: ignore[arg-type]
        if counts is not None:
            facts["int_sequences"][name] = counts
        return
    if kind in _MAPPING_TYPES:
        mapping = _whole_numbers_of_mapping(value)  # type: ignore[arg-type]
        if mapping is not None:
            facts["int_mappings"][name] = mapping
        return
    _read_series(name, value, facts)


def _read_series(name: str, value: object, facts: dict[str, Any]) -> None:
    """A pandas Series of counts: a sequence, or a mapping when labelled."""
    pandas = sys.modules.get("pandas")
    if pandas is None or type(value) is not pandas.Series or len(value) != 10:  # type: ignore[arg-type]
        return
    counts = _whole_numbers_of_array(np.asarray(value.to_numpy()))  # type: ignore[attr-defined]
    if counts is None:
        return
    labels = list(value.index)  # type: ignore[attr-defined]
    if labels == list(range(CLASS_COUNT)):
        facts["int_sequences"][name] = counts
        return
    keys = _mapping_keys(labels)
    if keys is not None:
        facts["int_mappings"][name] = dict(zip(keys, counts, strict=True))


def _whole_numbers_of_array(array: np.ndarray[Any, Any]) -> list[int] | None:
    if array.shape != (CLASS_COUNT,):
        return None
    if np.issubdtype(array.dtype, np.integer):
        return [int(item) for item in array]
    if np.issubdtype(array.dtype, np.floating) and bool(
        np.all(np.isfinite(array)) and np.all(array == np.rint(array))
    ):
        return [int(item) for item in array]
    return None


def _whole_number(item: object) -> int | None:
    kind = type(item)
    if kind is int or issubclass(kind, np.integer):
        whole: int = int(item)  # type: ignore[call-overload]
        return whole
    if kind is float or issubclass(kind, np.floating):
        number = float(item)  # type: ignore[arg-type]
        if number.is_integer():
            return int(number)
    return None


def _whole_numbers_of_sequence(
    sequence: list[object] | tuple[object, ...],
) -> list[int] | None:
    if len(sequence) != CLASS_COUNT:
        return None
    numbers = [_whole_number(item) for item in sequence]
    if any(number is None for number in numbers):
        return None
    return [number for number in numbers if number is not None]


def _mapping_keys(keys: list[object]) -> list[str] | None:
    if not all(type(key) in _KEY_TYPES or isinstance(key, np.integer) for key in keys):
        return None
    return [str(key) for key in keys]


def _whole_numbers_of_mapping(mapping: dict[object, object]) -> dict[str, int] | None:
    if len(mapping) != CLASS_COUNT:
        return None
    items = list(dict.items(mapping))
    keys = _mapping_keys([key for key, _ in items])
    numbers = _whole_numbers_of_sequence([value for _, value in items])
    if keys is None or numbers is None:
        return None
    return dict(zip(keys, numbers, strict=True))


def _class_names(value: object) -> list[str] | None:
    if type(value) not in _SEQUENCE_TYPES:
        return None
    names: list[object] = list(value)  # type: ignore[call-overload]
    if len(names) == CLASS_COUNT and all(type(name) is str for name in names):
        return [str(name) for name in names]
    return None


# -- figures ------------------------------------------------------------------


def open_figures() -> list[Figure]:
    """The figures pyplot holds open, oldest first; none when pyplot is unused."""
    if "matplotlib.pyplot" not in sys.modules:
        return []
    from matplotlib._pylab_helpers import Gcf

    return [manager.canvas.figure for manager in Gcf.get_all_fig_managers()]


def figure_evidence(
    figure: Figure, cell: int, render_png: bool = False
) -> FigureEvidence:
    """Titles, axis state and image fingerprints of every axes of `figure`."""
    png = _render_png(figure) if render_png else None
    return FigureEvidence(
        number=int(getattr(figure, "number", 0) or 0),
        cell=cell,
        axes=[_axes_evidence(axes) for axes in figure.axes],
        png_base64=png,
    )


def _axes_evidence(axes: Axes) -> AxesEvidence:
    title = axes.get_title() or axes.get_title("left") or axes.get_title("right")
    images = []
    for image in axes.get_images():
        shown = image.get_array()
        if shown is None:
            continue
        pixels = np.asarray(np.ma.getdata(shown))
        images.append(
            ImageEvidence(
                shape=[int(size) for size in pixels.shape],
                dtype=str(pixels.dtype),
                key=image_key(pixels),
            )
        )
    return AxesEvidence(title=str(title), images=images, axis_on=bool(axes.axison))


def _render_png(figure: Figure) -> str | None:
    buffer = io.BytesIO()
    try:
        figure.savefig(buffer, format="png", dpi=PNG_DPI)
    except Exception as error:  # a figure that cannot draw still has evidence
        logger.debug("figure could not be rendered: %r", error)
        return None
    return base64.b64encode(buffer.getvalue()).decode("ascii")


class FigureRecorder:
    """Collects the figures a cell shows, before any backend closes them.

    `shown` is meant to be registered as the display printer for matplotlib
    figures (IPython's `ipython_display_formatter`), so every `plt.show()`,
    `display(fig)` and end-of-cell flush of the inline backend lands here
    instead of being rendered. `finish_cell` then describes those figures and
    any figure still open that was never described before.
    """

    def __init__(self, render_png: bool = False) -> None:
        self.render_png = render_png
        self._shown: list[Figure] = []
        self._described: weakref.WeakSet[Figure] = weakref.WeakSet()

    def shown(self, figure: Figure) -> None:
        if not any(figure is earlier for earlier in self._shown):
            self._shown.append(figure)

    def finish_cell(self, cell: int, picture: bool = True) -> list[FigureEvidence]:
        """Describe the cell's figures; `picture`: also render them, if asked to."""
        render = self.render_png and picture
        figures = list(self._shown)
        for figure in open_figures():
            if figure not in self._described and not any(
                figure is earlier for earlier in figures
            ):
                figures.append(figure)
        self._shown.clear()
        evidence = []
        for figure in figures:
            try:
                evidence.append(figure_evidence(figure, cell, render))
            except Exception as error:
                logger.debug("figure skipped: %r", error)
            self._described.add(figure)
        return evidence
