"""CIFAR-10 for grading: found offline, checked, prepared once, shared safely.

A `PreparedDataset` is a folder holding `cifar-10-batches-py/`, checked to be in
the layout Keras's `cifar10.load_data()` reads, and known by a content
fingerprint. Grading processes get it through `serving_env`, which makes the
student's unchanged `load_data()` read it (see `autograder/serving`).

Three kinds exist: the real CIFAR-10 (`find_real`, `prepare`), a generated
stand-in (`standin`) and a grading variant, the same images resampled with other
class counts (`make_variant`). Everything is kept under the settings' cache_dir
and written atomically, so several graders at once never see half a file.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import socket
import tempfile
import time
from pathlib import Path
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from autograder.config import PROJECT_ROOT, load_settings
from autograder.dataset_batches import (
    BATCH_FILES,
    BATCHES_DIRNAME,
    META,
    ROWS_PER_TRAINING_BATCH,
    TRAINING_BATCHES,
    BatchesSummary,
    batches_fingerprint,
    channels_last,
    check_batches,
    extract_batches,
    file_digest,
    publishing,
    read_label_names,
    read_training,
    write_text_atomically,
)
from autograder.dataset_standin import (
    MANIFEST_NAME,
    STANDIN_VERSION,
    write_standin,
    write_standin_once,
)
from autograder.dataset_variant import (
    VARIANT_FILE,
    check_count_range,
    prune_variants,
    read_variant_facts,
    write_variant,
)
from autograder.errors import DatasetError
from autograder.model import Model
from autograder.truth import DatasetTruth

__all__ = [
    "PreparedDataset",
    "describe",
    "find_real",
    "load_training",
    "make_variant",
    "prepare",
    "serving_env",
    "standin",
    "truth",
    "write_standin",
]

logger = logging.getLogger(__name__)

OFFICIAL_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
OFFICIAL_SHA256 = "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"
#: The folder name Keras downloads and unpacks CIFAR-10 under, in its cache.
KERAS_DIRNAME = "cifar-10-batches-py-target"
#: Seconds a download may wait on one network operation before giving up.
DOWNLOAD_SOCKET_TIMEOUT = 30.0
SERVING_DIR = PROJECT_ROOT / "autograder" / "serving"

NO_DATASET = (
    "no CIFAR-10 found. Give the grader the official cifar-10-python.tar.gz (or "
    "its extracted cifar-10-batches-py folder) in one of three ways: pass "
    "--dataset PATH, set dataset_path in course_config.py, or run once with "
    "internet so that Keras downloads it into its cache"
)

Origin = Literal["real", "standin", "variant"]


class PreparedDataset(Model):
    """A checked CIFAR-10 folder the grader can serve to `load_data()`."""

    root: Path  # the folder holding cifar-10-batches-py/
    origin: Origin
    fingerprint: str  # content hash of the batch files
    description: str  # one line for people
    variant_seed: int | None = None

    @property
    def batches(self) -> Path:
        return self.root / BATCHES_DIRNAME


def _cache(cache_dir: Path | None) -> Path:
    return (cache_dir or load_settings().cache_dir).expanduser()


# -- preparing a folder or an archive -------------------------------------------


def _summary(batches: Path, fingerprint: str, cache: Path) -> BatchesSummary:
    """Check every batch once per fingerprint; later calls read the verdict."""
    record = cache / "checked" / f"{fingerprint}.json"
    if record.is_file():
        return BatchesSummary.model_validate_json(record.read_text(encoding="utf-8"))
    started = time.perf_counter()
    summary = check_batches(batches)
    write_text_atomically(record, summary.model_dump_json())
    logger.info("checked %s in %.1f s", batches, time.perf_counter() - started)
    return summary


def _origin(batches: Path) -> tuple[Origin, int | None, str]:
    """What the folder is, its variant seed, and what it was made from."""
    try:
        if (batches / VARIANT_FILE).is_file():
            about = read_variant_facts(batches)
            return "variant", int(str(about["seed"])), str(about["base_description"])
        if (batches / MANIFEST_NAME).is_file():
            about = json.loads((batches / MANIFEST_NAME).read_text(encoding="utf-8"))
            return "standin", None, f"seed {about['seed']}"
    except (OSError, ValueError, KeyError) as error:
        raise DatasetError(
            f"{batches}: {VARIANT_FILE} or {MANIFEST_NAME} cannot be read ({error}); "
            "write the stand-in or variant again"
        ) from error
    return "real", None, ""


def _describe_line(
    origin: Origin, summary: BatchesSummary, came_from: Path, made_from: str
) -> str:
    rows = f"{summary.training_rows:,} training and {summary.test_rows:,} test images"
    if origin == "variant":
        return f"grading variant, class counts resampled, of {made_from}"
    if origin == "standin":
        return f"generated stand-in for CIFAR-10 ({made_from}) at {came_from}: {rows}"
    return f"CIFAR-10 from {came_from}: {rows}"


def _inspect(
    root: Path, cache: Path, came_from: Path | None = None
) -> tuple[PreparedDataset, BatchesSummary]:
    batches = root / BATCHES_DIRNAME
    fingerprint = batches_fingerprint(batches, cache)
    summary = _summary(batches, fingerprint, cache)
    origin, seed, made_from = _origin(batches)
    dataset = PreparedDataset(
        root=root.resolve(),
        origin=origin,
        fingerprint=fingerprint,
        description=_describe_line(origin, summary, came_from or root, made_from),
        variant_seed=seed,
    )
    return dataset, summary


def _extracted(archive: Path, cache: Path) -> Path:
    """The root of the archive's batches, unpacked once into the cache."""
    root = cache / "extracted" / file_digest(archive, cache)[:24]
    if not (root / BATCHES_DIRNAME).is_dir():
        started = time.perf_counter()
        with publishing(root / BATCHES_DIRNAME) as batches:
            extract_batches(archive, batches, extras=(MANIFEST_NAME, VARIANT_FILE))
        logger.info(
            "unpacked %s in %.1f s", archive.name, time.perf_counter() - started
        )
    return root


