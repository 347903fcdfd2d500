"""Grade the whole hostile corpus in one batch and say how each case was handled.

    .venv/bin/python benchmarks/hostile_corpus.py

Grades every case of `tests/hostile/` beside good students on the generated
stand-in dataset, then the good students alone, and prints one line per case,
the batch's figures, and last `N passed, M failed`. Exits non-zero when any
case was not handled as expected.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
# Prepared datasets go to the project's test cache, as in the tests.
os.environ.setdefault("XDG_CACHE_HOME", str(PROJECT / ".kit-cache" / "tests"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(PROJECT))

from autograder.config import load_settings  # noqa: E402
from autograder.dataset import standin  # noqa: E402
from tests.hostile.cases import CASES, problems  # noqa: E402
from tests.hostile.grading import grade_corpus, unchanged_good_students  # noqa: E402


def main() -> int:
    seen = standin(0, cache_dir=load_settings().cache_dir)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="hostile-corpus-") as workdir:
        run = grade_corpus(seen, Path(workdir))
    seconds = time.perf_counter() - started

    passed = failed = 0
    for case in CASES:
        if case not in run.cases:
            print(f"skipped  {case.name:26} needs the sandbox")
            continue
        result = run.results.get(case.name)
        found = problems(case, result, run.evidence.get(case.name), run.batch)
        status = result.status if result else "-"
        print(f"{'ok' if not found else 'FAILED':8} {case.name:26} {status:10}", end="")
        print("; ".join(found))
        passed, failed = passed + (not found), failed + bool(found)

    changed = unchanged_good_students(run)
    print(f"good students changed by the corpus: {changed or 'none'}")
    passed, failed = passed + (not changed), failed + bool(changed)
    print(f"sandbox: {'on' if run.sandboxed else 'off'}")
    print(f"both batches: {seconds:.1f} s for {len(run.cases) + 4} notebooks")
    print(f"grader peak memory: {run.grader_peak_bytes / 2**20:.0f} MiB")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
