"""Ensemble training: reproducibility, member = solo run, divergence, checkpoints, results."""

import json
import re

import numpy as np
import pytest

import bioplastic as bp
from bioplastic.io import load_arrays_and_metadata


@pytest.fixture(scope="module")
def task():
    return bp.tasks.NonlinearStudentTeacher(n_train=300, n_test=100, seed=1)


def _net():
    return bp.models.mlp((20, 16, 5), hidden="tanh")


def _run(task, **kw):
    args = dict(n_epochs=4, learning_rate=[0.02, 0.05], seeds=[3, 4], batch_size=10, progress=False)
    args.update(kw)
    return bp.train(_net(), bp.NodePerturbation(sigma=1e-3), task, **args)


def test_same_seed_bit_identical(task):
    a, b = _run(task), _run(task)
    for k in a.records:
        assert np.array_equal(a.records[k], b.records[k], equal_nan=True), k
    for wa, wb in zip(a.final_state_.weights, b.final_state_.weights, strict=True):
        assert np.array_equal(wa, wb)


def test_different_seeds_differ(task):
    a, b = _run(task, seeds=[3]), _run(task, seeds=[5])
    assert not np.array_equal(a.records["test_error"], b.records["test_error"])


@pytest.mark.parametrize("dtype,rtol", [("float64", 1e-10), ("float32", 2e-4)])
def test_member_equals_solo_run(task, dtype, rtol):
    ens = _run(task, dtype=dtype)
    for i, (lr, seed) in enumerate(zip(ens.learning_rates, ens.seeds, strict=True)):
        solo = _run(task, learning_rate=lr, seeds=[int(seed)], dtype=dtype)
        np.testing.assert_allclose(ens.records["test_error"][i], solo.records["test_error"][0], rtol=rtol)
        for we, ws in zip(ens.final_state_.weights, solo.final_state_.weights, strict=True):
            np.testing.assert_allclose(we[i], ws[0], rtol=rtol, atol=rtol * 1e-2)


def test_members_sharing_a_seed_equal_their_solo_runs(task):
    """Members with one seed share its noise, drawn once (a broadcast view); each still equals its solo run."""
    args = dict(n_epochs=3, seeds=[3], batch_size=10, progress=False)
    network, rule = _net(), bp.NodePerturbation(sigma=1e-3)
    ens = bp.train(network, rule, task, learning_rate=[0.02, 0.05, 0.08], **args)
    assert list(ens.seeds) == [3, 3, 3]
    for i in range(3):
        solo = bp.train(network, rule, task, learning_rate=ens.learning_rates[i], **args)
        np.testing.assert_allclose(ens.records["test_error"][i], solo.records["test_error"][0], rtol=1e-10)
    assert not np.allclose(ens.records["test_error"][0], ens.records["test_error"][1])


@pytest.mark.parametrize("member_block,n_threads", [(1, 1), (2, 2), (3, 1), (8, 2)])
def test_engine_results_do_not_depend_on_blocks_or_threads(member_block, n_threads):
    from bioplastic.engines.numpy import NumpyEngine
    from bioplastic.losses import SquaredError

    network, rule = bp.models.mlp((6, 9, 3), hidden="relu"), bp.NodePerturbation(sigma=1e-3)
    seeds = [0, 1, 2, 0, 1, 2, 5, 5, 7]
    rng = np.random.default_rng(0)
    x, target = rng.standard_normal((12, 6)), rng.standard_normal((12, 3))
    scale = np.linspace(0.01, 0.05, len(seeds))

    def run(**kw):
        engine = NumpyEngine(network, rule, SquaredError(), seeds=seeds, batch_size=12, **kw)
        engine.start_epoch(5)
        with engine.running():
            for _ in range(5):
                engine.step(x, target, scale)
        return engine.state_

    reference = run(member_block=len(seeds), n_threads=1)
    state = run(member_block=member_block, n_threads=n_threads)
    for a, b in zip(reference.weights, state.weights, strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-15)
    # members 0 and 3 share seed 0 and step with different learning rates from the same start
    assert not np.allclose(state.weights[0][0], state.weights[0][3])


