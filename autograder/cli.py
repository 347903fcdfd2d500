"""`python -m autograder`: the kit's command line.

The one place where the kit's errors become a one-line message and an exit code.
Each command imports its step lazily, so `--help` stays instant.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from autograder.errors import KitError, UsageError


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return value


class _OneLineParser(argparse.ArgumentParser):
    """Reports bad arguments in one line, as every other error of the kit."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _OneLineParser(
        prog="python -m autograder",
        description="Data Detective: build, grade and review the CIFAR-10 lesson.",
    )
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="log more (-vv: per cell)"
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    commands.add_parser(
        "release", help="regenerate release/ from source/ with nbgrader"
    )

    grade = commands.add_parser("grade", help="grade notebooks, folders or zips")
    grade.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    grade.add_argument("--out", required=True, type=Path, help="folder for results")
    grade.add_argument(
        "--dataset", type=Path, help="cifar-10-python.tar.gz or cifar-10-batches-py"
    )
    grade.add_argument(
        "--jobs", type=_positive_int, default=os.cpu_count() or 1, help="in parallel"
    )
    grade.add_argument("--executor", choices=("fork", "kernel"), default="fork")
    grade.add_argument(
        "--gradebook", action="store_true", help="also fill nbgrader's gradebook"
    )

    dataset = commands.add_parser("dataset", help="prepare or inspect a dataset")
    dataset_commands = dataset.add_subparsers(
        dest="dataset_command", required=True, metavar="ACTION"
    )
    standin = dataset_commands.add_parser(
        "standin", help="write a generated stand-in in CIFAR-10's layout"
    )
    standin.add_argument("directory", type=Path)
    standin.add_argument("--seed", type=int, default=0)
    check = dataset_commands.add_parser(
        "check", help="say what a dataset is, or why it is unusable"
    )
    check.add_argument("path", type=Path)

    commands.add_parser("demo", help="grade the kit's example submissions")

    warmup = commands.add_parser(
        "warmup", help="draw the lesson's opening slide of easy and tricky images"
    )
    warmup.add_argument("--out", type=Path, default=Path("warmup.png"))
    warmup.add_argument(
        "--dataset", type=Path, help="cifar-10-python.tar.gz or cifar-10-batches-py"
    )
    return parser


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "release":
        from autograder.release import build_release

        print(f"Release written to {build_release()}")
        return 0
    if args.command == "grade":
        return _grade(args)
    if args.command == "dataset":
        from autograder import dataset

        if args.dataset_command == "standin":
            written = dataset.write_standin(args.directory, args.seed)
            print(f"Stand-in written to {written}")
        else:
            print(dataset.describe(args.path))
        return 0
    if args.command == "demo":
        from autograder.demo import run_demo

        return run_demo()
    if args.command == "warmup":
        from autograder.warmup import draw_warmup

        print(f"Opening slide written to {draw_warmup(args.out, args.dataset)}")
        return 0
    raise UsageError(f"unknown command {args.command!r}")


def _grade(args: argparse.Namespace) -> int:
    """The `grade` command: check the paths, find the dataset, then grade.

    A mistyped path is reported at once. The fork executor's runner is started
    next: its TensorFlow import, most of the start-up, runs beside finding the
    dataset and loading the rest of the grading machinery.
    """
    for path in args.paths:
        if not path.exists():
            raise UsageError(f"{path} does not exist: name notebooks, folders or zips")

    from autograder.run_warm import WarmRunner

    with (
        WarmRunner() if args.executor == "fork" else contextlib.nullcontext() as runner
    ):
        from autograder.dataset import find_real
        from autograder.pipeline import grade_submissions

        grade_submissions(
            args.paths,
            out=args.out,
            seen=find_real(args.dataset),
            jobs=args.jobs,
            executor=args.executor,
            gradebook=args.gradebook,
            runner=runner,
        )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    level = {0: logging.WARNING, 1: logging.INFO}.get(args.verbose, logging.DEBUG)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    try:
        return _dispatch(args)
    except KitError as error:
        print(f"error: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("interrupted: results written so far are kept", file=sys.stderr)
        return 130
