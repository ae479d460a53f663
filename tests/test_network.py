"""Networks and their ensemble states: initialisation per seed, member selection, storage and descriptions."""

import json

import numpy as np
import pytest

import bioplastic as bp
from bioplastic import Network, NetworkState, Population, Projection
from bioplastic._random import member_streams


def _net(bias=True):
    return Network([Population(4, noise=None), Population(6, activation="tanh"), Population(3, activation="softmax")], bias=bias)


def _state(n_members=3, seed=0):
    """A state with nonzero biases, so that biases are checked too."""
    state = _net().init_state(list(range(seed, seed + n_members)))
    rng = np.random.default_rng(seed)
    for b in state.biases:
        b[...] = rng.standard_normal(b.shape)
    return state


def _assert_states_equal(a, b):
    assert len(a.weights) == len(b.weights) and len(a.biases) == len(b.biases)
    for x, y in zip(a.weights + a.biases, b.weights + b.biases, strict=True):
        assert (x is None and y is None) or np.array_equal(x, y)


# ----------------------------------------------------------------------------- init_state
def test_init_state_shapes_dtype_and_zero_biases():
    net = _net()
    state = net.init_state([5, 6], dtype=np.float32)
    assert [w.shape for w in state.weights] == [(2, 6, 4), (2, 3, 6)]
    assert [b.shape for b in state.biases] == [(2, 6), (2, 3)]
    assert state.dtype == np.float32 and all(b.dtype == np.float32 for b in state.biases)
    assert state.n_members == 2
    assert all(not np.any(b) for b in state.biases)
    assert _net(bias=False).init_state([0]).biases == [None, None]


def test_init_state_is_reproducible_per_seed():
    net = _net()
    _assert_states_equal(net.init_state([3, 4]), net.init_state([3, 4]))
    _assert_states_equal(net.init_state(), net.init_state([0]))
    _assert_states_equal(net.init_state(7), net.init_state([7]))
    a, b = net.init_state([3]), net.init_state([4])
    assert not np.allclose(a.weights[0], b.weights[0])


def test_member_weights_depend_on_its_own_seed_only():
    """Member i of an ensemble has the weights of a solo state with seed i, whatever the other members."""
    net = _net()
    ensemble = net.init_state([11, 12, 13])
    other = net.init_state([99, 12])
    for i, seed in enumerate([11, 12, 13]):
        _assert_states_equal(ensemble.member(i), net.init_state([seed]))
    _assert_states_equal(ensemble.member(1), other.member(1))


def test_init_state_uses_the_members_init_stream():
    """Member weights come from the first child of SeedSequence(seed), layer after layer."""
    net = _net()
    rng = member_streams(21)[0]
    expected = [proj.initial_weights(rng) for proj in net.projections]
    state = net.init_state([21])
    for k in range(net.n_layers):
        np.testing.assert_array_equal(state.weights[k][0], expected[k])
    from_rngs = net.init_state(rngs=[member_streams(21)[0], np.random.default_rng(1)])
    _assert_states_equal(from_rngs.member(0), state)
    _assert_states_equal(from_rngs.member(1), net.init_state(rngs=[1]))


# ----------------------------------------------------------------------------- selecting members
def test_view_writes_land_in_the_state():
    state = _state(4)
    view = state.view(slice(1, 3))
    assert view.n_members == 2
    view.weights[0][...] = 7.0
    view.biases[1][...] = -2.0
    assert np.all(state.weights[0][1:3] == 7.0) and np.all(state.biases[1][1:3] == -2.0)
    assert not np.any(state.weights[0][[0, 3]] == 7.0)


def test_member_and_take_and_copy_are_copies():
    state = _state(4)
    original = state.copy()
    member = state.member(2)
    assert member.n_members == 1
    np.testing.assert_array_equal(member.weights[1][0], state.weights[1][2])
    taken = state.take([3, 0, 3])
    assert taken.n_members == 3
    for k in range(2):
        np.testing.assert_array_equal(taken.weights[k], state.weights[k][[3, 0, 3]])
        np.testing.assert_array_equal(taken.biases[k], state.biases[k][[3, 0, 3]])
    copy = state.copy()
    for selected in (member, taken, copy):
        for a in selected.weights + selected.biases:
            a[...] = 0.0
    _assert_states_equal(state, original)


def test_stack_concatenates_members_and_inverts_take():
    state = _state(4)
    stacked = NetworkState.stack([state.member(0), state.take([1, 2]), state.member(3)])
    _assert_states_equal(stacked, state)
    no_bias = _net(bias=False).init_state([0, 1])
    assert NetworkState.stack([no_bias, no_bias]).biases == [None, None]
    assert NetworkState.stack([no_bias, no_bias]).n_members == 4


