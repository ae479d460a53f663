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

from .._random import member_streams
from .._validation import check_positive_int
from ..network import Activity, NetworkState
from ..neurons import draw_noise

__all__ = [
    "NoiseBuffer",
    "NumpyEngine",
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
]


class Workspace:
    """Scratch arrays of one member block, reused from step to step.

    Large temporaries allocated anew every step cost more than the
    arithmetic on them (the memory allocator hands big blocks back to the
    operating system and page-faults them in again), so the engine gives
    each member block a workspace and the step functions write into its
    arrays. Arrays are created on first request and kept by name.
    """

    def __init__(self):
        self._arrays = {}

    def get(self, name, shape, dtype):
        """Return the array ``name`` of ``shape`` and ``dtype`` (contents undefined)."""
        array = self._arrays.get(name)
        if array is None or array.shape != shape or array.dtype != dtype:
            array = self._arrays[name] = np.empty(shape, dtype=dtype)
        return array


def scratch(workspace, name, shape, dtype):
    """An array from ``workspace`` (a :class:`Workspace`), or a new one when it is ``None``."""
    if workspace is None:
        return np.empty(shape, dtype=dtype)
    return workspace.get(name, tuple(shape), np.dtype(dtype))


def shared_member(array):
    """The one array all members share when ``array`` (members first) is a broadcast view of it, else ``None``.

    Members of a block that use one noise stream get its noise as such a
    view; work that depends on the noise alone is then done once.
    """
    return array[0] if len(array) > 1 and array.strides[0] == 0 else None


def affine(x, weights, bias=None, *, out=None):
    """Summed synaptic input ``h = x W^T + b`` of every member.

    Parameters
    ----------
    x : ndarray of shape (batch, n_pre) or (n_members, batch, n_pre)
        Presynaptic rates; a 2-D ``x`` is shared by all members.
    weights : ndarray of shape (n_members, n_post, n_pre)
    bias : ndarray of shape (n_members, n_post), optional
    out : ndarray of shape (n_members, batch, n_post), optional
        Where to write the result.

    Returns
    -------
    ndarray of shape (n_members, batch, n_post)
    """
    h = np.matmul(x, weights.transpose(0, 2, 1), out=out)  # one GEMM per member, written in place
    if bias is not None:
        np.add(h, bias[:, None, :], out=h)
    return h


def outer_sum(post, pre, *, out=None):
    """Sum over samples of outer products, ``sum_b post_b pre_b^T``, as one GEMM.

    Parameters
    ----------
    post : ndarray of shape (n_members, batch, n_post)
    pre : ndarray of shape (batch, n_pre) or (n_members, batch, n_pre)
    out : ndarray of shape (n_members, n_post, n_pre), optional

    Returns
    -------
    ndarray of shape (n_members, n_post, n_pre)
    """
    return outer_sum_transposed(np.ascontiguousarray(post.transpose(0, 2, 1)), pre, out=out)


def outer_sum_transposed(post_t, pre, *, out=None):
    """:func:`outer_sum` for postsynaptic factors already laid out as ``(n_members, n_post, batch)``.

    Parameters
    ----------
    post_t : C-contiguous ndarray of shape (n_members, n_post, batch)
    pre : ndarray of shape (batch, n_pre) or (n_members, batch, n_pre)
        A 2-D ``pre`` is shared by all members: one GEMM for the whole ensemble.
    out : C-contiguous ndarray of shape (n_members, n_post, n_pre), optional

    Returns
    -------
    ndarray of shape (n_members, n_post, n_pre)
    """
    n_members, n_post, batch = post_t.shape
    if pre.ndim == 2:
        flat = None if out is None else out.reshape(n_members * n_post, pre.shape[1])
        return np.matmul(post_t.reshape(n_members * n_post, batch), pre, out=flat).reshape(n_members, n_post, pre.shape[1])
    return np.matmul(post_t, pre, out=out)


