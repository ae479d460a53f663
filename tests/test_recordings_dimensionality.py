"""Dimensionality estimators against closed forms and synthetic data with known answers."""

import itertools

import numpy as np
import pytest
from scipy.spatial.distance import pdist

from bioplastic.analysis import participation_ratio as analysis_participation_ratio
from bioplastic.recordings import (
    Recording,
    corrected_participation_ratio,
    cross_validated_spectrum,
    dimensionality_sweep,
    disjoint_participation_ratio,
    noise_corrected_participation_ratio,
    participation_ratio,
    power_law_exponent,
    rdm_participation_ratio,
    rdm_spectrum,
    recording_from_activity,
)


def _orthogonal_responses(n_stimuli, variances, seed):
    """Responses whose centred columns are orthogonal, with sums of squares ``variances``."""
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((n_stimuli, len(variances)))
    q = np.linalg.qr(a - a.mean(axis=0))[0]
    return q * np.sqrt(variances) + rng.standard_normal(len(variances))  # plus an offset per neuron


def test_participation_ratio_closed_form_and_gram_path():
    variances = np.array([4.0, 2.0, 1.0, 1.0, 0.5])
    x = _orthogonal_responses(30, variances, seed=0)
    expected = variances.sum() ** 2 / (variances**2).sum()
    assert participation_ratio(x) == pytest.approx(expected, rel=1e-12)
    # more neurons than stimuli: the Gram matrix path, against the covariance path of analysis
    wide = np.random.default_rng(1).standard_normal((8, 40))
    assert participation_ratio(wide) == pytest.approx(analysis_participation_ratio(wide), rel=1e-12)
    assert participation_ratio(Recording(np.stack([x, x]))) == pytest.approx(expected, rel=1e-12)
    assert participation_ratio(np.ones((4, 3))) == 0.0


def _doubly_sampled(rng, n_stimuli, n_neurons, eigenvalues):
    """``X = G diag(sqrt(l)) H^T``: stimuli (rows of G) and neurons (rows of H) drawn at random."""
    g = rng.standard_normal((n_stimuli, eigenvalues.size))
    h = rng.standard_normal((n_neurons, eigenvalues.size))
    return (g * np.sqrt(eigenvalues)) @ h.T


def test_corrected_participation_ratio_removes_the_finite_sample_bias():
    """Known answer: X = G diag(sqrt(l)) H^T with Gaussian G (P stimuli) and H (Q neurons) has
    population participation ratio PR = (sum l)^2 / sum l^2 = 30.0 here.

    Chun et al. (2025): E[1/PR_naive] = 1/P + 1/Q + 1/PR up to O(1/(PQ)) (with P - 1 for centring).
    Over 20 independent draws, the tolerance is 4 standard errors of the mean (estimated from the
    draws' spread) plus the formula's O(1/(PQ)) remainder (1/(PQ) = 3.3e-5 on 1/PR, i.e. < 0.03 on PR).
    The naive mean is biased to about 22, far outside that band.
    """
    rng = np.random.default_rng(2)
    eigenvalues = np.exp(-np.arange(200) / 15.0)
    true_pr = eigenvalues.sum() ** 2 / (eigenvalues**2).sum()
    assert true_pr == pytest.approx(30.0, abs=0.1)
    n_stimuli, n_neurons = 200, 150
    naive, corrected = [], []
    for _ in range(20):
        x = _doubly_sampled(rng, n_stimuli, n_neurons, eigenvalues)
        naive.append(participation_ratio(x))
        corrected.append(corrected_participation_ratio(x))
    naive, corrected = np.array(naive), np.array(corrected)
    remainder = 1.0 / (n_stimuli * n_neurons)

    predicted_inverse = 1 / (n_stimuli - 1) + 1 / n_neurons + 1 / true_pr
    se_inverse = (1 / naive).std(ddof=1) / np.sqrt(len(naive))
    assert abs((1 / naive).mean() - predicted_inverse) < 4 * se_inverse + remainder

    se = corrected.std(ddof=1) / np.sqrt(len(corrected))
    assert abs(corrected.mean() - true_pr) < 4 * se + remainder * true_pr**2
    assert true_pr - naive.mean() > 10 * naive.std(ddof=1) / np.sqrt(len(naive))


