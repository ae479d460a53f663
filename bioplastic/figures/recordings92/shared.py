"""Settings, networks, rules, stimuli, the geometry recorder and the training runs of the 92-image study.

Conventions (chosen here; each run stores them with its results):

* task: :class:`~bioplastic.tasks.Cifar10Task`, standardised per channel
  with the training set's mean and std; quick mode the first 1,000
  training and 300 test images of the tarball in ``BIOPLASTIC_DATA_DIR``
  (offline: the JPEG-lossy subset, which the results' task description
  says), full mode the first 5,000 and 1,000;
* networks: :func:`~bioplastic.models.cnn` (ReLU feature maps, average
  pooling, one all-to-all ReLU hidden layer, softmax readout),
  cross-entropy, float32, in both modes conv 3->6 5x5, pool 2, conv 6->8
  5x5, pool 2, dense 32 (3072-1176-200-32-10: NP's learning on a CNN takes
  tens of thousands of steps, which bounds the size a CPU can run);
* rules: SGD (backprop) and NP with synaptic scaling of every layer
  (``sigma = 1e-4``) with plain SGD and the learning rate divided by the
  batch size (Hiratani et al.'s Fig. S5 setting), feedback alignment (FA),
  sign symmetry (SA, ``"usf"``) and DANP (activity-based NP,
  ``sigma = 1e-3``, with a lateral decorrelation of the inputs of the
  all-to-all projections only: a convolution's input is not decorrelated)
  with Adam (Dalm et al.'s setting);
* the stimuli: dimensionality on the first ``n_dim_stimuli`` CIFAR-10 test
  images, representational geometry on the 92 images of Kriegeskorte et
  al. (2008), resized to 32 x 32 by area averaging and standardised with
  the CIFAR-10 training statistics of the run
  (:func:`~bioplastic.recordings.images_to_inputs`);
* the recorded units: every hidden population (both feature maps and the
  hidden layer), observed as an experimenter observes neurons (see
  :class:`LayerGeometry`): ``n_units`` units drawn per layer and member
  (the same through training), two repeats with Gaussian trial noise
  calibrated to a split-half reliability ``reliability``
  (:func:`~bioplastic.recordings.add_reliability_noise`).
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

import numpy as np

from ..._threads import blas_limit
from ...decorrelation import LateralDecorrelation
from ...homeostasis import SynapticScaling
from ...io import to_jsonable
from ...models import cnn
from ...network import Network
from ...ops import is_conv
from ...optimisers import Adam
from ...plasticity import ActivityNodePerturbation, Backprop, FeedbackAlignment, NodePerturbation, SignSymmetry
from ...recordings import (
    add_reliability_noise,
    compare_rdms,
    cross_validated_spectrum,
    images_to_inputs,
    load_kriegeskorte92,
    noise_corrected_participation_ratio,
    participation_ratio,
    power_law_exponent,
    rdm,
)
from ...training import Callback, train
from .. import FigureResults
from .._data import checkpoint_stem, cifar10_subset, figure_data_dir

__all__ = [
    "ALPHA_ESTIMATORS",
    "PR_ESTIMATORS",
    "RULES",
    "STUDY",
    "TARGETS",
    "LayerGeometry",
    "bracket_differences",
    "bracketing_records",
    "hidden_layers",
    "human_subject_rdms",
    "it_data",
    "make_network",
    "make_rule",
    "measured_members",
    "seed_interval",
    "seed_mean",
    "settings",
    "study_results",
    "study_runs",
    "task",
]

#: how the figures name the study
STUDY = "92-image IT comparison"

#: the rules compared: legend and colour
RULES = {"sgd": ("SGD (backprop)", "k"), "np": ("NP + synaptic scaling", "C1"), "fa": ("FA", "C4"), "sa": ("SA (sign symmetry)", "C2"),
         "danp": ("DANP", "C0")}
#: perturbation amplitude of NP (Hiratani et al.'s) and of DANP (Dalm et al.'s)
NP_SIGMA, DANP_SIGMA = 1e-4, 1e-3
#: participation-ratio estimators recorded: noise-free units, naive (trial-averaged noisy repeats), noise- and sample-corrected
PR_ESTIMATORS = ("clean", "naive", "corrected")
#: power-law exponents recorded: of the noise-free spectrum, the trial-averaged PCA spectrum and the cross-validated one
ALPHA_ESTIMATORS = ("clean", "naive", "cv")
#: the IT recordings a layer's RDM is compared with: legend
TARGETS = {"mit": "monkey IT (Kiani et al. 2007)", "hit": "human IT (4 subjects)"}
#: RDM comparisons of the figures (the recorder follows the first through training)
METHODS = ("spearman", "kendall_tau_a")


def settings(quick):
    """The sizes, rules, schedules and analysis settings of a quick or full run (stored in the results)."""
    if quick:
        return {
            "conv_layers": [dict(out_channels=6, kernel_size=5, pool=2), dict(out_channels=8, kernel_size=5, pool=2)], "dense": [32],
            "n_train": 1000, "n_test": 300, "augment": False, "eval_train_size": 300, "batch_size": 20, "seeds": [0, 1],
            "rules": ["sgd", "np", "sa", "danp"],
            "n_epochs": {"sgd": 3, "np": 3, "sa": 3, "danp": 3},
            "learning_rates": {"sgd": 0.03, "np": 3e-3, "sa": 1e-3, "danp": 1e-3},
            "record_epochs": [0, 1, 3],
            "n_dim_stimuli": 200, "n_units": 32, "reliability": 0.8, "alpha_ranks": [2, 16],
            "n_bootstrap": 20, "n_permutations": 20, "confidence": 0.95,
        }
    # full: sized for a CPU (about half an hour on two cores). NP's rate is the best of a search on this CNN
    # (1e-4 to 3e-2, 600 to 15,000 steps): higher rates stay at chance, 3e-4 climbs to 15-20% by 15,000 steps
    return {
        "conv_layers": [dict(out_channels=6, kernel_size=5, pool=2), dict(out_channels=8, kernel_size=5, pool=2)], "dense": [32],
        "n_train": 5000, "n_test": 1000, "augment": False, "eval_train_size": 1000, "batch_size": 20,
        "seeds": [0, 1, 2, 3, 4], "rules": list(RULES),
        "n_epochs": {"sgd": 10, "np": 60, "fa": 10, "sa": 10, "danp": 10},
        "learning_rates": {"sgd": 0.03, "np": 3e-4, "fa": 1e-3, "sa": 1e-3, "danp": 1e-3},
        "record_epochs": [0, 1, 2, 5, 10, 20, 40, 60],
        "n_dim_stimuli": 1000, "n_units": 32, "reliability": 0.8, "alpha_ranks": [2, 16],
        "n_bootstrap": 1000, "n_permutations": 1000, "confidence": 0.95,
    }


def task(quick):
    """CIFAR-10 of a quick (first 1,000 training / 300 test images) or full (first 5,000 / 1,000) run."""
    cfg = settings(quick)
    return cifar10_subset(cfg["n_train"], cfg["n_test"], augment=cfg["augment"], eval_train_size=cfg["eval_train_size"])


def make_network(quick, rule):
    """The CNN of a quick or full run; for DANP with a lateral decorrelation of the all-to-all projections' inputs."""
    cfg = settings(quick)
    network = cnn((3, 32, 32), cfg["conv_layers"], 10, dense=cfg["dense"], readout="softmax")
    if rule != "danp":
        return network
    dense = tuple(k for k, p in enumerate(network.projections) if not is_conv(p))
    return Network(network.populations, projections=network.projections, decorrelation=LateralDecorrelation(layers=dense))


