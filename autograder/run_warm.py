"""The fork executor in a process of its own, warming up from the start.

Importing TensorFlow is most of a `grade` command's start-up. A `WarmRunner`
starts a process that begins that import at once, on the other core, while the
grader prepares the grading dataset and takes in the submissions. When those
are ready the grader sends the dataset, then the jobs; the runner forks a child
per notebook from its warm self (`autograder.run_fork`) and hands back each
one's evidence as soon as it has it.

The two talk over two pipes, one JSON message per line. Grader to runner: an
`Order` with the batch's setup (the dataset, the limits), then one per batch of
jobs; the runner ends when the grader closes the pipe, or on SIGTERM, which the
grader sends to stop it in the middle of something and which it also gets if
the grader dies. Runner to grader: `ready`, then per batch one `finished` per
job and `done`; or `failed` with a reason; and, at any time, the runner's `log`
records, which the grader logs as its own. Jobs and evidence travel as files in
a folder only this user can read: evidence can be large, and neither side
should wait for the other to empty a pipe.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from types import FrameType, TracebackType
from typing import IO, TYPE_CHECKING, Literal

from autograder.errors import KitError
from autograder.model import Evidence, Model
from autograder.run import BatchExecutor, RunJob, RunSetup

if TYPE_CHECKING:
    from autograder.run_fork import ForkExecutor

logger = logging.getLogger(__name__)

#: How long a runner that was told to stop may take to clean up, in seconds.
STOP_SECONDS = 20.0
JOBS_FILE = "jobs.jsonl"


class Order(Model):
    """The grader's message: the setup to warm up with first, then the jobs to run."""

    setup: RunSetup | None = None
    folder: Path | None = None  # holds JOBS_FILE; the runner writes evidence here


class Reply(Model):
    """The runner's message."""

    type: Literal["ready", "finished", "done", "failed", "log"]
    seconds: float = 0.0  # ready: since the runner started
    sandboxed: bool = False
    key: str = ""  # finished: the job's key
    evidence_file: Path | None = None
    message: str = ""  # failed: what went wrong, for a person; log: the record
    level: int = logging.INFO  # log
    logger: str = ""  # log: the name of the runner's logger


# -- the grader's side --------------------------------------------------------


class WarmRunner:
    """A runner process, importing from the moment this object is made.

    It serves one executor (`open`), for as many batches as that one runs;
    closing it, or leaving its `with` block, lets it end, or stops it if it is
    still importing or running a batch.
    """

    def __init__(self) -> None:
        orders_read, orders_write = os.pipe()
        replies_read, replies_write = os.pipe()
        command = [
            *(sys.executable, "-m", "autograder.run_warm"),
            *("--orders", str(orders_read), "--replies", str(replies_write)),
            *("--grader", str(os.getpid())),
            *("--log-level", str(logging.getLogger().getEffectiveLevel())),
        ]
        try:
            self.process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, pass_fds=(orders_read, replies_write)
            )
        finally:
            os.close(orders_read)
            os.close(replies_write)
        self._orders: IO[bytes] = os.fdopen(orders_write, "wb")
        self._replies: IO[bytes] = os.fdopen(replies_read, "rb")
        self._opened = False
        self._idle = False  # warm and between batches: it may simply be let go

    def open(self, setup: RunSetup) -> RunnerExecutor:
        """The executor this runner serves; it stops the runner when it closes."""
        if self._opened:
            raise RuntimeError("a warm runner serves one executor")
        self._opened = True
        return RunnerExecutor(self, setup)

    def send(self, order: Order) -> None:
        if order.folder is not None:
            self._idle = False
        try:
            self._orders.write(order.model_dump_json().encode() + b"\n")
            self._orders.flush()
        except OSError as error:
            raise self._stopped() from error

    def receive(self) -> Reply:
        """The runner's next reply; its log records are logged on the way."""
        while True:
            line = self._replies.readline()
            if not line:
                raise self._stopped()
            reply = Reply.model_validate_json(line)
            if reply.type != "log":
                break
            logging.getLogger(reply.logger).log(reply.level, "%s", reply.message)
        if reply.type == "failed":
            raise KitError(f"the notebooks could not be run: {reply.message}")
        if reply.type in ("ready", "done"):
            self._idle = True
        return reply

    def close(self) -> None:
        """Let an idle runner end; stop one that is importing or running."""
        with contextlib.suppress(OSError):
            self._orders.close()
        if self.process.poll() is None and not self._idle:
            self.process.terminate()
        try:
            self.process.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            logger.warning("the runner did not stop in %g s: killing it", STOP_SECONDS)
            self.process.kill()
            self.process.wait()
        self._replies.close()

    def _stopped(self) -> KitError:
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=STOP_SECONDS)
        code = self.process.returncode
        how = "is still running" if code is None else f"ended with status {code}"
        if code is not None and code < 0:
            with contextlib.suppress(ValueError):
                how = f"was killed by {signal.Signals(-code).name}"
        return KitError(
            f"the process running the notebooks {how}; the results recorded so "
            "far are kept: run the same command again to grade the rest"
        )

    def __enter__(self) -> WarmRunner:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()


