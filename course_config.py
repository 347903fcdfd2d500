# Data Detective: the one configuration file of this course.
#
# nbgrader reads the `c.CourseDirectory`, `c.Exchange`, ... sections; the kit reads
# the same file (see `autograder/config.py`) and its own `c.DataDetective` section.
# Pass it to nbgrader as `--NbGrader.config_file=/abs/path/course_config.py`: the
# shorter `--config` is silently ignored by nbgrader.
#
# Points per step are not here: they live in the source notebook's cell metadata,
# where nbgrader keeps them, and the kit reads them from there.

import os
from pathlib import Path

c = get_config()  # type: ignore[name-defined]  # noqa: F821  (given by traitlets)

HERE = Path(__file__).resolve().parent

# -- nbgrader ---------------------------------------------------------------------

c.CourseDirectory.course_id = "data-detective"
c.CourseDirectory.root = str(HERE)
c.CourseDirectory.source_directory = "source"
c.CourseDirectory.release_directory = "release"
c.CourseDirectory.submitted_directory = "submitted"
c.CourseDirectory.autograded_directory = "autograded"
c.CourseDirectory.feedback_directory = "feedback"
c.CourseDirectory.db_url = f"sqlite:///{HERE / 'gradebook.db'}"

# The release keeps no outputs and no solutions; hidden tests stay in the source.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
# A written answer cell in the source holds the template students fill in, then
# the model answer between `### BEGIN SOLUTION` and `### END SOLUTION`. The
# release drops that region without a stub, so students see the template alone.
# (A written answer cell without such a region would be released empty.)
c.ClearSolutions.text_stub = ""
c.ClearOutput.enabled = True

# nbgrader autograde: a cell may take this long before it is stopped (seconds).
c.ExecutePreprocessor.timeout = 120
c.Execute.timeout = 120
c.Execute.interrupt_on_timeout = True
# Short tracebacks in the grading kernel, so that a failing hidden test never
# shows its own line to the student.
c.Execute.extra_arguments = ["--InteractiveShell.xmode=Minimal"]
# nbgrader scores a test cell zero when it writes to stderr; TensorFlow's start-up
# messages do unless they are silenced before the kernel starts.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

# Feedback for students never shows hidden tests (nbgrader's default does).
c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.GetGrades",
    "nbgrader.preprocessors.ClearHiddenTests",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
]

# -- the kit ----------------------------------------------------------------------

c.DataDetective.assignment = "data_detective"

# Student ids from LMS file names such as `lastname_12345_67890_data_detective.ipynb`
# (the first group of digits, after an optional `late_` marker), else the file or
# folder name itself.
c.DataDetective.student_id_pattern = r"^(?:[^_]+_)?(?:late_)?(?P<student_id>\d+)_"

# Limits for one submission.
c.DataDetective.max_notebook_bytes = 20 * 1024 * 1024
c.DataDetective.max_zip_bytes = 2 * 1024 * 1024 * 1024
c.DataDetective.cell_timeout_seconds = 60
c.DataDetective.notebook_timeout_seconds = 180
c.DataDetective.memory_limit_bytes = 3 * 1024 * 1024 * 1024
c.DataDetective.output_limit_bytes = 2 * 1024 * 1024
# Fence each notebook in a sandbox of its own: a private read-only view of the
# system, its own user id and CPU group, no network. Needs root on Linux; where it
# cannot be built, or when this is False, notebooks run as the grader's own user
# and the grader says so.
c.DataDetective.sandbox = True

# Where the real CIFAR-10 is looked for before Keras's cache and a download:
# an official `cifar-10-python.tar.gz` or an extracted `cifar-10-batches-py`.
c.DataDetective.dataset_path = os.environ.get("DATA_DETECTIVE_DATASET", "")

# Grade on a resampled variant of the dataset, with per-class counts between
# these bounds, so that hard-coded counts fail. The report is still judged on
# the dataset the student saw.
c.DataDetective.grading_variant = True
c.DataDetective.variant_count_range = [4500, 5500]

# Where the kit keeps prepared datasets and their lookups between runs.
c.DataDetective.cache_dir = str(
    Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "data-detective"
)
