"""Dimensionality of responses to a set of stimuli, for neurons and model units alike.

* :func:`participation_ratio` -- the naive participation ratio
  ``PR = (sum_i l_i)^2 / sum_i l_i^2`` of the covariance eigenvalues
  ``l_i`` of the responses across stimuli.
* :func:`corrected_participation_ratio` -- its leading-order finite-sample
  bias correction (Chun et al., ICLR 2026).
* :func:`disjoint_participation_ratio` -- the estimator of Chun et al. from
  sums over disjoint stimulus and neuron indices (corrects for stimuli,
  neurons or both).
* :func:`noise_corrected_participation_ratio` -- the participation ratio of
  the signal covariance from repeats with trial noise (cross products of
  independent repeats over distinct stimuli).
* :func:`dimensionality_sweep` -- an estimator over a grid of stimulus and
  neuron counts (random subsets, repeated), as a table.
* :func:`cross_validated_spectrum` and :func:`power_law_exponent` -- the
  cross-validated PCA spectrum of two repeats and its power-law exponent
  (Stringer et al. 2019).
* :func:`rdm_spectrum` and :func:`rdm_participation_ratio` -- the same
  quantities from a Euclidean RDM (classical multidimensional scaling).

All take arrays ``(n_stimuli, n_neurons)`` (or a :class:`Recording`, whose
mean responses over repeats are used), so the same estimator runs on neurons
and on model units (see :func:`bioplastic.recordings.recording_from_activity`).
Covariances are normalised by ``n_stimuli - 1``.
"""

from __future__ import annotations

import numpy as np

from .._random import make_rng
from .._validation import check_choice, check_finite_array, check_positive_int
from ..ops.statistics import covariance_participation_ratio
from .recording import RDMRecording, Recording
from .recording import _response_matrix as _responses

__all__ = [
    "corrected_participation_ratio",
    "cross_validated_spectrum",
    "dimensionality_sweep",
    "disjoint_participation_ratio",
    "noise_corrected_participation_ratio",
    "participation_ratio",
    "power_law_exponent",
    "rdm_participation_ratio",
    "rdm_spectrum",
]


def _second_moment(responses):
    """The smaller of the centred covariance and Gram matrices (same nonzero eigenvalues), over ``n - 1``."""
    centred = responses - responses.mean(axis=0)
    matrix = centred.T @ centred if responses.shape[1] <= responses.shape[0] else centred @ centred.T
    return matrix / (responses.shape[0] - 1)


def participation_ratio(responses):
    """Naive participation ratio of the responses' covariance across stimuli.

    ``PR = (sum_i l_i)^2 / sum_i l_i^2 = tr(C)^2 / ||C||_F^2`` of the
    eigenvalues ``l_i`` of the covariance ``C`` of the responses across
    stimuli (Gao et al., bioRxiv 214262, 2017; computed with
    :func:`bioplastic.ops.statistics.covariance_participation_ratio`, from
    the Gram matrix when there are more neurons than stimuli).

    Parameters
    ----------
    responses : array_like of shape (n_stimuli, n_neurons) or Recording

    Returns
    -------
    float
        Between 1 and ``min(n_stimuli - 1, n_neurons)``; 0 for responses that
        do not vary.  Biased low for finite samples (see
        :func:`corrected_participation_ratio`).
    """
    return covariance_participation_ratio(_second_moment(_responses(responses)))


