"""Data sets for identifying learning rules from observables (Nayebi, Srivastava, Ganguli & Yamins 2020).

The study trains many networks with several learning rules, records at a
series of time points statistics of their weights, rates and layer-wise
activity changes (:mod:`bioplastic.training.observables`), and asks which
rule trained a network from those statistics alone. This module makes the
data sets: a design (:class:`IdentificationDesign`) of rule classes x
architectures x batch sizes x learning rates x seeds, run through the
sweeps (:mod:`bioplastic.sweeps`: ``workers=`` or ``scheduler=`` distribute
it, a rerun skips what is stored), and one tidy table of all observables
(:func:`generate_dataset`).

Rule classes (:data:`RULE_CLASSES`), each a configuration fragment (its
``[rule]``, the optimiser in ``[training]``, and ``[network]`` keys where the
class changes the network):

* ``"sgd"``: backprop, SGD with momentum 0.9;
* ``"adam"``: backprop, Adam;
* ``"feedback_alignment"``: :class:`~bioplastic.FeedbackAlignment`, momentum 0.9;
* ``"information_alignment"``: :class:`~bioplastic.InformationAlignment`
  (Kunin et al. 2020), momentum 0.9;
* ``"node_perturbation"``: :class:`~bioplastic.NodePerturbation`
  (``sigma = 1e-3``), plain SGD;
* ``"danp"``: :class:`~bioplastic.ActivityNodePerturbation` (``sigma =
  1e-3``) in a network with a :class:`~bioplastic.LateralDecorrelation` in
  front of every projection (``eta = 1e-3``), Adam, as Dalm et al. (2024);
* ``"reinforce"``: :class:`~bioplastic.Reinforce` (``sigma = 1e-3``), plain SGD;
* ``"weight_perturbation"``: :class:`~bioplastic.WeightPerturbation`
  (``sigma = 1e-3``), plain SGD.

Tasks: members that share a rule class, an architecture and a batch size
are one ensemble (learning rates x seeds), trained in one vectorised
computation; the sweeps cut ensembles larger than ``max_members`` into
tasks. One *run* is one trained network, one ensemble member.

Time points: the networks are measured before training and after every
epoch (the :class:`~bioplastic.training.Observables` records). ``K =
n_time_points`` (default 21, the authors' count) points over ``n_epochs =
K - 1`` epochs keep every record; to spread ``K`` points over a longer run,
give ``n_epochs = m (K - 1)``: the data set keeps the records at the epochs
``0, m, 2m, ...`` (``epoch`` holds the epoch, ``time_point`` counts ``0`` to
``K - 1``).

Measurement conditions: every run is recorded under each condition of the
design (``keep_fraction``, ``measurement_noise``) in the same training run
(one labelled recorder per condition, see the ``[observables]`` section of
:mod:`bioplastic.config`), so robustness to subsampling and noise needs no
retraining; each run appears once per condition in the data set.

The data set (:func:`generate_dataset`, :func:`load_dataset`) is the
concatenation of :func:`~bioplastic.training.observables_table` over runs
and conditions, with the columns ``run`` (``"<task hash[:12]>:<member>"``,
unique per trained network), ``rule_class``, ``architecture``,
``keep_fraction``, ``measurement_noise`` and ``condition`` added.

Examples
--------
>>> from bioplastic.identify.generation import quick_design
>>> design = quick_design(rule_classes=["sgd", "node_perturbation"])
>>> design.n_runs, len(design.tasks)
(32, 8)
"""

from __future__ import annotations

import copy
import numbers
from collections.abc import Mapping, Sequence

from .._params import Parameterised
from .._validation import check_learning_rates, check_positive_int, check_seeds
from ..config import condition_label, get_task
from ..sweeps import DEFAULT_MAX_MEMBERS, Sweep, run_sweep, stored_result

__all__ = [
    "DEFAULT_CONDITIONS",
    "QUICK_LEARNING_RATES",
    "RULE_CLASSES",
    "IdentificationDesign",
    "architecture_label",
    "generate_dataset",
    "load_dataset",
    "quick_design",
]

