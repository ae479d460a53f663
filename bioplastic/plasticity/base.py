"""The contract every plasticity rule follows, and the registry of rules.

A rule is one module in :mod:`bioplastic.plasticity`. It declares

* ``signal``: what reaches its synapses besides their own pre- and
  postsynaptic activity (``"scalar"``: one broadcast neuromodulator per
  sample; ``"vector"``: a per-neuron error carried back through the forward
  weights; ``"feedback"``: a per-neuron error carried back through a
  feedback pathway of its own), and ``local``: whether every quantity a
  synapse uses is available at that synapse (pre- and postsynaptic activity,
  its own noise, a broadcast scalar);
* its noise needs (:meth:`PlasticityRule.noise_needs`): which populations get
  per-sample intrinsic noise, which projections per-step synaptic noise and
  which per-sample presynaptic noise inputs (passed as ``presynaptic_noise``).
  The engine draws that noise once per step from each member's noise stream;
* its own state (:meth:`PlasticityRule.init_rule_state`): arrays such as
  feedback matrices or running baselines, created per ensemble member from
  that member's random stream, stored by the engine with a leading ensemble
  axis, checkpointed and restored with the weights;
* an update **direction** for every parameter it changes
  (:meth:`PlasticityRule.directions`): a gradient estimate, without the
  learning rate, which the optimiser turns into a change.

Constructor parameters are keyword-only and stored as given (validated), so
``repr``, :meth:`~PlasticityRule.describe`, configuration files and results
metadata come from introspection. A subclass that sets ``name`` registers
itself on definition: :func:`get_rule` and :data:`RULES` find every rule,
including one defined in a user's own module (once that module is imported).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .._params import Parameterised, build_registered
from .._validation import check_choice

__all__ = ["RULES", "SIGNALS", "Directions", "NoiseNeeds", "PlasticityRule", "Updates", "get_rule", "registered_rules"]

#: What reaches a rule's synapses: one scalar per sample (a neuromodulator),
#: a per-neuron error carried back through the forward weights, or a
#: per-neuron error carried back through a feedback pathway.
SIGNALS = ("scalar", "vector", "feedback")

#: Registered rules by name and alias (filled as rule classes are defined).
RULES: dict[str, type] = {}


class NoiseNeeds(NamedTuple):
    """Which noise a rule needs; one entry per projection (0 = first layer).

    Attributes
    ----------
    population : tuple of bool
        Layers whose postsynaptic population receives intrinsic noise: one
        unit-variance value per neuron and sample, shape
        ``(n_members, batch, n_post)`` (drawn with the population's noise
        distribution).
    synapse : tuple of bool
        Projections whose synapses receive noise: one unit-variance Gaussian
        draw per step shared by the minibatch, shape
        ``(n_members, n_post, n_pre + 1)`` (the last column perturbs the bias).
    presynaptic : tuple of bool, default ()
        Projections that receive presynaptic noise inputs: one unit-variance
        Gaussian value per presynaptic neuron and sample, shape
        ``(n_members, batch, n_pre)``, passed to
        :meth:`PlasticityRule.directions` as ``presynaptic_noise`` (only to a
        rule that asks for it). Empty: none.
    samples : int, default 1
        Independent draws of the population noise per sample and step: the
        population channels then have shape ``(n_members, samples * batch,
        n_post)``, draw ``s`` in rows ``s * batch .. (s + 1) * batch``.
    kinds : tuple of (str or None), default ()
        Distribution of each layer's population noise (see
        :data:`~bioplastic.ops.NOISE_TYPES`); empty or ``None`` entries: the
        population's own ``noise``.
    """

    population: tuple
    synapse: tuple
    presynaptic: tuple = ()
    samples: int = 1
    kinds: tuple = ()

    @property
    def any(self):
        """Whether any noise is needed at all."""
        return any(self.population) or any(self.synapse) or any(self.presynaptic)


class Directions:
    """Update directions of one step: gradient estimates, times the step's per-member ``scale``.

    Attributes
    ----------
    weights : list of (ndarray of shape (n_members, n_post, n_pre) or None)
        Direction for every projection's weights (``None``: not changed).
    biases : list of (ndarray of shape (n_members, n_post) or None)
    activity : Activity
        The clean pass the directions were computed from.
    loss : ndarray of shape (n_members, batch) or None
        Clean loss of each sample, when the rule computed it.
    state : dict of str to ndarray
        Directions for the rule's own state arrays (same shapes as the
        state), stepped by the optimiser like the weights.
    """

    def __init__(self, weights, biases, activity, loss=None, state=None):
        self.weights = weights
        self.biases = biases
        self.activity = activity
        self.loss = loss
        self.state = {} if state is None else state


#: Former name of :class:`Directions` (``compute_updates`` returns changes, not directions).
Updates = Directions


class PlasticityRule(Parameterised):
    """Base class of plasticity rules; see the module documentation for the contract.

    Subclasses set the class attributes ``name`` (registry key; ``aliases``
    for other names), ``signal``, ``local`` and ``uses_noise``, store every
    keyword-only constructor parameter under its own name, and implement
    :meth:`directions` (and :meth:`noise_needs` / :meth:`init_rule_state` if
    they need noise or state).

    Parameters
    ----------
    batch_reduction : {"mean", "sum"}, default "mean"
        How per-sample updates combine over a minibatch. ``"mean"`` averages
        them (the gradient of the mean loss; the NP paper's SARCOS
        convention); ``"sum"`` sums them (its MNIST convention).
    """

    name = None
    aliases = ()
    signal = "vector"
    local = False
    uses_noise = False

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        name = cls.__dict__.get("name")
        if name is None:
            return
        if not isinstance(name, str) or not name:
            raise TypeError(f"rule class {cls.__qualname__} should set name to a non-empty string, got {name!r}")
        if cls.signal not in SIGNALS:
            raise ValueError(f"rule {name!r} declares signal={cls.signal!r}; expected one of {SIGNALS}")
        for key in (name, *cls.__dict__.get("aliases", ())):
            previous = RULES.get(key)
            if previous is not None and previous.__qualname__ != cls.__qualname__:
                raise ValueError(
                    f"a rule named {key!r} is already registered ({previous.__module__}.{previous.__qualname__}); "
                    f"choose another name for {cls.__module__}.{cls.__qualname__}"
                )
            RULES[key] = cls

    def __init__(self, *, batch_reduction="mean"):
        self.batch_reduction = check_choice(batch_reduction, "batch_reduction", ("mean", "sum"))

    # -- what the rule needs ------------------------------------------------------------
    def perturbed_layers(self, network):
        """Which layers (by projection index) receive intrinsic noise; a list of bool."""
        return [False] * network.n_layers

    def noise_needs(self, network):
        """The noise this rule needs in ``network``, a :class:`NoiseNeeds`.

        By default: intrinsic noise in the :meth:`perturbed_layers` (when the
        rule ``uses_noise``) whose population is noisy, no synaptic noise.
        """
        population = [False] * network.n_layers
        if self.uses_noise:
            mask = self.perturbed_layers(network)
            population = [bool(m) and pop.noise is not None for m, pop in zip(mask, network.populations[1:], strict=True)]
        return NoiseNeeds(tuple(population), (False,) * network.n_layers)

    def init_rule_state(self, network, rng, dtype):
        """The rule's own state for one ensemble member, ``{name: ndarray}`` (default: none).

        Parameters
        ----------
        network : Network
        rng : numpy.random.Generator
            The member's rule-state stream (a child of ``SeedSequence(seed)``).
        dtype : dtype

        Returns
        -------
        dict of str to ndarray
            Arrays without the ensemble axis; the engine stacks the members'.
        """
        return {}

    # -- one step -------------------------------------------------------------------------
    def _sample_factor(self, batch):
        return 1.0 / batch if self.batch_reduction == "mean" else 1.0

    def directions(self, network, state, x, target, loss, *, noise=None, synaptic_noise=None, rule_state=None, scale=None, workspace=None):
        """Update directions (gradient estimates) of one step, a :class:`Directions`.

        Parameters
        ----------
        network : Network
        state : NetworkState
            Weights of the members.
        x : ndarray of shape (batch, n_in)
        target : ndarray of shape (batch, n_out)
        loss : Loss
        noise : list of (ndarray of shape (n_members, batch, n_k) or None), optional
            Unit-variance intrinsic noise per layer (see :meth:`noise_needs`).
        synaptic_noise : list of (ndarray of shape (n_members, n_post, n_pre + 1) or None), optional
            Unit-variance synaptic noise per projection.
        rule_state : dict of str to ndarray, optional
            The rule's state, arrays with the ensemble axis first.
        scale : ndarray of shape (n_members,), optional
            Factor folded into each member's directions before the sums over
            samples (default 1). The engine passes ``-learning_rate`` for
            plain SGD, so the change ``-eta g`` comes out of the same GEMMs.
        workspace : Workspace, optional
            Scratch arrays reused between steps (the numpy engine passes one
            per member block). The returned arrays may live in it, so they
            are valid until the next call with the same workspace.
        """
        raise NotImplementedError(f"{type(self).__name__} should implement directions()")

    def compute_updates(self, network, state, x, target, loss, *, noise=None, scale, workspace=None, **kwargs):
        """Changes of one plain-SGD step, ``-scale * direction`` (a :class:`Directions`).

        ``scale`` (shape ``(n_members,)``) is each member's learning rate;
        the other arguments are those of :meth:`directions`.
        """
        scale = -np.asarray(scale)
        return self.directions(network, state, x, target, loss, noise=noise, scale=scale, workspace=workspace, **kwargs)

    @staticmethod
    def _scale(scale, n_members, dtype):
        """``scale`` as an array of shape (n_members,) (ones by default)."""
        if scale is None:
            return np.ones(n_members, dtype=dtype)
        return np.asarray(scale, dtype=dtype)

    # -- description ------------------------------------------------------------------------
    def describe(self):
        """JSON-serialisable description: the rule's name and every constructor parameter."""
        return {"name": self.name, **super().describe()}


def registered_rules():
    """Registered rule classes by their primary name, ``{name: class}``."""
    return {name: cls for name, cls in RULES.items() if cls.name == name}


def get_rule(name, **params):
    """Build a registered rule from its name (or alias) and parameters.

    Parameters
    ----------
    name : str or PlasticityRule
        A registered name (see :data:`RULES`), or a rule (returned as is).
    **params
        Keyword-only constructor parameters of the rule.

    Raises
    ------
    ValueError
        Unknown name (the message lists the registered ones), or a parameter
        the rule does not take (the message lists those it takes).
    """
    if isinstance(name, PlasticityRule):
        return name
    if not isinstance(name, str):
        raise TypeError(f"rule should be a name or a PlasticityRule, got {name!r}")
    return build_registered(RULES, name, params, "rule")
