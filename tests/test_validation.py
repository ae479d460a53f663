"""Bad input raises a clear error naming the value and what was expected."""

import re

import numpy as np
import pytest

import bioplastic as bp
from bioplastic.config import build_experiment, load_config


def _task():
    return bp.tasks.NonlinearStudentTeacher(n_inputs=4, n_outputs=2, n_train=50, n_test=20)


def _net():
    return bp.models.mlp((4, 5, 2))


def _train(network=None, rule=None, **kw):
    args = dict(n_epochs=1, learning_rate=0.1, batch_size=10, progress=False)
    args.update(kw)
    return bp.train(network or _net(), rule or bp.Backprop(), _task(), **args)


CASES = [
    ("population size 0", lambda: bp.Population(0), ValueError, "at least 1, was 0"),
    ("population size negative", lambda: bp.Population(-3), ValueError, "was -3"),
    ("population size float", lambda: bp.Population(2.5), TypeError, "integer"),
    ("unknown activation", lambda: bp.Population(3, activation="swish"), ValueError, "unknown activation 'swish'"),
    ("unknown noise", lambda: bp.Population(3, noise="poisson"), ValueError, "unknown noise 'poisson'"),
    ("projection size 0", lambda: bp.Projection(0, 3), ValueError, "n_pre should be at least 1"),
    ("init scale <= 0", lambda: bp.Projection(2, 3, init_scale=0), ValueError, "init_scale must be > 0, got 0"),
    ("one population", lambda: bp.Network([bp.Population(3)]), ValueError, "at least 2 populations"),
    ("projection mismatch", lambda: bp.Network([3, 4], projections=[bp.Projection(3, 5)]), ValueError, "3 -> 5"),
    ("sigma zero", lambda: bp.NodePerturbation(sigma=0), ValueError, "sigma must be > 0, got 0"),
    ("sigma negative", lambda: bp.NodePerturbation(sigma=-1e-3), ValueError, "sigma must be > 0, got -0.001"),
    ("sigma nan", lambda: bp.NodePerturbation(sigma=float("nan")), ValueError, "sigma should be finite"),
    ("batch reduction", lambda: bp.Backprop(batch_reduction="median"), ValueError, "unknown batch_reduction 'median'"),
    ("unknown loss", lambda: bp.losses.get_loss("hinge"), ValueError, "unknown loss 'hinge'"),
    ("unknown rule", lambda: bp.plasticity.get_rule("hebb"), ValueError, "unknown rule 'hebb'"),
    ("scaling target", lambda: bp.SynapticScaling(target=-1.0), ValueError, "target must be > 0"),
    ("scaling layers", lambda: bp.SynapticScaling(layers="first"), ValueError, "layers should be 'all'"),
    ("learning rate zero", lambda: _train(learning_rate=0.0, progress=False),
     ValueError, "learning_rate must be > 0, got 0.0"),
    ("learning rate negative", lambda: _train(learning_rate=[0.1, -0.1], progress=False),
     ValueError, "learning_rate must be > 0, got -0.1"),
    ("task inputs mismatch", lambda: _train(bp.models.mlp((5, 5, 2))),
     ValueError, "network has 5 inputs but task"),
    ("task outputs mismatch", lambda: _train(bp.models.mlp((4, 5, 3))),
     ValueError, "network has 3 outputs but task"),
    ("batch larger than data", lambda: _train(learning_rate=0.1, batch_size=500, progress=False),
     ValueError, "batch_size 500 exceeds the 50 training samples"),
    ("batch size zero", lambda: _train(learning_rate=0.1, batch_size=0, progress=False),
     ValueError, "batch_size should be at least 1, was 0"),
    ("negative seed", lambda: _train(learning_rate=0.1, seeds=[-1], progress=False),
     ValueError, "seeds should be non-negative integers, got -1"),
    ("unknown dtype", lambda: _train(learning_rate=0.1, dtype="float16", progress=False),
     ValueError, "unknown dtype 'float16'"),
    ("rule not a rule", lambda: _train(rule="np"), TypeError, "should be a PlasticityRule"),
    ("non-finite data", lambda: bp.tasks.DatasetTask(np.array([[1.0, np.nan]]), np.ones((1, 1)), np.ones((1, 2)), np.ones((1, 1))),
     ValueError, "x_train contains 1 non-finite values"),
    ("inf targets", lambda: bp.tasks.DatasetTask(np.ones((2, 2)), np.array([[1.0], [np.inf]]), np.ones((1, 2)), np.ones((1, 1))),
     ValueError, "y_train contains 1 non-finite"),
    ("sample count mismatch", lambda: bp.tasks.DatasetTask(np.ones((3, 2)), np.ones((2, 1)), np.ones((1, 2)), np.ones((1, 1))),
     ValueError, "x_train has 3 samples but y_train has 2"),
    ("feature mismatch", lambda: bp.tasks.DatasetTask(np.ones((3, 2)), np.ones((3, 1)), np.ones((1, 4)), np.ones((1, 1))),
     ValueError, "x_train has 2 features but x_test has 4"),
    ("non-numeric data", lambda: bp.tasks.DatasetTask([["a", "b"]], np.ones((1, 1)), np.ones((1, 2)), np.ones((1, 1))),
     TypeError, "x_train should be a"),
    ("NP on noise-free network", lambda: _train(bp.models.mlp((4, 5, 2), noise=None), bp.NodePerturbation()), ValueError, "needs intrinsic noise"),
    ("layer index out of range", lambda: _train(rule=bp.NodePerturbation(layers=[5])), ValueError, "layer index 5 out of range"),
    ("unknown task", lambda: bp.config.get_task("imagenet"), ValueError, "unknown task 'imagenet'"),
]