_MOMENTUM = {"name": "momentum", "momentum": 0.9}

#: The rule classes: name -> configuration fragment (``rule``, ``training`` and ``network`` keys), see the module documentation.
RULE_CLASSES = {
    "sgd": {"rule": {"name": "backprop"}, "training": {"optimiser": dict(_MOMENTUM)}},
    "adam": {"rule": {"name": "backprop"}, "training": {"optimiser": {"name": "adam"}}},
    "feedback_alignment": {"rule": {"name": "feedback_alignment"}, "training": {"optimiser": dict(_MOMENTUM)}},
    "information_alignment": {"rule": {"name": "information_alignment"}, "training": {"optimiser": dict(_MOMENTUM)}},
    "node_perturbation": {"rule": {"name": "node_perturbation", "sigma": 1e-3}},
    "danp": {"rule": {"name": "activity_node_perturbation", "sigma": 1e-3}, "training": {"optimiser": {"name": "adam"}},
             "network": {"decorrelation": {"eta": 1e-3}}},
    "reinforce": {"rule": {"name": "reinforce", "sigma": 1e-3}},
    "weight_perturbation": {"rule": {"name": "weight_perturbation", "sigma": 1e-3}},
}

#: Learning rates per rule class with which every class learns the quick task: in :func:`quick_design` every run's test error
#: falls at least 2-fold in 20 epochs (the median run's 3.5-fold for weight perturbation to 19-fold for Adam) and none diverges.
QUICK_LEARNING_RATES = {
    "sgd": (0.01, 0.03),
    "adam": (0.003, 0.01),
    "feedback_alignment": (0.01, 0.03),
    "information_alignment": (0.01, 0.03),
    "node_perturbation": (0.01, 0.03),
    "danp": (0.002, 0.005),
    "reinforce": (0.01, 0.03),
    "weight_perturbation": (0.002, 0.005),
}

#: The measurement condition of a design without ``conditions``: every unit and synapse, no noise.
DEFAULT_CONDITIONS = ({"keep_fraction": 1.0, "measurement_noise": 0.0},)

#: The quick task: a nonlinear student-teacher regression (10 inputs, 3 outputs, 200 training and 100 test samples).
_QUICK_TASK = {"name": "student_teacher", "n_inputs": 10, "n_hidden": 10, "n_outputs": 3, "n_train": 200, "n_test": 100, "seed": 0}

_FRAGMENT_SECTIONS = ("rule", "training", "network")
#: keys of [training] a design sets itself (a fragment may not)
_DESIGN_TRAINING_KEYS = ("n_epochs", "learning_rate", "seeds", "batch_size", "data_seed", "n_threads")
#: keys of [network] a design sets itself
_DESIGN_NETWORK_KEYS = ("sizes",)
_OBSERVABLES_KEYS = ("n_probe", "statistics", "seed")


def architecture_label(hidden):
    """The label of an MLP with hidden widths ``hidden``: ``"mlp-<depth>x<width>"`` for equal widths, else ``"mlp-16-32"``.

    ``depth`` is the number of hidden layers; a network without hidden
    layers is ``"mlp-0"``.

    Examples
    --------
    >>> architecture_label((64, 64)), architecture_label((16, 32)), architecture_label(())
    ('mlp-2x64', 'mlp-16-32', 'mlp-0')
    """
    hidden = [int(n) for n in hidden]
    if not hidden:
        return "mlp-0"
    if len(set(hidden)) == 1:
        return f"mlp-{len(hidden)}x{hidden[0]}"
    return "mlp-" + "-".join(str(n) for n in hidden)


