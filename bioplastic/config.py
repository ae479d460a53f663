"""Experiment configuration files (TOML): parse, validate, build and run.

A configuration has the sections ``[network]``, ``[task]``, ``[rule]``,
``[training]`` and optionally ``[homeostasis]``, ``[observables]`` and
``[output]``::

    [network]
    sizes = [20, 50, 5]       # input, hidden..., output
    hidden = "tanh"
    readout = "linear"
    noise = "gaussian"

    [task]
    name = "student_teacher"  # or "sarcos", "mnist", "idx_images", "cifar10" (see TASKS)
    n_train = 2000

    [rule]
    name = "node_perturbation"
    sigma = 1e-3

    [training]
    n_epochs = 50
    learning_rate = [0.01, 0.03]
    seeds = [0, 1, 2]
    batch_size = 20

    [homeostasis]             # synaptic scaling; an empty table scales every layer
    layers = "all"

    [observables]             # record weight, rate and activity-change statistics
    n_probe = 100             # probe: the first 100 stimuli of the task's test set

    [output]
    dir = "results"           # folder for the results files and the plot

* ``[network]``: the parameters of :func:`~bioplastic.models.mlp`.
* ``[task]``: ``name`` (a key of :data:`TASKS`) and the parameters of that
  task's class.
* ``[rule]``: ``name`` (a registered rule, :data:`~bioplastic.plasticity.RULES`)
  and the parameters of that rule's class; optionally ``module``, a module
  name or a ``.py`` file (relative to the configuration file) that defines
  the rule, imported first so that a user's own rule registers.
* ``[training]``: the keyword arguments of :func:`~bioplastic.train`
  listed in ``_TRAINING_KEYS`` (``n_epochs`` and ``learning_rate`` required;
  ``optimiser`` a name such as ``"adam"`` or a table ``{name = "momentum",
  momentum = 0.9}``; ``update_noise`` a table ``{variance = 1e-4, on =
  "rule_state"}``, see :class:`~bioplastic.NoisyUpdates`).
* ``[homeostasis]``: the parameters of
  :class:`~bioplastic.homeostasis.SynapticScaling` (``layers``, ``target``).
* ``[observables]``: :class:`~bioplastic.training.Observables` recorders
  (Nayebi et al. 2020) added to the run's callbacks. ``n_probe`` (default
  100): the probe set is the first ``n_probe`` stimuli of the task's test
  set; ``statistics`` (``"default"``, ``"all"`` or a list of observable
  names) and ``seed`` (default 0), shared by every recorder; the
  measurement condition, either one (``keep_fraction``,
  ``measurement_noise``, optionally ``label``: one recorder, unlabelled
  unless a label is given) or several, ``conditions = [{keep_fraction =
  1.0}, {keep_fraction = 0.1, measurement_noise = 0.1}]``: one recorder
  each, recorded in the same run, labelled by the condition's ``label`` or
  by :func:`condition_label` (``"full"``, ``"keep0.1-noise0.1"``); read them
  with ``observables_table(history, label=...)``.
* ``[output]``: ``dir``, the folder the results are written to (a string).

Every key is checked: the keys allowed in ``[task]``, ``[rule]`` and
``[homeostasis]`` are read from the signatures of the named classes, so they
follow the rules and tasks as they change. Unknown sections or keys and bad
values raise ``ValueError`` naming them and listing what is allowed.
"""

from __future__ import annotations

import importlib
import inspect
import json
import math
import tomllib
from pathlib import Path

from .homeostasis import SynapticScaling
from .models import mlp
from .plasticity import RULES, get_rule

__all__ = ["TASKS", "build_experiment", "build_observables", "condition_label", "dump_config", "get_task", "import_rule_module", "load_config",
           "run_config"]

_SECTIONS = {"network", "task", "rule", "training", "homeostasis", "observables", "output"}
_REQUIRED_SECTIONS = ("network", "task", "rule", "training")
_NETWORK_KEYS = set(inspect.signature(mlp).parameters)  # the parameters of models.mlp
_OUTPUT_KEYS = {"dir"}
_CONDITION_KEYS = {"keep_fraction", "measurement_noise", "label"}
_OBSERVABLES_KEYS = {"n_probe", "statistics", "seed", "conditions"} | _CONDITION_KEYS
#: probe stimuli of an [observables] section without n_probe (the authors' 100 test images)
_DEFAULT_N_PROBE = 100
_TRAINING_KEYS = {
    "n_epochs", "learning_rate", "seeds", "batch_size", "data_seed", "loss", "dtype",
    "divergence_factor", "checkpoint_every", "eval_batch_size", "n_threads", "optimiser",
    "update_noise",
}