def _folder_root(folder: Path, cache: Path) -> Path:
    """The folder holding `cifar-10-batches-py/` for a folder a person named."""
    if (folder / BATCHES_DIRNAME).is_dir():
        return folder
    if not (folder / TRAINING_BATCHES[0]).is_file():
        raise DatasetError(
            f"{folder} holds neither {BATCHES_DIRNAME}/ nor CIFAR-10 batch files: "
            "name cifar-10-python.tar.gz, the cifar-10-batches-py folder, or the "
            "folder that holds it"
        )
    if folder.name == BATCHES_DIRNAME:
        return folder.parent
    # batch files under another folder name: serve them through a link
    key = hashlib.blake2b(str(folder.resolve()).encode(), digest_size=12)
    root = cache / "linked" / key.hexdigest()
    link = root / BATCHES_DIRNAME
    if not link.is_symlink():
        root.mkdir(parents=True, exist_ok=True)
        partial = root / f".{BATCHES_DIRNAME}.{os.getpid()}.partial"
        partial.unlink(missing_ok=True)
        partial.symlink_to(folder.resolve(), target_is_directory=True)
        partial.replace(link)
    return root


def prepare(path: Path, *, cache_dir: Path | None = None) -> PreparedDataset:
    """Check a CIFAR-10 archive or folder and make it ready to serve.

    `path` is an official `cifar-10-python.tar.gz` (unpacked once into the
    cache, keyed by its content), a `cifar-10-batches-py` folder, or a folder
    holding one. Every batch is read and checked once per content fingerprint.
    Raises DatasetError, naming the file at fault, when it is unusable.
    """
    dataset, _ = _prepare(path, _cache(cache_dir))
    return dataset