def _check_rule_classes(rule_classes):
    """``(names or mapping as given, {name: fragment})``."""
    if isinstance(rule_classes, Mapping):
        fragments = {}
        for name, fragment in rule_classes.items():
            if not isinstance(name, str) or not name:
                raise ValueError(f"rule class names should be non-empty strings, got {name!r}")
            if not isinstance(fragment, Mapping):
                raise ValueError(f"rule class {name!r} should be a configuration fragment (a dict of {list(_FRAGMENT_SECTIONS)}), "
                                 f"got {fragment!r}")
            unknown = sorted(set(fragment) - set(_FRAGMENT_SECTIONS))
            if unknown or "rule" not in fragment:
                raise ValueError(f"rule class {name!r}: a fragment holds the sections {list(_FRAGMENT_SECTIONS)} ('rule' required), "
                                 f"got {sorted(fragment)}")
            for section, keys in (("training", _DESIGN_TRAINING_KEYS), ("network", _DESIGN_NETWORK_KEYS)):
                fixed = sorted(set(fragment.get(section, {})) & set(keys))
                if fixed:
                    raise ValueError(f"rule class {name!r} sets [{section}] {fixed}, which the design sets; remove them from the fragment")
            fragments[name] = copy.deepcopy(dict(fragment))
        given = {name: copy.deepcopy(dict(fragment)) for name, fragment in rule_classes.items()}
    else:
        if isinstance(rule_classes, str) or not isinstance(rule_classes, Sequence):
            raise TypeError(f"rule_classes should be a sequence of names from {list(RULE_CLASSES)} or a dict of "
                            f"name -> configuration fragment, got {rule_classes!r}")
        unknown = [name for name in rule_classes if name not in RULE_CLASSES]
        if unknown:
            raise ValueError(f"unknown rule class(es) {unknown}; expected some of {list(RULE_CLASSES)}, or a dict of "
                             "name -> configuration fragment")
        repeated = sorted({name for name in rule_classes if list(rule_classes).count(name) > 1})
        if repeated:
            raise ValueError(f"rule_classes lists {repeated} more than once; each class once")
        fragments = {name: copy.deepcopy(RULE_CLASSES[name]) for name in rule_classes}
        given = tuple(rule_classes)
    if not fragments:
        raise ValueError("rule_classes is empty; give at least one rule class")
    return given, fragments


def _check_architectures(architectures):
    """``{label: hidden widths tuple}`` from a sequence of hidden widths or a mapping label -> hidden widths."""
    if isinstance(architectures, Mapping):
        items = list(architectures.items())
    elif isinstance(architectures, Sequence) and not isinstance(architectures, str):
        items = [(None, hidden) for hidden in architectures]
    else:
        raise TypeError(f"architectures should be a sequence of hidden-layer widths such as [(16,), (16, 16)] or a dict "
                        f"label -> widths, got {architectures!r}")
    if not items:
        raise ValueError("architectures is empty; give at least one, e.g. [(16,), (16, 16)]")
    out = {}
    for label, hidden in items:
        if isinstance(hidden, numbers.Integral) and not isinstance(hidden, bool):
            hidden = (hidden,)
        if isinstance(hidden, str) or not isinstance(hidden, Sequence):
            raise TypeError(f"an architecture should be a sequence of hidden-layer widths such as (16, 16), got {hidden!r}")
        widths = tuple(check_positive_int(n, f"architecture {hidden!r} width") for n in hidden)
        label = architecture_label(widths) if label is None else label
        if not isinstance(label, str) or not label:
            raise ValueError(f"architecture labels should be non-empty strings, got {label!r}")
        if label in out:
            raise ValueError(f"architecture label {label!r} is given twice ({out[label]} and {widths}); each architecture once")
        if widths in out.values():
            raise ValueError(f"architecture {widths} is given twice; each architecture once")
        out[label] = widths
    return out


def _check_conditions(conditions):
    """The measurement conditions as ``[{"keep_fraction", "measurement_noise", "label"}]`` (labels from :func:`condition_label`)."""
    if isinstance(conditions, Mapping) or isinstance(conditions, str) or not isinstance(conditions, Sequence) or not conditions:
        raise ValueError(f"conditions should be a non-empty sequence of dicts such as {{'keep_fraction': 0.1, 'measurement_noise': 0.1}}, "
                         f"got {conditions!r}")
    out = []
    for i, condition in enumerate(conditions):
        if not isinstance(condition, Mapping):
            raise ValueError(f"conditions[{i}] should be a dict of keep_fraction, measurement_noise and optionally label, got {condition!r}")
        unknown = sorted(set(condition) - {"keep_fraction", "measurement_noise", "label"})
        if unknown:
            raise ValueError(f"conditions[{i}] has unknown key(s) {unknown}; expected some of ['keep_fraction', 'label', 'measurement_noise']")
        keep_fraction, noise = condition.get("keep_fraction", 1.0), condition.get("measurement_noise", 0.0)
        for key, value in (("keep_fraction", keep_fraction), ("measurement_noise", noise)):
            if isinstance(value, bool) or not isinstance(value, numbers.Real):
                raise ValueError(f"conditions[{i}] {key} should be a number, got {value!r}")
        label = condition.get("label", condition_label(keep_fraction, noise))
        out.append({"keep_fraction": float(keep_fraction), "measurement_noise": float(noise), "label": label})
    return out