@pytest.mark.parametrize("name,call,error,match", CASES, ids=[c[0] for c in CASES])
def test_bad_input(name, call, error, match):
    with pytest.raises(error, match=re.escape(match)):
        call()


def test_at_least_15_cases():
    assert len(CASES) >= 15


GOOD = "[network]\nsizes=[20,5,5]\n[task]\nname='student_teacher'\n[rule]\nname='np'\n[training]\nn_epochs=1\nlearning_rate=0.1\n"

CONFIGS = {
    "not toml": ("[network\nsizes = [", "not valid TOML"),
    "unknown section": (GOOD + "[extra]\na=1\n",
                        "unknown section(s) ['extra']"),
    "missing section": ("[network]\nsizes=[20,5,5]\n[task]\nname='student_teacher'\n[rule]\nname='np'\n", "missing section [training]"),
    "unknown key": ("[network]\nsizes=[20,5,5]\nwidth=3\n[task]\nname='student_teacher'\n[rule]\nname='np'\n[training]\nn_epochs=1\nlearning_rate=0.1\n",
                    "unknown key(s) ['width'] in [network]"),
    "missing sizes": ("[network]\nhidden='relu'\n[task]\nname='student_teacher'\n[rule]\nname='np'\n[training]\nn_epochs=1\nlearning_rate=0.1\n",
                      "[network] needs 'sizes'"),
    "missing lr": ("[network]\nsizes=[20,5,5]\n[task]\nname='student_teacher'\n[rule]\nname='np'\n[training]\nn_epochs=1\n",
                   "[training] needs 'learning_rate'"),
}


@pytest.mark.parametrize("text,match", CONFIGS.values(), ids=list(CONFIGS))
def test_malformed_config(tmp_path, text, match):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ValueError) as info:
        load_config(path)
    assert match in str(info.value)


def test_bad_rule_parameter_in_config():
    config = {"network": {"sizes": [20, 5, 5]}, "task": {"name": "student_teacher"}, "rule": {"name": "np", "sigma": -1.0},
              "training": {"n_epochs": 1, "learning_rate": 0.1}}
    with pytest.raises(ValueError, match="sigma must be > 0, got -1.0"):
        build_experiment(config)
    config["rule"] = {"name": "np", "temperature": 1.0}
    with pytest.raises(ValueError, match="bad parameters in \\[rule\\]"):
        build_experiment(config)
