"""Plasticity rules: NP's unbiasedness (Eq. 5) and noise level (Eq. 6), backprop's exactness, contracts."""

import numpy as np
import pytest

import bioplastic as bp
from bioplastic.engines.numpy import forward
from bioplastic.losses import CrossEntropy, SquaredError
from bioplastic.neurons import draw_noise


def _setup(sizes=(6, 8, 4), hidden="tanh", readout="linear", seed=0, n_members=2, batch=5, loss=None):
    rng = np.random.default_rng(seed)
    net = bp.models.mlp(sizes, hidden=hidden, readout=readout)
    state = net.init_state(list(range(n_members)))
    for b in state.biases:
        b[...] = 0.1 * rng.standard_normal(b.shape)
    x = rng.standard_normal((batch, sizes[0]))
    if readout == "softmax":
        target = np.eye(sizes[-1])[rng.integers(0, sizes[-1], batch)]
    else:
        target = rng.standard_normal((batch, sizes[-1]))
    return net, state, x, target, loss or SquaredError()


def _noise(rng, net, n_members, batch):
    return [draw_noise(rng, "gaussian", (n_members, batch, p.n_neurons)) for p in net.populations[1:]]


def _mean_loss(net, state, x, target, loss):
    return loss(forward(net, state, x).output, target).mean(axis=1)


@pytest.mark.parametrize("hidden,readout,loss", [
    ("tanh", "linear", SquaredError()),
    ("relu", "linear", SquaredError()),
    ("sigmoid", "softmax", SquaredError()),
    ("tanh", "softmax", CrossEntropy()),
])
def test_backprop_gradient_equals_finite_differences(hidden, readout, loss):
    net, state, x, target, loss = _setup(hidden=hidden, readout=readout, loss=loss)
    grads_w, grads_b = bp.Backprop().gradients(net, state, x, target, loss)
    eps = 1e-6
    for k in range(net.n_layers):
        for arrays, grads in ((state.weights, grads_w), (state.biases, grads_b)):
            param = arrays[k]
            numeric = np.zeros_like(param)
            for idx in np.ndindex(param.shape):
                old = param[idx]
                param[idx] = old + eps
                plus = _mean_loss(net, state, x, target, loss)[idx[0]]
                param[idx] = old - eps
                minus = _mean_loss(net, state, x, target, loss)[idx[0]]
                param[idx] = old
                numeric[idx] = (plus - minus) / (2 * eps)
            np.testing.assert_allclose(grads[k], numeric, rtol=1e-5, atol=1e-8)


def _naive_np_update(net, state, x, target, loss, noise, sigma, lr, with_biases=False):
    """Eq. 3 written literally: two full forward passes, one sample and one member at a time."""
    updates = [np.zeros_like(w) for w in state.weights]
    bias_updates = [np.zeros_like(b) for b in state.biases]
    for e in range(state.n_members):
        for b in range(x.shape[0]):
            rates, prates = [x[b]], [x[b]]
            for k, act in enumerate(net.activations):
                w, bias = state.weights[k][e], state.biases[k][e]
                rates.append(act(w @ rates[-1] + bias))
                prates.append(act(w @ prates[-1] + bias + sigma * noise[k][e, b]))
            delta = loss(prates[-1], target[b]) - loss(rates[-1], target[b])
            for k in range(net.n_layers):
                updates[k][e] += -lr[e] / sigma * delta * np.outer(noise[k][e, b], rates[k]) / x.shape[0]
                bias_updates[k][e] += -lr[e] / sigma * delta * noise[k][e, b] / x.shape[0]
    return (updates, bias_updates) if with_biases else updates


@pytest.mark.parametrize("hidden", ["tanh", "relu", "linear"])
def test_node_perturbation_matches_naive_two_pass_reference(hidden):
    net, state, x, target, loss = _setup(hidden=hidden)
    sigma, lr = 1e-3, np.array([0.1, 0.3])
    noise = _noise(np.random.default_rng(9), net, 2, x.shape[0])
    ours = bp.NodePerturbation(sigma=sigma).compute_updates(net, state, x, target, loss, noise=noise, scale=lr)
    naive = _naive_np_update(net, state, x, target, loss, noise, sigma, lr)
    for k in range(net.n_layers):
        np.testing.assert_allclose(ours.weights[k], naive[k], rtol=2e-5, atol=1e-10)


