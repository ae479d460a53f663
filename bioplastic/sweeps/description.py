"""A sweep: a base configuration, a grid over its keys, and its split into tasks.

A *sweep* crosses the values of some configuration keys (``"section.key"``,
the sections of :mod:`bioplastic.config`) over a *base* configuration. Each
combination of the grid's values is a *point*; each point is a run of
:func:`bioplastic.train`. Points that differ only in the learning rate
(``"training.learning_rate"``) or the seed (``"training.seeds"``) are the
members of one ensemble, which the numpy engine trains in one vectorised
computation: they go into the same *task*, cut into tasks of at most
``max_members`` members so that tasks stay short. A task is one call of
:func:`bioplastic.train`; its members are a block of learning rates x a block
of seeds (both sorted), so the task's configuration is itself an ordinary
configuration. Every task has a stable identifier, the SHA-256 of its
configuration as canonical JSON (:func:`config_hash`).

In a configuration file the grid is the ``[sweep]`` section; the other
sections are the base::

    [network]
    sizes = [6, 5, 3]

    [task]
    name = "student_teacher"
    n_inputs = 6
    n_outputs = 3

    [rule]
    name = "node_perturbation"

    [training]
    n_epochs = 20

    [sweep]
    max_members = 8                              # members per task (default 16)
    grid = {"rule.sigma" = [1e-4, 1e-3], "training.learning_rate" = [0.01, 0.03], "training.seeds" = [0, 1, 2]}

The grid may also be a table of its own, with quoted keys (``[sweep.grid]``
then ``"rule.sigma" = [1e-4, 1e-3]`` on a line each) or with bare dotted keys
(``rule.sigma = [1e-4, 1e-3]``, which TOML reads as nested tables: they are
read the same way). Every grid value is a list of the values the key takes;
a key whose values are lists (``"network.sizes" = [[6, 5, 3], [6, 10, 3]]``)
or tables (``"training.optimiser" = [{name = "adam"}, {name = "sgd"}]``)
lists them in a list. A key names a key of a section (``"rule.sigma"``) or,
with more dots, a key inside a table of a section
(``"training.optimiser.momentum"``).

Before any work the sweep is checked: every point's configuration is
validated by :func:`bioplastic.config.validate_config` (unknown sections and
keys, missing required keys), and an empty grid, a key without values, a
key set both in the base and in the grid, two grid keys of which one lies
inside the other, and a value listed twice each raise ``ValueError`` naming
the key and value.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import math
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path

from .._validation import check_learning_rates, check_positive_int, check_seeds
from ..config import validate_config
from ..io import to_jsonable

__all__ = ["DEFAULT_MAX_MEMBERS", "MEMBER_KEYS", "Sweep", "SweepTask", "canonical_json", "config_hash", "load_sweep"]

#: the grid keys whose values become ensemble members of one task (a learning rate x seed grid)
MEMBER_KEYS = ("training.learning_rate", "training.seeds")

#: members per task when ``max_members`` is not given
DEFAULT_MAX_MEMBERS = 16

#: the keys of a configuration file's ``[sweep]`` section
_SWEEP_KEYS = ("grid", "max_members")

#: sections that do not change a run (left out of the tasks' configurations)
_NOT_RUN = ("output",)


def canonical_json(value):
    """``value`` as canonical JSON text: sorted keys, no spaces, ASCII, numpy values and tuples as plain JSON.

    Equal configurations give equal text whatever the order of their dicts'
    keys; floats are written in their shortest round-trip form.

    Examples
    --------
    >>> canonical_json({"b": [1, 2.5], "a": (1e-3,)})
    '{"a":[0.001],"b":[1,2.5]}'
    """
    return json.dumps(to_jsonable(value), sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)


def config_hash(config):
    """The SHA-256 (hex) of ``config`` as :func:`canonical_json`: a configuration's stable identifier.

    Examples
    --------
    >>> config_hash({"a": 1, "b": 2}) == config_hash({"b": 2, "a": 1})
    True
    """
    return hashlib.sha256(canonical_json(config).encode("ascii")).hexdigest()


class SweepTask:
    """One task of a sweep: one ensemble, one call of :func:`bioplastic.train`.

    Parameters
    ----------
    config : dict
        The task's configuration (sections as in :mod:`bioplastic.config`),
        with its members in ``[training] learning_rate`` and ``seeds``
        (lists; every learning rate with every seed).
    grid_values : dict
        The values of the sweep's grid keys at this task's point, except the
        member keys (``{"rule.sigma": 0.001}``).
    base_dir : str, optional
        Folder that a relative ``[rule] module`` file starts from.

    Attributes
    ----------
    hash : str
        :func:`config_hash` of ``config``: the task's identifier.
    name : str
        ``"task-"`` and the first 16 hex digits of the hash: the stem of its
        result files.
    """

    __slots__ = ("base_dir", "config", "grid_values", "hash")

    def __init__(self, config, grid_values, *, base_dir=None):
        self.config = copy.deepcopy(dict(config))
        self.grid_values = copy.deepcopy(dict(grid_values))
        self.base_dir = None if base_dir is None else str(base_dir)
        self.hash = config_hash(self.config)

    @property
    def name(self):
        return f"task-{self.hash[:16]}"

    @property
    def learning_rates(self):
        """The members' learning rates (crossed with :attr:`seeds`)."""
        return list(self.config["training"]["learning_rate"])

    @property
    def seeds(self):
        return list(self.config["training"]["seeds"])

    @property
    def n_members(self):
        return len(self.learning_rates) * len(self.seeds)

    def describe(self):
        """JSON-ready description (hash, grid values, configuration), stored with the task's result."""
        return {"hash": self.hash, "grid": to_jsonable(self.grid_values), "config": to_jsonable(self.config)}

    def __eq__(self, other):
        return isinstance(other, SweepTask) and other.hash == self.hash

    def __hash__(self):
        return hash(self.hash)

    def __getstate__(self):
        return {name: getattr(self, name) for name in self.__slots__}

    def __setstate__(self, state):
        for name, value in state.items():
            object.__setattr__(self, name, value)

    def __repr__(self):
        point = ", ".join(f"{k}={v!r}" for k, v in self.grid_values.items())
        return f"SweepTask({self.name}, {point + ', ' if point else ''}members={self.n_members})"


