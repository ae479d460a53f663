"""RDMs, RDM comparison, linear CKA and Procrustes shape distance."""

import itertools

import numpy as np
import pytest
from scipy.spatial import procrustes
from scipy.spatial.distance import squareform
from scipy.stats import ortho_group

from bioplastic.recordings import RDMRecording, Recording, compare_rdms, linear_cka, procrustes_distance, rdm


def _rsa_rdm(x, method):
    pytest.importorskip("rsatoolbox")
    from rsatoolbox.data import Dataset
    from rsatoolbox.rdm import calc_rdm

    return calc_rdm(Dataset(x), method=method)


def test_rdm_matches_naive_definitions_and_rsatoolbox():
    x = np.random.default_rng(0).standard_normal((9, 6))
    pairs = list(itertools.combinations(range(9), 2))
    np.testing.assert_allclose(rdm(x), [1 - np.corrcoef(x[i], x[j])[0, 1] for i, j in pairs], rtol=1e-12)
    np.testing.assert_allclose(rdm(x, metric="euclidean"), [np.linalg.norm(x[i] - x[j]) for i, j in pairs], rtol=1e-12)
    np.testing.assert_allclose(rdm(x, metric="sqeuclidean"), [np.sum((x[i] - x[j]) ** 2) for i, j in pairs], rtol=1e-12)
    np.testing.assert_allclose(rdm(x), _rsa_rdm(x, "correlation").get_vectors()[0], rtol=1e-10)
    # rsatoolbox's "euclidean" is the mean squared difference over channels
    np.testing.assert_allclose(rdm(x, metric="sqeuclidean") / x.shape[1], _rsa_rdm(x, "euclidean").get_vectors()[0], rtol=1e-10)
    np.testing.assert_allclose(rdm(Recording(np.stack([x, x + 1.0]))), rdm(x + 0.5), rtol=1e-12)


def test_rdm_errors():
    with pytest.raises(ValueError, match="unknown metric 'cosine'"):
        rdm(np.ones((3, 2)), metric="cosine")
    x = np.random.default_rng(1).standard_normal((4, 3))
    x[2] = 5.0
    with pytest.raises(ValueError, match="stimulus 2 has a constant pattern"):
        rdm(x)


def _naive_tau_a(a, b):
    n = len(a)
    total = sum(np.sign(a[i] - a[j]) * np.sign(b[i] - b[j]) for i in range(n) for j in range(i + 1, n))
    return total / (n * (n - 1) / 2)


def test_compare_rdms_against_naive_tau_a_and_rsatoolbox():
    rng = np.random.default_rng(2)
    a = rng.random(45)
    b = a + 0.3 * rng.standard_normal(45)
    tied = np.round(b * 3) / 3  # a model RDM predicting many ties
    assert compare_rdms(a, tied, method="kendall_tau_a") == pytest.approx(_naive_tau_a(a, tied), rel=1e-12)
    assert compare_rdms(tied, tied, method="kendall_tau_a") == pytest.approx(_naive_tau_a(tied, tied), rel=1e-12)
    assert compare_rdms(a, np.ones(45), method="kendall_tau_a") == 0.0

    pytest.importorskip("rsatoolbox")
    from rsatoolbox.rdm import RDMs
    from rsatoolbox.rdm import compare as rsa_compare

    first, second = RDMs(a[None]), RDMs(tied[None])
    for ours, theirs in (("spearman", "spearman"), ("kendall_tau_a", "tau-a"), ("pearson", "corr")):
        expected = rsa_compare(first, second, method=theirs)[0, 0]
        assert compare_rdms(RDMRecording(a), squareform(tied), method=ours) == pytest.approx(expected, rel=1e-10)


def test_compare_rdms_errors():
    with pytest.raises(ValueError, match="same number of stimulus pairs, got 3 and 6"):
        compare_rdms(np.ones(3), np.ones(6))
    with pytest.raises(ValueError, match="spearman correlation is undefined for a constant RDM"):
        compare_rdms(np.ones(3), np.arange(3.0))
    with pytest.raises(ValueError, match="unknown method 'cosine'"):
        compare_rdms(np.ones(3), np.ones(3), method="cosine")
    with pytest.raises(ValueError, match="same stimuli in the same order, got different stimulus_ids"):
        compare_rdms(RDMRecording(np.arange(3.0), stimulus_ids=[0, 1, 2]), RDMRecording(np.arange(3.0), stimulus_ids=[0, 2, 1]))


def _u_centred(k):
    """U-centring (Szekely & Rizzo 2014): HSIC_1 = <U(K), U(L)> / (n (n - 3)), written element by element."""
    n = k.shape[0]
    k = k.copy()
    np.fill_diagonal(k, 0.0)
    out = np.zeros_like(k)
    for i in range(n):
        for j in range(n):
            if i != j:
                out[i, j] = k[i, j] - k[i].sum() / (n - 2) - k[:, j].sum() / (n - 2) + k.sum() / ((n - 1) * (n - 2))
    return out


