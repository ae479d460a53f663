"""RDMs, RDM comparison, linear CKA and Procrustes shape distance."""

import itertools

import numpy as np
import pytest
from scipy.spatial import procrustes
from scipy.spatial.distance import squareform
from scipy.stats import ortho_group

from bioplastic.recordings import (
    NoiseCeiling,
    RDMRecording,
    Recording,
    compare_rdms,
    crossnobis_rdm,
    linear_cka,
    noise_ceiling,
    procrustes_distance,
    rdm,
)


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
    assert compare_rdms(a, tied, method="cosine") == pytest.approx(a @ tied / np.sqrt((a @ a) * (tied @ tied)), rel=1e-12)
    assert compare_rdms(a, 3.0 * a, method="cosine") == pytest.approx(1.0, rel=1e-12)

    pytest.importorskip("rsatoolbox")
    from rsatoolbox.rdm import RDMs
    from rsatoolbox.rdm import compare as rsa_compare

    first, second = RDMs(a[None]), RDMs(tied[None])
    for ours, theirs in (("spearman", "spearman"), ("kendall_tau_a", "tau-a"), ("pearson", "corr"), ("cosine", "cosine")):
        expected = rsa_compare(first, second, method=theirs)[0, 0]
        assert compare_rdms(RDMRecording(a), squareform(tied), method=ours) == pytest.approx(expected, rel=1e-10)


def test_compare_rdms_errors():
    with pytest.raises(ValueError, match="same number of stimulus pairs, got 3 and 6"):
        compare_rdms(np.ones(3), np.ones(6))
    with pytest.raises(ValueError, match="spearman correlation is undefined for a constant RDM"):
        compare_rdms(np.ones(3), np.arange(3.0))
    with pytest.raises(ValueError, match="unknown method 'euclid'; expected one of 'spearman', 'kendall_tau_a', 'pearson', 'cosine'"):
        compare_rdms(np.ones(3), np.ones(3), method="euclid")
    with pytest.raises(ValueError, match="cosine similarity is undefined for an RDM whose dissimilarities are all zero"):
        compare_rdms(np.zeros(3), np.ones(3), method="cosine")
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



