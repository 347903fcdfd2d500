"""What the grader learns inside the student's process: namespace and figures."""

from __future__ import annotations

import base64
from collections import Counter
from typing import Any, NoReturn

import matplotlib
import numpy as np
import pandas as pd  # type: ignore[import-untyped]
import pytest
from matplotlib.figure import Figure

from autograder.capture import FigureRecorder, figure_evidence, namespace_facts
from autograder.fingerprint import image_key

matplotlib.use("Agg")
from matplotlib import pyplot as plt

CLASS_NAMES = [
    "airplane", "automobile", "bird", "cat", "deer",
    "dog", "frog", "horse", "ship", "truck",
]  # fmt: skip
COUNTS = [5000, 4900, 5100, 5000, 5000, 5000, 5000, 5000, 5000, 5000]


class Hostile:
    """An object whose every method a grader must never call."""

    calls: list[str] = []  # noqa: RUF012  (shared on purpose: calls are recorded)

    def _called(self, name: str) -> NoReturn:
        Hostile.calls.append(name)
        raise RuntimeError(f"the grader called {name}")

    def __len__(self) -> int:
        self._called("__len__")

    def __iter__(self) -> NoReturn:
        self._called("__iter__")

    def __getitem__(self, key: object) -> NoReturn:
        self._called("__getitem__")

    def __index__(self) -> NoReturn:
        self._called("__index__")

    def __array__(self, *args: object, **kwargs: object) -> NoReturn:
        self._called("__array__")

    def __str__(self) -> str:
        self._called("__str__")


@pytest.mark.parametrize(
    "counts",
    [
        pytest.param(list(COUNTS), id="list"),
        pytest.param(tuple(COUNTS), id="tuple"),
        pytest.param(np.array(COUNTS), id="int-array"),
        pytest.param(np.array(COUNTS, dtype=np.float64), id="integral-floats"),
        pytest.param(np.bincount(np.repeat(np.arange(10), COUNTS)), id="bincount"),
        pytest.param(pd.Series(COUNTS), id="series"),
        pytest.param([np.int64(count) for count in COUNTS], id="numpy-ints"),
    ],
)
def test_is_every_ten_long_count_sequence_found_by_name(counts: object) -> None:
    facts = namespace_facts({"my_counts": counts})
    assert facts.int_sequences == {"my_counts": COUNTS}


@pytest.mark.parametrize(
    "mapping",
    [
        pytest.param(dict(zip(CLASS_NAMES, COUNTS, strict=True)), id="dict"),
        pytest.param(
            Counter(dict(zip(CLASS_NAMES, COUNTS, strict=True))), id="counter"
        ),
        pytest.param(pd.Series(COUNTS, index=CLASS_NAMES), id="labelled-series"),
    ],
)
def test_is_every_count_mapping_found_with_its_keys_as_text(mapping: object) -> None:
    facts = namespace_facts({"per_class": mapping})
    assert facts.int_mappings == {
        "per_class": dict(zip(CLASS_NAMES, COUNTS, strict=True))
    }


def test_are_integer_keys_of_a_mapping_kept_as_text() -> None:
    facts = namespace_facts({"by_label": dict(enumerate(COUNTS))})
    assert facts.int_mappings["by_label"] == {str(k): c for k, c in enumerate(COUNTS)}


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(COUNTS[:9], id="nine-long"),
        pytest.param([*COUNTS[:9], 4999.5], id="a-fraction"),
        pytest.param(np.array([*COUNTS[:9], np.nan]), id="a-nan"),
        pytest.param([*COUNTS[:9], "5000"], id="a-string"),
        pytest.param(np.array([COUNTS, COUNTS]), id="two-dimensional"),
    ],
)
def test_is_anything_that_is_not_ten_whole_numbers_left_out(value: object) -> None:
    facts = namespace_facts({"almost": value})
    assert facts.int_sequences == {}
    assert facts.int_mappings == {}


def test_are_whole_number_scalars_and_array_shapes_recorded() -> None:
    facts = namespace_facts(
        {
            "tricky_index": 4321,
            "chosen_class": np.int64(3),
            "sharpness": np.zeros(50000),
            "ratio": 0.5,
            "flag": True,
        }
    )
    assert facts.ints == {"tricky_index": 4321, "chosen_class": 3}
    assert facts.array_shapes == {"sharpness": [50000]}


