"""Synaptic scaling in Brian2: each neuron's incoming weights rescaled to their target RMS with ``run_regularly``.

The postsynaptic population holds ``rms_target`` and the summed squared
incoming weights ``wsq`` (a ``(summed)`` variable of the projection); at the
end of every trial, after the update and once ``wsq`` has been refreshed in
the same step, the projection multiplies every weight by
``rms_target / sqrt(wsq / n_pre)`` (rows of zeros stay zero), as
:class:`~bioplastic.homeostasis.SynapticScaling` does in discrete time.
"""

from __future__ import annotations

from ._runtime import NAME

__all__ = ["add_scaling", "scaling_population_equations", "scaling_synapse_equations", "write_targets"]


def scaling_population_equations():
    """Equations of a scaled population: its incoming sum of squared weights and its target RMS."""
    return ["wsq : 1", "rms_target : 1"]


def scaling_synapse_equations():
    """Equations of a scaled projection: the sum of squared weights it delivers to each postsynaptic neuron."""
    return ["wsq_post = w**2 : 1 (summed)"]


def add_scaling(syn, k, post_order, tick):
    """The trial-end scaling of projection ``k``'s weights (only while ``apply_syn`` is 1), just before its population updates."""
    code = ("w = w*(apply_syn*(int(wsq_post > 0)*rms_target_post/sqrt(wsq_post/npre + int(wsq_post <= 0))"
            " + int(wsq_post <= 0)) + (1 - apply_syn))")
    syn.run_regularly(code, order=post_order - 0.5, name=f"{NAME}_proj{k}_scaling", **tick)


def write_targets(group, targets):
    """Set the target RMS of ``group``'s neurons, an array of shape ``(n_post,)``."""
    group.rms_target = targets
