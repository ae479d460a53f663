"""Continuous-time Brian2 engine: rate populations, intrinsic noise, eligibility traces, a broadcast neuromodulator.

The same :class:`~bioplastic.network.Network` / :class:`~bioplastic.plasticity.NodePerturbation`
/ :class:`~bioplastic.homeostasis.SynapticScaling` description that the numpy
engine runs in discrete time runs here as a dynamical system in
`Brian2 <https://brian2.readthedocs.io>`_ (imported lazily, only when a
simulation is built).

Model
-----
Every non-input population ``k`` is a ``NeuronGroup`` of rate units

    tau du/dt = -u + I_syn + b + eta_cur(t),     r = f(v),

with ``I_syn = sum_j w_ij r_j`` a summed synaptic current (``Synapses`` with a
``(summed)`` variable), ``b`` the bias and ``f`` the population's activation.
Intrinsic noise is the perturbation; its amplitude ``sigma`` is the
stationary standard deviation of the noise, a dt-independent number in the
units of the summed input (the numpy engine's ``sigma``):

* ``noise="ou"``: an Ornstein-Uhlenbeck noise current
  ``noise_tau dn/dt = -n + sigma sqrt(2 noise_tau) xi(t)`` enters the membrane
  (``eta_cur = n``, ``v = u``). For ``tau << noise_tau`` the membrane follows
  it, ``v ~ u_clean + n``.
* ``noise="white"``: a white noise current,
  ``tau dv/dt = -v + I_syn + b + sigma sqrt(2 tau) xi(t)``; its effect on the
  membrane, ``n = v - u`` (an OU process with time constant ``tau``), has
  stationary standard deviation ``sigma``. In Brian2 notation the noise term
  is ``sigma*sqrt(2*tau)*xi`` with ``xi`` in ``second**-0.5``
  (:attr:`Brian2Engine.noise_intensity_`, in ``sqrt(second)``).

In both cases the noise variable ``n`` is advanced with the exact OU update
``n <- exp(-dt/tau_c) n + sigma sqrt(1 - exp(-2 dt/tau_c)) z`` (``tau_c`` the
noise correlation time, ``z`` standard normal), so its variance is ``sigma**2``
for every ``dt``; membrane potentials use the exponential (exact for inputs
held over a step) update. The standard normals come from the engine's own
:class:`numpy.random.Generator` (the package's randomness policy; Brian2's
``randn``/``xi`` would use numpy's global state) and enter through a
``TimedArray``, so numpy and cython code-generation targets see the same noise.

Trials, eligibility and neuromodulator
--------------------------------------
A trial lasts ``trial_duration``: the input population is clamped to one
sample, the network settles for ``trial_duration - readout_window``, then
during the readout window

* every plastic synapse integrates its eligibility
  ``e_ij = (1/sigma) int_window p_i(t) r_j(t) dt`` (seconds), where the
  postsynaptic factor ``p_i`` is its neuron's noise ``n_i``
  (``eligibility="noise"``) or, when the noise is not accessible to the
  synapse, the deviation of the postsynaptic rate from its own recent mean,
  ``r_i - rbar_i`` (``eligibility="activity_deviation"``; ``rbar`` is a trace
  with time constant ``mean_tau`` that tracks the rate during the settling
  phase and holds during the window);
* a one-neuron *modulator* group integrates the loss of the output rates,
  ``L(t) = scale sum_i (r_i - y*_i)**2`` (summed variable), averaged over the
  window.

At the end of each trial the modulator broadcasts one shared value,

    M = -(Lbar - baseline) / sigma,

where the baseline is the loss of a noise-free copy of the network run side by
side in the same neurons (``baseline="clean"``; the loss *difference* is
integrated directly, without cancellation) or a running average of recent
trials' losses (``baseline="running_average"``, the biological reward
prediction). Every synapse then changes by the three-factor rule

    dw_ij = (learning_rate / K) * M * e_ij,

biases likewise with ``r_j = 1``, and resets its trace. ``K`` (seconds,
:attr:`Brian2Engine.eligibility_time_`) is the window-integrated noise
autocorrelation, ``K = (1/T_w) int int rho(t - s) ds dt``; dividing by it makes
``E[dw] = -learning_rate dL/dw`` to leading order in ``sigma`` and
``tau / readout_window``, the numpy engine's expected NP step with batch size 1
(for ``activity_deviation`` the postsynaptic gain ``f'(h_i)`` multiplies the
gradient, which changes nothing for linear and ReLU units; a neuron's rate
deviation also carries the noise of perturbed upstream neurons, which
enlarges the steps of downstream layers: each layer still moves along its
own gradient, but the layers' relative step sizes differ from the gradient's).
The activity-deviation trace needs a settled network: the settling phase
should last several ``mean_tau`` and several ``tau`` per layer, and ``sigma``
should be large compared with what remains of the transient. Synaptic scaling
then rescales each neuron's incoming weights to their target RMS
(``run_regularly``).

All of this happens inside Brian2: inputs and targets switch with
``TimedArray`` lookups in ``run_regularly`` operations, and the trial-end
updates are ``run_regularly`` operations with ``dt = trial_duration``; one
``run()`` covers up to ``chunk_trials`` trials.

Code generation and the compile cache
-------------------------------------
``target="numpy"`` needs no compiler. ``target="cython"`` compiles each code
object once (tens of seconds for a whole network on first use) and caches the
extension modules in Brian2's cache directory, ``~/.cython/brian_extensions``
by default (Brian2 preference ``codegen.runtime.cython.cache_dir``; pass
``cache_dir=`` to use another one, delete it to force a rebuild). Object names
and array shapes are fixed per engine configuration, so later runs, engines and
processes with the same configuration reuse the cache. Preferences are set
only for the duration of each run and restored afterwards.

Relation to the numpy engine
----------------------------
The fixed point of the clean dynamics is the numpy engine's forward pass
(:meth:`Brian2Engine.predict` uses it for evaluation); initial weights for
``seed=s`` equal those of the numpy engine's member with seed ``s``; weights
move between engines with :meth:`Brian2Engine.get_weights` /
:meth:`Brian2Engine.set_weights`.
"""

