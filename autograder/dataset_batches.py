"""CIFAR-10's python layout on disk: reading, checking and writing its batches.

A dataset folder holds `cifar-10-batches-py/` with five training batches of
10,000 rows, one test batch and `batches.meta`. Each batch is a pickle of a dict
with bytes keys, as Keras's `cifar10.load_data()` expects. Everything here is
written atomically, so that graders running at once never read half a file.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import shutil
import tarfile
import tempfile
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
from numpy.typing import NDArray

from autograder.errors import DatasetError
from autograder.model import Model

BATCHES_DIRNAME = "cifar-10-batches-py"
TRAINING_BATCHES = tuple(f"data_batch_{number}" for number in range(1, 6))
TEST_BATCH = "test_batch"
META = "batches.meta"
BATCH_FILES = (*TRAINING_BATCHES, TEST_BATCH, META)

ROWS_PER_TRAINING_BATCH = 10_000
TRAINING_ROWS = ROWS_PER_TRAINING_BATCH * len(TRAINING_BATCHES)
CLASS_COUNT = 10
ROW_LENGTH = 3 * 32 * 32  # channel-planar: 1024 red, 1024 green, 1024 blue
PICKLE_PROTOCOL = 4

#: The only globals a batch may name: what a pickled NumPy array needs. Keras
#: refuses anything else, and so does the grader (a batch must not run code).
_ARRAY_GLOBALS = frozenset(
    {
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
    }
)


class BatchesSummary(Model):
    """What checking a `cifar-10-batches-py` folder found."""

    training_rows: int
    test_rows: int
    label_names: list[str]
    class_counts: list[int]  # training images per class, by label


@dataclass(frozen=True)
class Batch:
    data: NDArray[np.uint8]  # (N, 3072), channel-planar
    labels: NDArray[np.uint8]  # (N,)


class _ArraysOnlyUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ARRAY_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"it refers to {module}.{name}")


# -- reading and checking -------------------------------------------------------


def _unpickle(path: Path) -> dict[bytes, Any]:
    try:
        with path.open("rb") as file:
            content = _ArraysOnlyUnpickler(file, encoding="bytes").load()
    except FileNotFoundError as error:
        raise DatasetError(
            f"{path} is missing: the dataset folder is incomplete; "
            "extract or download CIFAR-10 again"
        ) from error
    # A damaged pickle fails in many ways (EOFError, UnpicklingError, ValueError
    # from a short array buffer...); each means the same thing to a person.
    except Exception as error:
        raise DatasetError(
            f"{path} is truncated or not a CIFAR-10 batch ({error}); "
            "extract or download CIFAR-10 again"
        ) from error
    if not isinstance(content, dict) or not all(
        isinstance(key, bytes) for key in content
    ):
        raise DatasetError(
            f"{path} is not a CIFAR-10 batch: it must hold a dict with bytes keys, "
            "as the official python version does"
        )
    return content


def read_batch(path: Path) -> Batch:
    """The pixel rows and labels of one batch, checked."""
    content = _unpickle(path)
    data = content.get(b"data")
    if not (
        isinstance(data, np.ndarray)
        and data.dtype == np.uint8
        and data.ndim == 2
        and data.shape[1] == ROW_LENGTH
    ):
        shape = getattr(data, "shape", None)
        dtype = getattr(data, "dtype", type(data).__name__)
        raise DatasetError(
            f"{path}: b'data' must be a uint8 array of shape (N, {ROW_LENGTH}), "
            f"found {dtype} {shape}; the file is not a CIFAR-10 batch"
        )
    try:
        labels = np.asarray(content.get(b"labels"), dtype=np.int64)
    except (TypeError, ValueError) as error:
        raise DatasetError(
            f"{path}: b'labels' is not a list of whole numbers"
        ) from error
    if labels.shape != (len(data),):
        raise DatasetError(
            f"{path}: {len(data):,} image rows but b'labels' has shape "
            f"{labels.shape}; the file is damaged"
        )
    if len(labels) and (labels.min() < 0 or labels.max() >= CLASS_COUNT):
        raise DatasetError(
            f"{path}: labels must be 0-{CLASS_COUNT - 1}, "
            f"found {labels.min()}-{labels.max()}"
        )
    return Batch(data=data, labels=labels.astype(np.uint8))


def read_label_names(path: Path) -> list[str]:
    content = _unpickle(path)
    names = content.get(b"label_names")
    if not (
        isinstance(names, list)
        and len(names) == CLASS_COUNT
        and all(isinstance(name, bytes | str) for name in names)
    ):
        raise DatasetError(
            f"{path}: b'label_names' must list {CLASS_COUNT} class names"
        )
    return [name.decode() if isinstance(name, bytes) else name for name in names]


def read_training(batches: Path) -> Batch:
    """All five training batches, in order, as one batch of 50,000 rows."""
    parts = [read_batch(batches / name) for name in TRAINING_BATCHES]
    return Batch(
        data=np.concatenate([part.data for part in parts]),
        labels=np.concatenate([part.labels for part in parts]),
    )


def check_batches(batches: Path) -> BatchesSummary:
    """Read every file of a `cifar-10-batches-py` folder and say what it holds.

    Raises DatasetError naming the first file that is missing, damaged or not
    in the layout Keras's `cifar10.load_data()` reads.
    """
    label_names = read_label_names(batches / META)
    class_counts = np.zeros(CLASS_COUNT, dtype=np.int64)
    for name in TRAINING_BATCHES:
        batch = read_batch(batches / name)
        if len(batch.labels) != ROWS_PER_TRAINING_BATCH:
            raise DatasetError(
                f"{batches / name} has {len(batch.labels):,} rows; every training "
                f"batch must have exactly {ROWS_PER_TRAINING_BATCH:,}"
            )
        class_counts += np.bincount(batch.labels, minlength=CLASS_COUNT)
    test_rows = len(read_batch(batches / TEST_BATCH).labels)
    return BatchesSummary(
        training_rows=TRAINING_ROWS,
        test_rows=test_rows,
        label_names=label_names,
        class_counts=class_counts.tolist(),
    )


# -- writing --------------------------------------------------------------------


def write_batch(
    path: Path,
    data: NDArray[np.uint8],
    labels: NDArray[np.integer],
    filenames: Sequence[str],
    batch_label: str,
) -> None:
    """Write one batch as the official python version does (protocol 4)."""
    content = {
        b"batch_label": batch_label.encode(),
        b"labels": [int(label) for label in labels],
        b"data": np.ascontiguousarray(data, dtype=np.uint8),
        b"filenames": [name.encode() for name in filenames],
    }
    with path.open("wb") as file:
        pickle.dump(content, file, protocol=PICKLE_PROTOCOL)


def write_meta(path: Path, label_names: Sequence[str]) -> None:
    content = {
        b"num_cases_per_batch": ROWS_PER_TRAINING_BATCH,
        b"label_names": [name.encode() for name in label_names],
        b"num_vis": ROW_LENGTH,
    }
    with path.open("wb") as file:
        pickle.dump(content, file, protocol=PICKLE_PROTOCOL)


def planar_rows(images: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """(N, 32, 32, 3) channels-last images as (N, 3072) channel-planar rows."""
    return np.ascontiguousarray(images.transpose(0, 3, 1, 2)).reshape(len(images), -1)


def channels_last(rows: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """(N, 3072) rows as (N, 32, 32, 3) images, the view Keras returns."""
    return rows.reshape(len(rows), 3, 32, 32).transpose(0, 2, 3, 1)


def write_text_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, partial = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.name}.", suffix=".partial"
    )
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(text)
        Path(partial).replace(path)
    except BaseException:
        Path(partial).unlink(missing_ok=True)
        raise


@contextmanager
def publishing(final: Path, *, replace: bool = False) -> Iterator[Path]:
    """A fresh folder to fill, renamed to `final` when the block ends.

    Readers see either no `final` or a complete one. When another process
    published `final` first, its copy is kept and this one is discarded, unless
    `replace` asks to swap the old folder out.
    """
    final.parent.mkdir(parents=True, exist_ok=True)
    partial = Path(
        tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}.", suffix=".partial")
    )
    partial.chmod(0o755)
    try:
        yield partial
        if replace and final.exists():
            retired = Path(tempfile.mkdtemp(dir=final.parent, suffix=".retired"))
            final.rename(retired / final.name)
            shutil.rmtree(retired)
        try:
            partial.rename(final)
        except OSError:
            if not final.is_dir():
                raise
            shutil.rmtree(partial)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise


# -- content hashes -------------------------------------------------------------


def file_digest(path: Path, cache_dir: Path) -> str:
    """sha256 of a file's bytes, remembered by its path, size and mtime."""
    stat = path.stat()
    identity = f"{path.resolve()}\0{stat.st_size}\0{stat.st_mtime_ns}".encode()
    record = (
        cache_dir / "digests" / hashlib.blake2b(identity, digest_size=16).hexdigest()
    )
    if record.is_file():
        return record.read_text(encoding="utf-8").strip()
    with path.open("rb") as file:
        digest = hashlib.file_digest(file, "sha256").hexdigest()
    write_text_atomically(record, digest)
    return digest