def test_member_blocks_follow_noise_streams():
    from bioplastic.engines.numpy import _member_blocks

    tiled = np.tile(np.arange(4), 8)  # learning-rate x seed grid
    blocks, streams = _member_blocks(tiled, 6)
    assert [(b.start, b.stop) for b in blocks] == [(i, i + 4) for i in range(0, 32, 4)]
    assert all(s == slice(0, 4) for s in streams)
    blocks, streams = _member_blocks(np.arange(32), 6)  # distinct seeds: equal blocks of 5-6
    assert [b.stop - b.start for b in blocks] == [5, 6, 5, 5, 6, 5]
    assert [(s.start, s.stop) for s in streams] == [(b.start, b.stop) for b in blocks]
    blocks, streams = _member_blocks(np.zeros(7, dtype=np.intp), 4)  # one seed: broadcast the stream
    assert [(b.start, b.stop) for b in blocks] == [(0, 4), (4, 7)] and streams == [(0,), (0,)]
    order = np.random.default_rng(0).permutation(12)  # scattered: gather
    blocks, streams = _member_blocks(order, 6)
    assert [(b.start, b.stop) for b in blocks] == [(0, 6), (6, 12)]
    assert np.array_equal(np.concatenate(streams), order)


def _naive_outputs(network, state, x):
    """Reference forward pass: one sample and one member at a time, plain loops over layers."""
    out = np.empty((state.n_members, len(x), network.n_outputs))
    for e in range(state.n_members):
        for n, sample in enumerate(x):
            rate = sample
            for k, activation in enumerate(network.activations):
                h = state.weights[k][e] @ rate + (0 if state.biases[k] is None else state.biases[k][e])
                rate = activation(h[None])[0]
            out[e, n] = rate
    return out