def corrected_participation_ratio(responses, *, sampled="both"):
    """Participation ratio corrected for the finite numbers of stimuli and neurons.

    For ``P`` stimuli and ``Q`` neurons, each drawn at random from larger
    populations, the naive estimate (:func:`participation_ratio`) obeys to
    leading order (Chun, Canatar, Chung & Lee, "Estimating dimensionality of
    neural representations from finite samples", ICLR 2026, arXiv:2509.26560)

    ``E[1 / PR_naive] ~ 1 / P + 1 / Q + 1 / PR``,

    so that ``1 / PR_corrected = 1 / PR_naive - 1 / (P - 1) - 1 / Q``.  The
    responses are centred over stimuli, which uses up one of the ``P``
    degrees of freedom: ``P - 1`` replaces ``P`` (the two agree to the order
    of the formula).  This is the leading-order correction of the expected
    inverse; the paper's estimator ``gamma_both`` (sums over disjoint index
    sets, unbiased for the numerator and the denominator) is a different,
    more accurate estimator: :func:`disjoint_participation_ratio`.

    Parameters
    ----------
    responses : array_like of shape (n_stimuli, n_neurons) or Recording
    sampled : {"both", "stimuli", "neurons"}, optional
        Which axes are samples of larger populations.  ``"stimuli"`` drops
        the ``1 / Q`` term (the units are the whole population, e.g. every
        unit of a model layer); ``"neurons"`` drops the ``1 / (P - 1)`` term
        (the stimuli are the whole set of interest).

    Returns
    -------
    float
        The corrected estimate; ``inf`` when the naive estimate is at or
        above the value the finite sample alone would give
        (``1 / PR_naive <= 1 / (P - 1) + 1 / Q``), i.e. when the sample cannot
        resolve the dimensionality.
    """
    sampled = check_choice(sampled, "sampled", ("both", "stimuli", "neurons"))
    responses = _responses(responses)
    naive = participation_ratio(responses)
    if naive == 0:
        raise ValueError("responses do not vary across stimuli; the participation ratio is undefined")
    n_stimuli, n_neurons = responses.shape
    inverse = 1.0 / naive
    if sampled in ("both", "stimuli"):
        inverse -= 1.0 / (n_stimuli - 1)
    if sampled in ("both", "neurons"):
        inverse -= 1.0 / n_neurons
    return float(1.0 / inverse) if inverse > 0 else float("inf")


def _disjoint_moments(responses):
    """Disjoint-index sums of :func:`disjoint_participation_ratio`.

    Returns ``(A, B, A_diag)``: the U-statistics over distinct stimuli of
    ``sum_{a,b} C_aa C_bb``, of ``sum_{a,b} C_ab^2`` and of ``sum_a C_aa^2``,
    and the plug-in ``(tr(S)^2 - sum_a S_aa^2, ||S||_F^2 - sum_a S_aa^2)``
    of the covariance ``S`` of these stimuli (normalised by ``P``).
    """
    x = responses - responses.mean(axis=0)  # the statistics are exactly invariant to per-neuron offsets
    p = x.shape[0]
    g = np.einsum("ia,ia->i", x, x)  # squared norms of the stimulus patterns, the diagonal of X X^T
    s1, s2 = float(g.sum()), float(g @ g)
    gram = x.T @ x if x.shape[1] <= x.shape[0] else x @ x.T
    f = float(np.sum(gram * gram))  # ||X X^T||_F^2
    f0 = f - s2  # off-diagonal part
    p2 = p * (p - 1.0)
    p3 = p2 * (p - 2.0)
    p4 = p3 * (p - 3.0)
    four = (s1 * s1 - 4.0 * s2 + 2.0 * f0) / p4  # four distinct stimuli
    a = (s1 * s1 - s2) / p2 + 2.0 * (s1 * s1 - 2.0 * s2) / p3 + four
    b = f0 / p2 - 2.0 * (s2 - f0) / p3 + four
    m2 = np.einsum("ia,ia->a", x, x)
    m4 = np.einsum("ia,ia->a", x * x, x * x)
    a_diag = float(np.sum((m2 * m2 - m4) / p2 + 2.0 * (m2 * m2 - 2.0 * m4) / p3 + 3.0 * (m2 * m2 - 2.0 * m4) / p4))
    diag2 = float(m2 @ m2)
    return a, b, a_diag, (s1 * s1 - diag2, f - diag2)


