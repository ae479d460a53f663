"""Observables of a training run, as an experimentalist could record them: :class:`Observables` and :func:`observables_table`.

After Nayebi, Srivastava, Ganguli & Yamins (2020), *Identifying learning
rules from neural network observables*: at every evaluation of a run, and for
every layer (projection ``k`` and its postsynaptic population), statistics of
three *measures* on a fixed probe set of stimuli:

* ``weight``: the entries of the layer's weight array ``W_k`` (all of them:
  ``n_post x n_pre`` synapses, or the kernels of a convolutional projection;
  biases and lateral decorrelation matrices left out);
* ``act``: the post-activation rates ``x_{k+1} = f(h_k)`` of the layer's
  units, on each probe stimulus;
* ``gradavg``: the layer-wise activity change, on each probe stimulus the
  summed input-output Jacobian of the layer averaged over its output units,
  ``(1/N_out) sum_j sum_i d y_j / d x_i`` with ``x = x_k`` the layer's input
  (rates of population ``k``) and ``y = x_{k+1}`` its output; for
  ``y = f(W x + b)`` it is ``(1/N_out) sum_j f'(h_j) sum_i W_ji``.

Each value is passed through a *function* (``raw`` ``v``, ``sq`` ``v^2``,
``abs`` ``|v|``) and reduced by a *statistic* (:data:`STATISTICS`: ``norm``,
``mean``, ``var``, ``median``, ``thirdquartile``, ``skew``, ``kurtosis``; see
:func:`value_statistics` for their conventions). An observable is named
``<measure><function>_<statistic>`` as in the authors' code
(``weightabs_median``, ``actraw_norm``); the activity change, one number per
stimulus, has the statistic ``id`` (``gradavgsq_id``).

How the probe set enters:

* ``weight``: the statistic over the layer's (kept) synapses;
* ``act``: the statistic over the layer's (kept) units for each probe
  stimulus, then the mean over the probe set (the norm is then the mean
  per-stimulus Euclidean norm of the population vector);
* ``gradavg``: the function applied to each stimulus's activity change, then
  the mean over the probe set (``gradavgsq_id`` is the mean of its square).

:data:`OBSERVABLES` holds all 45 (7 statistics x 3 functions x 2 measures +
3 activity changes). :data:`DEFAULT_OBSERVABLES` holds the authors' 24 that
stay finite for every network (their ``ADMISSIBLE_OBS``, in
``observable_names.py`` of ``neuroailab/lr-identify``): for the weights the
``norm``, ``mean``, ``var``, ``median`` and ``thirdquartile`` of the raw and
absolute values and the ``mean``, ``median`` and ``thirdquartile`` of the
squared values (13); for the rates the ``norm``, ``mean``, ``median`` and
``thirdquartile`` of the raw and absolute values (8); the three activity
changes (3). Skew and kurtosis divide by the spread of the values and are
undefined (NaN here) where it vanishes (a layer of silent ReLU units, a
stimulus that drives no unit); squared values and variances overflow or
vanish in the authors' large networks.

Measurement realism (both off by default, both reproducible by seed):

* ``keep_fraction``: each member records only ``ceil(keep_fraction * n)``
  units of every population (its rates, and the input and output units of
  the activity change) and ``ceil(keep_fraction * n)`` synapses of every
  weight array, drawn once per member from its seed, so fixed for the run;
  the activity change then sums the Jacobian over kept input and kept
  output units and divides by the number of kept output units (the
  authors' convention);
* ``measurement_noise``: Gaussian noise of this standard deviation added to
  every measured value: each kept synapse, each kept unit's rate on each
  stimulus, and on each stimulus each kept input unit's summed Jacobian
  ``sum_{j kept} d y_j / d x_i`` (the quantity measured for the activity
  change, as in the authors' code), drawn afresh at every time point.

Both come from child 4 of ``SeedSequence(member seed)`` (children 0 to 3 are
the member's initial weights, intrinsic noise, rule state and update noise),
keyed further by the callback's ``seed``: the kept units and synapses from
``spawn_key = (4, seed, 0)``, the noise of time point ``t`` from
``spawn_key = (4, seed, 1, t)``. Members with the same seed record the same
units, so a member of an ensemble records what a solo run with its seed
records; the global random state is never used.

Time points: the callback measures at every evaluation of the run; with
:func:`~bioplastic.train` that is before training and after every epoch, so
``n_epochs = K - 1`` gives ``K`` time points (``n_epochs=20`` for the
authors' 21, the initial state included). To spread ``K`` points over a
longer run, train ``m (K - 1)`` epochs and keep the records at epochs that
are multiples of ``m``. The time point ``t`` that keys the noise is the
record's position in the run (0 before training), which the training loop
sets (``record_index_``), so a run resumed from a checkpoint draws the same
noise as an uninterrupted one; called outside a training loop, ``t`` counts
the callback's measurements of one engine.

Several measurement conditions in one run: give each recorder a ``label``
(``Observables(probe, keep_fraction=0.1, measurement_noise=0.1,
label="keep0.1-noise0.1")``). A labelled recorder names its records
``"observable_<name>@<label>"`` (:func:`record_name`), so recorders with
distinct labels share a run without their records colliding, and an
unlabelled one keeps the plain ``"observable_<name>"``.
:func:`observables_table` returns one condition at a time (its ``label``);
:func:`observable_labels` lists the labels a run recorded. The label only
names the records: the kept units and the noise depend on ``seed``, not on
the label.
"""

