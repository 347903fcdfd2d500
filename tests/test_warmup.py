"""The opening slide: easy and tricky images chosen with the lesson's measure."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from matplotlib import pyplot as plt

from autograder.warmup import choose, draw_slide, draw_warmup, sharpness

NAMES = ["smooth", "noisy", "striped"]


def generated_images() -> tuple[np.ndarray, np.ndarray]:
    """Flat images (class 0), noise (class 1) and stripes (class 2)."""
    rng = np.random.default_rng(1)
    flat = np.full((6, 32, 32, 3), 120, dtype=np.uint8)
    flat[:, :, 16:] += np.arange(6, dtype=np.uint8)[:, None, None, None]
    noise = rng.integers(0, 256, (6, 32, 32, 3), dtype=np.uint8)
    stripes = np.zeros((6, 32, 32, 3), dtype=np.uint8)
    stripes[:, :, ::2] = 40 + np.arange(6, dtype=np.uint8)[:, None, None, None] * 20
    images = np.concatenate([flat, noise, stripes])
    return images, np.repeat(np.arange(3), 6)


def test_is_sharpness_the_lessons_measure() -> None:
    image = np.zeros((1, 32, 32, 3), dtype=np.uint8)
    image[0, :, 16:] = 255  # one vertical edge: 32 of 31*32 steps across jump 255

    expected = (255 * 32 / (31 * 32) + 0) / 2

    assert sharpness(image)[0] == pytest.approx(expected)


def test_are_the_tricky_images_the_least_sharp_of_two_classes() -> None:
    images, labels = generated_images()
    measure = sharpness(images)

    chosen = choose(measure, labels)

    easy = [image for image in chosen if image.easy]
    tricky = [image for image in chosen if not image.easy]
    assert tricky[0].index == int(np.argmin(measure))
    assert len({image.label for image in tricky}) == 2
    assert len({image.label for image in easy}) == 2
    assert max(i.sharpness for i in tricky) < min(i.sharpness for i in easy)


def test_is_the_slide_a_wide_image_of_four(tmp_path: Path) -> None:
    images, labels = generated_images()

    slide = draw_slide(images, labels, NAMES, tmp_path / "slide.png")

    height, width = plt.imread(slide).shape[:2]
    assert (width, height) == (1280, 720)


def test_does_the_warmup_draw_from_the_real_cifar10(
    real_archive: Path, tmp_path: Path
) -> None:
    slide = draw_warmup(tmp_path / "warmup.png", real_archive)

    pixels = plt.imread(slide)
    assert pixels.shape[:2] == (720, 1280)
    assert pixels.std() > 0.05