from __future__ import annotations

import contextlib
import math
import numbers
import warnings

import numpy as np

from .._random import member_streams
from .._threads import blas_limit, blas_threads, usable_cpus
from .._validation import check_choice, check_finite_array, check_fraction, check_positive, check_positive_int
from ..homeostasis import SynapticScaling
from ..losses import SquaredError, get_loss, squared_error
from ..network import Network, NetworkState
from ..plasticity.base import Updates
from ..plasticity.node_perturbation import NodePerturbation
from .numpy import forward, predict

__all__ = [
    "BASELINES",
    "ELIGIBILITIES",
    "NOISE_KINDS",
    "TARGETS",
    "Brian2Engine",
    "TrialRecord",
    "eligibility_time",
]

NOISE_KINDS = ("ou", "white")
BASELINES = ("clean", "running_average")
ELIGIBILITIES = ("noise", "activity_deviation")
TARGETS = ("numpy", "cython")

# Brian2 expressions of the supported activations (``{x}`` is the membrane potential).
_ACTIVATION_CODE = {
    "linear": "{x}",
    "relu": "clip({x}, 0, inf)",
    "tanh": "tanh({x})",
    "sigmoid": "0.5*(1 + tanh(0.5*{x}))",
}
_NAME = "bioplastic"


@contextlib.contextmanager
def _brian2_quiet():
    """Silence the deprecation warnings Brian2's parser triggers in newer pyparsing versions (only those)."""
    with warnings.catch_warnings():
        try:
            from pyparsing.warnings import PyparsingDeprecationWarning
        except ImportError:  # pragma: no cover - older pyparsing issues none
            pass
        else:
            warnings.filterwarnings("ignore", category=PyparsingDeprecationWarning)
        yield


def _import_brian2():
    try:
        with _brian2_quiet():
            import brian2
    except ImportError as error:  # pragma: no cover - brian2 is a core dependency
        raise ImportError("the Brian2 engine needs Brian2: pip install brian2 (and cython for target='cython')") from error
    return brian2


def _seconds(value, name):
    """A positive duration in seconds, from a number (seconds) or a Brian2 quantity of time."""
    if hasattr(value, "dim"):  # a Brian2 Quantity
        b2 = _import_brian2()
        if not b2.have_same_dimensions(value, b2.second):
            raise ValueError(f"{name} should be a time (seconds), got {value!r}")
        value = float(value / b2.second)
    elif isinstance(value, np.ndarray) and value.shape == ():
        value = value.item()
    return check_positive(value, name)


def _steps(duration, dt, name):
    """``duration / dt`` as an integer, requiring a whole number of time steps."""
    steps = duration / dt
    whole = round(steps)
    if abs(steps - whole) > 1e-6 * max(1.0, steps):
        raise ValueError(f"{name} ({duration!r} s) should be a whole number of time steps dt={dt!r} s, got {steps:.6g} steps")
    return int(whole)


def eligibility_time(correlation_time, window, dt, *, mean_tau=None):
    """Window-integrated noise autocorrelation ``K`` that normalises the update (seconds).

    For a discretised OU noise with correlation time ``tau_c`` (per-step
    autocorrelation ``a = exp(-dt / tau_c)``) sampled on ``m = window / dt``
    steps,

        K = (dt / m) sum_{k, l < m} a**|k - l|
          = (dt / m) [m (1 + a) / (1 - a) - 2 a (1 - a**m) / (1 - a)**2],

    which tends to ``2 tau_c [1 - (tau_c / T_w)(1 - exp(-T_w / tau_c))]`` for
    small ``dt``. With ``mean_tau`` (activity-deviation eligibility) the
    correlation between the window's noise and the held mean, which is
    subtracted, ``tau_c**2 (1 - exp(-T_w / tau_c)) / (tau_c + mean_tau)``, is
    removed.

    Parameters
    ----------
    correlation_time, window, dt : float
        Noise correlation time, readout window and time step, in seconds.
    mean_tau : float, optional
        Time constant of the activity trace (seconds).

    Returns
    -------
    float
        ``K`` in seconds; ``E[M e_ij] = -K dL/dw_ij`` to leading order.
    """
    a = math.exp(-dt / correlation_time)
    m = round(window / dt)
    total = m * (1 + a) / (1 - a) - 2 * a * (1 - a**m) / (1 - a) ** 2
    k = dt * total / m
    if mean_tau is not None:
        k -= correlation_time**2 * (1 - math.exp(-window / correlation_time)) / (correlation_time + mean_tau)
    return k