def _flatten_grid(grid, prefix=""):
    """``{"rule": {"sigma": [...]}}`` and ``{"rule.sigma": [...]}`` alike as ``{"rule.sigma": [...]}`` (insertion order kept)."""
    flat = {}
    for key, value in grid.items():
        if not isinstance(key, str) or not key.strip():
            raise ValueError(f"grid keys should be configuration keys such as 'rule.sigma', got {key!r}")
        full = f"{prefix}{key}"
        if isinstance(value, Mapping):
            if not value:
                raise ValueError(f"grid[{full!r}] is an empty table; expected a list of values, e.g. {full!r}: [1e-4, 1e-3]")
            inner = _flatten_grid(value, prefix=f"{full}.")
            for inner_key in inner:
                if inner_key in flat:
                    raise ValueError(f"grid key {inner_key!r} is given twice (as a dotted key and inside a table)")
            flat.update(inner)
        else:
            if full in flat:
                raise ValueError(f"grid key {full!r} is given twice (as a dotted key and inside a table)")
            flat[full] = value
    return flat


def _path(key):
    parts = key.split(".")
    if len(parts) < 2 or not all(part.strip() for part in parts):
        raise ValueError(f"grid key {key!r} should name a configuration key as 'section.key', e.g. 'rule.sigma' or 'training.learning_rate'")
    if parts[0] == "sweep":
        raise ValueError(f"grid key {key!r} names the [sweep] section itself; the grid varies keys of the other sections")
    if parts[0] in _NOT_RUN:
        raise ValueError(f"grid key {key!r}: [{parts[0]}] does not change a run; give the sweep's output folder to run_sweep (out_dir)")
    return parts