#: task name in configuration files -> (module, task class), imported only when
#: the task is built (real data sets load only when used).  The keys of
#: ``[task]`` other than ``name`` are the class's parameters, e.g. ``data_dir``,
#: ``n_train`` and ``n_test`` for ``"mnist"``.
TASKS = {
    "student_teacher": ("bioplastic.tasks.student_teacher", "NonlinearStudentTeacher"),
    "sarcos": ("bioplastic.tasks.sarcos", "SarcosTask"),
    "mnist": ("bioplastic.tasks.mnist", "MnistTask"),
    "idx_images": ("bioplastic.tasks.idx_images", "IdxImageTask"),
    "cifar10": ("bioplastic.tasks.cifar10", "Cifar10Task"),
}


def get_task(name, **params):
    """Build a task from its configuration-file name and parameters.

    Parameters
    ----------
    name : str
        A key of :data:`TASKS` (case-insensitive).
    **params
        Parameters of the task class.

    Returns
    -------
    Task

    Raises
    ------
    ValueError
        For an unknown name, or a parameter the task class does not take
        (the message lists those it takes).
    TypeError
        If ``name`` is not a string.
    """
    from ._validation import check_choice

    if not isinstance(name, str):
        raise TypeError(f"task name should be a string, got {name!r}")
    key = check_choice(name, "task", tuple(TASKS))
    factory = _task_factory(key)
    signature = inspect.signature(factory)
    try:
        signature.bind(**params)
    except TypeError as error:
        accepted = [p.name for p in signature.parameters.values()
                    if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
        raise ValueError(f"bad parameters for task {key!r}: {error}; it takes {accepted}") from None
    return factory(**params)


def _toml_value(value, where):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if isinstance(value, float) and not math.isfinite(value):
            return {math.inf: "inf", -math.inf: "-inf"}.get(value, "nan")
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a TOML basic string
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v, where) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_toml_value(v, where)}" for k, v in value.items() if v is not None) + "}"
    raise TypeError(f"{where}: cannot write {value!r} of type {type(value).__name__} to a configuration file")


def dump_config(config):
    """A configuration (a dict of sections, e.g. with ``[rule]`` from ``rule.describe()``) as TOML text.

    The inverse of :func:`load_config`'s parsing: ``tomllib.loads(dump_config(c)) == c``
    for sections of numbers, strings, booleans, lists and nested tables
    (``None`` values are left out, meaning "the default").
    """
    lines = []
    for section, table in config.items():
        if not isinstance(table, dict):
            raise TypeError(f"section [{section}] should be a table (dict), got {table!r}")
        lines.append(f"[{section}]")
        lines += [f"{key} = {_toml_value(value, f'[{section}] {key}')}" for key, value in table.items() if value is not None]
        lines.append("")
    return "\n".join(lines)


