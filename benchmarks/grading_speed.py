"""How fast the kit grades a class, beside `nbgrader autograde` on the same notebooks.

Run from the project's folder (see benchmarks/README.md for the figures):

    .venv/bin/python -m benchmarks.grading_speed
    .venv/bin/python -m benchmarks.grading_speed --n 8 --sizes 10 40 --skip-nbgrader

One run writes a class of `--n` submissions of mixed kinds, filled into the
release from the tests' corpus of answers (full marks, partial, blank, and one
whose process crashes), and grades it twice on the same machine: with
`python -m autograder grade --jobs <cores>`, as an instructor runs it, and with
`nbgrader autograde` on a scratch nbgrader course. Then it grades classes of
each of `--sizes` with the kit alone, to show how time and memory grow with the
class. Every figure is printed; nothing passes or fails.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import logging
import math
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from autograder.config import PROJECT_ROOT
from autograder.dataset import PreparedDataset, find_real, prepare, standin
from autograder.errors import DatasetError
from autograder.nbgrader_course import NbgraderCourse
from tests.submissions import CORPUS, CorpusSubmission, fill_release

logger = logging.getLogger(__name__)

#: The real CIFAR-10, beside the project on development machines and in CI.
SHARED_ARCHIVE = PROJECT_ROOT.parent / "shared" / "data" / "cifar-10-python.tar.gz"
#: Where the benchmark keeps prepared datasets unless XDG_CACHE_HOME says otherwise.
BENCHMARK_CACHE_HOME = PROJECT_ROOT / ".kit-cache" / "benchmarks"
#: How often the memory of the graders' processes is read, in seconds.
SAMPLE_SECONDS = 0.1
DEFAULT_N = 12
DEFAULT_SIZES = (10, 40, 160)
KIT = "kit"
#: The throughput ratio over nbgrader autograde the kit aims for.
TARGET_RATIO = 20.0
NBGRADER = "nbgrader autograde"


# -- the class ----------------------------------------------------------------


def _answers_of(*names: str) -> dict[str, str]:
    """The answers of the named corpus submissions, later names winning."""
    by_name = {submission.name: submission for submission in CORPUS}
    answers: dict[str, str] = {}
    for name in names:
        answers.update(by_name[name].answers)
    return answers


#: The kinds of submission a class is made of, in the order they repeat.
KINDS: dict[str, CorpusSubmission] = {
    "full-marks": CorpusSubmission("full-marks"),
    "partial": CorpusSubmission(
        "partial",
        _answers_of("counts-typed-in", "grid-first-ten-images", "report-wrong-count"),
    ),
    "blank": CorpusSubmission("blank", _answers_of("untouched-release")),
    "crash": CorpusSubmission(
        "crash",  # the counting cell kills its own process, as a native crash does
        {"step2_counts": "import ctypes\nctypes.string_at(0)  # reads address 0"},
    ),
}


def write_class(folder: Path, size: int) -> dict[str, Path]:
    """Write `size` submissions of every kind in turn; return them by student id."""
    folder.mkdir(parents=True, exist_ok=True)
    notebooks = {kind: fill_release(kind_of) for kind, kind_of in KINDS.items()}
    kinds = list(notebooks)
    class_files = {}
    for number in range(size):
        kind = kinds[number % len(kinds)]
        student_id = f"student-{number:03d}-{kind}"
        path = folder / f"{student_id}.ipynb"
        path.write_text(notebooks[kind], encoding="utf-8")
        class_files[student_id] = path
    return class_files


# -- memory of a process tree -------------------------------------------------


def _parents() -> dict[int, int]:
    """Every process's parent, from /proc."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        parents[int(entry.name)] = int(fields[1])
    return parents


def descendants(root: int) -> list[int]:
    """Every process below `root`, however deep (not `root` itself)."""
    children: dict[int, list[int]] = {}
    for pid, parent in _parents().items():
        children.setdefault(parent, []).append(pid)
    found: list[int] = []
    waiting = list(children.get(root, []))
    while waiting:
        pid = waiting.pop()
        found.append(pid)
        waiting.extend(children.get(pid, []))
    return found


