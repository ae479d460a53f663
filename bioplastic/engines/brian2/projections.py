"""Projections: ``Synapses`` with summed currents, eligibility traces and the three-factor update.

During the readout window every plastic synapse integrates its eligibility
``e_ij = (1/sigma) int_window p_i(t) r_j(t) dt`` (seconds), ``p_i`` the
postsynaptic factor: its neuron's noise ``n_i`` (``eligibility="noise"``) or
the deviation of its rate from a trace of its recent mean, ``r_i - rbar_i``
(``eligibility="activity_deviation"``; ``rbar`` tracks the rate while the
network settles and holds during the window). At the end of the trial it
changes by ``eta M e_ij`` (``eta = learning_rate / K``, ``M`` the broadcast
neuromodulator, :func:`eligibility_time` the normalisation ``K``) and resets
its trace; biases likewise with ``r_j = 1``.
"""

from __future__ import annotations

import math

import numpy as np

from ...network import NetworkState
from ._runtime import NAME
from .homeostasis import add_scaling, scaling_synapse_equations, write_targets

__all__ = ["ELIGIBILITIES", "add_bias_update", "bias_equations", "eligibility_time", "link_biases", "postsynaptic_factor", "projection",
           "read_update_sums", "read_weights", "reset_update_sums", "set_learning", "write_weights"]

#: Postsynaptic factors of the eligibility trace: the noise, or the rate's deviation from its recent mean.
ELIGIBILITIES = ("noise", "activity_deviation")


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


def postsynaptic_factor(eligibility, *, dt, mean_tau):
    """Equations and namespace of a perturbed population's postsynaptic factor ``p`` of the eligibility."""
    if eligibility == "noise":
        return ["p = n : 1"], {}
    return ["drbar/dt = (1 - gate)*(r - rbar)*bm1/dt : 1", "p = r - rbar : 1"], {"bm1": -math.expm1(-dt / mean_tau)}


def bias_equations():
    """Equations of a learning population's biases: their eligibility, update sum, the linked ``M`` and the rate."""
    return ["delig_b/dt = gate*p/sigma : second", "db_sum : 1", "Mlink : 1 (linked)", "eta : 1/second (shared)", "apply : 1 (shared)"]


def add_bias_update(group, k, tick):
    """The trial-end update of population ``k``'s biases, ``b += eta M e_b``, and the reset of their traces."""
    group.run_regularly("db_sum += eta*Mlink*elig_b\nb += apply*eta*Mlink*elig_b\nelig_b = 0*second",
                        order=-96, name=f"{NAME}_pop{k}_bias_update", **tick)


def link_biases(b2, group, modulator):
    """Link the biases' ``Mlink`` of ``group`` to the modulator's ``M``."""
    group.Mlink = b2.linked_var(modulator, "M", index=np.zeros(group.N, dtype=int))


def projection(b2, pre, post, proj, k, *, learns, scaled, clean, sigma, clock, tick, modulator):
    """The ``Synapses`` of projection ``k`` from ``pre`` to ``post`` (all to all, weights ``w`` of shape ``proj.shape``).

    Parameters
    ----------
    b2 : module
    pre, post : NeuronGroup
    proj : Projection
    k : int
    learns : bool
        Eligibility traces and the three-factor update.
    scaled : bool
        Synaptic scaling of ``post``'s incoming weights (see :mod:`.homeostasis`).
    clean : bool
        A noise-free copy runs beside the network (its current ``Ic``).
    sigma : float
    clock, tick : Clock
        The time-step clock and the trial clock.
    modulator : NeuronGroup
        The group that broadcasts ``M``.
    """
    lines = ["w : 1", "I_post = w*r_pre : 1 (summed)"]
    if clean and k > 0:
        lines.append("Ic_post = w*rc_pre : 1 (summed)")
    if learns:
        lines += ["delig/dt = gate_post*p_post*r_pre/sigma : second (clock-driven)", "dw_sum : 1",
                  "Msyn : 1 (linked)", "zero : integer (constant)", "eta_syn : 1/second (shared)"]
    if learns or scaled:
        lines.append("apply_syn : 1 (shared)")
    if scaled:
        lines += scaling_synapse_equations()
    syn = b2.Synapses(pre, post, "\n".join(lines), method="euler", clock=clock, order=post.order - 0.25, name=f"{NAME}_proj{k}",
                      namespace={"sigma": sigma, "npre": float(proj.n_pre)})
    syn.connect(i=np.tile(np.arange(proj.n_pre), proj.n_post), j=np.repeat(np.arange(proj.n_post), proj.n_pre))
    if learns:
        syn.zero = 0
        syn.Msyn = b2.linked_var(modulator, "M", index="zero")
        syn.run_regularly("dw_sum += eta_syn*Msyn*elig\nw += apply_syn*eta_syn*Msyn*elig\nelig = 0*second",
                          order=-96, name=f"{NAME}_proj{k}_update", **tick)
    if scaled:
        add_scaling(syn, k, post.order, tick)
    return syn


def write_weights(synapses, groups, state, scaling_targets):
    """Load a one-member :class:`NetworkState` (and the scaling targets) into the synapses and populations ``groups[1:]``."""
    for k, syn in enumerate(synapses):
        syn.w = state.weights[k][0].ravel()
        group = groups[k + 1]
        group.b = 0.0 if state.biases[k] is None else state.biases[k][0]
        if scaling_targets is not None and scaling_targets[k] is not None:
            write_targets(group, scaling_targets[k][0])


def read_weights(synapses, groups, projections):
    """The current weights and biases, a one-member :class:`NetworkState` (float64 copies)."""
    weights, biases = [], []
    for k, proj in enumerate(projections):
        weights.append(np.array(synapses[k].w[:], dtype=np.float64).reshape(1, *proj.shape))
        biases.append(np.array(groups[k + 1].b[:], dtype=np.float64)[None] if proj.bias else None)
    return NetworkState(weights, biases)


def reset_update_sums(synapses, groups):
    """Zero the sums of the updates (``dw_sum``, ``db_sum``) that :func:`read_update_sums` reads."""
    for k, syn in enumerate(synapses):
        if "dw_sum" in syn.variables:
            syn.dw_sum = 0.0
        group = groups[k + 1]
        if "db_sum" in group.variables:
            group.db_sum = 0.0


def read_update_sums(synapses, groups, projections, n_trials):
    """Updates summed since the last reset, divided by ``n_trials``: ``(weights, biases)`` lists (``None``: no learning)."""
    weights, biases = [], []
    for k, proj in enumerate(projections):
        syn, group = synapses[k], groups[k + 1]
        weights.append(np.array(syn.dw_sum[:], dtype=np.float64).reshape(1, *proj.shape) / n_trials if "dw_sum" in syn.variables else None)
        biases.append(np.array(group.db_sum[:], dtype=np.float64)[None] / n_trials if "db_sum" in group.variables else None)
    return weights, biases


def set_learning(b2, synapses, groups, *, eta, learn):
    """Set the update rate ``eta`` (1/second) and switch applying the updates (and scaling) on or off."""
    for k, syn in enumerate(synapses):
        group = groups[k + 1]
        for obj, suffix in ((syn, "_syn"), (group, "")):
            if "eta" + suffix in obj.variables:
                setattr(obj, "eta" + suffix, eta / b2.second)
            if "apply" + suffix in obj.variables:
                setattr(obj, "apply" + suffix, 1.0 if learn else 0.0)