@pytest.mark.parametrize("shared_noise", [False, True])
@pytest.mark.parametrize("sizes", [(3, 12, 2), (6, 8, 4), (3, 10, 9, 2)])
def test_node_perturbation_updates_and_biases_match_the_naive_reference(sizes, shared_noise):
    """Either side may carry the per-sample factors (here the narrow input side of the wide layers), and
    members that share one noise stream (a broadcast view, as in the engine) get all their updates from one GEMM."""
    net, state, x, target, loss = _setup(sizes=sizes, hidden="relu", n_members=3, batch=6)
    sigma, lr = 1e-3, np.array([0.1, 0.2, 0.3])
    noise = _noise(np.random.default_rng(4), net, 3, x.shape[0])
    if shared_noise:
        noise = [np.broadcast_to(n[:1], n.shape) for n in noise]
    ours = bp.NodePerturbation(sigma=sigma).compute_updates(net, state, x, target, loss, noise=noise, scale=lr)
    naive_weights, naive_biases = _naive_np_update(net, state, x, target, loss, noise, sigma, lr, with_biases=True)
    for k in range(net.n_layers):
        np.testing.assert_allclose(ours.weights[k], naive_weights[k], rtol=2e-5, atol=1e-10)
        np.testing.assert_allclose(ours.biases[k], naive_biases[k], rtol=2e-5, atol=1e-10)
    assert not np.allclose(ours.weights[0][0], ours.weights[0][1])


@pytest.mark.parametrize("n_draws", [400, 6400, 102400])
def test_np_update_is_unbiased(n_draws):
    """Eq. 5: averaged over perturbations, the NP update equals -lr * gradient.

    For Gaussian noise the single-draw update of synapse (i, a) has variance
    (|g|^2 + g_i^2) x_a^2, g = dL/dh over all perturbed neurons, so the mean of
    n draws deviates from the gradient by a relative error of about
    sqrt((n_k |g|^2 + |g_k|^2) / (|g_k|^2 n)). The tolerance is 3x that
    standard error: it shrinks like 1/sqrt(n) (for the hidden layer here
    0.93, 0.23 and 0.058; for the output layer 0.32, 0.080 and 0.020).
    """
    from bioplastic.plasticity.backprop import backprop_deltas, output_delta

    net, state, x, target, loss = _setup(sizes=(5, 6, 3), batch=1, n_members=1)
    grads, _ = bp.Backprop().gradients(net, state, x, target, loss)
    act = forward(net, state, x)
    deltas = backprop_deltas(net, state, act, output_delta(net, act, target, loss))
    g_all = sum(float(np.sum(d**2)) for d in deltas)
    rule = bp.NodePerturbation(sigma=1e-6)
    big = bp.NetworkState.stack([state] * n_draws)
    noise = _noise(np.random.default_rng(11), net, n_draws, 1)
    upd = rule.compute_updates(net, big, x, target, loss, noise=noise, scale=np.ones(n_draws))
    for k in range(net.n_layers):
        g_k = float(np.sum(deltas[k] ** 2))
        n_k = deltas[k].shape[-1]
        tolerance = 3 * np.sqrt((n_k * g_all + g_k) / (g_k * n_draws))
        mean = upd.weights[k].mean(axis=0)
        rel = np.linalg.norm(mean + grads[k][0]) / np.linalg.norm(grads[k][0])
        assert rel < tolerance, (k, rel, tolerance)


