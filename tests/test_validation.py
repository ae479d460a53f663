"""Bad input raises a clear error naming the value and what was expected."""

import ast
import inspect
import re

import numpy as np
import pytest

import bioplastic as bp
from bioplastic.cli import main
from bioplastic.config import build_experiment, load_config, validate_config
from bioplastic.training import ensemble_grid


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
     ValueError, "seeds[0] should be an integer in [0, 2**63 - 1] (seeds are stored as int64), got -1"),
    ("float seed", lambda: _train(seeds=1.5),
     TypeError, "seeds should be an integer in [0, 2**63 - 1] or a sequence of them, got 1.5 of type float"),
    ("None seed", lambda: _train(seeds=None),
     TypeError, "seeds should be an integer in [0, 2**63 - 1] or a sequence of them, got None of type NoneType"),
    ("string seed", lambda: _train(seeds="12"),
     TypeError, "seeds should be an integer in [0, 2**63 - 1] or a sequence of them, got '12' of type str"),
    ("seed beyond int64", lambda: _train(seeds=2**70),
     ValueError, f"seeds should be an integer in [0, 2**63 - 1] (seeds are stored as int64), got {2**70}"),
    ("seed 2**63 in a list", lambda: _train(seeds=[0, 2**63]),
     ValueError, f"seeds[1] should be an integer in [0, 2**63 - 1] (seeds are stored as int64), got {2**63}"),
    ("float seed in a list", lambda: _train(seeds=[0, 1.0]),
     TypeError, "seeds[1] should be an integer in [0, 2**63 - 1], got 1.0 of type float"),
    ("bool seed in a list", lambda: _train(seeds=[True]),
     TypeError, "seeds[0] should be an integer in [0, 2**63 - 1], got True of type bool"),
    ("empty seeds", lambda: _train(seeds=[]),
     ValueError, "seeds should hold at least one seed, got an empty sequence"),
    ("2-D seeds", lambda: _train(seeds=np.zeros((2, 2), dtype=int)),
     ValueError, "seeds should be a 1-D sequence of integers, got an array of shape (2, 2)"),
    ("data seed beyond int64", lambda: _train(data_seed=2**64),
     ValueError, f"data_seed should be an integer in [0, 2**63 - 1] (seeds are stored as int64), got {2**64}"),
    ("float data seed", lambda: _train(data_seed=0.5),
     TypeError, "data_seed should be an integer in [0, 2**63 - 1], got 0.5 of type float"),
    ("numeric string learning rate", lambda: _train(learning_rate="0.01"),
     TypeError, "learning_rate should be a number or a 1-D sequence of numbers, got '0.01' of type str"),
    ("string learning rate", lambda: _train(learning_rate="abc"),
     TypeError, "learning_rate should be a number or a 1-D sequence of numbers, got 'abc' of type str"),
    ("string in learning rates", lambda: _train(learning_rate=[0.1, "0.2"]),
     TypeError, "learning_rate[1] should be a real number, got '0.2' of type str"),
    ("numpy bool learning rate", lambda: _train(learning_rate=np.bool_(True)),
     TypeError, "of type numpy.bool"),
    ("bool learning rate", lambda: _train(learning_rate=True),
     TypeError, "learning_rate should be a number or a 1-D sequence of numbers, got True of type bool"),
    ("numpy bools as learning rates", lambda: _train(learning_rate=np.array([True, False])),
     TypeError, "learning_rate[0] should be a real number, got"),
    ("None learning rate", lambda: _train(learning_rate=None),
     TypeError, "learning_rate should be a number or a 1-D sequence of numbers, got None of type NoneType"),
    ("nested learning rates", lambda: _train(learning_rate=[[0.1], [0.2]]),
     TypeError, "learning_rate[0] should be a real number, got [0.1] of type list"),
    ("ragged learning rates", lambda: _train(learning_rate=[0.1, [0.2]]),
     TypeError, "learning_rate[1] should be a real number, got [0.2] of type list"),
    ("2-D learning rate array", lambda: _train(learning_rate=np.full((2, 2), 0.1)),
     ValueError, "learning_rate should be a number or a 1-D sequence of numbers, got an array of shape (2, 2)"),
    ("empty learning rates", lambda: _train(learning_rate=[]),
     ValueError, "learning_rate should be a number or a 1-D sequence of numbers, got an empty sequence"),
    ("infinite learning rate", lambda: _train(learning_rate=float("inf")), ValueError, "learning_rate should be finite, got inf"),
    ("NaN among learning rates", lambda: _train(learning_rate=[0.1, float("nan")]),
     ValueError, "learning_rate[1] should be finite, got nan"),
    ("complex learning rate", lambda: _train(learning_rate=1j),
     TypeError, "learning_rate should be a number or a 1-D sequence of numbers, got 1j of type complex"),
    ("mlp of an int", lambda: bp.models.mlp(5),
     TypeError, "sizes should be a sequence of layer widths, input first, e.g. (784, 300, 10), got 5 of type int"),
    ("mlp of a string", lambda: bp.models.mlp("452"),
     TypeError, "sizes should be a sequence of layer widths, input first, e.g. (784, 300, 10), got '452' of type str"),
    ("mlp of a 2-D array", lambda: bp.models.mlp(np.ones((2, 3), dtype=int)),
     ValueError, "sizes should be a 1-D sequence of layer widths, e.g. (784, 300, 10), got an array of shape (2, 3)"),
    ("mlp of one size", lambda: bp.models.mlp([5]), ValueError, "mlp needs at least 2 sizes (input and output), got [5]"),
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
    ("empty training set", lambda: bp.tasks.DatasetTask(np.ones((0, 2)), np.ones((0, 1)), np.ones((3, 2)), np.ones((3, 1))),
     ValueError, "x_train should hold at least 1 sample, got 0 (shape (0, 2))"),
    ("empty test set", lambda: bp.tasks.DatasetTask(np.ones((3, 2)), np.ones((3, 1)), np.ones((0, 2)), np.ones((0, 1))),
     ValueError, "x_test should hold at least 1 sample, got 0 (shape (0, 2))"),
    ("empty labelled test set", lambda: bp.tasks.DatasetTask(np.ones((3, 2)), np.array([0, 1, 1]), np.ones((0, 2)), np.array([], dtype=int)),
     ValueError, "x_test should hold at least 1 sample, got 0 (shape (0, 2))"),
    ("empty training labels", lambda: bp.tasks.DatasetTask(np.ones((3, 2)), np.array([], dtype=int), np.ones((2, 2)), np.array([0, 1])),
     ValueError, "x_train has 3 samples but y_train has 0"),
    ("no features", lambda: bp.tasks.DatasetTask(np.ones((3, 0)), np.ones((3, 1)), np.ones((2, 0)), np.ones((2, 1))),
     ValueError, "x_train should have at least 1 feature per sample, got shape (3, 0)"),
    ("no outputs", lambda: bp.tasks.DatasetTask(np.ones((3, 2)), np.ones((3, 0)), np.ones((2, 2)), np.ones((2, 0))),
     ValueError, "y_train should have at least 1 output per sample, got shape (3, 0)"),
    ("scalar data", lambda: bp.tasks.DatasetTask(1.0, np.ones((3, 1)), np.ones((2, 2)), np.ones((2, 1))),
     ValueError, "x_train should be an array with one row per sample, got a scalar 1.0"),
    ("test sample count mismatch", lambda: bp.tasks.DatasetTask(np.ones((3, 2)), np.ones((3, 1)), np.ones((2, 2)), np.ones((3, 1))),
     ValueError, "x_test has 2 samples but y_test has 3"),
    ("label count mismatch", lambda: bp.tasks.DatasetTask(np.ones((3, 2)), np.array([0, 1]), np.ones((2, 2)), np.array([0, 1])),
     ValueError, "x_train has 3 samples but y_train has 2"),
    ("labels with float test targets", lambda: bp.tasks.DatasetTask(np.ones((3, 2)), np.array([0, 1, 1]), np.ones((2, 2)), np.ones((2, 2))),
     ValueError, "y_train holds integer class labels, so y_test should too (1-D integers), got shape (2, 2) and dtype float64"),
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
    with pytest.raises(ValueError, match=re.escape("unknown key(s) ['temperature'] in [rule] for rule 'np'; expected some of [")):
        build_experiment(config)


