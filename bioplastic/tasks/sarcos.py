"""SARCOS inverse dynamics (7-degree-of-freedom robot arm) from the GPML book.

Each row of the GPML files has 28 columns: 21 inputs (columns 0-20: 7 joint
positions, 7 joint velocities, 7 joint accelerations) and 7 targets
(columns 21-27: the 7 joint torques), all float64 in raw (unnormalised)
units.  See :func:`load_sarcos` for the arrays and :class:`SarcosTask` for
the training task built on them.
"""

from __future__ import annotations

import numbers
import os
from pathlib import Path

import numpy as np

from .._validation import check_positive, check_positive_int
from ._data import fetch_file, verify_checksum
from .base import DatasetTask

__all__ = [
    "SARCOS_PAPER_TARGET_ERROR",
    "SARCOS_SPLITS",
    "SARCOS_STANDARDIZE",
    "SARCOS_TEST_SHA256",
    "SARCOS_TEST_URL",
    "SARCOS_TRAIN_URL",
    "SarcosTask",
    "load_sarcos",
]

#: Canonical URL of the 44,484-row training file (variable ``sarcos_inv``).
SARCOS_TRAIN_URL = "http://gaussianprocess.org/gpml/data/sarcos_inv.mat"
#: Canonical URL of the 4,449-row test file (variable ``sarcos_inv_test``).
SARCOS_TEST_URL = "http://gaussianprocess.org/gpml/data/sarcos_inv_test.mat"
#: sha256 of the GPML ``sarcos_inv_test.mat``.  No checksum is embedded for
#: ``sarcos_inv.mat`` (no verified copy was available when this was written),
#: so that file is downloaded with ``known_hash=None`` and only its shape is
#: checked.
SARCOS_TEST_SHA256 = "161a59b5c3b4f4b404584323f181607b2acbe620eb134dc720760dc3f38f5cec"

#: Accepted values of ``load_sarcos(split=...)``.
SARCOS_SPLITS = ("paper", "leakage_free", "test_file_only")

_N_INPUTS = 21
_N_COLUMNS = 28
_TRAIN_FILE = "sarcos_inv.mat"
_TEST_FILE = "sarcos_inv_test.mat"


def _read_mat(path: Path, variable: str) -> np.ndarray:
    """Read one (n, 28) float64 matrix from a MATLAB file."""
    from scipy.io import loadmat

    try:
        contents = loadmat(path)
    except Exception as exc:  # scipy raises several exception types
        raise ValueError(f"{path}: cannot read as a MATLAB .mat file ({exc})") from exc
    if variable not in contents:
        found = sorted(k for k in contents if not k.startswith("__"))
        raise ValueError(
            f"{path}: expected a variable named {variable!r}, found {found}"
        )
    data = np.asarray(contents[variable])
    if data.ndim != 2 or data.shape[1] != _N_COLUMNS:
        raise ValueError(
            f"{path}: variable {variable!r} should have shape (n, {_N_COLUMNS}), "
            f"got {data.shape}"
        )
    if not np.issubdtype(data.dtype, np.number):
        raise ValueError(
            f"{path}: variable {variable!r} should be numeric, got {data.dtype}"
        )
    return np.ascontiguousarray(data, dtype=np.float64)


def _row_keys(rows: np.ndarray) -> list[bytes]:
    # Adding 0.0 maps -0.0 to +0.0 so that byte equality is value equality
    # (for non-NaN values, which the SARCOS files do not contain).
    rows = np.ascontiguousarray(rows + 0.0, dtype=np.float64)
    return [row.tobytes() for row in rows]


