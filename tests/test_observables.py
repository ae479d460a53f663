"""Observables recorder: statistics, the layer-wise activity change, measurement realism, the callback and its tidy table.

Conventions checked here: ``var`` is the population variance (``ddof=0``),
``skew`` is Pearson's second coefficient ``3 (mean - median) / std`` (std
with ``ddof=0``), ``kurtosis`` is ``m4 / m2^2`` (scipy's ``kurtosis(...,
fisher=False, bias=True)``, 3 for a Gaussian), quartiles interpolate linearly.
"""

import math

import numpy as np
import pytest
from scipy import stats

import bioplastic as bp
from bioplastic.ops.layers import conv_projection_input
from bioplastic.synapses import ConvProjection
from bioplastic.training.observables import (
    DEFAULT_OBSERVABLES,
    OBSERVABLES,
    STATISTICS,
    activity_change,
    layer_positions,
    split_observable,
    transformed_statistics,
    value_statistics,
)

# -- statistics ------------------------------------------------------------------

def test_statistics_of_a_known_array_have_their_closed_forms():
    got = value_statistics(np.array([1.0, 2.0, 3.0, 4.0, 10.0]))
    # mean 4, median 3, m2 = (9 + 4 + 1 + 0 + 36) / 5 = 10, m4 = (81 + 16 + 1 + 0 + 1296) / 5 = 278.8
    expected = {"norm": math.sqrt(130), "mean": 4.0, "median": 3.0, "thirdquartile": 4.0, "var": 10.0,
                "skew": 3 * (4 - 3) / math.sqrt(10), "kurtosis": 278.8 / 100}
    assert list(got) == list(STATISTICS)
    for name, value in expected.items():
        assert got[name] == pytest.approx(value, rel=1e-14), name


def test_statistics_match_numpy_and_scipy_for_every_leading_index():
    values = np.random.default_rng(0).standard_normal((3, 4, 9)) ** 3  # skewed, members x stimuli x units
    got = value_statistics(values)
    assert all(v.shape == (3, 4) for v in got.values())
    np.testing.assert_allclose(got["norm"], np.linalg.norm(values, axis=-1), rtol=1e-13)
    np.testing.assert_allclose(got["mean"], np.mean(values, axis=-1), rtol=1e-13)
    np.testing.assert_allclose(got["var"], stats.moment(values, 2, axis=-1), rtol=1e-12)
    np.testing.assert_allclose(got["median"], np.median(values, axis=-1), rtol=1e-13)
    np.testing.assert_allclose(got["thirdquartile"], np.percentile(values, 75, axis=-1), rtol=1e-13)
    pearson2 = 3 * (np.mean(values, axis=-1) - np.median(values, axis=-1)) / np.std(values, axis=-1)
    np.testing.assert_allclose(got["skew"], pearson2, rtol=1e-12)
    np.testing.assert_allclose(got["kurtosis"], stats.kurtosis(values, axis=-1, fisher=False, bias=True), rtol=1e-12)


def test_skew_and_kurtosis_of_constant_values_are_nan_without_warnings():
    got = value_statistics(np.array([[0.7, 0.7, 0.7], [1.0, 2.0, 4.0], [1.0, np.nan, 4.0]]))
    assert np.isnan(got["skew"][0]) and np.isnan(got["kurtosis"][0])
    assert np.isfinite(got["skew"][1]) and np.isfinite(got["kurtosis"][1])
    assert all(np.isnan(value[2]) for value in got.values())  # a diverged member's values
    assert got["var"][0] == 0.0  # exactly: the rounded mean 0.7000000000000001 leaves no spread


def test_transformed_statistics_are_those_of_the_raw_squared_and_absolute_values():
    values = np.random.default_rng(1).standard_normal((2, 11))
    names = [f"{f}_{s}" for f in ("raw", "sq", "abs") for s in STATISTICS]
    got = transformed_statistics(values, names=names)
    for function, transform in (("raw", lambda v: v), ("sq", np.square), ("abs", np.abs)):
        for statistic, value in value_statistics(transform(values)).items():
            np.testing.assert_array_equal(got[f"{function}_{statistic}"], value)


