"""Online training of one-hidden-layer linear students: :func:`train_online`, a runner of the one training loop."""

from __future__ import annotations

import numbers

import numpy as np

from .._validation import check_choice, check_positive, check_positive_int
from ..engines.numpy import single_threaded_blas
from ..homeostasis import SynapticScaling
from ..io import to_jsonable
from ..losses import SquaredError
from ..network import Network
from ..ops import is_conv
from ..plasticity.backprop import Backprop
from ..plasticity.base import PlasticityRule
from ..plasticity.node_perturbation import NodePerturbation
from ..tasks.student_teacher import StudentTeacher
from ..training import History, ensemble_grid, run_ensemble
from .blocked import _BlockedEngine
from .reduced import _ReducedEngine
from .schedule import _check_record_at, _next_samples, _segment_ends

__all__ = ["METHODS", "train_online"]

#: engines of :func:`train_online`
METHODS = ("blocked", "reduced")

#: the rules the online engines run, by class (a subclass changes the update, so it is not taken)
_RULES = (NodePerturbation, Backprop)

_DEFAULT_BLOCK = {"blocked": 32, "reduced": 64}


def train_online(
    network,
    rule,
    task,
    *,
    n_epochs=None,
    record_at=None,
    learning_rate,
    seeds=0,
    data_seed=0,
    homeostasis=None,
    method="blocked",
    block_size=None,
    divergence_factor=1e3,
    dimensionality=True,
    progress=True,
    checkpoint=None,
    checkpoint_every=10,
):
    r"""Online learning (one sample per step) of a one-hidden-layer linear network on a linear teacher.

    Trains an ensemble (learning rates x seeds, learning-rate-major, as
    :func:`bioplastic.train`) of students ``y = W2 W1 x`` with node
    perturbation (perturbations on the hidden and output layers
    simultaneously, clean presynaptic rates, ``M = -(L~ - L)/sigma``, loss
    ``L = ||y - y*||^2 / 2``) or SGD, one fresh sample per step, and records
    the order parameters every epoch (``task.steps_per_epoch`` steps).

    Parameters
    ----------
    network : Network
        One hidden layer, linear populations, no biases: ``models.deep_linear``.
    rule : NodePerturbation or Backprop
        NP (any ``sigma``; ``layers`` selects the perturbed layers, those
        whose population has noise get it, see
        :meth:`~bioplastic.PlasticityRule.noise_needs`; the clean baseline)
        or SGD. Other rules raise ``ValueError``: train them with
        ``bioplastic.train(..., batch_size=1)``.
    task : StudentTeacher
        The teacher; online mode (``steps_per_epoch`` steps per epoch) or
        minibatch mode (one pass over the ``n_train`` samples per epoch).
    n_epochs : int, optional
        Number of epochs; the order parameters are recorded before training
        and after every epoch (``History.epochs`` counts epochs).
    record_at : array_like of int, optional
        Instead of ``n_epochs``: record after these (increasing) numbers of
        steps, e.g. :func:`~bioplastic.online.log_spaced_steps` for log-time plots; training
        stops at the last one. ``History.epochs`` then counts steps
        (``config["steps_per_epoch"] = 1``). Samples and noise are drawn per
        data epoch exactly as with ``n_epochs``.
    learning_rate : float or sequence of float
        ``eta > 0``; crossed with ``seeds``.
    seeds : int or sequence of int, default 0
        Member seeds: initial weights and intrinsic noise come from
        independent children of ``SeedSequence(seed)``.
    data_seed : int, default 0
        Seed of the samples, shared by all members.
    homeostasis : SynapticScaling, optional
        Synaptic scaling after every step.
    method : {"blocked", "reduced"}, default "blocked"
        ``"blocked"`` simulates the network and equals
        ``bioplastic.train(..., batch_size=1)`` with the same seeds up to
        rounding; ``"reduced"`` simulates the order parameters' exact joint
        law at a cost independent of ``Lh`` (Gaussian noise only, no
        synaptic scaling of hidden neurons). See the module docstring.
    block_size : int, optional
        Steps per block (32 for ``"blocked"``, 64 for ``"reduced"``); a
        performance knob (blocked results do not depend on it beyond rounding).
    divergence_factor : float or None, default 1e3
        A member whose error ``epsilon`` becomes non-finite or exceeds this
        factor times its initial value is frozen (learning rate 0), restored
        to its last good record and flagged (``History.diverged_epoch``, in
        the unit of ``History.epochs``); its later records are NaN.
    dimensionality : bool, default True
        Record the planar dimensionality (``"blocked"``: costs ``Lh Lx^2``
        per member and record).
    progress : bool, default True
        Show a progress bar over steps (tqdm).
    checkpoint : path, optional
        Save the run state every ``checkpoint_every`` records (and after the
        last) to the pair ``<checkpoint>.npz`` + ``<checkpoint>.json`` and
        resume from it if it exists (same configuration required); a resumed
        run equals an uninterrupted one. A record within a data epoch is
        resumed by drawing that epoch's samples and noise again up to it.
        Give it a name of its own, apart from the run's :meth:`History.save`
        files.
    checkpoint_every : int, default 10

    Returns
    -------
    History
        ``records``: ``error`` (``epsilon``), ``test_error`` (expected squared
        error ``Lx Ly epsilon + Ly sigma_t^2``, exact), ``alpha``, ``beta``,
        ``phi``, ``dimensionality`` of shape ``(n_members, n_records)``, and
        ``weight_norms`` (Frobenius norms of ``W1``, ``W2``) of shape
        ``(n_members, n_records, 2)``. ``config["steps_per_epoch"]`` converts
        ``History.epochs`` to steps (:func:`~bioplastic.online.record_steps`). ``final_state_`` holds the
        final weights (``"blocked"``) or ``None`` (``"reduced"``, whose final
        hidden-space coordinates are in ``final_coordinates_``).

    Notes
    -----
    The loss is the paper's ``L = ||y - y*||^2 / 2``; runs are float64.
    Both engines run BLAS single-threaded (their matrices are thin or
    small, and threads cost more than they give), and the blocked engine
    draws noise on a prefetch thread only when the process may use two
    CPUs or more (:mod:`bioplastic._threads`); run independent studies in
    separate processes for parallelism. Performance at the paper's sizes
    (``benchmarks/linear_online.py``): the blocked engine runs within about
    1.5x of its floor (drawing the ``Lh`` noise values and two ``Lh x Lx``
    matrix products per step), about 10x faster than a straightforward
    per-step implementation; the reduced engine more than 100x.

    Examples
    --------
    >>> from bioplastic import NodePerturbation, models
    >>> from bioplastic.online import train_online
    >>> from bioplastic.tasks import StudentTeacher
    >>> task = StudentTeacher(n_inputs=10, n_outputs=2, steps_per_epoch=100)
    >>> history = train_online(models.deep_linear(10, 200, 2), NodePerturbation(sigma=1e-3), task,
    ...                        n_epochs=3, learning_rate=[1e-3, 3e-3], seeds=[0, 1], progress=False)
    >>> history.records["error"].shape
    (4, 4)
    """
    _check_network(network)
    kind, noisy = _rule_noise(rule, network)
    if not isinstance(task, StudentTeacher):
        raise TypeError(f"task should be a tasks.StudentTeacher (a linear teacher), got {task!r}")
    if (network.n_inputs, network.n_outputs) != (task.n_inputs, task.n_outputs):
        raise ValueError(
            f"network maps {network.n_inputs} -> {network.n_outputs} but the task maps {task.n_inputs} -> {task.n_outputs}"
        )
    if homeostasis is not None and not isinstance(homeostasis, SynapticScaling):
        raise TypeError(f"homeostasis should be a SynapticScaling or None, got {homeostasis!r}")
    method = check_choice(method, "method", METHODS)
    block_size = _DEFAULT_BLOCK[method] if block_size is None else check_positive_int(block_size, "block_size")
    if divergence_factor is not None:
        divergence_factor = check_positive(divergence_factor, "divergence_factor")
    checkpoint_every = check_positive_int(checkpoint_every, "checkpoint_every")
    if isinstance(data_seed, bool) or not isinstance(data_seed, numbers.Integral) or data_seed < 0:
        raise ValueError(f"data_seed should be a non-negative integer, got {data_seed!r}")
    lrs, member_seeds = ensemble_grid(learning_rate, seeds)
    steps_per_epoch = task.n_batches(1)
    if (n_epochs is None) == (record_at is None):
        raise ValueError("give exactly one of n_epochs (records every epoch) and record_at (records at given steps)")
    if n_epochs is not None:
        n_epochs = check_positive_int(n_epochs, "n_epochs", minimum=0)
        record_at = steps_per_epoch * np.arange(1, n_epochs + 1)
        epochs = np.arange(n_epochs + 1)
        unit_steps = steps_per_epoch
    else:
        record_at = _check_record_at(record_at)
        epochs = np.concatenate([[0], record_at])
        unit_steps = 1
    if method == "blocked":
        engine = _BlockedEngine(network, rule, kind, noisy, member_seeds, homeostasis, block_size)
    else:
        with single_threaded_blas():
            engine = _ReducedEngine(network, rule, kind, noisy, member_seeds, homeostasis, block_size)
    config = to_jsonable({
        "network": network.describe(),
        "rule": rule.describe(),
        "task": task.describe(),
        "loss": SquaredError().describe(),
        "homeostasis": None if homeostasis is None else homeostasis.describe(),
        "n_epochs": n_epochs,
        "record_at": None if n_epochs is not None else record_at,
        "batch_size": 1,
        "steps_per_epoch": unit_steps,
        "data_steps_per_epoch": steps_per_epoch,
        "data_seed": int(data_seed),
        "dtype": "float64",
        "divergence_factor": divergence_factor,
        "learning_rates": lrs,
        "seeds": member_seeds,
        "engine": f"online-{method}",
        "method": method,
        "block_size": block_size,
    })
    runner = _OnlineRunner(engine, task, data_seed=data_seed, dimensionality=dimensionality, checkpointing=checkpoint is not None)
    run = run_ensemble(runner, stops=record_at, labels=epochs[1:], config=config, learning_rates=lrs, error="error",
                       divergence_factor=divergence_factor, checkpoint=checkpoint, checkpoint_every=checkpoint_every, progress=progress,
                       desc=f"{rule.name} online x{len(lrs)}", unit="step")
    history = History(epochs, run.records, lrs, member_seeds, run.diverged, config)
    if method == "blocked":
        history.final_state_ = engine.state().copy()
        history.final_coordinates_ = None
    else:
        history.final_state_ = None
        history.final_coordinates_ = engine.coordinates().copy()
    return history


