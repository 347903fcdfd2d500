"""Does the grader get CIFAR-10 offline, checked, and the same in every process?"""

from __future__ import annotations

import filecmp
import hashlib
import json
import os
import pickle
import re
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

from autograder.config import PROJECT_ROOT
from autograder.dataset import (
    PreparedDataset,
    find_real,
    load_training,
    make_variant,
    prepare,
    serving_env,
    truth,
)
from autograder.dataset_batches import BATCH_FILES, BATCHES_DIRNAME
from autograder.dataset_standin import read_manifest, sharpness
from autograder.errors import ConfigError, DatasetError
from autograder.fingerprint import image_key

#: What a grading process runs: the lesson's own `load_data()` call, unchanged.
LOAD_LIKE_A_STUDENT = """
import hashlib, json
import numpy as np
import tensorflow as tf
(x_train, y_train), (x_test, y_test) = tf.keras.datasets.cifar10.load_data()
print(json.dumps({
    "counts": np.bincount(y_train.flatten(), minlength=10).tolist(),
    "shapes": [list(x_train.shape), list(y_train.shape), list(x_test.shape)],
    "pixels": hashlib.blake2b(
        np.ascontiguousarray(x_train).tobytes(), digest_size=12
    ).hexdigest(),
}))
"""

FIND_REAL_OR_SAY_WHY = """
import sys
from pathlib import Path
from autograder.dataset import find_real
from autograder.errors import DatasetError
try:
    find_real(cache_dir=Path(sys.argv[1]))
except DatasetError as error:
    print(error)
    sys.exit(error.exit_code)
"""


# -- factories --------------------------------------------------------------------


@pytest.fixture(scope="module")
def variant_dataset(
    standin_dataset: PreparedDataset, dataset_cache: Path
) -> PreparedDataset:
    return make_variant(standin_dataset, seed=7, cache_dir=dataset_cache)


def offline_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """A child's environment with no network, an empty Keras home, its own cache."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key.lower() not in {"no_proxy", "pythonpath"}
    }
    env |= {
        "KERAS_HOME": str(tmp_path / "keras-home"),
        "XDG_CACHE_HOME": str(tmp_path / "xdg-cache"),
        "http_proxy": "http://127.0.0.1:9",
        "https_proxy": "http://127.0.0.1:9",
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "PYTHONPATH": str(PROJECT_ROOT),
    }
    return env | extra


def config_with_dataset_path(tmp_path: Path, dataset_path: str) -> Path:
    """A copy of the course configuration naming `dataset_path`."""
    config = tmp_path / "course_config.py"
    config.write_text(
        (PROJECT_ROOT / "course_config.py").read_text(encoding="utf-8")
        + f"\nc.DataDetective.dataset_path = {dataset_path!r}\n",
        encoding="utf-8",
    )
    return config


def damaged_copy(dataset: PreparedDataset, tmp_path: Path, name: str) -> Path:
    """A dataset folder sharing `dataset`'s files except `name`, left to the test."""
    batches = tmp_path / "damaged" / BATCHES_DIRNAME
    batches.mkdir(parents=True)
    for file in BATCH_FILES:
        if file != name:
            (batches / file).symlink_to(dataset.batches / file)
    return batches.parent


def pixels_digest(images: NDArray[np.uint8]) -> str:
    contiguous = np.ascontiguousarray(images).tobytes()
    return hashlib.blake2b(contiguous, digest_size=12).hexdigest()


def run_cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "autograder", *args],
        env=offline_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


class RunsCode:
    """Unpickling this object would call print: a batch must never do that."""

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return print, ("a batch ran code",)


# -- the stand-in -----------------------------------------------------------------


def test_does_the_standin_hold_five_thousand_images_of_every_class(
    standin_dataset: PreparedDataset, dataset_cache: Path
) -> None:
    x_train, y_train, label_names = load_training(standin_dataset)

    assert x_train.shape == (50_000, 32, 32, 3)
    assert x_train.dtype == np.uint8
    assert y_train.shape == (50_000,)
    assert label_names[:3] == ["airplane", "automobile", "bird"]
    assert truth(standin_dataset, cache_dir=dataset_cache).class_counts == [5000] * 10
    assert standin_dataset.origin == "standin"