def test_weight_norms_match_a_loop():
    state = _state(3)
    expected = [[np.sqrt(sum(v**2 for v in w[e].ravel())) for w in state.weights] for e in range(3)]
    np.testing.assert_allclose(state.weight_norms(), expected, rtol=1e-13)


# ----------------------------------------------------------------------------- storage
def test_arrays_from_arrays_round_trip():
    state = _state(2)
    arrays = state.arrays()
    assert sorted(arrays) == ["W0", "W1", "b0", "b1"]
    _assert_states_equal(NetworkState.from_arrays(arrays, 2), state)
    # through an npz file, as when saved
    restored = NetworkState.from_arrays(dict(np.load(_saved(arrays))), 2)
    _assert_states_equal(restored, state)


def _saved(arrays):
    import io

    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    buffer.seek(0)
    return buffer


def test_arrays_round_trip_without_biases():
    net = Network([3, 4, 2], projections=[Projection(3, 4, bias=False), Projection(4, 2)])
    state = net.init_state([0])
    arrays = state.arrays()
    assert sorted(arrays) == ["W0", "W1", "b1"]
    restored = NetworkState.from_arrays(arrays, 2)
    assert restored.biases[0] is None
    _assert_states_equal(restored, state)


# ----------------------------------------------------------------------------- descriptions
def test_describe_from_description_round_trip_through_json():
    net = Network(
        [Population(5, noise=None, name="input"), Population(7, activation="relu", noise="rademacher", name="h"),
         Population(2, activation="sigmoid")],
        projections=[Projection(5, 7, init_scale=0.5, bias=False), Projection(7, 2, init="zeros", plastic=False)],
    )
    description = net.describe()
    assert description == {
        "populations": [
            {"n_neurons": 5, "activation": "linear", "noise": None, "name": "input"},
            {"n_neurons": 7, "activation": "relu", "noise": "rademacher", "name": "h"},
            {"n_neurons": 2, "activation": "sigmoid", "noise": "gaussian", "name": None},
        ],
        "projections": [
            {"n_pre": 5, "n_post": 7, "init": "xavier_normal", "init_scale": 0.5, "bias": False, "plastic": True},
            {"n_pre": 7, "n_post": 2, "init": "zeros", "init_scale": 1.0, "bias": True, "plastic": False},
        ],
    }
    rebuilt = Network.from_description(json.loads(json.dumps(description)))
    assert rebuilt.describe() == description
    assert repr(rebuilt) == repr(net) == "Network(5(linear) -> 7(relu) -> 2(sigmoid))"
    _assert_states_equal(rebuilt.init_state([3]), net.init_state([3]))


def test_properties_and_int_populations():
    net = Network([4, 5, 2])
    assert net.sizes == (4, 5, 2) and net.n_layers == 2 and net.n_inputs == 4 and net.n_outputs == 2
    assert all(p.activation_.name == "linear" and p.noise == "gaussian" for p in net.populations)
    assert [a.name for a in net.activations] == ["linear", "linear"]
    assert [(p.n_pre, p.n_post, p.bias) for p in net.projections] == [(4, 5, True), (5, 2, True)]
    scaled = Network([4, 5, 2], init_scale=0.25, bias=False)
    assert all(p.init_scale == 0.25 and p.bias is False for p in scaled.projections)


def test_forward_is_the_clean_pass_of_every_member():
    net, state = _net(), _state(2)
    x = np.random.default_rng(3).standard_normal((5, 4))
    activity = net.forward(state, x)
    for e in range(2):
        for b in range(5):
            h1 = state.weights[0][e] @ x[b] + state.biases[0][e]
            h2 = state.weights[1][e] @ np.tanh(h1) + state.biases[1][e]
            np.testing.assert_allclose(activity.output[e, b], np.exp(h2) / np.exp(h2).sum(), rtol=1e-12)


# ----------------------------------------------------------------------------- errors
@pytest.mark.parametrize("populations,kwargs,error,message", [
    ([3], {}, ValueError, "a Network needs at least 2 populations (input and output), got 1"),
    ([3, 4], {"projections": []}, ValueError, "expected 1 projections for 2 populations, got 0"),
    ([3, 4], {"projections": ["W"]}, TypeError, "projections[0] should be a Projection, got 'W'"),
    ([3, 4, 2], {"projections": [Projection(3, 4), Projection(5, 2)]}, ValueError,
     "projections[1] connects 5 -> 2 neurons but populations 1 and 2 have 4 and 2"),
    ([3, 4], {"init_scale": 0}, ValueError, "init_scale must be > 0, got 0.0"),
    ([3, 4], {"bias": "yes"}, TypeError, "bias should be True or False, got 'yes'"),
])
def test_network_errors_name_the_bad_value(populations, kwargs, error, message):
    with pytest.raises(error) as info:
        Network(populations, **kwargs)
    assert str(info.value) == message


