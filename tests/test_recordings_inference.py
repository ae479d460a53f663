"""Matching model responses to recordings, bootstrap confidence intervals and shuffled-stimulus baselines."""

import numpy as np
import pytest
from scipy.spatial.distance import pdist
from scipy.stats import ortho_group

from bioplastic.recordings import (
    BootstrapResult,
    RDMRecording,
    Recording,
    add_reliability_noise,
    bootstrap_score,
    compare_rdms,
    linear_cka,
    match_stimuli,
    matched_score,
    procrustes_distance,
    recording_from_activity,
    shuffled_baseline,
    split_half_reliability,
    subsample_neurons,
    subsample_stimuli,
)


def _pearson_first_column(x, y):
    x, y = x[:, 0] - x[:, 0].mean(), y[:, 0] - y[:, 0].mean()
    return float(x @ y / np.sqrt((x @ x) * (y @ y)))


# ---------------------------------------------------------------------------------------------- matching


def test_match_stimuli_reorders_by_identifier_and_names_missing_ones():
    activity = np.arange(12.0).reshape(4, 3)
    model = recording_from_activity(activity, stimulus_ids=["a", "b", "c", "d"])
    recording = Recording(np.zeros((2, 3, 5)), stimulus_ids=["c", "a", "d"])
    matched = match_stimuli(model, recording)
    np.testing.assert_array_equal(matched.mean_responses(), activity[[2, 0, 3]])
    assert list(matched.stimulus_ids) == ["c", "a", "d"]
    same = Recording(np.zeros((1, 4, 2)), stimulus_ids=["a", "b", "c", "d"])
    assert match_stimuli(model, same) is model
    with pytest.raises(ValueError, match=r"no responses to 1 of the recording's 2 stimuli \(first missing stimulus_ids: \['e'\]\)"):
        match_stimuli(model, Recording(np.zeros((1, 2, 2)), stimulus_ids=["a", "e"]))


def test_subsample_neurons_and_stimuli_draw_without_replacement():
    responses = np.arange(2 * 5 * 8, dtype=float).reshape(2, 5, 8)
    drawn = subsample_neurons(responses, 3, seed=1)
    chosen = drawn.metadata["neurons"]
    assert drawn.responses.shape == (2, 5, 3) and len(set(chosen.tolist())) == 3
    np.testing.assert_array_equal(drawn.responses, responses[:, :, chosen])
    stimuli = subsample_stimuli(Recording(responses, stimulus_ids=list("vwxyz")), 2, seed=3)
    assert stimuli.responses.shape == (2, 2, 8) and len(set(stimuli.stimulus_ids.tolist())) == 2
    index = ["vwxyz".index(s) for s in stimuli.stimulus_ids]
    np.testing.assert_array_equal(stimuli.responses, responses[:, index])
    with pytest.raises(ValueError, match="n_neurons = 9 exceeds the 8 neurons available"):
        subsample_neurons(responses, 9)
    with pytest.raises(ValueError, match="n_stimuli = 6 exceeds the 5 stimuli available"):
        subsample_stimuli(responses, 6)


def test_split_half_reliability_follows_spearman_brown():
    """Known answer: unit-variance signals, trial noise of s.d. 1.5 on each of R = 4 repeats, so halves of 2
    repeats correlate r = 1 / (1 + 2.25 / 2) and rho = 2r / (1 + r) = 1 / (1 + 2.25 / 4) = 0.64.

    20 recordings of 100 stimuli x 40 neurons: the mean estimate is within 4 standard errors of the
    20-draw mean (from the draws' spread) plus 0.005 for the finite-stimulus bias of a correlation
    (measured -0.0023 over 1,000 recordings).  Identical repeats give 1.
    """
    rng = np.random.default_rng(0)
    values = [split_half_reliability(Recording(rng.standard_normal((100, 40)) + 1.5 * rng.standard_normal((4, 100, 40))), seed=k)
              for k in range(20)]
    assert abs(np.mean(values) - 0.64) < 4 * np.std(values, ddof=1) / np.sqrt(20) + 0.005
    signal = rng.standard_normal((10, 3))
    assert split_half_reliability(np.stack([signal, signal])) == pytest.approx(1.0, rel=1e-12)
    with pytest.raises(ValueError, match="at least 2 repeats, the recording has 1"):
        split_half_reliability(signal[None])
    incomplete = np.stack([signal, signal])
    incomplete[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="the recording has 1 missing entries"):
        split_half_reliability(Recording(incomplete))
    with pytest.raises(ValueError, match="no neuron varies across stimuli in both halves"):
        split_half_reliability(np.ones((2, 4, 3)))


