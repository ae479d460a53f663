"""Tests of the real-data loaders (MNIST, SARCOS, CIFAR-10) and their helpers.

Real-data tests read the directory named by ``BIOPLASTIC_DATA_DIR`` and skip
when it is unset.  Everything else uses small synthetic files written to
``tmp_path``.  No test touches the network: downloads are either disabled
(``download=False``), impossible (a local data directory is given) or served
by a stand-in for :func:`pooch.retrieve`.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import re
import shutil
import struct
import tarfile
from pathlib import Path

import numpy as np
import pytest
from conftest import naive_idx_bytes, write_idx_image_set
from scipy.io import loadmat, savemat

from bioplastic.tasks import DatasetTask, IdxImageTask, _data, cifar10, sarcos
from bioplastic.tasks._data import ENV_VAR, resolve_data_dir
from bioplastic.tasks.cifar10 import (
    CIFAR10_LABEL_NAMES,
    CIFAR10_MD5,
    CIFAR10_PROVENANCE,
    CIFAR10_TARBALL,
    CIFAR10_URL,
    Cifar10Task,
    crop_and_flip,
    load_cifar10,
)
from bioplastic.tasks.idx_images import load_idx_images
from bioplastic.tasks.mnist import MNIST_FILES, MNIST_URL, NOT_MNIST_ADVICE, load_mnist, read_idx
from bioplastic.tasks.sarcos import (
    SARCOS_TEST_SHA256,
    SARCOS_TEST_URL,
    SARCOS_TRAIN_URL,
    load_sarcos,
)

DATA_DIR = os.environ.get(ENV_VAR, "")
needs_data = pytest.mark.skipif(
    not DATA_DIR,
    reason="BIOPLASTIC_DATA_DIR not set: real-data tests need a local data directory",
)


# --------------------------------------------------------------------------
# data-directory policy
# --------------------------------------------------------------------------


def test_resolve_data_dir_precedence(monkeypatch, tmp_path):
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "from_env"))
    assert resolve_data_dir(tmp_path / "arg") == tmp_path / "arg"
    assert resolve_data_dir(str(tmp_path / "arg")) == tmp_path / "arg"
    assert resolve_data_dir(None) == tmp_path / "from_env"
    monkeypatch.setenv(ENV_VAR, "")
    assert resolve_data_dir(None) is None
    monkeypatch.delenv(ENV_VAR)
    assert resolve_data_dir(None) is None


def test_resolve_data_dir_rejects_bad_types():
    with pytest.raises(TypeError, match="data_dir.*int"):
        resolve_data_dir(123)
    with pytest.raises(ValueError, match="empty"):
        resolve_data_dir("")


def test_resolve_data_dir_makes_relative_paths_absolute_against_the_working_directory(monkeypatch, tmp_path):
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    assert resolve_data_dir("data") == tmp_path / "work" / "data"
    assert resolve_data_dir(Path("../shared/data")) == tmp_path / "shared" / "data"
    monkeypatch.setenv(ENV_VAR, "../shared/data")
    assert resolve_data_dir(None) == tmp_path / "shared" / "data"
    monkeypatch.chdir(tmp_path)  # resolved when called, against the directory of that moment
    assert resolve_data_dir(None) == tmp_path.parent / "shared" / "data"
    assert _data._resolve_with_source(None) == (
        tmp_path.parent / "shared" / "data", f"the {ENV_VAR} environment variable"
    )


@pytest.mark.parametrize("via", ["argument", "environment"])
def test_loader_resolves_a_relative_data_dir_when_it_reads(tmp_path, monkeypatch, via):
    _, test, digest = _write_sarcos_pair(tmp_path / "a" / "data" / "sarcos", with_train=False)
    monkeypatch.setattr(sarcos, "SARCOS_TEST_SHA256", digest)
    for work in ("a", "b"):
        (tmp_path / work / "work").mkdir(parents=True)
    if via == "argument":
        kwargs = {"data_dir": "../data"}
        monkeypatch.delenv(ENV_VAR, raising=False)
    else:
        kwargs = {}
        monkeypatch.setenv(ENV_VAR, "../data")
    monkeypatch.chdir(tmp_path / "a" / "work")
    found = _data.fetch_file("sarcos_inv_test.mat", dataset="sarcos", url=SARCOS_TEST_URL, **kwargs)
    assert found == tmp_path / "a" / "data" / "sarcos" / "sarcos_inv_test.mat"
    d = load_sarcos(split="test_file_only", test_fraction=0.5, **kwargs)
    np.testing.assert_array_equal(np.sort(np.vstack([d["x_train"], d["x_test"]]), axis=0), np.sort(test[:, :21], axis=0))
    monkeypatch.chdir(tmp_path / "b" / "work")  # the same relative path now names b/data
    assert found.is_file()  # what was found stays found
    with pytest.raises(FileNotFoundError) as info:
        load_sarcos(split="test_file_only", **kwargs)
    source = "the data_dir argument" if via == "argument" else f"the {ENV_VAR} environment variable"
    assert f"Data directory {tmp_path / 'b' / 'data'} (from {source})" in str(info.value)
    assert f"  - {tmp_path / 'b' / 'data' / 'sarcos'}  (directory does not exist)\n" in str(info.value)


def test_download_flag_must_be_bool(tmp_path):
    with pytest.raises(TypeError, match="download must be a bool.*'yes'"):
        load_mnist(tmp_path, download="yes")


# --------------------------------------------------------------------------
# idx reader on synthetic files
# --------------------------------------------------------------------------

IDX_CODES = {
    np.uint8: 0x08,
    np.int8: 0x09,
    np.int16: 0x0B,
    np.int32: 0x0C,
    np.float32: 0x0D,
    np.float64: 0x0E,
}


def _idx_bytes(arr: np.ndarray, code: int) -> bytes:
    header = bytes([0, 0, code, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape)
    return header + arr.astype(arr.dtype.newbyteorder(">")).tobytes()


def _write(path: Path, payload: bytes, *, gz: bool) -> Path:
    path.write_bytes(gzip.compress(payload) if gz else payload)
    return path


@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gzip"])
@pytest.mark.parametrize("shape", [(7,), (2, 3, 4)], ids=["1d", "3d"])
@pytest.mark.parametrize("dtype", list(IDX_CODES), ids=lambda d: np.dtype(d).name)
def test_read_idx_roundtrip(tmp_path, dtype, shape, gz):
    rng = np.random.default_rng(0)
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        arr = rng.integers(info.min, info.max, size=shape, endpoint=True, dtype=dtype)
        arr.flat[0], arr.flat[-1] = info.min, info.max
    else:
        arr = rng.normal(scale=1e3, size=shape).astype(dtype)
    # The name deliberately lacks ".gz": compression is detected from content.
    path = _write(tmp_path / "x.idx", _idx_bytes(arr, IDX_CODES[dtype]), gz=gz)
    out = read_idx(path)
    assert out.dtype == np.dtype(dtype)  # native byte order
    assert out.dtype.isnative
    assert out.shape == shape
    np.testing.assert_array_equal(out, arr)
    assert out.flags.writeable and out.flags.c_contiguous


def test_read_idx_zero_dimensional(tmp_path):
    path = _write(tmp_path / "s.idx", _idx_bytes(np.array(5, np.int32), 0x0C), gz=False)
    out = read_idx(path)
    assert out.shape == () and out == 5


@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gzip"])
def test_read_idx_size_mismatch(tmp_path, gz):
    payload = _idx_bytes(np.arange(24, dtype=np.int16).reshape(2, 3, 4), 0x0B)
    truncated = _write(tmp_path / "truncated.idx", payload[:-1], gz=gz)
    with pytest.raises(ValueError, match=r"truncated\.idx.*truncated.*48 bytes"):
        read_idx(truncated)
    trailing = _write(tmp_path / "trailing.idx", payload + b"\x00", gz=gz)
    with pytest.raises(ValueError, match=r"trailing\.idx.*trailing bytes"):
        read_idx(trailing)


def test_read_idx_malformed_headers(tmp_path):
    good = _idx_bytes(np.zeros((2, 2), np.uint8), 0x08)
    cases = {
        "magic.idx": (b"\x01" + good[1:], "magic number"),
        "type.idx": (good[:2] + b"\x0a" + good[3:], "unknown idx type byte 0x0A"),
        "header.idx": (good[:6], "truncated idx header"),
        "tiny.idx": (b"\x00\x00", "shorter than the 4-byte magic"),
    }
    for name, (payload, message) in cases.items():
        path = _write(tmp_path / name, payload, gz=False)
        with pytest.raises(ValueError, match=re.escape(name) + ".*" + message):
            read_idx(path)


def test_read_idx_corrupt_gzip(tmp_path):
    payload = gzip.compress(_idx_bytes(np.arange(1000, dtype=np.int32), 0x0C))
    path = tmp_path / "cut.idx.gz"
    path.write_bytes(payload[: len(payload) // 2])
    with pytest.raises(ValueError, match=r"cut\.idx\.gz.*gzip"):
        read_idx(path)


def test_read_idx_rejects_bad_path_type():
    with pytest.raises(TypeError, match="path must be"):
        read_idx(42)


# --------------------------------------------------------------------------
# MNIST
# --------------------------------------------------------------------------


def test_mnist_missing_file_message(tmp_path, monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    with pytest.raises(FileNotFoundError) as info:
        load_mnist(tmp_path)
    message = str(info.value)
    for needle in (
        "train-images-idx3-ubyte.gz",
        str(tmp_path / "mnist"),
        f"  - {tmp_path}\n",
        MNIST_URL + "train-images-idx3-ubyte.gz",
        ENV_VAR,
        "data_dir argument",
    ):
        assert needle in message, needle
    # The same through the environment variable.
    monkeypatch.setenv(ENV_VAR, str(tmp_path))
    with pytest.raises(FileNotFoundError, match=f"{ENV_VAR} environment variable"):
        load_mnist()


@pytest.fixture(scope="module")
def mnist():
    if not DATA_DIR:
        pytest.skip(
            "BIOPLASTIC_DATA_DIR not set: real-data tests need a local data directory"
        )
    return load_mnist(download=False)


@needs_data
def test_mnist_shapes_dtypes_range(mnist):
    assert set(mnist) == {"x_train", "y_train", "x_test", "y_test"}
    assert mnist["x_train"].shape == (60000, 784)
    assert mnist["x_test"].shape == (10000, 784)
    assert mnist["y_train"].shape == (60000,)
    assert mnist["y_test"].shape == (10000,)
    for key in ("x_train", "x_test"):
        x = mnist[key]
        assert x.dtype == np.float64
        assert x.min() == 0.0 and x.max() == 1.0
        # exactly k / 255 for integer k
        np.testing.assert_array_equal(np.round(x[:100] * 255) / 255, x[:100])
    for key in ("y_train", "y_test"):
        assert mnist[key].dtype == np.int64


@needs_data
def test_mnist_label_counts(mnist):
    train_counts = np.bincount(mnist["y_train"], minlength=10)
    test_counts = np.bincount(mnist["y_test"], minlength=10)
    assert train_counts.shape == (10,) and test_counts.shape == (10,)
    assert (train_counts > 0).all() and (test_counts > 0).all()
    # canonical facts
    assert train_counts[1] == 6742
    assert train_counts.tolist() == [
        5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949
    ]
    assert test_counts.sum() == 10000
    assert test_counts[1] == 1135
    assert mnist["y_train"][:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert mnist["y_test"][:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]


@needs_data
def test_read_idx_on_real_file():
    images = read_idx(Path(DATA_DIR) / "mnist" / "t10k-images-idx3-ubyte.gz")
    assert images.shape == (10000, 28, 28) and images.dtype == np.uint8


def _copy_mnist(dst: Path) -> None:
    dst.mkdir(parents=True, exist_ok=True)
    for filename, _ in MNIST_FILES.values():
        shutil.copy(Path(DATA_DIR) / "mnist" / filename, dst / filename)


@needs_data
def test_mnist_checksum_mismatch(tmp_path):
    _copy_mnist(tmp_path / "mnist")
    victim = tmp_path / "mnist" / "t10k-labels-idx1-ubyte.gz"
    content = bytearray(gzip.decompress(victim.read_bytes()))
    content[8] = (content[8] + 1) % 10  # change the first test label
    # still a valid gzip and a valid idx file: only the checksum can tell
    victim.write_bytes(gzip.compress(bytes(content)))
    actual = hashlib.sha256(bytes(content)).hexdigest()
    expected = MNIST_FILES["y_test"][1]
    with pytest.raises(ValueError) as info:
        load_mnist(tmp_path, download=False)
    message = str(info.value)
    assert str(victim) in message
    assert expected in message and actual in message


@needs_data
def test_mnist_accepts_root_dir_and_uncompressed(tmp_path):
    # files directly in the data dir, one of them stored uncompressed
    _copy_mnist(tmp_path)
    gz = tmp_path / "t10k-labels-idx1-ubyte.gz"
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(gzip.decompress(gz.read_bytes()))
    gz.unlink()
    data = load_mnist(tmp_path)
    assert data["y_test"][:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]


# --------------------------------------------------------------------------
# other image sets in the idx layout
# --------------------------------------------------------------------------


def _naive_inputs(images):
    """Each image flattened row by row, every pixel divided by 255."""
    return [[pixel / 255 for row in image for pixel in row] for image in images]


def _naive_one_hot(labels, n_classes):
    return [[1.0 if c == label else 0.0 for c in range(n_classes)] for label in labels]


@pytest.mark.parametrize("gz", [True, False], ids=["gzip", "raw"])
def test_idx_image_task_is_mnist_preprocessing_of_any_idx_set(tmp_path, gz):
    images, labels, paths = write_idx_image_set(tmp_path / "fashion", gz=gz)
    task = IdxImageTask(data_dir=tmp_path / "fashion", verify=False)
    assert isinstance(task, DatasetTask) and task.is_classification and task.name == "idx_images"
    assert (task.n_inputs, task.n_outputs, task.n_train, len(task.x_test)) == (15, 4, 7, 4)
    assert task.image_shape == (3, 5)
    assert task.files == paths
    for split, x, y, lab in (("train", task.x_train, task.y_train, task.labels_train),
                             ("test", task.x_test, task.y_test, task.labels_test)):
        assert x.dtype == np.float64 and lab.dtype == np.int64
        np.testing.assert_array_equal(x, _naive_inputs(images[split]))
        np.testing.assert_array_equal(lab, labels[split])
        np.testing.assert_array_equal(y, _naive_one_hot(labels[split], 4))
    arrays = load_idx_images(data_dir=tmp_path / "fashion", verify=False)
    np.testing.assert_array_equal(arrays["x_test"], task.x_test)
    np.testing.assert_array_equal(arrays["y_train"], labels["train"])
    described = task.describe()
    assert described["files"] == {key: str(path) for key, path in paths.items()}
    assert described["verified"] is False and described["image_shape"] == [3, 5] and described["n_classes"] == 4


def test_idx_image_task_from_explicit_paths(tmp_path, monkeypatch):
    names = {"train_images": "letters-train-images", "train_labels": "letters-train-labels",
             "test_images": "letters-test-images", "test_labels": "letters-test-labels"}
    images, labels, paths = write_idx_image_set(tmp_path / "set", names=names, seed=3)
    files = {key: path.name for key, path in paths.items()}
    task = IdxImageTask(data_dir=tmp_path / "set", **files, verify=False, n_train=5, n_test=2, n_classes=6)
    assert task.files == paths and task.n_outputs == 6
    np.testing.assert_array_equal(task.x_train, _naive_inputs(images["train"][:5]))
    np.testing.assert_array_equal(task.y_test, _naive_one_hot(labels["test"][:2], 6))
    # without data_dir, relative file paths are taken against the working directory, when read
    monkeypatch.chdir(tmp_path)
    relative = {key: f"set/{name}" for key, name in files.items()}
    assert IdxImageTask(**relative, verify=False).files == paths
    with pytest.raises(ValueError, match=re.escape(f"n_train=8 exceeds the 7 training images in {paths['train_images']}")):
        IdxImageTask(**relative, verify=False, n_train=8)
    with pytest.raises(ValueError, match=re.escape("no path given for test_images, test_labels")):
        IdxImageTask(train_images=relative["train_images"], train_labels=relative["train_labels"], verify=False)
    with pytest.raises(FileNotFoundError, match=re.escape(f"test_labels file {tmp_path / 'nope'} does not exist")):
        IdxImageTask(**{**relative, "test_labels": "nope"}, verify=False)


def test_idx_image_set_missing_and_malformed_files(tmp_path):
    _, _, paths = write_idx_image_set(tmp_path / "d")
    paths["test_labels"].unlink()
    with pytest.raises(FileNotFoundError) as info:
        IdxImageTask(data_dir=tmp_path / "d", verify=False)
    assert str(info.value) == (
        f"test_labels file 't10k-labels-idx1-ubyte.gz' (or 't10k-labels-idx1-ubyte') not found in {tmp_path / 'd'}; "
        "give its path as test_labels=... if it has another name"
    )
    _, _, paths = write_idx_image_set(tmp_path / "e", image_shape=(3, 5))
    _, _, other = write_idx_image_set(tmp_path / "f", image_shape=(5, 3))
    with pytest.raises(ValueError, match=re.escape(f"{other['test_images']}: expected images of shape (n, 3, 5), got (4, 5, 3)")):
        IdxImageTask(**{**paths, "test_images": other["test_images"], "test_labels": other["test_labels"]}, verify=False)
    paths["train_images"].write_bytes(_idx_bytes(np.zeros((7, 3, 5), np.int16), 0x0B))
    with pytest.raises(ValueError, match=re.escape(f"{paths['train_images']}: expected uint8 pixels")):
        IdxImageTask(**paths, verify=False)
    paths["train_images"].write_bytes(naive_idx_bytes([0] * 90, (6, 3, 5)))
    with pytest.raises(ValueError, match=re.escape(f"{paths['train_labels']}: expected 6 labels, got shape (7,)")):
        IdxImageTask(**paths, verify=False)


def test_mnist_refuses_another_idx_set_and_says_how_to_load_it(tmp_path, monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    images, _, paths = write_idx_image_set(tmp_path / "mnist")
    content = gzip.decompress(paths["train_images"].read_bytes())
    with pytest.raises(ValueError) as info:
        load_mnist(tmp_path)
    assert str(info.value) == (
        f"Checksum mismatch for {paths['train_images']}: the decompressed content has sha256 "
        f"{hashlib.sha256(content).hexdigest()}, expected sha256 {MNIST_FILES['x_train'][1]}. " + NOT_MNIST_ADVICE
    )
    for needle in ("IdxImageTask", "load_idx_images", "'idx_images'", "verify=False", "known_hashes"):
        assert needle in NOT_MNIST_ADVICE
    # ... and the advice works
    task = IdxImageTask(data_dir=tmp_path / "mnist", verify=False)
    np.testing.assert_array_equal(task.x_train, _naive_inputs(images["train"]))


def test_idx_verification_is_explicit(tmp_path):
    _, _, paths = write_idx_image_set(tmp_path)
    with pytest.raises(ValueError) as info:
        IdxImageTask(data_dir=tmp_path)
    message = str(info.value)
    assert "verify=True needs a known hash of every file, none given for ['train_images', 'train_labels', " in message
    assert "or verify=False to read the files unchecked" in message
    hashes = {key: "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest() for key, path in paths.items()}
    with pytest.raises(ValueError, match=re.escape("none given for ['test_labels']")):
        IdxImageTask(data_dir=tmp_path, known_hashes={k: v for k, v in hashes.items() if k != "test_labels"})
    with pytest.raises(ValueError, match="known_hashes for \\['train_images'\\] given with verify=False"):
        IdxImageTask(data_dir=tmp_path, known_hashes={"train_images": hashes["train_images"]}, verify=False)
    with pytest.raises(ValueError, match=re.escape("unknown file key(s) ['x_train'] in known_hashes")):
        IdxImageTask(data_dir=tmp_path, known_hashes={**hashes, "x_train": hashes["train_images"]})
    with pytest.raises(ValueError, match=re.escape("known_hashes['test_images']: unknown hash algorithm 'crc'")):
        IdxImageTask(data_dir=tmp_path, known_hashes={**hashes, "test_images": "crc:00"})
    with pytest.raises(TypeError, match="verify must be a bool, got str 'no'"):
        IdxImageTask(data_dir=tmp_path, verify="no")


def test_idx_known_hashes_of_stored_or_decompressed_files(tmp_path):
    _, labels, paths = write_idx_image_set(tmp_path)
    stored = {key: hashlib.md5(path.read_bytes()).hexdigest() for key, path in paths.items()}  # published style
    content = {key: hashlib.sha256(gzip.decompress(path.read_bytes())).hexdigest() for key, path in paths.items()}
    task = IdxImageTask(data_dir=tmp_path, known_hashes={k: "md5:" + v for k, v in stored.items()})
    assert task.verified is True and task.labels_test.tolist() == labels["test"]
    IdxImageTask(data_dir=tmp_path, known_hashes=content)  # bare sha256 of the decompressed content
    wrong = "0" * 64
    with pytest.raises(ValueError) as info:
        IdxImageTask(data_dir=tmp_path, known_hashes={**content, "test_labels": "sha256:" + wrong})
    stored_sha = hashlib.sha256(paths["test_labels"].read_bytes()).hexdigest()
    assert str(info.value) == (
        f"Checksum mismatch for the test_labels file {paths['test_labels']}: expected sha256 {wrong}, the file has "
        f"sha256 {stored_sha} as stored and sha256 {content['test_labels']} decompressed. Give its right hash in "
        "known_hashes['test_labels'], or verify=False to read it unchecked."
    )


# --------------------------------------------------------------------------
# SARCOS
# --------------------------------------------------------------------------


@needs_data
def test_sarcos_test_file_only_split():
    raw = loadmat(Path(DATA_DIR) / "sarcos" / "sarcos_inv_test.mat")["sarcos_inv_test"]
    assert raw.shape == (4449, 28)
    d = load_sarcos(split="test_file_only", seed=0, download=False)
    assert d["x_train"].shape == (3559, 21) and d["y_train"].shape == (3559, 7)
    assert d["x_test"].shape == (890, 21) and d["y_test"].shape == (890, 7)
    for value in d.values():
        assert value.dtype == np.float64

    train = np.hstack([d["x_train"], d["y_train"]])
    test = np.hstack([d["x_test"], d["y_test"]])
    # disjoint (the file's rows are all distinct) and together the whole file
    train_rows = {row.tobytes() for row in train}
    test_rows = {row.tobytes() for row in test}
    assert not train_rows & test_rows
    assert train_rows | test_rows == {row.tobytes() for row in raw}

    again = load_sarcos(split="test_file_only", seed=0, download=False)
    for key in d:
        np.testing.assert_array_equal(again[key], d[key])
    other = load_sarcos(split="test_file_only", seed=1, download=False)
    assert not np.array_equal(other["x_test"], d["x_test"])

    half = load_sarcos(split="test_file_only", test_fraction=0.5, download=False)
    assert half["x_train"].shape[0] + half["x_test"].shape[0] == 4449
    assert abs(half["x_train"].shape[0] - half["x_test"].shape[0]) <= 1


def _write_sarcos_pair(directory: Path, *, with_train: bool = True):
    """Synthetic GPML-like files: test rows are every 10th training row."""
    rng = np.random.default_rng(123)
    train = rng.normal(size=(60, 28))
    train[10, 3] = 0.0
    test = train[::10].copy()
    test[1, 3] = -0.0  # the sign of zero must not matter for row equality
    train = np.vstack([train, test[2]])  # a later duplicate of a test row
    directory.mkdir(parents=True, exist_ok=True)
    if with_train:
        savemat(directory / "sarcos_inv.mat", {"sarcos_inv": train})
    savemat(directory / "sarcos_inv_test.mat", {"sarcos_inv_test": test})
    digest = hashlib.sha256((directory / "sarcos_inv_test.mat").read_bytes())
    return train, test, digest.hexdigest()


def test_sarcos_leakage_free_and_paper_on_synthetic_files(tmp_path, monkeypatch):
    train, test, digest = _write_sarcos_pair(tmp_path / "sarcos")
    monkeypatch.setattr(sarcos, "SARCOS_TEST_SHA256", digest)

    paper = load_sarcos(tmp_path, split="paper")
    np.testing.assert_array_equal(paper["x_train"], train[:, :21])
    np.testing.assert_array_equal(paper["y_train"], train[:, 21:])
    np.testing.assert_array_equal(paper["x_test"], test[:, :21])
    np.testing.assert_array_equal(paper["y_test"], test[:, 21:])

    free = load_sarcos(tmp_path, split="leakage_free")
    keep = [i for i in range(60) if i % 10 != 0]  # and not the last duplicate
    np.testing.assert_array_equal(free["x_train"], train[keep, :21])
    np.testing.assert_array_equal(free["y_train"], train[keep, 21:])
    np.testing.assert_array_equal(free["x_test"], test[:, :21])
    np.testing.assert_array_equal(free["y_test"], test[:, 21:])


def test_sarcos_test_file_is_checksummed(tmp_path):
    _, _, digest = _write_sarcos_pair(tmp_path / "sarcos")
    with pytest.raises(ValueError) as info:
        load_sarcos(tmp_path, split="test_file_only")
    message = str(info.value)
    assert "sarcos_inv_test.mat" in message
    assert SARCOS_TEST_SHA256 in message and digest in message


def test_sarcos_paper_split_needs_training_file(tmp_path, monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    _, _, digest = _write_sarcos_pair(tmp_path / "sarcos", with_train=False)
    monkeypatch.setattr(sarcos, "SARCOS_TEST_SHA256", digest)
    for split in ("paper", "leakage_free"):
        with pytest.raises(FileNotFoundError) as info:
            load_sarcos(tmp_path, split=split)
        message = str(info.value)
        for needle in (
            "'sarcos_inv.mat'",
            str(tmp_path / "sarcos"),
            f"  - {tmp_path}\n",
            SARCOS_TRAIN_URL,
            ENV_VAR,
            "test_file_only",
        ):
            assert needle in message, needle
    # ... while the test-file-only split works with the test file alone
    d = load_sarcos(tmp_path, split="test_file_only", test_fraction=0.5)
    assert d["x_train"].shape == (3, 21) and d["x_test"].shape == (3, 21)


@pytest.mark.parametrize(
    ("kwargs", "error", "pattern"),
    [
        ({"split": "bogus"}, ValueError, "'bogus'.*test_file_only"),
        ({"split": 3}, TypeError, "split must be a str"),
        ({"test_fraction": 0.0}, ValueError, r"test_fraction.*\(0, 1\).*0\.0"),
        ({"test_fraction": 1}, ValueError, r"test_fraction.*\(0, 1\)"),
        ({"test_fraction": 1.5}, ValueError, r"1\.5"),
        ({"test_fraction": "0.2"}, TypeError, "test_fraction.*'0.2'"),
        ({"seed": -1}, ValueError, "seed.*-1"),
        ({"seed": 1.5}, TypeError, "seed.*1.5"),
    ],
)
def test_sarcos_argument_validation(tmp_path, kwargs, error, pattern):
    with pytest.raises(error, match=pattern):
        load_sarcos(tmp_path, **kwargs)


# --------------------------------------------------------------------------
# CIFAR-10
# --------------------------------------------------------------------------


def _planes(seed: int) -> np.ndarray:
    """(3, 32, 32) uint8 R, G, B planes with a recognisable pattern."""
    index = np.arange(32 * 32).reshape(32, 32)
    rng = np.random.default_rng(seed)
    return np.stack(
        [
            (index + seed) % 256,  # R: row-major ramp
            255 - (index % 256),  # G: reversed ramp
            rng.integers(0, 256, size=(32, 32)),  # B: noise
        ]
    ).astype(np.uint8)


def _records(labels, seed0):
    images = [_planes(seed0 + i) for i in range(len(labels))]
    payload = b"".join(bytes([lab]) + img.tobytes() for lab, img in zip(labels, images))
    return payload, np.stack(images), np.array(labels)


def _write_tar(path: Path, members: dict[str, bytes]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as tar:
        for name, payload in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    return path


def test_cifar10_synthetic_roundtrip(tmp_path):
    b1, img1, lab1 = _records([3, 0, 9], seed0=0)
    b2, img2, lab2 = _records([5, 1], seed0=10)
    bt, imgt, labt = _records([7, 2], seed0=20)
    prefix = "cifar-10-batches-bin/"
    names = [f"n{i}" for i in range(10)]
    _write_tar(
        tmp_path / "cifar10" / CIFAR10_TARBALL,
        {  # batch 2 stored before batch 1: output must follow batch numbers
            prefix + "data_batch_2.bin": b2,
            prefix + "batches.meta.txt": ("\n".join(names) + "\n\n").encode(),
            prefix + "data_batch_1.bin": b1,
            prefix + "test_batch.bin": bt,
            prefix + "readme.html": b"<html></html>",
        },
    )
    d = load_cifar10(tmp_path)
    assert d["x_train"].shape == (5, 3, 32, 32) and d["x_train"].dtype == np.float64
    assert d["x_test"].shape == (2, 3, 32, 32)
    assert d["y_train"].dtype == np.int64
    assert d["y_train"].tolist() == [3, 0, 9, 5, 1]
    np.testing.assert_array_equal(d["y_train"], np.concatenate([lab1, lab2]))
    np.testing.assert_array_equal(d["y_test"], labt)
    assert d["label_names"] == names
    expected = np.concatenate([img1, img2])
    np.testing.assert_array_equal(d["x_train"], expected / 255.0)
    np.testing.assert_array_equal(d["x_test"], imgt / 255.0)
    # explicit channel / row-major checks on the first image
    x0 = d["x_train"][0] * 255
    assert x0[0, 0, 1] == 1 and x0[0, 1, 0] == 32  # R ramp: row-major
    assert x0[1, 0, 0] == 255 and x0[1, 0, 3] == 252  # G plane
    np.testing.assert_array_equal(np.round(x0[2]).astype(np.uint8), img1[0, 2])


def test_cifar10_subset_in_root_without_meta(tmp_path):
    b1, _, _ = _records([4], seed0=0)
    bt, _, _ = _records([6], seed0=1)
    _write_tar(
        tmp_path / CIFAR10_TARBALL,
        {"cifar-10-batches-bin/data_batch_1.bin": b1,
         "cifar-10-batches-bin/test_batch.bin": bt},
    )
    d = load_cifar10(tmp_path)
    assert d["y_train"].tolist() == [4] and d["y_test"].tolist() == [6]
    assert d["label_names"] == list(CIFAR10_LABEL_NAMES)


@pytest.mark.parametrize(
    ("members", "pattern"),
    [
        ({"data_batch_1.bin": "ok"}, "missing cifar-10-batches-bin/test_batch.bin"),
        ({"test_batch.bin": "ok"}, r"missing .*data_batch_\{1..5\}"),
        ({"data_batch_1.bin": "short", "test_batch.bin": "ok"}, "multiple of the 3073"),
        ({"data_batch_1.bin": "label", "test_batch.bin": "ok"}, "label 10, expected 0-9"),
    ],
)
def test_cifar10_malformed_tarballs(tmp_path, members, pattern):
    good, _, _ = _records([1, 2], seed0=0)
    payloads = {"ok": good, "short": good[:-1], "label": b"\x0a" + good[1:]}
    path = _write_tar(
        tmp_path / CIFAR10_TARBALL,
        {f"cifar-10-batches-bin/{k}": payloads[v] for k, v in members.items()},
    )
    with pytest.raises(ValueError, match=pattern) as info:
        load_cifar10(tmp_path)
    assert str(path) in str(info.value)


def test_cifar10_missing_file_message(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        load_cifar10(tmp_path)
    message = str(info.value)
    for needle in (
        CIFAR10_TARBALL,
        str(tmp_path / "cifar10"),
        str(tmp_path / "cifar10-lossy-subset"),
        CIFAR10_URL,
        ENV_VAR,
    ):
        assert needle in message, needle


def test_cache_download_path_without_network(tmp_path, monkeypatch):
    """No data dir: download=False refuses, download=True calls pooch.retrieve."""
    pooch = pytest.importorskip("pooch")
    monkeypatch.delenv(ENV_VAR, raising=False)
    cache = tmp_path / "cache"
    monkeypatch.setattr(_data, "cache_dir", lambda: cache)

    with pytest.raises(FileNotFoundError, match="download=True") as info:
        load_cifar10(download=False)
    assert str(cache / "cifar10") in str(info.value)

    b1, _, _ = _records([8], seed0=0)
    bt, _, _ = _records([9], seed0=1)
    source = tmp_path / "src"
    _write_tar(
        source / CIFAR10_TARBALL,
        {"cifar-10-batches-bin/data_batch_1.bin": b1,
         "cifar-10-batches-bin/test_batch.bin": bt},
    )
    calls = []

    def fake_retrieve(url, known_hash, fname=None, path=None, **kwargs):
        calls.append((url, known_hash, fname, Path(path)))
        Path(path).mkdir(parents=True, exist_ok=True)
        shutil.copy(source / fname, Path(path) / fname)
        return str(Path(path) / fname)

    monkeypatch.setattr(pooch, "retrieve", fake_retrieve)
    d = load_cifar10()
    assert calls == [(CIFAR10_URL, "md5:" + CIFAR10_MD5, CIFAR10_TARBALL, cache / "cifar10")]
    assert d["y_train"].tolist() == [8]

    # A cached file is checked against the canonical md5 when download=False
    with pytest.raises(ValueError, match=CIFAR10_MD5):
        load_cifar10(download=False)

    # SARCOS downloads go to the GPML URLs; the test file with its sha256
    train, test, digest = _write_sarcos_pair(source)
    monkeypatch.setattr(sarcos, "SARCOS_TEST_SHA256", digest)
    calls.clear()
    d = load_sarcos(split="paper")
    assert calls == [
        (SARCOS_TRAIN_URL, None, "sarcos_inv.mat", cache / "sarcos"),
        (SARCOS_TEST_URL, "sha256:" + digest, "sarcos_inv_test.mat", cache / "sarcos"),
    ]
    np.testing.assert_array_equal(d["x_train"], train[:, :21])
    np.testing.assert_array_equal(d["y_test"], test[:, 21:])


@needs_data
def test_cifar10_local_subset():
    d = load_cifar10(download=False)
    assert d["x_train"].shape == (10000, 3, 32, 32)
    assert d["x_test"].shape == (2000, 3, 32, 32)
    for key in ("x_train", "x_test"):
        assert d[key].dtype == np.float64
        assert d[key].min() >= 0.0 and d[key].max() <= 1.0
        assert d[key].max() == 1.0 and d[key].min() == 0.0
    for key in ("y_train", "y_test"):
        assert d[key].dtype == np.int64
    np.testing.assert_array_equal(np.bincount(d["y_train"], minlength=10), 1000)
    np.testing.assert_array_equal(np.bincount(d["y_test"], minlength=10), 200)
    assert d["label_names"] == list(CIFAR10_LABEL_NAMES)


# --------------------------------------------------------------------------
# the CIFAR-10 task: standardisation, augmentation, provenance
# --------------------------------------------------------------------------


def _cifar_tarball(directory, n_train=6, n_test=3):
    """A synthetic tarball in ``directory``; returns its path and the raw uint8 train and test images."""
    train, x_train, _ = _records([i % 10 for i in range(n_train)], seed0=0)
    test, x_test, _ = _records([(3 * i) % 10 for i in range(n_test)], seed0=50)
    path = _write_tar(directory / CIFAR10_TARBALL, {"cifar-10-batches-bin/data_batch_1.bin": train,
                                                    "cifar-10-batches-bin/test_batch.bin": test})
    return path, x_train, x_test


def test_cifar10_task_standardises_each_channel_with_the_training_sets_mean_and_std(tmp_path):
    _, raw_train, raw_test = _cifar_tarball(tmp_path / "cifar10")
    task = Cifar10Task(tmp_path, n_train=5)
    assert (task.n_inputs, task.n_outputs, task.n_train, len(task.x_test)) == (3072, 10, 5, 3)
    train = task.x_train.reshape(5, 3, 32, 32)
    for c in range(3):  # exact on the training set: mean 0, std 1 in every channel
        assert abs(train[:, c].mean()) < 1e-13 and train[:, c].std() == pytest.approx(1.0, abs=1e-13)
    # the statistics of the training images kept (the first 5), one channel at a time; the test set uses the same
    for c in range(3):
        values = [raw_train[n, c, i, j] / 255.0 for n in range(5) for i in range(32) for j in range(32)]
        mean = sum(values) / len(values)
        std = (sum((v - mean) ** 2 for v in values) / len(values)) ** 0.5
        assert task.channel_mean[c] == pytest.approx(mean, rel=1e-12) and task.channel_std[c] == pytest.approx(std, rel=1e-12)
        np.testing.assert_allclose(task.x_test.reshape(3, 3, 32, 32)[:, c], (raw_test[:, c] / 255.0 - mean) / std, rtol=1e-12)
    # channel-major flat layout: input k = channel * 1024 + row * 32 + column
    np.testing.assert_allclose(task.x_train[1, 2 * 1024 + 5 * 32 + 7], (raw_train[1, 2, 5, 7] / 255.0 - mean) / std, rtol=1e-12)
    description = task.describe()
    assert description["channel_mean"] == task.channel_mean.tolist() and description["augment"] is False
    assert "training set's mean and std" in description["standardisation"] and description["augmentation"] is None


def _naive_crop_and_flip(images, offsets, flips, padding):
    out = np.zeros_like(images)
    n, channels, height, width = images.shape
    for k in range(n):
        for c in range(channels):
            for i in range(height):
                for j in range(width):
                    col = width - 1 - j if flips[k] else j  # the column of the crop seen at j
                    r, q = offsets[k, 0] + i - padding, offsets[k, 1] + col - padding  # in the unpadded image
                    out[k, c, i, j] = images[k, c, r, q] if 0 <= r < height and 0 <= q < width else 0.0
    return out


def test_cifar10_crop_and_flip_equal_a_naive_loop_and_flips_really_flip():
    rng = np.random.default_rng(0)
    images = rng.standard_normal((5, 2, 3, 4))
    offsets = rng.integers(0, 5, size=(5, 2))
    flips = np.array([True, False, True, False, True])
    got = crop_and_flip(images, offsets, flips, padding=2)
    assert got.shape == images.shape
    np.testing.assert_array_equal(got, _naive_crop_and_flip(images, offsets, flips, 2))
    centre = np.full((5, 2), 2)
    np.testing.assert_array_equal(crop_and_flip(images, centre, np.zeros(5, bool), padding=2), images)
    np.testing.assert_array_equal(crop_and_flip(images, centre, np.ones(5, bool), padding=2), images[..., ::-1])
    assert crop_and_flip(images, centre, np.ones(5, bool), padding=2)[0, 1, 2, 0] == images[0, 1, 2, 3]
    shifted = crop_and_flip(images, np.array([[0, 4]] * 5), np.zeros(5, bool), padding=2)  # 2 rows down, 2 columns left
    np.testing.assert_array_equal(shifted[:, :, 2:, :2], images[:, :, :1, 2:])
    assert not shifted[:, :, :2].any() and not shifted[:, :, :, 2:].any()
    with pytest.raises(ValueError, match=r"offsets should lie in \[0, 4\] \(padding 2\), got values in \[5, 5\]"):
        crop_and_flip(images, np.full((5, 2), 5), flips, padding=2)
    with pytest.raises(ValueError, match=r"offsets should have shape \(5, 2\) and flips \(5,\) for 5 images, got \(4, 2\)"):
        crop_and_flip(images, offsets[:4], flips, padding=2)


def _epoch(task, seed, batch_size=2):
    return [x for x, _ in task.batches(batch_size, np.random.default_rng(seed))]


def test_cifar10_augmentation_is_reproducible_for_a_seed_and_drawn_anew_each_epoch(tmp_path):
    _cifar_tarball(tmp_path / "cifar10")
    plain, augmented = Cifar10Task(tmp_path), Cifar10Task(tmp_path, augment=True)
    first, again = _epoch(augmented, 3), _epoch(augmented, 3)
    assert len(first) == 3 and all(x.shape == (2, 3072) for x in first)
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a, b)  # the same seed draws the same crops and flips
    assert not all(np.array_equal(a, b) for a, b in zip(first, _epoch(augmented, 4), strict=True))
    rng = np.random.default_rng(3)  # two epochs from one stream differ
    one, two = [[x for x, _ in augmented.batches(6, rng)][0] for _ in range(2)]
    assert not np.array_equal(one, two)
    # what the task draws: the order (as without augmentation), then one offset pair and one flip per image
    rng = np.random.default_rng(3)
    order = rng.permutation(6)
    offsets, flips = rng.integers(0, 9, size=(6, 2)), rng.random(6) < 0.5
    images = plain.x_train.reshape(6, 3, 32, 32)
    expected = crop_and_flip(images[order], offsets[order], flips[order], padding=4).reshape(6, -1)
    np.testing.assert_array_equal(np.concatenate(first), expected)
    # without augmentation the minibatches are DatasetTask's; the evaluation sets are never augmented
    base = DatasetTask(plain.x_train, plain.labels_train, plain.x_test, plain.labels_test, n_classes=10)
    for a, b in zip(_epoch(plain, 3), _epoch(base, 3), strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(augmented.evaluation_sets()["train"][0], plain.x_train)
    assert "horizontal flips with probability 1/2" in augmented.describe()["augmentation"]


def test_cifar10_task_states_where_its_images_come_from(tmp_path, monkeypatch):
    path, _, _ = _cifar_tarball(tmp_path / "a" / "cifar10-lossy-subset")
    task = Cifar10Task(tmp_path / "a")
    assert task.provenance == "lossy_subset" and task.describe()["path"] == str(path)
    assert task.describe()["data"] == CIFAR10_PROVENANCE["lossy_subset"] and "lossy" in task.describe()["data"]
    _cifar_tarball(tmp_path / "b" / "cifar10")
    assert Cifar10Task(tmp_path / "b").describe()["data"] == CIFAR10_PROVENANCE["local"]
    monkeypatch.setattr(cifar10, "CIFAR10_MD5", hashlib.md5(path.read_bytes()).hexdigest())
    assert Cifar10Task(tmp_path / "a").provenance == "canonical"  # the checksum comes first


def test_cifar10_task_checks_its_arguments(tmp_path):
    _cifar_tarball(tmp_path / "cifar10")
    with pytest.raises(ValueError, match="n_train=7 exceeds the 6 CIFAR-10 training images"):
        Cifar10Task(tmp_path, n_train=7)
    with pytest.raises(TypeError, match="augment should be True or False, got 'yes'"):
        Cifar10Task(tmp_path, augment="yes")
    with pytest.raises(ValueError, match="n_test"):
        Cifar10Task(tmp_path, n_test=0)


@needs_data
def test_cifar10_task_on_the_offline_subset_says_it_is_lossy():
    task = Cifar10Task(download=False, n_train=1000, n_test=500, augment=True)
    assert task.provenance == "lossy_subset" and "lossy" in task.describe()["data"]
    train = task.x_train.reshape(1000, 3, 32, 32)
    np.testing.assert_allclose(train.mean(axis=(0, 2, 3)), 0.0, atol=1e-12)
    np.testing.assert_allclose(train.std(axis=(0, 2, 3)), 1.0, rtol=1e-12)
    x, target = next(task.batches(100, np.random.default_rng(0)))
    assert x.shape == (100, 3072) and target.shape == (100, 10)