def test_accepted_learning_rates_and_seeds_make_the_grid():
    lrs, seeds = ensemble_grid(np.array([0.1, 1]), range(2))
    np.testing.assert_array_equal(lrs, [0.1, 0.1, 1.0, 1.0])
    np.testing.assert_array_equal(seeds, [0, 1, 0, 1])
    lrs, seeds = ensemble_grid((np.float32(0.5), 2), np.array([3, 2**63 - 1], dtype=np.uint64))
    np.testing.assert_array_equal(lrs, [0.5, 0.5, 2.0, 2.0])
    assert seeds.dtype == np.int64 and seeds.tolist() == [3, 2**63 - 1, 3, 2**63 - 1]
    lrs, seeds = ensemble_grid(np.array(0.25), np.int64(7))
    assert lrs.tolist() == [0.25] and seeds.tolist() == [7]


def _config(**sections):
    config = {"network": {"sizes": [20, 5, 5]}, "task": {"name": "student_teacher"}, "rule": {"name": "np"},
              "training": {"n_epochs": 1, "learning_rate": 0.1}}
    config.update(sections)
    return config


SECTION_CASES = {
    "rule key": (_config(rule={"name": "backprop", "sigma": 1e-3}),
                 "unknown key(s) ['sigma'] in [rule] for rule 'backprop'; expected some of ['batch_reduction', 'module', 'name']"),
    "rule name": (_config(rule={"name": "hebb"}), "configuration: [rule] unknown rule 'hebb'; expected one of "),
    "rule name type": (_config(rule={"name": 3}), "configuration: [rule] name should be a string, got 3"),
    "task key": (_config(task={"name": "student_teacher", "n_sample": 10}),
                 "unknown key(s) ['n_sample'] in [task] for task 'student_teacher'; expected some of ["),
    "task name": (_config(task={"name": "imagenet"}), "configuration: [task] unknown task 'imagenet'; expected one of "),
    "homeostasis key": (_config(homeostasis={"strength": 2.0}),
                        "unknown key(s) ['strength'] in [homeostasis] (SynapticScaling); expected some of ['layers', 'target']"),
    "homeostasis not a table": (_config(homeostasis=3), "configuration: [homeostasis] should be a table, got 3"),
    "output key": (_config(output={"folder": "x"}), "unknown key(s) ['folder'] in [output]; expected some of ['dir']"),
    "output dir type": (_config(output={"dir": 3}), "configuration: [output] dir should be a folder name (a non-empty string), got 3"),
    "output dir empty": (_config(output={"dir": " "}), "[output] dir should be a folder name (a non-empty string), got ' '"),
    "output not a table": (_config(output="results"), "configuration: [output] should be a table, got 'results'"),
    "network key": (_config(network={"sizes": [20, 5, 5], "width": 3}),
                    "unknown key(s) ['width'] in [network]; expected some of ['bias', 'decorrelation', 'hidden', 'hidden_slope', 'init', 'init_scale', "
                    "'noise', 'readout', 'sizes']"),
    "learning rate string": (_config(training={"n_epochs": 1, "learning_rate": "0.01"}),
                             "learning_rate should be a number or a 1-D sequence of numbers, got '0.01' of type str"),
}


