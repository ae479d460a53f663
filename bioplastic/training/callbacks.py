"""Callbacks: extra records made at every record point of a training run.

A callback is an object with ``name``, ``describe()`` and
``measure(engine, task)``, which returns ``{record name: ndarray of shape
(n_members, ...)}`` for the engine's current state; :func:`~bioplastic.train`
(through :func:`~bioplastic.training.run_ensemble`) stores each under its
name in ``history.records`` with the record axis second, NaN after a member
diverged, and keeps them in checkpoints. Callbacks only read the engine:
they never change its weights, rule state or random streams, so a run with
callbacks equals one without them.

* :class:`FeedbackAngle` -- ``"weight_angle"``: the angle between each
  projection's forward weights and its feedback pathway;
* :class:`UpdateAngle` -- ``"update_angle"``: the angle between the rule's
  update directions and backprop's on a fixed probe minibatch.
"""

from __future__ import annotations

import numpy as np

from .._params import Parameterised
from .._validation import check_positive_int, check_seed
from ..ops import is_conv
from ..ops.noise import synaptic_noise_shape
from .probes import cosine_similarity, update_cosine_similarity

__all__ = ["Callback", "FeedbackAngle", "UpdateAngle", "angle_degrees", "check_callbacks"]


def angle_degrees(a, b):
    """Angle between two arrays per ensemble member, in degrees: ``arccos`` of their cosine similarity.

    Parameters
    ----------
    a, b : ndarray of shape (n_members, ...)

    Returns
    -------
    ndarray of shape (n_members,)
        90 where either array is zero.
    """
    return np.degrees(np.arccos(np.clip(cosine_similarity(a, b), -1.0, 1.0)))


class Callback(Parameterised):
    """Base class of callbacks (see the module documentation).

    Subclasses set ``name``, store their keyword-only constructor parameters
    under their own names and implement :meth:`measure`. During ``measure``
    the training loop has set ``record_index_``: the position of the record
    being made (0: the initial state; the same after a resume as in an
    uninterrupted run).
    """

    name = None

    def measure(self, engine, task):
        """Records at the engine's current state, ``{name: ndarray of shape (n_members, ...)}``.

        Parameters
        ----------
        engine : NumpyEngine
            Read only (weights ``state_``, ``rule_state_``, ``network``,
            ``rule``, ``loss``).
        task : Task
        """
        raise NotImplementedError(f"{type(self).__name__} should implement measure()")

    def describe(self):
        return {"name": self.name, **super().describe()}


def _direct_feedback_path(weights, k):
    """``W_{L-1} ... W_k`` per member, shape ``(n_members, n_out, n_pre_k)``: the forward path DFA's ``D_{k-1}`` stands in for."""
    path = weights[-1]
    for j in range(len(weights) - 2, k - 1, -1):
        path = np.matmul(path, weights[j])
    return path


class FeedbackAngle(Callback):
    """``"weight_angle"``: angle (degrees) between each projection's forward weights and its feedback matrix, shape ``(n_members, n_layers)``.

    For projection ``k >= 1`` of a rule with a feedback pathway
    (:class:`~bioplastic.plasticity.FeedbackRule`), the angle between
    ``W_k`` (shape ``(n_post, n_pre)``) and ``B_k^T``, the matrix that
    carries its delta down (``B_k`` from the rule's
    :meth:`~bioplastic.plasticity.FeedbackRule.feedback_matrices`: the rule
    state ``"B<k>"``, or sign-symmetric matrices built from ``W_k``), as
    vectors: ``arccos(<W_k, B_k^T> / (|W_k| |B_k|))``. 0 for ``B_k = c W_k^T``
    with ``c > 0``, about 90 for a random ``B_k``. Projection 0 carries no
    delta down: NaN. For a convolutional projection ``B_k`` has the kernel's
    shape and the angle is between the kernels ``W_k`` and ``B_k``.

    Direct feedback alignment sends the readout's error to hidden layer
    ``k - 1`` through ``D_{k-1}`` (shape ``(n_{k-1}, n_out)``) in place of
    the forward path ``W_{L-1} ... W_k`` (activation derivatives left out);
    its entry ``k`` is the angle between ``D_{k-1}^T`` and that product
    (FA's angle when there is one hidden layer, where DFA is FA; NaN where
    that path runs through a convolution). For rules
    without a feedback pathway (backprop, node perturbation, ...): NaN.

    Sign symmetry with ``magnitude="brsf"`` (magnitudes drawn afresh every
    step) is measured with one Gaussian draw from ``seed``.

    Parameters
    ----------
    seed : int, default 0
        Seed of the noise a rule's feedback matrices may need (``"brsf"``).
    """

    name = "feedback_angle"

    def __init__(self, *, seed=0):
        self.seed = check_seed(seed, "seed")

    def measure(self, engine, task):
        from ..plasticity._feedback import FeedbackRule
        from ..plasticity.feedback_alignment import DirectFeedbackAlignment

        network, rule, state = engine.network, engine.rule, engine.state_
        out = np.full((state.n_members, network.n_layers), np.nan)
        if not isinstance(rule, FeedbackRule):
            return {"weight_angle": out}
        rule_state = {k: v.copy() for k, v in engine.rule_state_.items()}
        with np.errstate(all="ignore"):
            if isinstance(rule, DirectFeedbackAlignment):
                direct = rule.feedback_matrices(network, state, rule_state)
                for k in range(1, network.n_layers):
                    if not any(is_conv(p) for p in network.projections[k:]):  # a forward path of matrices (none through kernels)
                        out[:, k] = angle_degrees(_direct_feedback_path(state.weights, k), np.swapaxes(direct[k - 1], -1, -2))
                return {"weight_angle": out}
            synaptic_noise = None
            if any(rule.noise_needs(network).synapse):
                rng = np.random.default_rng(self.seed)
                synaptic_noise = [rng.standard_normal((state.n_members, *synaptic_noise_shape(p))).astype(state.dtype)
                                  for p in network.projections]
            feedback = rule.feedback_matrices(network, state, rule_state, synaptic_noise=synaptic_noise)
            for k in range(1, network.n_layers):
                if feedback[k] is not None:  # a kernel's feedback has the kernel's shape; a matrix's is its transpose's
                    b = feedback[k] if is_conv(network.projections[k]) else np.swapaxes(feedback[k], -1, -2)
                    out[:, k] = angle_degrees(state.weights[k], b)
        return {"weight_angle": out}