def test_calibrated_noise_gives_the_recordings_reliability():
    """A recording (120 stimuli x 60 neurons, 4 repeats, rho near 0.64) and noise-free model units with unequal
    variances: 20 noisy versions of the model have split-half reliability whose mean is the recording's
    within 4 standard errors of the 20-draw mean plus 0.005 (the estimator's finite-stimulus bias, see
    above; for the calibrated model it measured +0.0004).  An odd number of repeats (5: halves of 2) and
    an explicit target calibrate alike; a target of 1 adds no noise.
    """
    rng = np.random.default_rng(1)
    recording = Recording(rng.standard_normal((120, 60)) + 1.5 * rng.standard_normal((4, 120, 60)))
    target = split_half_reliability(recording)
    model = rng.standard_normal((120, 150)) * (3.0 * rng.random(150) + 0.1)
    noisy = [add_reliability_noise(model, recording=recording, seed=k) for k in range(20)]
    assert noisy[0].responses.shape == (4, 120, 150) and noisy[0].metadata["reliability"] == pytest.approx(target)
    values = [split_half_reliability(n, seed=k) for k, n in enumerate(noisy)]
    assert abs(np.mean(values) - target) < 4 * np.std(values, ddof=1) / np.sqrt(20) + 0.005
    values = [split_half_reliability(add_reliability_noise(model, reliability=0.5, n_repeats=5, seed=k), seed=k) for k in range(20)]
    assert abs(np.mean(values) - 0.5) < 4 * np.std(values, ddof=1) / np.sqrt(20) + 0.005
    exact = add_reliability_noise(model, reliability=1.0, n_repeats=2)
    np.testing.assert_array_equal(exact.responses, np.stack([model, model]))
    with pytest.raises(ValueError, match=r"reliability should lie in \(0, 1\], got -0.1"):
        add_reliability_noise(model, reliability=-0.1, n_repeats=4)
    with pytest.raises(ValueError, match="give the target reliability"):
        add_reliability_noise(model, n_repeats=4)
    with pytest.raises(ValueError, match="n_repeats should be at least 2, was 1"):
        add_reliability_noise(model, reliability=0.5, n_repeats=1)


def test_matched_score_subsamples_units_to_the_recordings_count():
    """Model unit u responds u to every stimulus, so a draw of n = 10 of the 40 units has the sum of their
    indices as the sum of its first stimulus's responses: its mean over 50 draws is n (N - 1) / 2 = 195
    within 4 standard errors of simple random sampling without replacement, sd = sqrt(n var(u) (N - n)
    / (N - 1)) = 32.0, and the draws' own s.d. is that within 35% (3.5 times the 10% sampling error of
    an s.d. from 50 draws).
    """
    rng = np.random.default_rng(2)
    model = np.arange(40.0) + np.zeros((30, 1))
    recording = Recording(rng.standard_normal((3, 30, 10)))
    index_sum = lambda m, r: float(np.round(m.mean_responses()[0].sum()))  # noqa: E731
    result = matched_score(index_sum, model, recording, n_draws=50, seed=3)
    assert result.values.shape == (50,)
    sd = np.sqrt(10 * np.var(np.arange(40.0)) * 30 / 39)
    assert abs(result.mean - 195.0) < 4 * sd / np.sqrt(50)
    assert result.std == pytest.approx(sd, rel=0.35)
    # as many units as neurons: every draw is the whole model (a permutation-invariant score is constant)
    full = matched_score(lambda m, r: linear_cka(m, r), rng.standard_normal((30, 10)), recording, n_draws=4)
    assert full.std == pytest.approx(0.0, abs=1e-12)
    # with calibrated noise, every draw has the recording's reliability (within its sampling error)
    signal = rng.standard_normal((30, 40))
    reliable = Recording(signal[:, :10] + 0.8 * rng.standard_normal((4, 30, 10)))
    noisy = matched_score(lambda m, r: split_half_reliability(m), signal, reliable, n_draws=10, noise=True)
    assert abs(noisy.mean - split_half_reliability(reliable)) < 4 * noisy.std / np.sqrt(10) + 0.02
    with pytest.raises(ValueError, match="the model has 5 units, fewer than the recording's 10 neurons"):
        matched_score(index_sum, model[:, :5], recording)


