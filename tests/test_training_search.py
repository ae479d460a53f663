"""Training until a target and the minimum-training-time search (bioplastic.training.search) against brute force."""

import numpy as np
import pytest

import bioplastic as bp
from bioplastic.analysis import measured_minimum_training_time
from bioplastic.tasks import NonlinearStudentTeacher
from bioplastic.training import search_minimum_training_time, train_until


@pytest.fixture(scope="module")
def small_problem():
    task = NonlinearStudentTeacher(n_inputs=8, n_hidden=8, n_outputs=3, n_train=300, n_test=100, seed=2)
    net = bp.models.mlp((8, 16, 3))
    rule = bp.NodePerturbation(sigma=1e-4)
    initial = bp.train(net, rule, task, n_epochs=0, learning_rate=0.01, seeds=0, progress=False).records["test_error"][0, 0]
    return task, net, rule, 0.17 * initial  # reached in ~7-25 epochs depending on the rate


def test_search_equals_brute_force_and_extends_the_grid(small_problem):
    task, net, rule, target = small_problem
    grid, seeds = [0.01, 0.02, 0.04], [0, 1]
    result = search_minimum_training_time(net, rule, task, target=target, learning_rates=grid, seeds=seeds, max_epochs=100,
                                          batch_size=20, progress=False, max_extensions=3, first_epochs=2)
    # brute force: every rate tried by the search, trained for the whole horizon
    brute = bp.train(net, rule, task, n_epochs=100, learning_rate=result["learning_rates"], seeds=seeds, batch_size=20,
                     progress=False)
    expected = measured_minimum_training_time(brute, target)
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
    # one member time per member of every ensemble trained
    assert result["member_times"].shape == (sum(h.n_members for h in result["histories"]),)


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
    with pytest.raises(ValueError, match="learning_rates should hold at least one learning rate, got an empty sequence"):
        search_minimum_training_time(net, rule, task, **{**kwargs, "learning_rates": []})


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


def test_exported_by_training_and_still_importable_from_analysis():
    from bioplastic import analysis, training
    from bioplastic.training import search

    for name in ("search_minimum_training_time", "train_until"):
        assert name in training.__all__ and name in analysis.__all__
        assert getattr(training, name) is getattr(search, name) is getattr(analysis, name)  # plain re-export, no warning