def make_rule(rule):
    """The plasticity rule, optimiser and homeostasis of ``rule`` (a key of :data:`RULES`)."""
    if rule == "sgd":
        return Backprop(batch_reduction="mean"), "sgd", None
    if rule == "np":
        return NodePerturbation(sigma=NP_SIGMA, batch_reduction="mean"), "sgd", SynapticScaling(layers="all")
    if rule == "fa":
        return FeedbackAlignment(), Adam(), None
    if rule == "sa":
        return SignSymmetry(), Adam(), None
    if rule == "danp":
        return ActivityNodePerturbation(sigma=DANP_SIGMA, noise="gaussian"), Adam(), None
    raise ValueError(f"unknown rule {rule!r}; expected one of {', '.join(RULES)}")


def hidden_layers(network):
    """Population indices of the hidden populations (feature maps and all-to-all hidden layers), and their names."""
    indices = list(range(1, len(network.populations) - 1))
    return indices, [network.populations[k].name for k in indices]


@functools.lru_cache(maxsize=2)
def _kriegeskorte92(data_dir):
    return load_kriegeskorte92(data_dir=data_dir, download=data_dir is None)


def it_data():
    """The 92-image set (:func:`~bioplastic.recordings.load_kriegeskorte92`) from ``BIOPLASTIC_DATA_DIR`` or a download, loaded once per process."""
    return _kriegeskorte92(figure_data_dir())