def _lookup(config, parts):
    """``(found, value, depth)``: the value at ``parts`` in ``config``, or how deep the path reaches and what stops it."""
    node = config
    for depth, part in enumerate(parts):
        if not isinstance(node, Mapping):
            return False, node, depth
        if part not in node:
            return False, None, depth
        node = node[part]
    return True, node, len(parts)


def _assign(config, parts, value):
    node = config
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = copy.deepcopy(value)


def _describe_key(parts):
    return f"[{parts[0]}] {'.'.join(parts[1:])}"


def _check_values(key, values):
    """The grid's list of values of ``key`` as a list; ValueError for an empty list, a non-list or a value listed twice."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        raise ValueError(f"grid[{key!r}] should be a list of the values {key!r} takes, got {values!r}; "
                         f"e.g. {key!r}: [{values!r}] for a single value")
    values = list(values)
    if not values:
        raise ValueError(f"grid[{key!r}] is empty; give at least one value")
    if key == "training.learning_rate":
        normal = [float(v) for v in check_learning_rates(values, f"grid[{key!r}]")]
    elif key == "training.seeds":
        normal = check_seeds(values, f"grid[{key!r}]")
    else:
        normal = values
    seen = {}
    for original, value in zip(values, normal, strict=True):
        try:
            text = canonical_json(value)
        except (TypeError, ValueError) as error:
            raise ValueError(f"grid[{key!r}]: the value {original!r} cannot be stored in a configuration ({error})") from None
        if text in seen:
            raise ValueError(f"grid[{key!r}] lists the value {original!r} twice (as {seen[text]!r} and {original!r}); "
                             "each value once, or the same point runs twice")
        seen[text] = original
    return normal


def _members(config, grid, source):
    """The sorted learning rates and seeds of a point: from the grid, else the base (seeds default 0)."""
    training = config.get("training", {})
    if "training.learning_rate" in grid:
        lrs = grid["training.learning_rate"]
    elif "learning_rate" in training:
        lrs = [float(v) for v in check_learning_rates(training["learning_rate"], "[training] learning_rate")]
    else:
        raise ValueError(f"{source}: [training] needs 'learning_rate' (in the base configuration or as the grid key "
                         "'training.learning_rate')")
    seeds = grid["training.seeds"] if "training.seeds" in grid else check_seeds(training.get("seeds", 0), "[training] seeds")
    for name, values in (("learning_rate", lrs), ("seeds", seeds)):
        repeated = sorted({v for v in values if values.count(v) > 1})
        if repeated:
            raise ValueError(f"{source}: [training] {name} lists {repeated[0]!r} more than once; each member once")
    return sorted(lrs), sorted(seeds)


def _split_evenly(values, n_chunks):
    """``values`` in ``n_chunks`` consecutive chunks whose lengths differ by at most one (longer ones first)."""
    size, extra = divmod(len(values), n_chunks)
    chunks, start = [], 0
    for i in range(n_chunks):
        stop = start + size + (1 if i < extra else 0)
        chunks.append(values[start:stop])
        start = stop
    return chunks


def _member_blocks(lrs, seeds, max_members):
    """Blocks (learning rates, seeds) of at most ``max_members`` members covering lrs x seeds once, as few as rectangles allow."""
    if len(seeds) <= max_members:
        per_task = max_members // len(seeds)
        return [(block, seeds) for block in _split_evenly(lrs, math.ceil(len(lrs) / per_task))]
    seed_blocks = _split_evenly(seeds, math.ceil(len(seeds) / max_members))
    return [([lr], block) for lr in lrs for block in seed_blocks]


class Sweep:
    """A grid of configurations over a base configuration, split into tasks of one ensemble each.

    Parameters
    ----------
    base : dict
        A configuration (sections as in :mod:`bioplastic.config`); the grid's
        keys may be missing from it (``[training] learning_rate`` when the
        grid gives it). Its ``[output]`` section is kept as
        :attr:`output_dir` and left out of the tasks.
    grid : dict
        ``{"section.key": [values...]}``, e.g. ``{"rule.sigma": [1e-4, 1e-3],
        "training.learning_rate": [0.01, 0.03], "network.sizes": [[6, 5, 3],
        [6, 10, 3]], "training.seeds": [0, 1, 2]}``; nested tables
        (``{"rule": {"sigma": [...]}}``) are read as dotted keys.
    max_members : int, default 16
        Most ensemble members (learning rates x seeds) per task.
    base_dir : path, optional
        Folder that a relative ``[rule] module`` file starts from (a
        configuration file's folder).

    Attributes
    ----------
    tasks : list of SweepTask
        In the grid's order (the first key varies slowest), each point's
        tasks in increasing learning rate and seed.
    grid : dict of str to list
        The flattened grid (learning rates as floats, seeds as ints).
    grid_keys : list of str
        The grid's keys other than :data:`MEMBER_KEYS`: the columns of the
        merged table besides ``learning_rate`` and ``seed``.

    Raises
    ------
    TypeError
        If ``base`` or ``grid`` is not a dict.
    ValueError
        For an empty grid or a key without values, a bad key, a key set in
        both the base and the grid, overlapping grid keys, a value or member
        listed twice, and any point whose configuration
        :func:`bioplastic.config.validate_config` refuses (the message names
        the point).
    """

    def __init__(self, *, base, grid, max_members=DEFAULT_MAX_MEMBERS, base_dir=None):
        if not isinstance(base, Mapping):
            raise TypeError(f"base should be a configuration (a dict of sections), got {type(base).__name__}")
        if not isinstance(grid, Mapping):
            raise TypeError(f"grid should be a dict of 'section.key' to a list of values, got {type(grid).__name__}")
        if "sweep" in base:
            raise ValueError("base holds a [sweep] section; give its grid as grid= or build the sweep with Sweep.from_config(config)")
        self.base = copy.deepcopy(dict(base))
        self.max_members = check_positive_int(max_members, "max_members")
        self.base_dir = None if base_dir is None else str(Path(base_dir).resolve())
        flat = _flatten_grid(grid)
        if not flat:
            raise ValueError("the sweep's grid is empty; give at least one key and its values, e.g. grid={'rule.sigma': [1e-4, 1e-3]}")
        paths = {key: _path(key) for key in flat}
        for key, parts in paths.items():
            for other, other_parts in paths.items():
                if other != key and other_parts[: len(parts)] == parts:
                    raise ValueError(f"grid keys {key!r} and {other!r} overlap: {other!r} lies inside {key!r}; vary one of them")
            found, value, depth = _lookup(self.base, parts)
            if found:
                raise ValueError(f"{key!r} is set both in the base configuration ({_describe_key(parts)} = {value!r}) and in the grid "
                                 f"({list(flat[key])!r}); remove it from one of them")
            if value is not None and depth > 1:
                raise ValueError(f"grid key {key!r} sets a key inside {_describe_key(parts[:depth])}, which the base configuration sets "
                                 f"to {value!r} (not a table); remove one of them")
            if parts[0] == "training" and parts[-1] == "n_threads" and len(parts) == 2:
                raise ValueError(f"grid key {key!r}: a sweep runs every task on one thread (n_threads=1); vary the workers instead")
        if "n_threads" in self.base.get("training", {}):
            raise ValueError(f"[training] n_threads = {self.base['training']['n_threads']!r}: a sweep runs every task on one thread "
                             "(n_threads=1, workers in parallel); remove it from the base configuration")
        self.grid = {key: _check_values(key, values) for key, values in flat.items()}
        self.grid_keys = [key for key in self.grid if key not in MEMBER_KEYS]
        self.tasks = self._split()

    @classmethod
    def from_config(cls, config, *, base_dir=None):
        """A sweep from a configuration dict with a ``[sweep]`` section (``grid``, optionally ``max_members``)."""
        if not isinstance(config, Mapping):
            raise TypeError(f"a sweep configuration should be a dict of sections, got {type(config).__name__}")
        if "sweep" not in config:
            raise ValueError("the configuration has no [sweep] section; add one, e.g. [sweep] grid = {\"rule.sigma\" = [1e-4, 1e-3]}")
        section = config["sweep"]
        if not isinstance(section, Mapping):
            raise ValueError(f"[sweep] should be a table, got {section!r}")
        unknown = sorted(set(section) - set(_SWEEP_KEYS))
        if unknown:
            raise ValueError(f"unknown key(s) {unknown} in [sweep]; expected some of {list(_SWEEP_KEYS)}")
        if "grid" not in section:
            raise ValueError("[sweep] needs a 'grid', e.g. grid = {\"rule.sigma\" = [1e-4, 1e-3]}")
        base = {name: table for name, table in config.items() if name != "sweep"}
        return cls(base=base, grid=section["grid"], max_members=section.get("max_members", DEFAULT_MAX_MEMBERS), base_dir=base_dir)

    @classmethod
    def from_file(cls, path):
        """A sweep from a TOML configuration file with a ``[sweep]`` section (see the module documentation)."""
        path = Path(path)
        if path.is_dir():
            raise ValueError(f"sweep file {path} is a directory; expected a TOML file")
        if not path.exists():
            raise FileNotFoundError(f"sweep file {path} does not exist")
        try:
            config = tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError as error:
            raise ValueError(f"sweep file {path} is not valid TOML: {error}") from None
        try:
            return cls.from_config(config, base_dir=path.parent)
        except ValueError as error:
            raise ValueError(f"{path}: {error}") from None

    @property
    def output_dir(self):
        """The base configuration's ``[output] dir``, or ``None``."""
        return self.base.get("output", {}).get("dir")

    @property
    def n_points(self):
        """Number of configurations (grid points, members included)."""
        return math.prod(len(values) for values in self.grid.values()) if self.grid else 0

    @property
    def n_members(self):
        """Ensemble members over all tasks."""
        return sum(task.n_members for task in self.tasks)

    def __len__(self):
        return len(self.tasks)

    def __iter__(self):
        return iter(self.tasks)

    def __repr__(self):
        return f"Sweep({len(self.tasks)} tasks, {self.n_members} members, grid keys {list(self.grid)}, max_members={self.max_members})"

    def _split(self):
        run_base = {name: table for name, table in self.base.items() if name not in _NOT_RUN}
        tasks = []
        for values in itertools.product(*(self.grid[key] for key in self.grid_keys)):
            point = dict(zip(self.grid_keys, values, strict=True))
            source = "sweep point " + (", ".join(f"{k}={v!r}" for k, v in point.items()) if point else "(the base configuration)")
            config = copy.deepcopy(run_base)
            for key, value in point.items():
                _assign(config, key.split("."), value)
            if not isinstance(config.get("training", {}), Mapping):
                raise ValueError(f"{source}: [training] should be a table, got {config['training']!r}")
            lrs, seeds = _members(config, self.grid, source)
            config.setdefault("training", {})
            config["training"]["learning_rate"], config["training"]["seeds"] = lrs, seeds
            try:
                checked = {**config, "output": self.base["output"]} if "output" in self.base else config
                validate_config(checked, source=source, base_dir=self.base_dir)
            except TypeError as error:
                raise ValueError(f"{source}: {error}") from None
            for lr_block, seed_block in _member_blocks(lrs, seeds, self.max_members):
                task_config = copy.deepcopy(config)
                task_config["training"]["learning_rate"], task_config["training"]["seeds"] = list(lr_block), list(seed_block)
                tasks.append(SweepTask(task_config, point, base_dir=self.base_dir))
        return tasks


def load_sweep(path):
    """Read a sweep from a TOML configuration file with a ``[sweep]`` section (:meth:`Sweep.from_file`)."""
    return Sweep.from_file(path)