def _split_xy(data: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = np.ascontiguousarray(data[:, :_N_INPUTS])
    y = np.ascontiguousarray(data[:, _N_INPUTS:])
    return x, y


def _validate(split: object, test_fraction: object, seed: object) -> None:
    if not isinstance(split, str):
        raise TypeError(
            f"split must be a str, one of {SARCOS_SPLITS}, got "
            f"{type(split).__name__} {split!r}"
        )
    if split not in SARCOS_SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {SARCOS_SPLITS}")
    if isinstance(test_fraction, bool) or not isinstance(test_fraction, numbers.Real):
        raise TypeError(
            "test_fraction must be a real number in the open interval (0, 1), "
            f"got {type(test_fraction).__name__} {test_fraction!r}"
        )
    if not 0.0 < float(test_fraction) < 1.0:
        raise ValueError(
            "test_fraction must be in the open interval (0, 1), got "
            f"{test_fraction!r}"
        )
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(
            f"seed must be a non-negative int, got {type(seed).__name__} {seed!r}"
        )
    if seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")


def load_sarcos(
    data_dir: str | os.PathLike | None = None,
    *,
    split: str = "paper",
    download: bool = True,
    test_fraction: float = 0.2,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """Load the SARCOS inverse-dynamics regression data (GPML version).

    Inputs are the 21 columns 0-20 (7 joint positions, 7 joint velocities,
    7 joint accelerations); targets are the 7 joint torques, columns 21-27.
    Everything is float64 in the raw units of the GPML files (no
    normalisation).

    The files ``sarcos_inv.mat`` (variable ``sarcos_inv``, 44,484 x 28) and
    ``sarcos_inv_test.mat`` (variable ``sarcos_inv_test``, 4,449 x 28) are
    looked for in ``<data_dir>/sarcos/`` and then directly in ``<data_dir>``.
    ``data_dir`` defaults to the environment variable ``BIOPLASTIC_DATA_DIR``;
    if neither is set the pooch cache ``pooch.os_cache("bioplastic")/sarcos/``
    is used and missing files are downloaded from the GPML data page when
    ``download`` is true.  Only the files the chosen split needs are read.

    ``sarcos_inv_test.mat`` is verified against an embedded sha256
    (:data:`SARCOS_TEST_SHA256`) wherever it comes from.  No checksum is
    known for ``sarcos_inv.mat``: it is downloaded with ``known_hash=None``
    and only checked for a ``sarcos_inv`` variable with 28 columns.

    Parameters
    ----------
    data_dir : str, os.PathLike or None, optional
        Local data directory; nothing is downloaded when it (or
        ``BIOPLASTIC_DATA_DIR``) is given.
    split : {"paper", "leakage_free", "test_file_only"}, optional
        Which train/test split to return:

        ``"paper"``
            Train on all of ``sarcos_inv.mat``, test on
            ``sarcos_inv_test.mat`` -- the split used in the literature.
            **It leaks**: the GPML test rows are every 10th row of the
            training file, so every test point is also a training point and
            test error measures memorisation as much as generalisation.
        ``"leakage_free"``
            Test on ``sarcos_inv_test.mat``; train on the rows of
            ``sarcos_inv.mat`` that are not exactly equal (all 28 values) to
            any test row, in their original order.  With the canonical files
            this leaves about 44,484 - 4,449 = 40,035 training rows.
        ``"test_file_only"``
            Needs only ``sarcos_inv_test.mat`` (the one file that may be
            available offline).  Its 4,449 rows are permuted with
            ``numpy.random.default_rng(seed).permutation``; the first
            ``round(test_fraction * 4449)`` permuted rows form the test set and
            the rest the training set (both in permuted order).
            Deterministic for a given ``seed``; the two parts are disjoint.

    download : bool, optional
        Whether files missing from the pooch cache may be downloaded.
    test_fraction : float, optional
        Fraction of rows going to the test set, in the open interval (0, 1).
        Used only by ``split="test_file_only"`` (validated for every split).
    seed : int, optional
        Non-negative seed of the permutation; used only by
        ``split="test_file_only"``.

    Returns
    -------
    dict
        ``"x_train"``
            float64 array, shape (n_train, 21): joint positions, velocities
            and accelerations (raw units).
        ``"y_train"``
            float64 array, shape (n_train, 7): joint torques (raw units).
        ``"x_test"``
            float64 array, shape (n_test, 21).
        ``"y_test"``
            float64 array, shape (n_test, 7).

    Raises
    ------
    TypeError
        If ``split``, ``test_fraction`` or ``seed`` has the wrong type.
    ValueError
        For an unknown ``split``, ``test_fraction`` outside (0, 1), a negative
        ``seed``, a checksum mismatch (message names the file, expected and
        actual sha256) or a file without the expected (n, 28) variable.
    FileNotFoundError
        If a needed file is missing and cannot be downloaded -- e.g. the
        ``"paper"`` and ``"leakage_free"`` splits when only
        ``sarcos_inv_test.mat`` is available locally; the message lists the
        directories searched, the canonical URL and the environment variable.
    ImportError
        If pooch is needed (no data directory given) but not installed.
    """
    _validate(split, test_fraction, seed)

    train_path = None
    if split != "test_file_only":
        try:
            train_path = fetch_file(
                _TRAIN_FILE,
                dataset="sarcos",
                url=SARCOS_TRAIN_URL,
                data_dir=data_dir,
                download=download,
                known_hash=None,  # no verified checksum available
            )
        except FileNotFoundError as exc:
            raise FileNotFoundError(
                f"{exc}\nsplit={split!r} needs {_TRAIN_FILE}; "
                f"split='test_file_only' needs only {_TEST_FILE}."
            ) from exc
    test_path = fetch_file(
        _TEST_FILE,
        dataset="sarcos",
        url=SARCOS_TEST_URL,
        data_dir=data_dir,
        download=download,
        known_hash="sha256:" + SARCOS_TEST_SHA256,
    )
    verify_checksum(test_path, "sha256:" + SARCOS_TEST_SHA256)
    test = _read_mat(test_path, "sarcos_inv_test")

    if split == "test_file_only":
        n = test.shape[0]
        n_test = round(float(test_fraction) * n)
        if not 0 < n_test < n:
            raise ValueError(
                f"test_fraction={test_fraction!r} of {n} rows gives {n_test} "
                "test rows; both parts must be non-empty"
            )
        order = np.random.default_rng(seed).permutation(n)
        train = test[order[n_test:]]
        test = test[order[:n_test]]
    else:
        train = _read_mat(train_path, "sarcos_inv")
        if split == "leakage_free":
            test_keys = set(_row_keys(test))
            keep = np.fromiter(
                (key not in test_keys for key in _row_keys(train)),
                dtype=bool,
                count=train.shape[0],
            )
            train = train[keep]

    x_train, y_train = _split_xy(train)
    x_test, y_test = _split_xy(test)
    return {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}


# --------------------------------------------------------------------------
# the task object
# --------------------------------------------------------------------------

#: Test error the NP paper trains SARCOS networks to (Hiratani et al. 2022,
#: Fig. 4E): 5.0 in the paper's units, the squared error in raw torque units
#: averaged over samples AND over the 7 outputs.  :class:`~bioplastic.History`
#: records the squared error summed over outputs, so the same threshold is
#: ``5.0 * 7 = 35.0`` there; see :meth:`SarcosTask.error_target`.
SARCOS_PAPER_TARGET_ERROR = 5.0

#: Accepted values of ``SarcosTask(standardize=...)``.
SARCOS_STANDARDIZE = (None, "inputs", "targets", "both")


def _standardizer(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean = values.mean(axis=0)
    std = values.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    return mean, std


class SarcosTask(DatasetTask):
    """SARCOS inverse dynamics as a regression :class:`~bioplastic.tasks.Task`.

    21 inputs (7 joint positions, 7 velocities, 7 accelerations) map to 7
    joint torques. By default everything stays in the raw units of the GPML
    files, as in the NP paper (Hiratani et al. 2022, Sec. 5), which trains a
    21-100-7 ReLU network with a linear readout on ``1/2 sum_i (y_i - y*_i)^2``
    with batch 100, the learning rate divided by the batch size
    (``batch_reduction="mean"``) and ``sigma = 1e-4``.

    Parameters
    ----------
    data_dir : str, os.PathLike or None, optional
        Local data directory (default: ``BIOPLASTIC_DATA_DIR``, else the
        download cache); see :func:`load_sarcos`.
    split : {"paper", "leakage_free", "test_file_only"}, default "paper"
        ``"paper"``: train on ``sarcos_inv.mat`` (44,484 rows), test on
        ``sarcos_inv_test.mat`` (4,449 rows), the published split. **It
        leaks**: the GPML test rows are every 10th training row, so every test
        sample is also a training sample. ``"leakage_free"``: the same test
        file, training rows equal to a test row removed (~40,035 left).
        ``"test_file_only"``: only ``sarcos_inv_test.mat`` (the one file
        available offline, used by the tests and CI), split deterministically
        into disjoint training and test parts by ``seed`` and
        ``test_fraction`` (3,559 / 890 rows by default).
    standardize : {None, "inputs", "targets", "both"}, default None
        z-score the inputs and/or the targets with the mean and standard
        deviation of the *training* part (so the test set does not inform
        them). ``None`` keeps raw units. Standardised targets change the units
        of every recorded error (see :meth:`error_target`).
    download : bool, default True
    test_fraction : float, default 0.2
        Fraction of rows in the test part of ``"test_file_only"``.
    seed : int, default 0
        Permutation seed of ``"test_file_only"``.
    n_train : int, optional
        Keep only the first ``n_train`` training rows (smaller, faster runs).
    eval_train_size : int, optional
        Evaluate the per-epoch training error on the first ``eval_train_size``
        training rows only.

    Attributes
    ----------
    input_mean_, input_scale_ : ndarray of shape (21,)
        Applied as ``(x - input_mean_) / input_scale_`` (0 and 1 without
        input standardisation).
    target_mean_, target_scale_ : ndarray of shape (7,)
        Likewise for the targets.

    Examples
    --------
    >>> task = SarcosTask(split="test_file_only")          # doctest: +SKIP
    >>> task.n_inputs, task.n_outputs, task.n_train        # doctest: +SKIP
    (21, 7, 3559)
    """

    def __init__(
        self,
        data_dir=None,
        *,
        split="paper",
        standardize=None,
        download=True,
        test_fraction=0.2,
        seed=0,
        n_train=None,
        eval_train_size=None,
    ):
        if standardize not in SARCOS_STANDARDIZE:
            raise ValueError(f"unknown standardize {standardize!r}; expected one of {SARCOS_STANDARDIZE}")
        if n_train is not None:
            n_train = check_positive_int(n_train, "n_train")
        data = load_sarcos(data_dir, split=split, download=download, test_fraction=test_fraction, seed=seed)
        x_train, y_train, x_test, y_test = data["x_train"], data["y_train"], data["x_test"], data["y_test"]
        if n_train is not None:
            if n_train > len(x_train):
                raise ValueError(f"n_train={n_train} exceeds the {len(x_train)} training rows of split {split!r}")
            x_train, y_train = x_train[:n_train], y_train[:n_train]
        self.split = split
        self.standardize = standardize
        self.test_fraction = test_fraction
        self.seed = seed
        self.input_mean_, self.input_scale_ = np.zeros(x_train.shape[1]), np.ones(x_train.shape[1])
        self.target_mean_, self.target_scale_ = np.zeros(y_train.shape[1]), np.ones(y_train.shape[1])
        if standardize in ("inputs", "both"):
            self.input_mean_, self.input_scale_ = _standardizer(x_train)
            x_train = (x_train - self.input_mean_) / self.input_scale_
            x_test = (x_test - self.input_mean_) / self.input_scale_
        if standardize in ("targets", "both"):
            self.target_mean_, self.target_scale_ = _standardizer(y_train)
            y_train = (y_train - self.target_mean_) / self.target_scale_
            y_test = (y_test - self.target_mean_) / self.target_scale_
        super().__init__(x_train, y_train, x_test, y_test, name="sarcos", eval_train_size=eval_train_size)

    def error_target(self, error=SARCOS_PAPER_TARGET_ERROR):
        """The recorded ``test_error`` equivalent to the paper's error ``error``.

        The paper reports the squared error averaged over samples and the 7
        outputs, in raw torque units; :class:`~bioplastic.History` records it
        summed over outputs, so the equivalent threshold is
        ``error * n_outputs`` (35.0 for the paper's 5.0).

        Raises
        ------
        ValueError
            When the targets are standardised (the units differ per output).
        """
        error = check_positive(error, "error")
        if self.standardize in ("targets", "both"):
            raise ValueError(
                f"error_target needs raw target units, but this task standardizes {self.standardize!r}; "
                "compare errors in standardised units yourself"
            )
        return error * self.n_outputs

    def describe(self):
        return {
            **super().describe(),
            "split": self.split,
            "standardize": self.standardize,
            "test_fraction": float(self.test_fraction),
            "seed": int(self.seed),
            "eval_train_size": self.eval_train_size,
        }