def proportional_bytes(pid: int) -> int:
    """The process's proportional set size: its own pages plus its share of shared ones.

    Summed over processes that share pages (a forked child and its parent),
    every page is counted once. Falls back to the resident size when the
    process's memory map cannot be read.
    """
    try:
        with Path(f"/proc/{pid}/smaps_rollup").open() as rollup:
            for line in rollup:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        resident_pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        return 0
    return resident_pages * os.sysconf("SC_PAGE_SIZE")


class TreeMemory:
    """The peak memory of this process's descendants, sampled inside a `with`."""

    def __init__(self) -> None:
        self.peak_bytes = 0
        self._stop = threading.Event()
        self._sampler = threading.Thread(target=self._keep_sampling, daemon=True)

    def sample(self) -> None:
        held = sum(proportional_bytes(pid) for pid in descendants(os.getpid()))
        self.peak_bytes = max(self.peak_bytes, held)

    def _keep_sampling(self) -> None:
        while not self._stop.wait(SAMPLE_SECONDS):
            self.sample()

    def __enter__(self) -> TreeMemory:
        self._sampler.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._sampler.join()


# -- one grading --------------------------------------------------------------


@dataclass(frozen=True)
class Grading:
    """What one grader did with one class: how long, how much memory, how many."""

    tool: str
    submissions: int
    graded: int
    wall_seconds: float
    peak_bytes: int
    class_ids: list[str]  # every student of the class, in the order graders sort
    finished: dict[str, float]  # seconds from the start, by graded student
    cpu_seconds: float  # user and system time of every process the grader ran
    load: float  # the machine's load average over the last minute, at the end
    exit_code: int = 0
    run_seconds: list[float] = field(default_factory=list)  # per notebook, kit only

    @property
    def seconds_per_submission(self) -> float:
        return self.wall_seconds / self.submissions

    @property
    def cpu_per_submission(self) -> float:
        return self.cpu_seconds / self.submissions

    @property
    def finished_after(self) -> list[float]:
        return sorted(self.finished.values())

    @property
    def steady_seconds(self) -> float | None:
        """Wall time per submission between the first and the last one finished.

        Both graders take submissions in the order of their student ids, so
        the submissions graded in between are counted from that order, also
        those that left no output (nbgrader keeps nothing of a crashed one).
        """
        if len(self.finished) < 2:
            return None
        first = min(self.finished, key=self.finished.__getitem__)
        last = max(self.finished, key=self.finished.__getitem__)
        between = abs(self.class_ids.index(last) - self.class_ids.index(first))
        span = self.finished[last] - self.finished[first]
        return span / between if between else None

    @property
    def median_gap_seconds(self) -> float | None:
        """The median wall time between two submissions finishing."""
        if len(self.finished_after) < 2:
            return None
        gaps = itertools.pairwise(self.finished_after)
        return statistics.median(later - earlier for earlier, later in gaps)


