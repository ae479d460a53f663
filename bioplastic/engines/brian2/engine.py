"""The Brian2 engine: :class:`Brian2Engine` (parameters, weights, trials, evaluation, training)."""

from __future__ import annotations

import math

import numpy as np

from ..._random import member_streams
from ..._threads import blas_limit, blas_threads, usable_cpus
from ..._validation import check_choice, check_finite_array, check_fraction, check_positive, check_positive_int, check_seed
from ...homeostasis import SynapticScaling
from ...losses import SquaredError, get_loss
from ...network import Network, NetworkState
from ...ops import is_conv
from ...plasticity.base import PlasticityRule, Updates
from ..numpy import forward, predict
from ._runtime import TARGETS, import_brian2, quiet
from .neuromodulation import BASELINES
from .populations import ACTIVATION_CODE, NOISE_KINDS
from .projections import ELIGIBILITIES, eligibility_time
from .simulation import Simulation
from .training import train_engine

__all__ = ["Brian2Engine"]


def _seconds(value, name):
    """A positive duration in seconds, from a number (seconds) or a Brian2 quantity of time."""
    if hasattr(value, "dim"):  # a Brian2 Quantity
        b2 = import_brian2()
        if not b2.have_same_dimensions(value, b2.second):
            raise ValueError(f"{name} should be a time (seconds), got {value!r}")
        value = float(value / b2.second)
    elif isinstance(value, np.ndarray) and value.shape == ():
        value = value.item()
    return check_positive(value, name)


def _optional_seconds(value, name, *, applies, default, applies_to, setting):
    """A duration that applies only to one setting: ``default`` when not given, ``None`` (and not given) under another.

    ``applies`` says whether it applies; ``applies_to`` and ``setting`` (say
    ``"noise='ou'"`` and ``"noise='white'"``) name the setting it applies to
    and the one chosen, for the message.
    """
    if not applies:
        if value is not None:
            raise ValueError(f"{name} applies to {applies_to} only, got {name}={value!r} with {setting}")
        return None
    return default if value is None else _seconds(value, name)


def _steps(duration, dt, name):
    """``duration / dt`` as an integer, requiring a whole number of time steps."""
    steps = duration / dt
    whole = round(steps)
    if abs(steps - whole) > 1e-6 * max(1.0, steps):
        raise ValueError(f"{name} ({duration!r} s) should be a whole number of time steps dt={dt!r} s, got {steps:.6g} steps")
    return int(whole)


