"""Discrete-time numpy engine with a leading ensemble axis.

Every weight array has shape ``(n_members, n_post, n_pre)``. The input batch
``x`` of shape ``(batch, n_in)`` is shared by all members, so the first layer
of the whole ensemble is a single matrix product against the stacked weights.
Per-sample outer products are never materialised: ``sum_b g_b x_b^T`` is one
GEMM.
"""

from __future__ import annotations

import contextlib

import numpy as np

from .. import _threads
from .._random import member_streams, rule_stream
from .._threads import ThreadPlan, blas_limit, usable_cpus
from .._validation import check_positive_int
from ..network import NetworkState
from ..ops import (
    Workspace,
    affine,
    draw_noise,
    forward,
    outer_sum,
    outer_sum_transposed,
    perturbation_change,
    predict,
    scratch,
    shared_member,
    synaptic_noise_shape,
)
from ..optimisers import get_optimiser

__all__ = [
    "NoiseBuffer",
    "NumpyEngine",
    "ThreadPlan",
    "Workspace",
    "affine",
    "forward",
    "outer_sum",
    "outer_sum_transposed",
    "perturbation_change",
    "predict",
    "scratch",
    "shared_member",
    "single_threaded_blas",
    "usable_cpus",
]


def _even_bounds(n, max_block, *, start=0):
    """``(lo, hi)`` of the fewest blocks of at most ``max_block`` that cover ``start .. start + n`` (sizes within one)."""
    n_blocks = -(-n // max_block)
    bounds = [start + round(j * n / n_blocks) for j in range(n_blocks + 1)]
    return list(zip(bounds[:-1], bounds[1:], strict=True))


def _member_blocks(stream_of, max_block):
    """Split the members into blocks of at most ``max_block`` for stepping.

    Blocks follow runs of members whose noise streams are consecutive (or
    all the same), so that each block's noise is a view of the per-stream
    noise (``slice``, or ``(stream,)`` for one stream shared by the whole
    block); a block whose members use scattered streams gathers its noise
    (an index array). Long runs are cut into blocks of equal size (within
    one); when the runs are so short that following them would more than
    double the number of blocks, the members are simply cut into equal
    blocks.

    Returns
    -------
    blocks : list of slice
    streams : list of (slice or tuple or ndarray)
    """
    n = len(stream_of)
    steps = np.diff(stream_of)
    runs, start = [], 0
    for i in range(1, n + 1):
        if i == n or i - start >= 2 and steps[i - 1] != steps[start] or i - start == 1 and steps[i - 1] not in (0, 1):
            runs.append((start, i))
            start = i
    if len(runs) > 2 * -(-n // max_block):  # scattered streams: following runs would give tiny blocks
        runs = [(0, n)]
    blocks, streams = [], []
    for a, b in runs:
        for lo, hi in _even_bounds(b - a, max_block, start=a):
            idx = stream_of[lo:hi]
            blocks.append(slice(lo, hi))
            if len(idx) == 1 or np.all(np.diff(idx) == 1):
                streams.append(slice(int(idx[0]), int(idx[-1]) + 1))
            elif np.all(idx == idx[0]):
                streams.append((int(idx[0]),))
            else:
                streams.append(idx)
    return blocks, streams


class single_threaded_blas:
    """Context manager: BLAS single-threaded inside the block (restored after).

    Small matrices gain nothing from BLAS threads, which mostly add
    synchronisation (5-50x slower when the cores are busy); parallelism is
    better spent on independent members or runs. Uses ``threadpoolctl``,
    which handles every BLAS library loaded in the process (see
    :func:`bioplastic._threads.blas_limit`).
    """

    def __enter__(self):
        self._limit = blas_limit(1)
        self._limit.__enter__()
        return self

    def __exit__(self, *exc):
        return self._limit.__exit__(*exc)


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
        Width of each layer's noise (``None``: layer not perturbed); one
        value per neuron and sample, shape ``(batch, width)`` per step.
    kinds : list of (str or None)
        Noise distribution of each layer.
    batch_size : int
    dtype : dtype
    members : sequence of int, optional
        Stream of each ensemble member (default: member ``i`` uses stream
        ``i``). Members that share a stream (the same seed) share its noise,
        which is drawn once.
    max_elements : int, default 2**18
        Chunk size bound, in noise values per stream.
    prefetch : bool, default True
        Draw on the prefetch thread. :class:`NumpyEngine` turns it off when
        its CPU budget has no CPU left for the thread (``threads_.prefetch``).
    synaptic_shapes : list of (tuple of int or None), optional
        Per-step shape of each projection's synaptic noise (Gaussian, one
        draw per step shared by the minibatch), e.g. ``(n_post, n_pre + 1)``
        (:func:`~bioplastic.ops.synaptic_noise_shape`);
        ``None``: no synaptic noise there. These channels follow the
        population channels in :meth:`next_streams`.
    presynaptic_widths : list of (int or None), optional
        Width ``n_pre`` of each projection's presynaptic noise inputs
        (Gaussian, one value per presynaptic neuron and sample, shape
        ``(batch, n_pre)`` per step); ``None``: none there. These channels
        come last, so the draws of the other channels are unchanged.
    samples : int, default 1
        Independent draws of the population noise per sample and step: the
        population channels have shape ``(samples * batch, width)`` per step.
    """

    def __init__(self, rngs, widths, kinds, batch_size, dtype, *, members=None, max_elements=2**18, prefetch=True, synaptic_shapes=None,
                 presynaptic_widths=None, samples=1):
        self.rngs = rngs
        self.widths = widths
        self.kinds = kinds
        self.synaptic_shapes = list(synaptic_shapes or [])
        self.presynaptic_widths = list(presynaptic_widths or [])
        # every channel's per-step shape and distribution
        self.samples = check_positive_int(samples, "NoiseBuffer samples")
        rows = self.samples * batch_size
        self._shapes = ([None if w is None else (rows, w) for w in widths] + [None if s is None else tuple(s) for s in self.synaptic_shapes]
                        + [None if w is None else (batch_size, w) for w in self.presynaptic_widths])
        self._kinds = (list(kinds) + [None if s is None else "gaussian" for s in self.synaptic_shapes]
                       + [None if w is None else "gaussian" for w in self.presynaptic_widths])
        self.batch_size = batch_size
        self.dtype = np.dtype(dtype)
        self.prefetch = prefetch
        if members is None:
            members = np.arange(len(rngs))
        self.members = np.asarray(members, dtype=np.intp)
        if self.members.ndim != 1 or len(self.members) == 0 or self.members.min() < 0 or self.members.max() >= len(rngs):
            raise ValueError(f"members should index the {len(rngs)} noise streams, got {members!r}")
        self._identity = len(self.members) == len(rngs) and bool(np.all(self.members == np.arange(len(rngs))))
        total = sum(int(np.prod(shape)) for shape in self._shapes if shape is not None)
        self.chunk_cap = max(1, max_elements // max(1, total))
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
            n_streams = len(self.rngs)
            self._sets[length] = [
                [None if shape is None else np.empty((n_streams, length, *shape), dtype=self.dtype) for shape in self._shapes]
                for _ in range(2)
            ]
        self._parity ^= 1
        return self._sets[length][self._parity]

    def _draw(self, buffers):
        for e, rng in enumerate(self.rngs):
            for buf, kind in zip(buffers, self._kinds, strict=True):
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
        """Return the noise of the next step per member: list of (ndarray of shape (n_members, ...) or None), one per channel."""
        streams = self.next_streams()
        if self._identity:
            return streams
        return [None if n is None else n[self.members] for n in streams]

    def next_streams(self):
        """Noise of the next step per stream: list of (ndarray of shape (n_streams, ...) or None), one per channel.

        The population channels (shape ``(n_streams, batch, n_k)``) come
        first, then the synaptic ones, then the presynaptic ones. ``next_streams()[k][members[i]]`` is
        member ``i``'s noise.
        """
        if self._pos >= self._len:
            self._refill()
        pos = self._pos
        self._pos += 1
        return [None if buf is None else buf[:, pos] for buf in self._current]

    def states(self):
        """Bit-generator states of every member's stream (JSON-serialisable; shared streams repeat)."""
        self._drain()
        return [self.rngs[i].bit_generator.state for i in self.members]

    def set_states(self, states):
        """Restore the streams from :meth:`states` (one state per member)."""
        self._drain()
        if len(states) != len(self.members):
            raise ValueError(f"expected {len(self.members)} noise states (one per member), got {len(states)}")
        for i, st in zip(self.members, states, strict=True):
            self.rngs[i].bit_generator.state = st


class NumpyEngine:
    """Runs a network, a plasticity rule and synaptic scaling for an ensemble.

    Parameters
    ----------
    network : Network
    rule : PlasticityRule
    loss : Loss
    seeds : sequence of int
        One seed per member: initial weights and noise come from independent
        children of ``SeedSequence(seed)``. Members with the same seed share
        their initial weights and their noise (drawn once), exactly as two
        solo runs with that seed would.
    batch_size : int
    homeostasis : SynapticScaling, optional
    dtype : dtype, default float64
    member_block : int, optional
        Members processed together in one step. By default as many as keep a
        layer's activity (``block x batch x width`` values) within about 64k
        numbers, so the element-wise work stays in cache; the members are
        split into blocks of equal size (within one). Results do not depend
        on it beyond rounding.
    n_threads : "auto" or int, default "auto"
        Threads that step member blocks concurrently (numpy releases the
        interpreter lock in its array and BLAS routines, and members are
        independent, so results do not depend on it); at most one per
        block. ``"auto"`` chooses them from the CPU budget and the blocks'
        work (one thread on budgets below 3 CPUs); an explicit number is
        honoured. Together with the BLAS threads and the noise prefetch
        thread they stay within the CPUs the process may use (see
        :mod:`bioplastic._threads` for the policy): the limits are set
        during :meth:`step` and :meth:`predict` and restored afterwards.
        Run many steps inside :meth:`running` to set them once. Whether a
        second thread pays depends on the block size and the machine: the
        many short numpy calls of a step contend for the interpreter lock
        (``benchmarks/sarcos_ensemble.py --threads N`` measures it).

    Attributes
    ----------
    state_ : NetworkState
        Current weights of all members.
    scaling_targets_ : list
        Synaptic-scaling targets per layer (``None`` where not scaled).
    noise_ : NoiseBuffer or None
        Intrinsic noise, one stream per distinct seed.
    threads_ : ThreadPlan
        CPU budget, worker threads, noise prefetch thread and the CPUs left
        to BLAS.
    """

    def __init__(self, network, rule, loss, *, seeds, batch_size, homeostasis=None, dtype=np.float64, member_block=None, n_threads="auto",
                 optimiser=None):
        self.network = network
        self.rule = rule
        self.loss = loss
        self.optimiser = get_optimiser(optimiser)
        self.seeds = [int(s) for s in seeds]
        self.batch_size = batch_size
        self.homeostasis = homeostasis
        self.dtype = np.dtype(dtype)
        self._decorrelation = network.decorrelation
        neuromodulator = getattr(rule, "neuromodulator", None)
        if neuromodulator is not None and neuromodulator.baseline != "clean":
            raise ValueError(
                f"the numpy engine runs {type(rule).__name__} with baseline='clean' (a perturbed and a clean pass), "
                f"got baseline={neuromodulator.baseline!r}; the Brian2 engine runs the running-average baseline"
            )
        distinct = list(dict.fromkeys(self.seeds))
        stream_of = np.array([distinct.index(s) for s in self.seeds], dtype=np.intp)
        streams = [member_streams(s) for s in distinct]
        init = network.init_state(rngs=[s[0] for s in streams], dtype=self.dtype)
        self.state_ = init if len(distinct) == len(self.seeds) else init.take(stream_of)
        self.noise_ = None
        needs = rule.noise_needs(network)
        if rule.uses_noise and not needs.any:
            raise ValueError(f"{rule!r} needs intrinsic noise but no perturbed population of {network!r} has noise")
        self._synaptic = any(needs.synapse)
        self._presynaptic = any(needs.presynaptic)
        if needs.any:
            pops = network.populations[1:]
            widths = [pop.n_neurons if noisy else None for noisy, pop in zip(needs.population, pops, strict=True)]
            chosen = list(needs.kinds) + [None] * (network.n_layers - len(needs.kinds))
            kinds = [(kind or pop.noise) if noisy else None for noisy, pop, kind in zip(needs.population, pops, chosen, strict=True)]
            synaptic = [synaptic_noise_shape(proj) if noisy else None for noisy, proj in zip(needs.synapse, network.projections, strict=True)]
            presynaptic = [proj.n_pre if noisy else None for noisy, proj in zip(needs.presynaptic, network.projections, strict=False)]
            self.noise_ = NoiseBuffer([s[1] for s in streams], widths, kinds, batch_size, self.dtype, members=stream_of, samples=needs.samples,
                                      synaptic_shapes=synaptic if self._synaptic else None,
                                      presynaptic_widths=presynaptic if self._presynaptic else None)
        # the rule's own state, per member from its own stream (members sharing a seed share it)
        own = [rule.init_rule_state(network, rule_stream(s), self.dtype) for s in distinct]
        self.rule_state_ = {name: np.ascontiguousarray(np.stack([o[name] for o in own])[stream_of], dtype=self.dtype) for name in own[0]}
        self.optimiser_state_ = self.optimiser.init_state(self._parameters(self.state_, self.rule_state_))
        widest = max(p.n_neurons for p in network.populations[1:])
        if member_block is None:
            member_block = max(1, 2**16 // (batch_size * widest))
        self.member_block = check_positive_int(member_block, "member_block")
        self._blocks, self._block_streams = _member_blocks(stream_of, self.member_block)
        # first member with the same seed (members that may still be identical), or None
        self._first_of = None if len(distinct) == len(self.seeds) else np.array([self.seeds.index(s) for s in self.seeds], dtype=np.intp)
        # matrix-product flops: the largest GEMM of a step (per member, a lower bound) and a block's step in all
        layer_macs = [p.n_neurons * q.n_neurons for p, q in zip(network.populations[:-1], network.populations[1:], strict=True)]
        self._step_flops = 2.0 * batch_size * max(layer_macs)
        block_flops = 3 * 2.0 * batch_size * sum(layer_macs) * max(b.stop - b.start for b in self._blocks)
        self.threads_ = _threads.plan_threads(n_threads, n_blocks=len(self._blocks), block_flops=block_flops,
                                              itemsize=self.dtype.itemsize, uses_noise=self.noise_ is not None)
        if self.noise_ is not None:
            self.noise_.prefetch = self.threads_.prefetch
        self.n_threads = self.threads_.workers
        self._running = 0
        self._pool = None
        self._workspaces = [Workspace() for _ in self._blocks]
        self.scaling_targets_ = None
        if homeostasis is not None:
            self.scaling_targets_ = homeostasis.initial_targets(network, self.state_)

    @property
    def n_members(self):
        return len(self.seeds)

    def start_epoch(self, n_steps):
        if self.noise_ is not None:
            self.noise_.start_epoch(n_steps)

    @contextlib.contextmanager
    def running(self):
        """Context manager for a run of steps: the BLAS threads of :attr:`threads_` set once for all of them (restored after).

        :meth:`step` sets them itself when called outside; inside, it
        skips that (about 40 us a step).
        """
        with blas_limit(self.threads_.blas_threads(self._step_flops)):
            self._running += 1
            try:
                yield self
            finally:
                self._running -= 1

    def step(self, x, target, scale):
        """One plasticity step on a minibatch; ``scale`` (shape ``(n_members,)``) is each member's learning rate."""
        if not self._running:
            with self.running():
                return self.step(x, target, scale)
        noise = self.noise_.next_streams() if self.noise_ is not None else None
        self._for_each_block(len(self._blocks), self._step_block, x, target, scale, noise)
        if self.homeostasis is not None:
            self.homeostasis.apply(self.state_, self.scaling_targets_)

    def _for_each_block(self, n_blocks, func, *args):
        """Call ``func(i, *args)`` for ``i`` in ``range(n_blocks)``, on the block threads when there are several."""
        if self.n_threads == 1 or n_blocks == 1:
            for i in range(n_blocks):
                func(i, *args)
            return
        if self._pool is None:
            from concurrent.futures import ThreadPoolExecutor

            self._pool = ThreadPoolExecutor(max_workers=self.n_threads, thread_name_prefix="bioplastic-members")
        for future in [self._pool.submit(func, i, *args) for i in range(n_blocks)]:
            future.result()

    def _step_block(self, i, x, target, scale, noise):
        block, streams = self._blocks[i], self._block_streams[i]
        state = self.state_ if len(self._blocks) == 1 else self.state_.view(block)
        workspace = self._workspaces[i]
        sub_noise = None
        if noise is not None:
            if isinstance(streams, slice):
                sub_noise = [None if n is None else n[streams] for n in noise]
            elif isinstance(streams, tuple):  # one stream for the whole block: a broadcast view
                size = block.stop - block.start
                sub_noise = [None if n is None else np.broadcast_to(n[streams[0]], (size,) + n.shape[1:]) for n in noise]
            else:  # scattered streams: gather the block's noise
                sub_noise = [
                    None if n is None else np.take(n, streams, axis=0, out=workspace.get(("noise", k), (len(streams),) + n.shape[1:], n.dtype))
                    for k, n in enumerate(noise)
                ]
        synaptic_noise = presynaptic_noise = None
        if self._synaptic or self._presynaptic:
            n = self.network.n_layers
            channels = sub_noise
            sub_noise = channels[:n]
            if self._synaptic:
                synaptic_noise = channels[n : 2 * n]
            if self._presynaptic:
                presynaptic_noise = channels[-n:]
        rule_state = self.rule_state_ if len(self._blocks) == 1 else {k: v[block] for k, v in self.rule_state_.items()}
        kwargs = dict(noise=sub_noise, synaptic_noise=synaptic_noise, rule_state=rule_state, workspace=workspace)
        if self._presynaptic:  # only a rule that asks for them takes presynaptic noise inputs
            kwargs["presynaptic_noise"] = presynaptic_noise
        fused = self.optimiser.fused  # plain SGD: the rule computes -eta g in its own sums over samples
        directions = self.rule.directions(self.network, state, x, target, self.loss,
                                          **(dict(scale=np.negative(scale[block])) if fused else {}), **kwargs)
        if self._decorrelation is not None:  # R learns from the pass the directions came from (the weights' change does not use R)
            learning = scale[block] != 0  # not the frozen members
            self._decorrelation.update(state.lateral, directions.activity.presynaptic, learning=None if learning.all() else learning)
        if fused:
            self._apply(state, directions, rule_state)  # views: changes land in self.state_
        else:
            opt_state = self.optimiser_state_ if len(self._blocks) == 1 else {k: v[block] for k, v in self.optimiser_state_.items()}
            self.optimiser.step(self._parameters(state, rule_state), self._parameters(directions, directions.state),
                                scale[block], opt_state)

    def _parameters(self, state, rule_state):
        """What the optimiser steps, ``{name: array}``: plastic weights ``W<k>``, their biases ``b<k>``, rule state ``rule/<name>``.

        ``state`` is a state or a :class:`~bioplastic.plasticity.Directions`
        (its ``None`` entries are left out).
        """
        params = {}
        for k, proj in enumerate(self.network.projections):
            if not proj.plastic:
                continue
            if state.weights[k] is not None:
                params[f"W{k}"] = state.weights[k]
            if self.state_.biases[k] is not None and state.biases[k] is not None:
                params[f"b{k}"] = state.biases[k]
        params.update({f"rule/{name}": value for name, value in rule_state.items()})
        return params

    def apply(self, updates):
        """Add weight and bias changes to all members, then apply synaptic scaling."""
        self._apply(self.state_, updates)
        if self.homeostasis is not None:
            self.homeostasis.apply(self.state_, self.scaling_targets_)

    def _apply(self, state, updates, rule_state=None):
        for k in range(self.network.n_layers):
            if updates.weights[k] is not None:
                state.weights[k] += updates.weights[k]
            if updates.biases[k] is not None and state.biases[k] is not None:
                state.biases[k] += updates.biases[k]
        for name, change in getattr(updates, "state", {}).items():
            rule_state[name] += change

    def predict(self, x, *, batch_size=None):
        """Outputs of every member, ``ndarray of shape (n_members, n_samples, n_out)``.

        Computed member block by member block (on the block threads) by
        :func:`predict`, in chunks of ``batch_size`` samples (default: sized
        to the block). Members that share a seed and still have identical
        weights (before the first step) are evaluated once.
        """
        state, copies = self.state_, None
        if self._first_of is not None and all(
            np.array_equal(a, a[self._first_of]) for a in self.state_.weights + self.state_.biases + self.state_.lateral if a is not None
        ):
            distinct, copies = np.unique(self._first_of, return_inverse=True)
            state = self.state_.take(distinct)
        blocks = self._blocks if copies is None else [slice(lo, hi) for lo, hi in _even_bounds(state.n_members, self.member_block)]
        out = np.empty((state.n_members, len(x), self.network.n_outputs), dtype=np.result_type(x, self.dtype))
        members = max(b.stop - b.start for b in blocks)
        widths = [p.n_neurons for p in self.network.populations]
        chunk = min(len(x), batch_size or max(16, 2**16 // (members * max(widths[1:]))))
        flops = 2.0 * chunk * members * max(a * b for a, b in zip(widths[:-1], widths[1:], strict=True))
        with blas_limit(self.threads_.blas_threads(flops)):
            self._for_each_block(len(blocks), self._predict_block, state, blocks, x, batch_size, out)
        return out if copies is None else out[copies]

    def _predict_block(self, i, state, blocks, x, batch_size, out):
        block = blocks[i]
        predict(self.network, state.view(block), x, chunk_size=batch_size, out=out[block])

    def set_state(self, state):
        """Replace the weights of all members (a :class:`~bioplastic.network.NetworkState`)."""
        expected = self.network.decorrelated_layers()
        if [r is not None for r in state.lateral] != expected:
            raise ValueError(f"the state has lateral decorrelation matrices in front of projections "
                             f"{[k for k, r in enumerate(state.lateral) if r is not None]}, but the network decorrelates "
                             f"{[k for k, on in enumerate(expected) if on]}")
        self.state_ = NetworkState(
            [np.ascontiguousarray(w, dtype=self.dtype) for w in state.weights],
            [None if b is None else np.ascontiguousarray(b, dtype=self.dtype) for b in state.biases],
            [None if r is None else np.ascontiguousarray(r, dtype=self.dtype) for r in state.lateral],
        )

    def run_arrays(self):
        """Everything a run changes besides the weights, ``{name: array}``: rule state (``rule/...``) and optimiser state (``optimiser/...``)."""
        arrays = {f"rule/{k}": v for k, v in self.rule_state_.items()}
        arrays.update({f"optimiser/{k}": v for k, v in self.optimiser_state_.items()})
        return arrays

    def set_run_arrays(self, arrays):
        """Restore what :meth:`run_arrays` returned (checked against this engine's rule and optimiser)."""
        expected = set(self.run_arrays())
        if set(arrays) != expected:
            raise ValueError(f"run state holds {sorted(arrays)}, but this rule and optimiser keep {sorted(expected)}")
        for name, value in arrays.items():
            group, key = name.split("/", 1)
            target = self.rule_state_ if group == "rule" else self.optimiser_state_
            if np.shape(value) != target[key].shape:
                raise ValueError(f"run state {name!r} has shape {np.shape(value)}, expected {target[key].shape}")
            target[key] = np.array(value, dtype=target[key].dtype)
