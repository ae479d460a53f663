"""Every task name that configuration files accept runs through ``bioplastic run``.

The real-data tasks read BIOPLASTIC_DATA_DIR (they skip, with the reason, when
it is unset); the idx image task runs on small synthetic files.
"""

import hashlib

import numpy as np
import pytest
from conftest import data_dir_or_skip, write_idx_image_set

import bioplastic as bp
from bioplastic.cli import main
from bioplastic.config import TASKS, get_task

TRAINING = """
[rule]
name = "{rule}"

[training]
n_epochs = {n_epochs}
learning_rate = {learning_rate}
seeds = [0, 1]
batch_size = {batch_size}
"""


def _toml(sizes, task, *, readout="linear", rule="node_perturbation", n_epochs=1, learning_rate=1e-3, batch_size=20):
    lines = ["[network]", f"sizes = {list(sizes)}", 'hidden = "relu"', f'readout = "{readout}"', "", "[task]"]
    lines += [f"{key} = {value}" for key, value in task.items()]
    return "\n".join(lines) + "\n" + TRAINING.format(rule=rule, n_epochs=n_epochs, learning_rate=learning_rate,
                                                      batch_size=batch_size)


def _student_teacher(tmp_path):
    task = {"name": '"student_teacher"', "n_inputs": 8, "n_hidden": 6, "n_outputs": 3, "n_train": 200, "n_test": 50}
    expected = {"name": "nonlinear_student_teacher", "n_inputs": 8, "n_outputs": 3, "n_train": 200, "n_test": 50}
    return _toml((8, 10, 3), task), expected


def _sarcos(tmp_path):
    data_dir = data_dir_or_skip()
    task = {"name": '"sarcos"', "data_dir": f"'{data_dir}'", "split": '"test_file_only"', "n_train": 500,
            "standardize": '"inputs"'}
    expected = {"name": "sarcos", "n_inputs": 21, "n_outputs": 7, "n_train": 500, "n_test": 890, "split": "test_file_only",
                "standardize": "inputs"}
    return _toml((21, 20, 7), task, rule="backprop", learning_rate=1e-3, batch_size=100), expected


def _mnist(tmp_path):
    data_dir = data_dir_or_skip()
    task = {"name": '"mnist"', "data_dir": f"'{data_dir}'", "n_train": 500, "n_test": 200}
    expected = {"name": "mnist", "n_inputs": 784, "n_outputs": 10, "n_train": 500, "n_test": 200, "classification": True}
    return _toml((784, 20, 10), task, readout="softmax", rule="backprop", learning_rate=0.03, batch_size=100), expected


def _idx_images(tmp_path):
    _, _, paths = write_idx_image_set(tmp_path / "set", n_train=40, n_test=10)
    hashes = ", ".join(f'{key} = "md5:{hashlib.md5(path.read_bytes()).hexdigest()}"' for key, path in paths.items())
    task = {"name": '"idx_images"', "data_dir": f"'{tmp_path / 'set'}'", "known_hashes": "{" + hashes + "}",
            "n_train": 30}
    expected = {"name": "idx_images", "n_inputs": 15, "n_outputs": 4, "n_train": 30, "n_test": 10, "verified": True,
                "files": {key: str(path) for key, path in paths.items()}, "image_shape": [3, 5]}
    return _toml((15, 8, 4), task, readout="softmax", batch_size=10, n_epochs=2), expected


def _cifar10(tmp_path):
    data_dir = data_dir_or_skip()
    task = {"name": '"cifar10"', "data_dir": f"'{data_dir}'", "n_train": 500, "n_test": 200, "augment": "true"}
    expected = {"name": "cifar10", "n_inputs": 3072, "n_outputs": 10, "n_train": 500, "n_test": 200, "classification": True,
                "augment": True, "provenance": "lossy_subset"}
    return _toml((3072, 20, 10), task, readout="softmax", rule="backprop", learning_rate=0.01, batch_size=100), expected


#: task name -> function(tmp_path) giving (configuration text, expected entries of the recorded task description)
CONFIGS = {"student_teacher": _student_teacher, "sarcos": _sarcos, "mnist": _mnist, "idx_images": _idx_images,
           "cifar10": _cifar10}


def test_every_task_name_has_a_test_configuration():
    assert sorted(CONFIGS) == sorted(TASKS)


@pytest.mark.parametrize("name", sorted(TASKS))
def test_task_runs_from_a_configuration_file(name, tmp_path, capsys):
    if name not in CONFIGS:
        pytest.fail(f"task {name!r} of bioplastic.config.TASKS has no test configuration in CONFIGS")
    text, expected = CONFIGS[name](tmp_path)
    config = tmp_path / f"{name}.toml"
    config.write_text(text)
    assert main(["run", str(config), "--out", str(tmp_path / "out"), "--no-progress"]) == 0, capsys.readouterr().err
    history = bp.History.load(tmp_path / "out" / name)
    n_epochs = 2 if name == "idx_images" else 1
    assert history.n_members == 2 and history.epochs[-1] == n_epochs
    recorded = history.config["task"]
    assert {key: recorded[key] for key in expected} == expected
    errors = history.records["test_error"]
    assert np.isfinite(errors).all()
    assert (tmp_path / "out" / f"{name}.png").stat().st_size > 0
    assert "test_error" in capsys.readouterr().out


def test_unknown_task_parameter_names_the_accepted_ones(tmp_path, capsys):
    config = tmp_path / "bad.toml"
    config.write_text(_toml((784, 20, 10), {"name": '"mnist"', "n_images": 10}))
    assert main(["run", str(config), "--out", str(tmp_path), "--no-progress"]) == 2
    assert "'n_images'" in capsys.readouterr().err
    with pytest.raises(ValueError) as info:
        get_task("mnist", n_images=10)  # refused before anything is loaded
    assert str(info.value) == ("bad parameters for task 'mnist': got an unexpected keyword argument 'n_images'; "
                               "it takes ['data_dir', 'download', 'n_train', 'n_test', 'eval_train_size']")
    with pytest.raises(ValueError, match="unknown task 'fashion'; expected one of 'student_teacher', 'sarcos', 'mnist', "
                                         "'idx_images'"):
        get_task("fashion")


def test_output_dir_of_the_configuration_is_used_unless_out_is_given(tmp_path, monkeypatch):
    from bioplastic.config import load_config

    monkeypatch.chdir(tmp_path)
    config = tmp_path / "exp.toml"
    config.write_text("""
[network]
sizes = [4, 3, 2]
[task]
name = "student_teacher"
n_inputs = 4
n_outputs = 2
n_train = 40
n_test = 20
[rule]
name = "backprop"
[training]
n_epochs = 1
learning_rate = 0.01
batch_size = 10
[output]
dir = "from_config"
""")
    assert main(["run", str(config), "--no-progress"]) == 0
    assert (tmp_path / "from_config" / "exp.npz").exists() and (tmp_path / "from_config" / "exp.png").exists()
    assert main(["run", str(config), "--no-progress", "--out", "explicit"]) == 0
    assert (tmp_path / "explicit" / "exp.npz").exists()
    with pytest.raises(ValueError, match="is a directory; expected a TOML file"):
        load_config(tmp_path)
