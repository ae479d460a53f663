"""Discrete-time numpy engine with a leading ensemble axis.

Every weight array has shape ``(n_members, n_post, n_pre)``. The input batch
``x`` of shape ``(batch, n_in)`` is shared by all members, so the first layer
of the whole ensemble is a single matrix product against the stacked weights.
Per-sample outer products are never materialised: ``sum_b g_b x_b^T`` is one
GEMM.
"""

from __future__ import annotations

import numpy as np

from .._random import member_streams
from ..network import Activity, NetworkState
from ..neurons import draw_noise

__all__ = [
    "NoiseBuffer",
    "NumpyEngine",
    "affine",
    "forward",
    "outer_sum",
    "outer_sum_transposed",
    "perturbation_change",
]


def affine(x, weights, bias=None):
    """Summed synaptic input ``h = x W^T + b`` of every member.

    Parameters
    ----------
    x : ndarray of shape (batch, n_pre) or (n_members, batch, n_pre)
        Presynaptic rates; a 2-D ``x`` is shared by all members.
    weights : ndarray of shape (n_members, n_post, n_pre)
    bias : ndarray of shape (n_members, n_post), optional

    Returns
    -------
    ndarray of shape (n_members, batch, n_post)
    """
    n_members, n_post, n_pre = weights.shape
    if x.ndim == 2:
        # one GEMM for the whole ensemble against the stacked weights, then a
        # single pass that reorders to (member, sample, neuron) and adds the bias
        stacked = (x @ weights.reshape(n_members * n_post, n_pre).T).reshape(x.shape[0], n_members, n_post)
        if n_members == 1:
            h = stacked.reshape(1, x.shape[0], n_post)
            return h + bias[:, None, :] if bias is not None else h
        h = np.empty((n_members, x.shape[0], n_post), dtype=stacked.dtype)
        if bias is not None:
            np.add(stacked.transpose(1, 0, 2), bias[:, None, :], out=h)
        else:
            h[...] = stacked.transpose(1, 0, 2)
        return h
    h = np.matmul(x, weights.transpose(0, 2, 1))
    if bias is not None:
        h += bias[:, None, :]
    return h


def outer_sum(post, pre):
    """Sum over samples of outer products, ``sum_b post_b pre_b^T``, as one GEMM.

    Parameters
    ----------
    post : ndarray of shape (n_members, batch, n_post)
    pre : ndarray of shape (batch, n_pre) or (n_members, batch, n_pre)

    Returns
    -------
    ndarray of shape (n_members, n_post, n_pre)
    """
    return outer_sum_transposed(np.ascontiguousarray(post.transpose(0, 2, 1)), pre)


def outer_sum_transposed(post_t, pre):
    """:func:`outer_sum` for postsynaptic factors already laid out as ``(n_members, n_post, batch)``.

    Parameters
    ----------
    post_t : C-contiguous ndarray of shape (n_members, n_post, batch)
    pre : ndarray of shape (batch, n_pre) or (n_members, batch, n_pre)
        A 2-D ``pre`` is shared by all members: one GEMM for the whole ensemble.

    Returns
    -------
    ndarray of shape (n_members, n_post, n_pre)
    """
    n_members, n_post, batch = post_t.shape
    if pre.ndim == 2:
        return (post_t.reshape(n_members * n_post, batch) @ pre).reshape(n_members, n_post, pre.shape[1])
    return np.matmul(post_t, pre)


def forward(network, state, x):
    """Clean pass: summed inputs and rates of every layer, :class:`~bioplastic.network.Activity`."""
    inputs, rates = [], [x]
    for k, activation in enumerate(network.activations):
        h = affine(rates[-1], state.weights[k], state.biases[k])
        inputs.append(h)
        rates.append(activation(h))
    return Activity(inputs, rates)


def perturbation_change(network, state, activity, noise, sigma):
    """Change of every layer's rate caused by intrinsic noise ``sigma * xi``.

    The perturbed pass ``x~_k = f_k(W_k x~_{k-1} + b_k + sigma xi_k)`` is
    computed as the difference ``dx_k = x~_k - x_k`` propagated from the clean
    pass (``dh_k = W_k dx_{k-1} + sigma xi_k``), which reuses ``W_1 x`` and
    loses no precision to cancellation even for ``sigma = 1e-4`` in float32.

    Parameters
    ----------
    noise : list of (ndarray of shape (n_members, batch, n_k) or None)
        Unit-variance noise per layer; ``None`` for unperturbed layers.

    Returns
    -------
    list of (ndarray or None)
        ``dx_k`` for each layer (``None`` while nothing has been perturbed yet).
    """
    changes = []
    dx = None
    for k, activation in enumerate(network.activations):
        dh = None
        if dx is not None:
            dh = np.matmul(dx, state.weights[k].transpose(0, 2, 1))
        if noise[k] is not None:
            dh = sigma * noise[k] if dh is None else dh + sigma * noise[k]
        dx = None if dh is None else activation.difference(activity.inputs[k], dh, activity.rates[k + 1])
        changes.append(dx)
    return changes


