"""Serve the grader's chosen CIFAR-10 to the student's unchanged `load_data()`.

This file is put on `PYTHONPATH` of grading processes only (see
`autograder.dataset.serving_env`); Python imports it at start-up. When
`DATA_DETECTIVE_SERVE` names a folder holding `cifar-10-batches-py/`, it waits for
Keras's CIFAR-10 module to be imported and swaps the `get_file` that module uses
for one that returns that folder: no network, no hash check, no extraction, and
so no race between graders reading the same files at once.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import os
import sys
import types
from collections.abc import Sequence
from typing import Any

SERVE_VARIABLE = "DATA_DETECTIVE_SERVE"
KERAS_MODULE = "keras.src.datasets.cifar10"
KERAS_DIRNAME = "cifar-10-batches-py-target"


def _serving_get_file(root: str, original: Any) -> Any:
    def get_file(fname: str | None = None, *args: Any, **kwargs: Any) -> str:
        if fname == KERAS_DIRNAME:
            return root
        return str(original(fname, *args, **kwargs))

    return get_file


def patch_module(module: types.ModuleType, root: str) -> None:
    """Make `module.load_data()` read the dataset under `root`."""
    original = getattr(module, "get_file", None)
    if getattr(original, "__name__", "") == "get_file" and original is not None:
        module.get_file = _serving_get_file(root, original)  # type: ignore[attr-defined]


class _PatchingLoader(importlib.abc.Loader):
    def __init__(self, wrapped: importlib.abc.Loader, root: str) -> None:
        self._wrapped = wrapped
        self._root = root

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> Any:
        return self._wrapped.create_module(spec)

    def exec_module(self, module: types.ModuleType) -> None:
        self._wrapped.exec_module(module)
        patch_module(module, self._root)


class _ServingFinder(importlib.abc.MetaPathFinder):
    def __init__(self, root: str) -> None:
        self._root = root

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: types.ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != KERAS_MODULE:
            return None
        for finder in sys.meta_path:
            if finder is self:
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None and spec.loader is not None:
                spec.loader = _PatchingLoader(spec.loader, self._root)
                return spec
        return None


def install(root: str) -> None:
    """Serve the dataset under `root` to this process's `cifar10.load_data()`."""
    loaded = sys.modules.get(KERAS_MODULE)
    if loaded is not None:
        patch_module(loaded, root)
    else:
        sys.meta_path.insert(0, _ServingFinder(root))


if os.environ.get(SERVE_VARIABLE):
    install(os.environ[SERVE_VARIABLE])
