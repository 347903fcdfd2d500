"""What is true of a dataset, for the checks: class counts and an image lookup."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from autograder.fingerprint import keys_for


class DatasetTruth:
    """The training split's class counts and a pixel lookup, for one dataset.

    `lookup(key)` takes an `autograder.fingerprint.image_key` and gives the
    training index and label of that image (its first occurrence), or None.
    """

    def __init__(
        self,
        fingerprint: str,
        label_names: list[str],
        labels: NDArray[np.integer],
        keys: list[str],
    ) -> None:
        if len(labels) != len(keys):
            raise ValueError("one key per training image is needed")
        self.fingerprint = fingerprint
        self.label_names = list(label_names)
        self.labels = np.asarray(labels, dtype=np.int64).ravel()
        self.class_counts: list[int] = np.bincount(
            self.labels, minlength=len(self.label_names)
        ).tolist()
        self._index: dict[str, int] = {}
        for index, key in enumerate(keys):
            self._index.setdefault(key, index)
        self._keys = keys

    @classmethod
    def from_arrays(
        cls,
        x_train: NDArray[np.uint8],
        y_train: NDArray[np.integer],
        label_names: list[str],
        fingerprint: str,
    ) -> DatasetTruth:
        return cls(
            fingerprint, label_names, np.asarray(y_train).ravel(), keys_for(x_train)
        )

    def lookup(self, key: str | None) -> tuple[int, int] | None:
        if key is None:
            return None
        index = self._index.get(key)
        if index is None:
            return None
        return index, int(self.labels[index])

    def key_of(self, index: int) -> str:
        return self._keys[index]

    def __len__(self) -> int:
        return len(self.labels)

    def save(self, path: Path) -> None:
        """Write to `path` (an .npz) atomically."""
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial.npz")
        np.savez(
            partial,
            fingerprint=np.array(self.fingerprint),
            label_names=np.array(self.label_names),
            labels=self.labels,
            keys=np.array(self._keys, dtype="S24"),
        )
        partial.replace(path)

    @classmethod
    def load(cls, path: Path) -> DatasetTruth:
        with np.load(path) as stored:
            return cls(
                str(stored["fingerprint"]),
                [str(name) for name in stored["label_names"]],
                stored["labels"],
                [key.decode() for key in stored["keys"]],
            )