def test_unknown_statistic_names_are_refused_with_the_valid_ones():
    with pytest.raises(ValueError, match=r"unknown statistic name\(s\) \['skewness'\]; expected some of norm, mean"):
        value_statistics(np.ones(3), statistics=["skewness"])
    with pytest.raises(ValueError, match=r"unknown observable 'weight_mean'"):
        split_observable("weight_mean")


def test_observable_sets_the_authors_24_defaults_inside_all_45():
    assert len(OBSERVABLES) == 45 and len(set(OBSERVABLES)) == 45
    assert len(DEFAULT_OBSERVABLES) == 24 and set(DEFAULT_OBSERVABLES) <= set(OBSERVABLES)
    parts = [split_observable(n) for n in DEFAULT_OBSERVABLES]
    weight = {(f, s) for m, f, s in parts if m == "weight"}
    act = {(f, s) for m, f, s in parts if m == "act"}
    assert weight == {(f, s) for f in ("raw", "abs") for s in ("norm", "mean", "var", "median", "thirdquartile")} | {
        ("sq", s) for s in ("mean", "median", "thirdquartile")}
    assert act == {(f, s) for f in ("raw", "abs") for s in ("norm", "mean", "median", "thirdquartile")}
    assert {(f, s) for m, f, s in parts if m == "gradavg"} == {("raw", "id"), ("sq", "id"), ("abs", "id")}
    assert split_observable("weightsq_thirdquartile") == ("weight", "sq", "thirdquartile")


def test_layer_positions_split_relative_depth_in_thirds():
    assert layer_positions(1) == ["middle"]
    assert layer_positions(2) == ["early", "deep"]
    assert layer_positions(3) == ["early", "middle", "deep"]
    assert layer_positions(4) == ["early", "middle", "middle", "deep"]
    assert layer_positions(5) == ["early", "early", "middle", "deep", "deep"]


# -- the layer-wise activity change -----------------------------------------------

def _layer_map(network, state, k, e):
    """Layer ``k`` of member ``e`` as a function of its input rates (rows of a 2-D array), written out from the definitions."""
    projection, activation = network.projections[k], network.activations[k]
    w, b, r = state.weights[k][e], state.biases[k][e], state.lateral[k]

    def layer(x):
        pre = x if r is None else x @ r[e].T
        if getattr(projection, "kind", "dense") == "conv":
            h = conv_projection_input(projection, pre, w[None], b[None])[0]
        else:
            h = pre @ w.T + b
        return activation(h)
    return layer


def _finite_difference_change(layer, x, out_units=None, in_units=None, eps=1e-6):
    """``(1/N_out) sum_{j, i} dy_j/dx_i`` of ``layer`` at each row of ``x`` by central differences (over kept units)."""
    n_in = x.shape[1]
    in_units = np.arange(n_in) if in_units is None else in_units
    out = []
    for row in x:
        total = 0.0
        for i in in_units:
            step = np.zeros(n_in)
            step[i] = eps
            dy = (layer((row + step)[None]) - layer((row - step)[None]))[0] / (2 * eps)
            total += dy.sum() if out_units is None else dy[out_units].sum()
        n_out = len(dy) if out_units is None else len(out_units)
        out.append(total / n_out)
    return np.array(out)


def _randomise_biases(state, seed=0):
    rng = np.random.default_rng(seed)
    for b in state.biases:
        if b is not None:
            b[...] = 0.3 * rng.standard_normal(b.shape)