def forward(network, state, x, *, workspace=None):
    """Clean pass: summed inputs and rates of every layer, :class:`~bioplastic.network.Activity`.

    With a :class:`Workspace` the arrays are written into it (and are
    overwritten by the next pass that uses the same workspace).
    """
    inputs, rates = [], [x]
    n_members, batch = state.n_members, x.shape[-2]
    dtype = np.result_type(x, state.dtype)
    for k, activation in enumerate(network.activations):
        shape = (n_members, batch, state.weights[k].shape[1])
        h = affine(rates[-1], state.weights[k], state.biases[k], out=scratch(workspace, ("h", k), shape, dtype))
        inputs.append(h)
        rates.append(activation(h, out=scratch(workspace, ("x", k), shape, dtype)))
    return Activity(inputs, rates)


def predict(network, state, x, *, chunk_size=None, out=None):
    """Outputs of every member for many samples (the clean forward pass, for evaluation).

    Each layer is one matrix product per member with the bias folded in (a
    row of ones appended to the presynaptic rates), so a layer costs its
    GEMM and one activation pass; the first layer, whose input all members
    share, is a single GEMM against all members' weights. Samples are taken
    in chunks small enough for the activity to stay in cache. Equal to
    :func:`forward` up to rounding (the bias is summed in another order).

    Parameters
    ----------
    network : Network
    state : NetworkState
    x : ndarray of shape (n_samples, n_in)
    chunk_size : int, optional
        Samples per chunk; by default as many as keep one layer's activity
        (``n_members x chunk x width`` values) within about 64k numbers.
    out : ndarray of shape (n_members, n_samples, n_out), optional
        Where to write the outputs.

    Returns
    -------
    ndarray of shape (n_members, n_samples, n_out)
    """
    n_members, n_samples = state.n_members, len(x)
    dtype = np.result_type(x, state.dtype)
    widths = [p.n_neurons for p in network.populations]
    if out is None:
        out = np.empty((n_members, n_samples, widths[-1]), dtype=dtype)
    if chunk_size is None:
        chunk_size = max(16, 2**16 // (n_members * max(widths[1:])))
    chunk_size = min(chunk_size, max(n_samples, 1))
    has_bias = [b is not None for b in state.biases]
    # weights transposed to (member, pre, post), the bias as one more presynaptic row
    folded = []
    for w, b in zip(state.weights, state.biases, strict=True):
        f = np.empty((n_members, w.shape[2] + (b is not None), w.shape[1]), dtype=dtype)
        f[:, : w.shape[2]] = w.transpose(0, 2, 1)
        if b is not None:
            f[:, w.shape[2]] = b
        folded.append(f)
    first = np.ascontiguousarray(folded[0].transpose(1, 0, 2)).reshape(folded[0].shape[1], n_members * widths[1])
    x_in = np.ones((chunk_size, widths[0] + has_bias[0]), dtype=dtype)
    h_first = np.empty((chunk_size, n_members * widths[1]), dtype=dtype)
    # rates of each hidden layer with a column of ones for the next bias; the first in the
    # (sample, member, neuron) layout of its GEMM, the others (member, sample, neuron)
    rates = [np.ones((chunk_size, n_members, widths[1] + has_bias[1]) if k == 0 else (n_members, chunk_size, widths[k + 1] + has_bias[k + 1]),
                     dtype=dtype) for k in range(network.n_layers - 1)]
    h_hidden = [np.empty((n_members, chunk_size, widths[k + 1]), dtype=dtype) for k in range(1, network.n_layers - 1)]
    last = network.n_layers - 1
    for start in range(0, n_samples, chunk_size):
        rows = slice(start, min(start + chunk_size, n_samples))
        m = rows.stop - rows.start
        x_in[:m, : widths[0]] = x[rows]
        h = np.matmul(x_in[:m], first, out=h_first[:m]).reshape(m, n_members, widths[1])
        for k, activation in enumerate(network.activations):
            if k > 0:
                pre = rates[0][:m].transpose(1, 0, 2) if k == 1 else rates[k - 1][:, :m]
                h = np.matmul(pre, folded[k], out=out[:, rows] if k == last else h_hidden[k - 1][:, :m])
            if k == last:
                destination = out[:, rows]
                h = h.transpose(1, 0, 2) if k == 0 else h
            else:
                destination = rates[k][:m, :, : widths[1]] if k == 0 else rates[k][:, :m, : widths[k + 1]]
            result = activation(h, out=destination)
            if result is not destination:  # activations that return their input (linear)
                np.copyto(destination, result)
    return out


def perturbation_change(network, state, activity, noise, sigma, *, workspace=None):
    """Change of every layer's rate caused by intrinsic noise ``sigma * xi``.

    The perturbed pass ``x~_k = f_k(W_k x~_{k-1} + b_k + sigma xi_k)`` is
    computed as the difference ``dx_k = x~_k - x_k`` propagated from the clean
    pass (``dh_k = W_k dx_{k-1} + sigma xi_k``), which reuses ``W_1 x`` and
    loses no precision to cancellation even for ``sigma = 1e-4`` in float32.

    Parameters
    ----------
    noise : list of (ndarray of shape (n_members, batch, n_k) or None)
        Unit-variance noise per layer; ``None`` for unperturbed layers.
    workspace : Workspace, optional
        Where to write the results (see :func:`forward`).

    Returns
    -------
    list of (ndarray or None)
        ``dx_k`` for each layer (``None`` while nothing has been perturbed yet).
    """
    changes = []
    dx = None
    for k, activation in enumerate(network.activations):
        h = activity.inputs[k]
        dh = None
        if dx is not None:
            dh = np.matmul(dx, state.weights[k].transpose(0, 2, 1), out=scratch(workspace, ("dh", k), h.shape, h.dtype))
        if noise[k] is not None:
            shared = shared_member(noise[k])
            if shared is not None:  # one stream for the whole block: scale it once
                sigma_xi = np.broadcast_to(np.multiply(shared, sigma, out=scratch(workspace, ("sigma_xi", k), h.shape[1:], h.dtype)), h.shape)
            else:
                sigma_xi = np.multiply(noise[k], sigma, out=scratch(workspace, ("sigma_xi", k), h.shape, h.dtype))
            if dh is None:
                dh = sigma_xi
            else:
                dh += sigma_xi
        dx = None if dh is None else activation.difference(h, dh, activity.rates[k + 1], out=scratch(workspace, ("dx", k), h.shape, h.dtype))
        changes.append(dx)
    return changes


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
    which handles every BLAS library loaded in the process.
    """

    def __enter__(self):
        from threadpoolctl import threadpool_limits

        self._limits = threadpool_limits(limits=1, user_api="blas")
        return self

    def __exit__(self, *exc):
        self._limits.restore_original_limits()
        return False


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
    members : sequence of int, optional
        Stream of each ensemble member (default: member ``i`` uses stream
        ``i``). Members that share a stream (the same seed) share its noise,
        which is drawn once.
    max_elements : int, default 2**18
        Chunk size bound, in noise values per stream.
    prefetch : bool, default True
    """

    def __init__(self, rngs, widths, kinds, batch_size, dtype, *, members=None, max_elements=2**18, prefetch=True):
        self.rngs = rngs
        self.widths = widths
        self.kinds = kinds
        self.batch_size = batch_size
        self.dtype = np.dtype(dtype)
        self.prefetch = prefetch
        if members is None:
            members = np.arange(len(rngs))
        self.members = np.asarray(members, dtype=np.intp)
        if self.members.ndim != 1 or len(self.members) == 0 or self.members.min() < 0 or self.members.max() >= len(rngs):
            raise ValueError(f"members should index the {len(rngs)} noise streams, got {members!r}")
        self._identity = len(self.members) == len(rngs) and bool(np.all(self.members == np.arange(len(rngs))))
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
            n_streams = len(self.rngs)
            self._sets[length] = [
                [None if w is None else np.empty((n_streams, length, self.batch_size, w), dtype=self.dtype) for w in self.widths]
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
        streams = self.next_streams()
        if self._identity:
            return streams
        return [None if n is None else n[self.members] for n in streams]

    def next_streams(self):
        """Noise of the next step per stream: list of (ndarray of shape (n_streams, batch, n_k) or None).

        ``next_streams()[k][members[i]]`` is member ``i``'s noise.
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
    n_threads : int, default 1
        Threads that step member blocks concurrently (numpy releases the
        interpreter lock in its array and BLAS routines, and members are
        independent, so results do not depend on it); at most one per
        block. Run the steps inside :meth:`running` so that BLAS does not
        add threads of its own. Whether threads pay depends on the block
        size and the machine: the many short numpy calls of a step contend
        for the interpreter lock (``benchmarks/sarcos_ensemble.py
        --threads N`` measures it).

    Attributes
    ----------
    state_ : NetworkState
        Current weights of all members.
    scaling_targets_ : list
        Synaptic-scaling targets per layer (``None`` where not scaled).
    noise_ : NoiseBuffer or None
        Intrinsic noise, one stream per distinct seed.
    """

    def __init__(self, network, rule, loss, *, seeds, batch_size, homeostasis=None, dtype=np.float64, member_block=None, n_threads=1):
        self.network = network
        self.rule = rule
        self.loss = loss
        self.seeds = [int(s) for s in seeds]
        self.batch_size = batch_size
        self.homeostasis = homeostasis
        self.dtype = np.dtype(dtype)
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
        if rule.uses_noise:
            perturbed = rule.perturbed_layers(network)
            widths, kinds = [], []
            for k, pop in enumerate(network.populations[1:]):
                noisy = perturbed[k] and pop.noise is not None
                widths.append(pop.n_neurons if noisy else None)
                kinds.append(pop.noise if noisy else None)
            if all(w is None for w in widths):
                raise ValueError(f"{rule!r} needs intrinsic noise but no perturbed population of {network!r} has noise")
            self.noise_ = NoiseBuffer([s[1] for s in streams], widths, kinds, batch_size, self.dtype, members=stream_of)
        widest = max(p.n_neurons for p in network.populations[1:])
        if member_block is None:
            member_block = max(1, 2**16 // (batch_size * widest))
        self.member_block = check_positive_int(member_block, "member_block")
        self._blocks, self._block_streams = _member_blocks(stream_of, self.member_block)
        # first member with the same seed (members that may still be identical), or None
        self._first_of = None if len(distinct) == len(self.seeds) else np.array([self.seeds.index(s) for s in self.seeds], dtype=np.intp)
        self.n_threads = min(check_positive_int(n_threads, "n_threads"), len(self._blocks))
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

    def running(self):
        """Context manager for a run of steps: BLAS single-threaded while member blocks run on threads."""
        return single_threaded_blas() if self.n_threads > 1 else contextlib.nullcontext()

    def step(self, x, target, scale):
        """One plasticity step on a minibatch; ``scale`` (shape ``(n_members,)``) is each member's learning rate."""
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
        updates = self.rule.compute_updates(self.network, state, x, target, self.loss, noise=sub_noise, scale=scale[block], workspace=workspace)
        self._apply(state, updates)  # views: changes land in self.state_

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

        Computed member block by member block (on the block threads) by
        :func:`predict`, in chunks of ``batch_size`` samples (default: sized
        to the block). Members that share a seed and still have identical
        weights (before the first step) are evaluated once.
        """
        state, copies = self.state_, None
        if self._first_of is not None and all(
            np.array_equal(a, a[self._first_of]) for a in self.state_.weights + self.state_.biases if a is not None
        ):
            distinct, copies = np.unique(self._first_of, return_inverse=True)
            state = self.state_.take(distinct)
        blocks = self._blocks if copies is None else [slice(lo, hi) for lo, hi in _even_bounds(state.n_members, self.member_block)]
        out = np.empty((state.n_members, len(x), self.network.n_outputs), dtype=np.result_type(x, self.dtype))
        with self.running():
            self._for_each_block(len(blocks), self._predict_block, state, blocks, x, batch_size, out)
        return out if copies is None else out[copies]

    def _predict_block(self, i, state, blocks, x, batch_size, out):
        block = blocks[i]
        predict(self.network, state.view(block), x, chunk_size=batch_size, out=out[block])

    def set_state(self, state):
        self.state_ = NetworkState(
            [np.ascontiguousarray(w, dtype=self.dtype) for w in state.weights],
            [None if b is None else np.ascontiguousarray(b, dtype=self.dtype) for b in state.biases],
        )
