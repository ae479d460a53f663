"""Settings and steps the Kunin et al. (2020) figures share: tasks, networks, rules, the W-B^T angle, tracked training.

Conventions (the paper's, at reduced size):

* networks: ``mlp((n_in, 256 x depth, 10), readout="softmax")`` (ReLU hidden
  layers), cross-entropy loss, minibatches of 128, the learning rate divided
  by the batch size (``batch_reduction="mean"``), SGD with momentum 0.9,
  float32;
* tasks: MNIST (quick: its first 2,000 training and 1,000 test images) and
  the offline CIFAR-10 subset (``cifar10-lossy-subset``: 10,000 training and
  2,000 test images, flattened to 3,072 inputs and centred on the training
  mean; quick: its first 1,000 and 500);
* rules: :data:`RULE_LABELS`, built by :func:`make_rule` with the
  coefficients of :data:`DEFAULT_COEFFICIENTS` unless told otherwise.

The angle between projection ``k``'s forward weights ``W_k`` and its
feedback ``B_k^T`` (:func:`feedback_angles`) is computed after every epoch
from the run's checkpoint (weights and rule state), see
:func:`train_tracked`.
"""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path

import numpy as np

from ...io import load_arrays_and_metadata, pair_exists, pair_paths, to_jsonable
from ...models import mlp
from ...optimisers import Momentum
from ...plasticity import (
    ActivationAlignment,
    Backprop,
    DirectFeedbackAlignment,
    FeedbackAlignment,
    InformationAlignment,
    KolenPollack,
    SignSymmetry,
    SymmetricAlignment,
    WeightMirror,
)
from ...training import train
from .. import FigureResults
from .._data import centred_cifar10, mnist_subset

__all__ = [
    "DEFAULT_COEFFICIENTS",
    "RULE_COLORS",
    "RULE_LABELS",
    "STUDY",
    "WIDTH",
    "best_run",
    "cifar_task",
    "feedback_angles",
    "make_rule",
    "mnist_task",
    "network_for",
    "study_results",
    "train_tracked",
]

#: how the figures name the study
STUDY = "Kunin et al. 2020"

WIDTH = 256
BATCH_SIZE = 128
MOMENTUM = 0.9

#: short name -> label in the figures, in the order they are drawn
RULE_LABELS = {
    "bp": "BP", "fa": "FA", "dfa": "DFA", "usf": "uSF", "brsf": "brSF", "frsf": "frSF",
    "kp": "KP", "sa": "SA", "aa": "AA", "wm": "WM", "ia": "IA",
}
RULE_COLORS = {name: f"C{i % 10}" for i, name in enumerate(RULE_LABELS)}
RULE_COLORS["ia"] = "k"

#: the coefficients of each rule (constructor keywords) used unless told otherwise. Measured on the
#: quick MNIST run (784-256-10, momentum 0.9, learning rate 0.1, 5 epochs): KP's default decay 1e-3
#: leaves the W-B^T angle at ~18 degrees, 5e-3 brings it to ~1 degree; SA needs alpha, beta 100 times
#: its defaults to reach ~3 degrees; AA diverges at those and learns at 10 times its defaults; IA
#: keeps its defaults and needs the smaller learning rate 0.03 (it diverges at 0.1).
DEFAULT_COEFFICIENTS = {
    "kp": {"decay": 0.005},
    "sa": {"alpha": 0.1, "beta": 0.2},
    "aa": {"alpha": 0.01, "beta": 0.02},
    "wm": {"alpha": 1e-3, "beta": 1e-3},
    "ia": {"alpha": 2e-3, "beta": 1e-3, "gamma": 1e-3},
}

_CLASSES = {
    "bp": Backprop, "fa": FeedbackAlignment, "dfa": DirectFeedbackAlignment, "kp": KolenPollack,
    "sa": SymmetricAlignment, "aa": ActivationAlignment, "wm": WeightMirror, "ia": InformationAlignment,
}


def make_rule(name, **coefficients):
    """The rule ``name`` (a key of :data:`RULE_LABELS`) with :data:`DEFAULT_COEFFICIENTS` updated by ``coefficients``.

    Raises
    ------
    ValueError
        ``name`` is not a key of :data:`RULE_LABELS`.
    """
    if name not in RULE_LABELS:
        raise ValueError(f"unknown rule {name!r}; expected one of {', '.join(RULE_LABELS)}")
    kwargs = {**DEFAULT_COEFFICIENTS.get(name, {}), **coefficients}
    if name in ("usf", "brsf", "frsf"):
        return SignSymmetry(magnitude=name, **kwargs)
    return _CLASSES[name](**kwargs)