def human_subject_rdms(dataset):
    """The human-IT RDM of each subject: the mean of its two sessions' RDMs, ``ndarray of shape (4, 4186)``, and the subjects' names.

    The between-subject noise ceiling of Nili et al. (2014) treats each
    subject's RDM as one estimate of the group's; averaging a subject's
    sessions keeps the two sessions of one brain from counting as two
    subjects.
    """
    subjects = {}
    for recording in dataset.human_it_sessions:
        subjects.setdefault(recording.metadata["subject"], []).append(recording.condensed)
    return np.stack([np.mean(v, axis=0) for v in subjects.values()]), list(subjects)


def _digest(array):
    array = np.ascontiguousarray(array, dtype=np.float64)
    return {"shape": list(array.shape), "sha256": hashlib.sha256(array.tobytes()).hexdigest()}


def _finite_rdm(rates):
    """The correlation-distance RDM of ``rates`` (stimuli x units), or None where a pattern is constant (dead units) or not finite."""
    if not np.isfinite(rates).all() or (np.ptp(rates, axis=1) == 0).any():
        return None
    return rdm(rates, metric="correlation")


def _exponent(spectrum, ranks):
    try:
        return power_law_exponent(spectrum, ranks=ranks)
    except ValueError:  # a non-positive eigenvalue inside the fitted ranks (cross-validated spectra can be negative)
        return np.nan