class RunnerExecutor(BatchExecutor):
    """The grader's handle on a runner: the `Executor` interface, over pipes."""

    kind = "fork"

    def __init__(self, runner: WarmRunner, setup: RunSetup) -> None:
        super().__init__(setup)
        self.runner = runner
        self.sandboxed = False

    def __enter__(self) -> RunnerExecutor:
        """Send the setup; wait until the runner is warm."""
        try:
            self.runner.send(Order(setup=self.setup))
            ready = self.runner.receive()
        except BaseException:
            self.runner.close()
            raise
        self.startup_seconds = ready.seconds
        self.sandboxed = ready.sandboxed
        logger.info("runner warm %.1f s after it started", ready.seconds)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.runner.close()

    def run_many(self, jobs: Iterable[RunJob]) -> Iterator[tuple[RunJob, Evidence]]:
        """Hand every job to the runner; yield each as its evidence comes back."""
        folder = Path(tempfile.mkdtemp(prefix="data-detective-runner-"))
        try:
            by_key = {}
            with (folder / JOBS_FILE).open("w", encoding="utf-8") as file:
                for job in jobs:
                    by_key[job.key] = job
                    file.write(job.model_dump_json() + "\n")
            self.runner.send(Order(folder=folder))
            while (reply := self.runner.receive()).type == "finished":
                assert reply.evidence_file is not None
                evidence = Evidence.model_validate_json(
                    reply.evidence_file.read_bytes()
                )
                reply.evidence_file.unlink()
                yield by_key[reply.key], evidence
        finally:
            shutil.rmtree(folder, ignore_errors=True)


# -- the runner's side --------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """The runner process: warm up, take the dataset, run the jobs, answer.

    Ctrl-C reaches the grader and this process alike; the grader decides, and
    stops this one with SIGTERM, which unwinds the fork executor: its children
    are killed and its CPU groups released.
    """
    options = _parse(argv)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _exit_on_signal)
    from autograder.isolation import die_with_parent

    die_with_parent(options.grader, signal.SIGTERM)
    started = time.perf_counter()
    with (
        os.fdopen(options.orders, "rb") as orders,
        os.fdopen(options.replies, "wb") as replies,
    ):
        logging.root.addHandler(_LogsToGrader(replies))
        logging.root.setLevel(options.log_level)
        try:
            return _serve(orders, replies, started)
        except KitError as error:
            _reply(replies, Reply(type="failed", message=str(error)))
        except Exception as error:
            logger.exception("the runner failed")
            _reply(replies, Reply(type="failed", message=repr(error)))
        return 1


def _serve(orders: IO[bytes], replies: IO[bytes], started: float) -> int:
    from autograder.run_fork import ForkExecutor, warm_imports

    warm_imports()
    line = orders.readline()
    if not line:  # the grader had nothing to run
        return 0
    setup = Order.model_validate_json(line).setup
    if setup is None:
        raise KitError("the first order must hold the setup of the batch")
    with ForkExecutor(setup) as executor:
        seconds = round(time.perf_counter() - started, 3)
        _reply(
            replies, Reply(type="ready", seconds=seconds, sandboxed=executor.sandboxed)
        )
        while line := orders.readline():
            folder = Order.model_validate_json(line).folder
            if folder is None:
                raise KitError("an order after the first must name a jobs' folder")
            _run_batch(executor, folder, replies)
    return 0


def _run_batch(executor: ForkExecutor, folder: Path, replies: IO[bytes]) -> None:
    """Run the jobs in `folder`; put each one's evidence beside them.

    No `enumerate` around the jobs: it keeps its last (number, item) tuple,
    out of reach of `forget_callers`, so the next child forked would inherit
    the previous student's job and evidence.
    """
    numbers = itertools.count(1)
    for job, evidence in executor.run_many(_jobs_in(folder / JOBS_FILE)):
        path = folder / f"evidence-{next(numbers):05d}.json"
        path.write_text(evidence.model_dump_json(), encoding="utf-8")
        _reply(replies, Reply(type="finished", key=job.key, evidence_file=path))
    _reply(replies, Reply(type="done"))


def _jobs_in(path: Path) -> Iterator[RunJob]:
    with path.open(encoding="utf-8") as file:
        for line in file:
            yield RunJob.model_validate_json(line)


def _reply(replies: IO[bytes], reply: Reply) -> None:
    with _REPLYING:
        replies.write(reply.model_dump_json().encode() + b"\n")
        replies.flush()


_REPLYING = threading.Lock()  # a library's thread may log while the runner replies


class _LogsToGrader(logging.Handler):
    """Sends the runner's log records to the grader, which shows or keeps them.

    A forked notebook closes the pipe before its code runs, so nothing it logs
    can reach the grader this way.
    """

    def __init__(self, replies: IO[bytes]) -> None:
        super().__init__()
        self.replies = replies

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
            if record.exc_info:
                message += "\n" + logging.Formatter().formatException(record.exc_info)
            reply = Reply(
                type="log", level=record.levelno, logger=record.name, message=message
            )
            _reply(self.replies, reply)
        except Exception:
            self.handleError(record)


def _exit_on_signal(number: int, frame: FrameType | None) -> None:
    sys.exit(128 + number)


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m autograder.run_warm")
    parser.add_argument("--orders", type=int, required=True)
    parser.add_argument("--replies", type=int, required=True)
    parser.add_argument("--grader", type=int, required=True)
    parser.add_argument("--log-level", type=int, default=logging.WARNING)
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(main())
