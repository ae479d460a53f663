"""The broadcast neuromodulator of three-factor plasticity.

In node perturbation a single scalar per sample, the *reward prediction
error*, is broadcast to every synapse:

    M = -(L_perturbed - L_baseline) / sigma

where ``L_perturbed`` is the loss with intrinsic noise, ``L_baseline`` the
expected loss (a noise-free pass, as in the papers' two passes, or a running
average of recent losses, the biological reward prediction) and ``sigma`` the
noise amplitude. A positive ``M`` means the noise helped.
"""

from __future__ import annotations

import numpy as np

from ._params import Parameterised
from ._validation import check_choice, check_fraction, check_positive

__all__ = ["BASELINES", "Neuromodulator", "check_neuromodulator"]

BASELINES = ("clean", "running_average")


class Neuromodulator(Parameterised):
    """Scalar reward-prediction-error signal.

    Parameters
    ----------
    baseline : {"clean", "running_average"}, default "clean"
        ``"clean"``: the baseline is the loss of a noise-free pass on the same
        input (the papers' algorithm; the numpy engine computes the loss
        *difference* directly, which avoids cancellation). ``"running_average"``:
        an exponential average of recent perturbed losses (a reward
        prediction that needs no second pass).
    decay : float in (0, 1), default 0.9
        Per-trial decay of the running average (``running_average`` only).
    """

    def __init__(self, *, baseline="clean", decay=0.9):
        self.baseline = check_choice(baseline, "baseline", BASELINES)
        self.decay = check_fraction(decay, "decay")

    def signal(self, loss_difference, sigma):
        """Return ``M = -loss_difference / sigma`` (element-wise).

        Parameters
        ----------
        loss_difference : ndarray
            ``L_perturbed - L_baseline`` for each sample (and ensemble member).
        sigma : float
            Noise amplitude (> 0).
        """
        sigma = check_positive(sigma, "sigma")
        return -np.asarray(loss_difference) / sigma

    def update_baseline(self, baseline, perturbed_loss):
        """Return the running-average baseline after observing ``perturbed_loss``."""
        return self.decay * baseline + (1 - self.decay) * perturbed_loss


def check_neuromodulator(neuromodulator):
    """Validate a rule's ``neuromodulator`` argument (default: ``Neuromodulator()``, the clean baseline).

    A dict of its parameters (``{"baseline": "clean"}``, as in a
    configuration file or a description) builds one.

    Which baselines an engine can run is the engine's business: the numpy
    engine runs the clean (two-pass) baseline, the Brian2 engine both.
    """
    if neuromodulator is None:
        return Neuromodulator()
    if isinstance(neuromodulator, dict):  # a description, e.g. from a configuration file
        unknown = sorted(set(neuromodulator) - set(Neuromodulator.param_names()))
        if unknown:
            raise ValueError(f"unknown neuromodulator key(s) {unknown}; expected some of {sorted(Neuromodulator.param_names())}")
        return Neuromodulator(**neuromodulator)
    if not isinstance(neuromodulator, Neuromodulator):
        raise TypeError(f"neuromodulator should be a Neuromodulator or a dict of its parameters, got {neuromodulator!r}")
    return neuromodulator