def test_are_private_names_and_ipython_history_skipped() -> None:
    facts = namespace_facts(
        {
            "_counts": COUNTS,
            "Out": {1: COUNTS},
            "In": ["", "x"],
            "_": 3,
            "counts": COUNTS,
        }
    )
    assert set(facts.int_sequences) == {"counts"}
    assert facts.ints == {}


def test_is_class_names_kept_only_when_it_is_ten_strings() -> None:
    assert namespace_facts({"class_names": CLASS_NAMES}).class_names == CLASS_NAMES
    assert namespace_facts({"class_names": CLASS_NAMES[:3]}).class_names is None
    assert namespace_facts({"class_names": Hostile()}).class_names is None


def test_does_a_hostile_object_go_untouched_while_the_rest_is_read() -> None:
    Hostile.calls.clear()

    class HostileDict(dict[str, int]):
        def items(self) -> Any:
            Hostile.calls.append("items")
            raise RuntimeError("the grader called items")

    namespace = {
        "trap": Hostile(),
        "trap_list": [Hostile()] * 10,
        "trap_dict": HostileDict(zip(CLASS_NAMES, COUNTS, strict=True)),
        "trap_keys": {Hostile(): count for count in COUNTS},
        "counts": COUNTS,
    }
    facts = namespace_facts(namespace)
    assert Hostile.calls == []
    assert facts.int_sequences == {"counts": COUNTS}
    assert facts.int_mappings == {}


def test_is_a_huge_list_skipped_without_being_walked() -> None:
    facts = namespace_facts({"many": list(range(10_000_000))})
    assert facts.int_sequences == {}


def grid_figure(images: list[np.ndarray[Any, Any]]) -> Figure:
    figure = Figure()
    for position, image in enumerate(images):
        axes = figure.add_subplot(2, 5, position + 1)
        axes.imshow(image)
        axes.set_title(CLASS_NAMES[position])
        axes.axis("off")
    return figure


def test_does_a_grid_give_each_axes_title_axis_state_and_image_key() -> None:
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (32, 32, 3), dtype=np.uint8) for _ in range(10)]
    evidence = figure_evidence(grid_figure(images), cell=4)
    assert evidence.cell == 4
    assert [axes.title for axes in evidence.axes] == CLASS_NAMES
    assert not any(axes.axis_on for axes in evidence.axes)
    assert [axes.images[0].key for axes in evidence.axes] == [
        image_key(image) for image in images
    ]
    assert evidence.axes[0].images[0].shape == [32, 32, 3]
    assert evidence.png_base64 is None


def test_does_an_image_scaled_to_floats_keep_its_key() -> None:
    image = np.random.default_rng(1).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    evidence = figure_evidence(grid_figure([image / 255.0]), cell=0)
    assert evidence.axes[0].images[0].dtype == "float64"
    assert evidence.axes[0].images[0].key == image_key(image)


def test_is_a_left_title_used_when_the_centre_title_is_empty() -> None:
    figure = Figure()
    figure.add_subplot().set_title("cat", loc="left")
    assert figure_evidence(figure, cell=0).axes[0].title == "cat"


def test_is_a_rendering_a_png_when_asked_for() -> None:
    png = figure_evidence(grid_figure([np.zeros((32, 32, 3))]), 0, render_png=True)
    assert png.png_base64 is not None
    assert base64.b64decode(png.png_base64).startswith(b"\x89PNG")


def test_does_the_recorder_describe_shown_and_open_figures_once() -> None:
    recorder = FigureRecorder()
    shown = grid_figure([np.zeros((32, 32, 3))])
    left_open = plt.figure()
    left_open.add_subplot().set_title("open")
    try:
        recorder.shown(shown)
        recorder.shown(shown)
        first = recorder.finish_cell(2)
        second = recorder.finish_cell(3)
    finally:
        plt.close(left_open)
    assert [figure.axes[0].title for figure in first] == ["airplane", "open"]
    assert second == []
