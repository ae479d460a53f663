"""Update alignment (bioplastic.analysis.alignment) against naive loops, closed forms and the rules' noise needs."""

import numpy as np
import pytest

import bioplastic as bp
from bioplastic.analysis import cosine_similarity, mean_update_cosine_similarity, sample_directions, update_cosine_similarity
from bioplastic.network import Network
from bioplastic.neurons import Population
from bioplastic.ops import draw_noise
from bioplastic.plasticity import Directions, PlasticityRule, Reinforce, WeightPerturbation, registered_rules
from bioplastic.tasks import NonlinearStudentTeacher

#: rules shipped with the package (a user's rule registered by another test is left out)
BUILT_IN = sorted(name for name, cls in registered_rules().items() if cls.__module__.startswith("bioplastic."))
#: rules whose expected direction is the gradient (to first order in their noise amplitude)
UNBIASED = {"backprop", "node_perturbation", "reinforce", "weight_perturbation"}


def _problem(n_members, *, sizes=(3, 4, 2), batch=5, seed=0):
    net = bp.models.mlp(sizes, hidden="tanh")
    state = net.init_state(seeds=[seed]).take(np.zeros(n_members, dtype=np.intp))  # identical members
    rng = np.random.default_rng(seed)
    return net, state, rng.standard_normal((batch, sizes[0])), rng.standard_normal((batch, sizes[-1]))


def test_cosine_similarity_matches_loop():
    rng = np.random.default_rng(2)
    a, b = rng.standard_normal((4, 3, 5)), rng.standard_normal((4, 3, 5))
    expected = [np.dot(a[e].ravel(), b[e].ravel()) / np.linalg.norm(a[e]) / np.linalg.norm(b[e]) for e in range(4)]
    np.testing.assert_allclose(cosine_similarity(a, b), expected, rtol=1e-12)
    assert cosine_similarity(np.zeros((1, 3)), np.ones((1, 3)))[0] == 0


def test_backprop_update_cosine_with_itself_is_one():
    net = bp.models.mlp((4, 6, 3))
    state = net.init_state([0, 1])
    rng = np.random.default_rng(3)
    x, t = rng.standard_normal((5, 4)), rng.standard_normal((5, 3))
    cos = update_cosine_similarity(net, state, x, t, bp.SquaredError(), bp.Backprop(), bp.Backprop())
    np.testing.assert_allclose(cos, 1.0, rtol=1e-12)


@pytest.mark.parametrize("rule", [bp.NodePerturbation(), Reinforce(perturb_hidden=True), WeightPerturbation(layers=[1]),
                                  bp.ActivityNodePerturbation(n_samples=3, noise="bernoulli")], ids=repr)
def test_sample_directions_draws_the_declared_noise_in_order(rule):
    """Population noise layer by layer (its draws per sample, its distribution), then Gaussian synaptic noise, from one stream."""
    net, state, x, t = _problem(3)
    loss = bp.SquaredError()
    rng = np.random.default_rng(7)
    needs = rule.noise_needs(net)
    kinds = list(needs.kinds) or [None] * net.n_layers
    noise = [draw_noise(rng, kinds[k] or pop.noise, (3, needs.samples * 5, pop.n_neurons), state.dtype) if needs.population[k] else None
             for k, pop in enumerate(net.populations[1:])] if any(needs.population) else None
    synaptic = [draw_noise(rng, "gaussian", (3, proj.n_post, proj.n_pre + 1), state.dtype) if needs.synapse[k] else None
                for k, proj in enumerate(net.projections)] if any(needs.synapse) else None
    expected = rule.directions(net, state, x, t, loss, noise=noise, synaptic_noise=synaptic, scale=np.ones(3))
    got = sample_directions(net, state, x, t, loss, rule, seed=7)
    for k in range(net.n_layers):
        if expected.weights[k] is None:
            assert got.weights[k] is None
        else:
            np.testing.assert_array_equal(got.weights[k], expected.weights[k])
            assert np.ptp(got.weights[k], axis=0).max() > 0  # every member got its own noise


def test_update_cosine_similarity_draws_the_rule_first_then_the_reference():
    net, state, x, t = _problem(4)
    loss = bp.SquaredError()
    rng = np.random.default_rng(11)
    first = sample_directions(net, state, x, t, loss, bp.NodePerturbation(), seed=rng)
    second = sample_directions(net, state, x, t, loss, WeightPerturbation(), seed=rng)
    expected = np.stack([cosine_similarity(first.weights[k], second.weights[k]) for k in range(2)], axis=1)
    cos = update_cosine_similarity(net, state, x, t, loss, bp.NodePerturbation(), WeightPerturbation(), seed=11)
    np.testing.assert_array_equal(cos, expected)