def test_corrected_participation_ratio_for_a_complete_population_of_units():
    """Known answer: all Q = D units observed (X = G diag(sqrt(l))), only stimuli sampled, PR = 30.0:
    E[1/PR_naive] = 1/(P - 1) + 1/PR to leading order, so ``sampled="stimuli"`` recovers PR within
    4 standard errors of the mean of 20 draws (plus O(1/(P PR)) = 1.7e-4 on 1/PR, 0.15 on PR);
    ``sampled="both"`` would also subtract 1/Q and overshoot.
    """
    rng = np.random.default_rng(3)
    eigenvalues = np.exp(-np.arange(200) / 15.0)
    true_pr = eigenvalues.sum() ** 2 / (eigenvalues**2).sum()
    n_stimuli = 200
    stimuli, both = [], []
    for _ in range(20):
        x = rng.standard_normal((n_stimuli, eigenvalues.size)) * np.sqrt(eigenvalues)
        stimuli.append(corrected_participation_ratio(x, sampled="stimuli"))
        both.append(corrected_participation_ratio(x, sampled="both"))
    stimuli, both = np.array(stimuli), np.array(both)
    se = stimuli.std(ddof=1) / np.sqrt(len(stimuli))
    assert abs(stimuli.mean() - true_pr) < 4 * se + true_pr**2 / (n_stimuli * true_pr)
    assert both.mean() - true_pr > 10 * both.std(ddof=1) / np.sqrt(len(both))


def test_corrected_participation_ratio_formula_inf_and_errors():
    x = np.random.default_rng(4).standard_normal((12, 9))
    naive, (p, q) = participation_ratio(x), x.shape
    assert corrected_participation_ratio(x, sampled="neurons") == pytest.approx(1 / (1 / naive - 1 / q), rel=1e-12)
    assert corrected_participation_ratio(x, sampled="stimuli") == pytest.approx(1 / (1 / naive - 1 / (p - 1)), rel=1e-12)
    # isotropic, as many dimensions as the sample allows: not resolvable
    assert corrected_participation_ratio(_orthogonal_responses(5, np.ones(4), seed=5)) == float("inf")
    with pytest.raises(ValueError, match="unknown sampled 'rows'"):
        corrected_participation_ratio(x, sampled="rows")
    with pytest.raises(ValueError, match="do not vary"):
        corrected_participation_ratio(np.ones((4, 3)))