def test_activity_change_of_dense_layers_matches_central_finite_differences():
    pops = [bp.Population(5), bp.Population(6, activation="tanh"), bp.Population(4, activation="sigmoid"),
            bp.Population(3, activation="softmax")]
    net = bp.Network(pops, decorrelation=bp.LateralDecorrelation(layers=[1]))
    state = net.init_state([2, 7])
    _randomise_biases(state)
    state.lateral[1][...] = np.eye(6) + 0.2 * np.random.default_rng(3).standard_normal((2, 6, 6))
    x = np.random.default_rng(4).standard_normal((3, 5))
    activity = bp.ops.forward(net, state, x)
    for k in range(net.n_layers):
        got = activity_change(net, state, activity, k)
        assert got.shape == (2, 3)
        for e in range(2):
            inputs = x if k == 0 else activity.rates[k][e]
            reference = _finite_difference_change(_layer_map(net, state, k, e), inputs)
            np.testing.assert_allclose(got[e], reference, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(activity_change(net, state, activity, 2), 0, atol=1e-12)  # softmax outputs sum to 1
    # over kept units: the sum over kept inputs and outputs, divided by the kept outputs
    out_units, in_units = np.array([[0, 2], [1, 2]]), np.array([[1, 3, 4], [0, 1, 5]])
    got = activity_change(net, state, activity, 1, out_units=out_units, in_units=in_units)
    for e in range(2):
        reference = _finite_difference_change(_layer_map(net, state, 1, e), activity.rates[1][e], out_units[e], in_units[e])
        np.testing.assert_allclose(got[e], reference, rtol=1e-6, atol=1e-9)


def test_activity_change_of_a_convolutional_layer_matches_central_finite_differences():
    conv = ConvProjection((2, 5, 5), 3, 3, padding=1, pool=2)
    pops = [bp.Population(50), bp.Population(conv.n_post, activation="tanh"), bp.Population(2)]
    net = bp.Network(pops, projections=[conv, bp.Projection(conv.n_post, 2)])
    state = net.init_state([1, 5])
    _randomise_biases(state)
    x = np.random.default_rng(6).standard_normal((2, 50))
    activity = bp.ops.forward(net, state, x)
    got = activity_change(net, state, activity, 0)
    for e in range(2):
        np.testing.assert_allclose(got[e], _finite_difference_change(_layer_map(net, state, 0, e), x), rtol=1e-6, atol=1e-9)
    # a linear readout: (1/N_out) sum_ji W_ji, whatever the stimulus
    expected = state.weights[1].sum(axis=(1, 2)) / 2
    np.testing.assert_allclose(activity_change(net, state, activity, 1), np.repeat(expected[:, None], 2, axis=1), rtol=1e-12)


# -- measurement realism ------------------------------------------------------------

def _mlp():
    return bp.models.mlp((8, 12, 10, 3), hidden="tanh")


def test_kept_units_and_synapses_are_fixed_by_seed_and_differ_across_seeds():
    net = _mlp()
    probe = np.zeros((4, 8))
    recorder = bp.Observables(probe, keep_fraction=0.3, seed=1)
    units, synapses = recorder.kept_indices(net, [5, 6, 5])
    assert [u.shape for u in units] == [(3, 3), (3, 4), (3, 3), (3, 1)]  # ceil(0.3 n)
    assert [s.shape for s in synapses] == [(3, 29), (3, 36), (3, 9)]
    for kept, n in zip(units + synapses, list(net.sizes) + [96, 120, 30], strict=True):
        assert np.all(np.diff(kept, axis=1) > 0) and kept.min() >= 0 and kept.max() < n
        np.testing.assert_array_equal(kept[0], kept[2])  # the same seed records the same units
    assert any(not np.array_equal(s[0], s[1]) for s in synapses)
    again_units, again_synapses = bp.Observables(probe, keep_fraction=0.3, seed=1).kept_indices(net, [5])
    for a, b in zip(again_units + again_synapses, units + synapses, strict=True):
        np.testing.assert_array_equal(a[0], b[0])
    other = bp.Observables(probe, keep_fraction=0.3, seed=2).kept_indices(net, [5])[1]
    assert any(not np.array_equal(a[0], b[0]) for a, b in zip(other, synapses, strict=True))
    assert bp.Observables(probe).kept_indices(net, [5]) == ([None] * 4, [None] * 3)


def test_measured_values_are_the_kept_values_plus_noise_from_the_documented_stream():
    net = _mlp()
    state = net.init_state([5, 6])
    probe = np.random.default_rng(0).standard_normal((4, 8))
    recorder = bp.Observables(probe, statistics=["weightraw_mean", "actsq_median", "gradavgraw_id"], keep_fraction=0.5,
                              measurement_noise=0.1, seed=3)
    got = recorder.measure_state(net, state, [5, 6], t=2)
    units, synapses = recorder.kept_indices(net, [5, 6])
    activity = bp.ops.forward(net, state, probe)
    for e, seed in enumerate([5, 6]):
        rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(4, 3, 1, 2)))
        for k in range(net.n_layers):
            w_noise = 0.1 * rng.standard_normal(synapses[k].shape[1])
            act_noise = 0.1 * rng.standard_normal((4, units[k + 1].shape[1]))
            grad_noise = 0.1 * rng.standard_normal((4, units[k].shape[1]))
            w = state.weights[k][e].reshape(-1)[synapses[k][e]] + w_noise
            assert got["weightraw_mean"][e, k] == pytest.approx(w.mean(), rel=1e-12)
            rates = activity.rates[k + 1][e][:, units[k + 1][e]] + act_noise
            assert got["actsq_median"][e, k] == pytest.approx(np.median(rates**2, axis=1).mean(), rel=1e-12)
            clean = activity_change(net, state.member(e), bp.ops.forward(net, state.member(e), probe), k,
                                    out_units=units[k + 1][e:e + 1], in_units=units[k][e:e + 1])[0]
            assert got["gradavgraw_id"][e, k] == pytest.approx((clean + grad_noise.sum(axis=1) / units[k + 1].shape[1]).mean(), rel=1e-10)


