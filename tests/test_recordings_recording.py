"""Recording, RDMRecording and model activity as recordings."""

import numpy as np
import pytest
from scipy.io import savemat
from scipy.spatial.distance import squareform

from bioplastic.recordings import RDMRecording, Recording, recording_from_activity


def test_recording_masks_nan_and_given_mask_and_averages_observed_repeats():
    responses = np.arange(2 * 3 * 2, dtype=float).reshape(2, 3, 2)
    responses[1, 0, 1] = np.nan
    mask = np.ones_like(responses, dtype=bool)
    mask[0, 2, 0] = False
    rec = Recording(responses, mask=mask, stimulus_ids=["a", "b", "c"], metadata={"area": "V1"})
    assert (rec.n_repeats, rec.n_stimuli, rec.n_neurons) == (2, 3, 2)
    assert not rec.mask[1, 0, 1] and not rec.mask[0, 2, 0] and rec.mask.sum() == 10
    assert np.isnan(rec.responses[0, 2, 0])
    assert not rec.complete
    mean = rec.mean_responses()
    # naive: average over the observed repeats of each entry
    expected = np.array([[(0 + 6) / 2, 1], [(2 + 8) / 2, (3 + 9) / 2], [10, (5 + 11) / 2]])
    np.testing.assert_allclose(mean, expected)
    assert list(rec.stimulus_ids) == ["a", "b", "c"] and rec.metadata == {"area": "V1"}
    assert repr(rec) == "Recording(n_repeats=2, n_stimuli=3, n_neurons=2, missing=2)"


def test_recording_validates_shapes_ids_and_mask():
    with pytest.raises(ValueError, match=r"shape \(n_repeats, n_stimuli, n_neurons\), got shape \(3, 2\)"):
        Recording(np.zeros((3, 2)))
    with pytest.raises(ValueError, match=r"mask should have the shape of responses \(1, 3, 2\), got \(3, 2\)"):
        Recording(np.zeros((1, 3, 2)), mask=np.ones((3, 2), bool))
    with pytest.raises(TypeError, match="mask should be a boolean array, got dtype int64"):
        Recording(np.zeros((1, 3, 2)), mask=np.ones((1, 3, 2), dtype=np.int64))
    with pytest.raises(ValueError, match=r"stimulus_ids should have shape \(3,\)"):
        Recording(np.zeros((1, 3, 2)), stimulus_ids=[1, 2])
    with pytest.raises(ValueError, match="stimulus_ids should be unique"):
        Recording(np.zeros((1, 3, 2)), stimulus_ids=[1, 2, 1])
    with pytest.raises(ValueError, match="infinite"):
        Recording(np.full((1, 3, 2), np.inf))
    responses = np.zeros((2, 3, 2))
    responses[:, 1, 0] = np.nan
    with pytest.raises(ValueError, match="neuron 0 has no observed response to stimulus 1"):
        Recording(responses).mean_responses()


def test_from_arrays_takes_one_repeat_and_repeat_pair_needs_complete_repeats():
    one = Recording.from_arrays(np.ones((4, 3)))
    assert one.responses.shape == (1, 4, 3)
    with pytest.raises(ValueError, match="at least 2 repeats, the recording has 1"):
        one.repeat_pair()
    responses = np.random.default_rng(0).standard_normal((3, 4, 2))
    responses[2, 0, 0] = np.nan
    rec = Recording.from_arrays(responses)
    first, second = rec.repeat_pair(repeats=(1, 0))
    np.testing.assert_array_equal(first, responses[1])
    np.testing.assert_array_equal(second, responses[0])
    with pytest.raises(ValueError, match="repeat 2 has 1 missing entries"):
        rec.repeat_pair(repeats=(0, 2))
    with pytest.raises(ValueError, match=r"two different indices in \[0, 3\), got \(1, 1\)"):
        rec.repeat_pair(repeats=(1, 1))


def test_from_presentations_groups_by_stimulus_in_presentation_order():
    resp = np.arange(6 * 2, dtype=float).reshape(6, 2)
    istim = [3, 1, 3, 2, 1, 9]
    rec = Recording.from_presentations(resp, istim, exclude=[9])
    assert list(rec.stimulus_ids) == [1, 2, 3]
    np.testing.assert_array_equal(rec.responses[0], resp[[1, 3, 0]])
    np.testing.assert_array_equal(rec.responses[1, [0, 2]], resp[[4, 2]])
    assert np.isnan(rec.responses[1, 1]).all() and not rec.mask[1, 1].any()


def _write_stringer(path, resp, istim, spont=None, struct=True):
    fields = {"resp": resp, "istim": np.asarray(istim, dtype=float)[:, None]}
    if spont is not None:
        fields["spont"] = spont
    savemat(path, {"stim": fields} if struct else fields)