def _prepare(path: Path, cache: Path) -> tuple[PreparedDataset, BatchesSummary]:
    path = path.expanduser()
    if path.is_file():
        return _inspect(_extracted(path, cache), cache, came_from=path)
    if path.is_dir():
        return _inspect(_folder_root(path, cache), cache, came_from=path)
    raise DatasetError(
        f"{path} does not exist: name cifar-10-python.tar.gz, a "
        "cifar-10-batches-py folder, or the folder that holds it"
    )


def _settled_copy(root: Path, cache: Path) -> PreparedDataset:
    """A copy in the cache of a folder that another program may rewrite.

    Keras unpacks its cached archive again on every `load_data()`, so a grader
    reading Keras's own folder could see half-written files.
    """
    source = prepare(root, cache_dir=cache)
    copy = cache / "copies" / source.fingerprint
    if not (copy / BATCHES_DIRNAME).is_dir():
        with publishing(copy / BATCHES_DIRNAME) as batches:
            for name in BATCH_FILES:
                shutil.copyfile(source.batches / name, batches / name)
    dataset, _ = _inspect(copy, cache, came_from=root)
    return dataset


# -- finding the real CIFAR-10 --------------------------------------------------


def keras_cache_root() -> Path:
    """Where Keras keeps CIFAR-10 once it has downloaded it (honours KERAS_HOME)."""
    home = os.environ.get("KERAS_HOME") or Path.home() / ".keras"
    return Path(home) / "datasets" / KERAS_DIRNAME


def _download_through_keras() -> Path:
    """Let Keras download and unpack the official archive into its cache."""
    previous_timeout = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_SOCKET_TIMEOUT)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    try:
        from keras.utils import get_file

        folder = get_file(
            fname=KERAS_DIRNAME,
            origin=OFFICIAL_URL,
            extract=True,
            file_hash=OFFICIAL_SHA256,
        )
    # Keras reports network failures as a bare Exception carrying the URL error.
    except Exception as error:
        raise DatasetError(f"downloading {OFFICIAL_URL} failed ({error})") from error
    finally:
        socket.setdefaulttimeout(previous_timeout)
    return Path(folder)


def find_real(
    explicit: Path | None = None,
    *,
    cache_dir: Path | None = None,
    allow_download: bool = True,
) -> PreparedDataset:
    """The real CIFAR-10, from the first place that has it.

    In order: `explicit` (an archive or folder), `dataset_path` in
    course_config.py, Keras's own cache, and a download through Keras when
    `allow_download`. A path the instructor named that is unusable is an error
    in itself, not a reason to look elsewhere.
    """
    cache = _cache(cache_dir)
    if explicit is not None:
        return prepare(explicit, cache_dir=cache)

    configured = load_settings().dataset_path
    if configured:
        try:
            return prepare(Path(configured), cache_dir=cache)
        except DatasetError as error:
            raise DatasetError(
                f"dataset_path in course_config.py is unusable: {error}"
            ) from error

    if keras_cache_root().is_dir():
        try:
            return _settled_copy(keras_cache_root(), cache)
        except DatasetError as error:
            logger.warning("skipped Keras's cached CIFAR-10: %s", error)

    reason = "downloads are turned off"
    if allow_download:
        try:
            return _settled_copy(_download_through_keras(), cache)
        except DatasetError as error:
            reason = str(error)
    raise DatasetError(f"{NO_DATASET} ({reason})")


# -- the stand-in and grading variants ------------------------------------------


def standin(seed: int = 0, *, cache_dir: Path | None = None) -> PreparedDataset:
    """The generated stand-in for `seed`, drawn once into the cache."""
    cache = _cache(cache_dir)
    root = cache / "standin" / f"v{STANDIN_VERSION}-seed-{seed}"
    write_standin_once(root, seed)
    return prepare(root, cache_dir=cache)