def test_np_cosine_with_gradient_falls_like_inverse_sqrt_width():
    """Eq. 6: single-sample NP vs SGD cosine similarity ~ 1/sqrt(width).

    With perturbations in one layer of width n, |cos| = |xi . g| / (|xi||g|)
    whose mean is sqrt(2/pi)/sqrt(n) for large n. We check sqrt(n) * E|cos|
    is constant (within 15%) across a 16x range of widths.
    """
    loss = SquaredError()
    values = {}
    for width in (16, 64, 256):
        net = bp.models.mlp((10, width, 3), hidden="tanh")
        n_members = 400
        state = net.init_state(list(range(n_members)))
        rng = np.random.default_rng(width)
        x = rng.standard_normal((1, 10))
        target = rng.standard_normal((1, 3))
        rule = bp.NodePerturbation(sigma=1e-5, layers=[0])
        cos = bp.analysis.update_cosine_similarity(net, state, x, target, loss, rule, bp.Backprop(), seed=rng)
        values[width] = np.sqrt(width) * np.mean(np.abs(cos[:, 0]))
    ref = np.sqrt(2 / np.pi)
    for width, v in values.items():
        assert abs(v - ref) / ref < 0.15, (width, v)


def test_np_average_alignment_increases_with_samples():
    net, state, x, target, loss = _setup(sizes=(5, 20, 3), batch=1, n_members=1)
    grads, _ = bp.Backprop().gradients(net, state, x, target, loss)
    rule = bp.NodePerturbation(sigma=1e-5)
    rng = np.random.default_rng(0)
    cos = []
    for n in (10, 1000):
        big = bp.NetworkState.stack([state] * n)
        upd = rule.compute_updates(net, big, x, target, loss, noise=_noise(rng, net, n, 1), scale=np.ones(n))
        cos.append(bp.analysis.cosine_similarity(upd.weights[0].mean(0, keepdims=True), -grads[0])[0])
    assert cos[1] > 0.9 and cos[1] > cos[0]


#: constructor parameters of every built-in rule for the parametrised contract tests (a list of settings per rule)
RULE_PARAMS = {
    "node_perturbation": [{"sigma": 1e-4}, {"sigma": 1e-4, "batch_reduction": "sum"}, {"sigma": 1e-3},
                          {"sigma": 1e-4, "n_samples": 3, "clean_pass": False, "noise": "bernoulli"}],
    "iterative_node_perturbation": [{"sigma": 1e-4}, {"sigma": 1e-4, "n_samples": 2, "batch_reduction": "sum"}],
    "activity_node_perturbation": [{"sigma": 1e-4}, {"sigma": 1e-4, "clean_pass": False, "noise": "rademacher"}],
    "backprop": [{}],
    "reinforce": [{"sigma": 1e-4}, {"sigma": 1e-3, "perturb_hidden": True}],
    "weight_perturbation": [{"sigma": 1e-4}, {"sigma": 1e-4, "batch_reduction": "sum"}],
    "feedback_alignment": [{}, {"batch_reduction": "sum"}],
    "direct_feedback_alignment": [{}],
    "sign_symmetry": [{"magnitude": "usf"}, {"magnitude": "brsf"}, {"magnitude": "frsf", "scaled": False}],
    "kolen_pollack": [{"decay": 0.01}],
    "symmetric_alignment": [{}],
    "activation_alignment": [{}],
    "weight_mirror": [{}],
    "information_alignment": [{}],
}

#: the package's own registered rules (a user's rules register too, but are not the package's to test)
BUILT_IN = sorted(name for name, cls in bp.plasticity.registered_rules().items() if cls.__module__.startswith("bioplastic."))

#: one rule instance per built-in rule and setting; a rule missing from RULE_PARAMS runs with its defaults
RULES = [bp.plasticity.registered_rules()[name](**params) for name in BUILT_IN for params in RULE_PARAMS.get(name, [{}])]


def test_every_built_in_rule_has_contract_parameters():
    assert set(RULE_PARAMS) == set(BUILT_IN), "every registered built-in rule needs an entry in RULE_PARAMS"
    assert {"node_perturbation", "backprop", "reinforce", "weight_perturbation"} <= set(BUILT_IN)
    assert {type(rule).name for rule in RULES} == set(BUILT_IN)


def _rule_noise(rng, rule, net, n_members, batch):
    """The noise ``rule.noise_needs`` asks for: ``(noise, synaptic_noise)``, each a per-layer list or None.

    Population noise is drawn first, layer by layer (for node perturbation the same draws as :func:`_noise`),
    then synaptic noise (one Gaussian draw per projection, the last column for the bias).
    """
    needs = rule.noise_needs(net)
    kinds = list(needs.kinds) or [None] * net.n_layers
    noise = [draw_noise(rng, kind or pop.noise, (n_members, needs.samples * batch, pop.n_neurons)) if need else None
             for need, pop, kind in zip(needs.population, net.populations[1:], kinds, strict=True)]
    synaptic = [draw_noise(rng, "gaussian", (n_members, proj.n_post, proj.n_pre + 1)) if need else None
                for need, proj in zip(needs.synapse, net.projections, strict=True)]
    return (noise if any(needs.population) else None), (synaptic if any(needs.synapse) else None)