class TrialRecord:
    """Time courses of a few trials (what :meth:`Brian2Engine.run_trials` records).

    All time courses are sampled at the end of every time step.

    Attributes
    ----------
    t : ndarray of shape (n_steps,)
        Time since the first recorded trial started (seconds).
    trial_duration, readout_window : float
        Seconds; trial ``k`` spans ``[k T, (k + 1) T)`` and its window is the
        last ``readout_window`` of it.
    rates : list of ndarray of shape (n_steps, n_k)
        Rates of the noisy network, one per population (index 0: input).
    clean_rates : list of (ndarray of shape (n_steps, n_k) or None)
        Rates of the noise-free copy (``baseline="clean"``), ``None`` otherwise
        and for the input.
    noise : list of (ndarray of shape (n_steps, n_k) or None)
        Noise variable ``n`` of each population (``None`` where not perturbed).
    eligibility : list of (ndarray of shape (n_steps, n_recorded) or None)
        Eligibility traces (seconds) of the recorded synapses of each projection.
    weights : list of ndarray of shape (n_steps, n_recorded)
        Weights of the recorded synapses.
    synapses : list of ndarray of shape (n_recorded, 2)
        ``(post, pre)`` indices of the recorded synapses of each projection.
    modulator : ndarray of shape (n_steps,)
        Neuromodulator ``M``: set at the end of each trial and held until the next.
    loss : ndarray of shape (n_steps,)
        Running window average of the noisy network's loss (reset every trial).
    trial_loss : ndarray of shape (n_trials,)
        Window-averaged loss of the noisy network in each trial.
    trial_modulator : ndarray of shape (n_trials,)
        ``M`` broadcast at the end of each trial.
    """

    def __init__(self, **fields):
        self.__dict__.update(fields)

    @property
    def n_trials(self):
        return len(self.trial_loss)

    def plot(self, *, layer=0, neuron=0, n_synapses=3, fig=None):
        """The picture of a trial: noise, eligibility build-up, the neuromodulator pulse and the weight change.

        Parameters
        ----------
        layer : int, default 0
            Projection whose postsynaptic noise, eligibilities and weights are shown.
        neuron : int, default 0
            Postsynaptic neuron of ``layer`` shown in the noise panel.
        n_synapses : int, default 3
            Number of recorded synapses shown.
        fig : matplotlib Figure, optional

        Returns
        -------
        matplotlib.figure.Figure
        """
        import matplotlib.pyplot as plt

        if fig is None:
            fig = plt.figure(figsize=(7, 8))
        axes = fig.subplots(5, 1, sharex=True)
        t_ms = self.t * 1e3
        for k in range(self.n_trials):
            start = k * self.trial_duration * 1e3
            for ax in axes:
                ax.axvspan(start + (self.trial_duration - self.readout_window) * 1e3, start + self.trial_duration * 1e3,
                           color="0.92", zorder=0)
        post = self.rates[layer + 1]
        axes[0].plot(t_ms, post[:, neuron], label="noisy rate")
        if self.clean_rates[layer + 1] is not None:
            axes[0].plot(t_ms, self.clean_rates[layer + 1][:, neuron], "--", label="clean copy")
        axes[0].set_ylabel(f"rate\n(pop {layer + 1}, #{neuron})")
        axes[0].legend(loc="upper right", fontsize="small")
        noise = self.noise[layer + 1]
        if noise is not None:
            axes[1].plot(t_ms, noise[:, neuron], color="C2")
        axes[1].set_ylabel("noise n")
        elig = self.eligibility[layer]
        shown = range(min(n_synapses, self.synapses[layer].shape[0]))
        if elig is not None:
            for s in shown:
                axes[2].plot(t_ms, elig[:, s] * 1e3, label=f"w[{self.synapses[layer][s, 0]},{self.synapses[layer][s, 1]}]")
            axes[2].legend(loc="upper left", fontsize="small")
        axes[2].set_ylabel("eligibility\n(ms)")
        axes[3].step(t_ms, self.modulator, where="post", color="C3")
        axes[3].set_ylabel("neuromodulator M")
        weights = self.weights[layer]
        for s in shown:
            axes[4].plot(t_ms, weights[:, s] - weights[0, s])
        axes[4].set_ylabel("weight change")
        axes[4].set_xlabel("time (ms)")
        fig.align_ylabels(axes)
        return fig

    def __repr__(self):
        return f"TrialRecord(n_trials={self.n_trials}, n_steps={len(self.t)})"