class _OnlineRunner:
    """An online engine on a linear teacher's one-sample batches, records at given steps (see :mod:`bioplastic.training.loop`).

    Positions are steps. Samples and noise are drawn per data epoch
    (``task.n_batches(1)`` steps): a stretch between two records is cut at
    every epoch boundary it crosses, where a new epoch of samples (and, in
    the blocked engine, of noise) begins, exactly as in
    :func:`~bioplastic.train` with ``batch_size=1``.
    """

    def __init__(self, engine, task, *, data_seed, dimensionality, checkpointing):
        self.engine, self.task, self.dimensionality = engine, task, dimensionality
        self.n_members = engine.n_members
        self.steps_per_epoch = task.n_batches(1)
        self.data_rng = np.random.default_rng(data_seed)
        self.checkpointing = checkpointing
        self._batches = None  # the current data epoch's samples
        self._position = 0
        self._epoch_states = None  # data and noise stream states at the start of the current data epoch
        self._replay = 0  # steps of the current epoch to draw again after resuming within it

    def measure(self):
        task = self.task
        with np.errstate(all="ignore"), single_threaded_blas():
            rec = self.engine.order_parameters(task.teacher, task.teacher_noise, self.dimensionality)
            rec["weight_norms"] = np.stack([np.sqrt(rec["alpha"] * task.n_inputs), np.sqrt(rec["beta"] * task.n_outputs)], axis=1)
        return {k: np.asarray(v, dtype=float) for k, v in rec.items()}

    def _start_epoch(self):
        if self.checkpointing:
            noise = self.engine.noise_states() if self.engine.noise_per_epoch else None
            self._epoch_states = (self.data_rng.bit_generator.state, noise)
        self.engine.start_epoch(self.steps_per_epoch)
        self._batches = iter(self.task.batches(1, self.data_rng))

    def advance(self, start, stop, scale, *, last):
        engine = self.engine
        position = start
        if self._replay:  # resumed within a data epoch: its samples and noise up to here, drawn again
            self._start_epoch()
            _next_samples(self._batches, self._replay, self.task.n_inputs, self.task.n_outputs)
            if engine.noise_per_epoch:
                engine.skip_noise(self._replay)
            self._replay = 0
        for end in _segment_ends(start, stop, self.steps_per_epoch):
            if position % self.steps_per_epoch == 0:
                self._start_epoch()
            with np.errstate(all="ignore"), single_threaded_blas():
                engine.run(self._batches, end - position, scale)
            position = end
        self._position = stop

    def snapshot(self):
        return self.engine.snapshot()

    def restore(self, mask, snapshot):
        self.engine.restore(mask, snapshot)

    def keep(self, snapshot, mask):
        self.engine.keep(snapshot, mask)

    def checkpoint_arrays(self):
        return self.engine.arrays()

    def snapshot_arrays(self, snapshot):
        return snapshot

    def checkpoint_meta(self):
        offset = self._position % self.steps_per_epoch
        if not offset:
            data, noise = self.data_rng.bit_generator.state, self.engine.noise_states()
        else:  # within a data epoch: its samples (and noise drawn per epoch) are drawn again on resume, from its start
            data, noise = self._epoch_states
            if not self.engine.noise_per_epoch:
                noise = self.engine.noise_states()
        return {"data_state": data, "noise_states": noise, "epoch_offset": offset}

    def resume(self, arrays, meta):
        strip = lambda prefix: {k[len(prefix):]: np.array(v) for k, v in arrays.items() if k.startswith(prefix)}  # noqa: E731
        self.engine.set_arrays(strip("state_"))
        self.engine.set_noise_states(meta["noise_states"])
        self.data_rng.bit_generator.state = meta["data_state"]
        self._replay = int(meta["epoch_offset"])
        return strip("good_")


