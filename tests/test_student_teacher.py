"""Tests of the linear StudentTeacher task (online and minibatch modes)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bioplastic import Backprop, NodePerturbation, models, train
from bioplastic.tasks import NonlinearStudentTeacher, StudentTeacher


def test_teacher_is_xavier_and_fixed_by_seed():
    task = StudentTeacher(n_inputs=200, n_outputs=50, seed=3)
    assert task.teacher.shape == (50, 200)
    # entries ~ N(0, 2 / (Lx + Ly)): the sample variance of 10^4 entries is within 5 %
    assert task.teacher.var() == pytest.approx(2 / 250, rel=0.05)
    assert abs(task.teacher.mean()) < 4 * np.sqrt(2 / 250 / 1e4)
    np.testing.assert_array_equal(task.teacher, StudentTeacher(n_inputs=200, n_outputs=50, seed=3).teacher)
    assert not np.allclose(task.teacher, StudentTeacher(n_inputs=200, n_outputs=50, seed=4).teacher)
    scaled = StudentTeacher(n_inputs=200, n_outputs=50, seed=3, teacher_scale=2.0)
    np.testing.assert_allclose(scaled.teacher, 2 * task.teacher)


def test_sample_is_linear_teacher_plus_noise():
    task = StudentTeacher(n_inputs=8, n_outputs=3, teacher_noise=0.5)
    rng = np.random.default_rng(1)
    x, y = task.sample(20000, rng)
    assert x.shape == (20000, 8) and y.shape == (20000, 3)
    residual = y - x @ task.teacher.T
    # residual is the teacher noise: variance sigma_t^2 = 0.25 per output, uncorrelated with x
    np.testing.assert_allclose(residual.var(axis=0), 0.25, rtol=0.05)
    assert np.abs(x.T @ residual / len(x)).max() < 0.03
    np.testing.assert_allclose(x.var(axis=0), 1.0, rtol=0.05)
    clean = StudentTeacher(n_inputs=8, n_outputs=3)
    x, y = clean.sample(5, rng)
    np.testing.assert_allclose(y, x @ clean.teacher.T, rtol=1e-14)


def test_online_batches_are_fresh_samples_in_chunks():
    task = StudentTeacher(n_inputs=6, n_outputs=2, teacher_noise=0.1, steps_per_epoch=5000)
    batches = list(task.batches(1, np.random.default_rng(7)))
    assert len(batches) == task.n_batches(1) == 5000
    x = np.concatenate([b[0] for b in batches])
    y = np.concatenate([b[1] for b in batches])
    # the stream is the documented chunked draw: x then zeta per chunk of CHUNK_SAMPLES samples
    rng = np.random.default_rng(7)
    x0, y0 = task.sample(task.CHUNK_SAMPLES, rng)
    x1, y1 = task.sample(5000 - task.CHUNK_SAMPLES, rng)
    np.testing.assert_array_equal(x, np.concatenate([x0, x1]))
    np.testing.assert_array_equal(y, np.concatenate([y0, y1]))
    # every epoch draws new samples; batch size sets the samples per step
    again = next(task.batches(1, np.random.default_rng(8)))[0]
    assert not np.allclose(again, x[:1])
    xb, yb = next(task.batches(4, np.random.default_rng(7)))
    assert xb.shape == (4, 6) and yb.shape == (4, 2)
    assert task.n_batches(4) == 5000


def test_minibatch_mode_covers_the_training_set():
    task = StudentTeacher(n_inputs=5, n_outputs=2, mode="minibatch", n_train=103, n_eval=50)
    assert task.n_batches(10) == 10
    batches = list(task.batches(10, np.random.default_rng(0)))
    x = np.concatenate([b[0] for b in batches])
    x_train, y_train = task.evaluation_sets()["train"]
    assert x_train.shape == (103, 5) and y_train.shape == (103, 2)
    # 100 distinct training samples, each once
    rows = {tuple(r) for r in x}
    assert len(rows) == 100 and rows <= {tuple(r) for r in x_train}
    with pytest.raises(ValueError, match="exceeds the 103 training samples"):
        task.n_batches(200)
    x_test, _ = task.evaluation_sets()["test"]
    assert x_test.shape == (50, 5)


def test_expected_error_matches_monte_carlo():
    task = StudentTeacher(n_inputs=10, n_outputs=4, teacher_noise=0.3, seed=2)
    rng = np.random.default_rng(0)
    w = task.teacher + 0.2 * rng.standard_normal(task.teacher.shape)
    x, y = task.sample(200000, rng)
    monte_carlo = np.mean(np.sum((x @ w.T - y) ** 2, axis=1))
    assert task.expected_error(w) == pytest.approx(monte_carlo, rel=0.01)
    diff = w - task.teacher
    assert task.normalized_error(w) == pytest.approx(np.sum(diff**2) / 40, rel=1e-12)
    # broadcasts over leading (ensemble) axes
    stacked = np.stack([w, task.teacher])
    np.testing.assert_allclose(task.normalized_error(stacked), [np.sum(diff**2) / 40, 0.0], atol=1e-15)
    with pytest.raises(ValueError, match="shape"):
        task.expected_error(np.zeros((3, 3)))


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"n_inputs": 0}, ValueError, "n_inputs"),
        ({"n_outputs": 2.5}, TypeError, "n_outputs"),
        ({"teacher_noise": -0.1}, ValueError, "teacher_noise"),
        ({"mode": "batch"}, ValueError, "mode"),
        ({"steps_per_epoch": 0}, ValueError, "steps_per_epoch"),
        ({"teacher_scale": 0.0}, ValueError, "teacher_scale"),
        ({"seed": -1}, ValueError, "seed"),
    ],
)
def test_validation(kwargs, error, match):
    with pytest.raises(error, match=match):
        StudentTeacher(**kwargs)


def test_describe_is_json_and_nonlinear_task_kept():
    task = StudentTeacher(n_inputs=4, n_outputs=2, teacher_noise=0.2, mode="minibatch", n_train=30)
    description = json.loads(json.dumps(task.describe()))
    assert description["teacher_noise"] == 0.2 and description["mode"] == "minibatch"
    assert "StudentTeacher" in repr(task)
    # the nonlinear task of the same module is unchanged
    assert NonlinearStudentTeacher(n_train=20, n_test=10).n_inputs == 20


def test_train_learns_minibatch_and_online_student_teacher():
    net = models.deep_linear(10, 50, 3)
    task = StudentTeacher(n_inputs=10, n_outputs=3, mode="minibatch", n_train=500, n_eval=400, seed=1)
    sgd = train(net, Backprop(), task, n_epochs=15, learning_rate=0.05, batch_size=10, progress=False)
    # SGD on a realisable linear teacher: the error falls by more than 10x
    assert sgd.records["test_error"][0, -1] < 0.1 * sgd.records["test_error"][0, 0]
    np_run = train(net, NodePerturbation(sigma=1e-3), task, n_epochs=15, learning_rate=0.01, batch_size=10, progress=False)
    assert np_run.records["test_error"][0, -1] < 0.5 * np_run.records["test_error"][0, 0]
    online = StudentTeacher(n_inputs=10, n_outputs=3, steps_per_epoch=200, n_eval=400, seed=1)
    hist = train(net, Backprop(), online, n_epochs=5, learning_rate=0.01, batch_size=1, progress=False)
    assert hist.records["test_error"][0, -1] < 0.2 * hist.records["test_error"][0, 0]
    # the sample-based test error estimates the exact expected error of the final weights
    w = hist.final_state_.weights[1][0] @ hist.final_state_.weights[0][0]
    assert hist.records["test_error"][0, -1] == pytest.approx(online.expected_error(w), rel=0.25)
