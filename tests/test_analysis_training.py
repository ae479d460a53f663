"""Training analyses: update alignment, minimum training time, train-until, instability, norms, dimensionality."""

import numpy as np
import pytest

import bioplastic as bp
from bioplastic import analysis
from bioplastic.analysis import (
    hidden_participation_ratio,
    instability_times,
    mean_update_cosine_similarity,
    minimum_training_time,
    search_minimum_training_time,
    train_until,
    weight_norm_trajectories,
)
from bioplastic.network import Network
from bioplastic.neurons import Population
from bioplastic.plasticity import Reinforce
from bioplastic.tasks import NonlinearStudentTeacher
from bioplastic.training import History

NAN = np.nan


def _history(errors, lrs, seeds, diverged=None, name="test_error", norms=None):
    errors = np.asarray(errors, dtype=float)
    n, t = errors.shape
    records = {name: errors}
    records["weight_norms"] = np.ones((n, t, 2)) if norms is None else norms
    diverged = np.full(n, -1) if diverged is None else np.asarray(diverged)
    return History(np.arange(t), records, lrs, seeds, diverged, {"rule": {"name": "test"}})


def test_reexported_by_analysis():
    for name in ("hidden_participation_ratio", "instability_times", "mean_update_cosine_similarity", "minimum_training_time",
                 "search_minimum_training_time", "train_until", "weight_norm_trajectories"):
        assert name in analysis.__all__ and callable(getattr(analysis, name))


# -- minimum training time -------------------------------------------------------------


@pytest.fixture
def synthetic():
    #            epoch:  0   1   2   3   4   5   6   7   8
    errors = [[9, 8, 7, 6, 5, 4, 3, 2, 1],  # lr 0.1 seed 0: <= 3 at epoch 6
              [9, 8, 8, 8, 8, 8, 8, 8, 3],  # lr 0.1 seed 1: epoch 8
              [9, 6, 4, 3, 2, 2, 2, 2, 2],  # lr 0.2 seed 0: epoch 3
              [9, 7, 5, 4, 4, 3, 3, 3, 3],  # lr 0.2 seed 1: epoch 5
              [9, 3, 1, NAN, NAN, NAN, NAN, NAN, NAN],  # lr 0.4 seed 0: epoch 1, diverged at 3 afterwards
              [9, 4, 9e9, NAN, NAN, NAN, NAN, NAN, NAN]]  # lr 0.4 seed 1: diverged at 2 before reaching
    return _history(errors, [0.1, 0.1, 0.2, 0.2, 0.4, 0.4], [0, 1] * 3, diverged=[-1, -1, -1, -1, 3, 2])


def test_minimum_training_time_closed_form(synthetic):
    result = minimum_training_time(synthetic, 3.0)
    np.testing.assert_array_equal(result["learning_rates"], [0.1, 0.2, 0.4])
    np.testing.assert_array_equal(result["times"], [7.0, 4.0, np.inf])
    np.testing.assert_array_equal(result["member_times"], [6, 8, 3, 5, 1, np.inf])
    assert result["time"] == 4.0 and result["learning_rate"] == 0.2 and not result["at_edge"]
    assert result["above"] is False and result["statistic"] == "mean"
    assert minimum_training_time(synthetic, 3.0, statistic="max")["times"].tolist() == [8.0, 5.0, np.inf]
    assert minimum_training_time(synthetic, 3.0, statistic="median")["time"] == 4.0
    # seed-averaged curves: lr 0.1 first <= 3 at epoch 8 ((1 + 3) / 2), lr 0.2 at epoch 4 ((2 + 4) / 2),
    # lr 0.4 never (a diverged member leaves the average undefined)
    curve = minimum_training_time(synthetic, 3.0, statistic="mean_curve")
    np.testing.assert_array_equal(curve["times"], [8.0, 4.0, np.inf])
    assert curve["time"] == 4.0
    # nothing reaches an impossible target
    none = minimum_training_time(synthetic, 0.5)
    assert none["time"] == np.inf and np.isnan(none["learning_rate"]) and not none["at_edge"]
    # the optimum at the grid's edge is flagged
    edge = minimum_training_time(_history([[5, 1], [5, 4]], [0.1, 0.2], [0, 0]), 2.0)
    assert edge["learning_rate"] == 0.1 and edge["at_edge"]


