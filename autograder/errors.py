"""The kit's errors: a small tree on built-in exceptions.

Every error that reaches a person says what happened and what to do next. The
command line turns them into a one-line message and an exit code, in one place.
"""


class KitError(Exception):
    """Something the grader itself cannot get past; the message is for a person."""

    exit_code = 1


class UsageError(KitError, ValueError):
    """The command was called with arguments that cannot work."""

    exit_code = 2


class ConfigError(KitError, ValueError):
    """`course_config.py` is missing, unreadable or holds an impossible setting."""

    exit_code = 2


class DatasetError(KitError, OSError):
    """No usable CIFAR-10 could be found, read or prepared."""

    exit_code = 3


class ReleaseError(KitError, RuntimeError):
    """nbgrader could not build the student release from the source notebook."""

    exit_code = 4


class SubmissionError(Exception):
    """One submission cannot be graded; the batch goes on.

    Never reaches the command line: intake and the pipeline turn it into an
    `ungradable` result whose reason is `student_message`.
    """

    def __init__(self, student_message: str, note: str = "") -> None:
        super().__init__(student_message)
        self.student_message = student_message
        self.note = note
