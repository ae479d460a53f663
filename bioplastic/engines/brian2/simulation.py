"""The Brian2 network of one engine: populations, projections, the modulator and scaling, run trial by trial."""

from __future__ import annotations

import numpy as np

from . import homeostasis, neuromodulation, populations, projections
from ._runtime import NAME, codegen_prefs, import_brian2, quiet
from .records import TrialRecord, add_monitors, monitored_fields

__all__ = ["Simulation"]


class Simulation:
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
        b2 = import_brian2()
        self.b2 = b2
        self.engine = e = engine
        net = e.network
        second = b2.second
        self.S = e.steps_per_trial_
        self.rows = e.chunk_trials_ * self.S + 1
        self.clock = b2.Clock(e.dt_ * second, name=f"{NAME}_clock")
        self.tick = b2.Clock(e.trial_duration_ * second, name=f"{NAME}_tick")
        self.clean = clean = e.baseline_ == "clean"
        gate = f"gate = int((t_in_timesteps % {self.S}) >= {e.settle_steps_}) : 1"  # 1 in the readout window
        tick = {"clock": self.tick, "when": "groups"}

        self.mod = mod = neuromodulation.modulator_group(b2, clean=clean, sigma=e.sigma_, decay=e.baseline_decay_, tick=self.tick)
        self.groups = [populations.input_group(b2, net.n_inputs, clock=self.clock, tick=tick)]
        n_pops = len(net.populations)
        for k in range(1, n_pops):
            pop, proj = net.populations[k], net.projections[k - 1]
            noisy, learns, output = e.noisy_[k - 1], e.learns_[k - 1], k == n_pops - 1
            lines, namespace = populations.rate_equations(k, pop.activation_.name, noisy=noisy, noise=e.noise_, clean=clean, dt=e.dt_,
                                                          tau=e.tau_, sigma=e.sigma_)
            parts = []
            if noisy or output:
                lines.append(gate)
            if noisy:
                parts.append(populations.noise_equations(k, dt=e.dt_, sigma=e.sigma_, correlation_time=e.correlation_time_))
                parts.append(projections.postsynaptic_factor(e.eligibility_, dt=e.dt_, mean_tau=e.mean_tau_))
            if learns and proj.bias:
                parts.append((projections.bias_equations(), {}))
            if e.scaled_[k - 1]:
                parts.append((homeostasis.scaling_population_equations(), {}))
            if output:
                parts.append(neuromodulation.loss_equations(clean=clean, loss_scale=e.loss_.scale, window=e.readout_window_, second=second))
            for more_lines, more_namespace in parts:
                lines += more_lines
                namespace.update(more_namespace)
            group = b2.NeuronGroup(pop.n_neurons, "\n".join(lines), method="euler", clock=self.clock, order=10 * k, name=f"{NAME}_pop{k}",
                                   namespace=namespace)
            if output:
                neuromodulation.add_trial_start(group, k, clean=clean, tick=tick)
            if learns and proj.bias:
                projections.add_bias_update(group, k, tick)
            self.groups.append(group)
        self.readout = neuromodulation.readout(b2, self.groups[-1], mod, clean=clean, tick=self.tick)
        self.synapses = [
            projections.projection(b2, self.groups[k], self.groups[k + 1], proj, k, learns=e.learns_[k], scaled=e.scaled_[k], clean=clean,
                                   sigma=e.sigma_, clock=self.clock, tick=tick, modulator=mod)
            for k, proj in enumerate(net.projections)
        ]
        for k, group in enumerate(self.groups[1:]):
            if e.learns_[k] and net.projections[k].bias:
                projections.link_biases(b2, group, mod)
        self.trial_monitor = neuromodulation.trial_monitor(b2, mod, self.tick)
        self.net = b2.Network(*self.groups, mod, self.readout, *self.synapses, self.trial_monitor, name=f"{NAME}_network")
        self.steps = 0
        self.write_weights(e.state_)
        # start every noise variable in its stationary distribution
        for k, group in self.noise_groups():
            populations.start_noise(group, e._noise_rngs[k], e.sigma_)
        self.reset_update_sums()

    def noise_groups(self):
        """``(k, group)`` of every population with a noise variable."""
        return [(k, g) for k, g in enumerate(self.groups) if "n" in g.variables]

    # -- weights and update sums ------------------------------------------------------------
    def write_weights(self, state):
        projections.write_weights(self.synapses, self.groups, state, self.engine.scaling_targets_)

    def read_weights(self):
        return projections.read_weights(self.synapses, self.groups, self.engine.network.projections)

    def reset_update_sums(self):
        projections.reset_update_sums(self.synapses, self.groups)

    def read_update_sums(self, n_trials):
        return projections.read_update_sums(self.synapses, self.groups, self.engine.network.projections, n_trials)

    def running_baseline(self):
        return neuromodulation.running_baseline(self.mod)

    # -- trials --------------------------------------------------------------------------------
    def run(self, x, target, *, learn, record=None):
        """One trial per row of ``x`` (in order, in runs of ``chunk_trials``); the weights are read back into the engine.

        Returns
        -------
        TrialRecord
            Per-trial losses and neuromodulator values; with ``record`` (the
            number of synapses recorded per projection) every time step too.
        """
        e, b2 = self.engine, self.b2
        second = b2.second
        n_total = len(x)
        projections.set_learning(b2, self.synapses, self.groups, eta=e.learning_rate_ / e.eligibility_time_, learn=learn)
        mons = None
        if record is not None:
            mons = add_monitors(b2, self.groups, self.synapses, self.mod, clock=self.clock, clean=self.clean, n_record=record)
            self.net.add(*mons["all"])
        first_tick = len(self.trial_monitor.t)
        first_trial = e.trials_
        noise_groups = self.noise_groups()
        inp, out = self.groups[0], self.groups[-1]
        trial = e.trial_duration_ * second
        try:
            for start in range(0, n_total, e.chunk_trials_):
                stop = min(n_total, start + e.chunk_trials_)
                n = stop - start
                inp.namespace[populations.STIMULUS] = b2.TimedArray(populations.trial_table(x, start, stop, e.chunk_trials_), dt=trial,
                                                                    name=populations.STIMULUS)
                out.namespace[neuromodulation.TARGET] = b2.TimedArray(populations.trial_table(target, start, stop, e.chunk_trials_), dt=trial,
                                                                      name=neuromodulation.TARGET)
                inp.t_stim = out.t_stim = e.trials_ * trial  # the chunk's first trial
                # trial k spans steps [k S, (k + 1) S); the step k S first processes trial k - 1
                first_run = self.steps == 0
                n_steps = n * self.S + (1 if first_run else 0)
                if not first_run:  # the trial-start operation of this chunk's first trial already ran
                    inp.r = x[start]
                    out.y = target[start]
                for k, group in noise_groups:
                    populations.feed_noise(b2, group, k, e._noise_rngs[k], n_steps=n_steps, rows=self.rows, dt=e.dt_, first_step=self.steps)
                with codegen_prefs(b2, e.target_, e.cache_dir), quiet(), np.errstate(all="ignore"):
                    self.net.run(n_steps * e.dt_ * second, namespace={})
                self.steps += n_steps
                e.trials_ += n
            e.state_ = self.read_weights()
        finally:
            if mons is not None:
                self.net.remove(*mons["all"])
        trial_loss, trial_m = neuromodulation.trial_values(self.trial_monitor, first_tick, e.trial_duration_)
        fields = {"trial_loss": trial_loss, "trial_modulator": trial_m, "trial_duration": e.trial_duration_, "readout_window": e.readout_window_}
        if mons is not None:
            fields.update(monitored_fields(mons, e.network.projections, clean=self.clean, start_time=first_trial * e.trial_duration_))
        return TrialRecord(**fields)
