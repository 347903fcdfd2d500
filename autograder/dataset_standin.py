"""A generated stand-in for CIFAR-10, for machines without the real one.

Every class is drawn as its own shape in its own colour, at a random place and
size, on a plain background with noise, so that a grid of one image per class
shows ten visibly different pictures. A few training images of every class are
spoiled on purpose (blurred, washed out, duplicated) and listed in
`standin_manifest.json` beside the batches, so that tests can show the lesson's
tricky-image measure finds them.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from autograder.dataset_batches import (
    BATCHES_DIRNAME,
    META,
    ROWS_PER_TRAINING_BATCH,
    TEST_BATCH,
    TRAINING_BATCHES,
    planar_rows,
    publishing,
    write_batch,
    write_meta,
)
from autograder.model import CLASS_NAMES

logger = logging.getLogger(__name__)

#: Bumped whenever the drawing changes, so cached stand-ins are drawn again.
STANDIN_VERSION = 1
MANIFEST_NAME = "standin_manifest.json"
LABEL_NAMES = list(CLASS_NAMES)
TRAINING_PER_CLASS = 5_000
TEST_PER_CLASS = 1_000
BLURRED_PER_CLASS = 3
LOW_CONTRAST_PER_CLASS = 2
DUPLICATES_PER_CLASS = 1

_SIDE = 32
_Shape = Callable[[NDArray[np.float32], NDArray[np.float32]], NDArray[np.bool_]]


def _extent(
    across: NDArray[np.float32], down: NDArray[np.float32]
) -> NDArray[np.float32]:
    return np.maximum(np.abs(across), np.abs(down))


#: One shape per class, over coordinates (a across, d down) scaled to [-1, 1].
CLASS_SHAPES: list[_Shape] = [
    # airplane: a cross with long wings
    lambda a, d: (
        ((np.abs(d) < 0.2) & (np.abs(a) < 1)) | ((np.abs(a) < 0.2) & (np.abs(d) < 0.6))
    ),
    # automobile: a wide rectangle
    lambda a, d: (np.abs(a) < 1) & (np.abs(d) < 0.55),
    # bird: a triangle pointing up
    lambda a, d: (np.abs(d) < 0.8) & (np.abs(a) < (d + 0.8) * 0.6),
    # cat: a disc
    lambda a, d: a**2 + d**2 < 0.7,
    # deer: a ring
    lambda a, d: (a**2 + d**2 > 0.25) & (a**2 + d**2 < 0.9),
    # dog: a diamond
    lambda a, d: np.abs(a) + np.abs(d) < 0.95,
    # frog: an X
    lambda a, d: (np.abs(np.abs(a) - np.abs(d)) < 0.25) & (_extent(a, d) < 0.9),
    # horse: a tall bar
    lambda a, d: (np.abs(a) < 0.3) & (np.abs(d) < 1),
    # ship: a square of horizontal stripes
    lambda a, d: (_extent(a, d) < 0.9) & (np.floor((d + 1) * 3) % 2 == 0),
    # truck: a chequered square
    lambda a, d: (
        (_extent(a, d) < 0.9)
        & ((np.floor((a + 1) * 2.5) + np.floor((d + 1) * 2.5)) % 2 == 0)
    ),
]

#: One colour per class (RGB), the same order as LABEL_NAMES.
CLASS_COLOURS = np.array(
    [
        [90, 160, 235],
        [220, 40, 40],
        [240, 205, 40],
        [245, 135, 30],
        [150, 95, 45],
        [150, 70, 205],
        [40, 185, 65],
        [225, 60, 175],
        [30, 125, 150],
        [235, 235, 235],
    ],
    dtype=np.float32,
)


def sharpness(images: NDArray[np.uint8], chunk: int = 5_000) -> NDArray[np.float64]:
    """The lesson's tricky-image measure, one value per image (low = blurry/flat).

    The mean absolute difference between horizontally and vertically
    neighbouring pixel values, over all three channels.
    """
    values = np.empty(len(images), dtype=np.float64)
    for start in range(0, len(images), chunk):
        pixels = images[start : start + chunk].astype(np.int16)
        across = np.abs(np.diff(pixels, axis=2)).reshape(len(pixels), -1)
        down = np.abs(np.diff(pixels, axis=1)).reshape(len(pixels), -1)
        values[start : start + chunk] = np.concatenate([across, down], axis=1).mean(
            axis=1
        )
    return values


def draw_images(
    labels: NDArray[np.integer], rng: np.random.Generator, chunk: int = 5_000
) -> NDArray[np.uint8]:
    """One (32, 32, 3) picture per label: its class's shape and colour, with noise."""
    pictures = np.empty((len(labels), _SIDE, _SIDE, 3), dtype=np.uint8)
    for start in range(0, len(labels), chunk):
        pictures[start : start + chunk] = _draw_chunk(
            labels[start : start + chunk], rng
        )
    return pictures


