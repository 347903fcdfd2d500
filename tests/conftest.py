"""Fixtures shared by the whole suite."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from autograder.config import PROJECT_ROOT

#: The real CIFAR-10, beside the project on development machines and in CI.
SHARED_ARCHIVE = PROJECT_ROOT.parent / "shared" / "data" / "cifar-10-python.tar.gz"

# Keep TensorFlow quiet in every process the tests start.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


@pytest.fixture(scope="session")
def real_archive() -> Path:
    """The real CIFAR-10 archive; the test is skipped where it is absent."""
    if not SHARED_ARCHIVE.is_file():
        pytest.skip(f"the real CIFAR-10 copy is absent ({SHARED_ARCHIVE.name})")
    return SHARED_ARCHIVE
