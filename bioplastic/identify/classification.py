"""Which rule trained a network? Classifiers and protocols over observables tables.

After Nayebi, Srivastava, Ganguli & Yamins (2020), *Identifying learning
rules from neural network observables*: a *data set* holds, for many trained
networks (*runs*), the observables that :class:`~bioplastic.training.Observables`
recorded along training (the concatenation of
:func:`~bioplastic.training.observables_table` over the runs, with the
columns ``run``, ``rule_class``, ``architecture``, ``keep_fraction``,
``measurement_noise`` and ``condition`` added); a classifier learns the
rule class of a run from its trajectories of observables.

Features (:func:`feature_matrix`)
    One row per run; one feature per observable, layer position and time
    point, the observable's value at that time point. Layers line up across
    architectures by their *position* (``layer_position``: ``"early"``,
    ``"middle"``, ``"deep"``, :func:`~bioplastic.training.observables.layer_positions`),
    the value of a position being the mean over the run's layers in it, so
    networks of different depths share the feature columns. Observables,
    positions and time points default to those that every selected run
    holds. Non-finite values (a run that diverged is NaN from then on) either
    drop the run (``missing="drop"``, the default: the runs dropped are
    reported) or are kept as NaN and imputed by the classifier with the mean
    of the training runs (``missing="impute"``).

Classifiers (:data:`CLASSIFIERS`, :func:`make_classifier`, all scikit-learn)
    ``"svm"``
        a linear support-vector machine (``SVC(kernel="linear")``, one
        versus one) on standardised features, optionally after a PCA;
    ``"forest"``
        a random forest (``RandomForestClassifier``);
    ``"conv1d"``
        a small classifier over time, equivalent to a one-dimensional
        convolution over the time axis with global average pooling: an
        ``MLPClassifier`` (one hidden layer, trained with L-BFGS) applied to every window of
        ``window`` consecutive time points of all observables (each
        observable and layer position a channel, standardised over runs and
        time points), each window a sample labelled with its run's class;
        a run's class probabilities are the mean over its windows.

    Hyperparameters are picked by an inner stratified ``inner_folds``-fold
    cross-validated grid search on the training runs (``GridSearchCV``; the
    grids in :data:`DEFAULT_GRIDS`: ``C`` of the SVM, ``n_estimators`` and
    ``max_depth`` of the forest, ``alpha`` and ``hidden`` of the MLP). A
    grid of one candidate is fitted without the search.

Protocols
    :func:`evaluate`
        ``n_splits`` class-stratified random splits of the runs into
        training and test runs (``StratifiedShuffleSplit``, 75/25 by
        default): accuracy, balanced accuracy, the confusion matrix summed
        over the splits, chance levels and feature importances
        (:class:`IdentificationResult`); ``shuffle_labels=True`` is the
        control that must give chance;
    :func:`held_out_architecture`
        fit on some architectures, test on others;
    :func:`by_time_points`
        partial trajectories (the first fraction, the first ``n``, every
        ``n``-th time point: ``time_points`` of :func:`feature_matrix`);
    :func:`by_condition`
        measurement conditions (unit and synapse subsampling, measurement
        noise): fit and test within each condition, or fit on one and test
        on every condition;
    :func:`by_family`
        observable families alone (weights, activities, activity changes).

Randomness (the label permutation of the control, the splits, the inner
folds, the classifiers' own) comes from children of
``numpy.random.SeedSequence(seed)``; the same ``seed`` gives the same splits
for data sets with the same runs, so protocols compare conditions on the
same splits. scikit-learn is an optional dependency
(``pip install 'bioplastic[identify]'``), imported when a classifier is made.

The classifiers are fitted and scored with single-threaded BLAS
(:func:`bioplastic._threads.blas_limit`): their matrix products are small,
and beside a busy process a team of BLAS threads makes them about ten times
slower (measured on two cores: a windowed MLP fitted to 128 runs in 13 s
with two BLAS threads, 1.3 s with one).
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from .._threads import blas_limit
from .._validation import check_choice, check_fraction, check_positive_int, check_seed
from ..training.observables import OBSERVABLES

__all__ = [
    "CLASSIFIERS",
    "DEFAULT_GRIDS",
    "FEATURE_FAMILIES",
    "Features",
    "IdentificationResult",
    "ProtocolResults",
    "by_condition",
    "by_family",
    "by_time_points",
    "evaluate",
    "feature_matrix",
    "held_out_architecture",
    "make_classifier",
]

#: The observable families and the ``measure`` each gathers.
FEATURE_FAMILIES = {"weights": "weight", "activities": "act", "activity_changes": "gradavg"}
#: The classifiers :func:`make_classifier` makes.
CLASSIFIERS = ("svm", "forest", "conv1d")
#: The hyperparameter grids searched by default, per classifier.
DEFAULT_GRIDS = {
    "svm": {"C": (0.01, 0.1, 1.0, 10.0)},
    "forest": {"n_estimators": (50, 200), "max_depth": (None, 5)},
    "conv1d": {"alpha": (1e-4, 1e-2), "hidden": (16, 64)},
}
# the hyperparameters a grid may name, per classifier
_GRID_KEYS = {
    "svm": ("C",),
    "forest": ("n_estimators", "max_depth", "min_samples_leaf", "max_features"),
    "conv1d": ("alpha", "hidden", "window", "max_iter"),
}
# the rule classes of the schema, in the order results list them (others follow, sorted)
_CLASS_ORDER = ("sgd", "adam", "feedback_alignment", "information_alignment", "node_perturbation", "danp", "reinforce",
                "weight_perturbation")
_POSITIONS = ("early", "middle", "deep")
_MEASURE_ORDER = tuple(FEATURE_FAMILIES.values())
_FAMILY_OF = {measure: family for family, measure in FEATURE_FAMILIES.items()}
_REQUIRED = ("run", "rule_class", "architecture", "observable", "measure", "layer", "layer_position", "time_point", "value")
_MISSING = ("drop", "impute")
_IMPORTANCE = ("auto", "permutation", None)
_DEFAULT_WINDOW = 5
_INSTALL_HINT = "pip install 'bioplastic[identify]'"


def _sklearn():
    try:
        import sklearn
    except ImportError as error:  # pragma: no cover - exercised only without scikit-learn
        raise ImportError(f"rule identification needs scikit-learn >= 1.3: {_INSTALL_HINT}") from error
    return sklearn


# --------------------------------------------------------------------------------------------------------------------
# features


@dataclass(frozen=True, repr=False, eq=False)
class Features:
    """The feature matrix of a data set: one row per run, made by :func:`feature_matrix`.

    Unpacks as ``X, y, groups, names, runs = feature_matrix(data)``.

    Attributes
    ----------
    X : numpy.ndarray, shape (n_runs, n_features)
        The features (float); NaN only with ``missing="impute"``.
    y : numpy.ndarray of str, shape (n_runs,)
        Each run's ``rule_class``.
    groups : numpy.ndarray of str, shape (n_runs,)
        Each run's ``architecture``.
    names : tuple of str
        The feature names, ``"<observable>/<layer position>/t<time point>"``,
        ordered by family (weights, activities, activity changes),
        observable, layer position and time point (the fastest).
    runs : numpy.ndarray of str, shape (n_runs,)
        The run ids (sorted).
    table : pandas.DataFrame
        One row per feature: ``feature``, ``observable``, ``family``,
        ``layer_position``, ``time_point``.
    observables, layers, time_points : tuple
        The observables, layer positions and time points the features use.
    dropped : tuple of str
        The runs left out for non-finite values (``missing="drop"``).
    condition : str or None
        The measurement condition of the rows used (None when the data has
        no ``condition`` column).
    """

    X: np.ndarray
    y: np.ndarray
    groups: np.ndarray
    names: tuple
    runs: np.ndarray
    table: object
    observables: tuple
    layers: tuple
    time_points: tuple
    dropped: tuple = ()
    condition: str | None = None

    def __iter__(self):
        return iter((self.X, self.y, self.groups, self.names, self.runs))

    @property
    def n_time_points(self):
        """Number of time points per observable and layer position (int)."""
        return len(self.time_points)

    def __repr__(self):
        return (f"Features(runs={self.X.shape[0]}, features={self.X.shape[1]}, observables={len(self.observables)}, "
                f"layers={list(self.layers)}, time_points={len(self.time_points)}, dropped={len(self.dropped)}, "
                f"condition={self.condition!r})")


def _check_data(data):
    try:
        import pandas as pd
    except ImportError as error:  # pragma: no cover
        raise ImportError("rule identification needs pandas: pip install pandas") from error
    if not isinstance(data, pd.DataFrame):
        raise TypeError(f"data should be a pandas DataFrame (observables tables of the runs), got {type(data).__name__}")
    missing = [c for c in _REQUIRED if c not in data.columns]
    if missing:
        raise ValueError(f"data lacks the column(s) {missing}; a data set needs {list(_REQUIRED)}")
    if len(data) == 0:
        raise ValueError("data holds no rows")
    return data


def _names(value, name, allowed, *, kind):
    """A tuple of distinct names from ``allowed`` (a str alone is one name)."""
    if isinstance(value, str):
        value = (value,)
    if not isinstance(value, Sequence) and not isinstance(value, np.ndarray):
        raise TypeError(f"{name} should be a {kind} name or a sequence of them, got {value!r} of type {type(value).__name__}")
    value = tuple(value)
    if not value:
        raise ValueError(f"{name} should name at least one {kind}, got an empty sequence; expected some of {list(allowed)}")
    unknown = [v for v in value if v not in allowed]
    if unknown:
        raise ValueError(f"unknown {kind}(s) {unknown} in {name}; expected some of {list(allowed)}")
    if len(set(value)) != len(value):
        raise ValueError(f"{name} repeats names: {list(value)}; give each once")
    return value


def _select_time_points(selector, available, present):
    """The time points (a sorted tuple of int) that ``selector`` picks from the sorted ``available`` (a sequence from ``present``)."""
    available = tuple(int(t) for t in available)
    present = tuple(int(t) for t in present)
    n = len(available)
    if selector is None:
        chosen = available
        if not chosen:
            raise ValueError(f"no time point is held by every run of the selection (they hold {list(present)}); name them with time_points=")
    elif isinstance(selector, (bool, np.bool_)):
        raise TypeError(f"time_points should be an int count, a fraction, a slice or a sequence of time points, got {selector!r}")
    elif isinstance(selector, numbers.Integral):
        count = int(selector)
        if not 1 <= count <= n:
            raise ValueError(f"time_points={count} should count between 1 and the {n} time points every run holds")
        chosen = available[:count]
    elif isinstance(selector, numbers.Real):
        fraction = float(selector)
        if not (np.isfinite(fraction) and 0 < fraction <= 1):
            raise ValueError(f"time_points={selector!r} as a fraction of the time points should lie in (0, 1]")
        chosen = available[:max(1, math.ceil(fraction * n - 1e-9))]
    elif isinstance(selector, slice):
        chosen = available[selector]
        if not chosen:
            raise ValueError(f"time_points={selector!r} selects none of the {n} time points {list(available)}")
    elif isinstance(selector, (Sequence, np.ndarray)) and not isinstance(selector, str):
        values = list(selector)
        if not values:
            raise ValueError(f"time_points should name at least one time point, got an empty sequence; the runs hold {list(available)}")
        bad = [v for v in values if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Integral)]
        if bad:
            raise TypeError(f"time_points should hold integer time points, got {bad}")
        unknown = [int(v) for v in values if int(v) not in present]
        if unknown:
            raise ValueError(f"unknown time point(s) {unknown} in time_points; the runs hold {list(present)}")
        if len(set(values)) != len(values):
            raise ValueError(f"time_points repeats time points: {values}; give each once")
        chosen = tuple(sorted(int(v) for v in values))
    else:
        raise TypeError(f"time_points should be an int count, a fraction in (0, 1], a slice or a sequence of time points, "
                        f"got {selector!r} of type {type(selector).__name__}")
    return tuple(chosen)


def _common(frame, column, n_runs):
    """Values of ``column`` that every one of the ``n_runs`` runs of ``frame`` holds."""
    counts = frame.groupby(column, observed=True)["run"].nunique()
    return set(counts.index[counts.to_numpy() == n_runs])


def _observable_key(name):
    return (OBSERVABLES.index(name), "") if name in OBSERVABLES else (len(OBSERVABLES), name)


def _class_order(labels):
    present = set(map(str, labels))
    return tuple([c for c in _CLASS_ORDER if c in present] + sorted(present - set(_CLASS_ORDER)))


def _one_per_run(frame, column, runs):
    """The value of ``column`` of each run (an error if a run has several)."""
    counts = frame.groupby("run")[column].nunique(dropna=False)
    bad = counts[counts > 1]
    if len(bad):
        run = bad.index[0]
        values = sorted(map(str, frame.loc[frame["run"] == run, column].unique()))
        raise ValueError(f"run {run!r} has several values of {column!r}: {values}; each run should have one")
    first = frame.groupby("run")[column].first()
    return first.reindex(runs).to_numpy().astype(str)


def feature_matrix(data, *, families=None, observables=None, layers=None, time_points=None, condition=None, missing="drop"):
    """The features of each run of a data set: observables x layer positions x time points.

    Parameters
    ----------
    data : pandas.DataFrame
        A data set: observables tables of the runs with the columns ``run``,
        ``rule_class``, ``architecture``, ``observable``, ``measure``,
        ``layer``, ``layer_position``, ``time_point``, ``value`` (and
        ``condition`` when it holds several measurement conditions).
    families : str or sequence of str, optional
        Observable families to use, among :data:`FEATURE_FAMILIES`
        (``"weights"``, ``"activities"``, ``"activity_changes"``); all by
        default.
    observables : sequence of str, optional
        Observables to use (names of the ``observable`` column); by default
        every observable of the chosen families that every run holds.
    layers : str or sequence of str, optional
        Layer positions to use (``"early"``, ``"middle"``, ``"deep"``); by
        default those every run holds. The value of a position is the mean
        over the run's layers in that position (NaN if one of them is).
    time_points : int, float, slice or sequence of int, optional
        Which of the time points every run holds (sorted) to use: an int
        ``n``, the first ``n``; a float ``f`` in (0, 1], the first
        ``ceil(f * n_time_points)``; a slice of them
        (``slice(None, None, 2)``: every second); a sequence, those time
        points (values of ``time_point``). All by default.
    condition : str, optional
        The measurement condition (value of the ``condition`` column) to
        use; needed when the data holds several.
    missing : {"drop", "impute"}
        Runs with a non-finite feature (a run that diverged, an undefined
        statistic): ``"drop"`` leaves them out (listed in
        :attr:`Features.dropped`); ``"impute"`` keeps them with NaN, which
        the classifiers replace by the mean over the training runs.

    Returns
    -------
    Features
        ``X`` (n_runs, n_features), ``y`` (rule class per run), ``groups``
        (architecture per run), the feature names and the run ids, which it
        unpacks to, and the feature table and the selections used.
    """
    data = _check_data(data)
    missing = check_choice(missing, "missing", _MISSING)
    if "condition" in data.columns:
        held = sorted(map(str, data["condition"].unique()))
        if condition is None:
            if len(held) > 1:
                raise ValueError(f"data holds several measurement conditions {held} (each run appears once per condition); "
                                 f"choose one with condition=")
            condition = held[0]
        elif condition not in held:
            raise ValueError(f"unknown condition {condition!r}; the data holds {held}")
        data = data[data["condition"] == condition]
    elif condition is not None:
        raise ValueError(f"condition={condition!r} was given but the data has no 'condition' column")

    if families is not None:
        families = _names(families, "families", FEATURE_FAMILIES, kind="family")
        data = data[data["measure"].isin([FEATURE_FAMILIES[f] for f in families])]
        if len(data) == 0:
            raise ValueError(f"the data holds no observables of the families {list(families)}")
    runs_all = np.array(sorted(map(str, data["run"].unique())), dtype=object)
    data = data.assign(run=data["run"].astype(str))
    n_all = len(runs_all)
    labelled = data[["run", "rule_class", "architecture"]]

    # what every run holds, each of observables, layer positions and time points on its own
    held_observables = sorted(_common(data, "observable", n_all), key=_observable_key)
    held_layers = [p for p in _POSITIONS if p in _common(data, "layer_position", n_all)]
    held_times = sorted(_common(data, "time_point", n_all))
    present_times = sorted(int(t) for t in data["time_point"].unique())
    if observables is None:
        observables = tuple(held_observables)
        if not observables:
            raise ValueError("no observable is held by every run of the selection; name them with observables=")
    else:
        present = sorted(map(str, data["observable"].unique()), key=_observable_key)
        observables = _names(observables, "observables", present, kind="observable")
    data = data[data["observable"].isin(observables)]

    if layers is None:
        layers = tuple(held_layers)
        if not layers:
            raise ValueError("no layer position is held by every run of the selection; name them with layers=")
    else:
        present = [p for p in _POSITIONS if p in set(data["layer_position"])]
        layers = _names(layers, "layers", present, kind="layer position")
        layers = tuple(p for p in _POSITIONS if p in layers)
    data = data[data["layer_position"].isin(layers)]

    time_points = _select_time_points(time_points, held_times, present_times)
    data = data[data["time_point"].isin(time_points)]

    keys = ["run", "observable", "layer", "time_point"]
    duplicated = data.duplicated(keys)
    if duplicated.any():
        row = data.loc[duplicated].iloc[0]
        raise ValueError(f"run {row['run']!r} has several values of observable {row['observable']!r} at layer {row['layer']} and "
                         f"time point {row['time_point']}; a run should appear once per condition (select one with condition=)")
    measure_of = data.groupby("observable")["measure"].unique()
    for name in observables:
        measures = list(measure_of[name])
        if len(measures) != 1 or measures[0] not in _FAMILY_OF:
            raise ValueError(f"observable {name!r} has the measure(s) {measures}; expected one of {list(_FAMILY_OF)}")
    observables = tuple(sorted(observables, key=lambda o: (_MEASURE_ORDER.index(measure_of[o][0]), _observable_key(o))))

    import pandas as pd

    values = pd.to_numeric(data["value"], errors="coerce").to_numpy(dtype=float)
    finite = np.isfinite(values)
    frame = pd.DataFrame({"run": data["run"].to_numpy(), "observable": data["observable"].to_numpy(),
                          "layer_position": data["layer_position"].to_numpy(), "time_point": data["time_point"].to_numpy(),
                          "value": np.where(finite, values, np.nan), "bad": ~finite})
    grouped = frame.groupby(["run", "observable", "layer_position", "time_point"], sort=False)
    means = grouped["value"].mean()
    means[grouped["bad"].any().to_numpy()] = np.nan

    table = pd.DataFrame([(f"{o}/{p}/t{t}", o, _FAMILY_OF[measure_of[o][0]], p, t)
                          for o in observables for p in layers for t in time_points],
                         columns=["feature", "observable", "family", "layer_position", "time_point"])
    feature_index = pd.MultiIndex.from_frame(table[["observable", "layer_position", "time_point"]])
    rows = pd.Index(runs_all).get_indexer(means.index.get_level_values("run"))
    cols = feature_index.get_indexer(means.index.droplevel("run"))
    X = np.full((n_all, len(table)), np.nan)
    X[rows, cols] = means.to_numpy()

    keep = np.ones(n_all, dtype=bool)
    if missing == "drop":
        keep = np.isfinite(X).all(axis=1)
        if not keep.any():
            raise ValueError(f"every one of the {n_all} runs has a non-finite feature (a run that diverged, an undefined statistic); "
                             f"choose time points before divergence, other observables, or missing='impute'")
    runs = runs_all[keep]
    labelled = labelled[labelled["run"].isin(set(runs))]
    return Features(X=X[keep], y=_one_per_run(labelled, "rule_class", runs), groups=_one_per_run(labelled, "architecture", runs),
                    names=tuple(table["feature"]), runs=runs.astype(str), table=table, observables=observables, layers=layers,
                    time_points=time_points, dropped=tuple(runs_all[~keep].astype(str)), condition=condition)


# --------------------------------------------------------------------------------------------------------------------
# classifiers

_WINDOWED = {}


def _windowed_mlp_class():
    """The windowed MLP classifier (a scikit-learn estimator), made once scikit-learn is imported."""
    if "class" in _WINDOWED:
        return _WINDOWED["class"]
    _sklearn()
    from sklearn.base import BaseEstimator, ClassifierMixin
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    class WindowedMLPClassifier(ClassifierMixin, BaseEstimator):
        """An MLP over windows of consecutive time points; a run's probabilities are the mean over its windows.

        The columns of ``X`` are channels x time points (time the fastest);
        each channel is standardised over the runs and time points of the
        fitted data. The MLP (one hidden layer of ``hidden`` units, L2
        penalty ``alpha``) is trained with L-BFGS by default, which suits the
        small data sets of trained networks; its convergence warnings are
        recorded in ``converged_`` instead of raised.
        """

        def __init__(self, *, n_time_points=1, window=_DEFAULT_WINDOW, hidden=32, alpha=1e-3, max_iter=500, solver="lbfgs",
                     random_state=None):
            self.n_time_points = n_time_points
            self.solver = solver
            self.window = window
            self.hidden = hidden
            self.alpha = alpha
            self.max_iter = max_iter
            self.random_state = random_state

        def _channels(self, X):
            X = np.asarray(X, dtype=float)
            n_time = check_positive_int(self.n_time_points, "n_time_points")
            if X.ndim != 2 or X.shape[1] % n_time:
                raise ValueError(f"X should have n_channels x n_time_points = k x {n_time} columns, got shape {X.shape}")
            return X.reshape(X.shape[0], -1, n_time)  # (runs, channels, time)

        def _windows(self, channels):
            n_runs, n_channels, n_time = channels.shape
            window = min(check_positive_int(self.window, "window"), n_time)
            standardised = (channels - self.mean_[:, None]) / self.scale_[:, None]
            index = np.arange(n_time - window + 1)[:, None] + np.arange(window)
            windows = standardised[:, :, index].transpose(0, 2, 1, 3)  # (runs, windows, channels, window)
            return windows.reshape(n_runs * index.shape[0], n_channels * window), index.shape[0]

        def fit(self, X, y):
            """Fit the MLP to every window of every run of ``X`` (runs x features), labelled ``y``."""
            channels = self._channels(X)
            self.classes_, codes = np.unique(np.asarray(y), return_inverse=True)
            self.mean_ = channels.mean(axis=(0, 2))
            scale = channels.std(axis=(0, 2))
            self.scale_ = np.where(scale > 0, scale, 1.0)
            windows, n_windows = self._windows(channels)
            self.mlp_ = MLPClassifier(hidden_layer_sizes=(check_positive_int(self.hidden, "hidden"),), alpha=self.alpha,
                                      max_iter=self.max_iter, solver=self.solver, random_state=self.random_state)
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", ConvergenceWarning)
                self.mlp_.fit(windows, np.repeat(codes, n_windows))
            self.converged_ = not any(issubclass(w.category, ConvergenceWarning) for w in caught)
            for w in caught:
                if not issubclass(w.category, ConvergenceWarning):
                    warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
            return self

        def predict_proba(self, X):
            """Class probabilities of each run (the mean over its windows), shape (n_runs, n_classes)."""
            channels = self._channels(X)
            windows, n_windows = self._windows(channels)
            proba = np.zeros((windows.shape[0], len(self.classes_)))
            proba[:, self.mlp_.classes_] = self.mlp_.predict_proba(windows)
            return proba.reshape(channels.shape[0], n_windows, -1).mean(axis=1)

        def predict(self, X):
            """The most probable class of each run."""
            return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

    WindowedMLPClassifier.__module__ = __name__
    _WINDOWED["class"] = WindowedMLPClassifier
    return WindowedMLPClassifier


def _check_grid(grid, classifier):
    if grid is None:
        grid = DEFAULT_GRIDS[classifier]
    if not isinstance(grid, Mapping):
        raise TypeError(f"grid should be a mapping {{hyperparameter: values}}, got {grid!r} of type {type(grid).__name__}")
    if not grid:
        raise ValueError(f"grid should name at least one hyperparameter of {classifier!r}: some of {list(_GRID_KEYS[classifier])}")
    checked = {}
    for key, values in grid.items():
        if key not in _GRID_KEYS[classifier]:
            raise ValueError(f"unknown hyperparameter {key!r} for the classifier {classifier!r}; expected some of {list(_GRID_KEYS[classifier])}")
        if isinstance(values, (str, bytes)) or not isinstance(values, (Sequence, np.ndarray)):
            values = [values]
        values = list(values)
        if not values:
            raise ValueError(f"grid[{key!r}] should hold at least one value, got an empty sequence")
        checked[key] = values
    return checked


def _pca_components(pca, classifier):
    if pca is None:
        return None
    if classifier != "svm":
        raise ValueError(f"pca={pca!r} applies to the classifier 'svm' only, got classifier={classifier!r}")
    if isinstance(pca, (bool, np.bool_)) or not isinstance(pca, numbers.Real):
        raise TypeError(f"pca should be a number of components (int >= 1) or a fraction of variance in (0, 1), got {pca!r}")
    if isinstance(pca, numbers.Integral):
        return check_positive_int(pca, "pca")
    return check_fraction(pca, "pca")


def _state(child):
    return int(child.generate_state(1)[0])


def make_classifier(classifier="svm", *, n_time_points=1, grid=None, inner_folds=5, pca=None, window=None, seed=0):
    """An unfitted scikit-learn classifier of rule classes from :func:`feature_matrix` features.

    Parameters
    ----------
    classifier : {"svm", "forest", "conv1d"}
        ``"svm"``: imputation, standardisation, optional PCA and a linear
        ``SVC``; ``"forest"``: imputation and a ``RandomForestClassifier``;
        ``"conv1d"``: imputation and an MLP over windows of consecutive time
        points (see the module's documentation).
    n_time_points : int
        Time points per observable and layer position (the fastest axis of
        the features); used by ``"conv1d"``.
    grid : mapping, optional
        Hyperparameter grid ``{name: values}`` (a scalar is one value);
        :data:`DEFAULT_GRIDS` by default. Names: ``C`` (svm);
        ``n_estimators``, ``max_depth``, ``min_samples_leaf``,
        ``max_features`` (forest); ``alpha``, ``hidden``, ``window``,
        ``max_iter`` (conv1d).
    inner_folds : int
        Folds of the stratified cross-validation of the grid search (at
        least 2).
    pca : int or float, optional
        ``"svm"`` only: components of a PCA of the standardised features
        (an int), or the fraction of their variance to keep (in (0, 1)).
    window : int, optional
        ``"conv1d"`` only: time points per window (5 by default, at most
        ``n_time_points``).
    seed : int
        Seed of the inner folds and of the classifier.

    Returns
    -------
    sklearn.model_selection.GridSearchCV or sklearn.pipeline.Pipeline
        The grid search over the pipeline, or the pipeline itself when the
        grid has a single candidate.
    """
    classifier = check_choice(classifier, "classifier", CLASSIFIERS)
    grid = _check_grid(grid, classifier)
    inner_folds = check_positive_int(inner_folds, "inner_folds", minimum=2)
    n_time_points = check_positive_int(n_time_points, "n_time_points")
    components = _pca_components(pca, classifier)
    if window is not None and classifier != "conv1d":
        raise ValueError(f"window={window!r} applies to the classifier 'conv1d' only, got classifier={classifier!r}")
    window = _DEFAULT_WINDOW if window is None else check_positive_int(window, "window")
    inner_seed, model_seed = (_state(c) for c in np.random.SeedSequence(check_seed(seed, "seed")).spawn(2))
    _sklearn()
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.model_selection import GridSearchCV, StratifiedKFold
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    steps = [("impute", SimpleImputer(strategy="mean", keep_empty_features=True))]
    if classifier == "svm":
        from sklearn.decomposition import PCA

        steps += [("scale", StandardScaler()),
                  ("pca", "passthrough" if components is None else PCA(n_components=components, random_state=model_seed)),
                  ("clf", SVC(kernel="linear"))]
    elif classifier == "forest":
        steps += [("clf", RandomForestClassifier(random_state=model_seed))]
    else:
        steps += [("clf", _windowed_mlp_class()(n_time_points=n_time_points, window=window, random_state=model_seed))]
    pipeline = Pipeline(steps)
    if all(len(v) == 1 for v in grid.values()):
        return pipeline.set_params(**{f"clf__{k}": v[0] for k, v in grid.items()})
    return GridSearchCV(pipeline, {f"clf__{k}": v for k, v in grid.items()}, scoring="accuracy", refit=True, error_score="raise",
                        cv=StratifiedKFold(n_splits=inner_folds, shuffle=True, random_state=inner_seed))


# --------------------------------------------------------------------------------------------------------------------
# results


def _std(values):
    values = np.asarray(values, dtype=float)
    return float(np.std(values, ddof=1)) if values.size > 1 else float("nan")


@dataclass(frozen=True, repr=False, eq=False)
class IdentificationResult:
    """What a protocol measured: per-split accuracies, the confusion matrix, chance levels, importances.

    Attributes
    ----------
    classifier : str
        The classifier's name.
    classes : tuple of str
        The rule classes, in the order of the confusion matrix.
    accuracy, balanced_accuracy : numpy.ndarray, shape (n_splits,)
        Per split, the fraction of test runs classified right, and the mean
        over the classes present in the test runs of the fraction of each
        class's runs classified right.
    confusion : numpy.ndarray of int, shape (n_classes, n_classes)
        Test runs of class ``i`` (row) predicted as ``j`` (column), summed
        over the splits.
    n_train, n_test : numpy.ndarray of int, shape (n_splits,)
        Training and test runs per split.
    features : pandas.DataFrame
        The feature table (:attr:`Features.table`).
    importances : numpy.ndarray, shape (n_features,) or None
        Mean over the splits of each feature's importance: the forest's
        impurity importances, the SVM's mean absolute coefficient over its
        pairwise classifiers on the standardised features (through the PCA
        when there is one), each split's normalised to sum 1; or, with
        ``importance="permutation"``, the mean drop of test accuracy when
        the feature's values are permuted among the test runs. None when not
        computed.
    importance_kind : str or None
        ``"impurity"``, ``"coefficient"``, ``"permutation"`` or None.
    best_params : tuple of dict
        Hyperparameters chosen in each split.
    n_runs : int
        Runs used; ``dropped`` lists those left out for non-finite values.
    dropped : tuple of str
    shuffled : bool
        Whether the labels were permuted (the control).
    details : dict
        The protocol's settings (scalars), also columns of
        :meth:`ProtocolResults.summary`.
    """

    classifier: str
    classes: tuple
    accuracy: np.ndarray
    balanced_accuracy: np.ndarray
    confusion: np.ndarray
    n_train: np.ndarray
    n_test: np.ndarray
    features: object
    importances: np.ndarray | None
    importance_kind: str | None
    best_params: tuple
    n_runs: int
    dropped: tuple = ()
    shuffled: bool = False
    details: dict = field(default_factory=dict)

    @property
    def n_splits(self):
        """Number of splits (int)."""
        return len(self.accuracy)

    @property
    def chance(self):
        """``1 / n_classes``: the accuracy of guessing among balanced classes (float)."""
        return 1.0 / len(self.classes)

    @property
    def majority_rate(self):
        """Fraction of the test runs (over all splits) in their most frequent class: the accuracy of always guessing it (float)."""
        counts = self.confusion.sum(axis=1)
        return float(counts.max() / counts.sum())

    @property
    def test_counts(self):
        """Test runs of each class summed over the splits, shape (n_classes,)."""
        return self.confusion.sum(axis=1)

    def summary(self):
        """The means and sample standard deviations (NaN for one split) over the splits, and the chance levels (dict)."""
        return {"classifier": self.classifier, "accuracy_mean": float(np.mean(self.accuracy)), "accuracy_std": _std(self.accuracy),
                "balanced_accuracy_mean": float(np.mean(self.balanced_accuracy)),
                "balanced_accuracy_std": _std(self.balanced_accuracy), "chance": self.chance, "majority_rate": self.majority_rate,
                "n_classes": len(self.classes), "n_runs": self.n_runs, "n_features": len(self.features), "n_splits": self.n_splits,
                "n_dropped": len(self.dropped), "shuffled": self.shuffled, **self.details}

    def to_frame(self):
        """Tidy table: one row per split and metric (``split``, ``metric``, ``value``, ``n_train``, ``n_test``, ``classifier``)."""
        import pandas as pd

        rows = [{"classifier": self.classifier, "split": i, "metric": metric, "value": float(values[i]),
                 "n_train": int(self.n_train[i]), "n_test": int(self.n_test[i]), "shuffled": self.shuffled, **self.details}
                for metric, values in (("accuracy", self.accuracy), ("balanced_accuracy", self.balanced_accuracy))
                for i in range(self.n_splits)]
        return pd.DataFrame(rows)

    def confusion_frame(self):
        """The confusion matrix as a DataFrame (index: true class, columns: predicted class)."""
        import pandas as pd

        return pd.DataFrame(self.confusion, index=pd.Index(self.classes, name="true"), columns=pd.Index(self.classes, name="predicted"))

    def importance(self, *, by="feature"):
        """Feature importances, summed over the features of each ``by`` group (a pandas Series, largest first).

        Parameters
        ----------
        by : {"feature", "observable", "family", "layer_position", "time_point"}
            What to aggregate to.
        """
        by = check_choice(by, "by", ("feature", "observable", "family", "layer_position", "time_point"))
        if self.importances is None:
            raise ValueError(f"no importances were computed for the classifier {self.classifier!r}; "
                             f"evaluate with importance='permutation'")
        import pandas as pd

        values = pd.Series(self.importances, index=self.features[by].to_numpy(), name=f"importance ({self.importance_kind})")
        values.index.name = by
        return values.groupby(level=0, sort=False).sum().sort_values(ascending=False, kind="stable")

    def __repr__(self):
        s = self.summary()
        extra = "".join(f", {k}={v!r}" for k, v in self.details.items())
        return (f"IdentificationResult(classifier={self.classifier!r}, classes={len(self.classes)}, runs={self.n_runs}, "
                f"features={s['n_features']}, splits={self.n_splits}, accuracy={s['accuracy_mean']:.3f} +- {s['accuracy_std']:.3f}, "
                f"balanced_accuracy={s['balanced_accuracy_mean']:.3f} +- {s['balanced_accuracy_std']:.3f}, "
                f"chance={s['chance']:.3f}, majority_rate={s['majority_rate']:.3f}"
                f"{', shuffled=True' if self.shuffled else ''}{extra})")


class ProtocolResults(Mapping):
    """The results of one protocol, a read-only mapping ``{label: IdentificationResult}`` in the protocol's order.

    Parameters
    ----------
    protocol : str
        What the labels are (``"condition"``, ``"family"``, ``"time_points"``),
        the name of the label column of the tables.
    results : mapping
        ``{label: IdentificationResult}``.
    """

    def __init__(self, *, protocol, results):
        self.protocol = str(protocol)
        self._results = dict(results)

    def __getitem__(self, label):
        return self._results[label]

    def __iter__(self):
        return iter(self._results)

    def __len__(self):
        return len(self._results)

    def accuracy(self):
        """Mean test accuracy per label (a pandas Series)."""
        import pandas as pd

        return pd.Series({label: float(np.mean(r.accuracy)) for label, r in self.items()}, name="accuracy").rename_axis(self.protocol)

    def summary(self):
        """One row per label: :meth:`IdentificationResult.summary` with the label first."""
        import pandas as pd

        return pd.DataFrame([{self.protocol: label, **r.summary()} for label, r in self.items()])

    def to_frame(self):
        """The tidy tables of every result (:meth:`IdentificationResult.to_frame`) with the label column first."""
        import pandas as pd

        frames = [r.to_frame().assign(**{self.protocol: label}) for label, r in self.items()]
        table = pd.concat(frames, ignore_index=True)
        return table[[self.protocol] + [c for c in table.columns if c != self.protocol]]

    def __repr__(self):
        rows = ", ".join(f"{label!r}: {np.mean(r.accuracy):.3f}" for label, r in self.items())
        return f"ProtocolResults(protocol={self.protocol!r}, accuracy={{{rows}}})"


# --------------------------------------------------------------------------------------------------------------------
# fitting and scoring


@dataclass(frozen=True)
class _Spec:
    classifier: str
    grid: dict
    inner_folds: int
    pca: object
    window: int | None
    importance: str | None


def _spec(*, classifier="svm", grid=None, inner_folds=5, pca=None, window=None, importance="auto"):
    classifier = check_choice(classifier, "classifier", CLASSIFIERS)
    grid = _check_grid(grid, classifier)
    inner_folds = check_positive_int(inner_folds, "inner_folds", minimum=2)
    _pca_components(pca, classifier)
    if window is not None:
        if classifier != "conv1d":
            raise ValueError(f"window={window!r} applies to the classifier 'conv1d' only, got classifier={classifier!r}")
        check_positive_int(window, "window")
    if importance not in _IMPORTANCE:
        raise ValueError(f"unknown importance {importance!r}; expected one of {list(_IMPORTANCE)}")
    return _Spec(classifier, grid, inner_folds, pca, window, importance)


def _fit(spec, features, X, y, seed_sequence):
    """Fit the classifier to the runs ``X``, ``y``; returns (estimator, fitted pipeline, chosen hyperparameters)."""
    searched = any(len(v) > 1 for v in spec.grid.values())
    if searched:
        labels, counts = np.unique(y, return_counts=True)
        if counts.min() < spec.inner_folds:
            raise ValueError(f"the training runs hold {counts.min()} run(s) of class {str(labels[np.argmin(counts)])!r}, fewer than "
                             f"inner_folds={spec.inner_folds}; use more runs, fewer inner folds or a grid of one candidate")
    estimator = make_classifier(spec.classifier, n_time_points=features.n_time_points, grid=spec.grid, inner_folds=spec.inner_folds,
                                pca=spec.pca, window=spec.window, seed=_state(seed_sequence))
    with blas_limit(1):  # small products: a team of BLAS threads only loses time, and collapses beside a busy process
        estimator.fit(X, y)
    if searched:
        return estimator, estimator.best_estimator_, {k.removeprefix("clf__"): v for k, v in estimator.best_params_.items()}
    return estimator, estimator, {k: v[0] for k, v in spec.grid.items()}


def _native_importance(spec, pipeline):
    """Normalised native importances of a fitted pipeline, with their kind (None for conv1d)."""
    if spec.classifier == "forest":
        values, kind = pipeline.named_steps["clf"].feature_importances_, "impurity"
    elif spec.classifier == "svm":
        coef = pipeline.named_steps["clf"].coef_
        coef = np.asarray(coef.toarray() if hasattr(coef, "toarray") else coef)
        pca = pipeline.named_steps["pca"]
        if pca != "passthrough":
            coef = coef @ pca.components_
        values, kind = np.abs(coef).mean(axis=0), "coefficient"
    else:
        return None, None
    total = values.sum()
    return (values / total if total > 0 else values), kind


def _score(estimator, X, y, classes):
    """Confusion matrix (int, classes x classes), accuracy and balanced accuracy of ``estimator`` on ``X``, ``y``."""
    predicted = np.asarray(estimator.predict(X)).astype(str)
    index = {c: i for i, c in enumerate(classes)}
    confusion = np.zeros((len(classes), len(classes)), dtype=np.int64)
    np.add.at(confusion, (np.array([index[c] for c in y]), np.array([index[c] for c in predicted])), 1)
    counts = confusion.sum(axis=1)
    present = counts > 0
    accuracy = np.trace(confusion) / counts.sum()
    balanced = float(np.mean(np.diag(confusion)[present] / counts[present]))
    return confusion, float(accuracy), balanced


class _Collector:
    """Accumulates the outcome of each split for one test set."""

    def __init__(self, spec, features, classes, *, n_runs, dropped, shuffled, details):
        self.spec, self.features, self.classes = spec, features, classes
        self.n_runs, self.dropped, self.shuffled, self.details = n_runs, dropped, shuffled, details
        self.accuracy, self.balanced, self.n_train, self.n_test, self.params, self.importances = [], [], [], [], [], []
        self.confusion = np.zeros((len(classes), len(classes)), dtype=np.int64)
        self.kind = None

    def add(self, fitted, X_test, y_test, n_train, seed_sequence):
        with blas_limit(1):
            self._add(fitted, X_test, y_test, n_train, seed_sequence)

    def _add(self, fitted, X_test, y_test, n_train, seed_sequence):
        estimator, pipeline, params = fitted
        confusion, accuracy, balanced = _score(estimator, X_test, y_test, self.classes)
        self.confusion += confusion
        self.accuracy.append(accuracy)
        self.balanced.append(balanced)
        self.n_train.append(n_train)
        self.n_test.append(len(y_test))
        self.params.append(params)
        if self.spec.importance == "permutation":
            from sklearn.inspection import permutation_importance

            result = permutation_importance(estimator, X_test, y_test, scoring="accuracy", n_repeats=5,
                                            random_state=_state(seed_sequence))
            self.importances.append(result.importances_mean)
            self.kind = "permutation"
        elif self.spec.importance == "auto":
            values, self.kind = _native_importance(self.spec, pipeline)
            if values is not None:
                self.importances.append(values)

    def result(self):
        return IdentificationResult(
            classifier=self.spec.classifier, classes=self.classes, accuracy=np.array(self.accuracy),
            balanced_accuracy=np.array(self.balanced), confusion=self.confusion, n_train=np.array(self.n_train),
            n_test=np.array(self.n_test), features=self.features.table,
            importances=np.mean(self.importances, axis=0) if self.importances else None,
            importance_kind=self.kind if self.importances else None, best_params=tuple(self.params), n_runs=self.n_runs,
            dropped=self.dropped, shuffled=self.shuffled, details=dict(self.details))


def _check_classes(y, what="the runs"):
    classes = _class_order(y)
    if len(classes) < 2:
        raise ValueError(f"{what} hold a single rule class {list(classes)}; identification needs at least two")
    return classes


def _outer_splits(y, *, n_splits, test_size, random_state):
    from sklearn.model_selection import StratifiedShuffleSplit

    labels, counts = np.unique(y, return_counts=True)
    n_test = math.ceil(test_size * len(y))
    if n_test < len(labels) or len(y) - n_test < len(labels):
        raise ValueError(f"test_size={test_size} of {len(y)} runs gives {n_test} test and {len(y) - n_test} training runs; "
                         f"each should hold at least the {len(labels)} classes")
    if counts.min() < 2:
        raise ValueError(f"class {str(labels[np.argmin(counts)])!r} has a single run; a stratified split needs at least two per class")
    splitter = StratifiedShuffleSplit(n_splits=n_splits, test_size=test_size, random_state=random_state)
    return list(splitter.split(np.zeros((len(y), 1)), y))


_EVALUATE_OPTIONS = ("classifier", "n_splits", "test_size", "inner_folds", "seed", "families", "observables", "layers", "time_points",
                     "condition", "missing", "shuffle_labels", "grid", "pca", "window", "importance")
_FEATURE_OPTIONS = ("families", "observables", "layers", "time_points", "missing")
_MODEL_OPTIONS = ("classifier", "grid", "inner_folds", "pca", "window", "importance")


def _split_options(options, allowed, where):
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise TypeError(f"{where}() got unexpected keyword argument(s) {unknown}; expected some of {sorted(allowed)}")
    return ({k: v for k, v in options.items() if k in _FEATURE_OPTIONS}, {k: v for k, v in options.items() if k in _MODEL_OPTIONS},
            {k: v for k, v in options.items() if k not in _FEATURE_OPTIONS + _MODEL_OPTIONS})


# --------------------------------------------------------------------------------------------------------------------
# protocols


def evaluate(data, *, classifier="svm", n_splits=10, test_size=0.25, inner_folds=5, seed=0, families=None, observables=None,
             layers=None, time_points=None, condition=None, missing="drop", shuffle_labels=False, grid=None, pca=None, window=None,
             importance="auto"):
    """Identify the rule class of each run on ``n_splits`` class-stratified random splits of the runs.

    Each split holds out ``test_size`` of the runs of every class
    (``StratifiedShuffleSplit``); the classifier, its hyperparameters picked
    by an inner ``inner_folds``-fold stratified grid search on the training
    runs, classifies the held-out runs.

    Parameters
    ----------
    data : pandas.DataFrame
        A data set (see :func:`feature_matrix`).
    classifier : {"svm", "forest", "conv1d"}
        See :func:`make_classifier`.
    n_splits : int
        Outer splits.
    test_size : float
        Fraction of the runs held out in each split, in (0, 1).
    inner_folds : int
        Folds of the inner grid search.
    seed : int
        Seed of the label permutation, the splits, the inner folds and the
        classifiers.
    families, observables, layers, time_points, condition, missing
        The features: see :func:`feature_matrix`.
    shuffle_labels : bool
        The control: permute the runs' rule classes (with the seed) before
        splitting; the accuracy should then be at chance.
    grid, pca, window
        See :func:`make_classifier`.
    importance : {"auto", "permutation", None}
        ``"auto"``: the forest's impurity importances or the SVM's
        coefficients (none for ``"conv1d"``); ``"permutation"``: permutation
        importance on each split's test runs (``n_repeats=5``); None: none.

    Returns
    -------
    IdentificationResult
    """
    spec = _spec(classifier=classifier, grid=grid, inner_folds=inner_folds, pca=pca, window=window, importance=importance)
    n_splits = check_positive_int(n_splits, "n_splits")
    test_size = check_fraction(test_size, "test_size")
    seed = check_seed(seed, "seed")
    if not isinstance(shuffle_labels, (bool, np.bool_)):
        raise TypeError(f"shuffle_labels should be True or False, got {shuffle_labels!r}")
    features = feature_matrix(data, families=families, observables=observables, layers=layers, time_points=time_points,
                              condition=condition, missing=missing)
    return _evaluate_features(features, spec, n_splits=n_splits, test_size=test_size, seed=seed, shuffle_labels=bool(shuffle_labels),
                              details={} if features.condition is None else {"condition": features.condition})


def _evaluate_features(features, spec, *, n_splits, test_size, seed, shuffle_labels, details, tests=None):
    """Run the outer splits on ``features``.

    ``tests`` (``{label: (Features of the same runs, further details)}``)
    scores those test sets instead, with the classifiers fitted on
    ``features``; the results are then ``{label: IdentificationResult}``.
    """
    _sklearn()
    single = tests is None
    tests = {None: (features, {})} if single else tests
    y = features.y
    classes = _check_classes(y)
    labels_seed, split_seed, fit_seeds = np.random.SeedSequence(seed).spawn(3)
    if shuffle_labels:
        y = np.random.default_rng(labels_seed).permutation(y)
    splits = _outer_splits(y, n_splits=n_splits, test_size=test_size, random_state=_state(split_seed))
    collectors = {label: _Collector(spec, features, classes, n_runs=len(y), dropped=test_features.dropped, shuffled=shuffle_labels,
                                    details={**details, **extra})
                  for label, (test_features, extra) in tests.items()}
    for (train, test), child in zip(splits, fit_seeds.spawn(n_splits)):
        fit_child, importance_child = child.spawn(2)
        fitted = _fit(spec, features, features.X[train], y[train], fit_child)
        for label, (test_features, _) in tests.items():
            collectors[label].add(fitted, test_features.X[test], y[test], len(train), importance_child)
    results = {label: c.result() for label, c in collectors.items()}
    return results[None] if single else results


def _architectures(value, name, held):
    if isinstance(value, str):
        value = (value,)
    if not isinstance(value, (Sequence, np.ndarray)):
        raise TypeError(f"{name} should be an architecture label or a sequence of them, got {value!r} of type {type(value).__name__}")
    value = tuple(str(v) for v in value)
    if not value:
        raise ValueError(f"{name} should name at least one architecture, got an empty sequence; the data holds {held}")
    unknown = [v for v in value if v not in held]
    if unknown:
        raise ValueError(f"unknown architecture(s) {unknown} in {name}; the data holds {held}")
    return value


def held_out_architecture(data, *, test, train=None, seed=0, condition=None, **options):
    """Fit on the runs of some architectures, identify the rules of the runs of others.

    Parameters
    ----------
    data : pandas.DataFrame
        A data set (see :func:`feature_matrix`).
    test : str or sequence of str
        Architectures (values of ``architecture``) of the test runs.
    train : str or sequence of str, optional
        Architectures of the training runs; all the others by default.
    seed : int
        Seed of the inner folds and the classifier.
    condition : str, optional
        The measurement condition (see :func:`feature_matrix`).
    **options
        ``classifier``, ``grid``, ``inner_folds``, ``pca``, ``window``,
        ``importance`` (see :func:`evaluate`) and ``families``,
        ``observables``, ``layers``, ``time_points``, ``missing`` (see
        :func:`feature_matrix`). The features are those every run of the
        training and test architectures holds.

    Returns
    -------
    IdentificationResult
        One split: all training runs against all test runs; ``details``
        holds the ``train`` and ``test`` architectures (joined by ``"+"``).
    """
    feature_options, model_options, _ = _split_options(options, _FEATURE_OPTIONS + _MODEL_OPTIONS, "held_out_architecture")
    spec = _spec(**model_options)
    seed = check_seed(seed, "seed")
    data = _check_data(data)
    held = sorted(map(str, data["architecture"].unique()))
    test = _architectures(test, "test", held)
    train = tuple(a for a in held if a not in test) if train is None else _architectures(train, "train", held)
    overlap = sorted(set(train) & set(test))
    if overlap:
        raise ValueError(f"architecture(s) {overlap} are in both train and test; held-out architectures should be apart")
    if not train:
        raise ValueError(f"no architecture is left to train on: the data holds {held} and test={list(test)}")
    data = data[data["architecture"].astype(str).isin(train + test)]
    features = feature_matrix(data, condition=condition, **feature_options)
    is_train = np.isin(features.groups, train)
    for where, mask in (("training", is_train), ("test", ~is_train)):
        if not mask.any():
            raise ValueError(f"no {where} runs are left (the others were dropped for non-finite values)")
    classes = _class_order(features.y)
    _check_classes(features.y[is_train], "the training runs")
    unseen = sorted(set(map(str, features.y[~is_train])) - set(map(str, features.y[is_train])))
    if unseen:
        raise ValueError(f"the test runs hold rule class(es) {unseen} that no training run holds")
    _sklearn()
    fit_child, importance_child = np.random.SeedSequence(seed).spawn(2)
    details = {"train": "+".join(train), "test": "+".join(test)}
    if features.condition is not None:
        details["condition"] = features.condition
    collector = _Collector(spec, features, classes, n_runs=len(features.y), dropped=features.dropped, shuffled=False, details=details)
    fitted = _fit(spec, features, features.X[is_train], features.y[is_train], fit_child)
    collector.add(fitted, features.X[~is_train], features.y[~is_train], int(is_train.sum()), importance_child)
    return collector.result()


def by_family(data, *, families=tuple(FEATURE_FAMILIES), **options):
    """Identification from each observable family alone.

    Parameters
    ----------
    data : pandas.DataFrame
        A data set (see :func:`feature_matrix`).
    families : sequence
        Each entry a family (:data:`FEATURE_FAMILIES`) or a sequence of
        families used together (labelled ``"weights+activities"``).
    **options
        Further keyword arguments of :func:`evaluate`.

    Returns
    -------
    ProtocolResults
        ``{family label: IdentificationResult}``, on the same splits when
        every family keeps the same runs.
    """
    if isinstance(families, str) or not isinstance(families, (Sequence, np.ndarray)) or not len(families):
        raise ValueError(f"families should be a non-empty sequence of families or of sequences of them, got {families!r}; "
                         f"the families are {list(FEATURE_FAMILIES)}")
    _split_options(options, [p for p in _EVALUATE_OPTIONS if p != "families"], "by_family")
    results = {}
    for entry in families:
        group = _names(entry, "families", FEATURE_FAMILIES, kind="family")
        results["+".join(group)] = evaluate(data, families=group, **options)
    return ProtocolResults(protocol="family", results=results)


def by_time_points(data, *, time_points=(0.25, 0.5, 0.75, 1.0), **options):
    """Identification from partial trajectories.

    Parameters
    ----------
    data : pandas.DataFrame
        A data set (see :func:`feature_matrix`).
    time_points : sequence or mapping
        Selections of time points (each as ``time_points`` of
        :func:`feature_matrix`: a count, a fraction, a slice, a sequence),
        labelled by their ``str``; or a mapping ``{label: selection}``.
    **options
        Further keyword arguments of :func:`evaluate`.

    Returns
    -------
    ProtocolResults
        ``{label: IdentificationResult}``.
    """
    if isinstance(time_points, Mapping):
        selections = dict(time_points)
    elif isinstance(time_points, (Sequence, np.ndarray)) and not isinstance(time_points, str):
        selections = {str(s): s for s in time_points}
    else:
        raise TypeError(f"time_points should be a sequence of selections or a mapping {{label: selection}}, got {time_points!r}")
    if not selections:
        raise ValueError("time_points should hold at least one selection, got none")
    _split_options(options, [p for p in _EVALUATE_OPTIONS if p != "time_points"], "by_time_points")
    return ProtocolResults(protocol="time_points",
                           results={label: evaluate(data, time_points=s, **options) for label, s in selections.items()})


def by_condition(data, *, train_condition=None, conditions=None, **options):
    """Identification under each measurement condition (unit and synapse subsampling, measurement noise).

    Parameters
    ----------
    data : pandas.DataFrame
        A data set with a ``condition`` column (each run once per condition).
    train_condition : str, optional
        None: fit and test within each condition (:func:`evaluate` with
        ``condition=``). A condition: in each split fit on the training
        runs measured under it and test on the test runs measured under
        each condition (the same runs in every condition: those that no
        condition drops). The features are the training condition's.
    conditions : sequence of str, optional
        The conditions to test; all the data holds by default.
    **options
        Further keyword arguments of :func:`evaluate` (not ``condition``).

    Returns
    -------
    ProtocolResults
        ``{condition: IdentificationResult}``; ``details`` holds the
        condition's ``keep_fraction`` and ``measurement_noise`` (when the
        data has them) and the ``train_condition``.
    """
    data = _check_data(data)
    if "condition" not in data.columns:
        raise ValueError("by_condition needs a 'condition' column in the data (the label of each measurement condition)")
    held = list(dict.fromkeys(map(str, data["condition"])))
    conditions = tuple(held) if conditions is None else _names(conditions, "conditions", held, kind="condition")
    if train_condition is not None and train_condition not in held:
        raise ValueError(f"unknown train_condition {train_condition!r}; the data holds {held}")
    _split_options(options, [p for p in _EVALUATE_OPTIONS if p != "condition"], "by_condition")

    def settings(condition):
        rows = data[data["condition"] == condition]
        out = {name: float(rows[name].iloc[0]) for name in ("keep_fraction", "measurement_noise") if name in rows.columns}
        return out if train_condition is None else {"train_condition": train_condition, **out}

    if train_condition is None:
        results = {}
        for c in conditions:
            result = evaluate(data, condition=c, **options)
            results[c] = dataclasses.replace(result, details={**result.details, **settings(c)})
        return ProtocolResults(protocol="condition", results=results)

    feature_options, model_options, rest = _split_options(options, _EVALUATE_OPTIONS, "by_condition")
    spec = _spec(**model_options)
    n_splits = check_positive_int(rest.get("n_splits", 10), "n_splits")
    test_size = check_fraction(rest.get("test_size", 0.25), "test_size")
    seed = check_seed(rest.get("seed", 0), "seed")
    shuffle_labels = rest.get("shuffle_labels", False)
    if not isinstance(shuffle_labels, (bool, np.bool_)):
        raise TypeError(f"shuffle_labels should be True or False, got {shuffle_labels!r}")
    train = feature_matrix(data, condition=train_condition, **feature_options)
    fixed = {k: v for k, v in feature_options.items() if k not in ("observables", "layers", "time_points", "families")}
    tests = {}
    for c in conditions:
        tests[c] = feature_matrix(data, condition=c, observables=train.observables, layers=train.layers,
                                  time_points=list(train.time_points), **fixed)
    runs = set(train.runs).intersection(*(set(f.runs) for f in tests.values()))
    if not runs:
        raise ValueError(f"no run is kept under every one of the conditions {[train_condition, *conditions]}")

    def restrict(f):
        keep = np.isin(f.runs, sorted(runs))
        dropped = tuple(sorted(set(f.dropped) | set(f.runs[~keep])))
        return Features(X=f.X[keep], y=f.y[keep], groups=f.groups[keep], names=f.names, runs=f.runs[keep], table=f.table,
                        observables=f.observables, layers=f.layers, time_points=f.time_points, dropped=dropped, condition=f.condition)

    train = restrict(train)
    tests = {c: (restrict(f), {"condition": c, **settings(c)}) for c, f in tests.items()}
    for c, (f, _) in tests.items():
        if not np.array_equal(f.y, train.y):
            raise ValueError(f"the runs of condition {c!r} differ from those of {train_condition!r} in their rule classes")
    results = _evaluate_features(train, spec, n_splits=n_splits, test_size=test_size, seed=seed, shuffle_labels=bool(shuffle_labels),
                                 details={}, tests=tests)
    return ProtocolResults(protocol="condition", results=results)