class LayerGeometry(Callback):
    """Dimensionality and IT similarity of every hidden layer at chosen records, per member.

    At the records ``record_at`` (positions in the run: 0 is the initial
    state, ``t`` the end of epoch ``t``), for every layer of ``layers`` and
    every member (NaN at the other records):

    * dimensionality on ``stimuli``: ``n_units`` units drawn once per member
      and layer (from the member's seed, the same at every record), their
      noise-free rates and two repeats with Gaussian trial noise calibrated
      to the split-half reliability ``reliability``
      (:func:`~bioplastic.recordings.add_reliability_noise`, seeded by the
      member's seed, the layer and the record, so a resumed run records the
      same); ``"pr_clean"`` (:func:`~bioplastic.recordings.participation_ratio`
      of the noise-free units), ``"pr_naive"`` (of the trial-averaged noisy
      repeats), ``"pr_corrected"``
      (:func:`~bioplastic.recordings.noise_corrected_participation_ratio`:
      trial noise and finite stimuli corrected, and finite units too,
      ``sampled="both"``, where the units are a sample of a wider layer; a
      layer recorded whole is its own population, ``sampled="stimuli"``),
      and the power-law exponents ``"alpha_clean"``, ``"alpha_naive"``
      (PCA spectra) and ``"alpha_cv"`` (cross-validated
      spectrum of the two repeats, Stringer et al. 2019) fitted over the
      ranks ``alpha_ranks``;
    * geometry on ``it_inputs`` (the 92 images): the layer's RDM (``1 - r``
      over all its units) compared by Spearman's rho with ``monkey_rdm``
      (``"spearman_mit"``) and with each of ``human_rdms`` (their mean,
      ``"spearman_hit"``); NaN where a pattern is constant.

    Each record has shape ``(n_members, n_layers)``.

    Parameters
    ----------
    stimuli : array_like of shape (n_stimuli, n_inputs)
    it_inputs : array_like of shape (92, n_inputs)
    monkey_rdm : array_like of shape (n_pairs,)
    human_rdms : array_like of shape (n_subjects, n_pairs)
    layers : sequence of int
        Population indices.
    n_units : int
        At most the smallest layer's width.
    reliability : float
        In ``(0, 1]``.
    alpha_ranks : (int, int)
    record_at : sequence of int
    seed : int, default 0
    """

    name = "layer_geometry"

    def __init__(self, stimuli, it_inputs, monkey_rdm, human_rdms, *, layers, n_units, reliability, alpha_ranks, record_at, seed=0):
        self.stimuli = np.asarray(stimuli, dtype=float)
        self.it_inputs = np.asarray(it_inputs, dtype=float)
        self.monkey_rdm = np.asarray(monkey_rdm, dtype=float)
        self.human_rdms = np.atleast_2d(np.asarray(human_rdms, dtype=float))
        self.layers = [int(k) for k in layers]
        self.n_units = int(n_units)
        self.reliability = float(reliability)
        self.alpha_ranks = [int(r) for r in alpha_ranks]
        self.record_at = sorted(int(t) for t in record_at)
        self.seed = int(seed)
        self._units = {}

    def describe(self):
        """JSON-serialisable description; the arrays by shape and SHA-256 digest."""
        out = super().describe()
        for key in ("stimuli", "it_inputs", "monkey_rdm", "human_rdms"):
            out[key] = _digest(getattr(self, key))
        return out

    def __repr__(self):
        return (f"LayerGeometry(stimuli=<{self.stimuli.shape}>, it_inputs=<{self.it_inputs.shape}>, layers={self.layers}, "
                f"n_units={self.n_units}, reliability={self.reliability}, record_at={self.record_at})")

    def _rng(self, member_seed, *key):
        return np.random.default_rng(np.random.SeedSequence(int(member_seed), spawn_key=(0x92, self.seed, *key)))

    def units(self, member_seed, layer, n_available):
        """The ``n_units`` units (sorted indices) that member ``member_seed`` records of a layer of ``n_available`` units."""
        key = (int(member_seed), int(layer), int(n_available))
        if key not in self._units:
            if self.n_units > n_available:
                raise ValueError(f"n_units = {self.n_units} exceeds the {n_available} units of layer {layer}")
            self._units[key] = np.sort(self._rng(member_seed, layer, 0).choice(n_available, size=self.n_units, replace=False))
        return self._units[key]

    def records(self):
        """The names of the records."""
        return [f"pr_{e}" for e in PR_ESTIMATORS] + [f"alpha_{e}" for e in ALPHA_ESTIMATORS] + [f"spearman_{t}" for t in TARGETS]

    def measure(self, engine, task=None):
        t = getattr(self, "record_index_", 0)
        network, state, seeds = engine.network, engine.state_, engine.seeds
        out = {name: np.full((state.n_members, len(self.layers)), np.nan) for name in self.records()}
        if t not in self.record_at:
            return out
        n_dim = len(self.stimuli)
        # one pass over both stimulus sets, on one BLAS thread: the same bits whatever the engine's thread plan
        with np.errstate(all="ignore"), blas_limit(1):
            rates = network.forward(state, np.concatenate([self.stimuli, self.it_inputs]).astype(state.dtype)).rates
        for j, layer in enumerate(self.layers):
            for e, member_seed in enumerate(seeds):
                member = np.asarray(rates[layer][e], dtype=float)
                if np.isfinite(member[:n_dim]).all():
                    self._dimensionality(out, j, e, member[:n_dim], member_seed, layer, t)
                pattern = _finite_rdm(member[n_dim:])
                if pattern is not None:
                    out["spearman_mit"][e, j] = compare_rdms(pattern, self.monkey_rdm)
                    out["spearman_hit"][e, j] = np.mean([compare_rdms(pattern, h) for h in self.human_rdms])
        return out

    def _dimensionality(self, out, j, e, rates, member_seed, layer, t):
        clean = rates[:, self.units(member_seed, layer, rates.shape[1])]
        if not np.ptp(clean, axis=0).any():  # no recorded unit varies across stimuli (e.g. dead ReLUs)
            return
        noisy = add_reliability_noise(clean, reliability=self.reliability, n_repeats=2, seed=self._rng(member_seed, layer, 1, t))
        trial_mean = noisy.mean_responses()
        out["pr_clean"][e, j] = participation_ratio(clean)
        out["pr_naive"][e, j] = participation_ratio(trial_mean)
        # the recorded units are a sample of the layer (correct for it), or the whole layer (nothing to correct)
        sampled = "both" if self.n_units < rates.shape[1] else "stimuli"
        out["pr_corrected"][e, j] = noise_corrected_participation_ratio(noisy, sampled=sampled)
        out["alpha_clean"][e, j] = _exponent(cross_validated_spectrum(clean, clean), self.alpha_ranks)
        out["alpha_naive"][e, j] = _exponent(cross_validated_spectrum(trial_mean, trial_mean), self.alpha_ranks)
        out["alpha_cv"][e, j] = _exponent(cross_validated_spectrum(noisy), self.alpha_ranks)