class Brian2Engine:
    """Node perturbation in continuous time, simulated with Brian2.

    Parameters
    ----------
    network : Network
        Populations (activations linear, relu, tanh or sigmoid; a softmax
        readout is not supported) and projections.
    rule : NodePerturbation
        Which layers are perturbed (``rule.layers``), the default noise
        amplitude (``rule.sigma``) and baseline (``rule.neuromodulator``).
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
    trials_ : int
        Trials simulated so far.
    """

    def __init__(self, network, rule, *, loss="squared_error", homeostasis=None, tau=1e-3, dt=2.5e-4, trial_duration=1e-2,
                 readout_window=None, noise="white", noise_tau=None, sigma=None, baseline=None, baseline_decay=None,
                 eligibility="noise", mean_tau=None, learning_rate=1e-2, target="numpy", seed=0, chunk_trials=200,
                 cache_dir=None):
        if not isinstance(network, Network):
            raise TypeError(f"network should be a Network, got {network!r}")
        if not isinstance(rule, NodePerturbation):
            raise TypeError(f"the Brian2 engine runs node perturbation; rule should be a NodePerturbation, got {rule!r}")
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
            if act.name not in _ACTIVATION_CODE:
                raise ValueError(
                    f"population {k + 1} has activation {act.name!r}, which the Brian2 engine does not support; "
                    f"expected one of {', '.join(repr(a) for a in _ACTIVATION_CODE)}"
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
        if self.noise_ == "ou":
            self.noise_tau_ = 2 * self.tau_ if noise_tau is None else _seconds(noise_tau, "noise_tau")
            self.correlation_time_ = self.noise_tau_
        else:
            if noise_tau is not None:
                raise ValueError(f"noise_tau applies to noise='ou' only, got noise_tau={noise_tau!r} with noise='white'")
            self.noise_tau_ = None
            self.correlation_time_ = self.tau_
        self.sigma_ = check_positive(rule.sigma if sigma is None else sigma, "sigma")
        self.noise_intensity_ = self.sigma_ * math.sqrt(2 * self.correlation_time_)
        self.baseline_ = check_choice(rule.neuromodulator.baseline if baseline is None else baseline, "baseline", BASELINES)
        self.baseline_decay_ = check_fraction(rule.neuromodulator.decay if baseline_decay is None else baseline_decay,
                                              "baseline_decay")
        self.eligibility_ = check_choice(eligibility, "eligibility", ELIGIBILITIES)
        if self.eligibility_ == "activity_deviation":
            self.mean_tau_ = self.tau_ if mean_tau is None else _seconds(mean_tau, "mean_tau")
        else:
            if mean_tau is not None:
                raise ValueError(f"mean_tau applies to eligibility='activity_deviation' only, got mean_tau={mean_tau!r}")
            self.mean_tau_ = None
        self.eligibility_time_ = eligibility_time(self.correlation_time_, self.readout_window_, self.dt_, mean_tau=self.mean_tau_)
        if self.eligibility_time_ <= 0:
            raise ValueError(
                f"the eligibility normalisation K={self.eligibility_time_!r} s is not positive: mean_tau "
                f"({self.mean_tau_!r} s) is too short for the noise correlation time ({self.correlation_time_!r} s)"
            )
        self.learning_rate_ = check_positive(learning_rate, "learning_rate")
        self.target_ = check_choice(target, "target", TARGETS)
        if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
            raise ValueError(f"seed should be a non-negative integer, got {seed!r}")
        self.chunk_trials_ = check_positive_int(chunk_trials, "chunk_trials")

        perturbed = rule.perturbed_layers(network)
        self.noisy_ = [bool(perturbed[k]) and pop.noise is not None for k, pop in enumerate(network.populations[1:])]
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
        if self.baseline_ != "running_average" or self._sim is None or not self._sim.mod.has_baseline[0]:
            return None
        return float(self._sim.mod.baseline[0])

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
            with _brian2_quiet():
                self._sim = _Simulation(self)
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

    def train(self, task, n_trials, *, eval_every=None, progress=False):
        """Learn a task online, one training sample per trial.

        Parameters
        ----------
        task : Task
        n_trials : int
        eval_every : int, optional
            Evaluate train/test error every ``eval_every`` trials (default:
            ten evaluations).
        progress : bool, default False

        Returns
        -------
        History
            ``epochs`` counts trials (``config["epoch_unit"] == "trials"``);
            records as in :func:`bioplastic.train` (one member), errors from
            the steady state of the clean dynamics (:meth:`predict`).
            ``trial_loss_`` holds the noisy window-averaged loss of every trial.
        """
        from ..tasks.base import Task
        from ..training import History

        if not isinstance(task, Task):
            raise TypeError(f"task should be a Task, got {task!r}")
        if task.n_inputs != self.network.n_inputs or task.n_outputs != self.network.n_outputs:
            raise ValueError(
                f"task {task.name!r} has {task.n_inputs} inputs and {task.n_outputs} outputs, the network "
                f"{self.network.n_inputs} and {self.network.n_outputs}"
            )
        n_trials = check_positive_int(n_trials, "n_trials")
        eval_every = max(1, n_trials // 10) if eval_every is None else check_positive_int(eval_every, "eval_every")
        xs, ys = [], []
        n = 0
        while n < n_trials:
            for xb, yb in task.batches(1, self._data_rng):
                xs.append(xb[0])
                ys.append(yb[0])
                n += 1
                if n == n_trials:
                    break
        xs, ys = np.asarray(xs, dtype=np.float64), np.asarray(ys, dtype=np.float64)

        def evaluate():
            out = {}
            for split, (xe, te) in task.evaluation_sets().items():
                with np.errstate(all="ignore"):
                    y = self.predict(np.asarray(xe, dtype=np.float64))
                    out[f"{split}_error"] = squared_error(y, np.asarray(te)[None]).astype(float)
                    out[f"{split}_loss"] = self.loss_(y, np.asarray(te)[None]).mean(axis=1).astype(float)
            with np.errstate(all="ignore"):
                out["weight_norms"] = self.state_.weight_norms().astype(float)
            return out

        series = {k: [v] for k, v in evaluate().items()}
        epochs = [self.trials_]
        trial_loss = []
        diverged = -1
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=n_trials, desc="brian2 NP", leave=False)
        for start in range(0, n_trials, eval_every):
            stop = min(n_trials, start + eval_every)
            record = self._run(xs[start:stop], ys[start:stop], learn=True)
            trial_loss.append(record.trial_loss)
            rec = evaluate()
            for key, value in rec.items():
                series[key].append(value)
            epochs.append(self.trials_)
            if bar is not None:
                bar.update(stop - start)
            if not np.all(np.isfinite(rec["weight_norms"])):
                diverged = self.trials_
                break
        if bar is not None:
            bar.close()
        config = {
            "engine": "brian2",
            "epoch_unit": "trials",
            "network": self.network.describe(),
            "rule": self.rule.describe(),
            "task": task.describe(),
            "loss": self.loss_.describe(),
            "homeostasis": None if self.homeostasis is None else self.homeostasis.describe(),
            "brian2": self.describe(),
            "n_trials": n_trials,
        }
        from ..io import to_jsonable

        records = {k: np.stack(v, axis=1) for k, v in series.items()}
        history = History(np.asarray(epochs), records, [self.learning_rate_], [int(self.seed)], [diverged], to_jsonable(config))
        history.final_state_ = self.get_weights()
        history.trial_loss_ = np.concatenate(trial_loss) if trial_loss else np.zeros(0)
        return history

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


@contextlib.contextmanager
def _codegen_prefs(b2, target, cache_dir):
    """Set Brian2's code-generation target (and cython cache) for one run, then restore them."""
    prefs = b2.prefs
    old_target = prefs["codegen.target"]
    old_cache = prefs["codegen.runtime.cython.cache_dir"]
    prefs["codegen.target"] = target
    if cache_dir is not None:
        prefs["codegen.runtime.cython.cache_dir"] = str(cache_dir)
    try:
        yield
    finally:
        prefs["codegen.target"] = old_target
        prefs["codegen.runtime.cython.cache_dir"] = old_cache


class _Simulation:
    """The Brian2 objects of one engine; they persist, so time and state continue across runs.

    Schedule. Trial ``k`` spans the time steps ``[k S, (k + 1) S)``. The
    operations that end trial ``k - 1`` and start trial ``k`` run in the
    ``groups`` slot of step ``k S`` on a clock with ``dt = trial_duration``,
    before any per-step update (negative ``order``): the modulator sums the
    output neurons' window-averaged losses (a summed variable on that clock)
    and sets ``M``; synapses and biases apply ``eta M e`` and reset their
    traces; the output neurons reset their loss integrals and load the next
    target; the input population loads the next sample. Synaptic scaling
    runs after the incoming norms (summed variables) have been refreshed in
    the same step. Per step: summed currents, then each population
    (``order = 10 k``), its incoming eligibility traces just before it.
    """

    def __init__(self, engine):
        b2 = _import_brian2()
        self.b2 = b2
        self.engine = engine
        e = engine
        net = e.network
        second = b2.second
        self.S = e.steps_per_trial_
        self.rows = e.chunk_trials_ * self.S + 1
        self.clock = b2.Clock(e.dt_ * second, name=f"{_NAME}_clock")
        self.tick = b2.Clock(e.trial_duration_ * second, name=f"{_NAME}_tick")
        clean = e.baseline_ == "clean"
        self.clean = clean
        gate = f"gate = int((t_in_timesteps % {self.S}) >= {e.settle_steps_}) : 1"
        n_pops = len(net.populations)
        self.groups = []
        objects = []
        tick = {"clock": self.tick, "when": "groups"}

        # the modulator: one neuron on the trial clock that broadcasts M
        mod_lines = ["Ln : 1", "M : 1", "trial_loss : 1"]
        if clean:
            mod_lines += ["Ld : 1", "trial_clean_loss : 1"]
            op = "M = -Ld/sigma\ntrial_loss = Ln\ntrial_clean_loss = Ln - Ld"
        else:
            mod_lines += ["baseline : 1", "has_baseline : 1", "ticks : 1"]
            # the trial clock's first tick ends no trial; counted explicitly because Brian2's
            # symbolic simplification treats ``t`` as positive and would drop ``int(t > 0*second)``
            valid = "int(ticks > 0.5)"
            op = (
                f"M = -{valid}*has_baseline*(Ln - baseline)/sigma\n"
                f"baseline = baseline + {valid}*(has_baseline*(1 - decay) + (1 - has_baseline))*(Ln - baseline)\n"
                f"has_baseline = has_baseline + {valid}*(1 - has_baseline)\n"
                "trial_loss = Ln\nticks = ticks + 1"
            )
        mod = b2.NeuronGroup(1, "\n".join(mod_lines), clock=self.tick, order=-99, name=f"{_NAME}_modulator",
                             namespace={"sigma": e.sigma_, "decay": e.baseline_decay_})
        mod.run_regularly(op, order=-98, name=f"{_NAME}_modulator_trial_end", **tick)
        self.mod = mod

        # input population: clamped to one sample per trial
        inp = b2.NeuronGroup(net.n_inputs, "r : 1\nt_stim : second (shared)", clock=self.clock, order=0,
                             name=f"{_NAME}_pop0", namespace={})
        self.stim_name = f"{_NAME}_stimulus"
        inp.run_regularly(f"r = {self.stim_name}(t - t_stim, i)", order=-95, name=f"{_NAME}_pop0_input", **tick)
        self.groups.append(inp)
        objects.append(inp)

        a_n = math.exp(-e.dt_ / e.correlation_time_)
        for k in range(1, n_pops):
            pop = net.populations[k]
            proj = net.projections[k - 1]
            noisy = e.noisy_[k - 1]
            learns = e.learns_[k - 1]
            output = k == n_pops - 1
            f = _ACTIVATION_CODE[pop.activation_.name]
            namespace = {"am1": -math.expm1(-e.dt_ / e.tau_), "sigma": e.sigma_}
            ncur = "n" if (noisy and e.noise_ == "ou") else "0"
            v = "(u + n)" if (noisy and e.noise_ == "white") else "u"
            lines = [f"du/dt = (I + b + {ncur} - u)*am1/dt : 1", "r = " + f.format(x=v) + " : 1", "I : 1", "b : 1"]
            if clean:
                lines += [f"duc/dt = ({'I' if k == 1 else 'Ic'} + b - uc)*am1/dt : 1", "rc = " + f.format(x="uc") + " : 1"]
                if k > 1:
                    lines.append("Ic : 1")
            if noisy or output:
                lines.append(gate)
            if noisy:
                noise_name = f"{_NAME}_noise{k}"
                lines += [f"dn/dt = (n*(an - 1) + cn*{noise_name}(t - t_noise, i))/dt : 1", "t_noise : second (shared)"]
                namespace.update(an=a_n, cn=e.sigma_ * math.sqrt(-math.expm1(-2 * e.dt_ / e.correlation_time_)))
                if e.eligibility_ == "noise":
                    lines.append("p = n : 1")
                else:
                    lines += ["drbar/dt = (1 - gate)*(r - rbar)*bm1/dt : 1", "p = r - rbar : 1"]
                    namespace["bm1"] = -math.expm1(-e.dt_ / e.mean_tau_)
            if learns and proj.bias:
                lines += ["delig_b/dt = gate*p/sigma : second", "db_sum : 1", "Mlink : 1 (linked)",
                          "eta : 1/second (shared)", "apply : 1 (shared)"]
            if e.scaled_[k - 1]:
                lines += ["wsq : 1", "rms_target : 1"]
            if output:
                # each output neuron integrates its share of the loss over the readout window
                lines += ["y : 1", "t_stim : second (shared)", "dLacc/dt = gate*lscale*(r - y)**2/Tw : 1"]
                if clean:
                    lines.append("dLdacc/dt = gate*lscale*(r - rc)*(r + rc - 2*y)/Tw : 1")
                namespace.update(lscale=e.loss_.scale, Tw=e.readout_window_ * second)
            group = b2.NeuronGroup(pop.n_neurons, "\n".join(lines), method="euler", clock=self.clock, order=10 * k,
                                   name=f"{_NAME}_pop{k}", namespace=namespace)
            if output:
                reset = "Lacc = 0\n" + ("Ldacc = 0\n" if clean else "") + f"y = {_NAME}_target(t - t_stim, i)"
                group.run_regularly(reset, order=-97, name=f"{_NAME}_pop{k}_trial_start", **tick)
            if learns and proj.bias:
                group.run_regularly("db_sum += eta*Mlink*elig_b\nb += apply*eta*Mlink*elig_b\nelig_b = 0*second",
                                    order=-96, name=f"{_NAME}_pop{k}_bias_update", **tick)
            self.groups.append(group)
            objects.append(group)
        out = self.groups[-1]
        readout = b2.Synapses(out, mod, "Ln_post = Lacc_pre : 1 (summed)" + ("\nLd_post = Ldacc_pre : 1 (summed)" if clean else ""),
                              clock=self.tick, name=f"{_NAME}_readout", namespace={})
        readout.connect()
        objects += [mod, readout]

        # projections: weights, summed currents, eligibility traces, three-factor updates, scaling
        self.synapses = []
        for k, proj in enumerate(net.projections):
            post = self.groups[k + 1]
            learns = e.learns_[k]
            lines = ["w : 1", "I_post = w*r_pre : 1 (summed)"]
            if clean and k > 0:
                lines.append("Ic_post = w*rc_pre : 1 (summed)")
            if learns:
                lines += ["delig/dt = gate_post*p_post*r_pre/sigma : second (clock-driven)", "dw_sum : 1",
                          "Msyn : 1 (linked)", "zero : integer (constant)", "eta_syn : 1/second (shared)"]
            if learns or e.scaled_[k]:
                lines.append("apply_syn : 1 (shared)")
            if e.scaled_[k]:
                lines.append("wsq_post = w**2 : 1 (summed)")
            syn = b2.Synapses(self.groups[k], post, "\n".join(lines), method="euler", clock=self.clock,
                              order=post.order - 0.25, name=f"{_NAME}_proj{k}",
                              namespace={"sigma": e.sigma_, "npre": float(proj.n_pre)})
            syn.connect(i=np.tile(np.arange(proj.n_pre), proj.n_post), j=np.repeat(np.arange(proj.n_post), proj.n_pre))
            if learns:
                syn.zero = 0
                syn.Msyn = b2.linked_var(mod, "M", index="zero")
                syn.run_regularly("dw_sum += eta_syn*Msyn*elig\nw += apply_syn*eta_syn*Msyn*elig\nelig = 0*second",
                                  order=-96, name=f"{_NAME}_proj{k}_update", **tick)
            if e.scaled_[k]:
                scale_code = ("w = w*(apply_syn*(int(wsq_post > 0)*rms_target_post/sqrt(wsq_post/npre + int(wsq_post <= 0))"
                              " + int(wsq_post <= 0)) + (1 - apply_syn))")
                syn.run_regularly(scale_code, order=post.order - 0.5, name=f"{_NAME}_proj{k}_scaling", **tick)
            self.synapses.append(syn)
            objects.append(syn)
        for k, group in enumerate(self.groups[1:]):
            if e.learns_[k] and net.projections[k].bias:
                group.Mlink = b2.linked_var(mod, "M", index=np.zeros(group.N, dtype=int))

        self.trial_monitor = b2.StateMonitor(mod, ["M", "trial_loss"], record=0, clock=self.tick, when="groups", order=-90,
                                             name=f"{_NAME}_trial_monitor")
        objects.append(self.trial_monitor)
        self.net = b2.Network(*objects, name=f"{_NAME}_network")
        self.steps = 0
        self.write_weights(e.state_)
        # start every noise variable in its stationary distribution
        for k, group in enumerate(self.groups):
            if "n" in group.variables:
                group.n = e.sigma_ * e._noise_rngs[k].standard_normal(group.N)
        self.reset_update_sums()

    def write_weights(self, state):
        e = self.engine
        for k, syn in enumerate(self.synapses):
            syn.w = state.weights[k][0].ravel()
            group = self.groups[k + 1]
            group.b = 0.0 if state.biases[k] is None else state.biases[k][0]
            if e.scaled_[k]:
                group.rms_target = e.scaling_targets_[k][0]

    def read_weights(self):
        e = self.engine
        weights, biases = [], []
        for k, proj in enumerate(e.network.projections):
            weights.append(np.array(self.synapses[k].w[:], dtype=np.float64).reshape(1, *proj.shape))
            biases.append(np.array(self.groups[k + 1].b[:], dtype=np.float64)[None] if proj.bias else None)
        return NetworkState(weights, biases)

    def reset_update_sums(self):
        for k, syn in enumerate(self.synapses):
            if "dw_sum" in syn.variables:
                syn.dw_sum = 0.0
            group = self.groups[k + 1]
            if "db_sum" in group.variables:
                group.db_sum = 0.0

    def read_update_sums(self, n_trials):
        e = self.engine
        weights, biases = [], []
        for k, proj in enumerate(e.network.projections):
            syn, group = self.synapses[k], self.groups[k + 1]
            if "dw_sum" in syn.variables:
                weights.append(np.array(syn.dw_sum[:], dtype=np.float64).reshape(1, *proj.shape) / n_trials)
            else:
                weights.append(None)
            if "db_sum" in group.variables:
                biases.append(np.array(group.db_sum[:], dtype=np.float64)[None] / n_trials)
            else:
                biases.append(None)
        return weights, biases

    def _set_learning(self, learn):
        e = self.engine
        eta = e.learning_rate_ / e.eligibility_time_
        for k, syn in enumerate(self.synapses):
            group = self.groups[k + 1]
            for obj, suffix in ((syn, "_syn"), (group, "")):
                if "eta" + suffix in obj.variables:
                    setattr(obj, "eta" + suffix, eta / self.b2.second)
                if "apply" + suffix in obj.variables:
                    setattr(obj, "apply" + suffix, 1.0 if learn else 0.0)

    def _monitors(self, n_record):
        b2 = self.b2
        mons = {"pops": [], "syn": [], "mod": None}
        for k, group in enumerate(self.groups):
            names = ["r"]
            if k > 0 and self.clean:
                names.append("rc")
            if "n" in group.variables:
                names.append("n")
            mons["pops"].append(b2.StateMonitor(group, names, record=True, clock=self.clock, when="end",
                                                name=f"{_NAME}_monitor_pop{k}"))
        for k, syn in enumerate(self.synapses):
            idx = np.arange(min(n_record, len(syn)))
            names = ["w"] + (["elig"] if "elig" in syn.variables else [])
            mons["syn"].append((idx, b2.StateMonitor(syn, names, record=idx, clock=self.clock, when="end",
                                                     name=f"{_NAME}_monitor_proj{k}")))
        mons["mod"] = b2.StateMonitor(self.mod, ["M"], record=0, clock=self.clock, when="end",
                                      name=f"{_NAME}_monitor_modulator")
        mons["loss"] = b2.StateMonitor(self.groups[-1], ["Lacc"], record=True, clock=self.clock, when="end",
                                       name=f"{_NAME}_monitor_loss")
        return mons

    def run(self, x, target, *, learn, record=None):
        e = self.engine
        b2 = self.b2
        second = b2.second
        n_total = len(x)
        self._set_learning(learn)
        mons = None
        if record is not None:
            mons = self._monitors(record)
            self.net.add(*mons["pops"], *(m for _, m in mons["syn"]), mons["mod"], mons["loss"])
        first_tick = len(self.trial_monitor.t)
        first_trial = e.trials_
        noise_groups = [(k, g) for k, g in enumerate(self.groups) if "n" in g.variables]
        try:
            for start in range(0, n_total, e.chunk_trials_):
                stop = min(n_total, start + e.chunk_trials_)
                n = stop - start
                k0 = e.trials_  # global index of the chunk's first trial
                stim = np.zeros((e.chunk_trials_ + 1, x.shape[1]))
                ytar = np.zeros((e.chunk_trials_ + 1, target.shape[1]))
                stim[:n], ytar[:n] = x[start:stop], target[start:stop]
                nxt = stop if stop < n_total else stop - 1  # input shown in the step that ends the chunk
                stim[n], ytar[n] = x[nxt], target[nxt]
                namespace_stim = {self.stim_name: b2.TimedArray(stim, dt=e.trial_duration_ * second, name=self.stim_name)}
                self.groups[0].namespace.update(namespace_stim)
                self.groups[-1].namespace[f"{_NAME}_target"] = b2.TimedArray(ytar, dt=e.trial_duration_ * second,
                                                                            name=f"{_NAME}_target")
                self.groups[0].t_stim = k0 * e.trial_duration_ * second
                self.groups[-1].t_stim = k0 * e.trial_duration_ * second
                # trial k spans steps [k S, (k + 1) S); the step k S first processes trial k - 1
                first_run = self.steps == 0
                n_steps = n * self.S + (1 if first_run else 0)
                if not first_run:  # the trial-start operation of this chunk's first trial already ran
                    self.groups[0].r = x[start]
                    self.groups[-1].y = target[start]
                for k, group in noise_groups:
                    z = np.zeros((self.rows, group.N))
                    z[:n_steps] = e._noise_rngs[k].standard_normal((n_steps, group.N))
                    name = f"{_NAME}_noise{k}"
                    group.namespace[name] = b2.TimedArray(z, dt=e.dt_ * second, name=name)
                    group.t_noise = self.steps * e.dt_ * second
                with _codegen_prefs(b2, e.target_, e.cache_dir), _brian2_quiet(), np.errstate(all="ignore"):
                    self.net.run(n_steps * e.dt_ * second, namespace={})
                self.steps += n_steps
                e.trials_ += n
            e.state_ = self.read_weights()
        finally:
            if mons is not None:
                self.net.remove(*mons["pops"], *(m for _, m in mons["syn"]), mons["mod"], mons["loss"])
        ticks_t = np.asarray(self.trial_monitor.t_)[first_tick:]
        keep = ticks_t > 0.5 * e.trial_duration_  # the tick at t = 0 ends no trial
        trial_loss = np.asarray(self.trial_monitor.trial_loss[0])[first_tick:][keep]
        trial_m = np.asarray(self.trial_monitor.M[0])[first_tick:][keep]
        fields = {"trial_loss": trial_loss, "trial_modulator": trial_m, "trial_duration": e.trial_duration_,
                  "readout_window": e.readout_window_}
        if mons is not None:
            fields["t"] = np.asarray(mons["mod"].t_) - first_trial * e.trial_duration_
            fields["rates"] = [np.asarray(m.r).T.copy() for m in mons["pops"]]
            fields["clean_rates"] = [None] + [np.asarray(m.rc).T.copy() if self.clean else None for m in mons["pops"][1:]]
            fields["noise"] = [np.asarray(m.n).T.copy() if "n" in m.record_variables else None for m in mons["pops"]]
            fields["eligibility"] = [np.asarray(m.elig_).T.copy() if "elig" in m.record_variables else None for _, m in mons["syn"]]
            fields["weights"] = [np.asarray(m.w).T.copy() for _, m in mons["syn"]]
            fields["synapses"] = [np.stack([idx // p.n_pre, idx % p.n_pre], axis=1) for (idx, _), p in
                                  zip(mons["syn"], e.network.projections, strict=True)]
            fields["modulator"] = np.asarray(mons["mod"].M[0]).copy()
            fields["loss"] = np.asarray(mons["loss"].Lacc).sum(axis=0)
        return TrialRecord(**fields)
