"""Dimensionality estimators against closed forms and synthetic data with known answers."""

import numpy as np
import pytest
from scipy.spatial.distance import pdist

from bioplastic.analysis import participation_ratio as analysis_participation_ratio
from bioplastic.recordings import (
    Recording,
    corrected_participation_ratio,
    cross_validated_spectrum,
    participation_ratio,
    power_law_exponent,
    rdm_participation_ratio,
    rdm_spectrum,
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