def test_minimum_training_time_accuracy_is_reached_from_below():
    hist = _history([[0.1, 0.5, 0.8, 0.95], [0.1, 0.92, 0.9, 0.99]], [0.1, 0.2], [0, 0], name="test_accuracy")
    result = minimum_training_time(hist, 0.9, name="test_accuracy")
    assert result["above"] is True
    np.testing.assert_array_equal(result["times"], [3.0, 1.0])
    assert minimum_training_time(hist, 0.9, name="test_accuracy", above=False)["time"] == 0.0
    with pytest.raises(ValueError, match="no record 'test_error'"):
        minimum_training_time(hist, 0.9)
    with pytest.raises(ValueError, match="unknown statistic 'mode'"):
        minimum_training_time(hist, 0.9, name="test_accuracy", statistic="mode")


@pytest.fixture(scope="module")
def small_problem():
    task = NonlinearStudentTeacher(n_inputs=8, n_hidden=8, n_outputs=3, n_train=300, n_test=100, seed=2)
    net = bp.models.mlp((8, 16, 3))
    rule = bp.NodePerturbation(sigma=1e-4)
    initial = bp.train(net, rule, task, n_epochs=0, learning_rate=0.01, seeds=0, progress=False).records["test_error"][0, 0]
    return task, net, rule, 0.17 * initial  # reached in ~7-25 epochs depending on the rate


def test_search_equals_brute_force_and_extends_the_grid(small_problem, tmp_path):
    task, net, rule, target = small_problem
    grid, seeds = [0.01, 0.02, 0.04], [0, 1]
    result = search_minimum_training_time(net, rule, task, target=target, learning_rates=grid, seeds=seeds, max_epochs=100,
                                          batch_size=20, progress=False, max_extensions=3, first_epochs=2)
    # brute force: every rate tried by the search, trained for the whole horizon
    brute = bp.train(net, rule, task, n_epochs=100, learning_rate=result["learning_rates"], seeds=seeds, batch_size=20,
                     progress=False)
    expected = minimum_training_time(brute, target)
    assert result["time"] == expected["time"] and result["learning_rate"] == expected["learning_rate"]
    assert np.isfinite(result["time"]) and result["settled"]
    finite = np.isfinite(result["times"])
    np.testing.assert_array_equal(result["times"][finite], expected["times"][finite])
    assert np.all(expected["times"][~finite] >= result["time"])  # stopped early only where it could not win
    # the optimum of the initial grid was at its top edge: the grid grew geometrically until a rate lost (diverged)
    np.testing.assert_allclose(result["learning_rates"], [0.01, 0.02, 0.04, 0.08, 0.16])
    assert result["learning_rate"] == 0.08 and not result["at_edge"] and result["times"][-1] == np.inf
    # at the top rate training blows up (whether a given seed's run crosses the divergence threshold
    # within the horizon depends on rounding, so at least one must)
    assert brute.diverged[-2:].any()
    # early stopping: every ensemble stopped well before the horizon
    assert all(h.epochs[-1] < 50 for h in result["histories"])


def test_search_resumes_from_its_checkpoints(small_problem, tmp_path):
    task, net, rule, target = small_problem
    kwargs = {"target": target, "learning_rates": [0.02, 0.04], "seeds": [0], "max_epochs": 40, "batch_size": 20,
              "progress": False, "checkpoint": tmp_path / "search", "max_extensions": 0}
    first = search_minimum_training_time(net, rule, task, **kwargs)
    assert (tmp_path / "search_grid.json").exists()
    again = search_minimum_training_time(net, rule, task, **kwargs)
    assert again["time"] == first["time"] and again["learning_rate"] == first["learning_rate"]
    np.testing.assert_array_equal(again["histories"][0].records["test_error"], first["histories"][0].records["test_error"])
    with pytest.raises(ValueError, match="without a suffix or dots"):
        search_minimum_training_time(net, rule, task, **{**kwargs, "checkpoint": tmp_path / "run.v2"})