def load_config(path):
    """Read and validate a TOML configuration; returns a dict of sections."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"configuration file {path} does not exist")
    if path.is_dir():
        raise ValueError(f"configuration file {path} is a directory; expected a TOML file")
    try:
        config = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as error:
        raise ValueError(f"configuration file {path} is not valid TOML: {error}") from None
    validate_config(config, source=str(path), base_dir=path.parent)
    return config


def _parameter_names(factory):
    """Names of the keyword parameters ``factory`` (a class or function) takes; ``None`` if it takes ``**kwargs``."""
    parameters = inspect.signature(factory).parameters.values()
    if any(p.kind is p.VAR_KEYWORD for p in parameters):
        return None
    return {p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}


def _task_factory(key):
    """The task class (or factory) of a :data:`TASKS` key, imported as :func:`get_task` does."""
    entry = TASKS[key]
    if isinstance(entry, tuple):
        module, attribute = entry
        return getattr(importlib.import_module(module), attribute)
    return entry


def _named_factory(section, table, source):
    """The rule class or task factory named by ``table["name"]`` in ``[section]``, and its registered name."""
    from ._validation import check_choice

    name = table["name"]
    if not isinstance(name, str):
        raise ValueError(f"{source}: [{section}] name should be a string, got {name!r}")
    registry = RULES if section == "rule" else TASKS
    try:
        key = check_choice(name, section, tuple(registry))
    except ValueError as error:
        raise ValueError(f"{source}: [{section}] {error}") from None
    return (registry[key] if section == "rule" else _task_factory(key)), key


def import_rule_module(module, *, base_dir=None):
    """Import a module that defines plasticity rules, so that they register (``[rule] module = ...``).

    Parameters
    ----------
    module : str
        A module name on the Python path (``"my_rules"``, ``"lab.rules"``) or
        the path of a ``.py`` file, relative to ``base_dir``.
    base_dir : path, optional
        Folder that relative file paths start from (a configuration file's
        folder; default: the working directory).

    Returns
    -------
    module
    """
    import importlib.util
    import sys

    if not isinstance(module, str) or not module.strip():
        raise ValueError(f"[rule] module should name a Python module or a .py file, got {module!r}")
    if module.endswith(".py"):
        path = Path(module).expanduser()
        if not path.is_absolute():
            path = Path(base_dir or ".") / path
        path = path.resolve()
        if not path.is_file():
            raise ValueError(f"[rule] module {module!r}: the file {path} does not exist")
        name = f"bioplastic_user_rules_{path.stem}"
        spec = importlib.util.spec_from_file_location(name, path)
        loaded = importlib.util.module_from_spec(spec)
        sys.modules[name] = loaded
        spec.loader.exec_module(loaded)
        return loaded
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as error:
        raise ValueError(f"[rule] module {module!r} cannot be imported ({error}); give a module on the Python path or a .py file") from None


def _check_keys(section, table, allowed, source, *, what=""):
    extra = set(table) - allowed
    if extra:
        raise ValueError(f"{source}: unknown key(s) {sorted(extra)} in [{section}]{what}; expected some of {sorted(allowed)}")


def condition_label(keep_fraction=1.0, measurement_noise=0.0):
    """The label of a measurement condition: ``"full"`` for every unit without noise, else ``"keep<f>-noise<s>"``.

    Numbers in their shortest form (``"%g"``): ``condition_label(0.1, 0.1)``
    is ``"keep0.1-noise0.1"``, ``condition_label(1.0, 0.05)`` is
    ``"keep1-noise0.05"``.
    """
    if keep_fraction == 1 and measurement_noise == 0:
        return "full"
    return f"keep{float(keep_fraction):g}-noise{float(measurement_noise):g}"


def _observables_conditions(table, source):
    """The ``[observables]`` section's recorders as ``[(keep_fraction, measurement_noise, label), ...]``, checked."""
    from ._validation import check_seed
    from .training.observables import Observables, _resolve_observables

    where = f"{source}: [observables]"
    _check_keys("observables", table, _OBSERVABLES_KEYS, source)
    n_probe = table.get("n_probe", _DEFAULT_N_PROBE)
    if isinstance(n_probe, bool) or not isinstance(n_probe, int) or n_probe < 1:
        raise ValueError(f"{where} n_probe should be an integer >= 1 (the number of test stimuli in the probe set), got {n_probe!r}")
    statistics = table.get("statistics", "default")
    try:
        _resolve_observables(statistics)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{where} statistics: {error}") from None
    try:
        seed = check_seed(table.get("seed", 0), "seed")
    except (TypeError, ValueError) as error:
        raise ValueError(f"{where} {error}") from None
    if "conditions" in table:
        given = sorted(_CONDITION_KEYS & set(table))
        if given:
            raise ValueError(f"{where} gives both 'conditions' and {given}; give the measurement conditions either as "
                             "conditions = [{keep_fraction = ..., measurement_noise = ...}, ...] or as one condition's keys")
        conditions = table["conditions"]
        if not isinstance(conditions, list) or not conditions:
            raise ValueError(f"{where} conditions should be a non-empty list of tables such as "
                             f"{{keep_fraction = 0.1, measurement_noise = 0.1}}, got {conditions!r}")
        entries = []
        for i, condition in enumerate(conditions):
            if not isinstance(condition, dict):
                raise ValueError(f"{where} conditions[{i}] should be a table of {sorted(_CONDITION_KEYS)}, got {condition!r}")
            _check_keys("observables", condition, _CONDITION_KEYS, source, what=f" conditions[{i}]")
            entries.append((f"conditions[{i}] ", condition))
        labelled = True  # several conditions: each labelled, by default after its values
    else:
        entries, labelled = [("", table)], False  # one condition: unlabelled unless it gives a label
    out = []
    for prefix, condition in entries:
        keep_fraction, noise = condition.get("keep_fraction", 1.0), condition.get("measurement_noise", 0.0)
        label = condition.get("label")
        if label is None and labelled and _is_number(keep_fraction) and _is_number(noise):
            label = condition_label(keep_fraction, noise)
        try:  # the recorder's own checks, on a stand-in probe set
            Observables([[0.0]], statistics=statistics, keep_fraction=keep_fraction, measurement_noise=noise, seed=seed, label=label)
        except (TypeError, ValueError) as error:
            raise ValueError(f"{where} {prefix}{error}") from None
        out.append((keep_fraction, noise, label))
    labels = [label for _, _, label in out]
    repeated = sorted({label for label in labels if labels.count(label) > 1})
    if repeated:
        raise ValueError(f"{where} conditions repeat the label {repeated[0]!r}; give each condition once, or a label of its own")
    return out


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def build_observables(table, task):
    """The :class:`~bioplastic.training.Observables` recorders of an ``[observables]`` section, on ``task``'s test stimuli.

    Parameters
    ----------
    table : dict
        The section (see the module documentation).
    task : Task
        Its probe set is the first ``n_probe`` stimuli of the task's test
        set (``task.evaluation_sets()["test"]``).

    Returns
    -------
    list of Observables
        One per measurement condition.

    Raises
    ------
    ValueError
        For a bad key or value (the message names it), or ``n_probe``
        above the size of the task's test set.
    """
    from .training.observables import Observables

    conditions = _observables_conditions(table, "configuration")
    n_probe = table.get("n_probe", _DEFAULT_N_PROBE)
    test_x = task.evaluation_sets()["test"][0]
    if n_probe > len(test_x):
        raise ValueError(f"[observables] n_probe = {n_probe} exceeds the {len(test_x)} stimuli of the test set of task {task.name!r}; "
                         f"give n_probe <= {len(test_x)}")
    probe = test_x[:n_probe]
    return [Observables(probe, statistics=table.get("statistics", "default"), keep_fraction=keep_fraction, measurement_noise=noise,
                        seed=table.get("seed", 0), label=label) for keep_fraction, noise, label in conditions]