def test_noise_is_reproducible_by_seed_and_time_point_and_differs_otherwise():
    net = _mlp()
    state = net.init_state([5])
    probe = np.random.default_rng(0).standard_normal((4, 8))

    def measured(seed=0, t=0, noise=0.05):
        return bp.Observables(probe, statistics="all", measurement_noise=noise, seed=seed).measure_state(net, state, [5], t=t)
    clean, first = measured(noise=0.0), measured()
    for name in OBSERVABLES:
        np.testing.assert_array_equal(first[name], measured()[name])
    assert all(np.all(measured(t=1)[name] != first[name]) for name in ("weightraw_mean", "actraw_mean", "gradavgraw_id"))
    assert all(np.all(measured(seed=1)[name] != first[name]) for name in ("weightraw_mean", "actraw_mean", "gradavgraw_id"))
    assert np.all(first["weightraw_mean"] != clean["weightraw_mean"])
    np.testing.assert_allclose(first["weightraw_mean"], clean["weightraw_mean"], atol=0.05)


def test_invalid_recorder_settings_are_refused_with_the_value():
    probe = np.zeros((3, 8))
    with pytest.raises(ValueError, match=r"keep_fraction should be a number in \(0, 1\], got 0"):
        bp.Observables(probe, keep_fraction=0)
    with pytest.raises(ValueError, match="measurement_noise must be >= 0, got -0.1"):
        bp.Observables(probe, measurement_noise=-0.1)
    with pytest.raises(ValueError, match="statistics should be 'default', 'all' or a sequence of observable names, got 'some'"):
        bp.Observables(probe, statistics="some")
    with pytest.raises(ValueError, match=r"unknown observable name\(s\) \['weight_mean'\]"):
        bp.Observables(probe, statistics=["weight_mean"])
    with pytest.raises(ValueError, match=r"probe_x has 7 inputs per stimulus but the network has 8 \(probe_x of shape \(3, 7\)\)"):
        bp.Observables(np.zeros((3, 7))).measure_state(_mlp(), _mlp().init_state([0]), [0])


# -- the callback and the table ---------------------------------------------------------

@pytest.fixture(scope="module")
def task():
    return bp.tasks.NonlinearStudentTeacher(n_inputs=8, n_hidden=6, n_outputs=3, n_train=60, n_test=20, seed=1)


def _recorder(task):
    return bp.Observables(task.evaluation_sets()["test"][0][:10], statistics="all", keep_fraction=0.5, measurement_noise=0.01, seed=2)


@pytest.fixture(scope="module")
def ensemble(task):
    return bp.train(_mlp(), bp.Backprop(), task, n_epochs=20, learning_rate=[0.05, 0.1], seeds=[3, 4], batch_size=20,
                    progress=False, callbacks=[_recorder(task)])


def test_callback_records_21_time_points_and_each_member_equals_its_solo_run(task, ensemble):
    records = {k: v for k, v in ensemble.records.items() if k.startswith("observable_")}
    assert sorted(records) == sorted(f"observable_{n}" for n in OBSERVABLES)
    assert all(v.shape == (4, 21, 3) for v in records.values())  # n_epochs = 20: the initial state and 20 epochs
    np.testing.assert_array_equal(ensemble.epochs, np.arange(21))
    solo = bp.train(_mlp(), bp.Backprop(), task, n_epochs=20, learning_rate=0.1, seeds=4, batch_size=20, progress=False,
                    callbacks=[_recorder(task)])
    for name, values in records.items():  # member 3 = (learning rate 0.1, seed 4)
        np.testing.assert_allclose(values[3], solo.records[name][0], rtol=1e-9, atol=1e-12, err_msg=name)
    # the last record is the recorder's measurement of the final state at time point 20
    final = _recorder(task).measure_state(_mlp(), ensemble.final_state_, ensemble.seeds, t=20)
    for name in OBSERVABLES:
        np.testing.assert_allclose(records[f"observable_{name}"][:, -1], final[name], rtol=1e-12, atol=1e-14, err_msg=name)
    assert ensemble.config["callbacks"][0]["probe_x"]["shape"] == [10, 8]
    assert ensemble.to_table().shape[0] == 4 * 21


