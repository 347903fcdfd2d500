"""Grading the same submissions with `nbgrader autograde`, for comparison.

The source notebook's hidden tests call the kit's own checks, so nbgrader gives
the code steps the same points as `python -m autograder grade`. This module
builds a throwaway nbgrader course around some submissions, runs nbgrader's own
command on it with `course_config.py`, and reads the points back from nbgrader's
gradebook. The parity tests and the speed benchmark use it.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from nbgrader.api import Gradebook, MissingEntry

from autograder.config import config_file, load_settings
from autograder.dataset import PreparedDataset, serving_env
from autograder.model import GRADED_CELL, CheckId

logger = logging.getLogger(__name__)

#: Code steps: graded by hidden tests under nbgrader, by the same checks in the kit.
CODE_CHECKS: tuple[CheckId, ...] = ("counts", "grid", "tricky")

COURSE_CONFIG = """\
c = get_config()  # noqa: F821
load_subconfig({course_config!r})  # noqa: F821
c.CourseDirectory.root = {root!r}
c.CourseDirectory.db_url = {db_url!r}
c.Autograde.create_student = True
"""


class NbgraderCourse:
    """A scratch nbgrader course for the kit's assignment under `root`."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.settings = load_settings()
        self.assignment = self.settings.assignment
        self.db_url = f"sqlite:///{self.root / 'gradebook.db'}"
        self.config_path = self.root / "nbgrader_config.py"

    def create(self) -> None:
        """Lay out the course and record the assignment with `generate_assignment`."""
        source = self.root / "source" / self.assignment
        shutil.copytree(
            self.settings.source_notebook.parent, source, dirs_exist_ok=True
        )
        self.config_path.write_text(
            COURSE_CONFIG.format(
                course_config=str(config_file()),
                root=str(self.root),
                db_url=self.db_url,
            ),
            encoding="utf-8",
        )
        self._nbgrader("generate_assignment", self.assignment, "--force")

    def submit(self, student_id: str, notebook: Path) -> None:
        folder = self.root / "submitted" / student_id / self.assignment
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(notebook, folder / f"{self.assignment}.ipynb")

    def autograde(self, dataset: PreparedDataset) -> None:
        """Run `nbgrader autograde` once for every submitted student."""
        self._nbgrader("autograde", self.assignment, "--force", dataset=dataset)

    def code_points(self, student_id: str) -> dict[CheckId, float]:
        """The points nbgrader's gradebook holds for the student's code steps."""
        points: dict[CheckId, float] = {}
        with Gradebook(self.db_url) as gradebook:
            try:
                notebook = gradebook.find_submission_notebook(
                    self.assignment, self.assignment, student_id
                )
            except MissingEntry:
                return {check_id: 0.0 for check_id in CODE_CHECKS}
            by_cell = {grade.name: grade for grade in notebook.grades}
            for check_id in CODE_CHECKS:
                grade = by_cell.get(GRADED_CELL[check_id])
                score = None if grade is None else grade.score
                points[check_id] = float(score or 0.0)
        return points

    def _nbgrader(
        self, *arguments: str, dataset: PreparedDataset | None = None
    ) -> None:
        environment = dict(os.environ)
        # nbgrader's gradebook migrations run the `alembic` found on PATH
        environment["PATH"] = os.pathsep.join(
            [str(Path(sys.executable).parent), environment.get("PATH", "")]
        )
        environment["TF_CPP_MIN_LOG_LEVEL"] = "3"
        if dataset is not None:
            environment.update(serving_env(dataset))
        command = [
            sys.executable,
            "-m",
            "nbgrader",
            *arguments,
            f"--NbGrader.config_file={self.config_path}",
        ]
        logger.info("running %s", " ".join(command[2:4]))
        subprocess.run(
            command,
            cwd=self.root,
            env=environment,
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )


def autograde_with_nbgrader(
    notebooks: Mapping[str, Path], *, root: Path, dataset: PreparedDataset
) -> dict[str, dict[CheckId, float]]:
    """Points per code step, by student, as `nbgrader autograde` gives them."""
    course = NbgraderCourse(root)
    course.create()
    for student_id, notebook in notebooks.items():
        course.submit(student_id, notebook)
    course.autograde(dataset)
    return {student_id: course.code_points(student_id) for student_id in notebooks}