from __future__ import annotations

import hashlib
import math
import numbers
import re
import weakref

import numpy as np

from .._validation import check_finite_array, check_nonnegative, check_seed
from ..ops.layers import conv_projection_transpose, is_conv
from ..ops.passes import forward
from .callbacks import Callback

__all__ = [
    "DEFAULT_OBSERVABLES",
    "FUNCTIONS",
    "MEASURES",
    "OBSERVABLES",
    "RECORD_PREFIX",
    "STATISTICS",
    "Observables",
    "layer_positions",
    "observable_labels",
    "observables_table",
    "record_name",
    "split_observable",
    "transformed_statistics",
    "value_statistics",
]

#: The statistics of a set of values, in the authors' order.
STATISTICS = ("norm", "mean", "median", "thirdquartile", "var", "skew", "kurtosis")
#: The functions applied to each value before a statistic.
FUNCTIONS = ("raw", "sq", "abs")
#: The measures: weights, rates and the layer-wise activity change.
MEASURES = ("weight", "act", "gradavg")
#: Prefix of the History records the callback makes (``observable_<name>``, shape ``(n_members, n_records, n_layers)``).
RECORD_PREFIX = "observable_"

_FUNCTION_OF = {"raw": lambda v: v, "sq": np.square, "abs": np.abs}

#: All observables: ``<measure><function>_<statistic>`` for weights and rates, ``gradavg<function>_id``.
OBSERVABLES = tuple(f"{m}{f}_{s}" for m in ("weight", "act") for f in FUNCTIONS for s in STATISTICS) + tuple(
    f"gradavg{f}_id" for f in FUNCTIONS)

#: The authors' 24 observables that stay finite for every network (their order).
DEFAULT_OBSERVABLES = (
    "weightabs_mean", "weightabs_median", "weightabs_norm", "weightabs_thirdquartile", "weightabs_var",
    "weightraw_mean", "weightraw_median", "weightraw_norm", "weightraw_thirdquartile", "weightraw_var",
    "weightsq_mean", "weightsq_median", "weightsq_thirdquartile",
    "actabs_mean", "actabs_median", "actabs_norm", "actabs_thirdquartile",
    "actraw_mean", "actraw_median", "actraw_norm", "actraw_thirdquartile",
    "gradavgabs_id", "gradavgraw_id", "gradavgsq_id",
)

# child of SeedSequence(member seed) that the recordings draw from (see the module documentation)
_STREAM_CHILD = 4

#: separates an observable's record name from its recorder's label (``"observable_actraw_norm@full"``)
_LABEL_SEPARATOR = "@"
_LABEL_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]*")