def children_cpu_seconds() -> float:
    """User and system seconds of every finished process this one started."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _finish_times(
    files_by_student: dict[str, Path], started_at: float
) -> dict[str, float]:
    return {
        student_id: path.stat().st_mtime - started_at
        for student_id, path in files_by_student.items()
    }


def grade_with_kit(
    folder: Path, out: Path, dataset_argument: Path, jobs: int
) -> Grading:
    """Grade `folder` with `python -m autograder grade`, as an instructor would."""
    command = [
        sys.executable,
        "-m",
        "autograder",
        "grade",
        str(folder),
        "--out",
        str(out),
        "--dataset",
        str(dataset_argument),
        "--jobs",
        str(jobs),
    ]
    log = out.with_name(f"{out.name}.log")
    cpu_before = children_cpu_seconds()
    started_at, started = time.time(), time.perf_counter()
    with log.open("wb") as stream, TreeMemory() as memory:
        exit_code = subprocess.run(
            command, stdout=stream, stderr=subprocess.STDOUT, check=False
        ).returncode
    wall = time.perf_counter() - started
    if exit_code != 0:
        tail = log.read_text(encoding="utf-8", errors="replace")[-2000:]
        raise RuntimeError(f"the kit exited with {exit_code}; its log ends:\n{tail}")
    results = sorted((out / "results").glob("*.json"))
    return Grading(
        tool=KIT,
        submissions=len(list(folder.glob("*.ipynb"))),
        graded=_rows_of(out / "grades.csv"),
        wall_seconds=wall,
        peak_bytes=memory.peak_bytes,
        class_ids=sorted(path.stem for path in folder.glob("*.ipynb")),
        finished=_finish_times({path.stem: path for path in results}, started_at),
        cpu_seconds=children_cpu_seconds() - cpu_before,
        load=os.getloadavg()[0],
        run_seconds=[_run_seconds(path) for path in results],
    )


def _rows_of(grades_csv: Path) -> int:
    with grades_csv.open(encoding="utf-8", newline="") as stream:
        return sum(1 for _ in csv.DictReader(stream))


def _run_seconds(result_json: Path) -> float:
    timings = json.loads(result_json.read_text(encoding="utf-8")).get("timings", {})
    return float(timings.get("run", 0.0))


def grade_with_nbgrader(
    class_files: dict[str, Path], root: Path, dataset: PreparedDataset
) -> Grading:
    """Grade the same notebooks with `nbgrader autograde` on a scratch course.

    Building the course (`generate_assignment`) is not timed: an instructor
    does it once per assignment, as the kit's `release`. nbgrader exits
    non-zero when a notebook's kernel dies; the others are graded all the same.
    """
    course = NbgraderCourse(root)
    course.create()
    for student_id, notebook in class_files.items():
        course.submit(student_id, notebook)
    cpu_before = children_cpu_seconds()
    started_at, started = time.time(), time.perf_counter()
    exit_code = 0
    with TreeMemory() as memory:
        try:
            course.autograde(dataset)
        except subprocess.CalledProcessError as error:
            exit_code = error.returncode
    wall = time.perf_counter() - started
    graded = {
        path.parent.parent.name: path
        for path in (root / "autograded").glob(f"*/{course.assignment}/*.ipynb")
    }
    return Grading(
        tool=NBGRADER,
        submissions=len(class_files),
        graded=len(graded),
        wall_seconds=wall,
        peak_bytes=memory.peak_bytes,
        class_ids=sorted(class_files),
        finished=_finish_times(graded, started_at),
        cpu_seconds=children_cpu_seconds() - cpu_before,
        load=os.getloadavg()[0],
        exit_code=exit_code,
    )


# -- the whole benchmark ------------------------------------------------------


@dataclass
class Report:
    """Every grading the benchmark did, for printing and for the tests."""

    dataset: str
    jobs: int
    compared: list[Grading] = field(default_factory=list)
    by_size: list[Grading] = field(default_factory=list)


def benchmark_dataset(path: Path | None) -> tuple[PreparedDataset, Path]:
    """The dataset to grade on, and the path to hand the kit's `--dataset`.

    The one named, else the real CIFAR-10 beside the project or in Keras's
    cache, else the generated stand-in. It is prepared here, before any clock
    starts, so that no grading pays for unpacking it.
    """
    if path is not None:
        return prepare(path), path
    if SHARED_ARCHIVE.is_file():
        return prepare(SHARED_ARCHIVE), SHARED_ARCHIVE
    try:
        dataset = find_real(allow_download=False)
    except DatasetError as error:
        logger.warning("grading on the generated stand-in: %s", error)
        dataset = standin()
    return dataset, dataset.batches


def run(options: argparse.Namespace) -> Report:
    """Make the classes, grade them, print the figures; return them too."""
    dataset, dataset_argument = benchmark_dataset(options.dataset)
    report = Report(dataset=dataset.description, jobs=options.jobs)
    print(f"Dataset: {dataset.description}")
    print(f"Machine: {os.cpu_count()} cores; the kit runs with --jobs {options.jobs}")
    with tempfile.TemporaryDirectory(prefix="grading-speed-") as scratch:
        work = Path(scratch)
        kit_runs: dict[int, Grading] = {}
        if options.n:
            report.compared = _compare(options, work, dataset, dataset_argument)
            kit_runs[options.n] = report.compared[0]
            print_comparison(report.compared)
        for size in options.sizes:
            if size not in kit_runs:
                kit_runs[size] = _kit_on_class(work, size, dataset_argument, options)
        report.by_size = [kit_runs[size] for size in options.sizes]
        if report.by_size:
            print_growth(report.by_size)
        if len(report.compared) > 1 and len(kit_runs) > 1:
            print_crossing(list(kit_runs.values()), report.compared[1])
    return report


def _compare(
    options: argparse.Namespace,
    work: Path,
    dataset: PreparedDataset,
    dataset_argument: Path,
) -> list[Grading]:
    folder = work / f"class-{options.n}"
    class_files = write_class(folder, options.n)
    print(f"\nGrading {options.n} submissions ({', '.join(KINDS)} in turn)")
    gradings = [_kit_on(folder, work, dataset_argument, options.jobs)]
    if not options.skip_nbgrader:
        print(f"  {NBGRADER} (one notebook at a time) ...", flush=True)
        course = work / f"nbgrader-course-{options.n}"
        gradings.append(grade_with_nbgrader(class_files, course, dataset))
    return gradings


def _kit_on_class(
    work: Path, size: int, dataset_argument: Path, options: argparse.Namespace
) -> Grading:
    folder = work / f"class-{size}"
    write_class(folder, size)
    return _kit_on(folder, work, dataset_argument, options.jobs)


def _kit_on(folder: Path, work: Path, dataset_argument: Path, jobs: int) -> Grading:
    print(f"  kit on {folder.name} ...", flush=True)
    return grade_with_kit(folder, work / f"{folder.name}-out", dataset_argument, jobs)


# -- printing -----------------------------------------------------------------


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _mib(value: int) -> str:
    return f"{value / 2**20:,.0f}"


#: The columns of every table the benchmark prints.
HEADER = (
    f"{'':<20} {'graded':>7} {'wall s':>7} {'s/sub':>6} {'steady':>7} "
    f"{'med gap':>7} {'CPU/sub':>7} {'peak MiB':>8} {'load':>5}"
)
LEGEND = """\
s/sub: wall time / submissions. steady: wall time per submission between the first
and the last one finished (start-up left out). med gap: median wall time between
two submissions finishing. CPU/sub: CPU time of all the grader's processes /
submissions. peak MiB: proportional memory (PSS) of the grader's whole process
tree, sampled every 0.1 s. load: the machine's 1-minute load average at the end."""


