"""Fixtures shared by the whole suite."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from autograder.config import PROJECT_ROOT, load_settings
from autograder.dataset import PreparedDataset, prepare, standin

#: The real CIFAR-10, beside the project on development machines and in CI.
SHARED_ARCHIVE = PROJECT_ROOT.parent / "shared" / "data" / "cifar-10-python.tar.gz"

#: Where the tests keep prepared datasets: inside the project (and ignored by git),
#: never in the user's own cache, and kept between runs so that reruns are fast.
TEST_CACHE_HOME = PROJECT_ROOT / ".kit-cache" / "tests"


def pytest_configure(config: pytest.Config) -> None:
    """Settings read from now on, here and in every process the tests start."""
    os.environ["XDG_CACHE_HOME"] = str(TEST_CACHE_HOME)
    # Keep TensorFlow quiet.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


@pytest.fixture(scope="session")
def real_archive() -> Path:
    """The real CIFAR-10 archive; the test is skipped where it is absent."""
    if not SHARED_ARCHIVE.is_file():
        pytest.skip(f"the real CIFAR-10 copy is absent ({SHARED_ARCHIVE.name})")
    return SHARED_ARCHIVE


@pytest.fixture(scope="session")
def dataset_cache() -> Path:
    """The cache folder for prepared datasets: the one the settings name."""
    cache_dir = load_settings().cache_dir
    assert cache_dir.is_relative_to(TEST_CACHE_HOME), "settings were read too early"
    return cache_dir


@pytest.fixture(scope="session")
def standin_dataset(dataset_cache: Path) -> PreparedDataset:
    """The generated stand-in (seed 0), drawn once per session."""
    return standin(0, cache_dir=dataset_cache)


@pytest.fixture(scope="session")
def real_dataset(real_archive: Path, dataset_cache: Path) -> PreparedDataset:
    """The real CIFAR-10, unpacked once per session; skipped where absent."""
    return prepare(real_archive, cache_dir=dataset_cache)