def disjoint_participation_ratio(responses, *, sampled="both"):
    """Participation ratio from sums over disjoint indices, for sampled stimuli and neurons.

    The estimators ``gamma_row``, ``gamma_col`` and ``gamma_both`` of Chun,
    Canatar, Chung & Lee ("Estimating dimensionality of neural
    representations from finite samples", ICLR 2026, arXiv:2509.26560).  The
    participation ratio of the covariance ``C`` of the responses across
    stimuli, ``PR = tr(C)^2 / tr(C^2) = sum_{a,b} C_aa C_bb / sum_{a,b}
    C_ab^2`` (``a``, ``b`` neurons), has its numerator and denominator
    estimated without bias by averaging over index sets in which no stimulus
    (and, when neurons are sampled, no neuron) pairs with itself:

    ``A = < (x_ia - x_ja)^2 (x_kb - x_lb)^2 / 4 >``,
    ``B = < (x_ia - x_ja)(x_ib - x_jb)(x_ka - x_la)(x_kb - x_lb) / 4 >``,

    the average running over distinct stimuli ``i, j, k, l`` and over all
    neuron pairs, or over ``a != b`` only; ``PR_hat = A / B``.  (``E[(x_ia -
    x_ja)(x_ib - x_jb)] / 2 = C_ab`` for independent stimuli ``i != j``, so
    the differences also remove the unknown mean response, exactly: the
    estimate does not change when a neuron's responses are offset.)  The
    naive estimate (:func:`participation_ratio`) instead plugs in the sample
    covariance and obeys ``E[1 / PR_naive] ~ 1 / P + 1 / Q + 1 / PR`` for
    ``P`` stimuli and ``Q`` neurons (see :func:`corrected_participation_ratio`).

    The averages are computed in closed form from the squared pattern norms
    ``g_i = ||x_i||^2`` (after centring), ``||X X^T||_F^2`` and per-neuron
    moments, in ``O(P Q min(P, Q))`` operations.

    Parameters
    ----------
    responses : array_like of shape (n_stimuli, n_neurons) or Recording
        At least 4 stimuli; a :class:`Recording` stands for its mean
        responses.
    sampled : {"both", "stimuli", "neurons"}, optional
        Which axes are random samples of larger populations.
        ``"both"`` (``gamma_both``): distinct stimuli and distinct neurons;
        ``"stimuli"`` (``gamma_row``): distinct stimuli, all neuron pairs (the
        units are the whole population, e.g. every unit of a model layer);
        ``"neurons"`` (``gamma_col``): the stimuli are the whole set of
        interest, so ``C`` is their covariance (normalised by ``P``), and
        only the neuron pairs ``a != b`` enter.

    Returns
    -------
    float
        ``A / B``: a ratio of unbiased estimates (only approximately unbiased
        itself); ``inf`` where the estimated denominator is not positive.
        Unlike the naive estimate it is not bounded by ``min(P - 1, Q)``, and
        for very small samples of high-dimensional responses it can be
        negative or far off (its spread, not its bias, is then the limit).

    Raises
    ------
    ValueError
        If ``sampled`` is unknown, there are fewer than 4 stimuli (fewer than
        2 neurons for ``"both"`` and ``"neurons"``), or the responses do not
        vary across stimuli.
    """
    sampled = check_choice(sampled, "sampled", ("both", "stimuli", "neurons"))
    responses = _responses(responses)
    n_stimuli, n_neurons = responses.shape
    if n_stimuli < 4:
        raise ValueError(f"disjoint_participation_ratio needs at least 4 stimuli (rows), got {n_stimuli}")
    if sampled != "stimuli" and n_neurons < 2:
        raise ValueError(f"disjoint_participation_ratio with sampled={sampled!r} needs at least 2 neurons (columns), got {n_neurons}")
    if not np.ptp(responses, axis=0).any():
        raise ValueError("responses do not vary across stimuli; the participation ratio is undefined")
    a, b, a_diag, (a_col, b_col) = _disjoint_moments(responses)
    if sampled == "both":
        a, b = a - a_diag, b - a_diag
    elif sampled == "neurons":
        a, b = a_col, b_col
    return float(a / b) if b > 0 else float("inf")