def _check_label(label):
    if label is None:
        return None
    if not isinstance(label, str) or not _LABEL_PATTERN.fullmatch(label):
        raise ValueError(f"label should be None or a non-empty string of letters, digits and '.', '_', '+', '-' (not starting with "
                         f"a punctuation mark; it names the records), got {label!r}")
    return label


def record_name(name, label=None):
    """The History record of observable ``name`` made by a recorder with ``label``.

    ``"observable_<name>"`` without a label, ``"observable_<name>@<label>"``
    with one.

    Examples
    --------
    >>> record_name("actraw_norm"), record_name("actraw_norm", "keep0.1-noise0.1")
    ('observable_actraw_norm', 'observable_actraw_norm@keep0.1-noise0.1')
    """
    split_observable(name)
    label = _check_label(label)
    return RECORD_PREFIX + name + ("" if label is None else _LABEL_SEPARATOR + label)


def observable_labels(history):
    """The labels of the recorders whose observables ``history`` holds, in sorted order (``None``, unlabelled, first).

    Parameters
    ----------
    history : History

    Returns
    -------
    list of str or None
        Empty when the run recorded no observables.
    """
    labels = set()
    for key in history.records:
        if not key.startswith(RECORD_PREFIX):
            continue
        name, _, label = key[len(RECORD_PREFIX):].partition(_LABEL_SEPARATOR)
        if name in OBSERVABLES:
            labels.add(label or None)
    return sorted(labels, key=lambda label: (label is not None, label or ""))


def value_statistics(values, *, statistics=STATISTICS):
    """Statistics over the last axis of ``values``, for every leading index (ensemble members, stimuli).

    Conventions (those of the authors' code, moments as ``tf.nn.moments``):

    * ``norm``: Euclidean norm ``sqrt(sum v^2)``;
    * ``mean``; ``var``: the population variance ``m2 = mean((v - mean)^2)``
      (``ddof = 0``);
    * ``median`` and ``thirdquartile``: the 50th and 75th percentiles with
      linear interpolation between order statistics (numpy's default; the
      authors' TensorFlow percentile took the nearest order statistic,
      which differs by less than the gap between neighbouring values);
    * ``skew``: Pearson's second skewness coefficient
      ``3 (mean - median) / sqrt(m2)``, not the moment skewness;
    * ``kurtosis``: the coefficient of kurtosis ``m4 / m2^2`` (3 for a
      Gaussian; not the excess kurtosis).

    Parameters
    ----------
    values : array_like of shape (..., n)
    statistics : sequence of str, default STATISTICS
        Which to compute (names from :data:`STATISTICS`).

    Returns
    -------
    dict of str to ndarray of shape (...)
        float64. Where the values do not vary (all equal), ``var`` is 0 and
        ``skew`` and ``kurtosis`` are NaN (as everything is for values with a NaN).
    """
    statistics = _check_names(statistics, STATISTICS, "statistic")
    values = np.asarray(values, dtype=np.float64)
    if values.ndim < 1 or values.shape[-1] == 0:
        raise ValueError(f"value_statistics needs values of shape (..., n) with n >= 1, got shape {values.shape}")
    wanted = set(statistics)
    out = {}
    with np.errstate(all="ignore"):
        if "norm" in wanted:
            out["norm"] = np.sqrt(np.sum(np.square(values), axis=-1))
        if wanted & {"mean", "var", "skew", "kurtosis"}:
            mean = np.mean(values, axis=-1)
            # constant values: exactly no spread (the rounding of the mean would leave m2 ~ 1e-33, and skew of +-3)
            spread = np.ptp(values, axis=-1)
            varies = spread > 0  # NaN spread: NaN moments
            var = np.where(spread == 0, 0.0, np.mean(np.square(values - mean[..., None]), axis=-1))
            out["mean"], out["var"] = mean, var
        if wanted & {"median", "thirdquartile", "skew"}:
            out["median"], out["thirdquartile"] = np.quantile(values, [0.5, 0.75], axis=-1)
        if "skew" in wanted:
            out["skew"] = np.where(varies, 3.0 * (mean - out["median"]) / np.sqrt(var), np.nan)
        if "kurtosis" in wanted:
            m4 = np.mean((values - mean[..., None]) ** 4, axis=-1)
            out["kurtosis"] = np.where(varies, m4 / np.square(var), np.nan)
    return {name: out[name] for name in statistics}