def _check_network(network):
    if not isinstance(network, Network):
        raise TypeError(f"network should be a Network (e.g. models.deep_linear(...)), got {network!r}")
    if network.n_layers != 2:
        raise ValueError(f"train_online needs a one-hidden-layer network (2 projections), got {network.n_layers} projections")
    for k, (act, proj) in enumerate(zip(network.activations, network.projections, strict=True)):
        if act.name != "linear":
            raise ValueError(f"train_online needs linear populations; layer {k + 1} has activation {act.name!r}")
        if proj.bias:
            raise ValueError(f"train_online needs projections without biases (models.deep_linear(..., bias=False)); projection {k} has one")


def _rule_noise(rule, network):
    """``(kind, noisy)``: ``"np"`` or ``"sgd"``, and which layers get intrinsic noise (the rule's noise needs).

    Raises
    ------
    TypeError
        ``rule`` is not a PlasticityRule.
    ValueError
        A rule the online engines do not run, NP with a baseline other than
        the clean one, or NP without any noisy perturbed population.
    """
    if not isinstance(rule, PlasticityRule):
        raise TypeError(f"rule should be a PlasticityRule (NodePerturbation or Backprop), got {rule!r}")
    if type(rule) not in _RULES:
        runs = ", ".join(f"{cls.name!r} ({cls.__name__})" for cls in _RULES)
        raise ValueError(f"train_online runs the rules {runs}, got rule {rule.name!r} ({rule!r}); "
                         "train it with bioplastic.train(..., batch_size=1)")
    if any(is_conv(p) for p in network.projections):
        raise ValueError(f"train_online runs all-to-all projections, got a convolutional one in {network!r}; "
                         "train it with bioplastic.train(..., batch_size=1)")
    if getattr(network, "decorrelation", None) is not None:
        raise ValueError(f"train_online runs networks without lateral decorrelation, got {network!r}; "
                         "train it with bioplastic.train(..., batch_size=1)")
    if isinstance(rule, Backprop):
        return "sgd", [False, False]
    if rule.n_samples != 1 or not rule.clean_pass or rule.noise is not None:
        raise ValueError(f"train_online runs NodePerturbation with one noise draw, a clean pass and the populations' own noise, "
                         f"got {rule!r}; train it with bioplastic.train(..., batch_size=1)")
    if rule.neuromodulator.baseline != "clean":
        raise ValueError(
            f"train_online runs {type(rule).__name__} with baseline='clean' (a perturbed and a clean pass), "
            f"got baseline={rule.neuromodulator.baseline!r}; the Brian2 engine runs the running-average baseline"
        )
    noisy = list(rule.noise_needs(network).population)
    if not any(noisy):
        raise ValueError(f"{rule!r} needs intrinsic noise but no perturbed population of {network!r} has noise")
    return "np", noisy
