"""Hostile and broken submissions, each with what the grader must make of it.

A case writes its submission into a class folder and says what its result
must show: the status, how the run ended, and words the student's reason or
the TA's notes must contain. `check` adds a question a case needs answered
beyond those (a file the notebook must not have written, a secret it must not
have printed). `tests/test_hostile.py` and `benchmarks/hostile_corpus.py` grade
the whole corpus in one batch, beside good students whose results must not
change.
"""

from tests.hostile.cases import CASES, GOOD_STUDENTS, Batch, HostileCase, write_class

__all__ = ["CASES", "GOOD_STUDENTS", "Batch", "HostileCase", "write_class"]