def batches_fingerprint(batches: Path, cache_dir: Path) -> str:
    """A short content hash of the seven files of a `cifar-10-batches-py` folder."""
    missing = [name for name in BATCH_FILES if not (batches / name).is_file()]
    if missing:
        raise DatasetError(
            f"{batches} lacks {', '.join(missing)}: the dataset is incomplete; "
            "extract or download CIFAR-10 again"
        )
    combined = hashlib.blake2b(digest_size=12)
    for name in BATCH_FILES:
        combined.update(f"{name} {file_digest(batches / name, cache_dir)}\n".encode())
    return combined.hexdigest()


# -- archives -------------------------------------------------------------------


def _check_members(archive: Path, members: list[tarfile.TarInfo]) -> None:
    for member in members:
        parts = PurePosixPath(member.name).parts
        if member.name.startswith("/") or ".." in parts:
            raise DatasetError(
                f"{archive} holds {member.name!r}, a path outside the dataset "
                "folder; it is not the official archive, so it was not unpacked"
            )
        if not (member.isfile() or member.isdir()):
            raise DatasetError(
                f"{archive} holds {member.name!r}, which is a link or device; it is "
                "not the official archive, so it was not unpacked"
            )


def _batch_members(
    archive: Path, tar: tarfile.TarFile, extras: Sequence[str]
) -> dict[str, tarfile.TarInfo]:
    members = tar.getmembers()
    _check_members(archive, members)
    found: dict[str, tarfile.TarInfo] = {}
    for member in members:
        path = PurePosixPath(member.name)
        wanted = path.name in BATCH_FILES or path.name in extras
        if member.isfile() and wanted and path.parent.name == BATCHES_DIRNAME:
            found.setdefault(path.name, member)
    missing = [name for name in BATCH_FILES if name not in found]
    if missing:
        raise DatasetError(
            f"{archive} has no {BATCHES_DIRNAME}/{missing[0]}: it is not CIFAR-10's "
            "python version (cifar-10-python.tar.gz)"
        )
    return found


def extract_batches(archive: Path, into: Path, extras: Sequence[str] = ()) -> None:
    """Copy the seven batch files out of a tar archive into the folder `into`.

    Every member is checked first; only the batch files (and the `extras`
    beside them, when present) are written, under names chosen here, so
    nothing in the archive can land elsewhere.
    """
    try:
        with tarfile.open(archive, "r:*") as tar:
            for name, member in _batch_members(archive, tar, extras).items():
                source = tar.extractfile(member)
                if source is None:
                    raise DatasetError(f"{archive}: {member.name} cannot be read")
                with source, (into / name).open("wb") as target:
                    shutil.copyfileobj(source, target, 1 << 20)
    except DatasetError:
        raise
    except (tarfile.TarError, EOFError, zlib.error, OSError) as error:
        # tarfile's own message lists every compression it tried, over lines
        reason = str(error).splitlines()[0].rstrip(":") or type(error).__name__
        raise DatasetError(
            f"{archive} is not a readable tar archive ({reason}); download "
            "cifar-10-python.tar.gz again"
        ) from error