def transformed_statistics(values, *, names):
    """Statistics of the raw, squared and absolute ``values`` over their last axis, ``{"<function>_<statistic>": ndarray}``.

    Parameters
    ----------
    values : array_like of shape (..., n)
    names : sequence of str
        ``"<function>_<statistic>"`` with a function of :data:`FUNCTIONS`
        and a statistic of :data:`STATISTICS` (``"abs_median"``).

    Returns
    -------
    dict of str to ndarray of shape (...)
        In the order of ``names`` (see :func:`value_statistics`).
    """
    allowed = tuple(f"{f}_{s}" for f in FUNCTIONS for s in STATISTICS)
    names = _check_names(names, allowed, "function_statistic")
    values = np.asarray(values, dtype=np.float64)
    out = {}
    for function in FUNCTIONS:
        wanted = [name.split("_", 1)[1] for name in names if name.split("_", 1)[0] == function]
        if wanted:
            with np.errstate(all="ignore"):
                transformed = _FUNCTION_OF[function](values)
            for statistic, value in value_statistics(transformed, statistics=wanted).items():
                out[f"{function}_{statistic}"] = value
    return {name: out[name] for name in names}


def split_observable(name):
    """``(measure, function, statistic)`` of an observable name: ``"weightabs_median"`` -> ``("weight", "abs", "median")``."""
    if not isinstance(name, str) or name not in OBSERVABLES:
        raise ValueError(f"unknown observable {name!r}; expected one of {', '.join(OBSERVABLES)}")
    head, statistic = name.split("_")
    measure = next(m for m in MEASURES if head.startswith(m))
    return measure, head[len(measure):], statistic


def layer_positions(n_layers):
    """Where each of ``n_layers`` layers lies: ``"early"``, ``"middle"`` or ``"deep"``, a list of str.

    Layer ``k`` has the relative depth ``d = k / (n_layers - 1)``: early
    below 1/3, deep above 2/3, middle otherwise (so the first layer is
    early and the last deep; a single layer, ``d`` undefined, is middle).
    """
    n_layers = int(n_layers)
    last = n_layers - 1
    return ["early" if 3 * k < last else "deep" if 3 * k > 2 * last else "middle" for k in range(n_layers)]


def _check_names(names, allowed, what):
    if isinstance(names, str) or not all(isinstance(n, str) for n in names):
        raise TypeError(f"expected a sequence of {what} names from {allowed}, got {names!r}")
    names = tuple(names)
    unknown = [n for n in names if n not in allowed]
    if unknown:
        raise ValueError(f"unknown {what} name(s) {unknown}; expected some of {', '.join(allowed)}")
    if len(set(names)) != len(names):
        raise ValueError(f"{what} names repeat in {list(names)}; give each once")
    return names


def _resolve_observables(statistics):
    if isinstance(statistics, str):
        if statistics == "default":
            return DEFAULT_OBSERVABLES
        if statistics == "all":
            return OBSERVABLES
        raise ValueError(f"statistics should be 'default', 'all' or a sequence of observable names, got {statistics!r}")
    names = _check_names(statistics, OBSERVABLES, "observable")
    if not names:
        raise ValueError("statistics should name at least one observable, got an empty sequence")
    return names


def _n_kept(fraction, n):
    """Units kept of ``n``: ``ceil(fraction * n)``, at least 1."""
    return max(1, min(n, math.ceil(fraction * n - 1e-9)))