def validate_config(config, *, source="configuration", base_dir=None):
    """Check the sections and keys of a configuration dict.

    The keys allowed in ``[rule]``, ``[task]`` and ``[homeostasis]`` are the
    parameters of the named rule class (:data:`~bioplastic.plasticity.RULES`),
    of the named task's class (:data:`TASKS`) and of
    :class:`~bioplastic.homeostasis.SynapticScaling`, read from their
    signatures (plus ``name``); ``[network]`` takes the parameters of
    :func:`~bioplastic.models.mlp`; ``[output]`` takes ``dir``.

    Raises
    ------
    TypeError
        If ``config`` is not a dict.
    ValueError
        For an unknown or missing section, an unknown or missing key, an
        unknown rule or task name; the message names it and lists what is
        allowed.
    """
    if not isinstance(config, dict):
        raise TypeError(f"{source} should be a mapping of sections, got {type(config).__name__}")
    unknown = set(config) - _SECTIONS
    if unknown:
        raise ValueError(f"{source}: unknown section(s) {sorted(unknown)}; expected some of {sorted(_SECTIONS)}")
    for section in _REQUIRED_SECTIONS:
        if section not in config:
            raise ValueError(f"{source}: missing section [{section}]")
    for section in sorted(_SECTIONS):
        if section in config and not isinstance(config[section], dict):
            raise ValueError(f"{source}: [{section}] should be a table, got {config[section]!r}")
    _check_keys("network", config["network"], _NETWORK_KEYS, source)
    _check_keys("training", config["training"], _TRAINING_KEYS, source)
    if "sizes" not in config["network"]:
        raise ValueError(f"{source}: [network] needs 'sizes', e.g. sizes = [20, 50, 5]")
    if "module" in config["rule"]:
        import_rule_module(config["rule"]["module"], base_dir=base_dir)
    for section in ("rule", "task"):
        table = config[section]
        if "name" not in table:
            raise ValueError(f"{source}: [{section}] needs a 'name'")
        factory, key = _named_factory(section, table, source)
        allowed = _parameter_names(factory)
        if allowed is not None:
            extra = {"name", "module"} if section == "rule" else {"name"}
            _check_keys(section, table, allowed | extra, source, what=f" for {section} {key!r}")
    if "homeostasis" in config:
        _check_keys("homeostasis", config["homeostasis"], _parameter_names(SynapticScaling), source, what=" (SynapticScaling)")
    if "observables" in config:
        _observables_conditions(config["observables"], source)
    if "output" in config:
        _check_keys("output", config["output"], _OUTPUT_KEYS, source)
        folder = config["output"].get("dir")
        if folder is not None and (not isinstance(folder, str) or not folder.strip()):
            raise ValueError(f"{source}: [output] dir should be a folder name (a non-empty string), got {folder!r}")
    for key in ("n_epochs", "learning_rate"):
        if key not in config["training"]:
            raise ValueError(f"{source}: [training] needs {key!r}")