def mnist_task(quick):
    """MNIST: its first 2,000 training and 1,000 test images (quick), or all of it."""
    return mnist_subset(2000, 1000, eval_train_size=1000) if quick else mnist_subset(eval_train_size=10000)


def cifar_task(quick):
    """CIFAR-10 from the local tarball, flattened and centred: the first 1,000 training / 500 test images (quick), or all."""
    return centred_cifar10(1000, 500, eval_train_size=500) if quick else centred_cifar10(eval_train_size=2000)


def network_for(task, depth, width=WIDTH):
    """``n_in-width x depth-10`` ReLU network with a softmax readout."""
    return mlp((task.n_inputs, *([width] * depth), task.n_outputs), readout="softmax")


# -- the angle between the forward and the feedback pathway -------------------------------


def _angle(a, b):
    """Angle in degrees between the flattened matrices ``a`` and ``b`` of each member (``(n_members, ...)``)."""
    a = a.reshape(a.shape[0], -1).astype(float)
    b = b.reshape(b.shape[0], -1).astype(float)
    norm = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        cosine = np.einsum("mi,mi->m", a, b) / norm
    return np.degrees(np.arccos(np.clip(cosine, -1.0, 1.0)))


def feedback_angles(name, rule, weights, rule_state, *, rng=None):
    """Angle (degrees) between ``W_k`` and the feedback ``B_k^T`` of projections ``k = 1 .. L - 1``.

    Parameters
    ----------
    name : str
        The rule's short name (a key of :data:`RULE_LABELS`).
    rule : PlasticityRule
        The rule (its ``scaled`` setting matters for sign symmetry).
    weights : list of ndarray of shape (n_members, n_post, n_pre)
        Forward weights, projection by projection.
    rule_state : dict of str to ndarray
        The rule state (``"B<k>"``, ``"M<k>"``, ``"D<k>"``).
    rng : numpy.random.Generator, optional
        Draws the batch-wise magnitudes of ``"brsf"`` (one draw).

    Returns
    -------
    ndarray of shape (n_members, L - 1)
        BP: 0. Sign symmetry: the angle to ``sign(W_k) o M_k^T`` (uSF: constant
        magnitudes; frSF: the fixed ones; brSF: one draw). DFA: the last
        projection's angle between ``W_{L-1}`` and ``D_{L-2}^T`` (the matrix
        carrying the error to the last hidden layer), NaN for the others,
        whose feedback bypasses them.
    """
    n_members, n_layers = weights[0].shape[0], len(weights)
    out = np.full((n_members, n_layers - 1), np.nan)
    for k in range(1, n_layers):
        w = weights[k]
        if name == "bp":
            out[:, k - 1] = 0.0
        elif name in ("usf", "frsf", "brsf"):
            if name == "usf":
                magnitudes = np.ones_like(w)
            elif name == "frsf":
                magnitudes = rule_state[f"M{k}"].transpose(0, 2, 1)
            else:
                magnitudes = np.abs((rng or np.random.default_rng(0)).standard_normal(w.shape))
            out[:, k - 1] = _angle(w, np.sign(w) * magnitudes)
        elif name == "dfa":
            if k == n_layers - 1:
                out[:, k - 1] = _angle(w, rule_state[f"D{k - 1}"].transpose(0, 2, 1))
        else:
            out[:, k - 1] = _angle(w, rule_state[f"B{k}"].transpose(0, 2, 1))
    return out


def _state_from_checkpoint(path, n_layers):
    arrays, _ = load_arrays_and_metadata(path)
    weights = [arrays[f"state_W{k}"] for k in range(n_layers)]
    rule_state = {key[len("state_run_rule/"):]: value for key, value in arrays.items() if key.startswith("state_run_rule/")}
    return weights, rule_state