def _repeat_sums(a, b):
    """Sums over distinct stimulus quadruples of the two-repeat estimator (see :func:`noise_corrected_participation_ratio`).

    Returns ``(T1, T2, T_diag)``: the sums over ordered quadruples of distinct
    stimuli ``i, j, k, l`` of ``tr h(i, j) tr h(k, l)``, of ``<h(i, j),
    h(k, l)>_F`` and of ``sum_a h_aa(i, j) h_aa(k, l)``, with
    ``h(i, j) = (a_i - a_j)(b_i - b_j)^T / 2``.  In closed form from the
    centred repeats (the sums do not change when either repeat is offset per
    neuron): with ``h(i, i) = 0``, the distinct-index sum is
    ``<H, H> - 4 sum_i <R_i, R_i> + 2 sum_ij <h(i, j), h(i, j)>`` for
    ``R_i = sum_j h(i, j) = (P a_i b_i^T + C) / 2``, ``H = P C`` and
    ``C = A^T B``.
    """
    a = a - a.mean(axis=0)
    b = b - b.mean(axis=0)
    p = a.shape[0]
    u = np.einsum("ia,ia->i", a, b)  # a_i . b_i
    c = float(u.sum())  # tr C
    ga, gb = np.einsum("ia,ia->i", a, a), np.einsum("ia,ia->i", b, b)
    if a.shape[1] <= a.shape[0]:  # neuron-by-neuron matrices
        sa, sb, cross = a.T @ a, b.T @ b, a.T @ b
        both_grams = float(np.sum(sa * sb))  # tr(A^T A B^T B)
        cross_square = float(np.sum(cross * cross.T))  # tr(C^2)
        cross_norm = float(np.sum(cross * cross))  # ||C||_F^2
    else:  # stimulus-by-stimulus matrices, the same traces
        ka, kb, mixed = a @ a.T, b @ b.T, a @ b.T
        both_grams = float(np.sum(mixed * mixed))
        cross_square = float(np.sum(mixed * mixed.T))
        cross_norm = float(np.sum(ka * kb))
    t1 = (p * p - 3.0 * p + 1.0) * c * c - p * (p - 1.0) * float(u @ u) + both_grams + cross_square
    t2 = (p - 1.0) * (p - 2.0) * cross_norm - p * (p - 1.0) * float(ga @ gb) + float(ga.sum()) * float(gb.sum())
    # one neuron at a time (a scalar column): the a = b terms, the same in both sums
    ca = np.einsum("ia,ia->a", a, b)
    diagonal = ((p - 1.0) * (p - 2.0) * ca * ca - p * (p - 1.0) * np.einsum("ia,ia->a", a * b, a * b)
                + np.einsum("ia,ia->a", a, a) * np.einsum("ia,ia->a", b, b))
    return t1, t2, float(diagonal.sum())


def _repeats(responses, second, name):
    """The repeats of a recording, a 3-d array or a pair of 2-d arrays, as a list of complete ``(P, Q)`` arrays."""
    if second is not None:
        first = _responses(responses, "first repeat")
        second = _responses(second, "second repeat")
        if first.shape != second.shape:
            raise ValueError(f"both repeats should have the same shape, got {first.shape} and {second.shape}")
        return [first, second]
    if isinstance(responses, Recording):
        if not responses.complete:
            raise ValueError(f"{name} needs every stimulus observed on every repeat; the recording has "
                             f"{int((~responses.mask).sum())} missing entries (select complete repeats first)")
        responses = responses.responses
    elif np.ndim(responses) != 3:
        raise ValueError(f"without second, responses should be a Recording or an array (n_repeats, n_stimuli, n_neurons), "
                         f"got shape {np.shape(responses)}")
    responses = check_finite_array(responses, "responses", ndim=3, dtype=float)
    if responses.shape[0] < 2:
        raise ValueError(f"{name} needs at least 2 repeats, got {responses.shape[0]}")
    return list(responses)


