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

Rules
-----
:attr:`Brian2Engine.rules` names the rules the engine runs (node
perturbation); it refuses others with an error naming them. Which
populations are perturbed comes from the rule's noise needs
(:meth:`~bioplastic.plasticity.PlasticityRule.noise_needs`).
:meth:`Brian2Engine.train` runs in the training loop of every engine
(:func:`bioplastic.training.run_ensemble`): records, divergence and freezing
as in :func:`bioplastic.train`.

Modules
-------
:mod:`.populations` (rate ``NeuronGroup``s and their noise),
:mod:`.projections` (``Synapses``, eligibility traces, the three-factor
update), :mod:`.neuromodulation` (the loss, its baseline and ``M``),
:mod:`.homeostasis` (synaptic scaling), :mod:`.records` (:class:`TrialRecord`
and monitors), :mod:`.simulation` (the Brian2 network of one engine),
:mod:`.engine` (:class:`Brian2Engine`) and :mod:`.training` (its runner of
the training loop).

Relation to the numpy engine
----------------------------
The fixed point of the clean dynamics is the numpy engine's forward pass
(:meth:`Brian2Engine.predict` uses it for evaluation); initial weights for
``seed=s`` equal those of the numpy engine's member with seed ``s``; weights
move between engines with :meth:`Brian2Engine.get_weights` /
:meth:`Brian2Engine.set_weights`.
"""

from ._runtime import TARGETS
from .engine import Brian2Engine
from .neuromodulation import BASELINES
from .populations import NOISE_KINDS
from .projections import ELIGIBILITIES, eligibility_time
from .records import TrialRecord

__all__ = [
    "BASELINES",
    "ELIGIBILITIES",
    "NOISE_KINDS",
    "TARGETS",
    "Brian2Engine",
    "TrialRecord",
    "eligibility_time",
]