class IdentificationDesign(Parameterised):
    """A rule-identification data set to generate: rule classes x architectures x batch sizes x learning rates x seeds.

    Parameters
    ----------
    rule_classes : sequence of str or dict, default all of RULE_CLASSES
        Names from :data:`RULE_CLASSES`, or a dict ``{name: fragment}`` of
        configuration fragments of one's own (sections ``rule``, and
        optionally ``training`` and ``network``, as in :data:`RULE_CLASSES`).
    architectures : sequence or dict
        The hidden-layer widths of each MLP (``[(16,), (16, 16)]``; the
        input and output widths are the task's), labelled by
        :func:`architecture_label`, or a dict ``{label: widths}``.
    batch_sizes : sequence of int
    learning_rates : dict or sequence of float, optional
        ``{rule class: learning rates}``, or the same learning rates for
        every class; by default :data:`QUICK_LEARNING_RATES`.
    seeds : int or sequence of int, default (0, 1)
        Member seeds (initial weights, noise; children of ``SeedSequence(seed)``).
    task : dict, optional
        The ``[task]`` section (``{"name": "mnist", "n_train": 5000}``, see
        :data:`bioplastic.config.TASKS`); by default the quick task (a
        nonlinear student-teacher regression, 10 inputs, 3 outputs, 200
        training and 100 test samples).
    n_time_points : int, default 21
        ``K``, time points per run (the initial state included).
    n_epochs : int, optional
        A multiple of ``K - 1`` (default ``K - 1``); records are kept every
        ``n_epochs / (K - 1)`` epochs.
    network : dict, optional
        Further ``[network]`` keys shared by every architecture (default
        ``{"hidden": "tanh"}``).
    training : dict, optional
        Further ``[training]`` keys shared by every class (``{"loss":
        "cross_entropy"}``, ``{"dtype": "float32"}``, ...).
    observables : dict, optional
        ``n_probe`` (default 100: the first 100 test stimuli), ``statistics``
        (default ``"default"``, the authors' 24) and ``seed`` (default 0) of
        the recorders (the ``[observables]`` section).
    conditions : sequence of dict, default DEFAULT_CONDITIONS
        Measurement conditions, ``{"keep_fraction": ..., "measurement_noise":
        ..., "label": ...}`` (label by default from
        :func:`~bioplastic.config.condition_label`: ``"full"``,
        ``"keep0.1-noise0.1"``), all recorded in the same training runs.
    max_members : int, default 16
        Most ensemble members per sweep task.

    Attributes
    ----------
    sweeps : dict of str to Sweep
        One sweep per rule class (grid: architectures, batch sizes,
        learning rates, seeds), checked when the design is made.
    tasks : list of SweepTask
        Every task of every sweep.
    n_runs : int
        Trained networks (ensemble members) in all.

    Raises
    ------
    ValueError, TypeError
        For a bad value (named in the message), before any training.
    """

    def __init__(self, *, rule_classes=tuple(RULE_CLASSES), architectures, batch_sizes, learning_rates=None, seeds=(0, 1), task=None,
                 n_time_points=21, n_epochs=None, network=None, training=None, observables=None, conditions=DEFAULT_CONDITIONS,
                 max_members=DEFAULT_MAX_MEMBERS):
        self.rule_classes, self._fragments = _check_rule_classes(rule_classes)
        self._architectures = _check_architectures(architectures)
        self.architectures = {label: list(widths) for label, widths in self._architectures.items()}
        if isinstance(batch_sizes, numbers.Integral) or isinstance(batch_sizes, str) or not isinstance(batch_sizes, Sequence) \
                or not batch_sizes:
            raise ValueError(f"batch_sizes should be a non-empty sequence of integers, got {batch_sizes!r}")
        self.batch_sizes = [check_positive_int(b, f"batch_sizes[{i}]") for i, b in enumerate(batch_sizes)]
        self.learning_rates = self._check_learning_rates(learning_rates)
        self.seeds = check_seeds(seeds, "seeds")
        self.task = copy.deepcopy(dict(_QUICK_TASK if task is None else task))
        if "name" not in self.task:
            raise ValueError(f"task should be a [task] section with a 'name', e.g. {{'name': 'student_teacher'}}, got {task!r}")
        self.n_time_points = check_positive_int(n_time_points, "n_time_points", minimum=2)
        self.n_epochs = self.n_time_points - 1 if n_epochs is None else check_positive_int(n_epochs, "n_epochs")
        if self.n_epochs % (self.n_time_points - 1):
            raise ValueError(f"n_epochs = {self.n_epochs} should be a multiple of n_time_points - 1 = {self.n_time_points - 1} "
                             f"(records kept every n_epochs / (n_time_points - 1) epochs)")
        self.network = {"hidden": "tanh"} if network is None else copy.deepcopy(dict(network))
        self.training = {} if training is None else copy.deepcopy(dict(training))
        for section, table, keys in (("network", self.network, _DESIGN_NETWORK_KEYS), ("training", self.training, _DESIGN_TRAINING_KEYS)):
            fixed = sorted(set(table) & set(keys))
            if fixed:
                raise ValueError(f"{section} sets {fixed}, which the design sets itself (architectures, batch_sizes, learning_rates, "
                                 "seeds, n_epochs)")
        self.observables = {} if observables is None else copy.deepcopy(dict(observables))
        unknown = sorted(set(self.observables) - set(_OBSERVABLES_KEYS))
        if unknown:
            raise ValueError(f"observables has unknown key(s) {unknown}; expected some of {list(_OBSERVABLES_KEYS)} "
                             "(the measurement conditions go in conditions=)")
        self.conditions = _check_conditions(conditions)
        self.max_members = check_positive_int(max_members, "max_members")
        self.sweeps = self._make_sweeps()

    def _check_learning_rates(self, learning_rates):
        if learning_rates is None:
            missing = [name for name in self._fragments if name not in QUICK_LEARNING_RATES]
            if missing:
                raise ValueError(f"rule class(es) {missing} have no default learning rates; give learning_rates={{class: [...]}}")
            learning_rates = {name: QUICK_LEARNING_RATES[name] for name in self._fragments}
        elif not isinstance(learning_rates, Mapping):
            learning_rates = {name: learning_rates for name in self._fragments}
        else:
            unknown = sorted(set(learning_rates) - set(self._fragments))
            missing = [name for name in self._fragments if name not in learning_rates]
            if unknown or missing:
                raise ValueError(f"learning_rates should give the rates of every rule class of the design, {list(self._fragments)}; "
                                 f"missing {missing}, not in the design {unknown}")
        return {name: [float(v) for v in check_learning_rates(learning_rates[name], f"learning_rates[{name!r}]")]
                for name in self._fragments}

    def _make_sweeps(self):
        built = get_task(**self.task)
        n_inputs, n_outputs = built.n_inputs, built.n_outputs
        observables = {**self.observables, "conditions": [dict(c) for c in self.conditions]}
        self._sizes = {label: [n_inputs, *widths, n_outputs] for label, widths in self._architectures.items()}
        sweeps = {}
        for name, fragment in self._fragments.items():
            base = {
                "network": {**self.network, **fragment.get("network", {})},
                "task": self.task,
                "rule": fragment["rule"],
                "training": {**self.training, **fragment.get("training", {}), "n_epochs": self.n_epochs},
                "observables": observables,
            }
            grid = {"network.sizes": list(self._sizes.values()), "training.batch_size": self.batch_sizes,
                    "training.learning_rate": self.learning_rates[name], "training.seeds": self.seeds}
            try:
                sweeps[name] = Sweep(base=copy.deepcopy(base), grid=grid, max_members=self.max_members)
            except ValueError as error:
                raise ValueError(f"rule class {name!r}: {error}") from None
        return sweeps

    @property
    def tasks(self):
        return [task for sweep in self.sweeps.values() for task in sweep]

    @property
    def n_runs(self):
        return sum(sweep.n_members for sweep in self.sweeps.values())

    @property
    def record_every(self):
        """Epochs between kept records: ``n_epochs / (n_time_points - 1)``."""
        return self.n_epochs // (self.n_time_points - 1)

    def architecture_of(self, sizes):
        """The label of the architecture with population sizes ``sizes`` (input and output included)."""
        for label, known in self._sizes.items():
            if list(sizes) == known:
                return label
        raise ValueError(f"sizes {list(sizes)} are no architecture of the design; it has {self._sizes}")

    def __repr__(self):
        return (f"IdentificationDesign({len(self._fragments)} rule classes {list(self._fragments)}, architectures "
                f"{list(self._architectures)}, batch sizes {self.batch_sizes}, {len(self.seeds)} seed(s), {len(self.conditions)} "
                f"condition(s); {self.n_runs} runs in {len(self.tasks)} tasks)")