def noise_corrected_participation_ratio(responses, second=None, *, sampled="stimuli"):
    """Participation ratio of the stimulus-driven (signal) covariance, from repeats with independent trial noise.

    The responses to repeat ``r`` of stimulus ``i`` are ``x^r_i = s_i + e^r_i``:
    a signal ``s_i`` (the stimuli drawn at random, covariance ``C`` across
    stimuli) and trial noise ``e^r_i`` of zero mean, independent across
    repeats and stimuli, of any covariance across neurons.  The signal
    covariance is the cross-covariance of two repeats ``A``, ``B``,
    ``(A - mean)^T (B - mean) / (P - 1)`` (noise independent between them
    cancels), and its participation ratio

    ``PR = tr(C)^2 / tr(C^2)``

    has its numerator and denominator estimated without bias from the
    repeats' cross products over distinct stimuli: with
    ``h(i, j) = (a_i - a_j)(b_i - b_j)^T / 2``, whose expectation for
    ``i != j`` is ``C`` (the difference also removes the mean), and the
    average over ordered quadruples of distinct stimuli ``i, j, k, l``,

    ``tr(C)^2 ~ < tr h(i, j) tr h(k, l) >``,  ``tr(C^2) ~ < <h(i, j), h(k, l)>_F >``.

    Each noise term enters one factor of a product once, so the estimates
    are free of noise bias (and of the finite-stimulus bias of plug-in
    estimates), whereas the naive participation ratio of the trial-averaged
    responses (:func:`participation_ratio`) counts the noise covariance in
    ``C`` and, with the symmetrised cross-covariance plugged in, ``tr(C^2)``
    keeps a noise term of order ``tr(N)^2 / P`` for the noise covariance
    ``N`` (products of the two repeats' noise on the same stimulus).  With more
    than two repeats both sums are averaged over every pair of repeats.  The
    sums are computed in closed form in ``O(P Q min(P, Q))`` operations
    (see :func:`disjoint_participation_ratio`, the same estimator for one
    noiseless repeat: passing a repeat as both gives it).

    Parameters
    ----------
    responses : Recording, array_like of shape (n_repeats, n_stimuli, n_neurons), or of shape (n_stimuli, n_neurons)
        All repeats (at least 2, complete), or repeat 1 alone with ``second``
        repeat 2.
    second : array_like of shape (n_stimuli, n_neurons), optional
    sampled : {"stimuli", "both"}, optional
        ``"stimuli"``: the neurons are the whole population, every neuron
        pair enters (``a = b`` too); ``"both"``: the neurons are a random
        sample of a larger population too and only the pairs ``a != b``
        enter, which removes the finite-neuron bias as well (as
        ``gamma_both`` of Chun, Canatar, Chung & Lee, "Estimating
        dimensionality of neural representations from finite samples",
        arXiv:2509.26560, 2025).

    Returns
    -------
    float
        A ratio of unbiased estimates (approximately unbiased itself, its
        spread shrinking with the numbers of stimuli and repeats); ``inf``
        where the estimated ``tr(C^2)`` is not positive.  Not bounded by
        ``min(P - 1, Q)``.

    Raises
    ------
    ValueError
        If ``sampled`` is unknown, there are fewer than 2 repeats or 4
        stimuli (2 neurons for ``"both"``), the repeats differ in shape or a
        recording has missing entries.

    See Also
    --------
    corrected_participation_ratio : finite-sample corrections of one noiseless repeat.
    cross_validated_spectrum : the eigenvalue spectrum of the signal, from two repeats.
    """
    sampled = check_choice(sampled, "sampled", ("stimuli", "both"))
    repeats = _repeats(responses, second, "noise_corrected_participation_ratio")
    n_stimuli, n_neurons = repeats[0].shape
    if n_stimuli < 4:
        raise ValueError(f"noise_corrected_participation_ratio needs at least 4 stimuli (rows), got {n_stimuli}")
    if sampled == "both" and n_neurons < 2:
        raise ValueError(f"noise_corrected_participation_ratio with sampled='both' needs at least 2 neurons (columns), got {n_neurons}")
    sums = np.zeros(3)
    pairs = [(r, s) for r in range(len(repeats)) for s in range(r + 1, len(repeats))]
    for r, s in pairs:
        sums += _repeat_sums(repeats[r], repeats[s])
    numerator, denominator, diagonal = sums / len(pairs)
    if sampled == "both":
        numerator, denominator = numerator - diagonal, denominator - diagonal
    return float(numerator / denominator) if denominator > 0 else float("inf")