@pytest.mark.parametrize("sizes,hidden,readout,bias", [
    ((6, 9, 3), "relu", "linear", True),
    ((6, 9, 8, 4), "tanh", "softmax", True),
    ((5, 7, 6, 5, 2), "relu", "linear", False),
    ((6, 4), "relu", "softmax", True),
    ((6, 5, 3), "linear", "linear", True),
])
@pytest.mark.parametrize("chunk_size", [None, 1, 7, 100])
def test_predict_equals_a_naive_forward_pass(sizes, hidden, readout, bias, chunk_size):
    from bioplastic.engines.numpy import forward, predict

    network = bp.models.mlp(sizes, hidden=hidden, readout=readout, bias=bias)
    state = network.init_state(rngs=[np.random.default_rng(i) for i in range(5)])
    x = np.random.default_rng(9).standard_normal((23, sizes[0]))
    reference = _naive_outputs(network, state, x)
    np.testing.assert_allclose(predict(network, state, x, chunk_size=chunk_size), reference, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(forward(network, state, x).output, reference, rtol=1e-12, atol=1e-14)
    out = np.full((5, 23, sizes[-1]), np.nan)
    assert predict(network, state, x, chunk_size=chunk_size, out=out) is out
    np.testing.assert_allclose(out, reference, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("n_threads", [1, 2])
def test_engine_predict_evaluates_identical_members_once(monkeypatch, n_threads):
    """Members that share a seed are evaluated once while their weights are equal, and each on its own after."""
    from bioplastic.engines import numpy as engine_module
    from bioplastic.losses import SquaredError

    network, rule = bp.models.mlp((6, 9, 3), hidden="relu"), bp.NodePerturbation(sigma=1e-3)
    seeds = [4, 4, 2, 4, 2, 8]
    engine = engine_module.NumpyEngine(network, rule, SquaredError(), seeds=seeds, batch_size=12, member_block=2, n_threads=n_threads)
    evaluated = []
    real_predict = engine_module.predict
    monkeypatch.setattr(engine_module, "predict", lambda net, state, x, **kw: evaluated.append(state.n_members) or real_predict(net, state, x, **kw))
    x = np.random.default_rng(0).standard_normal((30, 6))
    before = engine.predict(x)
    assert sum(evaluated) == 3  # seeds 4, 2 and 8
    np.testing.assert_allclose(before, _naive_outputs(network, engine.state_, x), rtol=1e-12, atol=1e-14)
    engine.start_epoch(1)
    engine.step(x[:12], np.zeros((12, 3)), np.linspace(0.01, 0.05, len(seeds)))
    evaluated.clear()
    after = engine.predict(x)
    assert sum(evaluated) == len(seeds)
    np.testing.assert_allclose(after, _naive_outputs(network, engine.state_, x), rtol=1e-12, atol=1e-14)
    assert not np.allclose(after[0], after[1])


def test_network_state_views_and_member_copies():
    state = bp.models.mlp((4, 5, 2)).init_state(rngs=[np.random.default_rng(i) for i in range(4)])
    view, member = state.view(slice(1, 3)), state.member(2)
    assert view.n_members == 2 and member.n_members == 1
    np.testing.assert_array_equal(member.weights[0][0], state.weights[0][2])
    view.weights[0][1] += 1.0  # a view: lands in member 2 of the state
    view.biases[1][0] = 7.0
    np.testing.assert_array_equal(state.weights[0][2], member.weights[0][0] + 1.0)
    assert np.all(state.biases[1][1] == 7.0)
    assert not np.shares_memory(member.weights[0], state.weights[0])  # member is a copy


def test_engine_rejects_bad_threads_and_blocks():
    from bioplastic.engines.numpy import NumpyEngine
    from bioplastic.losses import SquaredError

    network, rule = bp.models.mlp((6, 9, 3)), bp.NodePerturbation()
    with pytest.raises(ValueError, match="n_threads"):
        NumpyEngine(network, rule, SquaredError(), seeds=[0], batch_size=4, n_threads=0)
    with pytest.raises(ValueError, match="member_block"):
        NumpyEngine(network, rule, SquaredError(), seeds=[0], batch_size=4, member_block=0)


def test_backprop_member_equals_solo(task):
    ens = bp.train(_net(), bp.Backprop(), task, n_epochs=3, learning_rate=[0.05, 0.1], seeds=[0, 1], batch_size=10, progress=False)
    solo = bp.train(_net(), bp.Backprop(), task, n_epochs=3, learning_rate=0.1, seeds=[1], batch_size=10, progress=False)
    np.testing.assert_allclose(ens.records["test_error"][3], solo.records["test_error"][0], rtol=1e-10)


def test_diverging_member_is_frozen_and_flagged(task):
    hist = bp.train(_net(), bp.Backprop(), task, n_epochs=5, learning_rate=[0.05, 50.0], seeds=[0], batch_size=10,
                    progress=False, divergence_factor=10)
    assert hist.diverged_epoch[0] == -1
    assert hist.diverged_epoch[1] >= 1
    ep = hist.diverged_epoch[1]
    assert np.all(np.isnan(hist.records["test_error"][1, ep + 1 :]))
    assert np.all(np.isfinite(hist.records["test_error"][0]))
    assert hist.final()[0] < hist.records["test_error"][0, 0]
    assert np.all(np.isfinite(hist.final_state_.weights[0][1]))  # frozen at its last good weights


def test_learning_reduces_error(task):
    hist = _run(task, n_epochs=8)
    assert np.all(hist.final() < 0.5 * hist.records["test_error"][:, 0])


def test_checkpoint_resume_equals_uninterrupted(task, tmp_path):
    full = _run(task, n_epochs=6)
    ckpt = tmp_path / "run.checkpoint"
    part = _run(task, n_epochs=3, checkpoint=ckpt, checkpoint_every=1)
    assert part.epochs[-1] == 3
    resumed = _run(task, n_epochs=6, checkpoint=ckpt, checkpoint_every=1)
    for k in full.records:
        np.testing.assert_array_equal(full.records[k], resumed.records[k])
    with pytest.raises(ValueError, match="different configuration"):
        _run(task, n_epochs=6, checkpoint=ckpt, learning_rate=[0.01, 0.05])


@pytest.mark.parametrize("killed_rename", [7, 8])  # the 3rd checkpoint's new .npz, then its .json (commit)
def test_checkpoint_interrupted_while_written_resumes_to_the_uninterrupted_result(task, tmp_path, monkeypatch, killed_rename):
    import os

    full = _run(task, n_epochs=5)
    ckpt = tmp_path / "run.checkpoint"
    calls, original = [], os.replace

    def replace(src, dst):
        calls.append(dst)
        if len(calls) == killed_rename:
            raise KeyboardInterrupt
        original(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(KeyboardInterrupt):
        _run(task, n_epochs=5, checkpoint=ckpt, checkpoint_every=1)
    monkeypatch.setattr(os, "replace", original)
    # first save: .npz, .json; later ones: backup, .npz, .json
    assert [os.path.basename(c) for c in calls[:5]] == ["run.checkpoint.npz", "run.checkpoint.json", ".run.checkpoint.npz.prev",
                                                        "run.checkpoint.npz", "run.checkpoint.json"]
    _, meta = load_arrays_and_metadata(ckpt)
    assert meta["epoch"] == 2
    resumed = _run(task, n_epochs=5, checkpoint=ckpt, checkpoint_every=1)
    for k in full.records:
        np.testing.assert_array_equal(full.records[k], resumed.records[k])


def test_checkpoint_has_names_of_its_own_beside_the_result(task, tmp_path):
    first = _run(task, n_epochs=2, checkpoint=tmp_path / "exp.checkpoint")
    first.save(tmp_path / "exp")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exp.checkpoint.json", "exp.checkpoint.npz", "exp.json", "exp.npz"]
    again = _run(task, n_epochs=2, checkpoint=tmp_path / "exp.checkpoint")  # resumes at its last epoch
    np.testing.assert_array_equal(again.records["test_error"], first.records["test_error"])
    assert bp.History.load(tmp_path / "exp").n_members == 4
    with pytest.raises(ValueError, match=re.escape(f"{tmp_path / 'exp.json'} is not a bioplastic checkpoint "
                                                   "(kind='bioplastic.History'); a checkpoint needs a name of its own")):
        _run(task, n_epochs=2, checkpoint=tmp_path / "exp")


def test_history_save_load_table_plot(task, tmp_path):
    import matplotlib.pyplot as plt

    hist = bp.train(_net(), bp.Backprop(), task, n_epochs=2, learning_rate=[0.05, 0.1], seeds=[0, 1], batch_size=10, progress=False)
    npz, js = hist.save(tmp_path / "out")
    meta = json.loads(js.read_text())
    assert meta["config"]["rule"]["name"] == "backprop" and "numpy" in meta["versions"]
    with np.load(npz, allow_pickle=False) as data:
        assert "record_test_error" in data.files
    loaded = bp.History.load(tmp_path / "out")
    for k in hist.records:
        np.testing.assert_array_equal(loaded.records[k], hist.records[k])
    np.testing.assert_array_equal(loaded.learning_rates, hist.learning_rates)
    table = loaded.to_table()
    assert len(table) == 4 * 3
    assert set(table.columns) >= {"member", "learning_rate", "seed", "epoch", "test_error", "weight_norm_0", "weight_norm_1"}
    row = table[(table.member == 3) & (table.epoch == 2)]
    assert float(row.test_error.iloc[0]) == hist.records["test_error"][3, 2]
    ax = hist.plot("test_error")
    assert len(ax.lines) == 2  # one mean curve per learning rate
    plt.close("all")
    assert not list(tmp_path.glob(".*.tmp"))  # atomic writes leave no temporary files


def test_epochs_to_target():
    h = bp.History([0, 1, 2, 3], {"test_error": np.array([[4.0, 3.0, 1.0, 0.5], [4.0, 4.0, 4.0, 4.0]])}, [0.1, 0.2], [0, 0], [-1, -1], {})
    np.testing.assert_array_equal(h.epochs_to_target(1.0), [2.0, np.inf])


def test_classification_records_accuracy():
    rng = np.random.default_rng(0)
    centers = rng.standard_normal((3, 5)) * 3
    labels = rng.integers(0, 3, 300)
    x = centers[labels] + rng.standard_normal((300, 5))
    task = bp.tasks.DatasetTask(x[:200], labels[:200], x[200:], labels[200:])
    net = bp.models.mlp((5, 10, 3), readout="softmax")
    hist = bp.train(net, bp.Backprop(), task, n_epochs=10, learning_rate=0.5, batch_size=10, progress=False)
    assert hist.records["test_accuracy"][0, -1] > 0.9
    # accuracy matches a direct evaluation of the final weights
    out = net.forward(hist.final_state_, task.x_test).output
    assert hist.records["test_accuracy"][0, -1] == pytest.approx(np.mean(out[0].argmax(1) == labels[200:]))