def quick_design(**overrides):
    """The quick design: all 8 rule classes on the quick task, 128 runs generated in about half a minute (serially, two cores).

    Tiny tanh MLPs (hidden widths ``(16,)`` and ``(32, 32)``, labels
    ``"mlp-1x16"`` and ``"mlp-2x32"``) on a nonlinear student-teacher
    regression (10 inputs, 3 outputs, 200 training and 100 test samples;
    the probe set is its 100 test stimuli), batch sizes 10 and 20, the two
    learning rates per class of :data:`QUICK_LEARNING_RATES`, seeds 0 and 1,
    20 epochs (21 time points), measured under two conditions: ``"full"``
    and ``"keep0.5-noise0.1"``. Ensembles of 4 (2 learning rates x 2 seeds).

    Parameters
    ----------
    **overrides
        Any parameter of :class:`IdentificationDesign` in place of the quick
        value (``rule_classes=["sgd", "node_perturbation"]``, ``seeds=[0]``).

    Returns
    -------
    IdentificationDesign
    """
    settings = {
        "architectures": [(16,), (32, 32)],
        "batch_sizes": [10, 20],
        "seeds": [0, 1],
        "task": dict(_QUICK_TASK),
        "n_time_points": 21,
        "observables": {"n_probe": 100},
        "conditions": [{"keep_fraction": 1.0, "measurement_noise": 0.0}, {"keep_fraction": 0.5, "measurement_noise": 0.1}],
    }
    settings.update(overrides)
    return IdentificationDesign(**settings)


