"""Running submissions in processes of their own, and what survives their faults.

One fork executor and one kernel executor serve the whole module; every
notebook of a kind runs in one batch, next to a good notebook whose evidence
must not change because of its neighbours.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbformat import NotebookNode, v4

from autograder.config import KitSettings, load_settings
from autograder.dataset import PreparedDataset, truth
from autograder.errors import KitError
from autograder.isolation import CPU_GROUPS
from autograder.model import Evidence
from autograder.run import RunJob, RunSetup, open_executor
from autograder.run_fork import ForkExecutor
from autograder.run_warm import RunnerExecutor

pytestmark = pytest.mark.slow

SETTINGS = load_settings().model_copy(
    update={
        "cell_timeout_seconds": 3,
        "notebook_timeout_seconds": 40,
        "output_limit_bytes": 20_000,
        "memory_limit_bytes": 300 * 2**20,
    }
)
#: A kernel imports TensorFlow itself: its cells need longer, its memory more.
KERNEL_SETTINGS = SETTINGS.model_copy(
    update={"cell_timeout_seconds": 30, "memory_limit_bytes": 2 * 2**30}
)

SETUP = """\
import numpy as np
import matplotlib.pyplot as plt
import tensorflow as tf
(x_train, y_train), (x_test, y_test) = tf.keras.datasets.cifar10.load_data()
class_names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog",
               "horse", "ship", "truck"]"""

COUNT = """\
%matplotlib inline
counts = np.bincount(y_train.flatten(), minlength=10)
for name, count in zip(class_names, counts):
    print(f"{name}: {count}")"""

GRID = """\
fig, axes = plt.subplots(2, 5, figsize=(10, 4))
for label, ax in enumerate(axes.flat):
    index = int(np.flatnonzero(y_train.flatten() == label)[0])
    ax.imshow(x_train[index])
    ax.set_title(class_names[label])
    ax.axis("off")