def _grid(counts, total, name, minimum):
    if counts is None:
        return [total]
    values = [counts] if np.ndim(counts) == 0 else list(counts)
    if not values:
        raise ValueError(f"{name} should hold at least one count, got an empty sequence")
    out = []
    for i, value in enumerate(values):
        value = check_positive_int(value, f"{name}[{i}]", minimum=minimum)
        if value > total:
            raise ValueError(f"{name}[{i}] = {value} exceeds the {total} available")
        out.append(value)
    return out


def _sweep_estimators(estimators, sampled):
    named = {
        "naive": participation_ratio,
        "corrected": lambda x: corrected_participation_ratio(x, sampled=sampled),
        "disjoint": lambda x: disjoint_participation_ratio(x, sampled=sampled),
    }
    if isinstance(estimators, dict):
        if not estimators:
            raise ValueError("estimators should name at least one estimator, got an empty dict")
        for name, function in estimators.items():
            if not callable(function):
                raise TypeError(f"estimators[{name!r}] should be callable, got {type(function).__name__}")
        return dict(estimators)
    names = [estimators] if isinstance(estimators, str) else list(estimators)
    if not names:
        raise ValueError("estimators should name at least one estimator, got an empty sequence")
    chosen = [check_choice(name, "estimator", tuple(named)) for name in names]
    return {name: named[name] for name in chosen}


def dimensionality_sweep(responses, *, n_stimuli=None, n_neurons=None, estimators=("naive", "disjoint"), sampled="both",
                         n_repeats=20, seed=0, summary=True):
    """Dimensionality estimates over a grid of stimulus and neuron counts, from random subsets.

    For every pair ``(P, Q)`` of the grid and every repeat, ``P`` stimuli and
    ``Q`` neurons are drawn without replacement and every estimator is
    applied to that same submatrix.  The naive participation ratio rises
    with ``P`` and ``Q`` (``E[1 / PR_naive] ~ 1 / P + 1 / Q + 1 / PR``, Chun
    et al., ICLR 2026, arXiv:2509.26560, where such sweeps show the bias);
    a corrected estimator should stay flat within its spread.  The subsets
    are drawn from the responses at hand, so the flat level is the
    estimate's target for that population of stimuli and neurons.

    Parameters
    ----------
    responses : Recording or array_like of shape (n_stimuli, n_neurons)
        A recording (its mean responses over repeats) or model activity
        (e.g. :func:`bioplastic.recordings.recording_from_activity`, or the
        array itself): both go through the same code.
    n_stimuli, n_neurons : int or sequence of int, optional
        The counts of the grid (default: all stimuli, all neurons).  Each in
        ``[2, n_stimuli]`` and ``[1, n_neurons]``.
    estimators : sequence of str or dict, optional
        Names among ``"naive"`` (:func:`participation_ratio`),
        ``"corrected"`` (:func:`corrected_participation_ratio`) and
        ``"disjoint"`` (:func:`disjoint_participation_ratio`), or a dict
        ``{name: function}`` of functions of a ``(P, Q)`` array returning a
        float.
    sampled : {"both", "stimuli", "neurons"}, optional
        Passed to the named corrected estimators.
    n_repeats : int, optional
        Random subsets per grid point.
    seed : int, SeedSequence or Generator, optional
        Seeds the subsets (:func:`numpy.random.default_rng`).
    summary : bool, optional
        One row per estimator and grid point (``mean``, ``std`` with
        ``ddof=1`` -- 0 for a single repeat -- and ``sem``), or, with
        ``False``, one row per repeat (``repeat``, ``value``).

    Returns
    -------
    pandas.DataFrame
        Columns ``estimator``, ``n_stimuli``, ``n_neurons`` and either
        ``mean``, ``std``, ``sem``, ``n_repeats`` or ``repeat``, ``value``;
        rows in grid order (stimulus counts outer, neuron counts inner).  A
        grid point where some repeat gives ``inf`` (a sample that cannot
        resolve the dimensionality) has an infinite mean and a NaN spread.
    """
    import pandas as pd

    data = responses.mean_responses() if isinstance(responses, Recording) else responses
    data = check_finite_array(data, "responses", ndim=2, dtype=float)
    stimuli = _grid(n_stimuli, data.shape[0], "n_stimuli", 2)
    neurons = _grid(n_neurons, data.shape[1], "n_neurons", 1)
    functions = _sweep_estimators(estimators, check_choice(sampled, "sampled", ("both", "stimuli", "neurons")))
    n_repeats = check_positive_int(n_repeats, "n_repeats")
    rng = make_rng(seed)
    rows = []
    for p in stimuli:
        for q in neurons:
            values = {name: np.empty(n_repeats) for name in functions}
            for r in range(n_repeats):
                rows_drawn = rng.choice(data.shape[0], size=p, replace=False)
                columns_drawn = rng.choice(data.shape[1], size=q, replace=False)
                subset = data[np.ix_(rows_drawn, columns_drawn)]
                for name, function in functions.items():
                    values[name][r] = function(subset)
            for name, v in values.items():
                if summary:
                    with np.errstate(invalid="ignore"):  # an infinite estimate makes the spread NaN
                        std = float(v.std(ddof=1)) if n_repeats > 1 else 0.0
                    rows.append({"estimator": name, "n_stimuli": p, "n_neurons": q, "mean": float(v.mean()), "std": std,
                                 "sem": std / np.sqrt(n_repeats), "n_repeats": n_repeats})
                else:
                    rows.extend({"estimator": name, "n_stimuli": p, "n_neurons": q, "repeat": r, "value": float(x)}
                                for r, x in enumerate(v))
    return pd.DataFrame(rows)