class Brian2Engine:
    """Node perturbation in continuous time, simulated with Brian2.

    The engine runs the rules named in :attr:`rules` (node perturbation);
    others are refused with an error naming them.

    Parameters
    ----------
    network : Network
        Populations (activations linear, relu, tanh or sigmoid; a softmax
        readout is not supported) and projections.
    rule : NodePerturbation
        A rule named in :attr:`rules`. Its noise needs
        (:meth:`~bioplastic.plasticity.PlasticityRule.noise_needs`) say which
        populations are perturbed; it gives the default noise amplitude
        (``rule.sigma``) and baseline (``rule.neuromodulator``).
    loss : str or SquaredError, default "squared_error"
        ``L = scale sum_i (y_i - y*_i)**2`` (``scale = 1/2``: the paper's convention).
    homeostasis : SynapticScaling, optional
        Synaptic scaling after every trial's update.
    tau : float or brian2 Quantity, default 1e-3
        Membrane time constant (seconds, > 0).
    dt : float or brian2 Quantity, default 2.5e-4
        Integration time step (seconds).
    trial_duration : float or brian2 Quantity, default 1e-2
        Length of one trial (seconds; a whole number of ``dt``, at least ``dt``).
    readout_window : float or brian2 Quantity, optional
        Last part of the trial over which loss and eligibility are integrated
        (seconds; default half the trial).
    noise : {"white", "ou"}, default "white"
        White noise current or Ornstein-Uhlenbeck noise current (see the module notes).
    noise_tau : float or brian2 Quantity, optional
        Correlation time of the OU noise (default ``2 * tau``); only for ``noise="ou"``.
    sigma : float, optional
        Stationary standard deviation of the noise (default ``rule.sigma``),
        independent of ``dt``; the numpy engine's ``sigma``.
    baseline : {"clean", "running_average"}, optional
        Baseline of the reward prediction error (default ``rule.neuromodulator.baseline``).
        The running average needs no second network but predicts the loss of
        every sample by the same number: the spread of losses across samples,
        divided by ``sigma``, enters ``M`` as noise, so use a larger ``sigma``
        (e.g. 0.3 on the student-teacher task) or repeated samples.
    baseline_decay : float in (0, 1), optional
        Per-trial decay of the running average (default ``rule.neuromodulator.decay``).
    eligibility : {"noise", "activity_deviation"}, default "noise"
        Postsynaptic factor of the eligibility trace.
    mean_tau : float or brian2 Quantity, optional
        Time constant of the activity trace of ``activity_deviation`` (default ``tau``).
    learning_rate : float, default 1e-2
        ``eta``: the expected update is ``-eta dL/dw`` per trial.
    target : {"numpy", "cython"}, default "numpy"
        Brian2 code-generation target.
    seed : int, default 0
        Initial weights (identical to the numpy engine's member with this
        seed), noise and the training-sample order come from independent
        children of ``SeedSequence(seed)``.
    chunk_trials : int, default 200
        Trials per Brian2 ``run()`` (bounds the memory of the noise arrays:
        ``chunk_trials * steps_per_trial * n_noisy_neurons`` floats).
    cache_dir : str or path, optional
        Cython compile cache (Brian2's default: ``~/.cython/brian_extensions``).

    Attributes
    ----------
    rules : tuple of str
        Names of the rules the engine runs (class attribute).
    state_ : NetworkState
        Current weights (one member).
    steps_per_trial_, window_steps_ : int
    correlation_time_ : float
        Noise correlation time ``tau_c`` (``noise_tau`` or ``tau``), seconds.
    eligibility_time_ : float
        Normalisation ``K`` (seconds), see :func:`eligibility_time`.
    noise_intensity_ : float
        ``sigma * sqrt(2 tau_c)``: the white-noise intensity (``sqrt(second)``).
    scaling_targets_ : list of (ndarray of shape (1, n_post) or None)
    noisy_, learns_, scaled_ : list of bool
        Per projection: whether its postsynaptic population is perturbed,
        whether the projection learns, whether synaptic scaling acts on it.
    trials_ : int
        Trials simulated so far.
    """

    rules = ("node_perturbation",)
    #: dtype of the weights and of evaluation.
    dtype = np.dtype(np.float64)

    def __init__(self, network, rule, *, loss="squared_error", homeostasis=None, tau=1e-3, dt=2.5e-4, trial_duration=1e-2,
                 readout_window=None, noise="white", noise_tau=None, sigma=None, baseline=None, baseline_decay=None,
                 eligibility="noise", mean_tau=None, learning_rate=1e-2, target="numpy", seed=0, chunk_trials=200,
                 cache_dir=None):
        if not isinstance(network, Network):
            raise TypeError(f"network should be a Network, got {network!r}")
        if any(is_conv(p) for p in network.projections):
            raise ValueError(f"the Brian2 engine runs all-to-all projections, got a convolutional one in {network!r}; "
                             "the numpy engine runs them")
        if network.decorrelation is not None:
            raise ValueError(f"the Brian2 engine runs networks without lateral decorrelation, got {network!r}; "
                             "the numpy engine runs them")
        self._check_rule(rule)
        if homeostasis is not None and not isinstance(homeostasis, SynapticScaling):
            raise TypeError(f"homeostasis should be a SynapticScaling or None, got {homeostasis!r}")
        self.network = network
        self.rule = rule
        self.loss = loss
        self.homeostasis = homeostasis
        self.tau = tau
        self.dt = dt
        self.trial_duration = trial_duration
        self.readout_window = readout_window
        self.noise = noise
        self.noise_tau = noise_tau
        self.sigma = sigma
        self.baseline = baseline
        self.baseline_decay = baseline_decay
        self.eligibility = eligibility
        self.mean_tau = mean_tau
        self.learning_rate = learning_rate
        self.target = target
        self.seed = seed
        self.chunk_trials = chunk_trials
        self.cache_dir = cache_dir

        self.loss_ = get_loss(loss)
        if not isinstance(self.loss_, SquaredError):
            raise ValueError(f"the Brian2 engine supports the squared-error loss only, got {self.loss_!r}")
        for k, act in enumerate(network.activations):
            if act.name not in ACTIVATION_CODE:
                raise ValueError(
                    f"population {k + 1} has activation {act.name!r}, which the Brian2 engine does not support; "
                    f"expected one of {', '.join(repr(a) for a in ACTIVATION_CODE)}"
                )
        self.tau_ = _seconds(tau, "tau")
        self.dt_ = _seconds(dt, "dt")
        self.trial_duration_ = _seconds(trial_duration, "trial_duration")
        if self.trial_duration_ < self.dt_ * (1 - 1e-9):
            raise ValueError(f"trial_duration ({self.trial_duration_!r} s) is shorter than dt ({self.dt_!r} s)")
        self.steps_per_trial_ = _steps(self.trial_duration_, self.dt_, "trial_duration")
        window = self.trial_duration_ / 2 if readout_window is None else _seconds(readout_window, "readout_window")
        if window > self.trial_duration_ * (1 + 1e-9):
            raise ValueError(f"readout_window ({window!r} s) is longer than trial_duration ({self.trial_duration_!r} s)")
        if window < self.dt_ * (1 - 1e-9):
            raise ValueError(f"readout_window ({window!r} s) is shorter than dt ({self.dt_!r} s)")
        self.window_steps_ = _steps(window, self.dt_, "readout_window")
        self.readout_window_ = self.window_steps_ * self.dt_
        self.settle_steps_ = self.steps_per_trial_ - self.window_steps_
        self.noise_ = check_choice(noise, "noise", NOISE_KINDS)
        self.noise_tau_ = _optional_seconds(noise_tau, "noise_tau", applies=self.noise_ == "ou", default=2 * self.tau_,
                                            applies_to="noise='ou'", setting=f"noise={self.noise_!r}")
        self.correlation_time_ = self.tau_ if self.noise_tau_ is None else self.noise_tau_
        self.sigma_ = check_positive(rule.sigma if sigma is None else sigma, "sigma")
        self.noise_intensity_ = self.sigma_ * math.sqrt(2 * self.correlation_time_)
        self.baseline_ = check_choice(rule.neuromodulator.baseline if baseline is None else baseline, "baseline", BASELINES)
        self.baseline_decay_ = check_fraction(rule.neuromodulator.decay if baseline_decay is None else baseline_decay,
                                              "baseline_decay")
        self.eligibility_ = check_choice(eligibility, "eligibility", ELIGIBILITIES)
        self.mean_tau_ = _optional_seconds(mean_tau, "mean_tau", applies=self.eligibility_ == "activity_deviation", default=self.tau_,
                                           applies_to="eligibility='activity_deviation'",
                                           setting=f"eligibility={self.eligibility_!r}")
        self.eligibility_time_ = eligibility_time(self.correlation_time_, self.readout_window_, self.dt_, mean_tau=self.mean_tau_)
        if self.eligibility_time_ <= 0:
            raise ValueError(
                f"the eligibility normalisation K={self.eligibility_time_!r} s is not positive: mean_tau "
                f"({self.mean_tau_!r} s) is too short for the noise correlation time ({self.correlation_time_!r} s)"
            )
        self.learning_rate_ = check_positive(learning_rate, "learning_rate")
        self.target_ = check_choice(target, "target", TARGETS)
        check_seed(seed, "seed")
        self.chunk_trials_ = check_positive_int(chunk_trials, "chunk_trials")

        self.noisy_ = list(rule.noise_needs(network).population)
        if not any(self.noisy_):
            raise ValueError(f"{rule!r} needs intrinsic noise but no perturbed population of {network!r} has noise")
        self.learns_ = [self.noisy_[k] and proj.plastic for k, proj in enumerate(network.projections)]
        self.scaled_ = [False] * network.n_layers if homeostasis is None else homeostasis.layer_mask(network)

        init_rng, _ = member_streams(int(seed))
        # one noise stream per population (children of the member's noise stream), so that the
        # noise does not depend on how trials are split into runs
        self._noise_rngs = [np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=(1, k)))
                            for k in range(len(network.populations))]
        self._data_rng = np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=(2,)))
        self.state_ = network.init_state(rngs=[init_rng], dtype=np.float64)
        self.scaling_targets_ = None if homeostasis is None else homeostasis.initial_targets(network, self.state_)
        self.trials_ = 0
        self._sim = None

    @classmethod
    def _check_rule(cls, rule):
        """Refuse a rule this engine does not run (naming it and the rules it runs)."""
        runs = ", ".join(repr(name) for name in cls.rules)
        if not isinstance(rule, PlasticityRule):
            raise TypeError(f"rule should be a PlasticityRule that the Brian2 engine runs ({runs}), got {rule!r}")
        if rule.name not in cls.rules:
            raise ValueError(f"the Brian2 engine does not run rule {rule.name!r} ({type(rule).__name__}); it runs {runs}")
        if getattr(rule, "n_samples", 1) != 1 or not getattr(rule, "clean_pass", True) or getattr(rule, "noise", None) is not None:
            raise ValueError(f"the Brian2 engine runs {type(rule).__name__} with one noise draw per trial, a clean pass and its own "
                             f"noise process, got {rule!r}")

    # ------------------------------------------------------------------ weights
    def get_weights(self):
        """Current weights and biases, a one-member :class:`NetworkState` (a copy)."""
        return self.state_.copy()

    def set_weights(self, state, *, member=0):
        """Load weights, e.g. from the numpy engine (``engine.state_`` or ``history.final_state_``).

        Parameters
        ----------
        state : NetworkState
            Weights of shape ``(n_members, n_post, n_pre)`` per layer.
        member : int, default 0
            Which ensemble member to load.

        Notes
        -----
        Synaptic-scaling targets (:attr:`scaling_targets_`) are kept; set
        them explicitly to continue a run with other targets.
        """
        if not isinstance(state, NetworkState):
            raise TypeError(f"state should be a NetworkState, got {state!r}")
        if len(state.weights) != self.network.n_layers:
            raise ValueError(f"state has {len(state.weights)} layers but the network has {self.network.n_layers}")
        member = check_positive_int(member, "member", minimum=0)
        if member >= state.n_members:
            raise ValueError(f"member {member} out of range for a state with {state.n_members} members")
        weights, biases = [], []
        for k, proj in enumerate(self.network.projections):
            w = np.asarray(state.weights[k][member], dtype=np.float64)
            if w.shape != proj.shape:
                raise ValueError(f"state weights[{k}] have shape {w.shape} per member, expected {proj.shape}")
            weights.append(check_finite_array(w, f"weights[{k}]")[None].copy())
            b = state.biases[k]
            if proj.bias:
                if b is None:
                    raise ValueError(f"projection {k} has a bias but state.biases[{k}] is None")
                biases.append(check_finite_array(np.asarray(b[member], dtype=np.float64), f"biases[{k}]")[None].copy())
            else:
                biases.append(None)
        self.state_ = NetworkState(weights, biases)
        if self._sim is not None:
            self._sim.write_weights(self.state_)

    @property
    def reward_baseline_(self):
        """Current running-average baseline (window-averaged loss); ``None`` for the clean baseline or before any trial."""
        if self.baseline_ != "running_average" or self._sim is None:
            return None
        return self._sim.running_baseline()

    def predict(self, x, *, batch_size=None):
        """Steady-state outputs of the clean dynamics (the numpy engine's evaluation), shape ``(1, n_samples, n_out)``."""
        x = check_finite_array(x, "x", ndim=2, dtype=np.float64)
        widths = [p.n_neurons for p in self.network.populations]
        chunk = min(len(x), batch_size or max(16, 2**16 // max(widths[1:])))
        flops = 2.0 * chunk * max(a * b for a, b in zip(widths[:-1], widths[1:], strict=True))
        with blas_limit(blas_threads(flops, usable_cpus() - 1)):  # the numpy engine's policy (bioplastic._threads)
            return predict(self.network, self.state_, x, chunk_size=batch_size)

    # ------------------------------------------------------------------ simulation
    def _check_samples(self, x, target):
        x = check_finite_array(x, "x", ndim=2, dtype=np.float64)
        target = check_finite_array(target, "target", ndim=2, dtype=np.float64)
        if x.shape[1] != self.network.n_inputs:
            raise ValueError(f"x has {x.shape[1]} features but the network has {self.network.n_inputs} inputs")
        if target.shape[1] != self.network.n_outputs:
            raise ValueError(f"target has {target.shape[1]} outputs but the network has {self.network.n_outputs}")
        if len(x) != len(target):
            raise ValueError(f"x has {len(x)} samples but target has {len(target)}")
        if len(x) < 1:
            raise ValueError("x should hold at least one sample, got 0")
        return x, target

    def _simulation(self):
        if self._sim is None:
            with quiet():
                self._sim = Simulation(self)
        return self._sim

    def _run(self, x, target, *, learn, record=None):
        """Run one trial per row of ``x`` (in order); returns the per-trial monitor data and the record."""
        sim = self._simulation()
        return sim.run(x, target, learn=learn, record=record)

    def run_trials(self, x, target, *, learn=True, record=False, record_synapses=8):
        """Run one trial per sample, in order.

        Parameters
        ----------
        x : ndarray of shape (n_trials, n_inputs)
        target : ndarray of shape (n_trials, n_outputs)
        learn : bool, default True
            Apply the three-factor updates (and synaptic scaling); with
            ``False`` the weights stay fixed.
        record : bool, default False
            Record every time step (rates, noise, eligibility and weights of
            ``record_synapses`` synapses per projection, the neuromodulator).
            Meant for a few trials.
        record_synapses : int, default 8

        Returns
        -------
        TrialRecord
            With ``record=False`` only the per-trial fields (``trial_loss``,
            ``trial_modulator``) are filled.
        """
        x, target = self._check_samples(x, target)
        record_synapses = check_positive_int(record_synapses, "record_synapses")
        if not isinstance(learn, bool):
            raise TypeError(f"learn should be True or False, got {learn!r}")
        return self._run(x, target, learn=learn, record=record_synapses if record else None)

    def mean_update(self, x, target, n_trials):
        """Average update per trial at fixed weights (nothing is applied).

        Trials cycle through the samples in order (trial ``j`` uses sample
        ``j mod len(x)``); use a multiple of ``len(x)`` trials to weight the
        samples equally.

        Parameters
        ----------
        x : ndarray of shape (n_samples, n_inputs)
        target : ndarray of shape (n_samples, n_outputs)
        n_trials : int

        Returns
        -------
        Updates
            ``weights[k]`` of shape ``(1, n_post, n_pre)`` and ``biases[k]``
            of shape ``(1, n_post)`` (``None`` for layers that do not learn),
            already multiplied by the learning rate, like the numpy engine's
            rules; ``activity`` is the clean forward pass of ``x``.
        """
        x, target = self._check_samples(x, target)
        n_trials = check_positive_int(n_trials, "n_trials")
        order = np.arange(n_trials) % len(x)
        sim = self._simulation()
        sim.reset_update_sums()
        self._run(x[order], target[order], learn=False)
        weights, biases = sim.read_update_sums(n_trials)
        return Updates(weights, biases, forward(self.network, self.state_, x))

    def train(self, task, n_trials, *, eval_every=None, progress=False, divergence_factor=1e3):
        """Learn a task online, one training sample per trial, in the training loop of every engine.

        Parameters
        ----------
        task : Task
        n_trials : int
        eval_every : int, optional
            Evaluate train/test error every ``eval_every`` trials (default:
            ten evaluations).
        progress : bool, default False
        divergence_factor : float or None, default 1e3
            Training stops learning (the weights are put back to those of the
            last good evaluation and frozen, the trial flagged in
            ``diverged_epoch``) when the training error becomes non-finite or
            exceeds this factor times its initial value, or the weights become
            non-finite (see :func:`bioplastic.training.run_ensemble`).

        Returns
        -------
        History
            ``epochs`` counts trials since the engine was built
            (``config["epoch_unit"] == "trials"``); records as in
            :func:`bioplastic.train` (one member), errors from the steady state
            of the clean dynamics (:meth:`predict`). ``trial_loss_`` holds the
            noisy window-averaged loss of every trial simulated (none after a
            divergence).
        """
        return train_engine(self, task, n_trials, eval_every=eval_every, progress=progress, divergence_factor=divergence_factor)

    def describe(self):
        """JSON-serialisable engine parameters (times in seconds)."""
        return {
            "tau": self.tau_,
            "dt": self.dt_,
            "trial_duration": self.trial_duration_,
            "readout_window": self.readout_window_,
            "noise": self.noise_,
            "noise_tau": self.noise_tau_,
            "sigma": self.sigma_,
            "baseline": self.baseline_,
            "baseline_decay": self.baseline_decay_,
            "eligibility": self.eligibility_,
            "mean_tau": self.mean_tau_,
            "eligibility_time": self.eligibility_time_,
            "learning_rate": self.learning_rate_,
            "target": self.target_,
            "seed": int(self.seed),
            "chunk_trials": self.chunk_trials_,
        }

    def __repr__(self):
        return (f"Brian2Engine({self.network!r}, noise={self.noise_!r}, baseline={self.baseline_!r}, "
                f"eligibility={self.eligibility_!r}, target={self.target_!r})")