def _draw_chunk(
    labels: NDArray[np.integer], rng: np.random.Generator
) -> NDArray[np.uint8]:
    count = len(labels)

    # where each shape sits and how big it is
    centres = rng.uniform(11, 21, size=(2, count, 1, 1)).astype(np.float32)
    sizes = rng.uniform(6, 11, size=(count, 1, 1)).astype(np.float32)
    grid = np.arange(_SIDE, dtype=np.float32)
    across = (grid[None, None, :] - centres[0]) / sizes
    down = (grid[None, :, None] - centres[1]) / sizes
    inside = np.zeros((count, _SIDE, _SIDE), dtype=bool)
    for label, shape in enumerate(CLASS_SHAPES):
        chosen = labels == label
        inside[chosen] = shape(across[chosen], down[chosen])

    # the class's colour on a background it stands out from, mostly
    colours = CLASS_COLOURS[labels] + rng.normal(0, 12, size=(count, 3))
    bright = CLASS_COLOURS[labels].mean(axis=1, keepdims=True) > 140
    dark_background = rng.random((count, 1)) < np.where(bright, 0.85, 0.15)
    backgrounds = np.where(
        dark_background,
        rng.uniform(20, 75, size=(count, 1)),
        rng.uniform(180, 225, size=(count, 1)),
    ) + rng.normal(0, 8, size=(count, 3))
    pictures = np.where(
        inside[..., None],
        np.rint(colours[:, None, None, :]).astype(np.int16),
        np.rint(backgrounds[:, None, None, :]).astype(np.int16),
    )

    # grain of a random strength, the same on the three channels
    grain = rng.standard_normal((count, _SIDE, _SIDE, 1), dtype=np.float32)
    grain *= rng.uniform(8, 16, size=(count, 1, 1, 1)).astype(np.float32)
    pictures += np.rint(grain).astype(np.int16)
    np.clip(pictures, 0, 255, out=pictures)
    return pictures.astype(np.uint8)


def _box_blur(images: NDArray[np.uint8], radius: int = 3) -> NDArray[np.uint8]:
    padded = np.pad(
        images.astype(np.float32),
        ((0, 0), (radius, radius), (radius, radius), (0, 0)),
        mode="edge",
    )
    width = 2 * radius + 1
    total = np.zeros(images.shape, dtype=np.float32)
    for down in range(width):
        for across in range(width):
            total += padded[:, down : down + _SIDE, across : across + _SIDE]
    return np.rint(total / width**2).astype(np.uint8)


def _wash_out(images: NDArray[np.uint8], keep: float = 0.12) -> NDArray[np.uint8]:
    pixels = images.astype(np.float32)
    means = pixels.mean(axis=(1, 2, 3), keepdims=True)
    washed: NDArray[np.float32] = means + (pixels - means) * keep
    return np.rint(washed).astype(np.uint8)