plt.show()"""

#: Each hostile cell runs between a print before and a print after it.
HOSTILE: dict[str, str] = {
    "sys_exit": "import sys\nsys.exit(3)",
    "os_exit": "import os\nos._exit(0)",
    "segfault": "import ctypes\nctypes.string_at(0)",
    "busy_loop": "while True:\n    pass",
    "sleep": "import time\ntime.sleep(60)",
    "flood": "while True:\n    print('x' * 100)",
    "memory": "hoard = []\nwhile True:\n    hoard.append(bytearray(50 * 2**20))",
    "network": "import socket\nsocket.create_connection(('192.0.2.1', 80), timeout=20)",
}


def code(source: str, grade_id: str | None = None) -> NotebookNode:
    metadata = {"nbgrader": {"grade_id": grade_id}} if grade_id else {}
    cell: NotebookNode = v4.new_code_cell(source, metadata=metadata)
    return cell


def notebook_json(*cells: NotebookNode) -> str:
    notebook = v4.new_notebook(cells=list(cells))
    text: str = nbformat.writes(notebook)
    return text


def good_notebook() -> str:
    step2 = v4.new_markdown_cell("## Step 2: count")
    return notebook_json(
        code(SETUP, "setup"),
        step2,
        code(COUNT, "step2_counts"),
        code(GRID, "step3_grid"),
        code("counts[10]"),
        code("tricky_index = int(counts.argmin())\nprint('done')"),
    )


def hostile_notebook(cell: str) -> str:
    return notebook_json(code("print('before')"), code(cell), code("print('after')"))


def job(key: str, notebook_json: str, scratch: Path) -> RunJob:
    return RunJob(key=key, notebook_json=notebook_json, scratch=scratch / key)


def setup_on(dataset: PreparedDataset, settings: KitSettings, jobs: int) -> RunSetup:
    return RunSetup(
        dataset_root=dataset.root,
        dataset_fingerprint=dataset.fingerprint,
        settings=settings,
        jobs=jobs,
    )


def masked(evidence: Evidence) -> dict[str, Any]:
    """Evidence without what legitimately differs between runs and executors."""
    data = evidence.model_dump(exclude={"seconds", "executor"})
    for cell in data["cells"]:
        cell["seconds"] = 0
        if cell["error"]:
            cell["error"]["traceback"] = ""
    for figure in data["figures"]:
        figure["png_base64"] = None
    return data


@pytest.fixture(scope="module")
def fork_executor(standin_dataset: PreparedDataset) -> Iterator[RunnerExecutor]:
    """The fork executor as `grade` uses it: in a runner process of its own."""
    with open_executor("fork", setup_on(standin_dataset, SETTINGS, 2)) as executor:
        assert isinstance(executor, RunnerExecutor)
        yield executor


@pytest.fixture(scope="module")
def fork_alone(
    fork_executor: RunnerExecutor, tmp_path_factory: pytest.TempPathFactory
) -> Evidence:
    """The good notebook, run on its own."""
    scratch = tmp_path_factory.mktemp("alone")
    ((_, evidence),) = fork_executor.run_many([job("good", good_notebook(), scratch)])
    return evidence


@pytest.fixture(scope="module")
def fork_batch(
    fork_executor: RunnerExecutor, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Evidence]:
    """The good notebook among every hostile one, in one batch."""
    scratch = tmp_path_factory.mktemp("batch")
    jobs = [job(key, hostile_notebook(cell), scratch) for key, cell in HOSTILE.items()]
    jobs.insert(len(jobs) // 2, job("good", good_notebook(), scratch))
    where = "import os\nprint(os.getcwd())\nprint(os.environ['HOME'])"
    jobs.append(job("where", hostile_notebook(where), scratch))
    return {done.key: evidence for done, evidence in fork_executor.run_many(jobs)}


def test_does_a_good_notebook_complete_with_counts_printed_and_found(
    fork_alone: Evidence, standin_dataset: PreparedDataset
) -> None:
    expected = truth(standin_dataset).class_counts
    assert fork_alone.outcome == "completed"
    assert fork_alone.executor == "fork"
    assert fork_alone.dataset_fingerprint == standin_dataset.fingerprint
    count_cell = fork_alone.cells[2]
    assert count_cell.grade_id == "step2_counts"
    assert count_cell.error is None
    assert count_cell.stdout.splitlines()[0] == f"airplane: {expected[0]}"
    assert fork_alone.namespace.int_sequences["counts"] == expected
    assert fork_alone.namespace.ints["tricky_index"] == expected.index(min(expected))


def test_is_the_shown_grid_captured_with_titles_and_real_images(
    fork_alone: Evidence, standin_dataset: PreparedDataset
) -> None:
    dataset = truth(standin_dataset)
    (grid,) = fork_alone.figures
    assert grid.cell == 3
    assert grid.png_base64
    for label, axes in enumerate(grid.axes):
        assert axes.title == dataset.label_names[label]
        assert not axes.axis_on
        found = dataset.lookup(axes.images[0].key)
        assert found is not None
        assert found[1] == label


def test_are_markdown_cells_kept_with_their_source(fork_alone: Evidence) -> None:
    markdown = fork_alone.cells[1]
    assert markdown.cell_type == "markdown"
    assert markdown.source == "## Step 2: count"


def test_does_an_error_cell_leave_the_following_cells_running(
    fork_alone: Evidence,
) -> None:
    error_cell, last_cell = fork_alone.cells[4], fork_alone.cells[5]
    assert error_cell.error is not None
    assert error_cell.error.ename == "IndexError"
    assert "\x1b[" not in error_cell.error.traceback
    assert last_cell.error is None
    assert last_cell.stdout == "done\n"


def test_is_the_good_notebook_unchanged_by_its_neighbours_in_a_batch(
    fork_alone: Evidence, fork_batch: dict[str, Evidence]
) -> None:
    assert masked(fork_batch["good"]) == masked(fork_alone)


def test_is_sys_exit_only_an_error_of_its_cell(fork_batch: dict[str, Evidence]) -> None:
    evidence = fork_batch["sys_exit"]
    assert evidence.outcome == "completed"
    assert evidence.cells[1].error is not None
    assert evidence.cells[1].error.ename == "SystemExit"
    assert evidence.cells[2].stdout == "after\n"


@pytest.mark.parametrize(
    ("key", "outcome", "detail"),
    [
        pytest.param("os_exit", "crashed", "exited with status 0", id="os-exit"),
        pytest.param("segfault", "crashed", "SIGSEGV", id="segfault"),
        pytest.param("busy_loop", "timeout", "3 s limit", id="busy-loop"),
        pytest.param("sleep", "timeout", "3 s limit", id="sleep"),
        pytest.param("flood", "output_limit", "20000 bytes", id="flood"),
        pytest.param("memory", "memory", "300 MiB", id="memory"),
    ],
)
def test_does_a_fault_end_only_its_run_keeping_the_cells_before(
    fork_batch: dict[str, Evidence], key: str, outcome: str, detail: str
) -> None:
    evidence = fork_batch[key]
    assert evidence.outcome == outcome
    assert evidence.outcome_detail.startswith("cell 1")
    assert detail in evidence.outcome_detail
    assert evidence.cells[0].stdout == "before\n"
    assert [cell.index for cell in evidence.cells] == [0, 1]
    assert evidence.cells[1].error is not None


def test_is_a_flood_of_output_cut_at_the_limit(fork_batch: dict[str, Evidence]) -> None:
    flood = fork_batch["flood"].cells[1]
    written = len("before\n") + len(flood.stdout)
    assert written == SETTINGS.output_limit_bytes
    assert flood.error is not None
    assert flood.error.ename == "OutputLimitExceeded"


def test_does_a_connection_fail_at_once_and_the_notebook_go_on(
    fork_batch: dict[str, Evidence],
) -> None:
    evidence = fork_batch["network"]
    assert evidence.outcome == "completed"
    error = evidence.cells[1].error
    assert error is not None
    assert error.ename in {"OSError", "NetworkBlockedError"}
    assert evidence.cells[2].stdout == "after\n"


def test_does_a_notebook_run_in_its_own_scratch_folder(
    fork_batch: dict[str, Evidence], tmp_path_factory: pytest.TempPathFactory
) -> None:
    cwd, home = fork_batch["where"].cells[1].stdout.splitlines()
    assert cwd == home
    assert Path(cwd).name == "where"


def test_is_every_child_reaped_after_a_batch(
    fork_executor: RunnerExecutor, fork_batch: dict[str, Evidence]
) -> None:
    runner = str(fork_executor.runner.process.pid)
    leftovers = []
    for status in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = status.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[1] == runner:  # the parent's pid
            leftovers.append((status.parent.name, fields[0]))
    assert fork_executor.runner.process.poll() is None, "the runner serves on"
    assert leftovers == []


def test_does_a_closed_executor_leave_no_cpu_group_behind(
    standin_dataset: PreparedDataset, tmp_path: Path
) -> None:
    before = set(CPU_GROUPS.glob("data-detective-*"))
    with ForkExecutor(setup_on(standin_dataset, SETTINGS, 2)) as executor:
        jobs = [job(key, hostile_notebook(""), tmp_path) for key in ("one", "two")]
        finished = list(executor.run_many(jobs))
    if not executor.sandboxed:
        pytest.skip("no sandbox here: the grader is not root on Linux")

    assert len(finished) == 2
    assert set(CPU_GROUPS.glob("data-detective-*")) - before == set()


def test_is_the_fork_executor_refused_outside_the_main_thread(
    standin_dataset: PreparedDataset, tmp_path: Path
) -> None:
    raised: list[BaseException] = []
    executor = ForkExecutor(setup_on(standin_dataset, SETTINGS, 1))

    def run() -> None:
        try:
            list(executor.run_many([job("thread", hostile_notebook(""), tmp_path)]))
        except KitError as error:
            raised.append(error)

    worker = threading.Thread(target=run)
    worker.start()
    worker.join()
    assert len(raised) == 1


# -- the kernel executor, the reference ------------------------------------------


@pytest.fixture(scope="module")
def kernel_batch(
    standin_dataset: PreparedDataset, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Evidence]:
    """The good notebook and three faults, each in a real Jupyter kernel."""
    scratch = tmp_path_factory.mktemp("kernel")
    jobs = [job("good", good_notebook(), scratch)]
    for key in ("segfault", "flood", "sys_exit"):
        jobs.append(job(key, hostile_notebook(HOSTILE[key]), scratch))
    setup = setup_on(standin_dataset, KERNEL_SETTINGS, 2)
    with open_executor("kernel", setup) as executor:
        return {done.key: evidence for done, evidence in executor.run_many(jobs)}


def test_do_both_executors_capture_the_same_evidence(
    fork_alone: Evidence, kernel_batch: dict[str, Evidence]
) -> None:
    kernel = kernel_batch["good"]
    assert kernel.executor == "kernel"
    assert masked(kernel) == masked(fork_alone)


@pytest.mark.parametrize(
    ("key", "outcome"),
    [
        pytest.param("segfault", "crashed", id="segfault"),
        pytest.param("flood", "output_limit", id="flood"),
        pytest.param("sys_exit", "completed", id="sys-exit"),
    ],
)
def test_does_a_kernel_fault_end_only_its_own_run(
    kernel_batch: dict[str, Evidence], key: str, outcome: str
) -> None:
    evidence = kernel_batch[key]
    assert evidence.outcome == outcome
    assert evidence.cells[0].stdout == "before\n"
    assert evidence.cells[1].error is not None