def _rule_state(rule, net, n_members, seed=6):
    """The rule's own state for ``n_members`` members (``init_rule_state`` per member, stacked), as the engine keeps it."""
    rng = np.random.default_rng(seed)
    own = [rule.init_rule_state(net, rng, np.float64) for _ in range(n_members)]
    return {name: np.stack([o[name] for o in own]) for name in own[0]}


@pytest.mark.parametrize("rule", RULES, ids=repr)
@pytest.mark.parametrize("hidden", ["linear", "relu", "tanh", "sigmoid"])
def test_rule_contract(rule, hidden):
    """Every rule: update shapes, zero update at zero learning rate, a descent direction on average."""
    net, state, x, target, loss = _setup(hidden=hidden, n_members=3, batch=8)
    rng = np.random.default_rng(4)
    noisy = rule.noise_needs(net).any
    assert noisy == rule.uses_noise
    noise, synaptic_noise = _rule_noise(rng, rule, net, 3, 8)
    assert rule.signal in bp.plasticity.SIGNALS
    rule_state = _rule_state(rule, net, 3)
    upd = rule.compute_updates(net, state, x, target, loss, noise=noise, synaptic_noise=synaptic_noise, rule_state=rule_state, scale=np.zeros(3))
    for k, w in enumerate(state.weights):
        assert upd.weights[k].shape == w.shape
        assert not np.any(upd.weights[k])
    # descent: expected loss change negative for a small learning rate (noisy rules averaged over noise draws)
    grads, _ = bp.Backprop().gradients(net, state, x, target, loss)
    total = np.zeros(3)
    for _ in range(50 if noisy else 1):
        noise, synaptic_noise = _rule_noise(rng, rule, net, 3, 8)
        upd = rule.compute_updates(net, state, x, target, loss, noise=noise, synaptic_noise=synaptic_noise, rule_state=rule_state,
                                   scale=np.ones(3))
        total += sum(np.einsum("eij,eij->e", u, g) for u, g in zip(upd.weights, grads, strict=True))
    assert np.all(total < 0)


@pytest.mark.parametrize("rule", RULES, ids=repr)
def test_workspace_gives_the_same_updates(rule):
    """Updates computed into a reused workspace equal freshly allocated ones, step after step."""
    from bioplastic.engines.numpy import Workspace
    from bioplastic.losses import SquaredError

    network = bp.models.mlp((5, 8, 6, 3), hidden="relu")
    state = network.init_state(rngs=[np.random.default_rng(s) for s in range(3)])
    rng = np.random.default_rng(1)
    workspace = Workspace()
    needs = rule.noise_needs(network)
    for _ in range(2):
        x, target = rng.standard_normal((7, 5)), rng.standard_normal((7, 3))
        noise = [rng.standard_normal((3, needs.samples * 7, n)) if need else None for need, n in zip(needs.population, (8, 6, 3), strict=True)]
        synaptic_noise = [rng.standard_normal((3, n_post, n_pre + 1)) if need else None
                          for need, (n_post, n_pre) in zip(needs.synapse, [(8, 5), (6, 8), (3, 6)], strict=True)]
        kw = dict(noise=noise if any(needs.population) else None, synaptic_noise=synaptic_noise if any(needs.synapse) else None,
                  rule_state=_rule_state(rule, network, 3), scale=np.array([0.1, 0.2, 0.3]))
        fresh = rule.compute_updates(network, state, x, target, SquaredError(), **kw)
        reused = rule.compute_updates(network, state, x, target, SquaredError(), workspace=workspace, **kw)
        for a, b in zip(fresh.weights + fresh.biases, reused.weights + reused.biases, strict=True):
            assert (a is None and b is None) or np.array_equal(a, b)