def test_recording_leaves_the_run_unchanged(task):
    args = dict(n_epochs=2, learning_rate=0.1, seeds=[3, 4], batch_size=20, progress=False)
    plain = bp.train(_mlp(), bp.NodePerturbation(), task, **args)
    recorded = bp.train(_mlp(), bp.NodePerturbation(), task, callbacks=[_recorder(task)], **args)
    for a, b in zip(plain.final_state_.weights, recorded.final_state_.weights, strict=True):
        np.testing.assert_array_equal(a, b)


def test_observables_table_is_tidy_with_the_run_metadata(ensemble):
    table = bp.observables_table(ensemble, metadata={"dataset": "student_teacher"})
    assert table.shape == (4 * 21 * 3 * 45, 21)
    assert list(table.columns) == ["member", "seed", "learning_rate", "diverged_epoch", "rule", "sizes", "depth", "width", "batch_size",
                                   "epoch", "time_point", "layer", "layer_position", "n_pre", "n_post", "observable", "measure",
                                   "function", "statistic", "value", "dataset"]
    assert not table.duplicated(["member", "time_point", "layer", "observable"]).any()
    row = table[(table.member == 3) & (table.time_point == 7) & (table.layer == 1) & (table.observable == "actabs_norm")]
    assert len(row) == 1
    row = row.iloc[0]
    assert row.value == ensemble.records["observable_actabs_norm"][3, 7, 1]
    assert (row.seed, row.learning_rate, row.epoch, row.layer_position, row.n_pre, row.n_post) == (4, 0.1, 7, "middle", 12, 10)
    assert (row.rule, row.sizes, row.depth, row.width, row.batch_size, row.dataset) == ("backprop", "8-12-10-3", 3, 12, 20, "student_teacher")
    assert (row.measure, row.function, row.statistic) == ("act", "abs", "norm")
    assert set(table.layer_position) == {"early", "middle", "deep"}
    with pytest.raises(ValueError, match="metadata column 'seed' repeats a column of the table"):
        bp.observables_table(ensemble, metadata={"seed": 1})


def test_observables_table_of_a_run_without_observables_says_how_to_record_them(task):
    history = bp.train(_mlp(), bp.Backprop(), task, n_epochs=1, learning_rate=0.1, batch_size=20, progress=False)
    with pytest.raises(ValueError, match=r"the history holds no observables .*callbacks=\[Observables\(probe_x\)\]"):
        bp.observables_table(history)


def test_noisy_observables_of_a_resumed_run_equal_the_uninterrupted_run(tmp_path):
    # the noise is keyed on the record's position in the run, which the training loop sets, also after a resume
    task = bp.tasks.NonlinearStudentTeacher(n_inputs=5, n_hidden=4, n_outputs=3, n_train=60, n_test=30, seed=1)
    net = bp.models.mlp((5, 6, 3), hidden="tanh")
    probe = task.x_test[:10]

    def run(n_epochs, checkpoint=None):
        recorder = bp.training.Observables(probe, keep_fraction=0.5, measurement_noise=0.1, seed=3)
        return bp.train(net, bp.Backprop(), task, n_epochs=n_epochs, learning_rate=0.05, seeds=[0], batch_size=10, progress=False,
                        callbacks=[recorder], checkpoint=checkpoint, checkpoint_every=1)

    whole = run(4)
    checkpoint = tmp_path / "run.checkpoint"
    run(2, checkpoint)
    resumed = run(4, checkpoint)
    names = [k for k in whole.records if k.startswith("observable_")]
    assert names
    for name in names:
        np.testing.assert_array_equal(whole.records[name], resumed.records[name])