class UpdateAngle(Callback):
    """``"update_angle"``: angle (degrees) between the rule's weight-update directions and backprop's, shape ``(n_members, n_layers)``.

    Both are computed on one probe minibatch of ``batch_size`` training
    samples, drawn once from the task's training set with ``seed`` (the
    first minibatch of an epoch order drawn with it, so the same probe at
    every record and after a resume), from the members' current weights and
    rule state (a copy: the run is not changed), with the noise the rule
    needs drawn from ``seed`` (:func:`~bioplastic.analysis.update_cosine_similarity`).
    They are the rule's directions (gradient estimates), before an optimiser
    turns them into changes; backprop uses the rule's ``batch_reduction``
    (which the angle does not depend on). 0 for backprop itself and for
    feedback alignment with ``B_k = W_k^T``; NaN for projections the rule
    does not change.

    Parameters
    ----------
    batch_size : int, default 100
        Samples in the probe minibatch (at most the training set).
    seed : int, default 0
        Seed of the probe minibatch and of the rule's noise.
    """

    name = "update_angle"

    def __init__(self, *, batch_size=100, seed=0):
        self.batch_size = check_positive_int(batch_size, "batch_size")
        self.seed = check_seed(seed, "seed")
        self._probe = None

    def probe(self, task, dtype):
        """The probe minibatch ``(x, target)`` of ``task`` (drawn once, then reused)."""
        if self._probe is None or self._probe[0] is not task or self._probe[1] != np.dtype(dtype):
            x, target = next(iter(task.batches(self.batch_size, np.random.default_rng(self.seed))))
            self._probe = (task, np.dtype(dtype), np.asarray(x, dtype=dtype), np.asarray(target, dtype=dtype))
        return self._probe[2], self._probe[3]

    def measure(self, engine, task):
        from ..plasticity.backprop import Backprop

        x, target = self.probe(task, engine.dtype)
        rule_state = {k: v.copy() for k, v in engine.rule_state_.items()} or None
        reference = Backprop(batch_reduction=engine.rule.batch_reduction)
        rng = np.random.default_rng(self.seed)
        with np.errstate(all="ignore"):
            if any(engine.rule.noise_needs(engine.network).presynaptic):
                cosines = _presynaptic_update_cosines(engine, x, target, reference, rng, rule_state)
            else:
                cosines = update_cosine_similarity(engine.network, engine.state_, x, target, engine.loss, engine.rule, reference,
                                                   seed=rng, rule_state=rule_state)
            return {"update_angle": np.degrees(np.arccos(np.clip(cosines, -1.0, 1.0)))}


def _presynaptic_update_cosines(engine, x, target, reference, rng, rule_state):
    """Per-layer cosine similarity of a rule that takes presynaptic noise inputs (drawn from ``rng``) with ``reference``'s updates.

    :func:`~bioplastic.analysis.update_cosine_similarity` for a rule whose
    :class:`~bioplastic.plasticity.NoiseNeeds` names only presynaptic noise
    (unit Gaussian, shape ``(n_members, batch, n_pre)``, projection by projection).
    """
    network, state = engine.network, engine.state_
    needs = engine.rule.noise_needs(network)
    if any(needs.population) or any(needs.synapse):
        raise ValueError(f"UpdateAngle measures a rule with presynaptic noise only when it needs no other noise, got {needs!r}")
    presynaptic = [rng.standard_normal((state.n_members, len(x), p.n_pre)).astype(state.dtype) if noisy else None
                   for noisy, p in zip(needs.presynaptic, network.projections, strict=True)]
    ones = np.ones(state.n_members)
    got = engine.rule.directions(network, state, x, target, engine.loss, presynaptic_noise=presynaptic, rule_state=rule_state, scale=ones)
    ref = reference.directions(network, state, x, target, engine.loss, scale=ones)
    out = np.full((state.n_members, network.n_layers), np.nan)
    for k in range(network.n_layers):
        if got.weights[k] is not None and ref.weights[k] is not None:
            out[:, k] = cosine_similarity(got.weights[k], ref.weights[k])
    return out


def check_callbacks(callbacks):
    """``callbacks`` as a tuple of objects with a ``measure`` method (``None``: none)."""
    if callbacks is None:
        return ()
    if not isinstance(callbacks, (list, tuple)):
        raise TypeError(f"callbacks should be a list of callbacks (e.g. [FeedbackAngle()]), got {callbacks!r}")
    for cb in callbacks:
        if not callable(getattr(cb, "measure", None)):
            raise TypeError(f"a callback needs a method measure(engine, task), got {cb!r}")
    return tuple(callbacks)
