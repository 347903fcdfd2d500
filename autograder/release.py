"""Building the student release from the source notebook with nbgrader.

nbgrader's `generate_assignment` runs on a scratch copy of the course and without
its gradebook: a failed build leaves the committed release as it was, and a good
one leaves nothing behind but `release/<assignment>/`. Recording the assignment
in a gradebook is the grading side's business, not the release's.
"""

from __future__ import annotations

import copy
import logging
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from nbgrader.converters import GenerateAssignment
from nbgrader.coursedir import CourseDirectory
from nbgrader.preprocessors import SaveCells
from traitlets.config import Config

from autograder.config import (
    CONFIG_FILE,
    PROJECT_ROOT,
    load_nbgrader_config,
    load_settings,
)
from autograder.errors import ReleaseError

logger = logging.getLogger(__name__)


def build_release(root: Path = PROJECT_ROOT) -> Path:
    """Regenerate `release/<assignment>/` under `root`; return the release notebook.

    Reads `root`'s `course_config.py`, copies `source/<assignment>/` to a scratch
    course, runs nbgrader's `generate_assignment` there, and on success replaces
    `root`'s release folder with the one built.
    """
    root = root.resolve()
    config_path = root / CONFIG_FILE.name
    assignment = load_settings(config_path).assignment
    source = root / "source" / assignment
    release = root / "release" / assignment
    if not (source / f"{assignment}.ipynb").is_file():
        raise ReleaseError(
            f"no source notebook at {source / f'{assignment}.ipynb'}: "
            "check c.DataDetective.assignment in course_config.py"
        )

    with tempfile.TemporaryDirectory(prefix="data-detective-release-") as scratch:
        scratch_root = Path(scratch)
        shutil.copytree(
            source,
            scratch_root / "source" / assignment,
            ignore=shutil.ignore_patterns(".ipynb_checkpoints"),
        )
        config = _scratch_config(load_nbgrader_config(config_path), scratch_root)
        _generate(config, assignment)

        built = scratch_root / "release" / assignment
        shutil.rmtree(release, ignore_errors=True)
        shutil.copytree(built, release)

    notebook = release / f"{assignment}.ipynb"
    logger.info("release written to %s", notebook)
    return notebook


def _scratch_config(course_config: Config, scratch_root: Path) -> Config:
    """The course's nbgrader configuration, pointed at a scratch course folder."""
    config = copy.deepcopy(course_config)
    config.CourseDirectory.root = str(scratch_root)
    config.GenerateAssignment.no_database = True
    return config


def _generate(config: Config, assignment: str) -> None:
    """Run nbgrader's `generate_assignment`, turning its failure into ReleaseError."""
    coursedir = CourseDirectory(config=config)
    coursedir.assignment_id = assignment
    converter = GenerateAssignment(coursedir=coursedir, config=config, log=logger)
    converter.force = True
    # SaveCells writes the source cells to the gradebook, which the release skips
    converter.preprocessors = [
        preprocessor
        for preprocessor in converter.preprocessors
        if preprocessor is not SaveCells
    ]
    with _nbgrader_errors() as errors:
        try:
            converter.start()
        except Exception as error:
            reason = errors[0] if errors else str(error)
            raise ReleaseError(
                f"nbgrader could not build the release of {assignment!r}: {reason}\n"
                "Fix the source notebook (its nbgrader cell metadata and "
                "BEGIN/END SOLUTION regions) and run `python -m autograder release` "
                "again."
            ) from error


class _ErrorCollector(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage().strip())


@contextmanager
def _nbgrader_errors() -> Iterator[list[str]]:
    """Collect the errors nbgrader logs (it raises only a generic exception)."""
    collector = _ErrorCollector()
    logger.addHandler(collector)
    try:
        yield collector.messages
    finally:
        logger.removeHandler(collector)