def _row(label: str, grading: Grading) -> str:
    note = "" if grading.exit_code == 0 else f"  (exit {grading.exit_code})"
    return (
        f"{label:<20} {grading.graded:>3}/{grading.submissions:<3} "
        f"{grading.wall_seconds:>7.1f} {grading.seconds_per_submission:>6.2f} "
        f"{_seconds(grading.steady_seconds):>7} "
        f"{_seconds(grading.median_gap_seconds):>7} "
        f"{grading.cpu_per_submission:>7.2f} {_mib(grading.peak_bytes):>8} "
        f"{grading.load:>5.1f}{note}"
    )


def print_comparison(gradings: Sequence[Grading]) -> None:
    """One row per grader, then how many times faster the kit is."""
    print(f"\n{HEADER}")
    for grading in gradings:
        print(_row(grading.tool, grading))
    kit = gradings[0]
    if kit.finished_after:
        print(
            "kit: first notebook graded "
            f"{kit.finished_after[0]:.1f} s after the command started"
        )
    if kit.run_seconds:
        print(
            "kit: median run of one notebook in its child "
            f"{statistics.median(kit.run_seconds):.2f} s"
        )
    if len(gradings) > 1:
        print_ratio(kit, gradings[1])
    print(LEGEND)


def print_ratio(kit: Grading, nbgrader: Grading) -> None:
    """Throughput of the kit over nbgrader's: whole commands, steady pace, CPU."""
    whole = nbgrader.wall_seconds / kit.wall_seconds
    print(f"throughput ratio, whole commands (start-up included): {whole:.1f}x")
    if kit.steady_seconds and nbgrader.steady_seconds:
        steady = nbgrader.steady_seconds / kit.steady_seconds
        print(f"throughput ratio, steady pace (start-up left out): {steady:.1f}x")
    work = nbgrader.cpu_seconds / kit.cpu_seconds
    print(f"CPU time ratio, whole commands: {work:.1f}x")


