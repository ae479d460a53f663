"""Optimisers: how update directions become synaptic changes.

A plasticity rule gives a direction ``g`` for every parameter it changes (a
gradient estimate); the optimiser turns it into a change with each member's
learning rate ``eta`` (shape ``(n_members,)``):

* :class:`SGD`: ``W <- W - eta g`` (the default; the engine folds ``-eta``
  into the rule's own sums over samples, so no extra pass is made);
* :class:`Momentum`: ``v <- mu v + g``, ``W <- W - eta v`` (heavy ball, the
  convention of PyTorch's ``SGD(momentum=mu)``; ``nesterov=True`` uses
  ``W <- W - eta (g + mu v)``);
* :class:`Adam`: ``m <- b1 m + (1 - b1) g``, ``v <- b2 v + (1 - b2) g^2``,
  ``W <- W - eta m^ / (sqrt(v^) + eps)`` with the bias corrections
  ``m^ = m / (1 - b1^t)``, ``v^ = v / (1 - b2^t)`` (Kingma & Ba, ICLR 2015).

Optimiser state (velocities, moments, step counts) has the ensemble axis
first, lives in the engine beside the weights and is checkpointed with them.
A member whose learning rate is 0 (frozen) does not change.

Every optimiser takes ``weight_decay`` (``lambda >= 0``, default 0): L2
regularisation of the weights, whose direction becomes ``g + lambda W``
before the optimiser uses it (for the weights ``W<k>`` only: biases and the
rule's own state are not decayed). With SGD this is
``W <- W - eta (g + lambda W)``; with momentum the decay enters the
velocity; with Adam it is the coupled L2 of PyTorch's
``Adam(weight_decay=...)`` (the decay passes through the moments and so is
rescaled per synapse; this is not AdamW's decoupled decay). SGD with
``weight_decay > 0`` is not fused (the engine asks the rule for ``g`` and
steps ``W`` itself); at 0 every optimiser steps exactly as without it, and
its ``describe()`` leaves the 0 out, so the configurations (and
checkpoints) of runs without decay are unchanged.
"""

from __future__ import annotations

import numpy as np

from ._params import Parameterised, build_registered
from ._validation import check_nonnegative, check_positive

__all__ = ["OPTIMISERS", "SGD", "Adam", "Momentum", "Optimiser", "get_optimiser"]

#: Optimisers by name.
OPTIMISERS: dict[str, type] = {}


class Optimiser(Parameterised):
    """Base class of optimisers.

    Subclasses set ``name``, implement :meth:`init_state` and :meth:`step`,
    and store every keyword-only constructor parameter under its own name.
    """

    name = None
    weight_decay = 0.0

    @property
    def fused(self):
        """Whether the change is ``-eta g`` exactly (the engine then asks the rule for ``-eta g`` directly)."""
        return False

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        name = cls.__dict__.get("name")
        if name is not None:
            OPTIMISERS[name] = cls

    def init_state(self, parameters):
        """Initial optimiser state for ``parameters`` (``{name: ndarray with the ensemble axis first}``).

        Returns
        -------
        dict of str to ndarray
            State arrays, ensemble axis first.
        """
        return {}

    def step(self, parameters, directions, learning_rate, state):
        """Change ``parameters`` in place from their ``directions``.

        Parameters
        ----------
        parameters : dict of str to ndarray of shape (n_members, ...)
            The arrays to change (views into the engine's state).
        directions : dict of str to ndarray
            A direction for some of the parameters (missing: unchanged).
        learning_rate : ndarray of shape (n_members,)
        state : dict of str to ndarray
            The optimiser state of these members (views; changed in place).
        """
        raise NotImplementedError

    def describe(self):
        description = {"name": self.name, **super().describe()}
        if description.get("weight_decay") == 0:  # no decay: described as before decay existed
            del description["weight_decay"]
        return description

    def _decayed(self, key, g, p):
        """The direction ``g + weight_decay * p`` of a weight ``W<k>`` (``g`` itself for biases, rule state and no decay)."""
        if self.weight_decay and _is_weight(key):
            return g + p.dtype.type(self.weight_decay) * p
        return g


def _check_decay(value, name):
    """A decay factor in [0, 1)."""
    value = check_nonnegative(value, name)
    if value >= 1:
        raise ValueError(f"{name} must lie in [0, 1), got {value!r}")
    return value


def _is_weight(key):
    """Whether ``key`` names a weight array, ``W<k>`` (the engine's names: biases are ``b<k>``, rule state ``rule/...``)."""
    return key.startswith("W") and key[1:].isdigit()


def _per_member(learning_rate, array):
    """``learning_rate`` shaped to broadcast against ``array`` (members first)."""
    return np.asarray(learning_rate, dtype=array.dtype).reshape((-1,) + (1,) * (array.ndim - 1))