def make_variant(
    base: PreparedDataset,
    seed: int,
    count_range: tuple[int, int] = (4500, 5500),
    *,
    cache_dir: Path | None = None,
) -> PreparedDataset:
    """A grading variant: the base's training images resampled per class.

    Each class gets a count within `count_range` (inclusive), 50,000 images in
    all, drawn with replacement from that class's images; the test batch is
    the base's. Deterministic for (base, seed, count_range); written once
    under the cache, where variants left unused for a day are pruned.
    """
    check_count_range(count_range, len(read_label_names(base.batches / META)))
    low, high = count_range
    variants = _cache(cache_dir) / "variants"
    root = variants / f"{base.fingerprint}-seed-{seed}-{low}-{high}"
    if (root / BATCHES_DIRNAME).is_dir():
        os.utime(root)
    else:
        started = time.perf_counter()
        with publishing(root / BATCHES_DIRNAME) as batches:
            write_variant(
                base.batches,
                base.fingerprint,
                base.description,
                seed,
                count_range,
                batches,
            )
        logger.info("grading variant written in %.1f s", time.perf_counter() - started)
        prune_variants(variants, keep=root)
    return prepare(root, cache_dir=cache_dir)


# -- reading, truth and serving -------------------------------------------------


def load_training(
    dataset: PreparedDataset,
) -> tuple[NDArray[np.uint8], NDArray[np.uint8], list[str]]:
    """x_train (N, 32, 32, 3) uint8 as Keras returns it, y_train (N,), label names."""
    training = read_training(dataset.batches)
    label_names = read_label_names(dataset.batches / META)
    return channels_last(training.data), training.labels, label_names


_truths: dict[Path, DatasetTruth] = {}


def truth(dataset: PreparedDataset, *, cache_dir: Path | None = None) -> DatasetTruth:
    """Class counts and the pixel lookup of the training set.

    Built once per fingerprint and kept in the cache; later calls read it.
    """
    path = _cache(cache_dir) / "truth" / f"{dataset.fingerprint}.npz"
    if path in _truths:
        return _truths[path]
    if path.is_file():
        try:
            _truths[path] = DatasetTruth.load(path)
            return _truths[path]
        except (OSError, ValueError, KeyError) as error:
            logger.warning("rebuilding the unreadable %s: %s", path, error)

    started = time.perf_counter()
    x_train, y_train, label_names = load_training(dataset)
    built = DatasetTruth.from_arrays(x_train, y_train, label_names, dataset.fingerprint)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, partial = tempfile.mkstemp(dir=path.parent, suffix=".npz")
    os.close(handle)
    try:
        built.save(Path(partial))
        Path(partial).replace(path)
    finally:
        Path(partial).unlink(missing_ok=True)
    logger.info("dataset truth built in %.1f s", time.perf_counter() - started)
    _truths[path] = built
    return built


def serving_env(dataset: PreparedDataset) -> dict[str, str]:
    """Environment additions that make a grading process's `load_data()` read it."""
    python_path = [str(SERVING_DIR), str(PROJECT_ROOT)]
    if os.environ.get("PYTHONPATH"):
        python_path.append(os.environ["PYTHONPATH"])
    return {
        "DATA_DETECTIVE_SERVE": str(dataset.root),
        "PYTHONPATH": os.pathsep.join(python_path),
        "TF_CPP_MIN_LOG_LEVEL": "3",
    }


def describe(path: Path) -> str:
    """Where a dataset came from and what it holds, for `dataset check`."""
    dataset, summary = _prepare(path, _cache(None))
    counts = ", ".join(
        f"{name} {count:,}"
        for name, count in zip(summary.label_names, summary.class_counts, strict=True)
    )
    return "\n".join(
        [
            dataset.description,
            f"origin: {dataset.origin}; fingerprint: {dataset.fingerprint}",
            f"batches: {dataset.batches}",
            f"training images: {summary.training_rows:,} "
            f"({len(TRAINING_BATCHES)} batches of {ROWS_PER_TRAINING_BATCH:,}); "
            f"test images: {summary.test_rows:,}",
            f"training images per class: {counts}",
        ]
    )