def test_linear_cka_against_reference_formulas():
    rng = np.random.default_rng(3)
    x, y = rng.standard_normal((12, 5)), rng.standard_normal((12, 8))
    y[:, :5] += x
    xc, yc = x - x.mean(axis=0), y - y.mean(axis=0)
    biased = np.linalg.norm(yc.T @ xc) ** 2 / (np.linalg.norm(xc.T @ xc) * np.linalg.norm(yc.T @ yc))
    assert linear_cka(x, y, debiased=False) == pytest.approx(biased, rel=1e-12)
    ku, lu = _u_centred(xc @ xc.T), _u_centred(yc @ yc.T)
    debiased = np.sum(ku * lu) / np.sqrt(np.sum(ku * ku) * np.sum(lu * lu))
    assert linear_cka(x, y) == pytest.approx(debiased, rel=1e-10)
    rotated = 3.0 * x @ ortho_group.rvs(5, random_state=4) + 2.0
    assert linear_cka(x, rotated) == pytest.approx(1.0, rel=1e-12)
    assert linear_cka(x, rotated, debiased=False) == pytest.approx(1.0, rel=1e-12)


def test_debiased_cka_is_near_zero_for_independent_responses_where_biased_cka_is_near_one():
    """Independent Gaussian responses, 40 stimuli and 2,000 neurons each.

    Over 30 seeds the debiased CKA has mean -0.003 and s.d. 0.03 (about sqrt(2) / n_stimuli), so
    |CKA| < 0.15 is a 5-s.d. band; the biased CKA is 0.98 (min 0.979) because K and L are both
    nearly proportional to the centring matrix when neurons far outnumber stimuli.
    """
    rng = np.random.default_rng(5)
    x, y = rng.standard_normal((40, 2000)), rng.standard_normal((40, 2000))
    assert abs(linear_cka(x, y)) < 0.15
    assert linear_cka(x, y, debiased=False) > 0.95


def test_linear_cka_errors():
    with pytest.raises(ValueError, match="same number of stimuli, got 5 and 6"):
        linear_cka(np.ones((5, 2)), np.ones((6, 2)))
    with pytest.raises(ValueError, match="at least 4 stimuli, got 3"):
        linear_cka(np.eye(3), np.eye(3))


def test_procrustes_distance_is_zero_for_rotated_copies_and_matches_scipy():
    rng = np.random.default_rng(6)
    x = rng.standard_normal((15, 4))
    rotation = ortho_group.rvs(4, random_state=7)
    assert procrustes_distance(x, 2.5 * x @ rotation + 1.0) == pytest.approx(0.0, abs=1e-7)
    assert procrustes_distance(x, x @ rotation - 3.0, kind="euclidean") == pytest.approx(0.0, abs=1e-6)
    y = rng.standard_normal((15, 4))
    disparity = procrustes(x, y)[2]  # 1 - (||X^T Y||_*)^2 after centring and unit Frobenius norms
    assert procrustes_distance(x, y) == pytest.approx(np.arccos(np.sqrt(1 - disparity)), rel=1e-10)
    xc, yc = x - x.mean(axis=0), y - y.mean(axis=0)
    u, _, vt = np.linalg.svd(yc.T @ xc)
    assert procrustes_distance(x, y, kind="euclidean") == pytest.approx(np.linalg.norm(xc - yc @ (u @ vt)), rel=1e-10)
    assert procrustes_distance(x, y, kind="euclidean") < np.linalg.norm(xc - yc)
    # different numbers of neurons: zero-padding the smaller set
    z = rng.standard_normal((15, 2))
    assert procrustes_distance(x, z) == pytest.approx(procrustes_distance(x, np.hstack([z, np.zeros((15, 2))])), rel=1e-12)


def test_angular_procrustes_distance_is_a_metric():
    rng = np.random.default_rng(8)
    sets = [rng.standard_normal((10, 3)) for _ in range(6)]
    for a, b, c in itertools.permutations(sets, 3):
        assert procrustes_distance(a, c) <= procrustes_distance(a, b) + procrustes_distance(b, c) + 1e-12
    assert procrustes_distance(sets[0], sets[1]) == pytest.approx(procrustes_distance(sets[1], sets[0]), rel=1e-12)
    assert 0 < procrustes_distance(sets[0], sets[1]) <= np.pi / 2
    with pytest.raises(ValueError, match="undefined for responses that do not vary"):
        procrustes_distance(np.ones((4, 2)), sets[0][:4])
    with pytest.raises(ValueError, match="unknown kind 'cosine'"):
        procrustes_distance(sets[0], sets[1], kind="cosine")