def _leave_one_repeat_out(responses, precision):
    """d_ij = (1/R) sum_k (a_i - a_j)^T Lambda (b_i - b_j), a the mean of the other repeats, b repeat k."""
    n_repeats, n_stimuli, _ = responses.shape
    out = np.zeros(n_stimuli * (n_stimuli - 1) // 2)
    for k in range(n_repeats):
        a = np.delete(responses, k, axis=0).mean(axis=0)
        b = responses[k]
        for n, (i, j) in enumerate(itertools.combinations(range(n_stimuli), 2)):
            out[n] += (a[i] - a[j]) @ precision @ (b[i] - b[j]) / n_repeats
    return out


def test_crossnobis_rdm_matches_leave_one_repeat_out_and_rsatoolbox():
    rng = np.random.default_rng(9)
    responses = rng.standard_normal((1, 6, 7)) + rng.standard_normal((3, 6, 7))  # 3 repeats, 6 stimuli, 7 neurons
    np.testing.assert_allclose(crossnobis_rdm(responses), _leave_one_repeat_out(responses, np.eye(7)), rtol=1e-10)
    m = rng.standard_normal((7, 7))
    precision = m @ m.T + 7 * np.eye(7)
    np.testing.assert_allclose(crossnobis_rdm(Recording(responses), noise=precision),
                               _leave_one_repeat_out(responses, precision), rtol=1e-10)
    pytest.importorskip("rsatoolbox")
    from rsatoolbox.data import Dataset
    from rsatoolbox.data.noise import prec_from_measurements
    from rsatoolbox.rdm import calc_rdm

    dataset = Dataset(responses.reshape(18, 7), obs_descriptors={"stimulus": np.tile(np.arange(6.0), 3), "repeat": np.repeat(np.arange(3.0), 6)})
    for noise in ("diag", "shrinkage_diag"):
        theirs = calc_rdm(dataset, method="crossnobis", descriptor="stimulus", cv_descriptor="repeat",
                          noise=prec_from_measurements(dataset, obs_desc="stimulus", method=noise)).get_vectors()[0]
        np.testing.assert_allclose(crossnobis_rdm(responses, noise=noise), 7 * theirs, rtol=1e-10)


def test_crossnobis_rdm_is_unbiased_where_the_plain_squared_distance_is_not():
    """Known answer: 8 stimuli with mean patterns mu_i (30 neurons), 3 repeats with unit Gaussian noise.

    Over 40 draws, the crossnobis estimate minus ||mu_i - mu_j||^2, averaged over the 28 pairs, has
    mean 0 within 4 standard errors of the 40-draw mean (from the draws' spread), both for identical
    conditions (mu_i all equal) and distinct ones; the squared distance of the mean patterns is biased
    up by 2 * 30 / 3 = 20 (within the same tolerance) and far from 0.
    """
    rng = np.random.default_rng(10)
    n_stimuli, n_neurons, n_repeats = 8, 30, 3
    identical = np.repeat(rng.standard_normal((1, n_neurons)), n_stimuli, axis=0)
    distinct = rng.standard_normal((n_stimuli, n_neurons))
    for means in (identical, distinct):
        truth = rdm(means, metric="sqeuclidean")
        cross, plain = [], []
        for _ in range(40):
            responses = means + rng.standard_normal((n_repeats, n_stimuli, n_neurons))
            cross.append(np.mean(crossnobis_rdm(responses) - truth))
            plain.append(np.mean(rdm(responses.mean(axis=0), metric="sqeuclidean") - truth))
        cross, plain = np.array(cross), np.array(plain)
        assert abs(cross.mean()) < 4 * cross.std(ddof=1) / np.sqrt(40)
        assert abs(plain.mean() - 2 * n_neurons / n_repeats) < 4 * plain.std(ddof=1) / np.sqrt(40)
        assert plain.mean() > 10 * plain.std(ddof=1) / np.sqrt(40)


def test_crossnobis_rdm_errors():
    responses = np.random.default_rng(11).standard_normal((2, 4, 3))
    with pytest.raises(ValueError, match="at least 2 repeats to cross-validate, got 1"):
        crossnobis_rdm(responses[:1])
    incomplete = responses.copy()
    incomplete[1, 2, 0] = np.nan
    with pytest.raises(ValueError, match="every stimulus observed on every repeat; the recording has 1 missing entries"):
        crossnobis_rdm(Recording(incomplete))
    with pytest.raises(ValueError, match=r"precision matrix of shape \(3, 3\) \(neurons x neurons\), got \(2, 2\)"):
        crossnobis_rdm(responses, noise=np.eye(2))
    with pytest.raises(ValueError, match="unknown noise 'full'; expected one of 'diag', 'shrinkage_diag', 'shrinkage_eye'"):
        crossnobis_rdm(responses, noise="full")
    with pytest.raises(ValueError, match="responses should have 3 dimensions"):
        crossnobis_rdm(responses[0])


def _pooled(vectors, method):
    if method in ("spearman", "kendall_tau_a"):
        vectors = np.array([np.argsort(np.argsort(v)) + 1.0 for v in vectors])  # ranks, no ties here
    elif method == "pearson":
        vectors = (vectors - vectors.mean(axis=1, keepdims=True)) / vectors.std(axis=1, keepdims=True)
    else:
        vectors = vectors / np.sqrt(np.mean(vectors**2, axis=1, keepdims=True))
    return vectors.mean(axis=0)


def test_noise_ceiling_matches_leave_one_out_and_brackets_the_true_model():
    """Subjects' RDMs = a true RDM + independent noise (12 stimuli, 6 subjects).

    The bounds equal Nili et al.'s definitions written out with compare_rdms (the pooled RDM of the
    others for the lower bound, of all subjects for the upper), are ordered, and bracket the mean
    score of the true RDM itself over the subjects, as a noise ceiling should.
    """
    rng = np.random.default_rng(12)
    truth = rng.random(66)
    subjects = truth + 0.3 * rng.standard_normal((6, 66))
    for method in ("spearman", "kendall_tau_a", "pearson", "cosine"):
        lower, upper = noise_ceiling([RDMRecording(s) for s in subjects], method=method)
        everyone = _pooled(subjects, method)
        expected_upper = np.mean([compare_rdms(everyone, s, method=method) for s in subjects])
        expected_lower = np.mean([compare_rdms(_pooled(np.delete(subjects, i, axis=0), method), s, method=method)
                                  for i, s in enumerate(subjects)])
        assert lower == pytest.approx(expected_lower, rel=1e-10) and upper == pytest.approx(expected_upper, rel=1e-10)
        true_score = np.mean([compare_rdms(truth, s, method=method) for s in subjects])
        assert lower < true_score < upper, method


def test_noise_ceiling_of_identical_subjects_is_one_and_errors():
    rdm_vector = np.random.default_rng(13).random(10)
    for method in ("spearman", "kendall_tau_a", "pearson", "cosine"):
        ceiling = noise_ceiling(np.stack([rdm_vector] * 4), method=method)
        assert isinstance(ceiling, NoiseCeiling)
        assert ceiling.lower == pytest.approx(1.0, rel=1e-12) and ceiling.upper == pytest.approx(1.0, rel=1e-12)
    with pytest.raises(ValueError, match="at least 2 subjects or sessions, got 1"):
        noise_ceiling([rdm_vector])
    with pytest.raises(ValueError, match=r"same number of stimulus pairs, got sizes \[6, 10\]"):
        noise_ceiling([rdm_vector, rdm_vector[:6]])
    with pytest.raises(ValueError, match=r"rdms\[1\]: a condensed RDM should have n \* \(n - 1\) / 2 entries, got 7"):
        noise_ceiling([rdm_vector, rdm_vector[:7]])
    with pytest.raises(ValueError, match="same stimuli in the same order, got different stimulus_ids"):
        noise_ceiling([RDMRecording(rdm_vector[:6]), RDMRecording(rdm_vector[:6], stimulus_ids=[3, 2, 1, 0])])


def test_spearman_comparison_equals_scipys_with_ties_and_bootstrap_copies():
    """Pearson's r of average ranks: scipy's spearmanr, for continuous dissimilarities, a model predicting ties, and
    the pair vectors of a bootstrap sample (an image drawn twice repeats its dissimilarities exactly)."""
    from scipy.stats import rankdata, spearmanr

    rng = np.random.default_rng(40)
    a = rng.random(300)
    tied = np.round(a + 0.3 * rng.standard_normal(300))  # a handful of levels
    copies = np.repeat(rng.random(100), 3) + 0.0 * a  # every value three times
    for first, second in ((a, a + rng.standard_normal(300)), (a, tied), (tied, copies), (copies, a[::-1])):
        assert compare_rdms(first, second) == pytest.approx(spearmanr(first, second).statistic, rel=1e-12, abs=1e-15)
    from bioplastic.recordings.geometry import _average_ranks

    np.testing.assert_array_equal(_average_ranks(tied), rankdata(tied))
    assert compare_rdms(a, -a) == -1.0 and compare_rdms(a, np.exp(a)) == 1.0


def test_noise_ceiling_equals_rsatoolboxs_without_importing_it():
    """rsatoolbox.inference.boot_noise_ceiling on subjects with tied dissimilarities, for every method; the computation
    itself imports neither rsatoolbox nor matplotlib (which rsatoolbox imports), so figure compute steps can use it."""
    import subprocess
    import sys

    rng = np.random.default_rng(41)
    subjects = np.round(rng.random(45) + 0.4 * rng.standard_normal((5, 45)), 1)  # ties within each RDM
    code = ("import sys, numpy as np\nfrom bioplastic.recordings import noise_ceiling\n"
            "print(noise_ceiling(np.eye(3)[[0, 1]] + np.arange(3.0)).lower)\n"
            "assert not any(m.split('.')[0] in ('rsatoolbox', 'matplotlib') for m in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    pytest.importorskip("rsatoolbox")
    import warnings

    from rsatoolbox.inference import boot_noise_ceiling
    from rsatoolbox.rdm import RDMs

    for ours, theirs in (("spearman", "spearman"), ("kendall_tau_a", "tau-a"), ("pearson", "corr"), ("cosine", "cosine")):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # rsatoolbox's note that tau pools averaged ranks
            expected = boot_noise_ceiling(RDMs(subjects), method=theirs)
        np.testing.assert_allclose(noise_ceiling(subjects, method=ours), expected, rtol=1e-10)