def study_runs(quick, out_dir, progress):
    """Train every rule of the run (checkpointed in ``out_dir``, so the study's figures share the runs); the context of the analysis.

    Computed once per process for each ``(quick, out_dir)`` and data
    directory (the runs are deterministic: their seeds are fixed), so the
    study's figures run in one process train once; in separate processes
    they share the runs through the checkpoints in ``out_dir``.
    ``study_runs.cache_clear()`` forgets them.

    Returns
    -------
    dict
        ``"cfg"`` (:func:`settings` with ``"quick"``), ``"task"``, ``"dataset"``
        (:class:`~bioplastic.recordings.Kriegeskorte92`), ``"it_inputs"``
        (the 92 images as inputs), ``"human_rdms"``, ``"subjects"``,
        ``"layers"``, ``"layer_names"``, ``"recorder"`` (the
        :class:`LayerGeometry`) and ``"runs"``: per rule ``(network,
        History)``, the History saved as ``out_dir/recordings92_<rule>[_quick]``.
    """
    key = (bool(quick), None if out_dir is None else str(Path(out_dir).resolve()), figure_data_dir())
    if key not in _RUNS:
        if len(_RUNS) >= 2:  # keep the runs of at most two settings in memory
            _RUNS.pop(next(iter(_RUNS)))
        _RUNS[key] = _study_runs(quick, out_dir, progress)
    return _RUNS[key]


#: the contexts :func:`study_runs` computed in this process
_RUNS = {}
study_runs.cache_clear = _RUNS.clear