def spoil_images(
    images: NDArray[np.uint8], labels: NDArray[np.integer], rng: np.random.Generator
) -> list[dict[str, int | str]]:
    """Blur, wash out and duplicate a few images of every class, in place.

    Returns the manifest entries: index, class and kind of every spoiled image
    (a duplicate also names the image it copies).
    """
    entries: list[dict[str, int | str]] = []
    spoiled = BLURRED_PER_CLASS + LOW_CONTRAST_PER_CLASS + DUPLICATES_PER_CLASS
    for label in range(len(LABEL_NAMES)):
        members = np.flatnonzero(labels == label)
        chosen = rng.choice(members, size=spoiled + DUPLICATES_PER_CLASS, replace=False)
        blurred = np.sort(chosen[:BLURRED_PER_CLASS])
        washed = np.sort(chosen[BLURRED_PER_CLASS : spoiled - DUPLICATES_PER_CLASS])
        copies = chosen[spoiled - DUPLICATES_PER_CLASS : spoiled]
        originals = chosen[spoiled:]

        images[blurred] = _box_blur(images[blurred])
        images[washed] = _wash_out(images[washed])
        images[copies] = images[originals]

        entries += [
            {"index": int(i), "class": label, "kind": "blurred"} for i in blurred
        ]
        entries += [
            {"index": int(i), "class": label, "kind": "low_contrast"} for i in washed
        ]
        entries += [
            {"index": int(i), "class": label, "kind": "duplicate", "copy_of": int(j)}
            for i, j in zip(copies, originals, strict=True)
        ]
    return sorted(entries, key=lambda entry: int(entry["index"]))


def _balanced_labels(per_class: int, rng: np.random.Generator) -> NDArray[np.int64]:
    return rng.permutation(np.repeat(np.arange(len(LABEL_NAMES)), per_class))


def _filenames(labels: NDArray[np.integer], first: int) -> list[str]:
    return [
        f"{LABEL_NAMES[label]}_standin_{first + offset:05d}.png"
        for offset, label in enumerate(labels)
    ]


def _write_batches(batches: Path, seed: int) -> None:
    """Draw the whole stand-in for `seed` and write it into the folder `batches`."""
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(4)]
    labels_rng, training_rng, test_rng, spoil_rng = streams

    # the training set, with its spoiled images
    training_labels = _balanced_labels(TRAINING_PER_CLASS, labels_rng)
    training_images = draw_images(training_labels, training_rng)
    manifest = spoil_images(training_images, training_labels, spoil_rng)
    for number, name in enumerate(TRAINING_BATCHES):
        rows = slice(
            number * ROWS_PER_TRAINING_BATCH, (number + 1) * ROWS_PER_TRAINING_BATCH
        )
        write_batch(
            batches / name,
            planar_rows(training_images[rows]),
            training_labels[rows],
            _filenames(training_labels[rows], rows.start),
            f"training batch {number + 1} of {len(TRAINING_BATCHES)}",
        )

    # the test set, and what says which is which
    test_labels = _balanced_labels(TEST_PER_CLASS, labels_rng)
    write_batch(
        batches / TEST_BATCH,
        planar_rows(draw_images(test_labels, test_rng)),
        test_labels,
        _filenames(test_labels, 0),
        "testing batch 1 of 1",
    )
    write_meta(batches / META, LABEL_NAMES)
    (batches / MANIFEST_NAME).write_text(
        json.dumps(
            {"version": STANDIN_VERSION, "seed": seed, "images": manifest}, indent=1
        ),
        encoding="utf-8",
    )


def write_standin(directory: Path, seed: int = 0) -> Path:
    """Write a stand-in dataset as `directory/cifar-10-batches-py`; `directory`.

    Deterministic for `seed`. A stand-in already there is replaced whole, so
    a reader sees the old one or the new one, never a mix.
    """
    started = time.perf_counter()
    with publishing(directory / BATCHES_DIRNAME, replace=True) as batches:
        _write_batches(batches, seed)
    logger.info(
        "stand-in (seed %s) written to %s in %.1f s",
        seed,
        directory,
        time.perf_counter() - started,
    )
    return directory


def write_standin_once(directory: Path, seed: int) -> None:
    """Like `write_standin`, but keep a stand-in another process wrote first."""
    if (directory / BATCHES_DIRNAME).is_dir():
        return
    started = time.perf_counter()
    with publishing(directory / BATCHES_DIRNAME) as batches:
        _write_batches(batches, seed)
    logger.info(
        "stand-in (seed %s) drawn in %.1f s", seed, time.perf_counter() - started
    )


def read_manifest(batches: Path) -> list[dict[str, int | str]]:
    """The spoiled images of a stand-in's `cifar-10-batches-py` folder."""
    content = json.loads((batches / MANIFEST_NAME).read_text(encoding="utf-8"))
    images: list[dict[str, int | str]] = content["images"]
    return images