def test_train_until_stops_at_exactly_the_first_epoch(small_problem, tmp_path):
    task, net, rule, target = small_problem
    reference = bp.train(net, rule, task, n_epochs=40, learning_rate=0.03, seeds=[0, 1], batch_size=20, progress=False)
    first = int(np.max(reference.epochs_to_target(target)))
    assert 2 < first < 40
    for checkpoint in (None, tmp_path / "until"):
        history = train_until(net, rule, task, target=target, max_epochs=40, learning_rate=0.03, seeds=[0, 1], batch_size=20,
                              progress=False, checkpoint=checkpoint, first_epochs=2)
        assert history.reached_ and history.epochs[-1] == first
        np.testing.assert_array_equal(history.records["test_error"], reference.records["test_error"][:, : first + 1])
        exact = bp.train(net, rule, task, n_epochs=first, learning_rate=0.03, seeds=[0, 1], batch_size=20, progress=False)
        for k in range(2):
            np.testing.assert_array_equal(history.final_state_.weights[k], exact.final_state_.weights[k])
    # an unreachable target: runs to max_epochs and says so
    never = train_until(net, rule, task, target=1e-9, max_epochs=5, learning_rate=0.03, seeds=0, batch_size=20, progress=False)
    assert not never.reached_ and never.epochs[-1] == 5
    # every member diverged: stops early, target not reached
    blown = train_until(net, rule, task, target=target, max_epochs=500, learning_rate=5.0, seeds=[0, 1], batch_size=20,
                        progress=False, first_epochs=1)
    assert not blown.reached_ and blown.diverged.all() and blown.epochs[-1] < 10


# -- instability, norms ------------------------------------------------------------------


def test_instability_times_closed_form():
    hist = _history([[10, 6, 3, 2, 4, 9, 12, 15],
                     [10, 5, 4, 3, 3, 3, 3, 3],
                     [10, 5, 3, NAN, NAN, NAN, NAN, NAN]], [1, 1, 1], [0, 1, 2], diverged=[-1, -1, 3])
    times = instability_times(hist)
    np.testing.assert_array_equal(times["initial"], [10, 10, 10])
    np.testing.assert_array_equal(times["min_value"], [2, 3, 3])
    np.testing.assert_array_equal(times["min_epoch"], [3, 3, 2])
    np.testing.assert_array_equal(times["return_epoch"], [6, np.inf, 3])
    np.testing.assert_array_equal(instability_times(hist, factor=1.3)["return_epoch"], [7, np.inf, 3])
    np.testing.assert_array_equal(instability_times(hist, factor=2.0)["return_epoch"], [np.inf, np.inf, 3])
    with pytest.raises(ValueError, match="factor must be > 0"):
        instability_times(hist, factor=0.0)


def test_weight_norm_trajectories():
    norms = np.array([[[3.0, 4.0], [6.0, 8.0]]])
    hist = _history([[5.0, 1.0]], [0.1], [0], norms=norms)
    traj = weight_norm_trajectories(hist)
    np.testing.assert_allclose(traj["norm"], [[5.0, 10.0]])
    np.testing.assert_allclose(weight_norm_trajectories(hist, layers=[1])["norm"], [[4.0, 8.0]])
    np.testing.assert_array_equal(traj["error"], [[5.0, 1.0]])
    with pytest.raises(ValueError, match="layer 2 out of range for 2 layers"):
        weight_norm_trajectories(hist, layers=[2])


# -- dimensionality -----------------------------------------------------------------------


