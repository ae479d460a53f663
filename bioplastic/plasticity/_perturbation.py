"""What the node-perturbation family shares: its noise options and its noisy passes.

Every rule of the family perturbs the summed inputs of its layers with
intrinsic noise ``sigma xi``, runs the network with and without it, and
turns the per-sample loss difference ``dL = L~ - L`` into an update. The
options here are common to all of them (Dalm, van Gerven & Ahmad,
"Effective learning by node perturbation in deep neural networks", arXiv
2310.00965):

* ``n_samples``: ``K`` independent noise draws per sample, their estimates
  averaged;
* ``clean_pass``: with ``False`` there is no noise-free pass: both passes are
  noisy (independent draws ``xi_a``, ``xi_b``), ``dL`` and the activity change
  are the differences between them, and the presynaptic rates are those of
  the second (reference) pass;
* ``noise``: Gaussian or Bernoulli (+-1, "rademacher") noise, overriding the
  populations' own.
"""

from __future__ import annotations

import numbers

import numpy as np

from .._validation import check_choice, check_layers, check_positive, check_positive_int, layer_mask
from ..ops import NOISE_TYPES, deltas_to_updates, forward, perturbation_change, scratch
from .base import PlasticityRule

__all__ = ["NoisyPass", "PerturbationRule"]

#: accepted names of the noise distributions (``"bernoulli"``: +-1 with equal probability, i.e. Rademacher)
NOISE_NAMES = (*NOISE_TYPES, "bernoulli")


class NoisyPass:
    """One noisy pass measured against its reference (the clean pass, or a second noisy pass).

    Attributes
    ----------
    reference : Activity
        The pass the changes are measured from (the clean pass, or the
        reference noisy pass without a clean pass).
    loss_difference : ndarray of shape (n_members, batch)
        ``dL = L~ - L_reference`` per sample.
    inputs : list of (ndarray of shape (n_members, batch, n_k) or None)
        Measured change of each layer's summed input, ``delta a_k`` (valid
        until the next pass).
    noise : list of (ndarray or None)
        The injected noise difference per layer, in units of ``sigma``
        (``xi``, or ``xi_a - xi_b`` without a clean pass).
    noise_variance : float
        Variance of each entry of ``noise`` (1, or 2 without a clean pass).
    """

    def __init__(self, reference, loss_difference, inputs, noise, noise_variance):
        self.reference = reference
        self.loss_difference = loss_difference
        self.inputs = inputs
        self.noise = noise
        self.noise_variance = noise_variance