def test_from_stringer_mat_reads_struct_drops_blank_and_keeps_spontaneous(tmp_path):
    rng = np.random.default_rng(1)
    resp = rng.standard_normal((7, 4))
    istim = [2, 1, 3, 1, 2, 3, 4]  # 4 = blank, the largest index
    spont = rng.standard_normal((5, 4))
    _write_stringer(tmp_path / "natimg.mat", resp, istim, spont)
    rec = Recording.from_stringer_mat(tmp_path / "natimg.mat", metadata={"mouse": "M1"})
    assert list(rec.stimulus_ids) == [1, 2, 3] and rec.complete
    np.testing.assert_allclose(rec.responses[0], resp[[1, 0, 2]])
    np.testing.assert_allclose(rec.responses[1], resp[[3, 4, 5]])
    np.testing.assert_allclose(rec.metadata["spontaneous"], spont)
    assert rec.metadata["source"] == str((tmp_path / "natimg.mat").resolve()) and rec.metadata["mouse"] == "M1"
    kept = Recording.from_stringer_mat(tmp_path / "natimg.mat", exclude_blank=False)
    assert list(kept.stimulus_ids) == [1, 2, 3, 4] and not kept.complete


def test_from_stringer_mat_accepts_top_level_variables_and_names_missing_ones(tmp_path):
    resp = np.arange(8.0).reshape(4, 2)
    _write_stringer(tmp_path / "flat.mat", resp, [1, 2, 1, 2], struct=False)
    rec = Recording.from_stringer_mat(tmp_path / "flat.mat", exclude_blank=False)
    np.testing.assert_array_equal(rec.responses, resp.reshape(2, 2, 2))
    savemat(tmp_path / "bad.mat", {"resp": resp})
    with pytest.raises(KeyError, match=r"lacks \['istim'\].*found variables \['resp'\]"):
        Recording.from_stringer_mat(tmp_path / "bad.mat")
    with pytest.raises(FileNotFoundError, match="nothere.mat does not exist"):
        Recording.from_stringer_mat(tmp_path / "nothere.mat")


def test_recording_from_activity_with_and_without_ensemble_axis():
    activity = np.random.default_rng(2).standard_normal((3, 5, 4))
    single = recording_from_activity(activity[0], metadata={"layer": 1})
    assert isinstance(single, Recording) and single.responses.shape == (1, 5, 4)
    np.testing.assert_array_equal(single.mean_responses(), activity[0])
    members = recording_from_activity(activity, metadata={"layer": 1})
    assert len(members) == 3 and [m.metadata for m in members] == [{"layer": 1, "member": i} for i in range(3)]
    np.testing.assert_array_equal(members[2].mean_responses(), activity[2])
    with pytest.raises(ValueError, match=r"got shape \(5,\)"):
        recording_from_activity(np.zeros(5))


def test_rdm_recording_condensed_and_square_forms_agree():
    rng = np.random.default_rng(3)
    condensed = rng.random(10)
    square = squareform(condensed)
    a, b = RDMRecording(condensed), RDMRecording(square, metric="euclidean", metadata={"name": "x"})
    np.testing.assert_array_equal(a.matrix, square)
    np.testing.assert_array_equal(b.condensed, condensed)
    assert a.n_stimuli == 5 and repr(b) == "RDMRecording(n_stimuli=5, metric='euclidean', name='x')"
    np.testing.assert_array_equal(RDMRecording(condensed[None]).condensed, condensed)  # MATLAB's (1, n) row


def test_rdm_recording_rejects_bad_matrices():
    with pytest.raises(ValueError, match="n \\* \\(n - 1\\) / 2 entries, got 4"):
        RDMRecording(np.ones(4))
    asym = squareform(np.ones(3))
    asym[0, 1] = 2.0
    with pytest.raises(ValueError, match="symmetric, got max \\|D - D\\^T\\| = 1"):
        RDMRecording(asym)
    with pytest.raises(ValueError, match="zero diagonal, got max \\|diag\\| = 1"):
        RDMRecording(np.ones((3, 3)))
    with pytest.raises(ValueError, match="non-finite"):
        RDMRecording(np.array([1.0, np.nan, 1.0]))
    with pytest.raises(ValueError, match=r"got shape \(2, 3\)"):
        RDMRecording(np.ones((2, 3)))


def test_recording_rdm_is_the_rdm_of_mean_responses():
    rng = np.random.default_rng(4)
    responses = rng.standard_normal((2, 6, 5))
    out = Recording(responses, stimulus_ids=list("abcdef")).rdm(metric="correlation")
    mean = responses.mean(axis=0)
    naive = [1 - np.corrcoef(mean[i], mean[j])[0, 1] for i in range(6) for j in range(i + 1, 6)]
    np.testing.assert_allclose(out.condensed, naive, rtol=1e-12)
    assert out.metric == "correlation" and list(out.stimulus_ids) == list("abcdef") and out.metadata["n_neurons"] == 5