class Observables(Callback):
    """Records of weight, rate and activity-change observables per layer, on a fixed probe set (see the module documentation).

    Each observable ``name`` is the record ``"observable_<name>"`` of shape
    ``(n_members, n_layers)`` per time point (``(n_members, n_records,
    n_layers)`` in ``history.records``); :func:`observables_table` turns
    them into a tidy table.

    Parameters
    ----------
    probe_x : array_like of shape (n_probe, n_inputs)
        The probe stimuli (e.g. 100 test images), the same at every time
        point and for every member.
    statistics : "default", "all" or sequence of str, default "default"
        Observables to record: :data:`DEFAULT_OBSERVABLES` (the authors' 24
        always finite), :data:`OBSERVABLES` (all 45) or names from it.
    keep_fraction : float, default 1.0
        Fraction of the units of every population and of the synapses of
        every weight array that each member records, in (0, 1].
    measurement_noise : float, default 0.0
        Standard deviation of the Gaussian noise added to each measured value.
    seed : int, default 0
        Seed of the recording (kept units and synapses, noise), combined
        with each member's seed.
    label : str, optional
        Name of the measurement condition: the records are then
        ``"observable_<name>@<label>"`` (:func:`record_name`), so that
        recorders of several conditions share one run. Letters, digits and
        ``. _ + -``. Default: none (``"observable_<name>"``).

    Examples
    --------
    >>> import numpy as np
    >>> import bioplastic as bp
    >>> task = bp.tasks.NonlinearStudentTeacher(n_inputs=4, n_hidden=3, n_outputs=2, n_train=40, n_test=10, seed=0)
    >>> probe = task.evaluation_sets()["test"][0]
    >>> history = bp.train(bp.models.mlp((4, 6, 2), hidden="tanh"), bp.Backprop(), task, n_epochs=2, learning_rate=0.1,
    ...                    batch_size=10, progress=False, callbacks=[bp.Observables(probe)])
    >>> history.records["observable_weightraw_norm"].shape  # members, time points, layers
    (1, 3, 2)
    """

    name = "observables"

    def __init__(self, probe_x, *, statistics="default", keep_fraction=1.0, measurement_noise=0.0, seed=0, label=None):
        self.probe_x = check_finite_array(probe_x, "probe_x", ndim=2)
        if len(self.probe_x) == 0:
            raise ValueError(f"probe_x should hold at least one stimulus, got shape {self.probe_x.shape}")
        self.statistics = list(statistics) if not isinstance(statistics, str) else statistics
        self.observables_ = _resolve_observables(statistics)
        if isinstance(keep_fraction, bool) or not isinstance(keep_fraction, numbers.Real) or not 0 < keep_fraction <= 1:
            raise ValueError(f"keep_fraction should be a number in (0, 1], got {keep_fraction!r}")
        self.keep_fraction = float(keep_fraction)
        self.measurement_noise = check_nonnegative(measurement_noise, "measurement_noise")
        self.seed = check_seed(seed, "seed")
        self.label = _check_label(label)
        self._engine = None  # weak reference to the engine measured, and the measurements made of it
        self._count = 0
        self._masks = {}

    def describe(self):
        """JSON-serialisable description; the probe set by its shape and a SHA-256 digest of its float64 values (no label: no ``label`` entry)."""
        out = super().describe()
        if self.label is None:  # the description of an unlabelled recorder is unchanged by the option
            del out["label"]
        probe = np.ascontiguousarray(self.probe_x, dtype=np.float64)
        out["probe_x"] = {"shape": list(probe.shape), "sha256": hashlib.sha256(probe.tobytes()).hexdigest()}
        return out

    def __repr__(self):
        return (f"Observables(probe_x=<array of shape {self.probe_x.shape}>, statistics={self.statistics!r}, "
                f"keep_fraction={self.keep_fraction!r}, measurement_noise={self.measurement_noise!r}, seed={self.seed!r}"
                + ("" if self.label is None else f", label={self.label!r}") + ")")

    # -- streams ---------------------------------------------------------------
    def _rng(self, member_seed, *key):
        return np.random.default_rng(np.random.SeedSequence(int(member_seed), spawn_key=(_STREAM_CHILD, self.seed, *key)))

    def kept_indices(self, network, seeds):
        """The units and synapses each member records, sorted indices, drawn once per member seed.

        Parameters
        ----------
        network : Network
        seeds : sequence of int
            The members' seeds.

        Returns
        -------
        units : list of (ndarray of shape (n_members, n_kept_p) or None)
            Per population ``p`` (input first); ``None`` when all are kept.
        synapses : list of (ndarray of shape (n_members, n_kept_k) or None)
            Per projection, indices into its flattened weight array.
        """
        if self.keep_fraction == 1.0:
            return [None] * len(network.populations), [None] * network.n_layers
        key = (tuple(network.sizes), tuple(tuple(p.shape) for p in network.projections))
        per_seed = self._masks.setdefault(key, {})
        sizes = [p.n_neurons for p in network.populations]
        n_weights = [int(np.prod(p.shape)) for p in network.projections]
        for s in seeds:
            if int(s) not in per_seed:
                rng = self._rng(s, 0)
                units = [np.sort(rng.permutation(n)[:_n_kept(self.keep_fraction, n)]) for n in sizes]
                synapses = [np.sort(rng.permutation(n)[:_n_kept(self.keep_fraction, n)]) for n in n_weights]
                per_seed[int(s)] = (units, synapses)
        chosen = [per_seed[int(s)] for s in seeds]
        units = [np.stack([c[0][p] for c in chosen]) for p in range(len(sizes))]
        synapses = [np.stack([c[1][k] for c in chosen]) for k in range(len(n_weights))]
        return units, synapses

    def _noise(self, seeds, t, shapes):
        """Per layer the noise of the weights, rates and activity change, ``(n_members, *shape)`` each, or ``None``s without noise."""
        if self.measurement_noise == 0:
            return [(None, None, None) for _ in shapes]
        draws = [[np.empty((len(seeds), *shape)) for shape in layer] for layer in shapes]
        for e, s in enumerate(seeds):
            rng = self._rng(s, 1, t)
            for k, layer in enumerate(shapes):
                for i, shape in enumerate(layer):
                    draws[k][i][e] = rng.standard_normal(shape)
        return [tuple(self.measurement_noise * d for d in layer) for layer in draws]

    # -- measurement -------------------------------------------------------------
    def measure(self, engine, task=None):
        """Records ``{record_name(name, label): ndarray of shape (n_members, n_layers)}`` at the engine's current state."""
        if self._engine is None or self._engine() is not engine:
            self._engine, self._count = weakref.ref(engine), 0
        t = getattr(self, "record_index_", None)  # the record's position in the run, set by the training loop
        if t is None:  # called outside a training loop: the calls on this engine, counted
            t = self._count
        self._count += 1
        values = self.measure_state(engine.network, engine.state_, engine.seeds, t=t)
        return {record_name(name, self.label): value for name, value in values.items()}

    def measure_state(self, network, state, seeds, *, t=0):
        """Observables of the members of ``state`` (weights of ``network``) with member seeds ``seeds`` at time point ``t``.

        Parameters
        ----------
        network : Network
        state : NetworkState
        seeds : sequence of int
            One per member (they choose the recorded units and the noise).
        t : int, default 0
            Time point (keys the measurement noise).

        Returns
        -------
        dict of str to ndarray of shape (n_members, n_layers)
            By observable name (without the records' prefix).
        """
        seeds = [int(s) for s in seeds]
        if len(seeds) != state.n_members:
            raise ValueError(f"got {len(seeds)} member seeds for a state of {state.n_members} members")
        x = self.probe_x
        if x.shape[1] != network.n_inputs:
            raise ValueError(f"probe_x has {x.shape[1]} inputs per stimulus but the network has {network.n_inputs} "
                             f"(probe_x of shape {x.shape})")
        x = x.astype(state.dtype, copy=False)
        units, synapses = self.kept_indices(network, seeds)
        n_probe = len(x)
        shapes = []
        for k, p in enumerate(network.projections):
            n_w = int(np.prod(p.shape)) if synapses[k] is None else synapses[k].shape[1]
            n_out = p.n_post if units[k + 1] is None else units[k + 1].shape[1]
            n_in = p.n_pre if units[k] is None else units[k].shape[1]
            shapes.append(((n_w,), (n_probe, n_out), (n_probe, n_in)))
        noise = self._noise(seeds, t, shapes)
        by_measure = {m: [] for m in MEASURES}
        for name in self.observables_:
            measure, function, statistic = split_observable(name)
            by_measure[measure].append(name if measure == "gradavg" else f"{function}_{statistic}")
        out = {name: np.full((state.n_members, network.n_layers), np.nan) for name in self.observables_}
        with np.errstate(all="ignore"):
            activity = forward(network, state, x)
            for k in range(network.n_layers):
                w_noise, act_noise, grad_noise = noise[k]
                if by_measure["weight"]:
                    w = _kept(state.weights[k].reshape(state.n_members, -1), synapses[k], w_noise)
                    for name, value in transformed_statistics(w, names=by_measure["weight"]).items():
                        function, statistic = name.split("_", 1)
                        out[f"weight{function}_{statistic}"][:, k] = value
                if by_measure["act"]:
                    rates = _kept(activity.rates[k + 1], None if units[k + 1] is None else units[k + 1][:, None, :], act_noise)
                    for name, value in transformed_statistics(rates, names=by_measure["act"]).items():
                        function, statistic = name.split("_", 1)
                        out[f"act{function}_{statistic}"][:, k] = value.mean(axis=1)
                if by_measure["gradavg"]:
                    change = activity_change(network, state, activity, k, out_units=units[k + 1], in_units=units[k], noise=grad_noise)
                    for name in by_measure["gradavg"]:
                        function = split_observable(name)[1]
                        out[name][:, k] = _FUNCTION_OF[function](change).mean(axis=1)
        return out


