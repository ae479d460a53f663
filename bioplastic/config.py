"""Experiment configuration files (TOML): parse, validate, build and run.

A configuration has the sections ``[network]``, ``[task]``, ``[rule]``,
``[training]`` and optionally ``[homeostasis]``::

    [network]
    sizes = [20, 50, 5]       # input, hidden..., output
    hidden = "tanh"
    readout = "linear"
    noise = "gaussian"

    [task]
    name = "student_teacher"  # or "sarcos", "mnist"
    n_train = 2000

    [rule]
    name = "node_perturbation"
    sigma = 1e-3

    [training]
    n_epochs = 50
    learning_rate = [0.01, 0.03]
    seeds = [0, 1, 2]
    batch_size = 20

Every key is checked; unknown sections or keys and bad values raise
``ValueError`` naming them.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from .homeostasis import SynapticScaling
from .models import mlp
from .plasticity import get_rule

__all__ = ["TASKS", "build_experiment", "get_task", "load_config", "run_config"]

_SECTIONS = {"network", "task", "rule", "training", "homeostasis", "output"}
_NETWORK_KEYS = {"sizes", "hidden", "readout", "noise", "init_scale", "bias"}
_TRAINING_KEYS = {
    "n_epochs", "learning_rate", "seeds", "batch_size", "data_seed", "loss", "dtype",
    "divergence_factor", "checkpoint_every", "eval_batch_size",
}


def _student_teacher(**params):
    from .tasks import NonlinearStudentTeacher

    return NonlinearStudentTeacher(**params)


#: task name -> (module, factory) resolved lazily (real data sets load only when used)
TASKS = {
    "student_teacher": _student_teacher,
    "sarcos": ("bioplastic.tasks.sarcos", "sarcos_task"),
    "mnist": ("bioplastic.tasks.mnist", "mnist_task"),
}


def get_task(name, **params):
    """Build a task from its name and parameters (see :data:`TASKS`)."""
    import importlib

    from ._validation import check_choice

    if not isinstance(name, str):
        raise TypeError(f"task name should be a string, got {name!r}")
    key = check_choice(name, "task", tuple(TASKS))
    factory = TASKS[key]
    if isinstance(factory, tuple):
        factory = getattr(importlib.import_module(factory[0]), factory[1])
    try:
        return factory(**params)
    except TypeError as error:
        raise ValueError(f"bad parameters for task {name!r}: {error}") from None


def load_config(path):
    """Read and validate a TOML configuration; returns a dict of sections."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"configuration file {path} does not exist")
    try:
        config = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as error:
        raise ValueError(f"configuration file {path} is not valid TOML: {error}") from None
    validate_config(config, source=str(path))
    return config


def validate_config(config, *, source="configuration"):
    """Check sections and keys of a configuration dict; raises ValueError naming what is wrong."""
    if not isinstance(config, dict):
        raise TypeError(f"{source} should be a mapping of sections, got {type(config).__name__}")
    unknown = set(config) - _SECTIONS
    if unknown:
        raise ValueError(f"{source}: unknown section(s) {sorted(unknown)}; expected some of {sorted(_SECTIONS)}")
    for section in ("network", "task", "rule", "training"):
        if section not in config:
            raise ValueError(f"{source}: missing section [{section}]")
        if not isinstance(config[section], dict):
            raise ValueError(f"{source}: [{section}] should be a table, got {config[section]!r}")
    for section, allowed in (("network", _NETWORK_KEYS), ("training", _TRAINING_KEYS)):
        extra = set(config[section]) - allowed
        if extra:
            raise ValueError(f"{source}: unknown key(s) {sorted(extra)} in [{section}]; expected some of {sorted(allowed)}")
    if "sizes" not in config["network"]:
        raise ValueError(f"{source}: [network] needs 'sizes', e.g. sizes = [20, 50, 5]")
    for section in ("task", "rule"):
        if "name" not in config[section]:
            raise ValueError(f"{source}: [{section}] needs a 'name'")
    for key in ("n_epochs", "learning_rate"):
        if key not in config["training"]:
            raise ValueError(f"{source}: [training] needs {key!r}")


def build_experiment(config):
    """Build ``(network, rule, task, homeostasis, training_kwargs)`` from a validated configuration."""
    validate_config(config)
    net_cfg = dict(config["network"])
    sizes = net_cfg.pop("sizes")
    if not isinstance(sizes, list):
        raise ValueError(f"[network] sizes should be a list of layer widths, got {sizes!r}")
    network = mlp(sizes, **net_cfg)
    rule_cfg = dict(config["rule"])
    try:
        rule = get_rule(rule_cfg.pop("name"), **rule_cfg)
    except TypeError as error:
        raise ValueError(f"bad parameters in [rule]: {error}") from None
    task_cfg = dict(config["task"])
    task = get_task(task_cfg.pop("name"), **task_cfg)
    homeostasis = None
    if "homeostasis" in config:
        try:
            homeostasis = SynapticScaling(**config["homeostasis"])
        except TypeError as error:
            raise ValueError(f"bad parameters in [homeostasis]: {error}") from None
    return network, rule, task, homeostasis, dict(config["training"])


def run_config(path, *, out_dir="results", progress=True):
    """Run the experiment of a configuration file; saves the History and a PNG in ``out_dir``.

    Returns ``(history, paths)``.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    from .plotting import save_figure
    from .training import train

    config = load_config(path)
    network, rule, task, homeostasis, training = build_experiment(config)
    name = Path(path).stem
    out_dir = Path(out_dir)
    history = train(network, rule, task, homeostasis=homeostasis, progress=progress,
                    checkpoint=out_dir / f"{name}.checkpoint", **training)
    npz, js = history.save(out_dir / name)
    fig, ax = plt.subplots(figsize=(5, 3.5))
    history.plot("test_error", ax=ax)
    ax.set_title(f"{name}: {rule.name} on {task.name}")
    png = save_figure(fig, out_dir / f"{name}.png")
    plt.close(fig)
    return history, [npz, js, png]
