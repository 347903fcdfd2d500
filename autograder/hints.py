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


#: The advice for a cell the grader had to stop, by the error name it records.
STOPPED_BY_THE_GRADER = {
    "Timeout": (
        "This cell was stopped because it ran past the time limit, so nothing "
        "after it ran. Look for a loop that never ends (a `while` whose "
        "condition never changes) or that does far more work than it needs to."
    ),
    "Crashed": (
        "Python itself stopped while running this cell, so nothing after it ran. "
        "Undo your last change to the cell, then run the notebook from the top."
    ),
    "Memory": (
        "This cell used more memory than allowed and was stopped. Avoid making "
        "many copies of the whole training set, for example converting all of "
        "x_train to floats again and again."
    ),
    "Output_limit": (
        "This cell printed far too much and was stopped. Print a summary, such "
        "as the ten counts, rather than every value."
    ),
}


def hint_for(error: CellError) -> str:
    """What to do about `error`, for the student."""
    if error.ename == "NotImplementedError":
        return (
            "The answer cell still raises NotImplementedError: replace "
            "`raise NotImplementedError()` with your own code."
        )
    if error.ename == "NameError":
        return _undefined_name_hint(error.evalue)
    if error.ename in STOPPED_BY_THE_GRADER:
        return STOPPED_BY_THE_GRADER[error.ename]
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
