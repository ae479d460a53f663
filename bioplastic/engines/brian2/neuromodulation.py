"""The broadcast neuromodulator: the window-averaged loss, its baseline and the value ``M`` sent at each trial's end.

Each output neuron integrates its share of the loss over the readout
window, ``L(t) = scale sum_i (r_i - y*_i)**2``, and with the clean baseline
also the loss *difference* from the noise-free copy (integrated directly,
without cancellation). A one-neuron *modulator* group on the trial clock
sums them (a ``(summed)`` variable) and at the end of each trial sets

    M = -(Lbar - baseline) / sigma,

with ``baseline`` the clean copy's loss (``baseline="clean"``) or a running
average of recent trials' losses (``baseline="running_average"``, the
biological reward prediction: ``baseline <- baseline + (1 - decay)(Lbar -
baseline)``, initialised with the first trial's loss, which gets ``M = 0``).
"""

from __future__ import annotations

import numpy as np

from ._runtime import NAME

__all__ = ["BASELINES", "TARGET", "add_trial_start", "loss_equations", "modulator_group", "readout", "running_baseline", "trial_monitor",
           "trial_values"]

#: Baselines of the reward prediction error: the noise-free copy's loss, or a running average of trial losses.
BASELINES = ("clean", "running_average")

#: Name of the ``TimedArray`` of the output population's targets (one row per trial).
TARGET = f"{NAME}_target"


def modulator_group(b2, *, clean, sigma, decay, tick):
    """The one-neuron group that receives the trial's loss and broadcasts ``M`` (and its trial-end operation)."""
    lines = ["Ln : 1", "M : 1", "trial_loss : 1"]
    if clean:
        lines += ["Ld : 1", "trial_clean_loss : 1"]
        op = "M = -Ld/sigma\ntrial_loss = Ln\ntrial_clean_loss = Ln - Ld"
    else:
        lines += ["baseline : 1", "has_baseline : 1", "ticks : 1"]
        # the trial clock's first tick ends no trial; counted explicitly because Brian2's
        # symbolic simplification treats ``t`` as positive and would drop ``int(t > 0*second)``
        valid = "int(ticks > 0.5)"
        op = (
            f"M = -{valid}*has_baseline*(Ln - baseline)/sigma\n"
            f"baseline = baseline + {valid}*(has_baseline*(1 - decay) + (1 - has_baseline))*(Ln - baseline)\n"
            f"has_baseline = has_baseline + {valid}*(1 - has_baseline)\n"
            "trial_loss = Ln\nticks = ticks + 1"
        )
    mod = b2.NeuronGroup(1, "\n".join(lines), clock=tick, order=-99, name=f"{NAME}_modulator", namespace={"sigma": sigma, "decay": decay})
    mod.run_regularly(op, order=-98, name=f"{NAME}_modulator_trial_end", clock=tick, when="groups")
    return mod


def loss_equations(*, clean, loss_scale, window, second):
    """Equations and namespace of the output population: its target ``y`` and window-averaged loss integrals."""
    lines = ["y : 1", "t_stim : second (shared)", "dLacc/dt = gate*lscale*(r - y)**2/Tw : 1"]
    if clean:
        lines.append("dLdacc/dt = gate*lscale*(r - rc)*(r + rc - 2*y)/Tw : 1")
    return lines, {"lscale": loss_scale, "Tw": window * second}


def add_trial_start(group, k, *, clean, tick):
    """The output population's trial-start operation: reset the loss integrals, load the next target."""
    reset = "Lacc = 0\n" + ("Ldacc = 0\n" if clean else "") + f"y = {TARGET}(t - t_stim, i)"
    group.run_regularly(reset, order=-97, name=f"{NAME}_pop{k}_trial_start", **tick)


def readout(b2, output, mod, *, clean, tick):
    """The ``Synapses`` that sum the output neurons' loss integrals into the modulator."""
    code = "Ln_post = Lacc_pre : 1 (summed)" + ("\nLd_post = Ldacc_pre : 1 (summed)" if clean else "")
    syn = b2.Synapses(output, mod, code, clock=tick, name=f"{NAME}_readout", namespace={})
    syn.connect()
    return syn


def trial_monitor(b2, mod, tick):
    """A monitor of ``M`` and the trial loss at every trial end."""
    return b2.StateMonitor(mod, ["M", "trial_loss"], record=0, clock=tick, when="groups", order=-90, name=f"{NAME}_trial_monitor")


def trial_values(monitor, first_tick, trial_duration):
    """``(trial_loss, M)`` of the trials that ended since the monitor's tick ``first_tick`` (arrays of shape (n_trials,))."""
    ticks = np.asarray(monitor.t_)[first_tick:]
    keep = ticks > 0.5 * trial_duration  # the tick at t = 0 ends no trial
    return np.asarray(monitor.trial_loss[0])[first_tick:][keep], np.asarray(monitor.M[0])[first_tick:][keep]


def running_baseline(mod):
    """The running-average baseline, or ``None`` before the first trial ended."""
    return float(mod.baseline[0]) if mod.has_baseline[0] else None