def foreground_colour(images: NDArray[np.uint8]) -> NDArray[np.float64]:
    """The mean colour of what stands out from each image's border, over images."""
    pixels = images.astype(np.float64)
    border = np.median(
        np.concatenate(
            [pixels[:, 0], pixels[:, -1], pixels[:, :, 0], pixels[:, :, -1]], 1
        ),
        axis=1,
    )
    standing_out = np.abs(pixels - border[:, None, None]).sum(axis=3) > 90
    return np.asarray(pixels[standing_out].mean(axis=0))


def test_does_every_class_of_the_standin_have_a_colour_of_its_own(
    standin_dataset: PreparedDataset,
) -> None:
    x_train, y_train, _ = load_training(standin_dataset)
    colours = np.array(
        [foreground_colour(x_train[y_train == label][:300]) for label in range(10)]
    )
    distances = np.linalg.norm(colours[:, None] - colours[None], axis=2)

    assert distances[~np.eye(10, dtype=bool)].min() > 30


def test_is_the_sharpness_measure_the_lessons_formula() -> None:
    images = np.random.default_rng(3).integers(0, 256, (4, 32, 32, 3), dtype=np.uint8)
    by_hand = [
        np.concatenate(
            [
                np.abs(np.diff(image.astype(float), axis=1)).ravel(),
                np.abs(np.diff(image.astype(float), axis=0)).ravel(),
            ]
        ).mean()
        for image in images
    ]

    assert sharpness(images, chunk=3) == pytest.approx(by_hand)


def test_does_the_lessons_measure_rank_the_planted_images_lowest(
    standin_dataset: PreparedDataset,
) -> None:
    x_train, y_train, _ = load_training(standin_dataset)
    manifest = read_manifest(standin_dataset.batches)
    scores = sharpness(x_train)

    for label in range(10):
        planted = {
            entry["index"]
            for entry in manifest
            if entry["class"] == label and entry["kind"] != "duplicate"
        }
        members = np.flatnonzero(y_train == label)
        lowest = members[np.argsort(scores[members])[: len(planted)]]
        assert set(lowest.tolist()) == planted, f"class {label}"


def test_are_the_planted_duplicates_exact_copies(
    standin_dataset: PreparedDataset,
) -> None:
    x_train, y_train, _ = load_training(standin_dataset)
    duplicates = [
        entry
        for entry in read_manifest(standin_dataset.batches)
        if entry["kind"] == "duplicate"
    ]

    assert len(duplicates) == 10
    for entry in duplicates:
        copy, original = int(entry["index"]), int(entry["copy_of"])
        assert np.array_equal(x_train[copy], x_train[original])
        assert y_train[copy] == y_train[original] == entry["class"]


def test_does_the_lookup_find_every_sampled_image_as_uint8_and_as_float(
    standin_dataset: PreparedDataset, dataset_cache: Path
) -> None:
    x_train, y_train, _ = load_training(standin_dataset)
    facts = truth(standin_dataset, cache_dir=dataset_cache)
    duplicated = [int(e["index"]) for e in read_manifest(standin_dataset.batches)]
    sample = [*np.random.default_rng(5).choice(50_000, 300).tolist(), *duplicated]

    for index in sample:
        for shown in (x_train[index], x_train[index] / 255, x_train[index] / 255.0):
            found = facts.lookup(image_key(shown))
            assert found is not None, f"image {index}"
            assert np.array_equal(x_train[found[0]], x_train[index])
            assert found[1] == y_train[index]


def test_is_the_truth_kept_on_disk_and_rebuilt_when_damaged(
    standin_dataset: PreparedDataset, tmp_path: Path
) -> None:
    stored = tmp_path / "truth" / f"{standin_dataset.fingerprint}.npz"
    stored.parent.mkdir()
    stored.write_bytes(b"half a file")

    rebuilt = truth(standin_dataset, cache_dir=tmp_path)

    assert rebuilt.class_counts == [5000] * 10
    assert stored.stat().st_size > 1000