def cross_validated_spectrum(responses, second=None, *, repeats=(0, 1)):
    """Cross-validated PCA spectrum of responses to two repeats of the stimuli.

    Stringer, Pachitariu, Steinmetz, Carandini & Harris, "High-dimensional
    geometry of population responses in visual cortex", Nature 571, 361-365
    (2019), Methods: the eigenvectors ``u_n`` of the covariance of repeat 1
    (centred over stimuli) are computed, both repeats are projected on them,
    and the ``n``-th eigenvalue is estimated by the covariance of the
    projections across repeats,

    ``l_n = (1 / (P - 1)) sum_s (x1_s . u_n) (x2_s . u_n)``.

    Trial-to-trial noise independent between repeats cancels in expectation,
    so ``l_n`` estimates the stimulus-related variance along ``u_n``
    (it may be negative where that variance is small).

    Parameters
    ----------
    responses : Recording, array_like of shape (n_repeats, n_stimuli, n_neurons), or of shape (n_stimuli, n_neurons)
        Either all repeats (``repeats`` selects two) or repeat 1 alone, with
        ``second`` repeat 2.
    second : array_like of shape (n_stimuli, n_neurons), optional
    repeats : tuple of two int, optional
        The repeats used from a recording or 3-d array (default the first
        two); ignored with ``second``.

    Returns
    -------
    ndarray of shape (min(n_stimuli - 1, n_neurons),)
        Estimates in the order of the repeat-1 eigenvalues (descending).
    """
    if second is None:
        if not isinstance(responses, Recording):
            responses = Recording(np.asarray(responses, dtype=float)) if np.ndim(responses) == 3 else None
            if responses is None:
                raise ValueError("without second, responses should be a Recording or an array "
                                 "(n_repeats, n_stimuli, n_neurons)")
        first, second = responses.repeat_pair(repeats=repeats)
    else:
        first = responses
    first = _responses(first, "first repeat")
    second = _responses(second, "second repeat")
    if first.shape != second.shape:
        raise ValueError(f"both repeats should have the same shape, got {first.shape} and {second.shape}")
    a = first - first.mean(axis=0)
    b = second - second.mean(axis=0)
    n_components = min(a.shape[0] - 1, a.shape[1])
    if a.shape[1] <= a.shape[0]:
        _, vectors = np.linalg.eigh(a.T @ a)
        vectors = vectors[:, ::-1][:, :n_components]
    else:  # principal axes from the SVD, cheaper with more neurons than stimuli
        vectors = np.linalg.svd(a, full_matrices=False)[2][:n_components].T
    return np.einsum("sk,sk->k", a @ vectors, b @ vectors) / (a.shape[0] - 1)


