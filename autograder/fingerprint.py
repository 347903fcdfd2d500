"""Pixel fingerprints that tie an image a student drew to a training image.

Used on both sides of the grader: inside the student's process to describe each
image shown, and in the grader to index the dataset. An image shown as floats
scaled to [0, 1] gets the same key as the uint8 image it came from.
"""

from __future__ import annotations

import hashlib

import numpy as np
from numpy.typing import NDArray

IMAGE_SHAPE = (32, 32, 3)


def as_uint8(image: NDArray[np.generic]) -> NDArray[np.uint8] | None:
    """The 32x32x3 uint8 image behind `image`, or None when it cannot be one.

    Floats whose maximum is at most 1 are taken as scaled by 1/255; other floats
    and wider integers as 0-255 values.
    """
    array = np.asarray(image)
    if array.shape != IMAGE_SHAPE:
        return None
    if array.dtype == np.uint8:
        return array
    if np.issubdtype(array.dtype, np.floating):
        if not np.all(np.isfinite(array)):
            return None
        scale = 255.0 if float(array.max(initial=0.0)) <= 1.0 else 1.0
        array = np.rint(array.astype(np.float64) * scale)
    elif not np.issubdtype(array.dtype, np.integer):
        return None
    if float(array.min(initial=0)) < 0 or float(array.max(initial=0)) > 255:
        return None
    return array.astype(np.uint8)


def image_key(image: NDArray[np.generic]) -> str | None:
    """A short hex digest of the image's uint8 pixels, or None if not an image."""
    pixels = as_uint8(image)
    if pixels is None:
        return None
    return hashlib.blake2b(
        np.ascontiguousarray(pixels).tobytes(), digest_size=12
    ).hexdigest()


def keys_for(images: NDArray[np.uint8]) -> list[str]:
    """Keys for a stack of uint8 images shaped (N, 32, 32, 3), in order."""
    flat = np.ascontiguousarray(images).reshape(len(images), -1)
    return [hashlib.blake2b(row.tobytes(), digest_size=12).hexdigest() for row in flat]
