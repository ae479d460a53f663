"""Networks of feature maps, average- and max-pooled: the passes against naive loops and finite differences, every rule's training
runs on them, their state."""

import numpy as np
import pytest
from cnn_helpers import (
    POOL_MODES,
    flat_directions,
    naive_average_pool,
    naive_conv,
    naive_max_pool,
    random_batch,
    small_cnn,
    unit_noise,
)
from conftest import state_away_from_init

import bioplastic as bp
from bioplastic.losses import SquaredError
from bioplastic.network import Network
from bioplastic.ops import forward, predict
from bioplastic.synapses import ConvProjection


@pytest.mark.parametrize("pool_mode", POOL_MODES)
def test_forward_and_predict_equal_a_naive_loop_over_positions_and_windows(pool_mode):
    net = small_cnn(pool_mode)
    state = state_away_from_init(net)
    x, _ = random_batch()
    activity = forward(net, state, x)
    for e in range(2):
        for n in range(len(x)):
            rates = x[n].reshape(2, 7, 6)
            for k, proj in enumerate(net.projections[:2]):
                conv = naive_conv(rates, state.weights[k][e], proj.stride, proj.padding)
                if pool_mode == "max":
                    pooled, winners = naive_max_pool(conv, proj.pool)
                    switches = activity.switches[k]
                    np.testing.assert_allclose(switches.conv[e, n], conv, rtol=1e-12, atol=1e-13)
                    np.testing.assert_array_equal(np.stack(np.divmod(switches.winners[e, n], proj.pool), axis=-1),
                                                  winners % proj.pool)
                else:
                    pooled = naive_average_pool(conv, proj.pool)
                h = pooled + state.biases[k][e][:, None, None]
                np.testing.assert_allclose(activity.inputs[k][e, n], h.ravel(), rtol=1e-12, atol=1e-13)
                rates = np.tanh(h)
    assert [s is None for s in activity.switches] == [pool_mode == "average"] * 2 + [True, True]  # max pooling records switches
    np.testing.assert_allclose(predict(net, state, x), activity.output, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("pool_mode", POOL_MODES)
def test_backprop_equals_finite_differences_for_every_kernel_weight_and_bias(pool_mode):
    # random inputs and weights: no max-pooling window holds two equal values, and a step of 1e-6 moves no maximum
    net = small_cnn(pool_mode)
    state = state_away_from_init(net)
    x, target = random_batch()
    loss = SquaredError()
    grad = bp.Backprop().directions(net, state, x, target, loss)

    def member_loss(s):
        return loss(forward(net, s, x).output, target).mean(axis=1)

    for k in range(net.n_layers):
        for params, got in ((state.weights, grad.weights), (state.biases, grad.biases)):
            numeric = np.zeros_like(params[k])
            for idx in np.ndindex(params[k].shape):
                plus, minus = state.copy(), state.copy()
                (plus.weights if params is state.weights else plus.biases)[k][idx] += 1e-6
                (minus.weights if params is state.weights else minus.biases)[k][idx] -= 1e-6
                numeric[idx] = (member_loss(plus) - member_loss(minus))[idx[0]] / 2e-6
            np.testing.assert_allclose(got[k], numeric, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("rule", [bp.NodePerturbation(sigma=1e-4), bp.NodePerturbation(sigma=1e-4, clean_pass=False),
                                  bp.IterativeNodePerturbation(sigma=1e-4)], ids=["np", "np_two_noisy_passes", "inp"])
@pytest.mark.parametrize("pool_mode", POOL_MODES)
def test_node_perturbation_on_feature_maps_is_unbiased(pool_mode, rule):
    # noise on the (pooled) units; M estimates; |mean - g|^2 concentrates at tr(Cov) / M (d = 311 parameters with average
    # pooling, 212 with max pooling): within a factor 2, at M and 4M
    net = small_cnn(pool_mode)
    state = state_away_from_init(net, n_members=1)
    x, target = random_batch(batch=2)
    g = flat_directions(bp.Backprop().directions(net, state, x, target, SquaredError()))[0]
    rng = np.random.default_rng(3)
    estimates = []
    for _ in range(1200):
        noise = unit_noise(net, rng, n_members=1, rows=rule.draws_per_sample * len(x))
        estimates.append(flat_directions(rule.directions(net, state, x, target, SquaredError(), noise=noise))[0])
    estimates = np.array(estimates)
    trace = estimates.var(axis=0).sum()
    for m in (300, 1200):
        error = np.sum((estimates[:m].mean(axis=0) - g) ** 2)
        assert error < 2 * trace / m, (m, error, trace / m)


# -- training, ensembles, checkpoints ---------------------------------------------------------------------------------


def _toy_maps():
    """2 x 7 x 6 noise images; the class is the band of rows (0-1, 2-4, 5-6) of channel 0 with the largest mean."""
    rng = np.random.default_rng(4)
    x = rng.standard_normal((400, 2, 7, 6))
    bands = np.stack([x[:, 0, 0:2].mean(axis=(1, 2)), x[:, 0, 2:5].mean(axis=(1, 2)), x[:, 0, 5:7].mean(axis=(1, 2))], axis=1)
    labels = np.argmax(bands, axis=1)
    x = x.reshape(400, -1)
    return bp.tasks.base.DatasetTask(x[:320], labels[:320], x[320:], labels[320:], n_classes=3, name="toy_maps")


def _bright_band():
    """2 x 7 x 6 noise images with one band of rows (0-1, 2-4 or 5-6) of channel 0 brighter by 1; the class is the band."""
    rng = np.random.default_rng(4)
    labels = rng.integers(0, 3, 400)
    x = rng.standard_normal((400, 2, 7, 6))
    for band, rows in enumerate((slice(0, 2), slice(2, 5), slice(5, 7))):
        x[labels == band, 0, rows] += 1.0
    x = x.reshape(400, -1)
    return bp.tasks.base.DatasetTask(x[:320], labels[:320], x[320:], labels[320:], n_classes=3, name="bright_band")


#: the rules that run on feature maps, with the learning rates that learn the tasks in 4 epochs: (rule, rate on the
#: average-pooled toy maps, rate on the max-pooled bright band). Train loss at the start: 1.105 on the toy maps, 1.12 on
#: the bright band; measured at the end, toy maps / bright band: BP 0.46 / 0.06, NP 0.96 / 0.97, ANP 0.96 / 0.98,
#: INP 0.88 / 0.75, FA 0.78 / 0.33, DFA 0.77 / 0.21
RUNNABLE = {
    "backprop": (bp.Backprop(), 0.5, 0.5),
    "node_perturbation": (bp.NodePerturbation(sigma=1e-3), 0.2, 0.05),
    "activity_node_perturbation": (bp.ActivityNodePerturbation(sigma=1e-3), 0.2, 0.1),
    "iterative_node_perturbation": (bp.IterativeNodePerturbation(sigma=1e-3), 0.2, 0.2),
    "feedback_alignment": (bp.FeedbackAlignment(), 0.5, 0.5),
    "direct_feedback_alignment": (bp.DirectFeedbackAlignment(), 0.5, 0.5),
}

#: the feedback-family rules with kernel-shaped feedback; a learning rate of 0.5 learns the toy maps in 4 epochs
FEEDBACK_RULES = {
    "sign_symmetry": bp.SignSymmetry(magnitude="brsf"),
    "kolen_pollack": bp.KolenPollack(),
    "symmetric_alignment": bp.SymmetricAlignment(),
    "activation_alignment": bp.ActivationAlignment(),
    "weight_mirror": bp.WeightMirror(),
    "information_alignment": bp.InformationAlignment(),
}

#: weight perturbation and REINFORCE: rule, learning rate, batch size, enough to learn the bright band in 4 epochs with
#: either pooling (train loss 1.12 at the start; measured at the end, average / max pooling: WP 0.60 / 0.90, REINFORCE
#: 0.16 / 0.43, REINFORCE with hidden noise 0.36 / 0.70)
PERTURBATION = {
    "weight_perturbation": (bp.WeightPerturbation(sigma=1e-3), 0.02, 10),
    "reinforce": (bp.Reinforce(sigma=1e-3), 0.2, 20),
    "reinforce_hidden_noise": (bp.Reinforce(sigma=1e-3, perturb_hidden=True), 0.1, 20),
}

#: every training run: (rule, learning rate, batch size, pool mode, task), by test id
TRAINING = {f"average-{name}": (rule, rate, 20, "average", _toy_maps) for name, (rule, rate, _) in RUNNABLE.items()}
TRAINING |= {f"average-{name}": (rule, 0.5, 20, "average", _toy_maps) for name, rule in FEEDBACK_RULES.items()}
TRAINING |= {f"max-{name}": (rule, rate, 20, "max", _bright_band) for name, (rule, _, rate) in RUNNABLE.items()}
TRAINING |= {f"{pool_mode}-{name}": (rule, rate, batch_size, pool_mode, _bright_band)
             for name, (rule, rate, batch_size) in PERTURBATION.items() for pool_mode in POOL_MODES}


@pytest.mark.parametrize("case", sorted(TRAINING))
def test_rule_trains_a_cnn_member_equals_solo_and_resumes_bit_for_bit(case, tmp_path):
    rule, rate, batch_size, pool_mode, task = TRAINING[case]
    n_epochs = 4
    net = small_cnn(pool_mode, readout="softmax")
    kw = dict(batch_size=batch_size, progress=False, loss="cross_entropy")
    rates = [rate / 3, rate]
    ensemble = bp.train(net, rule, task(), n_epochs=n_epochs, learning_rate=rates, seeds=[0, 1], **kw)
    solo = bp.train(net, rule, task(), n_epochs=n_epochs, learning_rate=rate, seeds=[1], **kw)
    # the solo run's rounding differs from the ensemble's (one GEMM for all members); through max pooling a rule whose
    # step is a finite difference of the loss amplifies that by up to ~1/sigma whenever the noise moves a window's
    # maximum, so there the runs agree to rounding for the first epoch and then drift apart, slowly
    np.testing.assert_allclose(ensemble.records["test_loss"][-1][:2], solo.records["test_loss"][0][:2], rtol=1e-10)
    np.testing.assert_allclose(ensemble.records["test_loss"][-1], solo.records["test_loss"][0],
                               rtol=1e-3 if pool_mode == "max" and rule.uses_noise else 1e-10)
    loss = ensemble.records["train_loss"][2:]  # the larger rate, seeds 0 and 1
    assert np.all(loss[:, -1] < 0.95 * loss[:, 0]), loss  # each learns
    checkpoint = tmp_path / "run.checkpoint"
    bp.train(net, rule, task(), n_epochs=2, learning_rate=rates, seeds=[0, 1], checkpoint=checkpoint, checkpoint_every=1, **kw)
    resumed = bp.train(net, rule, task(), n_epochs=n_epochs, learning_rate=rates, seeds=[0, 1], checkpoint=checkpoint, checkpoint_every=1,
                       **kw)
    for a, b in zip(ensemble.final_state_.weights + ensemble.final_state_.biases,
                    resumed.final_state_.weights + resumed.final_state_.biases, strict=True):
        np.testing.assert_array_equal(a, b)


def test_unsupported_combinations_are_refused_by_name():
    net = small_cnn()
    with pytest.raises(ValueError, match=r"lateral decorrelation of a convolutional projection's input \(projection 0"):
        Network(net.populations, projections=net.projections, decorrelation=bp.LateralDecorrelation())
    assert Network(net.populations, projections=net.projections, decorrelation=bp.LateralDecorrelation(layers=(2, 3))).decorrelation
    with pytest.raises(ValueError, match="ConvProjection kernel_size 9 is larger than the padded input"):
        ConvProjection((1, 5, 5), 2, 9)
    with pytest.raises(ValueError, match="ConvProjection pool 8 is larger than the convolution's output"):
        ConvProjection((1, 5, 5), 2, 3, pool=8)
    with pytest.raises(TypeError, match="ConvProjection stride should be an integer or a pair of integers, got 1.5"):
        ConvProjection((1, 5, 5), 2, 3, stride=1.5)
    with pytest.raises(ValueError, match=r"conv_layers\[0\].*needs out_channels and kernel_size"):
        bp.models.cnn((1, 5, 5), [dict(out_channels=2)], 3)


def test_synaptic_scaling_normalises_each_output_channels_kernel():
    net = small_cnn()
    state = state_away_from_init(net)
    scaling = bp.SynapticScaling()
    targets = scaling.initial_targets(net, state)
    assert targets[0].shape == (2, 3) and targets[1].shape == (2, 4)
    for w in state.weights:
        w *= 1.7
    scaling.apply(state, targets)
    for k in (0, 1):
        rms = np.sqrt(np.mean(state.weights[k].reshape(2, state.weights[k].shape[1], -1) ** 2, axis=-1))
        np.testing.assert_allclose(rms, targets[k], rtol=1e-12)


def test_description_round_trips_and_kernels_are_initialised_by_their_fans():
    net = small_cnn(init="he_normal")
    again = Network.from_description(net.describe())
    assert again.describe() == net.describe()
    assert [p.kind for p in again.projections] == ["conv", "conv", "dense", "dense"]
    big = ConvProjection((8, 12, 12), 64, 5, init="he_normal").initial_weights(np.random.default_rng(0))
    # 64 x 8 x 25 = 12,800 draws: the sample std within 5 standard errors of sqrt(2 / fan_in), fan_in = 200
    assert abs(big.std() - np.sqrt(2 / 200)) < 5 * np.sqrt(2 / 200) / np.sqrt(2 * big.size)
    state = net.init_state([0])
    assert state.weights[0].shape == (1, 3, 2, 3, 3) and state.biases[0].shape == (1, 3)
    assert state.weight_norms().shape == (1, 4)


def test_backprop_step_in_a_workspace_builds_each_convolutions_patches_once_and_changes_no_bit(monkeypatch):
    """The whole batch is one block of samples: the updates use the patches the forward pass left in the workspace."""
    from bioplastic.ops import Workspace, convolution

    net = small_cnn()
    state = state_away_from_init(net)
    x, target = random_batch()
    noise = unit_noise(net, np.random.default_rng(5), rows=len(x))
    rules = [(bp.Backprop(), {}), (bp.NodePerturbation(sigma=1e-3), dict(noise=noise))]
    expected = [rule.directions(net, state, x, target, SquaredError(), **kw) for rule, kw in rules]
    build, builds = convolution._patches_into, []
    monkeypatch.setattr(convolution, "_patches_into", lambda *args, **kwargs: builds.append(1) or build(*args, **kwargs))
    for (rule, kw), want in zip(rules, expected, strict=True):
        builds.clear()
        got = rule.directions(net, state, x, target, SquaredError(), workspace=Workspace(), **kw)
        if isinstance(rule, bp.Backprop):
            assert len(builds) == 2  # the two convolutions' forward patches; none in the updates
        for a, b in zip(got.weights + got.biases, want.weights + want.biases, strict=True):
            np.testing.assert_array_equal(a, b)
            np.testing.assert_array_equal(np.signbit(a), np.signbit(b))


def test_every_built_in_rule_trains_a_cnn_in_one_of_the_member_equals_solo_tests():
    """The runs of the CNN training test (average and max pooling) cover every rule."""
    built_in = {name for name, cls in bp.plasticity.registered_rules().items() if cls.__module__.startswith("bioplastic.")}
    covered = {type(rule).name for rule, *_ in TRAINING.values()}
    assert covered == built_in, sorted(built_in - covered)