_PREFETCH = None


def _prefetch_executor():
    """A single worker thread that draws the next chunk of noise while the main thread computes."""
    global _PREFETCH
    if _PREFETCH is None:
        from concurrent.futures import ThreadPoolExecutor

        _PREFETCH = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bioplastic-noise")
    return _PREFETCH


class NoiseBuffer:
    """Intrinsic noise of every member, drawn in chunks from each member's own stream.

    Noise for many steps is drawn at once (one call per member and layer),
    in chunks whose length depends only on the batch size, the layer widths
    and the number of steps left in the epoch, never on the ensemble size: a
    member of an ensemble sees exactly the noise of a solo run with its seed.
    With ``prefetch`` the next chunk is drawn on a worker thread while the
    current one is used (numpy releases the GIL while it fills arrays); the
    draws and their order are the same, so results are unchanged. Chunks
    never cross epoch boundaries, so between epochs the streams' states are
    exactly those after the epoch's draws (what a checkpoint stores).

    Parameters
    ----------
    rngs : list of numpy.random.Generator
        One noise stream per member.
    widths : list of (int or None)
        Width of each layer's noise (``None``: layer not perturbed).
    kinds : list of (str or None)
        Noise distribution of each layer.
    batch_size : int
    dtype : dtype
    max_elements : int, default 2**18
        Chunk size bound, in noise values per member.
    prefetch : bool, default True
    """

    def __init__(self, rngs, widths, kinds, batch_size, dtype, *, max_elements=2**18, prefetch=True):
        self.rngs = rngs
        self.widths = widths
        self.kinds = kinds
        self.batch_size = batch_size
        self.dtype = np.dtype(dtype)
        self.prefetch = prefetch
        total = sum(w for w in widths if w is not None)
        self.chunk_cap = max(1, max_elements // max(1, batch_size * total))
        self._sets = {}  # chunk length -> two alternating buffer sets
        self._plan = []
        self._parity = 0
        self._current = None
        self._pending = None
        self._pos = 0
        self._len = 0

    def start_epoch(self, n_steps):
        """Declare that the next ``n_steps`` draws form one epoch (chunks never cross epochs)."""
        self._drain()
        n_steps = int(n_steps)
        self._plan = [self.chunk_cap] * (n_steps // self.chunk_cap)
        if n_steps % self.chunk_cap:
            self._plan.append(n_steps % self.chunk_cap)
        self._pos = self._len = 0
        self._current = None
        if self.prefetch:
            self._submit()

    def _buffers(self, length):
        if length not in self._sets:
            n_members = len(self.rngs)
            self._sets[length] = [
                [None if w is None else np.empty((n_members, length, self.batch_size, w), dtype=self.dtype) for w in self.widths]
                for _ in range(2)
            ]
        self._parity ^= 1
        return self._sets[length][self._parity]

    def _draw(self, buffers):
        for e, rng in enumerate(self.rngs):
            for buf, kind in zip(buffers, self.kinds, strict=True):
                if buf is not None:
                    draw_noise(rng, kind, buf[e].shape, self.dtype, out=buf[e])
        return buffers

    def _submit(self):
        if self._plan:
            buffers = self._buffers(self._plan.pop(0))
            self._pending = _prefetch_executor().submit(self._draw, buffers)

    def _drain(self):
        if self._pending is not None:
            self._pending.result()
            self._pending = None

    def _refill(self):
        if self.prefetch:
            if self._pending is None:
                raise RuntimeError("NoiseBuffer exhausted: call start_epoch(n_steps) first")
            buffers = self._pending.result()
            self._pending = None
            self._submit()
        else:
            if not self._plan:
                raise RuntimeError("NoiseBuffer exhausted: call start_epoch(n_steps) first")
            buffers = self._draw(self._buffers(self._plan.pop(0)))
        self._current = buffers
        self._len = next(b.shape[1] for b in buffers if b is not None)
        self._pos = 0

    def next(self):
        """Return the noise of the next step: list of (ndarray of shape (n_members, batch, n_k) or None)."""
        if self._pos >= self._len:
            self._refill()
        pos = self._pos
        self._pos += 1
        return [None if buf is None else buf[:, pos] for buf in self._current]

    def states(self):
        """Bit-generator states of the member streams (JSON-serialisable)."""
        self._drain()
        return [rng.bit_generator.state for rng in self.rngs]

    def set_states(self, states):
        self._drain()
        for rng, st in zip(self.rngs, states, strict=True):
            rng.bit_generator.state = st


class NumpyEngine:
    """Runs a network, a plasticity rule and synaptic scaling for an ensemble.

    Parameters
    ----------
    network : Network
    rule : PlasticityRule
    loss : Loss
    seeds : sequence of int
        One seed per member: initial weights and noise come from independent
        children of ``SeedSequence(seed)``.
    batch_size : int
    homeostasis : SynapticScaling, optional
    dtype : dtype, default float64
    member_block : int, optional
        Members processed together in one step. By default as many as keep a
        layer's activity (``block x batch x width`` values) within about 64k
        numbers, so the element-wise work stays in cache; results do not
        depend on it beyond rounding.

    Attributes
    ----------
    state_ : NetworkState
        Current weights of all members.
    scaling_targets_ : list
        Synaptic-scaling targets per layer (``None`` where not scaled).
    """

    def __init__(self, network, rule, loss, *, seeds, batch_size, homeostasis=None, dtype=np.float64, member_block=None):
        self.network = network
        self.rule = rule
        self.loss = loss
        self.seeds = [int(s) for s in seeds]
        self.batch_size = batch_size
        self.homeostasis = homeostasis
        self.dtype = np.dtype(dtype)
        streams = [member_streams(s) for s in self.seeds]
        self.state_ = network.init_state(rngs=[s[0] for s in streams], dtype=self.dtype)
        self.noise_ = None
        if rule.uses_noise:
            perturbed = rule.perturbed_layers(network)
            widths, kinds = [], []
            for k, pop in enumerate(network.populations[1:]):
                noisy = perturbed[k] and pop.noise is not None
                widths.append(pop.n_neurons if noisy else None)
                kinds.append(pop.noise if noisy else None)
            if all(w is None for w in widths):
                raise ValueError(f"{rule!r} needs intrinsic noise but no perturbed population of {network!r} has noise")
            self.noise_ = NoiseBuffer([s[1] for s in streams], widths, kinds, batch_size, self.dtype)
        widest = max(p.n_neurons for p in network.populations[1:])
        if member_block is None:
            member_block = max(1, 2**16 // (batch_size * widest))
        self.member_block = int(member_block)
        n = len(self.seeds)
        self._blocks = [slice(i, min(i + self.member_block, n)) for i in range(0, n, self.member_block)]
        self.scaling_targets_ = None
        if homeostasis is not None:
            self.scaling_targets_ = homeostasis.initial_targets(network, self.state_)

    @property
    def n_members(self):
        return len(self.seeds)

    def start_epoch(self, n_steps):
        if self.noise_ is not None:
            self.noise_.start_epoch(n_steps)

    def step(self, x, target, scale):
        """One plasticity step on a minibatch; ``scale`` (shape ``(n_members,)``) is each member's learning rate."""
        noise = self.noise_.next() if self.noise_ is not None else None
        if len(self._blocks) == 1:
            self._apply(self.state_, self.rule.compute_updates(self.network, self.state_, x, target, self.loss, noise=noise, scale=scale))
        else:
            for block in self._blocks:
                state = NetworkState([w[block] for w in self.state_.weights], [None if b is None else b[block] for b in self.state_.biases])
                sub_noise = None if noise is None else [None if n is None else n[block] for n in noise]
                updates = self.rule.compute_updates(self.network, state, x, target, self.loss, noise=sub_noise, scale=scale[block])
                self._apply(state, updates)  # views: changes land in self.state_
        if self.homeostasis is not None:
            self.homeostasis.apply(self.state_, self.scaling_targets_)

    def apply(self, updates):
        """Add weight and bias changes to all members, then apply synaptic scaling."""
        self._apply(self.state_, updates)
        if self.homeostasis is not None:
            self.homeostasis.apply(self.state_, self.scaling_targets_)

    def _apply(self, state, updates):
        for k in range(self.network.n_layers):
            if updates.weights[k] is not None:
                state.weights[k] += updates.weights[k]
            if updates.biases[k] is not None and state.biases[k] is not None:
                state.biases[k] += updates.biases[k]

    def predict(self, x, *, batch_size=None):
        """Outputs of every member, ``ndarray of shape (n_members, n_samples, n_out)``.

        ``batch_size`` (samples per chunk) defaults to keeping each chunk's
        activity of the whole ensemble within about 256k numbers.
        """
        if batch_size is None:
            widest = max(p.n_neurons for p in self.network.populations)
            batch_size = max(16, 2**18 // (self.n_members * widest))
        outs = [forward(self.network, self.state_, x[i : i + batch_size]).output for i in range(0, len(x), batch_size)]
        return np.concatenate(outs, axis=1)

    def set_state(self, state):
        self.state_ = NetworkState(
            [np.ascontiguousarray(w, dtype=self.dtype) for w in state.weights],
            [None if b is None else np.ascontiguousarray(b, dtype=self.dtype) for b in state.biases],
        )
