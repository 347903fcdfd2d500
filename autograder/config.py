"""Reading `course_config.py`: nbgrader's configuration and the kit's own settings.

Everything in the kit that needs a setting gets it from `load_settings()`; the
nbgrader side gets the same file through `load_nbgrader_config()`.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError
from traitlets.config import Config
from traitlets.config.loader import ConfigFileNotFound, PyFileConfigLoader

from autograder.errors import ConfigError

#: The project's root: where `course_config.py`, `source/` and `release/` live.
PROJECT_ROOT = Path(__file__).resolve().parent.parent
CONFIG_FILE = PROJECT_ROOT / "course_config.py"


class KitSettings(BaseModel):
    """The `c.DataDetective` section of `course_config.py`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    assignment: str
    student_id_pattern: str
    max_notebook_bytes: int
    max_zip_bytes: int
    cell_timeout_seconds: float
    notebook_timeout_seconds: float
    memory_limit_bytes: int
    output_limit_bytes: int
    sandbox: bool = True
    dataset_path: str
    grading_variant: bool
    variant_count_range: tuple[int, int]
    cache_dir: Path

    @property
    def source_notebook(self) -> Path:
        return PROJECT_ROOT / "source" / self.assignment / f"{self.assignment}.ipynb"

    @property
    def release_notebook(self) -> Path:
        return PROJECT_ROOT / "release" / self.assignment / f"{self.assignment}.ipynb"


def config_file() -> Path:
    """The configuration file in force: `$DATA_DETECTIVE_CONFIG` or the project's."""
    return Path(os.environ.get("DATA_DETECTIVE_CONFIG", CONFIG_FILE)).resolve()


@cache
def _load(path: Path) -> Config:
    loader = PyFileConfigLoader(path.name, path=str(path.parent))
    try:
        return loader.load_config()
    except ConfigFileNotFound as error:
        raise ConfigError(
            f"{path} not found: run from the kit's folder or set DATA_DETECTIVE_CONFIG"
        ) from error
    except Exception as error:
        raise ConfigError(f"{path} could not be read: {error}") from error


def load_nbgrader_config(path: Path | None = None) -> Config:
    """The whole configuration, as nbgrader's API expects it."""
    return _load(path or config_file())


def load_settings(path: Path | None = None) -> KitSettings:
    """The kit's own settings, validated."""
    path = path or config_file()
    section: dict[str, Any] = dict(_load(path).get("DataDetective", {}))
    try:
        return KitSettings.model_validate(section)
    except ValidationError as error:
        raise ConfigError(
            f"{path}: the c.DataDetective section is not valid:\n{error}"
        ) from error