def build_experiment(config, *, base_dir=None):
    """Build ``(network, rule, task, homeostasis, training_kwargs)`` from a validated configuration.

    ``base_dir`` is the folder relative ``[rule] module`` files start from.
    An ``[observables]`` section puts its recorders (:func:`build_observables`)
    in ``training_kwargs["callbacks"]``.
    """
    validate_config(config, base_dir=base_dir)
    net_cfg = dict(config["network"])
    sizes = net_cfg.pop("sizes")
    if not isinstance(sizes, list):
        raise ValueError(f"[network] sizes should be a list of layer widths, got {sizes!r}")
    network = mlp(sizes, **net_cfg)
    rule_cfg = dict(config["rule"])
    rule_cfg.pop("module", None)  # imported by validate_config
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
    training = dict(config["training"])
    if "observables" in config:
        training["callbacks"] = build_observables(config["observables"], task)
    return network, rule, task, homeostasis, training


def run_config(path, *, out_dir=None, progress=True, force=False):
    """Run the experiment of a configuration file; saves the History and a PNG in ``out_dir``.

    For ``CONFIG.toml`` the files are ``out_dir/CONFIG.npz`` + ``CONFIG.json``
    (the :class:`~bioplastic.History`, whose ``config["experiment"]`` holds the
    configuration file's content), ``CONFIG.png`` and the checkpoint
    ``CONFIG.checkpoint.npz`` + ``CONFIG.checkpoint.json``. A killed run
    resumes from its checkpoint. A finished run with the same configuration
    is not recomputed: its stored result is loaded (and its PNG drawn if
    missing) and ``history.reused_`` is True. After a change of the number
    of epochs the run continues from its checkpoint.

    Parameters
    ----------
    path : path
        The TOML configuration file.
    out_dir : path, optional
        Folder of the results (relative to the working directory); by
        default the configuration's ``[output] dir``, else ``"results"``.
    progress : bool, default True
        Show a progress bar.
    force : bool, default False
        Recompute from scratch: the checkpoint is removed and the stored
        result is replaced.

    Returns
    -------
    history : History
        With ``reused_`` True if it was loaded from a finished run.
    paths : list of Path
        The ``.npz``, ``.json`` and ``.png`` files of the result.
    """
    import json

    from .io import pair_exists, pair_paths, remove_pair, to_jsonable
    from .training import History, _CheckpointMismatchError, train

    config = load_config(path)
    network, rule, task, homeostasis, training = build_experiment(config, base_dir=Path(path).parent)
    name = Path(path).stem
    if out_dir is None:
        out_dir = config.get("output", {}).get("dir", "results")
    out_dir = Path(out_dir)
    result, checkpoint, png = out_dir / name, out_dir / f"{name}.checkpoint", out_dir / f"{name}.png"
    experiment = json.loads(json.dumps(to_jsonable(config), default=str))
    title = f"{name}: {rule.name} on {task.name}"
    if force:
        remove_pair(checkpoint)
    elif pair_exists(result):
        try:
            stored = History.load(result)
        except (ValueError, FileNotFoundError) as error:
            raise ValueError(f"{error}; force=True (bioplastic run --force) recomputes the run and replaces it") from None
        if stored.config.get("experiment") == experiment:
            stored.reused_ = True
            if not png.exists():
                _plot_result(stored, png, title)
            return stored, [*pair_paths(result), png]
    try:
        history = train(network, rule, task, homeostasis=homeostasis, progress=progress, checkpoint=checkpoint, **training)
    except _CheckpointMismatchError as error:
        raise ValueError(f"{error}, or rerun with force=True (bioplastic run --force)") from None
    history.config = {**history.config, "experiment": experiment}
    history.reused_ = False
    npz, js = history.save(result)
    _plot_result(history, png, title)
    return history, [npz, js, png]


def _plot_result(history, png, title):
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    from .plotting import save_figure

    fig, ax = plt.subplots(figsize=(5, 3.5))
    history.plot("test_error", ax=ax)
    ax.set_title(title)
    save_figure(fig, png)
    plt.close(fig)