# ---------------------------------------------------------------------------------------------- bootstrap


def test_bootstrap_over_stimuli_covers_the_true_correlation_at_the_nominal_rate():
    """Pairs of responses with correlation 0.5 across 60 stimuli; 100 data sets, a 95% percentile interval
    from 200 bootstrap samples each.  Covering the truth is Binomial(100, p) with p near 0.95 (sd 2.2):
    at least 85 covers fails with probability below 1e-4 even at p = 0.92, and at most 99 (p^100 = 0.006
    at p = 0.95) catches an interval too wide to ever miss.
    """
    rng = np.random.default_rng(4)
    covered = 0
    for k in range(100):
        z = rng.standard_normal((60, 2))
        first, second = z[:, :1], 0.5 * z[:, :1] + np.sqrt(0.75) * z[:, 1:]
        result = bootstrap_score(_pearson_first_column, first, second, n_bootstrap=200, seed=k)
        low, high = result.ci
        covered += low <= 0.5 <= high
    assert 85 <= covered <= 99


def test_bootstrap_over_members_covers_the_ensemble_mean_at_the_nominal_rate():
    """Ensembles of 30 members whose responses make an angle theta ~ U(0, pi/2) with the recording's, so
    each member's cosine similarity is cos(theta) and the population mean is 2 / pi.  As above: 100
    ensembles, 95% intervals from 200 samples, 85 to 99 covers.
    """
    rng = np.random.default_rng(5)
    basis = ortho_group.rvs(20, random_state=6)[:, :1]
    recording = basis.copy()
    cosine = lambda x, y: float(x[:, 0] @ y[:, 0] / np.sqrt((x[:, 0] @ x[:, 0]) * (y[:, 0] @ y[:, 0])))  # noqa: E731
    covered = 0
    for k in range(100):
        members = []
        for theta in rng.uniform(0, np.pi / 2, 30):
            other = rng.standard_normal((20, 1))
            other -= basis * (basis[:, 0] @ other[:, 0])
            members.append(np.cos(theta) * basis + np.sin(theta) * other / np.linalg.norm(other))
        result = bootstrap_score(cosine, members, recording, over="members", n_bootstrap=200, seed=k)
        assert result.estimate == pytest.approx(np.mean([cosine(m, recording) for m in members]), rel=1e-12)
        low, high = result.ci
        covered += low <= 2 / np.pi <= high
    assert 85 <= covered <= 99


def test_bootstrap_of_rdms_leaves_out_pairs_of_a_stimulus_with_its_copy_and_both_resamples():
    rng = np.random.default_rng(7)
    x, y = rng.standard_normal((8, 5)), rng.standard_normal((8, 5))
    first, second = RDMRecording(pdist(x)), RDMRecording(pdist(y))
    seen = []

    def record(a, b):
        seen.append((a.copy(), b.copy()))
        return compare_rdms(a, b, method="pearson")

    result = bootstrap_score(record, first, second, n_bootstrap=5, seed=8)
    assert isinstance(result, BootstrapResult) and result.estimate == pytest.approx(compare_rdms(first, second, method="pearson"))
    reference = np.random.default_rng(8)
    for (a, b), value in zip(seen[1:], result.distribution):
        index = reference.integers(0, 8, 8)
        pairs = [(i, j) for n, i in enumerate(index) for j in index[n + 1:] if i != j]
        np.testing.assert_allclose(a, [first.matrix[i, j] for i, j in pairs])
        np.testing.assert_allclose(b, [second.matrix[i, j] for i, j in pairs])
        assert value == pytest.approx(np.corrcoef(a, b)[0, 1])
    # members and stimuli together: a reference loop drawing members, then stimuli, with the same stream
    members = [rng.standard_normal((8, 3)) for _ in range(4)]
    both = bootstrap_score(_pearson_first_column, members, x, over="both", n_bootstrap=6, seed=9)
    reference = np.random.default_rng(9)
    for value in both.distribution:
        chosen = reference.integers(0, 4, 4)
        index = reference.integers(0, 8, 8)
        expected = np.mean([_pearson_first_column(members[m][index], x[index]) for m in chosen])
        assert value == pytest.approx(expected, rel=1e-12)
    assert both.std > 0


