"""What a run records: :class:`TrialRecord`, and the per-step monitors behind it."""

from __future__ import annotations

import numpy as np

from ._runtime import NAME

__all__ = ["TrialRecord", "add_monitors", "monitored_fields"]


class TrialRecord:
    """Time courses of a few trials (what :meth:`~bioplastic.engines.brian2.Brian2Engine.run_trials` records).

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


def add_monitors(b2, groups, synapses, mod, *, clock, clean, n_record):
    """Per-step ``StateMonitor``s of rates, noise, the first ``n_record`` synapses of each projection and ``M``.

    Returns
    -------
    dict
        ``"pops"``: one monitor per population; ``"syn"``: ``(indices, monitor)``
        per projection; ``"mod"``: the modulator's; ``"loss"``: the output
        population's loss integral. ``"all"`` lists every monitor.
    """
    mons = {"pops": [], "syn": []}
    for k, group in enumerate(groups):
        names = ["r"]
        if k > 0 and clean:
            names.append("rc")
        if "n" in group.variables:
            names.append("n")
        mons["pops"].append(b2.StateMonitor(group, names, record=True, clock=clock, when="end", name=f"{NAME}_monitor_pop{k}"))
    for k, syn in enumerate(synapses):
        idx = np.arange(min(n_record, len(syn)))
        names = ["w"] + (["elig"] if "elig" in syn.variables else [])
        mons["syn"].append((idx, b2.StateMonitor(syn, names, record=idx, clock=clock, when="end", name=f"{NAME}_monitor_proj{k}")))
    mons["mod"] = b2.StateMonitor(mod, ["M"], record=0, clock=clock, when="end", name=f"{NAME}_monitor_modulator")
    mons["loss"] = b2.StateMonitor(groups[-1], ["Lacc"], record=True, clock=clock, when="end", name=f"{NAME}_monitor_loss")
    mons["all"] = [*mons["pops"], *(m for _, m in mons["syn"]), mons["mod"], mons["loss"]]
    return mons


def monitored_fields(mons, projections, *, clean, start_time):
    """The per-step fields of a :class:`TrialRecord` from :func:`add_monitors`' monitors (``t`` from ``start_time``, seconds)."""
    return {
        "t": np.asarray(mons["mod"].t_) - start_time,
        "rates": [np.asarray(m.r).T.copy() for m in mons["pops"]],
        "clean_rates": [None] + [np.asarray(m.rc).T.copy() if clean else None for m in mons["pops"][1:]],
        "noise": [np.asarray(m.n).T.copy() if "n" in m.record_variables else None for m in mons["pops"]],
        "eligibility": [np.asarray(m.elig_).T.copy() if "elig" in m.record_variables else None for _, m in mons["syn"]],
        "weights": [np.asarray(m.w).T.copy() for _, m in mons["syn"]],
        "synapses": [np.stack([idx // p.n_pre, idx % p.n_pre], axis=1) for (idx, _), p in zip(mons["syn"], projections, strict=True)],
        "modulator": np.asarray(mons["mod"].M[0]).copy(),
        "loss": np.asarray(mons["loss"].Lacc).sum(axis=0),
    }