def test_cross_validated_spectrum_matches_the_definition():
    rng = np.random.default_rng(6)
    for shape in ((20, 6), (6, 20)):  # eigh and SVD paths
        r1, r2 = rng.standard_normal(shape), rng.standard_normal(shape)
        a, b = r1 - r1.mean(axis=0), r2 - r2.mean(axis=0)
        values, vectors = np.linalg.eigh(np.cov(r1, rowvar=False))
        order = np.argsort(values)[::-1][: min(shape[0] - 1, shape[1])]
        naive = [np.sum((a @ vectors[:, k]) * (b @ vectors[:, k])) / (shape[0] - 1) for k in order]
        np.testing.assert_allclose(cross_validated_spectrum(r1, r2), naive, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(cross_validated_spectrum(np.stack([r2, r1, r2]), repeats=(1, 2)), naive, rtol=1e-9, atol=1e-12)
    # identical repeats: the ordinary PCA spectrum
    x = rng.standard_normal((30, 5))
    np.testing.assert_allclose(cross_validated_spectrum(Recording(np.stack([x, x]))),
                               np.sort(np.linalg.eigvalsh(np.cov(x, rowvar=False)))[::-1], rtol=1e-10)
    with pytest.raises(ValueError, match="without second"):
        cross_validated_spectrum(x)
    with pytest.raises(ValueError, match="same shape"):
        cross_validated_spectrum(x, x[:, :4])


def test_cross_validated_pca_recovers_the_power_law_exponent_under_trial_noise():
    """Known answer: stimulus-related variance l_n = n^-1 along the neuron axes (P = 1500 stimuli,
    N = 200 neurons), plus independent Gaussian trial noise of s.d. 0.15 on each repeat.

    The exponent fitted over ranks 5-50 of the cross-validated spectrum has s.d. 0.01 over seeds and
    a bias of about +0.02 (the finite-stimulus distortion of sample eigenvectors), so a tolerance of
    0.05 is more than 2.5 s.d. beyond the bias.  Plain PCA of one repeat adds the noise variance 0.0225
    to every eigenvalue and flattens the spectrum to an exponent near 0.6.
    """
    rng = np.random.default_rng(7)
    n_stimuli, n_neurons, alpha = 1500, 200, 1.0
    signal = rng.standard_normal((n_stimuli, n_neurons)) * np.arange(1, n_neurons + 1) ** (-alpha / 2)
    repeats = signal + 0.15 * rng.standard_normal((2, n_stimuli, n_neurons))
    cv = power_law_exponent(cross_validated_spectrum(Recording(repeats)), ranks=(5, 50))
    plain = power_law_exponent(np.sort(np.linalg.eigvalsh(np.cov(repeats[0], rowvar=False)))[::-1], ranks=(5, 50))
    assert abs(cv - alpha) < 0.05
    assert abs(plain - alpha) > 0.3


def test_power_law_exponent_exact_and_errors():
    n = np.arange(1, 101)
    assert power_law_exponent(3.0 * n**-1.3, ranks=(11, 100)) == pytest.approx(1.3, rel=1e-12)
    with pytest.raises(ValueError, match=r"1 <= first < last <= 100 \(the spectrum's length\), got \(11, 500\)"):
        power_law_exponent(n**-1.0)
    spectrum = n**-1.0
    spectrum[40] = -0.1
    with pytest.raises(ValueError, match="non-positive eigenvalue -0.1 at rank 41"):
        power_law_exponent(spectrum, ranks=(2, 60))


def test_rdm_spectrum_equals_the_covariance_spectrum_of_the_responses():
    """Classical MDS: the double-centred squared-distance RDM has the covariance eigenvalues (times P - 1)."""
    rng = np.random.default_rng(8)
    for shape in ((12, 5), (6, 10)):
        x = rng.standard_normal(shape) * rng.random(shape[1])
        covariance_eigenvalues = np.sort(np.linalg.eigvalsh(np.cov(x, rowvar=False)))[::-1]
        expected = np.zeros(shape[0])
        k = min(shape[0] - 1, shape[1])
        expected[:k] = covariance_eigenvalues[:k]
        np.testing.assert_allclose(rdm_spectrum(pdist(x, "euclidean")), expected, atol=1e-12)
        np.testing.assert_allclose(rdm_spectrum(pdist(x, "sqeuclidean"), squared=True), expected, atol=1e-12)
        assert rdm_participation_ratio(pdist(x, "euclidean")) == pytest.approx(participation_ratio(x), rel=1e-10)


def test_rdm_spectrum_of_a_correlation_rdm_is_that_of_z_scored_patterns():
    rng = np.random.default_rng(9)
    x = rng.standard_normal((10, 7))
    z = (x - x.mean(axis=1, keepdims=True)) / x.std(axis=1, ddof=1, keepdims=True)
    expected = np.sort(np.linalg.eigvalsh(np.cov(z, rowvar=False)))[::-1]
    spectrum = rdm_spectrum(pdist(x, "correlation"), squared=True) * 2 * (x.shape[1] - 1)
    np.testing.assert_allclose(spectrum[:6], expected[:6], atol=1e-12)  # z has rank 6 (rows sum to 0)
    np.testing.assert_allclose(spectrum[6:], 0, atol=1e-12)


def _disjoint_by_enumeration(x, neuron_pairs):
    """A / B of Chun et al. by brute force: every ordered 4-tuple of distinct stimuli, the given neuron pairs."""
    q = x.shape[1]
    a, b = np.zeros((q, q)), np.zeros((q, q))
    tuples = list(itertools.permutations(range(x.shape[0]), 4))
    for i, j, k, m in tuples:
        u, w = x[i] - x[j], x[k] - x[m]
        a += np.outer(u * u, w * w) / 4
        b += np.outer(u * w, u * w) / 4
    keep = np.ones((q, q), bool) if neuron_pairs == "all" else ~np.eye(q, dtype=bool)
    return a[keep].sum(), b[keep].sum()


def test_disjoint_participation_ratio_equals_the_averages_over_disjoint_indices():
    rng = np.random.default_rng(10)
    for shape in ((7, 4), (6, 9)):  # covariance and Gram paths
        x = 2.0 * rng.standard_normal((shape[0], 2)) @ rng.standard_normal((2, shape[1])) + 0.5 * rng.standard_normal(shape)
        x += 3.0 * rng.standard_normal(shape[1])
        a, b = _disjoint_by_enumeration(x, "all")
        assert disjoint_participation_ratio(x, sampled="stimuli") == pytest.approx(a / b, rel=1e-10)
        a, b = _disjoint_by_enumeration(x, "distinct")
        assert disjoint_participation_ratio(x) == pytest.approx(a / b, rel=1e-10)
        # stimuli are the population: their covariance S (over P), neuron pairs a != b
        s = np.cov(x, rowvar=False, bias=True)
        off = ~np.eye(shape[1], dtype=bool)
        expected = (np.outer(np.diag(s), np.diag(s))[off].sum()) / (s[off] ** 2).sum()
        assert disjoint_participation_ratio(x, sampled="neurons") == pytest.approx(expected, rel=1e-10)
        # exactly invariant to per-neuron offsets, and a Recording stands for its mean responses
        for sampled in ("both", "stimuli", "neurons"):
            shifted = x + 100.0 * rng.standard_normal(shape[1])
            assert disjoint_participation_ratio(shifted, sampled=sampled) == pytest.approx(
                disjoint_participation_ratio(x, sampled=sampled), rel=1e-8)
        assert disjoint_participation_ratio(Recording(np.stack([x - 1.0, x + 1.0]))) == pytest.approx(
            disjoint_participation_ratio(x), rel=1e-12)
    # isotropic responses, as few stimuli as allowed: the estimated denominator is negative -> inf
    x = np.random.default_rng(9).standard_normal((6, 9))
    a, b = _disjoint_by_enumeration(x, "distinct")
    assert b < 0 and disjoint_participation_ratio(x) == float("inf")


def test_disjoint_participation_ratio_removes_the_bias_for_each_sampling():
    """Known answers, 30 draws each, eigenvalues l_d = exp(-d / 15) (d < 200), so PR = 30.0:

    * ``"both"``: X = G diag(sqrt(l)) H^T, Gaussian G (P = 100 stimuli) and H (Q = 80 neurons);
    * ``"stimuli"``: X = G diag(sqrt(l)), all 200 units observed;
    * ``"neurons"``: 60 fixed stimuli F = G diag(sqrt(l)), X = F H^T with Q = 50 random neurons;
      the target is the PR of the stimuli's own covariance, ``participation_ratio(F)``.

    Tolerance: 4 standard errors of the 30-draw mean (from the draws' spread) plus 2% of PR for the
    ratio's own bias (A and B are unbiased, A / B is not: over 2,000 draws its bias was +0.28, +0.06
    and +0.15, i.e. under 1%).  The naive estimate obeys E[1/PR_naive] = 1/(P - 1) + 1/Q + 1/PR
    within 4 standard errors plus 10 / (PQ) for the formula's next order (measured 5.3 / (PQ) over
    2,000 draws), and is biased low by more than 10 standard errors.
    """
    rng = np.random.default_rng(11)
    eigenvalues = np.exp(-np.arange(200) / 15.0)
    true_pr = eigenvalues.sum() ** 2 / (eigenvalues**2).sum()
    fixed = rng.standard_normal((60, 200)) * np.sqrt(eigenvalues)
    draws = {"both": [], "stimuli": [], "neurons": [], "naive": []}
    for _ in range(30):
        both = _doubly_sampled(rng, 100, 80, eigenvalues)
        draws["both"].append(disjoint_participation_ratio(both))
        draws["naive"].append(participation_ratio(both))
        draws["stimuli"].append(disjoint_participation_ratio(rng.standard_normal((100, 200)) * np.sqrt(eigenvalues), sampled="stimuli"))
        draws["neurons"].append(disjoint_participation_ratio(fixed @ rng.standard_normal((50, 200)).T, sampled="neurons"))
    draws = {k: np.array(v) for k, v in draws.items()}
    targets = {"both": true_pr, "stimuli": true_pr, "neurons": participation_ratio(fixed)}
    for name, target in targets.items():
        se = draws[name].std(ddof=1) / np.sqrt(30)
        assert abs(draws[name].mean() - target) < 4 * se + 0.02 * target, name
    inverse = 1 / draws["naive"]
    predicted = 1 / 99 + 1 / 80 + 1 / true_pr
    assert abs(inverse.mean() - predicted) < 4 * inverse.std(ddof=1) / np.sqrt(30) + 10 / (100 * 80)
    assert true_pr - draws["naive"].mean() > 10 * draws["naive"].std(ddof=1) / np.sqrt(30)


def test_disjoint_participation_ratio_against_the_authors_package():
    dimensionality = pytest.importorskip("dimensionality")
    rng = np.random.default_rng(12)
    x = rng.standard_normal((30, 12)) @ rng.standard_normal((12, 20)) + 2.0
    theirs = dimensionality.participation_ratio(x, return_all=True)
    assert disjoint_participation_ratio(x) == pytest.approx(theirs["both"], rel=1e-8)
    assert disjoint_participation_ratio(x, sampled="stimuli") == pytest.approx(theirs["row"], rel=1e-8)
    assert disjoint_participation_ratio(x, sampled="neurons") == pytest.approx(theirs["col"], rel=1e-8)
    assert participation_ratio(x) == pytest.approx(theirs["naive"], rel=1e-8)


def test_disjoint_participation_ratio_errors():
    x = np.random.default_rng(13).standard_normal((5, 3))
    with pytest.raises(ValueError, match="at least 4 stimuli \\(rows\\), got 3"):
        disjoint_participation_ratio(x[:3])
    with pytest.raises(ValueError, match="sampled='both' needs at least 2 neurons \\(columns\\), got 1"):
        disjoint_participation_ratio(x[:, :1])
    assert np.isfinite(disjoint_participation_ratio(x[:, :1], sampled="stimuli"))
    with pytest.raises(ValueError, match="unknown sampled 'rows'"):
        disjoint_participation_ratio(x, sampled="rows")
    with pytest.raises(ValueError, match="do not vary"):
        disjoint_participation_ratio(np.ones((5, 3)))


def test_dimensionality_sweep_naive_rises_toward_the_truth_and_disjoint_stays_flat():
    """A population of 1,000 stimuli x 1,000 neurons from the doubly sampled model (PR = 30.0); subsets of
    P, Q in {40, 80, 160}, 16 draws each.  Subsets without replacement leave the disjoint-index
    averages unbiased for the population's own (computed on all of it), so every disjoint mean is
    within 4 standard errors of that value plus 2% for the ratio's bias (see the test above); the naive
    means increase strictly along both counts, stay below it by more than 4 standard errors, and
    follow 1/(P - 1) + 1/Q + 1/PR (to 5%).
    """
    rng = np.random.default_rng(14)
    eigenvalues = np.exp(-np.arange(200) / 15.0)
    population = _doubly_sampled(rng, 1000, 1000, eigenvalues)
    target = disjoint_participation_ratio(population)
    assert target == pytest.approx(30.0, rel=0.05)
    counts = (40, 80, 160)
    table = dimensionality_sweep(recording_from_activity(population), n_stimuli=counts, n_neurons=counts, n_repeats=16, seed=15)
    assert list(table.columns) == ["estimator", "n_stimuli", "n_neurons", "mean", "std", "sem", "n_repeats"]
    assert len(table) == 2 * 9 and (table["n_repeats"] == 16).all()
    disjoint = table[table["estimator"] == "disjoint"]
    assert ((disjoint["mean"] - target).abs() < 4 * disjoint["sem"] + 0.02 * target).all()
    naive = table[table["estimator"] == "naive"].pivot(index="n_stimuli", columns="n_neurons", values="mean")
    assert (np.diff(naive.to_numpy(), axis=0) > 0).all() and (np.diff(naive.to_numpy(), axis=1) > 0).all()
    naive_rows = table[table["estimator"] == "naive"]
    assert (naive_rows["mean"] < target - 4 * naive_rows["sem"]).all()
    predicted = 1 / (1 / (naive_rows["n_stimuli"] - 1) + 1 / naive_rows["n_neurons"] + 1 / target)
    np.testing.assert_allclose(naive_rows["mean"], predicted, rtol=0.05)


def test_dimensionality_sweep_treats_recordings_and_model_activity_alike():
    rng = np.random.default_rng(16)
    activity = rng.standard_normal((40, 25)) * np.linspace(2, 0.1, 25)
    kwargs = {"n_stimuli": (10, 40), "n_neurons": 12, "n_repeats": 3, "seed": 17}
    from_model = dimensionality_sweep(recording_from_activity(activity), **kwargs)
    noisy = np.stack([activity - 0.3, activity + 0.3])  # two repeats whose mean is the activity
    from_recording = dimensionality_sweep(Recording(noisy), **kwargs)
    from_array = dimensionality_sweep(activity, **kwargs)
    for other in (from_recording, from_array):
        np.testing.assert_allclose(other[["mean", "std"]].to_numpy(), from_model[["mean", "std"]].to_numpy(), rtol=1e-12)
    # one row per draw, and each draw applies every estimator to the same subset: its own reference loop
    rows = dimensionality_sweep(activity, n_stimuli=10, n_neurons=12, n_repeats=3, seed=17, summary=False,
                                estimators={"trace": lambda x: float(np.var(x, axis=0, ddof=1).sum()), "naive": participation_ratio})
    assert list(rows.columns) == ["estimator", "n_stimuli", "n_neurons", "repeat", "value"] and len(rows) == 6
    reference = np.random.default_rng(17)
    for r in range(3):
        subset = activity[np.ix_(reference.choice(40, 10, replace=False), reference.choice(25, 12, replace=False))]
        assert rows["value"][(rows["estimator"] == "naive") & (rows["repeat"] == r)].item() == pytest.approx(participation_ratio(subset))
        trace = rows["value"][(rows["estimator"] == "trace") & (rows["repeat"] == r)].item()
        assert trace == pytest.approx(np.var(subset, axis=0, ddof=1).sum())
    # the full counts alone, one repeat: the estimate of the whole set, zero spread
    whole = dimensionality_sweep(activity, n_repeats=1, estimators="naive")
    assert whole["mean"].item() == pytest.approx(participation_ratio(activity)) and whole["std"].item() == 0.0


def test_dimensionality_sweep_errors():
    x = np.random.default_rng(18).standard_normal((10, 6))
    with pytest.raises(ValueError, match=r"n_stimuli\[1\] = 11 exceeds the 10 available"):
        dimensionality_sweep(x, n_stimuli=(5, 11))
    with pytest.raises(ValueError, match=r"n_neurons\[0\] should be at least 1, was 0"):
        dimensionality_sweep(x, n_neurons=0)
    with pytest.raises(ValueError, match="unknown estimator 'pca'"):
        dimensionality_sweep(x, estimators=("naive", "pca"))
    with pytest.raises(TypeError, match=r"estimators\['x'\] should be callable, got int"):
        dimensionality_sweep(x, estimators={"x": 3})
    with pytest.raises(ValueError, match="n_repeats should be at least 1, was 0"):
        dimensionality_sweep(x, n_repeats=0)


# ---------------------------------------------------------------------------------------------- two repeats with trial noise


def _naive_repeat_sums(a, b, *, distinct_neurons=False):
    """Sums over ordered quadruples of distinct stimuli of tr h(ij) tr h(kl) and <h(ij), h(kl)>_F, h(ij) = (a_i - a_j)(b_i - b_j)^T / 2,
    one quadruple at a time (over the pairs of neurons a != b only with ``distinct_neurons``)."""
    keep = ~np.eye(a.shape[1], dtype=bool) if distinct_neurons else np.ones((a.shape[1],) * 2, dtype=bool)
    numerator = denominator = 0.0
    for i, j, k, m in itertools.permutations(range(a.shape[0]), 4):
        first, second = np.outer(a[i] - a[j], b[i] - b[j]) / 2, np.outer(a[k] - a[m], b[k] - b[m]) / 2
        numerator += np.sum(np.outer(np.diag(first), np.diag(second))[keep])
        denominator += np.sum((first * second)[keep])
    return numerator, denominator


def test_noise_corrected_participation_ratio_is_the_ratio_of_the_sums_over_distinct_stimuli():
    rng = np.random.default_rng(30)
    for n_stimuli, n_neurons in ((6, 3), (5, 8)):  # neuron-by-neuron and stimulus-by-stimulus closed forms
        a, b = rng.standard_normal((n_stimuli, n_neurons)) + 3.0, rng.standard_normal((n_stimuli, n_neurons)) - 1.0
        for sampled, distinct in (("stimuli", False), ("both", True)):
            numerator, denominator = _naive_repeat_sums(a, b, distinct_neurons=distinct)
            expected = numerator / denominator if denominator > 0 else np.inf
            assert noise_corrected_participation_ratio(a, b, sampled=sampled) == pytest.approx(expected, rel=1e-10)
    # three repeats: both sums averaged over the three pairs of repeats
    repeats = rng.standard_normal((3, 6, 3))
    sums = np.sum([_naive_repeat_sums(repeats[r], repeats[s]) for r, s in ((0, 1), (0, 2), (1, 2))], axis=0)
    assert noise_corrected_participation_ratio(Recording(repeats)) == pytest.approx(sums[0] / sums[1], rel=1e-10)
    assert noise_corrected_participation_ratio(repeats) == noise_corrected_participation_ratio(Recording(repeats))
    # an offset per neuron and per repeat changes nothing; one noiseless repeat passed twice is the disjoint estimator
    x, y = rng.standard_normal((30, 7)), rng.standard_normal((30, 7))
    shifted = noise_corrected_participation_ratio(x + rng.standard_normal(7), y - 2.0)
    assert shifted == pytest.approx(noise_corrected_participation_ratio(x, y), rel=1e-10)
    wide = rng.standard_normal((30, 40)) * np.linspace(2, 0.2, 40)
    for sampled in ("stimuli", "both"):
        assert noise_corrected_participation_ratio(wide, wide, sampled=sampled) == pytest.approx(
            disjoint_participation_ratio(wide, sampled=sampled), rel=1e-10)


def test_noise_corrected_participation_ratio_recovers_the_signal_dimensionality_under_trial_noise():
    """Known answer: signals s_i ~ N(mu, C) for 250 stimuli, C = U diag(1/k) U^T over 40 neurons (PR = 11.3), and two
    repeats with heteroscedastic trial noise (variances 0.2 to 0.8 per neuron, tr(noise) = 18.7 against tr(C) = 4.3).

    Over 30 draws the corrected estimate lies within 4 standard errors of the mean (estimated from the draws' spread)
    of the true PR: its numerator and denominator are unbiased, the ratio's own bias is O(CV^2), here below 0.5
    standard error.  The naive PR of the trial-averaged responses counts the noise (biased to about 27) and the PR of
    the symmetrised cross-covariance plugged in keeps the noise term tr(noise)^2 / P in tr(C^2) (biased to about 7):
    both lie more than 10 standard errors away (measured: 0.8 standard errors for the corrected estimate, 105 and 39
    for the biased ones).
    """
    rng = np.random.default_rng(31)
    n_stimuli, n_neurons = 250, 40
    eigenvalues = 1.0 / np.arange(1, n_neurons + 1)
    true_pr = eigenvalues.sum() ** 2 / (eigenvalues**2).sum()
    assert true_pr == pytest.approx(11.3, abs=0.05)
    rotation = np.linalg.qr(rng.standard_normal((n_neurons, n_neurons)))[0]
    noise_sd = np.sqrt(0.2) * np.linspace(1.0, 2.0, n_neurons)
    corrected, naive, plug_in = [], [], []
    for _ in range(30):
        signal = (rng.standard_normal((n_stimuli, n_neurons)) * np.sqrt(eigenvalues)) @ rotation.T + 5.0
        a, b = (signal + rng.standard_normal((n_stimuli, n_neurons)) * noise_sd for _ in range(2))
        corrected.append(noise_corrected_participation_ratio(Recording(np.stack([a, b]))))
        naive.append(participation_ratio((a + b) / 2))
        centred_a, centred_b = a - a.mean(axis=0), b - b.mean(axis=0)
        cross = (centred_a.T @ centred_b + centred_b.T @ centred_a) / (2 * (n_stimuli - 1))
        plug_in.append(np.trace(cross) ** 2 / np.sum(cross**2))
    for values, biased in ((corrected, False), (naive, True), (plug_in, True)):
        values = np.asarray(values)
        error = abs(values.mean() - true_pr) / (values.std(ddof=1) / np.sqrt(values.size))
        assert error > 10 if biased else error < 4


def test_noise_corrected_participation_ratio_of_sampled_neurons():
    """Known answer: X = G diag(sqrt(l)) H^T + noise with Gaussian G (200 stimuli) and H (60 neurons drawn from an infinite
    population), population PR = (sum l)^2 / sum l^2 = 20.0; sampled="both" (neuron pairs a != b only) recovers it within 4
    standard errors over 30 draws, sampled="stimuli" (the 60 neurons taken as the population) does not: E[PR] of the
    neurons drawn is about PR Q / (PR + Q) = 15.
    """
    rng = np.random.default_rng(32)
    eigenvalues = np.exp(-np.arange(200) / 10.0)
    true_pr = eigenvalues.sum() ** 2 / (eigenvalues**2).sum()
    assert true_pr == pytest.approx(20.0, abs=0.1)
    both, stimuli = [], []
    for _ in range(30):
        x = _doubly_sampled(rng, 200, 60, eigenvalues)
        a, b = (x + 0.5 * rng.standard_normal(x.shape) for _ in range(2))
        both.append(noise_corrected_participation_ratio(a, b, sampled="both"))
        stimuli.append(noise_corrected_participation_ratio(a, b))
    both, stimuli = np.asarray(both), np.asarray(stimuli)
    assert abs(both.mean() - true_pr) < 4 * both.std(ddof=1) / np.sqrt(both.size)
    assert true_pr - stimuli.mean() > 10 * stimuli.std(ddof=1) / np.sqrt(stimuli.size)


def test_noise_corrected_participation_ratio_errors():
    x = np.random.default_rng(33).standard_normal((6, 3))
    with pytest.raises(ValueError, match="noise_corrected_participation_ratio needs at least 2 repeats, got 1"):
        noise_corrected_participation_ratio(x[None])
    with pytest.raises(ValueError, match=r"without second, responses should be a Recording or an array \(n_repeats, n_stimuli, n_neurons\), "
                                         r"got shape \(6, 3\)"):
        noise_corrected_participation_ratio(x)
    with pytest.raises(ValueError, match=r"both repeats should have the same shape, got \(6, 3\) and \(5, 3\)"):
        noise_corrected_participation_ratio(x, x[:5])
    with pytest.raises(ValueError, match="needs at least 4 stimuli"):
        noise_corrected_participation_ratio(x[:3], x[:3])
    with pytest.raises(ValueError, match="with sampled='both' needs at least 2 neurons"):
        noise_corrected_participation_ratio(x[:, :1], x[:, :1], sampled="both")
    with pytest.raises(ValueError, match="unknown sampled 'neurons'"):
        noise_corrected_participation_ratio(x, x, sampled="neurons")
    missing = np.stack([x, x])
    missing[1, 0, 0] = np.nan
    with pytest.raises(ValueError, match="needs every stimulus observed on every repeat; the recording has 1 missing entries"):
        noise_corrected_participation_ratio(Recording(missing))