# -- grading variants -------------------------------------------------------------


def test_does_a_variant_perturb_the_counts_within_the_range(
    variant_dataset: PreparedDataset, dataset_cache: Path
) -> None:
    counts = truth(variant_dataset, cache_dir=dataset_cache).class_counts

    assert sum(counts) == 50_000
    assert all(4500 <= count <= 5500 for count in counts)
    assert counts != [5000] * 10
    assert variant_dataset.origin == "variant"
    assert variant_dataset.variant_seed == 7


def test_does_a_variant_show_only_its_base_images_with_their_labels(
    standin_dataset: PreparedDataset,
    variant_dataset: PreparedDataset,
    dataset_cache: Path,
) -> None:
    base = truth(standin_dataset, cache_dir=dataset_cache)
    variant = truth(variant_dataset, cache_dir=dataset_cache)

    for index in range(len(variant)):
        found = base.lookup(variant.key_of(index))
        assert found is not None and found[1] == variant.labels[index]
    assert filecmp.cmp(
        standin_dataset.batches / "test_batch",
        variant_dataset.batches / "test_batch",
        shallow=False,
    )


def test_is_a_variant_the_same_for_the_same_seed_and_not_for_another(
    standin_dataset: PreparedDataset,
    variant_dataset: PreparedDataset,
    tmp_path: Path,
) -> None:
    again = make_variant(standin_dataset, seed=7, cache_dir=tmp_path)
    other = make_variant(standin_dataset, seed=8, cache_dir=tmp_path)

    assert again.fingerprint == variant_dataset.fingerprint
    assert other.fingerprint != variant_dataset.fingerprint


def test_is_an_impossible_count_range_refused(
    standin_dataset: PreparedDataset, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError, match="variant_count_range"):
        make_variant(standin_dataset, 1, (5100, 5500), cache_dir=tmp_path)


# -- serving to the student's load_data() -----------------------------------------