def _kept(values, indices, noise):
    """``values`` at ``indices`` along the last axis (all where ``None``), plus ``noise`` where given, as float64."""
    values = np.asarray(values, dtype=np.float64)
    if indices is not None:
        values = np.take_along_axis(values, indices, axis=-1)
    return values if noise is None else values + noise


def activity_change(network, state, activity, k, *, out_units=None, in_units=None, noise=None):
    """Layer-wise activity change of layer ``k`` on each stimulus: ``(1/N_out) sum_{j, i} d x_{k+1, j} / d x_{k, i}``.

    The Jacobian's sum over output units ``j`` is the vector-Jacobian
    product of the layer with a vector of ones (over the kept output units):
    through the activation (its ``vjp``), then the transposed projection
    (``W_k^T``, or the transposed convolution and pooling of a convolutional
    projection) and, where a lateral decorrelation matrix ``R_k`` sits in
    front of the projection, ``R_k^T``. Its entries, one per input unit, are
    summed over the kept input units.

    Parameters
    ----------
    network : Network
    state : NetworkState
    activity : Activity
        The clean pass of ``state`` on the stimuli (:func:`~bioplastic.ops.forward`).
    k : int
        Layer (projection) index.
    out_units, in_units : ndarray of shape (n_members, n_kept), optional
        Kept output units (of population ``k + 1``) and input units (of
        population ``k``); all by default.
    noise : ndarray of shape (n_members, batch, n_kept_in), optional
        Added to each kept input unit's summed Jacobian before the sum.

    Returns
    -------
    ndarray of shape (n_members, batch)
        float64.
    """
    h, y = activity.inputs[k], activity.rates[k + 1]
    ones = np.ones_like(h)
    n_out = h.shape[-1]
    if out_units is not None:
        ones = np.zeros_like(h)
        np.put_along_axis(ones, np.broadcast_to(out_units[:, None, :], (h.shape[0], h.shape[1], out_units.shape[1])), 1.0, axis=-1)
        n_out = out_units.shape[1]
    g = network.activations[k].vjp(h, y, ones)
    projection = network.projections[k]
    if is_conv(projection):
        back = conv_projection_transpose(projection, g, state.weights[k], switches=activity.switches[k])
    else:
        back = np.matmul(g, state.weights[k])
    if state.lateral[k] is not None:  # x* = R x: d x* / d x = R
        back = np.matmul(back, state.lateral[k])
    per_input = _kept(back, None if in_units is None else in_units[:, None, :], noise)
    return per_input.sum(axis=-1) / n_out