def power_law_exponent(spectrum, *, ranks=(11, 500)):
    """Exponent ``alpha`` of a power-law fit ``l_n ~ n^(-alpha)`` of a spectrum.

    A least-squares line through ``(log n, log l_n)`` for the ranks ``n``
    from ``ranks[0]`` to ``ranks[1]`` inclusive (1-based); Stringer et al.
    (Nature 2019) fit ranks 11 to 500 of the cross-validated spectrum of
    2,800 images.

    Parameters
    ----------
    spectrum : array_like of shape (n,)
        Eigenvalues in rank order (e.g. :func:`cross_validated_spectrum`).
    ranks : tuple of two int, optional
        First and last rank of the fit, ``1 <= ranks[0] < ranks[1] <= n``.

    Returns
    -------
    float
        ``alpha`` (minus the slope).

    Raises
    ------
    ValueError
        If the range is bad or a fitted eigenvalue is not positive.
    """
    spectrum = check_finite_array(spectrum, "spectrum", ndim=1, dtype=float)
    try:
        start, stop = (int(r) for r in ranks)
    except (TypeError, ValueError):
        raise ValueError(f"ranks should be two integers (first, last), got {ranks!r}") from None
    if not 1 <= start < stop <= spectrum.size:
        raise ValueError(f"ranks should satisfy 1 <= first < last <= {spectrum.size} (the spectrum's length), got {ranks!r}")
    values = spectrum[start - 1:stop]
    if (values <= 0).any():
        bad = start + int(np.argmax(values <= 0))
        raise ValueError(f"spectrum has a non-positive eigenvalue {spectrum[bad - 1]:g} at rank {bad}, inside the "
                         f"fitted ranks {ranks!r}; fit a range where the spectrum is positive")
    slope = np.polyfit(np.log(np.arange(start, stop + 1)), np.log(values), 1)[0]
    return float(-slope)


def _gram_from_rdm(rdm, squared):
    if not isinstance(rdm, RDMRecording):
        rdm = RDMRecording(rdm)
    d2 = rdm.matrix if squared else rdm.matrix**2
    n = rdm.n_stimuli
    centring = np.eye(n) - 1.0 / n
    return -0.5 * centring @ d2 @ centring / (n - 1)


def rdm_spectrum(rdm, *, squared=False):
    """Covariance spectrum of the responses behind a Euclidean RDM.

    Classical multidimensional scaling (Torgerson 1952; Gower 1966): for
    squared Euclidean distances ``D2_ij = ||x_i - x_j||^2`` between the
    response patterns ``x_i`` of ``P`` stimuli, the double-centred matrix
    ``G = -1/2 J D2 J`` with ``J = I - 11^T / P`` is the Gram matrix of the
    centred patterns, whose nonzero eigenvalues over ``P - 1`` are those of
    the patterns' covariance.

    A correlation-distance RDM (``1 - r``) is, up to a factor
    ``2 (n_neurons - 1)``, the squared Euclidean RDM of the z-scored
    patterns: pass it with ``squared=True`` to get the spectrum of the
    z-scored patterns (up to that factor).

    Parameters
    ----------
    rdm : RDMRecording or array_like (square or condensed)
    squared : bool, optional
        Whether the entries are already squared distances.

    Returns
    -------
    ndarray of shape (n_stimuli,)
        Eigenvalues of ``G / (P - 1)`` in descending order (the last is 0; a
        non-Euclidean RDM gives negative ones).
    """
    return np.linalg.eigvalsh(_gram_from_rdm(rdm, squared))[::-1]


def rdm_participation_ratio(rdm, *, squared=False):
    """Participation ratio ``tr(G)^2 / ||G||_F^2`` of the double-centred RDM (see :func:`rdm_spectrum`).

    Equals :func:`participation_ratio` of the responses that made a
    Euclidean RDM.  For a non-Euclidean RDM the negative eigenvalues of
    ``G`` count in ``||G||_F^2``.

    Parameters
    ----------
    rdm : RDMRecording or array_like (square or condensed)
    squared : bool, optional
        Whether the entries are already squared distances.

    Returns
    -------
    float
    """
    return covariance_participation_ratio(_gram_from_rdm(rdm, squared))