def test_bootstrap_errors():
    x = np.random.default_rng(10).standard_normal((6, 2))
    with pytest.raises(ValueError, match="over='members' resamples ensemble members: first should be a sequence of at least 2 members"):
        bootstrap_score(_pearson_first_column, x, x, over="members")
    with pytest.raises(ValueError, match="unknown over 'neurons'"):
        bootstrap_score(_pearson_first_column, x, x, over="neurons")
    with pytest.raises(ValueError, match=r"confidence must lie in \(0, 1\), got 1.5"):
        bootstrap_score(_pearson_first_column, x, x, confidence=1.5)
    with pytest.raises(ValueError, match="first has 5 stimuli and second 6"):
        bootstrap_score(_pearson_first_column, x[:5], x)
    with pytest.raises(ValueError, match="first is responses but second is an RDM; compare like with like"):
        bootstrap_score(_pearson_first_column, x, RDMRecording(pdist(x)))
    with pytest.raises(TypeError, match="score should be callable, got str"):
        bootstrap_score("cka", x, x)


# ---------------------------------------------------------------------------------------------- shuffled baseline


def test_shuffled_baseline_of_an_rdm_with_itself_is_centred_on_zero():
    """An RDM of 20 stimuli against itself: permuting one side's stimulus labels leaves the multiset of
    dissimilarities unchanged, so the Spearman correlation has expectation exactly 0 over permutations;
    the mean of 500 permutations is within 4 standard errors of 0, the unshuffled score (1) lies more
    than 8 null standard deviations above it, and no permutation reaches it (p = 1 / 501).
    """
    rdm_vector = RDMRecording(pdist(np.random.default_rng(11).standard_normal((20, 6))))
    result = shuffled_baseline(compare_rdms, rdm_vector, rdm_vector, n_permutations=500, seed=12)
    assert result.observed == pytest.approx(1.0) and result.null.shape == (500,)
    assert abs(result.mean) < 4 * result.std / np.sqrt(500)
    assert result.observed > result.mean + 8 * result.std
    assert result.p_value == pytest.approx(1 / 501)


def test_shuffled_baseline_for_an_ensemble_and_a_distance():
    """Rotated, rescaled copies of the recording's responses (an ensemble of 3): the Procrustes distance is 0
    and every permutation (of 200) is farther, so with alternative="less" p = 1 / 201; a reference loop
    reproduces the null distribution from the same stream.
    """
    rng = np.random.default_rng(13)
    recording = rng.standard_normal((15, 4))
    members = np.stack([2.0 * recording @ ortho_group.rvs(4, random_state=s) for s in range(3)])
    result = shuffled_baseline(procrustes_distance, members, recording, n_permutations=200, alternative="less", seed=14)
    assert result.observed == pytest.approx(0.0, abs=1e-6) and result.p_value == pytest.approx(1 / 201)
    reference = np.random.default_rng(14)
    for value in result.null[:5]:
        order = reference.permutation(15)
        assert value == pytest.approx(np.mean([procrustes_distance(m, recording[order]) for m in members]), rel=1e-12)
    # unrelated responses: the score is not special, p is not small
    unrelated = shuffled_baseline(_pearson_first_column, rng.standard_normal((40, 1)), rng.standard_normal((40, 1)),
                                  n_permutations=200, seed=15)
    assert unrelated.p_value > 0.01
    with pytest.raises(ValueError, match="unknown alternative 'two-sided'"):
        shuffled_baseline(procrustes_distance, recording, recording, alternative="two-sided")


