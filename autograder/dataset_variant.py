"""Grading variants: a dataset's training images resampled with other counts.

Correct counting code reports the variant's class counts; counts typed in from
the real dataset (`[5000] * 10`) do not. Each class gets a count within a range,
drawn with replacement from that class's own images, 50,000 images in all so
that Keras still reads five batches of 10,000.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from autograder.dataset_batches import (
    META,
    ROWS_PER_TRAINING_BATCH,
    TEST_BATCH,
    TRAINING_BATCHES,
    TRAINING_ROWS,
    read_label_names,
    read_training,
    write_batch,
)
from autograder.errors import ConfigError

logger = logging.getLogger(__name__)

VARIANT_FILE = "variant.json"
#: Grading variants kept however old; older ones beyond these are pruned.
VARIANTS_KEPT = 6
VARIANT_MAX_IDLE_SECONDS = 24 * 60 * 60


def check_count_range(count_range: tuple[int, int], classes: int) -> None:
    low, high = count_range
    if not 0 <= low <= high or not low * classes <= TRAINING_ROWS <= high * classes:
        raise ConfigError(
            f"variant_count_range {count_range} cannot give {TRAINING_ROWS:,} "
            f"training images over {classes} classes: use bounds around "
            f"{TRAINING_ROWS // classes:,}, such as (4500, 5500)"
        )


def variant_counts(
    rng: np.random.Generator, count_range: tuple[int, int], classes: int
) -> NDArray[np.int64]:
    """Class counts within `count_range` (inclusive) that add up to 50,000."""
    low, high = count_range
    counts = rng.integers(low, high + 1, size=classes)
    while (excess := int(counts.sum()) - TRAINING_ROWS) != 0:
        movable = np.flatnonzero(counts > low if excess > 0 else counts < high)
        chosen = int(rng.choice(movable))
        room = counts[chosen] - low if excess > 0 else high - counts[chosen]
        step = min(abs(excess), int(room), int(rng.integers(1, 200)))
        counts[chosen] -= step if excess > 0 else -step
    return counts


def write_variant(
    base: Path,
    base_fingerprint: str,
    base_description: str,
    seed: int,
    count_range: tuple[int, int],
    batches: Path,
) -> None:
    """Resample the training images of the batches folder `base` into `batches`.

    Deterministic for (base fingerprint, seed, count range). The test batch and
    the label names are the base's; `variant.json` records where it came from.
    """
    rng = np.random.default_rng([seed, int(base_fingerprint[:15], 16)])
    training = read_training(base)
    label_names = read_label_names(base / META)
    counts = variant_counts(rng, count_range, len(label_names))

    # which base image fills each row of the variant, classes mixed
    chosen = np.concatenate(
        [
            rng.choice(np.flatnonzero(training.labels == label), size=int(count))
            for label, count in enumerate(counts)
        ]
    )
    chosen = rng.permutation(chosen)

    for number, name in enumerate(TRAINING_BATCHES):
        start = number * ROWS_PER_TRAINING_BATCH
        rows = chosen[start : start + ROWS_PER_TRAINING_BATCH]
        write_batch(
            batches / name,
            training.data[rows],
            training.labels[rows],
            [f"{label_names[training.labels[row]]}_base_{row:05d}.png" for row in rows],
            f"training batch {number + 1} of {len(TRAINING_BATCHES)}",
        )
    for name in (TEST_BATCH, META):
        shutil.copyfile(base / name, batches / name)
    about = {
        "seed": seed,
        "base_fingerprint": base_fingerprint,
        "base_description": base_description,
        "class_counts": counts.tolist(),
    }
    (batches / VARIANT_FILE).write_text(json.dumps(about, indent=1), encoding="utf-8")


def read_variant_facts(batches: Path) -> dict[str, object]:
    """What `variant.json` records: seed, base fingerprint and description, counts."""
    facts: dict[str, object] = json.loads(
        (batches / VARIANT_FILE).read_text(encoding="utf-8")
    )
    return facts


def prune_variants(folder: Path, keep: Path) -> None:
    """Remove variants nobody has used for a day, beyond the newest few."""
    variants = sorted(
        (entry for entry in folder.iterdir() if entry.is_dir() and entry != keep),
        key=lambda entry: entry.stat().st_mtime,
        reverse=True,
    )
    idle_since = time.time() - VARIANT_MAX_IDLE_SECONDS
    for old in variants[VARIANTS_KEPT:]:
        if old.stat().st_mtime < idle_since:
            logger.debug("pruning grading variant %s", old.name)
            shutil.rmtree(old, ignore_errors=True)