def train_tracked(network, name, rule, task, *, n_epochs, learning_rate, seeds, checkpoint=None, progress=False, **kwargs):
    """Train as the study does and record the W-B^T angles after every epoch.

    Training runs epoch by epoch, each call resuming from the checkpoint of
    the previous one (a resumed run equals an uninterrupted one), and the
    angles are computed from the weights and rule state the checkpoint
    holds. With ``checkpoint`` the angles so far are kept beside it
    (``<checkpoint>_angles.npy``) and a second call resumes where the first
    stopped; a checkpoint without them (or beyond ``n_epochs``) is removed
    and the run starts afresh.

    Parameters
    ----------
    network : Network
    name : str
        The rule's short name (see :func:`feedback_angles`).
    rule : PlasticityRule
    task : Task
    n_epochs : int
    learning_rate : float or sequence of float
    seeds : int or sequence of int
    checkpoint : path, optional
        Checkpoint stem; by default one in a temporary folder, removed after.
    progress : bool, default False
    **kwargs
        Passed on to :func:`~bioplastic.train` (``update_noise``, say).

    Returns
    -------
    history : History
    angles : ndarray of shape (n_epochs, n_members, L - 1)
        Degrees, after each epoch.
    """
    settings = {"batch_size": BATCH_SIZE, "optimiser": Momentum(momentum=MOMENTUM), "dtype": "float32",
                "loss": "cross_entropy", **kwargs}
    with tempfile.TemporaryDirectory() as tmp:
        stem = Path(tmp) / "run" if checkpoint is None else Path(checkpoint)
        angles = _resumed_angles(stem, n_epochs)
        rng = np.random.default_rng(len(angles))
        history = None
        for epoch in range(len(angles) + 1, n_epochs + 1):
            history = train(network, rule, task, n_epochs=epoch, learning_rate=learning_rate, seeds=seeds, checkpoint=stem,
                            checkpoint_every=1, progress=progress, **settings)
            weights, rule_state = _state_from_checkpoint(stem, network.n_layers)
            angles.append(feedback_angles(name, rule, weights, rule_state, rng=rng))
            np.save(_angles_path(stem), np.stack(angles))
        if history is None:  # complete already: the stored run is read back
            history = train(network, rule, task, n_epochs=n_epochs, learning_rate=learning_rate, seeds=seeds, checkpoint=stem,
                            checkpoint_every=1, progress=progress, **settings)
    return history, np.stack(angles)


def _angles_path(stem):
    return stem.with_name(stem.name + "_angles.npy")


def _resumed_angles(stem, n_epochs):
    """The angles of the epochs a previous run's checkpoint holds (then it resumes), else none (and it starts afresh)."""
    if pair_exists(stem) and _angles_path(stem).exists():
        _, meta = load_arrays_and_metadata(stem)
        angles = np.load(_angles_path(stem))
        if meta.get("epoch") == len(angles) <= n_epochs:
            return list(angles)
    for path in (*pair_paths(stem), _angles_path(stem)):
        Path(path).unlink(missing_ok=True)
    return []


def study_results(name, quick, config, arrays, summary):
    """The :class:`~bioplastic.figures.FigureResults` of a figure: metadata ``figure``, ``quick``, ``config``, ``summary``."""
    return FigureResults(arrays, {"figure": name, "quick": bool(quick), "config": to_jsonable(config), "summary": summary})


def best_run(out_dir, key, network, name, rule, task, *, n_epochs, learning_rates, seeds, progress, **kwargs):
    """Train over ``learning_rates x seeds`` (:func:`train_tracked`) and keep the learning rate with the best final test accuracy.

    With ``out_dir`` the History is saved as ``out_dir/<key>`` and the
    checkpoint kept in ``out_dir/checkpoints/<key>``.

    Returns
    -------
    dict
        ``learning_rate`` (the best), ``accuracy`` (ndarray of shape
        ``(n_epochs + 1,)``: test accuracy at that rate, mean over seeds),
        ``angles`` (ndarray of shape ``(n_epochs, L - 1)``: W-B^T angles at
        that rate, mean over seeds) and ``final_accuracy`` (NaN if every
        seed diverged).
    """
    stem = None
    if out_dir is not None:
        stem = Path(out_dir) / "checkpoints" / key
        stem.parent.mkdir(parents=True, exist_ok=True)
    history, angles = train_tracked(network, name, rule, task, n_epochs=n_epochs, learning_rate=learning_rates, seeds=seeds,
                                    checkpoint=stem, progress=progress, **kwargs)
    if out_dir is not None:
        history.save(Path(out_dir) / key)
    accuracy = np.asarray(history["test_accuracy"], dtype=float)
    lrs = np.asarray(history.learning_rates)
    candidates = np.unique(lrs)
    with np.errstate(invalid="ignore"):
        finals = np.array([np.mean(accuracy[lrs == lr, -1]) for lr in candidates])
    scores = np.where(np.isfinite(finals), finals, -np.inf)
    best = candidates[int(np.argmax(scores))]
    members = lrs == best
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN angles (DFA's bypassed layers)
        mean_angles = np.nanmean(angles[:, members], axis=1)
    return {"learning_rate": float(best), "accuracy": accuracy[members].mean(axis=0), "angles": mean_angles,
            "final_accuracy": float(finals[candidates == best][0])}