def observables_table(history, *, metadata=None, label=None):
    """Tidy table of the observables a run recorded: one row per member, layer, time point and observable.

    Parameters
    ----------
    history : History
        A run with :class:`Observables` records (``"observable_<name>"``).
    label : str, optional
        The measurement condition: the records of the recorder with this
        label (``"observable_<name>@<label>"``); by default those of the
        unlabelled recorder. One condition per table; see
        :func:`observable_labels`.
    metadata : dict, optional
        Further columns, ``{name: scalar}``, the same in every row (a
        data set's name, an architecture's label ...); their names may not
        repeat the table's own.

    Returns
    -------
    pandas.DataFrame
        Columns ``member``, ``seed``, ``learning_rate``, ``diverged_epoch``,
        ``rule`` (the rule's registered name), ``sizes`` (population sizes
        joined by ``"-"``), ``depth`` (number of layers), ``width`` (largest
        hidden population, the output's when there is none), ``batch_size``,
        ``epoch``, ``time_point`` (0 to ``n_records - 1``), ``layer``,
        ``layer_position`` (:func:`layer_positions`), ``n_pre``, ``n_post``,
        ``observable``, ``measure``, ``function``, ``statistic``, ``value``,
        then the ``metadata`` columns. Values after a member diverged are NaN.
    """
    try:
        import pandas as pd
    except ImportError as error:  # pragma: no cover
        raise ImportError("observables_table needs pandas: pip install pandas") from error
    label = _check_label(label)
    names = [name for name in OBSERVABLES if record_name(name, label) in history.records]
    if not names:
        labels = observable_labels(history)
        if labels:
            raise ValueError(f"the history holds no observables of the recorder labelled {label!r}; it holds those of the "
                             f"label(s) {labels} (observables_table(history, label=...))")
        raise ValueError(f"the history holds no observables (records named {RECORD_PREFIX!r}<observable>); "
                         f"train with callbacks=[Observables(probe_x)]; its records are {sorted(history.records)}")
    values = np.stack([history.records[record_name(name, label)] for name in names], axis=-1)  # (members, records, layers, observables)
    n_members, n_records, n_layers, n_obs = values.shape
    config = history.config
    populations = config.get("network", {}).get("populations", [])
    sizes = [int(p["n_neurons"]) for p in populations]
    if sizes and len(sizes) != n_layers + 1:
        raise ValueError(f"the history's network has {len(sizes)} populations but its observables {n_layers} layers")
    index = np.indices((n_members, n_records, n_layers, n_obs)).reshape(4, -1)
    member, record, layer, obs = index
    parts = [split_observable(name) for name in names]
    positions = np.array(layer_positions(n_layers))
    columns = {
        "member": member,
        "seed": history.seeds[member],
        "learning_rate": history.learning_rates[member],
        "diverged_epoch": history.diverged_epoch[member],
        "rule": (config.get("rule") or {}).get("name"),
        "sizes": "-".join(str(n) for n in sizes) if sizes else None,
        "depth": n_layers,
        "width": (max(sizes[1:-1]) if len(sizes) > 2 else sizes[-1]) if sizes else None,
        "batch_size": config.get("batch_size"),
        "epoch": history.epochs[record],
        "time_point": record,
        "layer": layer,
        "layer_position": positions[layer],
        "n_pre": np.array(sizes[:-1])[layer] if sizes else None,
        "n_post": np.array(sizes[1:])[layer] if sizes else None,
        "observable": np.array(names)[obs],
        "measure": np.array([p[0] for p in parts])[obs],
        "function": np.array([p[1] for p in parts])[obs],
        "statistic": np.array([p[2] for p in parts])[obs],
        "value": values.reshape(-1),
    }
    for name, value in (metadata or {}).items():
        if name in columns:
            raise ValueError(f"metadata column {name!r} repeats a column of the table; the table has {list(columns)}")
        if np.ndim(value) != 0:
            raise ValueError(f"metadata[{name!r}] should be a scalar (the same in every row), got {value!r}")
        columns[name] = value
    return pd.DataFrame(columns)