@pytest.mark.parametrize("name", BUILT_IN)
def test_update_alignment_works_for_every_registered_rule(name):
    rule = registered_rules()[name]()
    n = 3000
    net, state, x, t = _problem(n)
    loss = bp.SquaredError()
    cos = update_cosine_similarity(net, state, x, t, loss, rule, bp.Backprop(), seed=1)
    directions = sample_directions(net, state, x, t, loss, rule, seed=2)
    updated = np.array([w is not None for w in directions.weights])
    assert cos.shape == (n, net.n_layers) and updated.any()
    assert np.all(np.isnan(cos[:, ~updated]))
    assert np.all(np.abs(cos[:, updated]) <= 1 + 1e-12)
    if name in UNBIASED:
        gradient = bp.Backprop().directions(net, state.take([0]), x, t, loss)
        for k in np.flatnonzero(updated):
            mean = directions.weights[k].mean(axis=0, keepdims=True)
            assert cosine_similarity(mean, gradient.weights[k])[0] > 0.9, (name, k)


def test_a_rule_that_needs_noise_it_cannot_get_is_refused():
    net = Network([Population(3, noise=None), Population(4, noise=None), Population(2, noise=None)])
    state = net.init_state(seeds=[0])
    rule = bp.NodePerturbation()
    with pytest.raises(ValueError, match=r"NodePerturbation\(.*\) needs noise but no population or projection of Network\(.*\) "
                                         r"that it perturbs has noise"):
        update_cosine_similarity(net, state, np.ones((2, 3)), np.ones((2, 2)), bp.SquaredError(), rule, bp.Backprop())


class _FixedDirection(PlasticityRule):
    """A rule (not registered) whose direction is its own random state: feedback-matrix-like."""

    def init_rule_state(self, network, rng, dtype):
        return {f"d{k}": rng.standard_normal((p.n_post, p.n_pre)).astype(dtype) for k, p in enumerate(network.projections)}

    def directions(self, network, state, x, target, loss, *, noise=None, synaptic_noise=None, rule_state=None, scale=None,
                   workspace=None):
        coefficient = self._scale(scale, state.n_members, state.dtype)[:, None, None]
        return Directions([coefficient * rule_state[f"d{k}"] for k in range(network.n_layers)], [None] * network.n_layers, None)


def test_rule_state_is_drawn_per_member_once_and_can_be_given():
    task = NonlinearStudentTeacher(n_inputs=3, n_hidden=3, n_outputs=2, n_train=40, n_test=10, seed=0)
    net, state, x, t = _problem(3)
    result = mean_update_cosine_similarity(net, state, task, _FixedDirection(), _FixedDirection(), batch_size=10, n_batches=3,
                                           seed=4)
    values = result["values"]
    # the states are fixed for all minibatches, different between the two rules and between members
    np.testing.assert_array_equal(values, np.broadcast_to(values[0, 0], values.shape))
    assert np.all(np.abs(values) < 1) and np.ptp(values[0, 0], axis=0).min() > 0
    # naive reference: the states drawn member by member, first rule first
    rng = np.random.default_rng(4)
    own = [[_FixedDirection().init_rule_state(net, rng, state.dtype) for _ in range(3)] for _ in range(2)]
    expected = [[cosine_similarity(np.stack([m[f"d{k}"] for m in own[0]]), np.stack([m[f"d{k}"] for m in own[1]]))[e]
                 for k in range(2)] for e in range(3)]
    np.testing.assert_allclose(values[0, 0], expected, rtol=1e-12)
    # a given state is used as is: the same for both rules gives 1
    given = {f"d{k}": np.stack([m[f"d{k}"] for m in own[0]]) for k in range(2)}
    same = update_cosine_similarity(net, state, x, t, bp.SquaredError(), _FixedDirection(), _FixedDirection(), rule_state=given,
                                    reference_state=given)
    np.testing.assert_allclose(same, 1.0, rtol=1e-12)


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
    # weight perturbation gets its synaptic noise here too
    wp = mean_update_cosine_similarity(net, state, task, WeightPerturbation(), bp.Backprop(), n_batches=2, n_noise=2)
    assert np.all(np.isfinite(wp["values"])) and np.all(np.abs(wp["values"]) <= 1)


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