def _distributed():
    try:
        import distributed
    except ImportError as error:
        raise ImportError("generating a data set on Dask workers (workers=) needs dask.distributed: pip install bioplastic[sweeps]") from error
    return distributed


def generate_dataset(design, out_dir, *, workers=None, scheduler=None, retries=2, progress=True, return_reports=False):
    """Train the runs of ``design`` that ``out_dir`` does not hold yet, then return the data set of all of them.

    Every rule class's sweep runs through :func:`bioplastic.sweeps.run_sweep`
    into ``out_dir`` (one result pair per task); a rerun after an
    interruption runs only the tasks whose results are missing, and gives
    the same table.

    Parameters
    ----------
    design : IdentificationDesign
    out_dir : path
        Folder of the sweeps' results (shared by all rule classes).
    workers : int, optional
        A ``dask.distributed.LocalCluster`` of this many single-threaded
        worker processes, started once for all rule classes (a script that
        uses it needs the ``if __name__ == "__main__":`` guard).
    scheduler : str, optional
        Address of a running Dask scheduler; by default the environment's
        ``DASK_SCHEDULER_ADDRESS`` (see :func:`~bioplastic.sweeps.run_sweep`);
        with neither, the tasks run in this process.
    retries : int, default 2
        Attempts after the first for a task that raises.
    progress : bool, default True
        A progress bar per rule class.
    return_reports : bool, default False
        Also return the :class:`~bioplastic.sweeps.SweepReport` of each rule
        class.

    Returns
    -------
    pandas.DataFrame
        The data set (:func:`load_dataset`).
    dict of str to SweepReport
        With ``return_reports=True``: what each class's sweep ran and skipped.

    Raises
    ------
    RuntimeError
        After every task was tried, if some failed on every attempt (the
        message lists them; the others are stored, and a rerun computes the
        missing ones).
    """
    if not isinstance(design, IdentificationDesign):
        raise TypeError(f"design should be an IdentificationDesign (e.g. quick_design()), got {design!r}")
    cluster = None
    if workers is not None:
        if scheduler is not None:
            raise ValueError(f"give workers (a local cluster, got {workers!r}) or scheduler (an existing one, got {scheduler!r}), not both")
        from .._threads import usable_cpus

        workers = check_positive_int(workers, "workers")
        if workers > usable_cpus():
            raise ValueError(f"workers={workers} exceeds the {usable_cpus()} CPU(s) this process may use; each worker runs one "
                             "single-threaded task")
        cluster = _distributed().LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None)
        scheduler = cluster.scheduler_address
    reports = {}
    try:
        for name, sweep in design.sweeps.items():
            reports[name] = run_sweep(sweep, out_dir, scheduler=scheduler, retries=retries, progress=progress)
    finally:
        if cluster is not None:
            cluster.close()
    failed = [failure for report in reports.values() for failure in report.failed]
    if failed:
        raise RuntimeError(f"{len(failed)} of {len(design.tasks)} task(s) failed; the others are stored in {out_dir} and a rerun "
                           "computes only the missing ones:\n" + "\n".join(str(failure) for failure in failed))
    table = load_dataset(design, out_dir)
    return (table, reports) if return_reports else table