def _naive_layer_rates(network, state, x, member, layer):
    """Rates of population ``layer`` of member ``member``, one stimulus and one unit at a time (tanh hidden units, linear readout)."""
    rates = np.asarray(x, dtype=float)
    for k in range(layer):
        lateral = state.lateral[k]
        pre = rates if lateral is None else np.array([[sum(lateral[member][i, j] * row[j] for j in range(len(row)))
                                                       for i in range(len(row))] for row in rates])
        weights, bias = state.weights[k][member], state.biases[k][member]
        summed = np.array([[sum(weights[i, j] * row[j] for j in range(len(row))) + bias[i] for i in range(weights.shape[0])]
                           for row in pre])
        rates = np.tanh(summed) if k < network.n_layers - 1 else summed
    return rates


def test_model_recording_is_a_layer_of_a_member_on_the_stimuli():
    from bioplastic import LateralDecorrelation
    from bioplastic.models import mlp
    from bioplastic.network import NetworkState
    from bioplastic.recordings import model_recording

    rng = np.random.default_rng(5)
    network = mlp((4, 6, 5, 3), hidden="tanh", decorrelation=LateralDecorrelation(layers=(1,)))
    state = network.init_state([0, 1, 2])
    lateral = [None, np.eye(6) + 0.2 * rng.standard_normal((3, 6, 6)), None]  # a learnt decorrelation in front of projection 1
    state = NetworkState(state.weights, [b + 0.1 * rng.standard_normal(b.shape) for b in state.biases], lateral)
    x = rng.standard_normal((7, 4))
    one = model_recording(network, state, x, layer=2, member=1, stimulus_ids=list("abcdefg"), metadata={"area": "model"}, chunk_size=3)
    assert isinstance(one, Recording) and one.responses.shape == (1, 7, 5)
    np.testing.assert_allclose(one.mean_responses(), _naive_layer_rates(network, state, x, 1, 2), rtol=1e-12)
    assert one.stimulus_ids.tolist() == list("abcdefg")
    assert one.metadata == {"layer": 2, "population": network.populations[2].name, "n_units": 5, "area": "model", "member": 1}
    # every member (default), in chunks or not; the input (layer 0) and the output (layer -1)
    every = model_recording(network, state, x, layer=2)
    assert [r.metadata["member"] for r in every] == [0, 1, 2]
    np.testing.assert_allclose(every[1].responses, one.responses, rtol=1e-12)  # other chunks: other GEMM blocking
    chosen = model_recording(network, state, x, layer=-1, member=[2, 0], chunk_size=1)
    assert [r.metadata["member"] for r in chosen] == [2, 0] and chosen[0].metadata["layer"] == 3
    np.testing.assert_allclose(chosen[0].mean_responses(), _naive_layer_rates(network, state, x, 2, 3), rtol=1e-12)
    np.testing.assert_array_equal(model_recording(network, state, x, layer=0, member=0).mean_responses(), x)
    with pytest.raises(ValueError, match=r"layer 4 out of range: the network has 4 populations \(0 = input .. 3 = output\)"):
        model_recording(network, state, x, layer=4)
    with pytest.raises(ValueError, match="member 3 out of range for an ensemble of 3 members"):
        model_recording(network, state, x, layer=1, member=3)
    with pytest.raises(ValueError, match=r"x should have shape \(n_stimuli, 4\) \(the network's inputs\), got \(7, 5\)"):
        model_recording(network, state, np.zeros((7, 5)), layer=1)
    with pytest.raises(TypeError, match="state should be a NetworkState"):
        model_recording(network, state.weights, x, layer=1)


def test_model_recording_of_a_convolutional_layer_equals_the_forward_pass():
    from bioplastic.models import cnn
    from bioplastic.recordings import model_recording

    network = cnn((3, 8, 8), [dict(out_channels=2, kernel_size=3, pool=2)], 4, dense=(5,))
    state = network.init_state([3, 4], dtype=np.float32)
    x = np.random.default_rng(6).standard_normal((9, 3 * 8 * 8))
    maps = model_recording(network, state, x, layer=1, chunk_size=4)
    expected = network.forward(state, x.astype(np.float32)).rates[1]
    assert maps[0].responses.shape == (1, 9, 2 * 3 * 3) and maps[0].responses.dtype == np.float64
    for member, recording in enumerate(maps):  # float32 rates in chunks of 4 against one pass: the GEMMs' rounding only
        np.testing.assert_allclose(recording.mean_responses(), expected[member], rtol=1e-5, atol=1e-6)