@pytest.mark.parametrize("config,match", SECTION_CASES.values(), ids=list(SECTION_CASES))
def test_config_sections_list_the_allowed_keys(config, match):
    with pytest.raises((ValueError, TypeError), match=re.escape(match)):
        network, rule, task, homeostasis, training = build_experiment(config)
        bp.train(network, rule, task, homeostasis=homeostasis, progress=False, **training)


def test_config_task_keys_are_those_of_the_task_class():
    with pytest.raises(ValueError) as info:
        validate_config(_config(task={"name": "student_teacher", "n_sample": 10}))
    accepted = set(inspect.signature(bp.tasks.NonlinearStudentTeacher).parameters) | {"name"}
    listed = re.search(r"expected some of (\[.*\])", str(info.value)).group(1)
    assert set(ast.literal_eval(listed)) == accepted and {"n_train", "seed"} <= accepted


def test_config_keys_follow_the_rule_and_task_tables(monkeypatch):
    class Hebbian:
        def __init__(self, *, rate=1.0, decay=0.0):
            pass

    monkeypatch.setitem(bp.plasticity.RULES, "hebbian_for_config", Hebbian)
    validate_config(_config(rule={"name": "hebbian_for_config", "rate": 2.0, "decay": 0.1}))
    with pytest.raises(ValueError, match=re.escape("unknown key(s) ['sigma'] in [rule] for rule 'hebbian_for_config'; "
                                                   "expected some of ['decay', 'module', 'name', 'rate']")):
        validate_config(_config(rule={"name": "hebbian_for_config", "sigma": 1.0}))
    monkeypatch.setitem(bp.config.TASKS, "arrays", ("bioplastic.tasks.base", "DatasetTask"))
    validate_config(_config(task={"name": "arrays", "eval_train_size": 5}))
    with pytest.raises(ValueError, match=re.escape("unknown key(s) ['n_train'] in [task] for task 'arrays'; expected some of "
                                                   "['eval_train_size', 'n_classes', 'name', 'x_test', 'x_train', 'y_test', 'y_train']")):
        validate_config(_config(task={"name": "arrays", "n_train": 5}))


