"""Noisy updates: Gaussian noise, times the learning rate, added to the parameters after every step.

Kunin, Nayebi, Sagastuy-Brena, Ganguli, Bloom & Yamins (ICML 2020, Sec. 5)
test how robust learning rules are to imprecise synaptic changes this way.
The noise is an option of the training loop, the same for every rule:
``train(..., update_noise=NoisyUpdates(variance=..., on=...))``.
"""

from __future__ import annotations

import numbers

import numpy as np

from .._params import Parameterised
from .._validation import check_choice, check_nonnegative

__all__ = ["UPDATE_NOISE_TARGETS", "NoisyUpdates", "UpdateNoise", "get_update_noise", "update_noise_stream"]

#: what the noise may be added to
UPDATE_NOISE_TARGETS = ("all", "weights", "rule_state")


def update_noise_stream(seed):
    """The generator of one member's update noise: the fourth child of ``SeedSequence(seed)``.

    Independent of the member's initial weights, intrinsic noise and rule
    state (the first three children, see :mod:`bioplastic._random`).
    """
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"member seeds should be non-negative integers, got {seed!r}")
    return np.random.default_rng(np.random.SeedSequence(int(seed)).spawn(4)[3])


class NoisyUpdates(Parameterised):
    """Gaussian noise added to the parameters after every step: ``p <- p + eta sqrt(variance) z``, ``z ~ N(0, 1)``.

    ``eta`` is the member's learning rate, so the noise added to each
    parameter has variance ``eta^2 variance`` per step. Each member draws
    ``z`` from a stream of its own (a child of ``SeedSequence(seed)``,
    shared by members with the same seed, so a member reproduces a solo
    run); the streams are checkpointed. A frozen (diverged) member gets no
    noise.

    Parameters
    ----------
    variance : float >= 0
        Variance of ``z``'s multiple before the learning rate; 0 adds
        nothing (a run equals one without noisy updates, bit for bit).
    on : {"all", "weights", "rule_state"}, default "all"
        ``"weights"``: the plastic projections' weights and biases;
        ``"rule_state"``: the rule's own state arrays except its step
        counter ``"step"`` (e.g. the feedback matrices ``B<k>``; Kunin et
        al. put the noise there for Kolen-Pollack); ``"all"``: both.
    """

    def __init__(self, *, variance, on="all"):
        self.variance = check_nonnegative(variance, "variance")
        self.on = check_choice(on, "on", UPDATE_NOISE_TARGETS)


def get_update_noise(update_noise):
    """A :class:`NoisyUpdates` from an instance, a dict ``{"variance": ..., "on": ...}`` or ``None``."""
    if update_noise is None or isinstance(update_noise, NoisyUpdates):
        return update_noise
    if isinstance(update_noise, dict):
        allowed = set(NoisyUpdates.param_names())
        unknown = sorted(set(update_noise) - allowed)
        if unknown:
            raise ValueError(f"update_noise takes the keys {sorted(allowed)}, got unknown {unknown}")
        if "variance" not in update_noise:
            raise ValueError(f"update_noise needs a 'variance', got {update_noise!r}")
        return NoisyUpdates(**update_noise)
    raise TypeError(f"update_noise should be a NoisyUpdates, a dict {{'variance': ..., 'on': ...}} or None, got {update_noise!r}")


class UpdateNoise:
    """The noisy updates of one engine's members: one stream per distinct seed, applied after every step.

    Parameters
    ----------
    noisy : NoisyUpdates
    engine : NumpyEngine
    """

    def __init__(self, noisy, engine):
        self.noisy = noisy
        self.engine = engine
        distinct = list(dict.fromkeys(engine.seeds))
        self.stream_of = np.array([distinct.index(s) for s in engine.seeds], dtype=np.intp)
        self.rngs = [update_noise_stream(s) for s in distinct]
        self.std = float(np.sqrt(noisy.variance))

    def targets(self):
        """The arrays the noise goes to, ``[(name, array of shape (n_members, ...))]`` in drawing order."""
        engine, on = self.engine, self.noisy.on
        out = []
        if on in ("all", "weights"):
            for k, proj in enumerate(engine.network.projections):
                if proj.plastic:
                    out.append((f"W{k}", engine.state_.weights[k]))
                    if engine.state_.biases[k] is not None:
                        out.append((f"b{k}", engine.state_.biases[k]))
        if on in ("all", "rule_state"):
            out.extend((f"rule/{name}", value) for name, value in engine.rule_state_.items() if name != "step")
        return out

    def apply(self, scale):
        """Add ``scale * sqrt(variance) * z`` to every target array (``scale``: the members' learning rates, 0 = frozen)."""
        if self.std == 0:
            return
        targets = self.targets()
        if not targets:
            return
        dtype = self.engine.dtype
        factors = (np.asarray(scale, dtype=float) * self.std).astype(dtype)
        draws = [[rng.standard_normal(a.shape[1:], dtype=dtype) for _, a in targets] for rng in self.rngs]
        for i, stream in enumerate(self.stream_of):
            if factors[i] == 0:
                continue
            for (_, a), z in zip(targets, draws[stream], strict=True):
                a[i] += factors[i] * z

    def states(self):
        """Bit-generator states of the streams, one per member (JSON-serialisable; shared streams repeat)."""
        return [self.rngs[s].bit_generator.state for s in self.stream_of]

    def set_states(self, states):
        """Restore the streams from :meth:`states`."""
        if len(states) != len(self.stream_of):
            raise ValueError(f"expected {len(self.stream_of)} update-noise states (one per member), got {len(states)}")
        for s, st in zip(self.stream_of, states, strict=True):
            self.rngs[s].bit_generator.state = st
