"""The lesson's opening slide: two easy CIFAR-10 images and two tricky ones.

The images are chosen with the lesson's own measure, so the slide shows what the
students will compute later: sharpness is the mean absolute difference between
neighbouring pixels of the greyscale image, across and down; low means blurry or
flat. The tricky pair are the least sharp training images of two classes; the
easy pair are clearly sharp ones, picked below the noisiest textures.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from numpy.typing import NDArray

logger = logging.getLogger(__name__)

#: Easy images are taken at this quantile of sharpness: crisp, but not noise.
EASY_QUANTILE = 0.8
CHUNK = 5000  # images measured at a time, to keep memory small


@dataclass(frozen=True)
class SlideImage:
    index: int
    label: int
    sharpness: float
    easy: bool


def sharpness(images: NDArray[np.uint8]) -> NDArray[np.float64]:
    """The lesson's measure for every image of an (N, 32, 32, 3) stack."""
    values = np.empty(len(images), dtype=np.float64)
    for start in range(0, len(images), CHUNK):
        gray = images[start : start + CHUNK].astype(np.float32).mean(axis=3)
        across = np.abs(np.diff(gray, axis=2)).mean(axis=(1, 2))
        down = np.abs(np.diff(gray, axis=1)).mean(axis=(1, 2))
        values[start : start + CHUNK] = (across + down) / 2
    return values


def choose(
    measure: NDArray[np.float64], labels: NDArray[np.integer]
) -> list[SlideImage]:
    """Two easy and two tricky images, each pair from two classes, interleaved
    so that the slide's order gives nothing away."""
    labels = np.asarray(labels).ravel()
    by_blur = np.argsort(measure, kind="stable")
    target = np.quantile(measure, EASY_QUANTILE)
    by_easiness = np.argsort(np.abs(measure - target), kind="stable")
    easy = _two_classes(by_easiness, labels)
    tricky = _two_classes(by_blur, labels)
    return [
        SlideImage(int(i), int(labels[i]), float(measure[i]), easy=i in easy)
        for i in (easy[0], tricky[0], easy[1], tricky[1])
    ]


def _two_classes(order: NDArray[np.intp], labels: NDArray[np.integer]) -> list[int]:
    first = int(order[0])
    second = next(int(i) for i in order if labels[i] != labels[first])
    return [first, second]


def draw_slide(
    images: NDArray[np.uint8],
    labels: NDArray[np.integer],
    label_names: list[str],
    out: Path,
) -> Path:
    """Measure every image, choose four, and save the slide to `out`."""
    chosen = choose(sharpness(images), labels)
    figure = Figure(figsize=(12.8, 7.2), layout="constrained")
    figure.suptitle(
        "Two of these are easy. Two would fool a model. Which, and why?\n"
        "(sharpness: mean difference between neighbouring pixels; low = blurry)",
        fontsize=20,
    )
    for ax, image in zip(figure.subplots(1, 4), chosen, strict=True):
        ax.imshow(images[image.index], interpolation="nearest")
        ax.set_title(
            f"{label_names[image.label]}\n"
            f"#{image.index}, sharpness {image.sharpness:.1f}",
            fontsize=16,
        )
        ax.axis("off")
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, dpi=100, facecolor="white")
    logger.info("opening slide: %s", ", ".join(str(image.index) for image in chosen))
    return out


def draw_warmup(out: Path, dataset: Path | None) -> Path:
    """Draw the opening slide from the real CIFAR-10 (found as the kit finds it)."""
    from autograder.dataset import find_real, load_training

    images, labels, label_names = load_training(find_real(dataset))
    return draw_slide(images, labels, label_names, out)
