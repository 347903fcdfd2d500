"""Lesson hints for the errors students meet most, in the lesson's words.

A traceback tells a beginner little; these say which cell to run or change.
"""

from __future__ import annotations

import re

from autograder.model import CellError

#: Names the setup cell defines, and what it does to define them.
SETUP_NAMES: dict[str, str] = {
    "np": "imports NumPy as np",
    "plt": "imports Matplotlib's pyplot as plt",
    "tf": "imports TensorFlow as tf",
    "x_train": "loads CIFAR-10",
    "y_train": "loads CIFAR-10",
    "x_test": "loads CIFAR-10",
    "y_test": "loads CIFAR-10",
    "class_names": "defines class_names",
}

_UNDEFINED = re.compile(r"name '(?P<name>\w+)' is not defined")


def hint_for(error: CellError) -> str:
    """What to do about `error`, for the student."""
    if error.ename == "NotImplementedError":
        return (
            "The answer cell still raises NotImplementedError: replace "
            "`raise NotImplementedError()` with your own code."
        )
    if error.ename == "NameError":
        return _undefined_name_hint(error.evalue)
    if error.ename in ("ModuleNotFoundError", "ImportError"):
        return (
            f"An import failed ({error.evalue}). Use only NumPy, Matplotlib, "
            "pandas and the setup cell's imports."
        )
    return (
        f"The cell stopped with {error.ename}: {error.evalue}. Fix it, then run "
        "the notebook from the top (Run all) to check it finishes."
    )


def _undefined_name_hint(evalue: str) -> str:
    match = _UNDEFINED.search(evalue)
    name = match.group("name") if match else "a name"
    if name in SETUP_NAMES:
        return (
            f"`{name}` was not defined when your code ran: the setup cell "
            f"{SETUP_NAMES[name]}, so run it first (or Run all from the top)."
        )
    return (
        f"`{name}` was used before it was defined: define it in your answer, "
        "or run the cells above in order (Run all)."
    )