def _study_runs(quick, out_dir, progress):
    cfg = {**settings(quick), "quick": bool(quick)}
    cifar = task(quick)
    dataset = it_data()
    it_inputs = images_to_inputs(dataset.images, channel_mean=cifar.channel_mean, channel_std=cifar.channel_std, size=32)
    human, subjects = human_subject_rdms(dataset)
    layers, names = hidden_layers(make_network(quick, "sgd"))
    recorder = LayerGeometry(cifar.x_test[:cfg["n_dim_stimuli"]], it_inputs, dataset.monkey_it.condensed, human, layers=layers,
                             n_units=cfg["n_units"], reliability=cfg["reliability"], alpha_ranks=cfg["alpha_ranks"],
                             record_at=cfg["record_epochs"])
    runs = {}
    for rule in cfg["rules"]:
        plasticity, optimiser, homeostasis = make_rule(rule)
        network = make_network(quick, rule)
        key = f"recordings92_{rule}{'_quick' if quick else ''}"
        n_epochs = cfg["n_epochs"][rule]
        history = train(network, plasticity, cifar, n_epochs=n_epochs, learning_rate=cfg["learning_rates"][rule], seeds=cfg["seeds"],
                        batch_size=cfg["batch_size"], loss="cross_entropy", optimiser=optimiser, homeostasis=homeostasis, dtype="float32",
                        progress=progress, callbacks=[recorder], checkpoint=checkpoint_stem(out_dir, key), checkpoint_every=max(1, n_epochs // 20))
        if out_dir is not None:
            history.save(Path(out_dir) / key)
        runs[rule] = (network, history)
    return {"cfg": cfg, "task": cifar, "dataset": dataset, "it_inputs": it_inputs, "human_rdms": human, "subjects": subjects,
            "layers": layers, "layer_names": names, "recorder": recorder, "runs": runs}


def run_config(context):
    """The configuration stored with a figure's results: settings, task, rules, optimisers, recorder."""
    cfg = context["cfg"]
    rules = {}
    for rule in cfg["rules"]:
        plasticity, optimiser, homeostasis = make_rule(rule)
        rules[rule] = {"rule": plasticity.describe(), "optimiser": optimiser if isinstance(optimiser, str) else optimiser.describe(),
                       "homeostasis": None if homeostasis is None else homeostasis.describe(),
                       "decorrelation": context["runs"][rule][0].decorrelated_layers()}
    return to_jsonable({**{k: v for k, v in cfg.items() if k != "quick"}, "task": context["task"].describe(), "rules_used": rules,
                        "layers": context["layers"], "layer_names": context["layer_names"], "subjects": context["subjects"],
                        "loss": "cross_entropy", "dtype": "float32", "np_sigma": NP_SIGMA, "danp_sigma": DANP_SIGMA,
                        "it_inputs": "the 92 images resized to 32x32 by area averaging, scaled to [0, 1] and standardised per channel "
                                     "with the CIFAR-10 training statistics of the run (images_to_inputs)"})


def run_details(results, specifics):
    """The details line of a figure of the study: its CIFAR-10 task (sizes, provenance), ``specifics``, then the mode.

    Parameters
    ----------
    results : FigureResults
        Results of a figure of the study, with the task's description under ``config["task"]``.
    specifics : str
        What the figure itself says of its measurements.

    Returns
    -------
    str
        E.g. ``"CIFAR-10 (2,000 / 500 images, offline JPEG-lossy subset); <specifics>; quick run"`` (or ``full run``).
    """
    task = results.metadata["config"]["task"]
    source = "offline JPEG-lossy subset" if task.get("provenance") == "lossy_subset" else task.get("provenance", "source not stated")
    mode = "quick run" if results.metadata.get("quick") else "full run"
    return f"CIFAR-10 ({task['n_train']:,} / {task['n_test']:,} images, {source}); {specifics}; {mode}"


def study_results(name, quick, config, arrays, summary):
    """The :class:`~bioplastic.figures.FigureResults` of a figure of the study: metadata ``figure``, ``quick``, ``config``, ``summary``."""
    return FigureResults(arrays, {"figure": name, "quick": bool(quick), "config": config, "summary": summary})


def seed_mean(values):
    """Mean over seeds (rows of ``values``) of the members where the value is defined, per column.

    A member's value is undefined (NaN) where its layer is silent on the
    stimuli (a constant pattern has no RDM and no spectrum); such members
    are left out, and a column where no member is defined is NaN.
    :func:`measured_members` counts the members each mean is over.

    Parameters
    ----------
    values : array_like of shape (n_seeds, ...)

    Returns
    -------
    ndarray of shape values.shape[1:]
    """
    values = np.asarray(values, dtype=float)
    finite = np.isfinite(values)
    count = finite.sum(axis=0)
    total = np.where(finite, values, 0.0).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def measured_members(values):
    """How many members (rows of ``values``) have a defined (finite) value, per column: ``ndarray of int``."""
    return np.isfinite(np.asarray(values, dtype=float)).sum(axis=0)


def bracket_differences(final, reference, records, *, n_bootstrap, confidence):
    """Seed-paired differences ``final - reference[:, k]`` for each record ``k`` of ``records``, with bootstrap intervals over seeds.

    Parameters
    ----------
    final : array_like of shape (n_seeds, n_layers)
        A rule's values at its last record.
    reference : array_like of shape (n_seeds, n_records, n_layers)
        SGD's values at its records (the same seeds, in the same order).
    records : sequence of int
        Record positions of ``reference``, e.g. the two of :func:`bracketing_records`.
    n_bootstrap : int
    confidence : float

    Returns
    -------
    means : list of list of float
        One list per record (:func:`seed_mean` of the differences, per layer).
    intervals : list of [low, high]
        One per record (:func:`seed_interval`), each a pair of per-layer lists.
    """
    final, reference = np.asarray(final, dtype=float), np.asarray(reference, dtype=float)
    means, intervals = [], []
    for k in records:
        difference = final - reference[:, k]
        low, high = seed_interval(difference, n_bootstrap=n_bootstrap, confidence=confidence)
        means.append(seed_mean(difference).tolist())
        intervals.append([low.tolist(), high.tolist()])
    return means, intervals


def bracketing_records(reference_accuracy, target):
    """The two records of SGD's run whose mean test accuracies bracket ``target``, in training order.

    ``(k - 1, k)`` with ``k`` the first record whose mean accuracy over
    members exceeds ``target``; ``(0, 0)`` where the first record already
    does, ``(n - 1, n - 1)`` where none does. A rule's final state is at
    "similar error" to SGD somewhere between the two, so a difference
    that keeps its sign at both holds at the matched accuracy whatever
    SGD does in between.

    Parameters
    ----------
    reference_accuracy : array_like of shape (n_members, n_records)
    target : float

    Returns
    -------
    (int, int)
    """
    with np.errstate(invalid="ignore"):
        mean = np.nanmean(np.asarray(reference_accuracy, dtype=float), axis=0)
    above = np.flatnonzero(mean > target)
    if len(above) == 0:
        return len(mean) - 1, len(mean) - 1
    k = int(above[0])
    return (k - 1, k) if k > 0 else (0, 0)


def seed_interval(values, *, n_bootstrap, confidence, seed=0):
    """Percentile bootstrap interval of the mean over seeds (rows of ``values``, resampled with replacement), per column.

    Members whose value is undefined (NaN, a silent layer) are left out of
    the resampling of their column, as in :func:`seed_mean`; a column with no
    defined member gets a NaN interval.

    Parameters
    ----------
    values : array_like of shape (n_seeds, ...)
    n_bootstrap : int
    confidence : float
    seed : int

    Returns
    -------
    low, high : ndarray of shape values.shape[1:]
    """
    values = np.asarray(values, dtype=float)
    flat = values.reshape(len(values), -1)
    low, high = np.full(flat.shape[1], np.nan), np.full(flat.shape[1], np.nan)
    for c, stream in enumerate(np.random.SeedSequence(seed).spawn(flat.shape[1])):  # one stream per column
        rng = np.random.default_rng(stream)
        column = flat[np.isfinite(flat[:, c]), c]
        if len(column) == 0:
            continue
        draws = np.array([column[rng.integers(0, len(column), len(column))].mean() for _ in range(n_bootstrap)])
        low[c], high[c] = np.quantile(draws, [(1 - confidence) / 2, (1 + confidence) / 2])
    return low.reshape(values.shape[1:]), high.reshape(values.shape[1:])