def straight_line(
    sizes: Sequence[int], values: Sequence[float]
) -> tuple[float, float, float]:
    """Least-squares `fixed + per_submission * size` through the points.

    Also returns the largest distance of a point from that line, as a share
    of the point's own value.
    """
    fit = statistics.linear_regression(sizes, values)
    worst = max(
        abs(value - (fit.intercept + fit.slope * size)) / value
        for size, value in zip(sizes, values, strict=True)
    )
    return fit.intercept, fit.slope, worst


def print_growth(gradings: Sequence[Grading]) -> None:
    """Time and memory per class size, and how far time is from a straight line."""
    print(f"\n{HEADER}")
    for grading in gradings:
        print(_row(f"kit, {grading.submissions} submissions", grading))
    sizes = [grading.submissions for grading in gradings]
    if len(set(sizes)) < 2:
        print("(two class sizes or more show how time grows)")
        return
    for name, values in (
        ("wall time", [grading.wall_seconds for grading in gradings]),
        ("CPU time", [grading.cpu_seconds for grading in gradings]),
    ):
        fixed, per_submission, worst = straight_line(sizes, values)
        fit = (
            f"every size within {worst:.0%} of that line"
            if len(set(sizes)) > 2
            else "a line through two sizes"
        )
        line = f"{fixed:.1f} s fixed + {per_submission:.2f} s per submission"
        print(f"{name}: {line}; {fit}")
    peaks = [grading.peak_bytes for grading in gradings]
    print(
        f"peak memory: {_mib(peaks[0])} MiB at {sizes[0]} submissions, "
        f"{_mib(peaks[-1])} MiB at {sizes[-1]}, {_mib(max(peaks))} MiB at most"
    )


def print_crossing(kit_runs: Sequence[Grading], nbgrader: Grading) -> None:
    """From which class size whole commands reach TARGET_RATIO times nbgrader's.

    Projected from a straight line through the kit's runs and from nbgrader's
    steady pace: nbgrader has next to no start-up of its own, since it starts a
    kernel per notebook anyway.
    """
    fit = straight_line(
        [grading.submissions for grading in kit_runs],
        [grading.wall_seconds for grading in kit_runs],
    )
    fixed, per_submission, _ = fit
    pace = nbgrader.steady_seconds or nbgrader.seconds_per_submission
    room = pace - TARGET_RATIO * per_submission
    if room <= 0:
        print(f"whole commands never reach {TARGET_RATIO:g}x nbgrader's throughput")
        return
    size = math.ceil(TARGET_RATIO * fixed / room)
    print(
        f"whole commands reach {TARGET_RATIO:g}x nbgrader's throughput from about "
        f"{size} submissions (projected: a line through the kit's runs, nbgrader at "
        f"{pace:.2f} s per submission)"
    )


# -- command line -------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.grading_speed",
        description="Time the kit's grading beside nbgrader autograde.",
    )
    parser.add_argument(
        "--n",
        type=int,
        default=DEFAULT_N,
        help="submissions graded by both (0: none)",
    )
    parser.add_argument(
        "--sizes",
        type=int,
        nargs="*",
        default=list(DEFAULT_SIZES),
        help="class sizes the kit grades alone",
    )
    parser.add_argument(
        "--skip-nbgrader", action="store_true", help="grade with the kit only"
    )
    parser.add_argument(
        "--dataset",
        type=Path,
        help="cifar-10-python.tar.gz or a cifar-10-batches-py folder "
        "(default: the real CIFAR-10 if found, else the stand-in)",
    )
    parser.add_argument(
        "--jobs", type=int, default=os.cpu_count() or 1, help="the kit's --jobs"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    os.environ.setdefault("XDG_CACHE_HOME", str(BENCHMARK_CACHE_HOME))
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    run(parse_args(argv))
    return 0


if __name__ == "__main__":
    sys.exit(main())
