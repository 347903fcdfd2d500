"""`demo`: grade the example submissions that ship with the kit."""

from __future__ import annotations

import logging
import os

from autograder.config import PROJECT_ROOT, load_settings
from autograder.dataset import PreparedDataset, find_real, standin
from autograder.errors import DatasetError
from autograder.pipeline import grade_submissions

logger = logging.getLogger(__name__)

EXAMPLES = PROJECT_ROOT / "examples" / "submissions"
DEMO_OUTPUT = PROJECT_ROOT / "demo-output"

#: One example loops forever; the demo stops its cell sooner than a real run would.
DEMO_CELL_TIMEOUT_SECONDS = 15.0


def _demo_dataset() -> PreparedDataset:
    """The real CIFAR-10 when it can be found or downloaded, else the stand-in."""
    try:
        return find_real()
    except DatasetError as error:
        print(
            "Notice: the real CIFAR-10 is not available here, so the demo grades on "
            "the kit's generated stand-in dataset instead (same layout, drawn "
            f"images).\n  Why: {error}"
        )
        return standin()


def run_demo() -> int:
    """Grade `examples/submissions/` into `demo-output/` and say where to look."""
    dataset = _demo_dataset()
    print(f"Dataset: {dataset.description}")
    settings = load_settings()
    settings = settings.model_copy(
        update={"cell_timeout_seconds": DEMO_CELL_TIMEOUT_SECONDS}
    )
    print(
        f"Grading {EXAMPLES.relative_to(PROJECT_ROOT)}/ (a cell is stopped after "
        f"{DEMO_CELL_TIMEOUT_SECONDS:g} s in the demo)"
    )
    results = grade_submissions(
        [EXAMPLES],
        out=DEMO_OUTPUT,
        seen=dataset,
        jobs=os.cpu_count() or 1,
        settings=settings,
    )
    print()
    for result in results:
        outcome = "ungradable" if result.status == "ungradable" else "graded"
        print(
            f"  {result.student_id:<28} {result.score:>5g} / {result.max_score:g}"
            f"  {outcome}"
        )
    print()
    print(f"Grades:        {DEMO_OUTPUT / 'grades.csv'}")
    print(f"Feedback:      {DEMO_OUTPUT / 'feedback'}/<student>.html")
    print(f"Class summary: {DEMO_OUTPUT / 'summary.html'}")
    return 0