class SGD(Optimiser):
    """Plain gradient descent, ``W <- W - eta g`` (bit-identical to the rules' former updates).

    Parameters
    ----------
    weight_decay : float >= 0, default 0
        L2 regularisation of the weights: ``W <- W - eta (g + weight_decay W)``
        (biases and rule state: ``- eta g``). Without it the engine fuses the
        step into the rule (``-eta`` folded into its sums over samples); with
        it the rule gives ``g`` and :meth:`step` makes the change, so that the
        decay uses the weights before the step.
    """

    name = "sgd"

    def __init__(self, *, weight_decay=0.0):
        self.weight_decay = check_nonnegative(weight_decay, "weight_decay")

    @property
    def fused(self):
        return self.weight_decay == 0

    def step(self, parameters, directions, learning_rate, state):
        for key, g in directions.items():
            p = parameters[key]
            p -= _per_member(learning_rate, p) * self._decayed(key, g, p)


class Momentum(Optimiser):
    """Gradient descent with momentum.

    Parameters
    ----------
    momentum : float in [0, 1), default 0.9
        ``mu``: how much of the previous velocity is kept each step.
    nesterov : bool, default False
        Nesterov's variant, ``W <- W - eta (g + mu v)``.
    weight_decay : float >= 0, default 0
        L2 regularisation of the weights: ``g`` is replaced by ``g +
        weight_decay W`` (the weights before the step) in both formulas, as
        in PyTorch's ``SGD(momentum=mu, weight_decay=...)``; biases and rule
        state are not decayed.
    """

    name = "momentum"

    def __init__(self, *, momentum=0.9, nesterov=False, weight_decay=0.0):
        self.momentum = _check_decay(momentum, "momentum")
        if not isinstance(nesterov, (bool, np.bool_)):
            raise TypeError(f"nesterov should be True or False, got {nesterov!r}")
        self.nesterov = bool(nesterov)
        self.weight_decay = check_nonnegative(weight_decay, "weight_decay")

    def init_state(self, parameters):
        return {f"velocity/{k}": np.zeros_like(v) for k, v in parameters.items()}

    def step(self, parameters, directions, learning_rate, state):
        mu = self.momentum
        for key, g in directions.items():
            p, v = parameters[key], state[f"velocity/{key}"]
            g = self._decayed(key, g, p)
            v *= mu
            v += g
            change = g + mu * v if self.nesterov else v
            p -= _per_member(learning_rate, p) * change


class Adam(Optimiser):
    """Adam: per-synapse step sizes from running moments of the directions.

    Parameters
    ----------
    beta1 : float in [0, 1), default 0.9
        Decay of the first moment ``m``.
    beta2 : float in [0, 1), default 0.999
        Decay of the second moment ``v``.
    epsilon : float > 0, default 1e-8
        Added to ``sqrt(v^)`` in the denominator.
    weight_decay : float >= 0, default 0
        Coupled L2 regularisation of the weights, as PyTorch's
        ``Adam(weight_decay=...)``: ``g`` is replaced by ``g + weight_decay W``
        (the weights before the step) before it enters the moments, so the
        decay is rescaled per synapse like the rest of the direction. This is
        not AdamW's decoupled decay (``W <- W - eta weight_decay W`` beside the
        Adam step). Biases and rule state are not decayed.
    """

    name = "adam"

    def __init__(self, *, beta1=0.9, beta2=0.999, epsilon=1e-8, weight_decay=0.0):
        self.beta1 = _check_decay(beta1, "beta1")
        self.beta2 = _check_decay(beta2, "beta2")
        self.epsilon = check_positive(epsilon, "epsilon")
        self.weight_decay = check_nonnegative(weight_decay, "weight_decay")

    def init_state(self, parameters):
        n_members = len(next(iter(parameters.values())))
        state = {"steps": np.zeros(n_members, dtype=np.int64)}
        for k, v in parameters.items():
            state[f"m/{k}"] = np.zeros_like(v)
            state[f"v/{k}"] = np.zeros_like(v)
        return state

    def step(self, parameters, directions, learning_rate, state):
        steps = state["steps"]
        steps += 1
        b1, b2 = self.beta1, self.beta2
        for key, g in directions.items():
            p, m, v = parameters[key], state[f"m/{key}"], state[f"v/{key}"]
            g = self._decayed(key, g, p)
            m *= b1
            m += (1 - b1) * g
            v *= b2
            v += (1 - b2) * np.square(g)
            correction1 = _per_member(1 - b1 ** steps.astype(float), p)
            correction2 = _per_member(1 - b2 ** steps.astype(float), p)
            p -= _per_member(learning_rate, p) * (m / correction1) / (np.sqrt(v / correction2) + p.dtype.type(self.epsilon))


def get_optimiser(optimiser):
    """An :class:`Optimiser` from a name (``"sgd"``, ``"momentum"``, ``"adam"``), a dict ``{"name": ..., params}``, or an instance."""
    if optimiser is None:
        return SGD()
    if isinstance(optimiser, Optimiser):
        return optimiser
    if isinstance(optimiser, dict):
        params = dict(optimiser)
        if "name" not in params:
            raise ValueError(f"an optimiser description needs a 'name', got {optimiser!r}")
        name = params.pop("name")
    elif isinstance(optimiser, str):
        name, params = optimiser, {}
    else:
        raise TypeError(f"optimiser should be a name, a dict or an Optimiser, got {optimiser!r}")
    return build_registered(OPTIMISERS, name, params, "optimiser")