def test_hidden_participation_ratio_closed_form():
    # a linear hidden layer copying 3 of 4 inputs whose covariance has eigenvalues 4, 1, 1
    net = Network([Population(4, noise=None), Population(3), Population(2)], bias=False)
    state = net.init_state(seeds=[0])
    state.weights[0][0] = np.eye(3, 4)
    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(rng.standard_normal((400, 4)))
    x = q * np.sqrt(399) * np.array([2.0, 1.0, 1.0, 5.0])  # orthogonal centred-ish columns
    x -= x.mean(axis=0)
    cov = np.cov((x @ np.eye(3, 4).T).T)
    eig = np.linalg.eigvalsh(cov)
    expected = eig.sum() ** 2 / np.sum(eig**2)
    pr = hidden_participation_ratio(net, state, x)
    assert pr.shape == (1, 1)
    assert pr[0, 0] == pytest.approx(expected, rel=1e-10)
    assert expected == pytest.approx(36 / 18, rel=1e-2)
    # deeper networks: one value per hidden layer, ReLU rates, first max_samples inputs only
    deep = bp.models.mlp((4, 6, 5, 2))
    st = deep.init_state(seeds=[0, 1])
    values = hidden_participation_ratio(deep, st, x, max_samples=100)
    assert values.shape == (2, 2) and np.all((values >= 1) & (values <= np.array([6, 5])))
    rates = deep.forward(st, x[:100]).rates[2]
    assert values[1, 1] == pytest.approx(analysis.participation_ratio(rates[1]), rel=1e-12)
    with pytest.raises(ValueError, match=r"x should have shape \(n_samples, 4\)"):
        hidden_participation_ratio(deep, st, x[:, :3])


# -- update alignment -------------------------------------------------------------------------


def test_mean_update_cosine_similarity():
    task = NonlinearStudentTeacher(n_inputs=20, n_hidden=20, n_outputs=5, n_train=1000, n_test=100, seed=0)
    net = bp.models.mlp((20, 32, 5))
    state = net.init_state(seeds=[0, 1, 2])
    same = mean_update_cosine_similarity(net, state, task, bp.Backprop(), bp.Backprop(), n_batches=3, n_noise=2)
    assert same["values"].shape == (3, 2, 3, 2)
    np.testing.assert_allclose(same["mean"], 1.0, rtol=1e-12)
    np.testing.assert_allclose(same["sem"], 0.0, atol=1e-12)
    # the same seed gives the same minibatches and noise
    a = mean_update_cosine_similarity(net, state, task, bp.NodePerturbation(), bp.Backprop(), n_batches=4, seed=3)
    b = mean_update_cosine_similarity(net, state, task, bp.NodePerturbation(), bp.Backprop(), n_batches=4, seed=3)
    np.testing.assert_array_equal(a["values"], b["values"])
    # more minibatches than one epoch holds are drawn from the next epochs
    many = mean_update_cosine_similarity(net, state, task, bp.Backprop(), bp.Backprop(), batch_size=400, n_batches=5)
    assert many["values"].shape == (5, 1, 3, 2)


def test_np_hidden_alignment_falls_like_inverse_sqrt_width():
    """NP's hidden-layer cosine similarity with SGD ~ width^-1/2; its readout's and REINFORCE's barely change."""
    task = NonlinearStudentTeacher(n_inputs=20, n_hidden=20, n_outputs=5, n_train=1000, n_test=100, seed=0)
    widths = np.array([16, 64, 256])
    np_cos, rf_cos = [], []
    for w in widths:
        net = bp.models.mlp((20, int(w), 5))
        state = net.init_state(seeds=list(range(6)))
        np_cos.append(mean_update_cosine_similarity(net, state, task, bp.NodePerturbation(), bp.Backprop(), n_batches=4,
                                                    n_noise=2)["mean"].mean(axis=0))
        rf_cos.append(mean_update_cosine_similarity(net, state, task, Reinforce(), bp.Backprop(), n_batches=4,
                                                    n_noise=2)["mean"].mean(axis=0))
    np_cos, rf_cos = np.array(np_cos), np.array(rf_cos)
    slope = lambda y: np.polyfit(np.log(widths), np.log(y), 1)[0]  # noqa: E731
    assert -0.62 < slope(np_cos[:, 0]) < -0.38, np_cos  # measured -0.47
    assert slope(np_cos[:, 1]) > -0.15, np_cos  # readout: measured -0.06
    assert abs(slope(rf_cos[:, 0])) < 0.1, rf_cos  # REINFORCE's hidden layer: no fall with width
