"""Inference for any similarity score of two sets of responses to the same stimuli.

* :func:`bootstrap_score` -- the bootstrap distribution and percentile
  confidence interval of a score, resampling stimuli, ensemble members
  (network seeds) or both (Efron & Tibshirani, "An introduction to the
  bootstrap", 1993; for RDMs, Nili et al., PLoS Comput. Biol. 10, e1003553,
  2014);
* :func:`shuffled_baseline` -- the score under random permutations of the
  stimulus labels of one side (the condition-label randomisation test of
  Nili et al. 2014): null distribution and p-value.

``score(first, second) -> float`` is any similarity (or distance): it is
called with two response arrays ``(n_stimuli, n_neurons)`` whose rows are
the same stimuli (from arrays or :class:`Recording` objects, whose mean
responses are used), or, when both sides are :class:`RDMRecording` objects,
with two 1-d vectors of dissimilarities over the same stimulus pairs (e.g.
:func:`bioplastic.recordings.compare_rdms`).  ``first`` may be an ensemble:
a sequence of such objects or an array ``(n_members, n_stimuli, n_units)``
(e.g. :func:`bioplastic.recordings.model_recording` of several members),
scored as the mean over its members.  ``second`` may be several recordings
of the same stimuli (subjects or sessions), scored as the mean over them
(the group score of Nili et al. 2014, which :func:`noise_ceiling
<bioplastic.recordings.noise_ceiling>` bounds); they are resampled and
permuted with the same stimuli, not resampled themselves.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._random import make_rng
from .._validation import check_choice, check_finite_array, check_fraction, check_positive_int
from .recording import RDMRecording, Recording

__all__ = ["BootstrapResult", "PermutationResult", "bootstrap_score", "shuffled_baseline"]


class _Side:
    """One set of responses (rows: stimuli) or one RDM, viewed through stimulus indices."""

    def __init__(self, value, name):
        if isinstance(value, RDMRecording):
            self.kind, self.data = "rdm", value.matrix
        else:
            if isinstance(value, Recording):
                value = value.mean_responses()
            elif np.ndim(value) != 2:
                raise ValueError(f"{name} should be responses (n_stimuli, n_neurons), a Recording or an RDMRecording, "
                                 f"got an array of shape {np.shape(value)}; pass RDMs as RDMRecording")
            self.kind, self.data = "responses", check_finite_array(value, name, ndim=2, dtype=float)
        self.name = name
        self.n_stimuli = self.data.shape[0]

    def view(self, index=None):
        """Rows ``index`` (with repeats) of the responses, or the RDM's dissimilarities among stimuli ``index``.

        For an RDM, pairs of a stimulus with a copy of itself (a bootstrap
        sample drawing it twice) are left out.
        """
        if self.kind == "responses":
            return self.data if index is None else self.data[index]
        upper = np.triu_indices(self.n_stimuli if index is None else index.size, 1)
        if index is None:
            return self.data[upper]
        keep = index[upper[0]] != index[upper[1]]
        return self.data[index[upper[0][keep]], index[upper[1][keep]]]


def _ensemble(value, name):
    """The sides of a sequence (or an array ``(n, n_stimuli, n_units)``) or of one object, and whether it was a sequence."""
    if isinstance(value, (list, tuple)) or (isinstance(value, np.ndarray) and value.ndim == 3):
        return [_Side(m, f"{name}[{i}]") for i, m in enumerate(value)], True
    return [_Side(value, name)], False


def _sides(score, first, second):
    if not callable(score):
        raise TypeError(f"score should be callable, got {type(score).__name__}")
    members, ensemble = _ensemble(first, "first")
    if not members:
        raise ValueError("first should hold at least one ensemble member, got an empty sequence")
    others, _ = _ensemble(second, "second")
    if not others:
        raise ValueError("second should hold at least one recording (subject or session), got an empty sequence")
    reference = others[0]
    for side in members + others[1:]:
        if side.kind != reference.kind:
            raise ValueError(f"{side.name} is {'an RDM' if side.kind == 'rdm' else 'responses'} but {reference.name} is "
                             f"{'an RDM' if reference.kind == 'rdm' else 'responses'}; compare like with like")
        if side.n_stimuli != reference.n_stimuli:
            raise ValueError(f"{side.name} has {side.n_stimuli} stimuli and {reference.name} {reference.n_stimuli}; "
                             "both should have the same stimuli, in the same order")
    if reference.n_stimuli < 3:
        raise ValueError(f"resampling needs at least 3 stimuli, got {reference.n_stimuli}")
    return members, others, ensemble


def _mean_score(score, members, others, first_index, second_index, weights=None):
    """The score averaged over the recordings of ``others`` (subjects) and then over ``members`` (with ``weights``)."""
    second_views = [other.view(second_index) for other in others]

    def one(member):
        view = member.view(first_index)
        return float(np.mean([float(score(view, second_view)) for second_view in second_views]))

    if len(members) == 1:
        return one(members[0])
    return float(np.average([one(m) for m in members], weights=weights))


@dataclass(frozen=True)
class BootstrapResult:
    """Bootstrap distribution of a score (see :func:`bootstrap_score`).

    Attributes
    ----------
    estimate : float
        The score of the data (the mean over members for an ensemble).
    distribution : ndarray of shape (n_bootstrap,)
        The score of each bootstrap sample.
    confidence : float
        Coverage of :attr:`ci`.
    over : str
        What was resampled: ``"stimuli"``, ``"members"`` or ``"both"``.
    """

    estimate: float
    distribution: np.ndarray
    confidence: float
    over: str

    @property
    def ci(self):
        """Percentile interval: the ``(1 - confidence) / 2`` and ``(1 + confidence) / 2`` quantiles of the distribution."""
        low, high = np.quantile(self.distribution, [(1 - self.confidence) / 2, (1 + self.confidence) / 2])
        return float(low), float(high)

    @property
    def std(self):
        """Bootstrap standard error (``ddof=1``)."""
        return float(np.std(self.distribution, ddof=1))


def bootstrap_score(score, first, second, *, over="stimuli", n_bootstrap=1000, confidence=0.95, seed=0):
    """Bootstrap distribution and percentile confidence interval of a similarity score.

    Each bootstrap sample draws, with replacement,

    * ``"stimuli"``: ``n_stimuli`` stimuli, the same for both sides (rows of
      the responses; for RDMs the dissimilarities among the drawn stimuli,
      leaving out the pairs of a stimulus with its own copy, as Nili et al.
      2014 do);
    * ``"members"``: ``n_members`` ensemble members of ``first`` (network
      seeds), the estimate being the mean over members;
    * ``"both"``: members and stimuli, independently;

    and recomputes the score.  The interval is the percentile interval of
    the bootstrap distribution (Efron & Tibshirani 1993, ch. 13): it covers
    the population value with probability near ``confidence`` once the
    number of stimuli (or members) is large enough for the score's sampling
    distribution to be smooth.

    Parameters
    ----------
    score : callable
        ``score(first, second) -> float`` (see the module's description of
        what it receives).
    first : responses, Recording, RDMRecording or a sequence of them (an ensemble)
        Model responses; an array ``(n_members, n_stimuli, n_units)`` is an
        ensemble.
    second : responses, Recording, RDMRecording or a sequence of them (subjects)
        The recording (the same kind as ``first``'s members); several are
        scored as the mean over them.
    over : {"stimuli", "members", "both"}, optional
    n_bootstrap : int, optional
    confidence : float, optional
        In ``(0, 1)``.
    seed : int, SeedSequence or Generator, optional
        The resamples depend on the seed, ``over``, ``n_members`` and
        ``n_stimuli`` only: two calls with the same seed draw the same
        stimuli (and members), so the difference of their distributions is
        the paired bootstrap distribution of the difference of the two
        scores (e.g. after against before training).

    Returns
    -------
    BootstrapResult
        ``estimate``, ``distribution``, ``ci`` (percentile interval) and
        ``std`` (bootstrap standard error).

    Raises
    ------
    ValueError
        If ``over`` is unknown, members are resampled without an ensemble of
        at least 2, the sides differ in kind (RDM vs responses) or number of
        stimuli, or there are fewer than 3 stimuli.
    """
    over = check_choice(over, "over", ("stimuli", "members", "both"))
    members, others, ensemble = _sides(score, first, second)
    if over != "stimuli" and (not ensemble or len(members) < 2):
        raise ValueError(f"over={over!r} resamples ensemble members: first should be a sequence of at least 2 members, "
                         f"got {len(members) if ensemble else 'a single set of responses'}")
    n_bootstrap = check_positive_int(n_bootstrap, "n_bootstrap")
    confidence = check_fraction(confidence, "confidence")
    rng = make_rng(seed)
    n_members, n_stimuli = len(members), others[0].n_stimuli
    per_member = np.array([_mean_score(score, [m], others, None, None) for m in members])
    estimate = float(per_member.mean())
    distribution = np.empty(n_bootstrap)
    for b in range(n_bootstrap):
        if over == "members":
            distribution[b] = per_member[rng.integers(0, n_members, n_members)].mean()
            continue
        chosen = np.arange(n_members)
        counts = None
        if over == "both":
            chosen, counts = np.unique(rng.integers(0, n_members, n_members), return_counts=True)
        index = rng.integers(0, n_stimuli, n_stimuli)
        distribution[b] = _mean_score(score, [members[m] for m in chosen], others, index, index, weights=counts)
    return BootstrapResult(estimate, distribution, confidence, over)


@dataclass(frozen=True)
class PermutationResult:
    """A score against its shuffled-stimulus baseline (see :func:`shuffled_baseline`).

    Attributes
    ----------
    observed : float
        The score of the data.
    null : ndarray of shape (n_permutations,)
        The score with the stimulus labels of ``second`` permuted.
    p_value : float
        ``(1 + #{null at least as extreme}) / (1 + n_permutations)``.
    alternative : str
        ``"greater"`` (a similarity) or ``"less"`` (a distance).
    """

    observed: float
    null: np.ndarray
    p_value: float
    alternative: str

    @property
    def mean(self):
        """Mean of the null distribution."""
        return float(np.mean(self.null))

    @property
    def std(self):
        """Standard deviation of the null distribution (``ddof=1``)."""
        return float(np.std(self.null, ddof=1))


def shuffled_baseline(score, first, second, *, n_permutations=1000, alternative="greater", seed=0):
    """Shuffled-stimulus baseline of a similarity score: permutation null distribution and p-value.

    The stimulus labels of ``second`` are permuted at random (its rows, or an
    RDM's rows and columns together: the condition-label randomisation test
    of Nili et al., PLoS Comput. Biol. 10, e1003553, 2014), which keeps each
    side's own geometry and breaks their correspondence; the score is
    recomputed for each permutation.  The p-value counts the permutations
    scoring at least as well as the data, plus one (Phipson & Smyth, "Permutation
    p-values should never be zero", Stat. Appl. Genet. Mol. Biol. 9, 2010):

    ``p = (1 + #{null >= observed}) / (1 + n_permutations)``

    (``<=`` for ``alternative="less"``).

    Parameters
    ----------
    score : callable
        ``score(first, second) -> float`` (see the module's description).
    first : responses, Recording, RDMRecording or a sequence of them (an ensemble)
        An ensemble is scored by the mean over members, each permutation
        applied to all of them.
    second : responses, Recording, RDMRecording or a sequence of them (subjects)
        Several are scored as the mean over them, each permutation applied
        to all of them.
    n_permutations : int, optional
    alternative : {"greater", "less"}, optional
        ``"greater"`` for similarities (correlations, CKA), ``"less"`` for
        distances (e.g. Procrustes).
    seed : int, SeedSequence or Generator, optional

    Returns
    -------
    PermutationResult
        ``observed``, ``null``, ``p_value``, and the null's ``mean`` and
        ``std``.
    """
    alternative = check_choice(alternative, "alternative", ("greater", "less"))
    members, others, _ = _sides(score, first, second)
    n_permutations = check_positive_int(n_permutations, "n_permutations")
    rng = make_rng(seed)
    observed = _mean_score(score, members, others, None, None)
    null = np.array([_mean_score(score, members, others, None, rng.permutation(others[0].n_stimuli)) for _ in range(n_permutations)])
    extreme = null >= observed if alternative == "greater" else null <= observed
    return PermutationResult(observed, null, float((1 + np.count_nonzero(extreme)) / (1 + n_permutations)), alternative)