def test_config_output_dir_is_accepted():
    validate_config(_config(output={"dir": "results"}, homeostasis={}))
    validate_config(_config(output={}))


def _one_line_error(capsys, argv):
    code = main(argv)
    captured = capsys.readouterr()
    assert code == 2
    assert captured.err.count("\n") == 1 and "Traceback" not in captured.err
    return captured.err


def test_cli_config_path_that_is_a_directory(tmp_path, capsys):
    err = _one_line_error(capsys, ["run", str(tmp_path), "--out", str(tmp_path / "out"), "--no-progress"])
    assert err == f"bioplastic run: error: configuration file {tmp_path} is a directory; expected a TOML file\n"


def test_cli_missing_config_file(tmp_path, capsys):
    err = _one_line_error(capsys, ["run", str(tmp_path / "none.toml"), "--no-progress"])
    assert err == f"bioplastic run: error: configuration file {tmp_path / 'none.toml'} does not exist\n"


@pytest.mark.parametrize("command", [["demo", "--quick"], ["run", "CONFIG"], ["figure", "fig1a", "--quick"]])
def test_cli_out_pointing_at_a_file(tmp_path, capsys, command):
    config = tmp_path / "exp.toml"
    config.write_text(GOOD)
    taken = tmp_path / "taken.txt"
    taken.write_text("not a folder")
    argv = [str(config) if a == "CONFIG" else a for a in command] + ["--no-progress"]
    err = _one_line_error(capsys, argv + ["--out", str(taken)])
    assert err == f"bioplastic {command[0]}: error: --out {taken} is an existing file; expected a folder (existing or to be created)\n"
    below = taken / "sub"
    err = _one_line_error(capsys, argv + ["--out", str(below)])
    assert err == (f"bioplastic {command[0]}: error: --out {below} lies below the file {taken}; "
                   "expected a folder (existing or to be created)\n")
    assert taken.read_text() == "not a folder"
