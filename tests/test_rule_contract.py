"""The rule contract, checked for every registered rule (one entry per rule in CONTRACT).

Every rule: trains in an ensemble and learns, member = solo run, checkpoint and
resume give the uninterrupted run (optimiser and rule state included), its
description round-trips through a configuration file, bad parameters are
rejected with the parameter's name. A rule defined in a user's own module
trains through ``bp.train`` and a configuration file with no edit to the package.
"""

import sys
import textwrap
import tomllib

import numpy as np
import pytest

import bioplastic as bp
from bioplastic.config import build_experiment, dump_config
from bioplastic.plasticity import PlasticityRule, get_rule, registered_rules

#: rule name -> parameters to test with, a learning rate that learns the task, one bad parameter
CONTRACT = {
    "node_perturbation": {"params": {"sigma": 1e-3}, "learning_rate": 0.02, "bad": ("sigma", -1.0)},
    "iterative_node_perturbation": {"params": {"sigma": 1e-3, "n_samples": 2}, "learning_rate": 0.02, "bad": ("n_samples", 0)},
    "activity_node_perturbation": {"params": {"sigma": 1e-3, "clean_pass": False}, "learning_rate": 0.02, "bad": ("noise", "uniform")},
    "backprop": {"params": {}, "learning_rate": 0.05, "bad": ("batch_reduction", "median")},
    "reinforce": {"params": {"sigma": 1e-3}, "learning_rate": 0.02, "bad": ("perturb_hidden", "yes")},
    "weight_perturbation": {"params": {"sigma": 1e-3}, "learning_rate": 0.003, "bad": ("sigma", 0.0)},
    "feedback_alignment": {"params": {"feedback_scale": 1.0}, "learning_rate": 0.05, "bad": ("feedback_scale", 0.0)},
    "direct_feedback_alignment": {"params": {}, "learning_rate": 0.05, "bad": ("feedback_scale", -1.0)},
    "sign_symmetry": {"params": {"magnitude": "brsf"}, "learning_rate": 0.05, "bad": ("magnitude", "uniform")},
    "kolen_pollack": {"params": {"decay": 1e-3}, "learning_rate": 0.05, "bad": ("decay", -1.0)},
    "symmetric_alignment": {"params": {"alpha": 1e-3, "beta": bp.plasticity.Schedule(value=2e-3, kind="linear", rate=-1e-3, total_steps=80)},
                            "learning_rate": 0.05, "bad": ("alpha", -1.0)},
    "activation_alignment": {"params": {}, "learning_rate": 0.05, "bad": ("beta", "big")},
    "weight_mirror": {"params": {"noise_std": 1.0}, "learning_rate": 0.05, "bad": ("noise_std", 0.0)},
    "information_alignment": {"params": {}, "learning_rate": 0.05, "bad": ("gamma", -0.5)},
}

BUILT_IN = sorted(name for name, cls in registered_rules().items() if cls.__module__.startswith("bioplastic."))


@pytest.fixture(scope="module")
def task():
    return bp.tasks.NonlinearStudentTeacher(n_inputs=8, n_hidden=6, n_outputs=3, n_train=200, n_test=100, seed=1)


def _net():
    return bp.models.mlp((8, 12, 3), hidden="tanh")


def _train(task, name, **kw):
    entry = CONTRACT[name]
    args = dict(n_epochs=3, learning_rate=[entry["learning_rate"], 2 * entry["learning_rate"]], seeds=[3, 4], batch_size=10, progress=False)
    args.update(kw)
    return bp.train(_net(), get_rule(name, **entry["params"]), task, **args)


def test_every_built_in_rule_has_a_contract_entry():
    assert set(BUILT_IN) == set(CONTRACT), "every registered rule needs an entry in CONTRACT"
    assert {"node_perturbation", "backprop", "reinforce"} <= set(BUILT_IN)