def test_bootstrap_over_the_members_of_a_trained_ensemble_layer():
    """RDMs of a hidden layer of 4 ensemble members (model_recording) against a target RDM: the estimate is the mean of
    the members' Spearman correlations and each bootstrap sample the mean over members drawn with replacement (a
    reference loop on the same stream)."""
    from bioplastic.models import mlp
    from bioplastic.recordings import model_recording

    rng = np.random.default_rng(20)
    network = mlp((5, 8, 2), hidden="tanh")
    state = network.init_state([0, 1, 2, 3])
    x = rng.standard_normal((12, 5))
    members = [recording.rdm() for recording in model_recording(network, state, x, layer=1)]
    target = RDMRecording(pdist(x @ rng.standard_normal((5, 6)), metric="correlation"))
    per_member = np.array([compare_rdms(m, target) for m in members])
    assert np.ptp(per_member) > 0.01  # the members differ
    result = bootstrap_score(compare_rdms, members, target, over="members", n_bootstrap=50, seed=21)
    assert result.estimate == pytest.approx(per_member.mean(), rel=1e-12)
    reference = np.random.default_rng(21)
    np.testing.assert_allclose(result.distribution, [per_member[reference.integers(0, 4, 4)].mean() for _ in range(50)], rtol=1e-12)
    low, high = result.ci
    assert per_member.min() <= low <= high <= per_member.max()


def test_several_recordings_are_scored_as_their_mean_with_the_same_stimuli():
    """Two subjects' RDMs: the estimate, every bootstrap sample and every permutation are the means of the scores
    against each subject, resampled (permuted) with the same stimuli: the same seed gives each subject's distribution."""
    rng = np.random.default_rng(22)
    x = rng.standard_normal((10, 4))
    model = [RDMRecording(pdist(x + 0.3 * rng.standard_normal(x.shape))) for _ in range(2)]
    subjects = [RDMRecording(pdist(x + rng.standard_normal(x.shape))) for _ in range(2)]
    group = bootstrap_score(compare_rdms, model, subjects, n_bootstrap=30, seed=23)
    alone = [bootstrap_score(compare_rdms, model, s, n_bootstrap=30, seed=23) for s in subjects]
    assert group.estimate == pytest.approx(np.mean([a.estimate for a in alone]), rel=1e-12)
    np.testing.assert_allclose(group.distribution, np.mean([a.distribution for a in alone], axis=0), rtol=1e-12)
    null = shuffled_baseline(compare_rdms, model, subjects, n_permutations=30, seed=24)
    nulls = [shuffled_baseline(compare_rdms, model, s, n_permutations=30, seed=24).null for s in subjects]
    np.testing.assert_allclose(null.null, np.mean(nulls, axis=0), rtol=1e-12)
    # the same seed, other data: the same stimulus draws, so the difference of two distributions is the paired one
    before = [RDMRecording(pdist(rng.standard_normal((10, 4)))) for _ in range(2)]
    paired = bootstrap_score(compare_rdms, model, subjects, n_bootstrap=30, seed=23).distribution - \
        bootstrap_score(compare_rdms, before, subjects, n_bootstrap=30, seed=23).distribution
    reference = np.random.default_rng(23)
    for value in paired[:5]:
        index = reference.integers(0, 10, 10)
        upper = np.triu_indices(10, 1)
        keep = index[upper[0]] != index[upper[1]]
        pairs = (index[upper[0][keep]], index[upper[1][keep]])
        score = [np.mean([compare_rdms(m.matrix[pairs], s.matrix[pairs]) for m in members for s in subjects]) for members in (model, before)]
        assert value == pytest.approx(score[0] - score[1], rel=1e-10)
    with pytest.raises(ValueError, match=r"second\[1\] has 9 stimuli and second\[0\] 10"):
        bootstrap_score(compare_rdms, model, [subjects[0], RDMRecording(pdist(x[:9]))])
    with pytest.raises(ValueError, match="second should hold at least one recording"):
        shuffled_baseline(compare_rdms, model, [])