def load_dataset(design, out_dir):
    """The data set of ``design`` from the results stored in ``out_dir`` (every task must be complete).

    Parameters
    ----------
    design : IdentificationDesign
    out_dir : path

    Returns
    -------
    pandas.DataFrame
        One row per run, condition, time point, layer and observable: the
        columns of :func:`~bioplastic.training.observables_table`, then
        ``run``, ``rule_class``, ``architecture``, ``keep_fraction``,
        ``measurement_noise``, ``condition``. In the order of the design's
        rule classes, their tasks, the conditions, then as
        ``observables_table``; ``time_point`` counts the kept records
        (``0`` to ``n_time_points - 1``) and ``epoch`` gives their epoch.

    Raises
    ------
    ValueError
        If a task has no complete result in ``out_dir`` (the message names it).
    """
    import pandas as pd

    from ..training.observables import observables_table

    tables = []
    for name, sweep in design.sweeps.items():
        for task in sweep:
            status, history = stored_result(out_dir, task)
            if status != "complete":
                raise ValueError(f"{task.name} of rule class {name!r} ({task.grid_values}) has no complete result in {out_dir} "
                                 f"({status}); run generate_dataset(design, out_dir) to compute it")
            architecture = design.architecture_of(task.config["network"]["sizes"])
            for condition in design.conditions:
                metadata = {"rule_class": name, "architecture": architecture, "keep_fraction": condition["keep_fraction"],
                            "measurement_noise": condition["measurement_noise"], "condition": condition["label"]}
                table = observables_table(history, metadata=metadata, label=condition["label"])
                table.insert(table.columns.get_loc("rule_class"), "run", task.hash[:12] + ":" + table["member"].astype(str))
                tables.append(_kept_time_points(table, design))
    return pd.concat(tables, ignore_index=True)


def _kept_time_points(table, design):
    """The rows of the records at epochs ``0, m, 2m, ...`` (``m = design.record_every``), ``time_point`` renumbered."""
    every = design.record_every
    if every == 1:
        return table
    kept = table[table["epoch"] % every == 0].copy()
    kept["time_point"] = kept["epoch"] // every
    return kept