class PerturbationRule(PlasticityRule):
    """Base of the node-perturbation family: ``sigma``, ``layers`` and the shared noise options.

    Parameters
    ----------
    sigma : float
        Noise amplitude (the standard deviation of the perturbation of each
        summed input).
    layers : "all" or sequence of int, default "all"
        Projections (0 = first) whose postsynaptic populations are perturbed
        (and so learn).
    n_samples : int, default 1
        Independent noise draws per sample and step, the estimates averaged.
    clean_pass : bool, default True
        Measure against a noise-free pass; ``False``: against a second,
        independently perturbed pass.
    noise : {"gaussian", "rademacher", "bernoulli"} or None, default None
        Noise distribution (``"bernoulli"``: +-1, the same as
        ``"rademacher"``); ``None``: each population's own ``noise``.
    batch_reduction : {"mean", "sum"}, default "mean"
    """

    signal = "scalar"
    local = True
    uses_noise = True

    def __init__(self, *, sigma, layers="all", n_samples=1, clean_pass=True, noise=None, batch_reduction="mean"):
        super().__init__(batch_reduction=batch_reduction)
        self.sigma = check_positive(sigma, "sigma")
        self.layers = check_layers(layers)
        if isinstance(n_samples, bool) or not isinstance(n_samples, numbers.Integral):
            raise TypeError(f"n_samples should be a positive integer, got {n_samples!r}")
        self.n_samples = check_positive_int(n_samples, "n_samples")
        if not isinstance(clean_pass, bool):
            raise TypeError(f"clean_pass should be True or False, got {clean_pass!r}")
        self.clean_pass = clean_pass
        self.noise = None if noise is None else check_choice(noise, "noise", NOISE_NAMES)

    def perturbed_layers(self, network):
        return layer_mask(self.layers, network)

    @property
    def draws_per_sample(self):
        """Noise draws per sample and step: ``n_samples``, twice that without a clean pass."""
        return self.n_samples * (1 if self.clean_pass else 2)

    def noise_needs(self, network):
        needs = super().noise_needs(network)
        kind = None if self.noise is None else ("rademacher" if self.noise == "bernoulli" else self.noise)
        return needs._replace(samples=self.draws_per_sample, kinds=(kind,) * network.n_layers if kind else ())

    # -- the passes ---------------------------------------------------------------------------
    def _check_noise(self, noise, batch):
        if noise is None or all(n is None for n in noise):
            raise ValueError(f"{type(self).__name__}.directions needs noise (a list of per-layer arrays)")
        rows = self.draws_per_sample * batch
        for k, n in enumerate(noise):
            if n is not None and n.shape[-2] != rows:
                raise ValueError(f"noise[{k}] should have {rows} rows ({self.draws_per_sample} draws x batch {batch}), got shape {n.shape}")

    @staticmethod
    def _draw(noise, index, batch):
        """Draw ``index`` of every layer's noise, rows ``index * batch .. (index + 1) * batch``."""
        return [None if n is None else n[:, index * batch : (index + 1) * batch] for n in noise]

    def noisy_passes(self, network, state, x, target, loss, noise, *, only=None, clean=None, workspace=None):
        """The ``n_samples`` noisy passes of one step, :class:`NoisyPass` after :class:`NoisyPass`.

        Parameters
        ----------
        noise : list of (ndarray of shape (n_members, draws * batch, n_k) or None)
            Unit-variance noise, ``draws_per_sample`` draws per sample.
        only : int, optional
            Perturb this layer alone (the other layers' noise is ignored).
        clean : Activity, optional
            The clean pass, when the caller has it already.

        Yields
        ------
        NoisyPass
            Its arrays are valid until the next one is produced.
        """
        batch = x.shape[0]
        if self.clean_pass and clean is None:
            clean = forward(network, state, x, workspace=workspace)
        for s in range(self.n_samples):
            if self.clean_pass:
                drawn = self._draw(noise, s, batch)
                if only is not None:
                    drawn = [n if k == only else None for k, n in enumerate(drawn)]
                reference, difference, variance = clean, drawn, 1.0
            else:
                first, second = self._draw(noise, 2 * s, batch), self._draw(noise, 2 * s + 1, batch)
                if only is not None:
                    first = [n if k == only else None for k, n in enumerate(first)]
                    second = [n if k == only else None for k, n in enumerate(second)]
                perturbation = [None if n is None else np.multiply(n, self.sigma, out=scratch(workspace, ("ref_noise", k), n.shape, state.dtype))
                                for k, n in enumerate(second)]
                reference = forward(network, state, x, workspace=workspace, perturbation=perturbation)
                difference = [None if a is None else np.subtract(a, b, out=scratch(workspace, ("noise_diff", k), a.shape, state.dtype))
                              for k, (a, b) in enumerate(zip(first, second, strict=True))]
                variance = 2.0
            inputs, changes = perturbation_change(network, state, reference, difference, self.sigma, workspace=workspace, with_inputs=True)
            loss_difference = loss.difference(reference.output, changes[-1], target)
            yield NoisyPass(reference, loss_difference, inputs, difference, variance)

    def _combine(self, network, state, passes, x, scale, workspace, *, single):
        """Weight and bias directions ``(1/B) sum_n p_n x*_n^T`` (``"mean"``), averaged over the noise draws, times ``scale``.

        ``passes`` yields ``(reference, posts, coefficients)``: per-layer
        postsynaptic factors ``(n_members, batch, n_k)`` (or ``None``) and
        per-layer per-sample coefficients of shape ``(n_members, batch, 1)``;
        each item is used before the next is asked for. ``single``: it yields
        exactly one item. With a clean pass the presynaptic rates are the same
        for every item, so their postsynaptic factors are summed first and
        each projection gets one GEMM.
        """
        factor = self._scale(scale, state.n_members, state.dtype) * (self._sample_factor(x.shape[0]) / self.n_samples)
        if single:
            reference, posts, coefficients = next(iter(passes))
            scaled = [None if c is None else c * factor[:, None, None] for c in coefficients]
            weights, biases = deltas_to_updates(network, reference, posts, scaled, workspace=workspace)
            return weights, biases, reference
        if self.clean_pass:
            totals = [None] * network.n_layers
            for item in passes:
                reference, posts, coefficients = item
                for k, (p, c) in enumerate(zip(posts, coefficients, strict=True)):
                    if p is None:
                        continue
                    term = p * c
                    if totals[k] is None:
                        totals[k] = np.array(term, dtype=state.dtype)
                    else:
                        totals[k] += term
            weights, biases = deltas_to_updates(network, reference, totals, factor[:, None, None], workspace=workspace)
            return weights, biases, reference
        weights, biases = [None] * network.n_layers, [None] * network.n_layers
        for reference, posts, coefficients in passes:
            scaled = [None if c is None else c * factor[:, None, None] for c in coefficients]
            w_s, b_s = deltas_to_updates(network, reference, posts, scaled)
            for k in range(network.n_layers):
                if w_s[k] is not None:
                    weights[k] = w_s[k] if weights[k] is None else weights[k] + w_s[k]
                if b_s[k] is not None:
                    biases[k] = b_s[k] if biases[k] is None else biases[k] + b_s[k]
        return weights, biases, reference