def test_can_four_graders_load_the_standin_and_a_variant_at_once(
    standin_dataset: PreparedDataset,
    variant_dataset: PreparedDataset,
    dataset_cache: Path,
    tmp_path: Path,
) -> None:
    datasets = [standin_dataset, variant_dataset] * 2
    graders = [
        subprocess.Popen(
            [sys.executable, "-c", LOAD_LIKE_A_STUDENT],
            env=offline_env(tmp_path) | serving_env(dataset),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for dataset in datasets
    ]
    outputs = [grader.communicate(timeout=300) for grader in graders]

    for dataset, grader, (stdout, stderr) in zip(
        datasets, graders, outputs, strict=True
    ):
        assert grader.returncode == 0, stderr
        loaded = json.loads(stdout.strip().splitlines()[-1])
        x_train, _, _ = load_training(dataset)
        assert loaded["counts"] == truth(dataset, cache_dir=dataset_cache).class_counts
        assert loaded["shapes"] == [[50000, 32, 32, 3], [50000, 1], [10000, 32, 32, 3]]
        assert loaded["pixels"] == pixels_digest(x_train)
    assert not (tmp_path / "keras-home" / "datasets").exists()


def test_does_serving_put_the_serving_folder_first_on_the_path(
    standin_dataset: PreparedDataset,
) -> None:
    env = serving_env(standin_dataset)

    assert env["DATA_DETECTIVE_SERVE"] == str(standin_dataset.root)
    assert env["PYTHONPATH"].split(os.pathsep)[:2] == [
        str(PROJECT_ROOT / "autograder" / "serving"),
        str(PROJECT_ROOT),
    ]


# -- the real CIFAR-10 ------------------------------------------------------------


@pytest.mark.shared_data
def test_does_the_real_copy_hold_five_thousand_of_every_class(
    real_dataset: PreparedDataset, dataset_cache: Path
) -> None:
    facts = truth(real_dataset, cache_dir=dataset_cache)
    x_train, y_train, _ = load_training(real_dataset)

    assert real_dataset.origin == "real"
    assert facts.class_counts == [5000] * 10
    for index in (0, 12_345, 49_999):
        found = facts.lookup(image_key(x_train[index] / 255))
        assert found is not None and found[1] == y_train[index]


# -- damaged datasets and archives ------------------------------------------------


def _truncated(original: Path) -> bytes:
    content = original.read_bytes()
    return content[: len(content) // 2]


def _short_batch(_: Path) -> bytes:
    return pickle.dumps(
        {b"data": np.zeros((9_999, 3072), np.uint8), b"labels": [0] * 9_999},
        protocol=4,
    )


def _label_ten(_: Path) -> bytes:
    return pickle.dumps(
        {b"data": np.zeros((10_000, 3072), np.uint8), b"labels": [10] * 10_000},
        protocol=4,
    )


@pytest.mark.parametrize(
    ("name", "damage", "reason"),
    [
        ("data_batch_3", _truncated, "truncated"),
        ("test_batch", lambda _: b"not a pickle" * 100, "truncated"),
        ("data_batch_2", _short_batch, "exactly 10,000"),
        ("data_batch_5", _label_ten, "labels must be 0-9"),
        ("batches.meta", lambda _: pickle.dumps(RunsCode()), "builtins.print"),
        ("data_batch_1", None, "lacks data_batch_1"),
    ],
    ids=["truncated", "garbage", "short", "bad-label", "runs-code", "missing"],
)
def test_does_a_damaged_batch_give_an_error_naming_the_file(
    standin_dataset: PreparedDataset,
    tmp_path: Path,
    name: str,
    damage: object,
    reason: str,
) -> None:
    folder = damaged_copy(standin_dataset, tmp_path, name)
    if callable(damage):
        (folder / BATCHES_DIRNAME / name).write_bytes(
            damage(standin_dataset.batches / name)
        )

    with pytest.raises(DatasetError, match=re.escape(reason)) as raised:
        prepare(folder, cache_dir=tmp_path / "cache")

    assert name in str(raised.value)


def test_does_an_archive_unpack_to_the_same_dataset_as_its_folder(
    standin_dataset: PreparedDataset, tmp_path: Path
) -> None:
    archive = tmp_path / "standin.tar"
    with tarfile.open(archive, "w") as tar:
        tar.add(standin_dataset.batches, arcname=BATCHES_DIRNAME)

    unpacked = prepare(archive, cache_dir=tmp_path / "cache")

    assert unpacked.fingerprint == standin_dataset.fingerprint
    assert unpacked.origin == "standin"
    assert str(archive) in unpacked.description


def test_is_an_archive_reaching_outside_its_folder_refused(tmp_path: Path) -> None:
    archive = tmp_path / "evil.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        member = tarfile.TarInfo("../escaped.txt")
        tar.addfile(member)

    with pytest.raises(DatasetError, match="outside the dataset folder"):
        prepare(archive, cache_dir=tmp_path / "cache")
    assert not (tmp_path / "cache" / "escaped.txt").exists()


def test_is_a_file_that_is_no_archive_refused(tmp_path: Path) -> None:
    archive = tmp_path / "cifar-10-python.tar.gz"
    archive.write_bytes(b"\x1f\x8b not really gzip")

    with pytest.raises(DatasetError, match="not a readable tar archive"):
        prepare(archive, cache_dir=tmp_path / "cache")


# -- finding the real CIFAR-10 ----------------------------------------------------


def test_does_an_explicit_path_that_does_not_exist_say_so(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="does not exist"):
        find_real(tmp_path / "nowhere.tar.gz", cache_dir=tmp_path)


def test_does_finding_nothing_name_the_three_ways(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "DATA_DETECTIVE_CONFIG", str(config_with_dataset_path(tmp_path, ""))
    )
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras-home"))

    with pytest.raises(DatasetError) as raised:
        find_real(cache_dir=tmp_path / "cache", allow_download=False)

    message = str(raised.value)
    assert "--dataset" in message
    assert "dataset_path in course_config.py" in message
    assert "Keras downloads it" in message


def test_is_the_configured_dataset_path_used(
    standin_dataset: PreparedDataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = config_with_dataset_path(tmp_path, str(standin_dataset.batches))
    monkeypatch.setenv("DATA_DETECTIVE_CONFIG", str(config))

    found = find_real(cache_dir=tmp_path / "cache", allow_download=False)

    assert found.fingerprint == standin_dataset.fingerprint


def test_is_a_broken_configured_dataset_path_an_error_of_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = config_with_dataset_path(tmp_path, str(tmp_path / "missing"))
    monkeypatch.setenv("DATA_DETECTIVE_CONFIG", str(config))

    with pytest.raises(DatasetError, match=r"dataset_path in course_config\.py"):
        find_real(cache_dir=tmp_path / "cache", allow_download=False)


def test_is_keras_cache_used_through_a_copy_keras_cannot_rewrite(
    standin_dataset: PreparedDataset,
    dataset_cache: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(
        "DATA_DETECTIVE_CONFIG", str(config_with_dataset_path(tmp_path, ""))
    )
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras-home"))
    keras_folder = tmp_path / "keras-home" / "datasets" / "cifar-10-batches-py-target"
    keras_folder.mkdir(parents=True)
    (keras_folder / BATCHES_DIRNAME).symlink_to(standin_dataset.batches)

    found = find_real(cache_dir=dataset_cache, allow_download=False)

    assert found.fingerprint == standin_dataset.fingerprint
    assert found.root.is_relative_to(dataset_cache)
    assert str(keras_folder) in found.description


def test_does_a_failed_download_name_the_three_ways(tmp_path: Path) -> None:
    config = config_with_dataset_path(tmp_path, "")
    finding = subprocess.run(
        [sys.executable, "-c", FIND_REAL_OR_SAY_WHY, str(tmp_path / "cache")],
        env=offline_env(tmp_path, DATA_DETECTIVE_CONFIG=str(config)),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert finding.returncode == DatasetError.exit_code, finding.stderr
    assert "downloading https://www.cs.toronto.edu" in finding.stdout
    assert "--dataset" in finding.stdout
    assert "dataset_path in course_config.py" in finding.stdout


# -- the command line -------------------------------------------------------------


def test_does_dataset_check_describe_a_usable_dataset(
    standin_dataset: PreparedDataset, tmp_path: Path
) -> None:
    checked = run_cli(tmp_path, "dataset", "check", str(standin_dataset.root))

    assert checked.returncode == 0, checked.stderr
    assert "stand-in" in checked.stdout
    assert standin_dataset.fingerprint in checked.stdout
    assert "airplane 5,000" in checked.stdout


@pytest.mark.parametrize("damaged", [False, True], ids=["missing", "truncated"])
def test_does_dataset_check_exit_3_with_one_line_for_an_unusable_dataset(
    standin_dataset: PreparedDataset, tmp_path: Path, damaged: bool
) -> None:
    folder = tmp_path / "nowhere"
    if damaged:
        folder = damaged_copy(standin_dataset, tmp_path, "data_batch_4")
        (folder / BATCHES_DIRNAME / "data_batch_4").write_bytes(b"\x80\x04")

    checked = run_cli(tmp_path, "dataset", "check", str(folder))

    assert checked.returncode == 3
    assert checked.stderr.startswith("error: ")
    assert len(checked.stderr.strip().splitlines()) == 1
    assert ("data_batch_4" if damaged else "does not exist") in checked.stderr


def test_does_dataset_standin_write_the_same_standin_for_the_same_seed(
    standin_dataset: PreparedDataset, tmp_path: Path
) -> None:
    written = run_cli(tmp_path, "dataset", "standin", str(tmp_path / "standin"))

    assert written.returncode == 0, written.stderr
    assert f"Stand-in written to {tmp_path / 'standin'}" in written.stdout
    again = prepare(tmp_path / "standin", cache_dir=tmp_path / "cache")
    assert again.fingerprint == standin_dataset.fingerprint