def test_state_errors_name_the_bad_value():
    w = np.zeros((2, 3, 4))
    with pytest.raises(ValueError) as info:
        NetworkState([w, w], [None])
    assert str(info.value) == "got 2 weight arrays but 1 bias entries"
    with pytest.raises(ValueError) as info:
        NetworkState([w, np.zeros((3, 1, 3))], [None, None])
    assert str(info.value) == "all weight arrays need the same ensemble size, got [2, 3]"
    with pytest.raises(ValueError, match="member seeds should be non-negative integers, got -1"):
        _net().init_state([-1])


def test_top_level_names():
    assert bp.Network is Network and bp.NetworkState is NetworkState


# ----------------------------------------------------------------------------- models.mlp: activation and initialisation
def test_mlp_default_init_keeps_the_network_default_weights():
    """``init="xavier_normal"`` (the default) builds the same projections and draws the same weights as Network's defaults."""
    net = bp.models.mlp((5, 7, 6, 3), init_scale=0.5, bias=False)
    pops = [Population(5, noise=None, name="input"), Population(7, activation="relu", name="hidden1"),
            Population(6, activation="relu", name="hidden2"), Population(3, name="output")]
    reference = Network(pops, init_scale=0.5, bias=False)
    assert net.describe() == reference.describe()
    assert net.init_scale == 0.5 and net.bias is False
    _assert_states_equal(net.init_state([0, 4]), reference.init_state([0, 4]))


def test_mlp_he_normal_init_applies_to_every_projection():
    from bioplastic.synapses import he_std, xavier_std

    sizes = (5, 7, 6, 3)
    net = bp.models.mlp(sizes, init="he_normal", init_scale=0.5)
    assert [p.init for p in net.projections] == ["he_normal"] * 3 and all(p.init_scale == 0.5 for p in net.projections)
    xavier = bp.models.mlp(sizes, init_scale=0.5).init_state([2])
    he = net.init_state([2])
    for k, (n_pre, n_post) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        np.testing.assert_allclose(he.weights[k], xavier.weights[k] * he_std(n_pre) / xavier_std(n_pre, n_post), rtol=1e-14)
    with pytest.raises(ValueError) as info:
        bp.models.mlp(sizes, init="he_uniform")
    assert str(info.value) == "unknown init 'he_uniform'; expected one of 'xavier_normal', 'he_normal', 'zeros'"


def test_mlp_leaky_relu_hidden_and_slope():
    from bioplastic.neurons import LeakyReLU

    default = bp.models.mlp((4, 6, 5, 2), hidden="leaky_relu")
    assert [repr(a) for a in default.activations] == ["LeakyReLU(slope=0.2)", "LeakyReLU(slope=0.2)", "linear"]
    net = bp.models.mlp((4, 6, 5, 2), hidden="leaky_relu", hidden_slope=0.1, readout="softmax")
    assert [type(a).__name__ for a in net.activations] == ["LeakyReLU", "LeakyReLU", "Softmax"]
    assert [a.slope for a in net.activations[:2]] == [0.1, 0.1]
    assert bp.models.mlp((4, 6, 2), hidden=LeakyReLU(slope=0.3), hidden_slope=0.05).activations[0].slope == 0.05
    rebuilt = Network.from_description(json.loads(json.dumps(net.describe())))
    assert rebuilt.describe() == net.describe() and rebuilt.activations[1].slope == 0.1


def test_mlp_leaky_relu_forward_closed_form():
    net = bp.models.mlp((3, 4, 2), hidden="leaky_relu", hidden_slope=0.1, init="he_normal")
    state = net.init_state([1])
    rng = np.random.default_rng(2)
    for b in state.biases:
        b[...] = rng.standard_normal(b.shape)
    x = rng.standard_normal((6, 3))
    h = x @ state.weights[0][0].T + state.biases[0][0]
    expected = np.where(h > 0, h, 0.1 * h) @ state.weights[1][0].T + state.biases[1][0]
    np.testing.assert_allclose(net.forward(state, x).output[0], expected, rtol=1e-12)


@pytest.mark.parametrize("kwargs,error,message", [
    ({"hidden_slope": 0.1}, ValueError, "hidden_slope applies to hidden='leaky_relu' only, got hidden_slope=0.1 with hidden='relu'"),
    ({"hidden": "tanh", "hidden_slope": 0.0}, ValueError,
     "hidden_slope applies to hidden='leaky_relu' only, got hidden_slope=0.0 with hidden='tanh'"),
    ({"hidden": "leaky_relu", "hidden_slope": 1.0}, ValueError, "LeakyReLU slope must lie in [0, 1), got 1.0"),
    ({"hidden": "leaky_relu", "hidden_slope": "0.1"}, TypeError, "LeakyReLU slope should be a real number, got '0.1' of type str"),
])
def test_mlp_hidden_slope_errors(kwargs, error, message):
    with pytest.raises(error) as info:
        bp.models.mlp((4, 6, 2), **kwargs)
    assert str(info.value) == message
