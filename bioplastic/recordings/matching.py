"""Matching model responses to a recording before comparing them.

A model layer usually has other numbers of stimuli and units than a
recording, and no trial noise.  These functions make the two comparable, so
that a similarity score measures the representations rather than the sizes
or the noise:

* :func:`match_stimuli` -- the model's responses to the recording's stimuli,
  in the recording's order (by stimulus identifier);
* :func:`subsample_neurons` and :func:`subsample_stimuli` -- random subsets
  without replacement;
* :func:`split_half_reliability` -- the Spearman-Brown corrected split-half
  reliability of a recording;
* :func:`add_reliability_noise` -- repeats of model responses with Gaussian
  noise calibrated so that their split-half reliability is a target (a
  recording's);
* :func:`matched_score` -- a similarity score of model and recording over
  repeated draws of as many model units as the recording has neurons (with
  calibrated noise if asked), with its mean and spread.

Model activity enters as a :class:`Recording` (see
:func:`bioplastic.recordings.recording_from_activity`) or an array
``(n_stimuli, n_units)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._random import make_rng
from .._validation import check_finite_array, check_positive_int
from .recording import Recording

__all__ = [
    "MatchedScore",
    "add_reliability_noise",
    "match_stimuli",
    "matched_score",
    "split_half_reliability",
    "subsample_neurons",
    "subsample_stimuli",
]


def _as_recording(responses, name):
    if isinstance(responses, Recording):
        return responses
    array = check_finite_array(responses, name, dtype=float)
    if array.ndim not in (2, 3):
        raise ValueError(f"{name} should be a Recording or an array (n_stimuli, n_neurons) or (n_repeats, n_stimuli, n_neurons), "
                         f"got shape {array.shape}")
    return Recording.from_arrays(array)


def _subset(recording, stimuli=None, neurons=None, metadata=None):
    responses, mask = recording.responses, recording.mask
    ids = recording.stimulus_ids
    if stimuli is not None:
        responses, mask, ids = responses[:, stimuli], mask[:, stimuli], ids[stimuli]
    if neurons is not None:
        responses, mask = responses[:, :, neurons], mask[:, :, neurons]
    return Recording(responses, mask=mask, stimulus_ids=ids, metadata={**recording.metadata, **(metadata or {})})


def match_stimuli(model, recording):
    """The model's responses to the recording's stimuli, in the recording's order.

    Parameters
    ----------
    model : Recording or array_like of shape (n_stimuli, n_units)
        An array has stimulus identifiers ``0 .. n_stimuli - 1``.
    recording : Recording

    Returns
    -------
    Recording
        ``model`` itself if its stimulus identifiers are the recording's, in
        the same order; else the model's stimuli with the recording's
        identifiers, reordered.

    Raises
    ------
    ValueError
        If some stimulus of the recording is not among the model's; the
        message names the first missing identifiers.
    """
    model = _as_recording(model, "model")
    if not isinstance(recording, Recording):
        raise TypeError(f"recording should be a Recording, got {type(recording).__name__}")
    if np.array_equal(model.stimulus_ids, recording.stimulus_ids):
        return model
    position = {value: i for i, value in enumerate(model.stimulus_ids.tolist())}
    wanted = recording.stimulus_ids.tolist()
    missing = [value for value in wanted if value not in position]
    if missing:
        raise ValueError(f"the model has no responses to {len(missing)} of the recording's {len(wanted)} stimuli "
                         f"(first missing stimulus_ids: {missing[:5]!r}); give the model's activity the recording's "
                         "stimulus_ids (recording_from_activity(..., stimulus_ids=...))")
    return _subset(model, stimuli=np.array([position[value] for value in wanted]))


def subsample_neurons(responses, n_neurons, *, seed=0):
    """A random subset of neurons (or model units), without replacement.

    Parameters
    ----------
    responses : Recording or array_like of shape (n_stimuli, n_neurons) or (n_repeats, n_stimuli, n_neurons)
    n_neurons : int
        At most the number available.
    seed : int, SeedSequence or Generator, optional

    Returns
    -------
    Recording
        The chosen neurons in increasing index order; ``metadata["neurons"]``
        holds their indices.
    """
    recording = _as_recording(responses, "responses")
    n_neurons = check_positive_int(n_neurons, "n_neurons")
    if n_neurons > recording.n_neurons:
        raise ValueError(f"n_neurons = {n_neurons} exceeds the {recording.n_neurons} neurons available")
    chosen = np.sort(make_rng(seed).choice(recording.n_neurons, size=n_neurons, replace=False))
    return _subset(recording, neurons=chosen, metadata={"neurons": chosen})


def subsample_stimuli(responses, n_stimuli, *, seed=0):
    """A random subset of stimuli, without replacement (e.g. to match a recording's stimulus count).

    Parameters
    ----------
    responses : Recording or array_like of shape (n_stimuli, n_neurons) or (n_repeats, n_stimuli, n_neurons)
    n_stimuli : int
        At most the number available.
    seed : int, SeedSequence or Generator, optional

    Returns
    -------
    Recording
        The chosen stimuli in their original order, with their identifiers.
    """
    recording = _as_recording(responses, "responses")
    n_stimuli = check_positive_int(n_stimuli, "n_stimuli")
    if n_stimuli > recording.n_stimuli:
        raise ValueError(f"n_stimuli = {n_stimuli} exceeds the {recording.n_stimuli} stimuli available")
    return _subset(recording, stimuli=np.sort(make_rng(seed).choice(recording.n_stimuli, size=n_stimuli, replace=False)))


def _half_correlations(responses, order, half):
    """Per-neuron Pearson correlation across stimuli of the means of two halves of the repeats."""
    a = responses[order[:half]].mean(axis=0)
    b = responses[order[half:2 * half]].mean(axis=0)
    a = a - a.mean(axis=0)
    b = b - b.mean(axis=0)
    norms = np.sqrt(np.einsum("sn,sn->n", a, a) * np.einsum("sn,sn->n", b, b))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.einsum("sn,sn->n", a, b) / norms  # NaN for a neuron constant in a half


def split_half_reliability(recording, *, n_splits=20, seed=0):
    """Spearman-Brown corrected split-half reliability of a recording's mean responses.

    The repeats are split at random into two halves of ``h = n_repeats // 2``
    repeats each (one repeat left out when their number is odd); for each
    neuron, ``r`` is the Pearson correlation across stimuli of the two
    half-means; ``r_bar`` is its mean over the neurons (those that vary in
    both halves) and over ``n_splits`` random splits; the reliability of the
    mean over ``2 h`` repeats is then, by the Spearman-Brown formula
    (Spearman 1910; Brown 1910),

    ``rho = 2 r_bar / (1 + r_bar)``.

    For signal variance ``v`` and trial-noise variance ``s^2`` per repeat,
    ``r = v / (v + s^2 / h)`` and ``rho = v / (v + s^2 / (2 h))``.

    Parameters
    ----------
    recording : Recording or array_like of shape (n_repeats, n_stimuli, n_neurons)
        At least 2 repeats and 3 stimuli, no missing entries.
    n_splits : int, optional
        Random splits averaged (with 2 or 3 repeats every split gives the
        same halves up to order).
    seed : int, SeedSequence or Generator, optional

    Returns
    -------
    float
        At most 1; near 0 or negative for responses unrelated to the
        stimuli.

    Raises
    ------
    ValueError
        If there are fewer than 2 repeats or 3 stimuli, missing entries, or
        no neuron varies across stimuli in both halves.
    """
    recording = _as_recording(recording, "recording")
    if recording.n_repeats < 2:
        raise ValueError(f"split-half reliability needs at least 2 repeats, the recording has {recording.n_repeats}")
    if recording.n_stimuli < 3:
        raise ValueError(f"split-half reliability needs at least 3 stimuli, the recording has {recording.n_stimuli}")
    if not recording.complete:
        raise ValueError(f"split-half reliability needs every stimulus observed on every repeat; the recording has "
                         f"{int((~recording.mask).sum())} missing entries")
    n_splits = check_positive_int(n_splits, "n_splits")
    rng = make_rng(seed)
    half = recording.n_repeats // 2
    correlations = np.stack([_half_correlations(recording.responses, rng.permutation(recording.n_repeats), half)
                             for _ in range(n_splits)])
    finite = np.isfinite(correlations)
    if not finite.any():
        raise ValueError("no neuron varies across stimuli in both halves; the split-half reliability is undefined")
    r = float(correlations[finite].mean())
    return 2.0 * r / (1.0 + r)


def add_reliability_noise(model, *, reliability=None, n_repeats=None, recording=None, seed=0, n_splits=20):
    """Repeats of model responses with Gaussian noise calibrated to a split-half reliability.

    Each repeat is ``m_su + c sqrt(v_u) eps_su`` with ``m`` the model's
    (mean) responses, ``v_u`` the variance of unit ``u`` across stimuli and
    independent standard normal ``eps``, so every unit has half-split
    correlation ``r_h = 1 / (1 + c^2 / h)`` for halves of
    ``h = n_repeats // 2`` repeats, and Spearman-Brown corrected reliability
    ``rho = 2 r_h / (1 + r_h)`` (see :func:`split_half_reliability`).  The
    target ``rho`` fixes ``r_h = rho / (2 - rho)`` and

    ``c^2 = h (1 / r_h - 1)``.

    Parameters
    ----------
    model : Recording or array_like of shape (n_stimuli, n_units)
        Noise-free responses (a recording's mean responses are used).
    reliability : float, optional
        The target ``rho`` in ``(0, 1]``; default the recording's
        :func:`split_half_reliability`.
    n_repeats : int, optional
        At least 2; default the recording's number of repeats.
    recording : Recording, optional
        The recording to match, for the defaults above.
    seed : int, SeedSequence or Generator, optional
        Seeds the noise (and the splits of the recording's reliability).
    n_splits : int, optional
        Passed to :func:`split_half_reliability` for the recording.

    Returns
    -------
    Recording
        ``(n_repeats, n_stimuli, n_units)``, with the model's stimulus
        identifiers; ``metadata`` adds ``"reliability"`` (the target) and
        ``"noise_scale"`` (``c``).  Units constant across stimuli get no
        noise.

    Raises
    ------
    ValueError
        If neither a recording nor both ``reliability`` and ``n_repeats`` are
        given, or the target reliability is not in ``(0, 1]`` (a recording
        that unreliable cannot be matched).
    """
    model = _as_recording(model, "model")
    rng = make_rng(seed)
    if recording is not None and not isinstance(recording, Recording):
        raise TypeError(f"recording should be a Recording, got {type(recording).__name__}")
    if reliability is None:
        if recording is None:
            raise ValueError("give the target reliability (with n_repeats) or the recording to match")
        reliability = split_half_reliability(recording, n_splits=n_splits, seed=rng)
    if n_repeats is None:
        if recording is None:
            raise ValueError("give n_repeats (with reliability) or the recording to match")
        n_repeats = recording.n_repeats
    n_repeats = check_positive_int(n_repeats, "n_repeats", minimum=2)
    reliability = float(reliability)
    if not 0 < reliability <= 1:
        raise ValueError(f"reliability should lie in (0, 1], got {reliability!r}; responses that unreliable cannot be matched")
    mean = model.mean_responses()
    half_correlation = reliability / (2.0 - reliability)
    scale = float(np.sqrt((n_repeats // 2) * (1.0 / half_correlation - 1.0)))
    spread = mean.std(axis=0, ddof=1) if mean.shape[0] > 1 else np.zeros(mean.shape[1])
    noisy = mean + scale * spread * rng.standard_normal((n_repeats, *mean.shape))
    return Recording(noisy, stimulus_ids=model.stimulus_ids,
                     metadata={**model.metadata, "reliability": reliability, "noise_scale": scale})


@dataclass(frozen=True)
class MatchedScore:
    """A score over repeated draws of matched model units (see :func:`matched_score`).

    Attributes
    ----------
    values : ndarray of shape (n_draws,)
        The score of each draw.
    """

    values: np.ndarray

    @property
    def mean(self):
        """Mean over the draws."""
        return float(np.mean(self.values))

    @property
    def std(self):
        """Standard deviation over the draws (``ddof=1``; 0 for one draw)."""
        return float(np.std(self.values, ddof=1)) if self.values.size > 1 else 0.0


def matched_score(score, model, recording, *, n_draws=20, noise=False, seed=0):
    """A similarity score of model and recording with the model matched in stimuli, units and (optionally) noise.

    The model is restricted to the recording's stimuli (:func:`match_stimuli`);
    each draw takes as many model units as the recording has neurons
    (:func:`subsample_neurons`) and, with ``noise=True``, replaces them by
    ``n_repeats`` noisy repeats whose split-half reliability is the
    recording's (:func:`add_reliability_noise`); the score is then
    ``score(model_draw, recording)``.

    Parameters
    ----------
    score : callable
        ``score(model, recording) -> float`` of two :class:`Recording` objects
        (e.g. :func:`bioplastic.recordings.linear_cka`, or a function
        comparing their RDMs).
    model : Recording or array_like of shape (n_stimuli, n_units)
        At least as many units as the recording has neurons.
    recording : Recording
    n_draws : int, optional
    noise : bool, optional
        Calibrate trial noise to the recording's reliability (computed once,
        with ``seed``).
    seed : int, SeedSequence or Generator, optional

    Returns
    -------
    MatchedScore
        ``values`` per draw, with ``mean`` and ``std``.

    Raises
    ------
    ValueError
        If the model lacks some of the recording's stimuli or has fewer units
        than the recording has neurons.
    """
    if not callable(score):
        raise TypeError(f"score should be callable, got {type(score).__name__}")
    model = match_stimuli(model, recording)
    if model.n_neurons < recording.n_neurons:
        raise ValueError(f"the model has {model.n_neurons} units, fewer than the recording's {recording.n_neurons} neurons; "
                         "subsample the recording instead (subsample_neurons)")
    n_draws = check_positive_int(n_draws, "n_draws")
    rng = make_rng(seed)
    reliability = split_half_reliability(recording, seed=rng) if noise else None
    values = np.empty(n_draws)
    for d in range(n_draws):
        drawn = subsample_neurons(model, recording.n_neurons, seed=rng)
        if noise:
            drawn = add_reliability_noise(drawn, reliability=reliability, n_repeats=recording.n_repeats, seed=rng)
        values[d] = float(score(drawn, recording))
    return MatchedScore(values)