@pytest.mark.parametrize("name", BUILT_IN)
def test_declares_signal_locality_and_noise(name):
    rule = get_rule(name, **CONTRACT[name]["params"])
    assert rule.signal in bp.plasticity.SIGNALS and isinstance(rule.local, bool)
    needs = rule.noise_needs(_net())
    assert len(needs.population) == len(needs.synapse) == 2
    assert needs.any == rule.uses_noise


@pytest.mark.parametrize("name", BUILT_IN)
def test_learns_in_an_ensemble_and_member_equals_solo(task, name):
    ensemble = _train(task, name)
    errors = ensemble.records["test_error"]
    assert errors.shape == (4, 4) and np.all(np.isfinite(errors))
    assert np.all(errors[:, -1] < errors[:, 0]), errors
    for i in (0, 3):
        solo = _train(task, name, learning_rate=ensemble.learning_rates[i], seeds=[int(ensemble.seeds[i])])
        np.testing.assert_allclose(ensemble.records["test_error"][i], solo.records["test_error"][0], rtol=64 * np.finfo(float).eps)


@pytest.mark.parametrize("optimiser", ["sgd", "momentum", "adam"])
@pytest.mark.parametrize("name", BUILT_IN)
def test_checkpoint_and_resume_equal_the_uninterrupted_run(task, name, optimiser, tmp_path):
    kwargs = dict(optimiser=optimiser)
    if optimiser != "sgd":
        kwargs["learning_rate"] = [1e-3, 3e-3]
    full = _train(task, name, n_epochs=4, **kwargs)
    checkpoint = tmp_path / "run.checkpoint"
    _train(task, name, n_epochs=2, checkpoint=checkpoint, checkpoint_every=1, **kwargs)
    resumed = _train(task, name, n_epochs=4, checkpoint=checkpoint, checkpoint_every=1, **kwargs)
    for key in full.records:
        np.testing.assert_array_equal(full.records[key], resumed.records[key])
    for a, b in zip(full.final_state_.weights, resumed.final_state_.weights, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name", BUILT_IN)
def test_description_round_trips_through_a_configuration_file(name):
    rule = get_rule(name, **CONTRACT[name]["params"])
    description = rule.describe()
    assert description["name"] == name
    assert set(description) - {"name"} == set(type(rule).param_names())
    text = dump_config({"network": {"sizes": [8, 12, 3]}, "task": {"name": "student_teacher"}, "rule": description,
                        "training": {"n_epochs": 1, "learning_rate": 0.01}})
    _, rebuilt, _, _, _ = build_experiment(tomllib.loads(text))
    assert type(rebuilt) is type(rule) and rebuilt.describe() == description
    assert repr(rebuilt) == repr(rule)


@pytest.mark.parametrize("name", BUILT_IN)
def test_bad_parameters_are_rejected_with_their_name(name):
    param, value = CONTRACT[name]["bad"]
    with pytest.raises((TypeError, ValueError), match=param):
        get_rule(name, **{**CONTRACT[name]["params"], param: value})
    with pytest.raises(ValueError, match=r"unknown parameter\(s\) \['learning_rate'\]"):
        get_rule(name, learning_rate=0.1)


USER_RULE = '''
import numpy as np

from bioplastic.ops import backprop_deltas, deltas_to_updates, forward
from bioplastic.plasticity import Directions, PlasticityRule


class SignedBackprop(PlasticityRule):
    """Backprop whose per-synapse change keeps only the sign of the gradient (scaled by a step)."""

    name = "signed_backprop"
    signal = "vector"

    def __init__(self, *, step=1.0, batch_reduction="mean"):
        super().__init__(batch_reduction=batch_reduction)
        if step <= 0:
            raise ValueError(f"step must be > 0, got {step}")
        self.step = step

    def directions(self, network, state, x, target, loss, *, noise=None, synaptic_noise=None, rule_state=None, scale=None, workspace=None):
        activity = forward(network, state, x)
        output = network.activations[-1].vjp(activity.inputs[-1], activity.output, loss.gradient(activity.output, target))
        deltas = backprop_deltas(network, state, activity, output)
        weights, biases = deltas_to_updates(network, activity, deltas, np.ones((1, 1, 1)))
        factor = self._scale(scale, state.n_members, activity.output.dtype)[:, None, None] * self.step
        return Directions([np.sign(w) * factor for w in weights], [np.sign(b) * factor[:, :, 0] for b in biases], activity)
'''


def test_a_rule_in_a_users_own_module_trains_through_train_and_a_configuration_file(task, tmp_path, monkeypatch):
    (tmp_path / "my_signed_rule.py").write_text(textwrap.dedent(USER_RULE))
    monkeypatch.syspath_prepend(str(tmp_path))
    import my_signed_rule

    try:
        assert registered_rules()["signed_backprop"] is my_signed_rule.SignedBackprop
        rule = my_signed_rule.SignedBackprop(step=0.5)
        assert repr(rule) == "SignedBackprop(step=0.5, batch_reduction='mean')"
        history = bp.train(_net(), rule, task, n_epochs=3, learning_rate=1e-3, batch_size=10, progress=False)
        assert history.records["test_error"][0, -1] < history.records["test_error"][0, 0]
        assert history.config["rule"] == {"name": "signed_backprop", "step": 0.5, "batch_reduction": "mean"}
        config = tmp_path / "user.toml"
        config.write_text(dump_config({
            "network": {"sizes": [8, 12, 3], "hidden": "tanh"},
            "task": {"name": "student_teacher", "n_inputs": 8, "n_hidden": 6, "n_outputs": 3, "n_train": 200, "n_test": 100, "seed": 1},
            "rule": {"name": "signed_backprop", "step": 0.5},
            "training": {"n_epochs": 3, "learning_rate": 1e-3, "batch_size": 10},
        }))
        from bioplastic.config import run_config

        from_file, _ = run_config(config, out_dir=tmp_path / "out", progress=False)
        np.testing.assert_array_equal(from_file.records["test_error"], history.records["test_error"])
    finally:
        bp.plasticity.RULES.pop("signed_backprop", None)
        sys.modules.pop("my_signed_rule", None)


def test_a_configuration_file_imports_the_users_rule_module(task, tmp_path):
    """``[rule] module = "file.py"`` (relative to the configuration file) registers the rule before it is built."""
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "signed.py").write_text(textwrap.dedent(USER_RULE))
    config = tmp_path / "user.toml"
    config.write_text(dump_config({
        "network": {"sizes": [8, 12, 3], "hidden": "tanh"},
        "task": {"name": "student_teacher", "n_inputs": 8, "n_hidden": 6, "n_outputs": 3, "n_train": 200, "n_test": 100, "seed": 1},
        "rule": {"name": "signed_backprop", "module": "rules/signed.py", "step": 0.5},
        "training": {"n_epochs": 2, "learning_rate": 1e-3, "batch_size": 10, "optimiser": {"name": "momentum", "momentum": 0.5}},
    }))
    from bioplastic.config import run_config

    try:
        history, _ = run_config(config, out_dir=tmp_path / "out", progress=False)
        assert history.config["rule"]["name"] == "signed_backprop"
        assert history.config["optimiser"] == {"name": "momentum", "momentum": 0.5, "nesterov": False}
        assert np.all(np.isfinite(history.records["test_error"]))
    finally:
        bp.plasticity.RULES.pop("signed_backprop", None)
        sys.modules.pop("bioplastic_user_rules_signed", None)
    bad = tmp_path / "bad.toml"
    bad.write_text(config.read_text().replace("rules/signed.py", "rules/missing.py"))
    with pytest.raises(ValueError, match=r"\[rule\] module 'rules/missing.py': the file .* does not exist"):
        run_config(bad, out_dir=tmp_path / "out2", progress=False)


def test_registering_a_second_rule_under_a_taken_name_is_refused():
    with pytest.raises(ValueError, match="a rule named 'backprop' is already registered"):
        type("Impostor", (PlasticityRule,), {"name": "backprop"})
