r"""Fast online learning (one sample per step) in one-hidden-layer linear networks.

The linear student-teacher studies of Hiratani, Mehta, Lillicrap & Latham
(NeurIPS 2022) train ``y = W2 W1 x`` (sizes ``Lx``, ``Lh``, ``Ly``) with one
fresh Gaussian sample per step, for ``10^5``-``10^6`` steps, at
``Lh = 10^4``. A straightforward step touches every entry of ``W1``
(``Lh x Lx``) several times (two forward passes, an outer-product update
array); :func:`train_online` offers two faster engines.

``method="blocked"`` (sample-path exact)
    Simulates the network itself, neuron by neuron, and reproduces
    :func:`bioplastic.train` with ``batch_size=1`` (same seeds, same noise,
    same samples) up to rounding. Within a block of ``k`` steps ``W1`` is kept
    as ``W1_base`` plus ``k`` pending rank-1 updates ``sum_s u_s x_s^T``.
    Because the inputs of the block are known in advance, ``W1_base X``
    (``X`` the ``Lx x k`` block of inputs) is one matrix product, the
    pending part of ``h_t = W1 x_t`` is ``sum_{s<t} (x_s . x_t) u_s`` (one
    matrix-vector product with the Gram matrix of the inputs), and the
    pending updates are applied with one matrix product per block. ``W2``
    (``Ly x Lh``) is updated directly. Synaptic scaling of the hidden neurons
    (rows of ``W1``) is exact too: with cumulative row factors ``S_t``,
    ``W1_t = S_t * (W1_base + sum_s (u_s / S_s) x_s^T)``, and each row's
    squared norm after an update is
    ``n_i^2 + 2 u_i h_i + u_i^2 |x|^2`` (``h = W1 x`` is known), so no flush
    is needed before scaling.

``method="reduced"`` (exact in distribution)
    NP's Gaussian hidden noise is isotropic, and the loss depends on the
    hidden layer only through inner products, so the joint law of all
    Gram-matrix quantities (``W1^T W1``, ``W2 W2^T``, ``W2 W1``: every order
    parameter) is that of a Markov chain on the ``Lx + Ly`` vectors
    ``{columns of W1, rows of W2}`` expressed in an orthonormal basis of their
    span. Each step draws the noise's components inside the tracked span
    (``m`` Gaussians) and the length of its component outside it
    (``chi^2`` with ``Lh - m`` degrees of freedom), which adds one basis
    vector; a QR factorisation every ``k`` steps brings the basis back to
    ``Lx + Ly`` vectors. The cost per step is independent of ``Lh``. Sample
    paths differ from the network simulation (the noise is drawn in another
    way), their statistics do not. It cannot represent operations on
    individual hidden neurons: synaptic scaling of the hidden layer and
    Rademacher noise need ``method="blocked"``.

Order parameters (recorded at every record step, paper normalisation): input- and
output-weight norms ``alpha = ||W1||_F^2 / Lx`` and ``beta = ||W2||_F^2 / Ly``,
error ``epsilon = ||W2 W1 - A||_F^2 / (Lx Ly)``, overlap
``phi = <W2 W1, A - W2 W1>_F / (Lx Ly)`` and the planar dimensionality of
the hidden layer, the participation ratio ``(tr C)^2 / tr(C^2)`` of
``C = W1^T W1`` (the hidden representation's covariance for white inputs).
"""

from __future__ import annotations

import numbers

import numpy as np

from ._random import member_streams
from ._threads import usable_cpus
from ._validation import check_choice, check_positive, check_positive_int
from .engines.numpy import NoiseBuffer, single_threaded_blas
from .homeostasis import SynapticScaling, incoming_rms
from .io import to_jsonable
from .losses import SquaredError
from .network import Network, NetworkState
from .plasticity.backprop import Backprop
from .plasticity.base import PlasticityRule
from .plasticity.node_perturbation import NodePerturbation
from .tasks.student_teacher import StudentTeacher
from .training import History, ensemble_grid

__all__ = [
    "METHODS",
    "ORDER_PARAMETERS",
    "gram_order_parameters",
    "linear_order_parameters",
    "log_spaced_steps",
    "planar_dimensionality",
    "record_steps",
    "train_online",
]

#: engines of :func:`train_online`
METHODS = ("blocked", "reduced")

#: names of the per-record order parameters of :func:`train_online` (besides ``weight_norms``)
ORDER_PARAMETERS = ("error", "test_error", "alpha", "beta", "phi", "dimensionality")

_DEFAULT_BLOCK = {"blocked": 32, "reduced": 64}


# --------------------------------------------------------------------------
# order parameters
# --------------------------------------------------------------------------


def planar_dimensionality(w_in):
    """Participation ratio ``(tr C)^2 / tr(C^2)`` of ``C = W1^T W1``.

    For white inputs ``C`` is the covariance of the hidden representation
    ``h = W1 x`` seen from the input side; the ratio counts how many input
    directions the hidden layer spans (1 to ``min(Lx, Lh)``).

    Parameters
    ----------
    w_in : ndarray of shape (..., n_hidden, n_inputs)

    Returns
    -------
    float or ndarray of shape (...)
    """
    w_in = np.asarray(w_in, dtype=float)
    c = np.matmul(np.swapaxes(w_in, -1, -2), w_in)
    return _participation(c)


def _participation(c):
    trace = np.einsum("...ii->...", c)
    sq = np.einsum("...ij,...ij->...", c, c)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(sq > 0, trace**2 / np.where(sq > 0, sq, 1.0), 0.0)
    return float(out) if out.ndim == 0 else out


def linear_order_parameters(w_in, w_out, teacher, *, teacher_noise=0.0, dimensionality=True):
    """Order parameters of one-hidden-layer linear students (any leading ensemble axes).

    Parameters
    ----------
    w_in : ndarray of shape (..., n_hidden, n_inputs)
        ``W1``.
    w_out : ndarray of shape (..., n_outputs, n_hidden)
        ``W2``.
    teacher : ndarray of shape (n_outputs, n_inputs)
        ``A``.
    teacher_noise : float, default 0
        ``sigma_t``; enters ``test_error`` only.
    dimensionality : bool, default True
        Also compute the planar dimensionality (costs ``Lh Lx^2`` per member).

    Returns
    -------
    dict of str to ndarray of shape (...)
        ``alpha``, ``beta``, ``error`` (epsilon), ``phi``, ``test_error``
        (expected squared error summed over outputs,
        ``Lx Ly epsilon + Ly sigma_t^2``) and ``dimensionality`` (NaN if not
        computed).
    """
    w_in = np.asarray(w_in)
    w_out = np.asarray(w_out)
    teacher = np.asarray(teacher, dtype=float)
    lx, ly = w_in.shape[-1], w_out.shape[-2]
    if w_out.shape[-1] != w_in.shape[-2] or teacher.shape != (ly, lx):
        raise ValueError(
            f"inconsistent shapes: w_in {w_in.shape}, w_out {w_out.shape}, teacher {teacher.shape}; "
            "expected (..., Lh, Lx), (..., Ly, Lh) and (Ly, Lx)"
        )
    product = np.matmul(w_out, w_in)
    gram_in = np.matmul(np.swapaxes(w_in, -1, -2), w_in) if dimensionality else None
    return _order_from_blocks(
        np.einsum("...ij,...ij->...", w_in, w_in), np.einsum("...ij,...ij->...", w_out, w_out), product, teacher,
        teacher_noise, gram_in,
    )


def _order_from_blocks(norm_in, norm_out, product, teacher, teacher_noise, gram_in):
    ly, lx = teacher.shape
    diff = product - teacher
    error = np.einsum("...ij,...ij->...", diff, diff) / (lx * ly)
    out = {
        "alpha": norm_in / lx,
        "beta": norm_out / ly,
        "error": error,
        "phi": -np.einsum("...ij,...ij->...", product, diff) / (lx * ly),
        "test_error": lx * ly * error + ly * teacher_noise**2,
    }
    out["dimensionality"] = np.full(np.shape(error), np.nan) if gram_in is None else _participation(gram_in)
    return out


def gram_order_parameters(coordinates, n_inputs, teacher, *, teacher_noise=0.0):
    """Order parameters from hidden-space coordinates (the state of ``method="reduced"``).

    Parameters
    ----------
    coordinates : ndarray of shape (..., m, n_inputs + n_outputs)
        Matrix ``Z`` with ``[W1 | W2^T] = B Z`` for some ``B`` with
        orthonormal columns: ``Z^T Z`` is the Gram matrix of the columns of
        ``W1`` and the rows of ``W2``.
    n_inputs : int
        ``Lx`` (the first ``Lx`` columns of ``Z`` belong to ``W1``).
    teacher : ndarray of shape (n_outputs, n_inputs)
    teacher_noise : float, default 0

    Returns
    -------
    dict of str to ndarray
        As :func:`linear_order_parameters`.
    """
    z = np.asarray(coordinates, dtype=float)
    z_in, z_out = z[..., :n_inputs], z[..., n_inputs:]
    gram_in = np.matmul(np.swapaxes(z_in, -1, -2), z_in)
    product = np.matmul(np.swapaxes(z_out, -1, -2), z_in)
    return _order_from_blocks(
        np.einsum("...ii->...", gram_in), np.einsum("...ij,...ij->...", z_out, z_out), product, np.asarray(teacher, dtype=float),
        teacher_noise, gram_in,
    )


def log_spaced_steps(n_steps, n_records):
    """About ``n_records`` distinct step counts from 1 to ``n_steps``, evenly spaced in log time.

    Returns
    -------
    ndarray of int
        Increasing, starting at 1 and ending at ``n_steps`` (for ``record_at``).
    """
    n_steps = check_positive_int(n_steps, "n_steps")
    n_records = check_positive_int(n_records, "n_records")
    return np.unique(np.round(np.geomspace(1, n_steps, n_records)).astype(np.int64))


def _check_record_at(record_at):
    try:
        steps = np.asarray(record_at)
    except (TypeError, ValueError):
        raise TypeError(f"record_at should be a 1-D sequence of step counts, got {record_at!r}") from None
    if steps.ndim != 1 or steps.size == 0 or not np.issubdtype(steps.dtype, np.integer):
        raise ValueError(f"record_at should be a non-empty 1-D sequence of integer step counts, got {record_at!r}")
    if steps[0] < 1 or np.any(np.diff(steps) <= 0):
        raise ValueError(f"record_at should be strictly increasing step counts >= 1, got {steps.tolist()}")
    return steps.astype(np.int64)


def record_steps(history):
    """Learning steps at the records of a :func:`train_online` (or online-task :func:`~bioplastic.train`) History.

    Returns
    -------
    ndarray of shape (n_records,)
        ``epochs * steps_per_epoch``.
    """
    config = history.config
    steps = config.get("steps_per_epoch")
    if steps is None:
        steps = config.get("task", {}).get("steps_per_epoch")
    if steps is None:
        raise ValueError("history.config holds no steps_per_epoch (not an online run)")
    return np.asarray(history.epochs) * int(steps)


# --------------------------------------------------------------------------
# validation
# --------------------------------------------------------------------------


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


def _rule_kind(rule, network):
    if isinstance(rule, NodePerturbation):
        mask = rule.perturbed_layers(network)
        noisy = [m and pop.noise is not None for m, pop in zip(mask, network.populations[1:], strict=True)]
        if not any(noisy):
            raise ValueError(f"{rule!r} needs intrinsic noise but no perturbed population of {network!r} has noise")
        return "np", noisy
    if isinstance(rule, Backprop):
        return "sgd", [False, False]
    if isinstance(rule, PlasticityRule):
        raise ValueError(f"train_online supports NodePerturbation and Backprop, got {rule!r}")
    raise TypeError(f"rule should be a PlasticityRule (NodePerturbation or Backprop), got {rule!r}")


def _next_samples(batches, k, n_inputs, n_outputs):
    """Stack the next ``k`` one-sample batches of the iterator ``batches`` into ``(x, target)`` arrays."""
    x = np.empty((k, n_inputs))
    target = np.empty((k, n_outputs))
    for t in range(k):
        xb, yb = next(batches)
        x[t], target[t] = xb[0], yb[0]
    return x, target


def _rank_one_update(weights, post, pre):
    """``weights[e] += post[e] pre[e]^T`` in place for every member (BLAS ``dger``, no temporary)."""
    from scipy.linalg.blas import dger

    if not (weights.flags.c_contiguous and np.all(np.isfinite(post))):
        weights += post[:, :, None] * pre[:, None, :]
        return
    for e in range(len(weights)):
        # the C-ordered (n_post, n_pre) matrix is the Fortran-ordered (n_pre, n_post) one
        dger(1.0, pre[e], post[e], a=weights[e].T, overwrite_a=True)


# --------------------------------------------------------------------------
# blocked engine: the network itself, with pending low-rank updates of W1
# --------------------------------------------------------------------------


class _BlockedEngine:
    """Sample-path exact online NP/SGD for ``y = W2 W1 x``; see the module docstring."""

    def __init__(self, network, rule, kind, noisy, seeds, homeostasis, block_size):
        streams = [member_streams(int(s)) for s in seeds]
        state = network.init_state(rngs=[s[0] for s in streams], dtype=np.float64)
        self.w_in = np.ascontiguousarray(state.weights[0])
        self.w_out = np.ascontiguousarray(state.weights[1])
        self.n_members, self.n_hidden, self.n_inputs = self.w_in.shape
        self.n_outputs = self.w_out.shape[1]
        self.kind = kind
        self.sigma = rule.sigma if kind == "np" else None
        self.plastic = [p.plastic for p in network.projections]
        self.noisy = noisy
        self.block_size = block_size
        self.noise = None
        if kind == "np":
            pops = network.populations[1:]
            widths = [p.n_neurons if n else None for p, n in zip(pops, noisy, strict=True)]
            kinds = [p.noise if n else None for p, n in zip(pops, noisy, strict=True)]
            # BLAS runs single-threaded; the prefetch thread only where a second CPU is free for it
            self.noise = NoiseBuffer([s[1] for s in streams], widths, kinds, 1, np.float64, prefetch=usable_cpus() >= 2)
        self.targets = [None, None]
        if homeostasis is not None:
            self.targets = homeostasis.initial_targets(network, self.state())
        # squared incoming norm each scaled hidden neuron has after scaling
        self.row_target = None if self.targets[0] is None else self.n_inputs * self.targets[0] ** 2
        self._row_sq = None  # current squared row norms of W1 when known (scaled runs)

    # state --------------------------------------------------------------
    def state(self):
        return NetworkState([self.w_in, self.w_out], [None, None])

    def copy_weights(self):
        return self.w_in.copy(), self.w_out.copy()

    def restore(self, mask, saved):
        self.w_in[mask] = saved[0][mask]
        self.w_out[mask] = saved[1][mask]
        self._row_sq = None

    def order_parameters(self, teacher, teacher_noise, dimensionality):
        return linear_order_parameters(self.w_in, self.w_out, teacher, teacher_noise=teacher_noise, dimensionality=dimensionality)

    def _scale_in(self):
        rms = incoming_rms(self.w_in)
        self.w_in *= np.divide(self.targets[0], rms, out=np.ones_like(rms), where=rms > 0)[:, :, None]
        self._row_sq = np.where(rms > 0, self.row_target, 0.0)

    def _scale_out(self):
        rms = incoming_rms(self.w_out)
        self.w_out *= np.divide(self.targets[1], rms, out=np.ones_like(rms), where=rms > 0)[:, :, None]

    # learning -------------------------------------------------------------
    def start_epoch(self, n_steps):
        if self.noise is not None:
            self.noise.start_epoch(n_steps)

    def run(self, batches, n_steps, learning_rates):
        """Run ``n_steps`` steps on the samples of the iterator ``batches``."""
        done = 0
        while done < n_steps:
            k = min(self.block_size, n_steps - done)
            x, target = _next_samples(batches, k, self.n_inputs, self.n_outputs)
            noise_in = noise_out = None
            if self.noise is not None:
                noise_in = np.empty((k, self.n_members, self.n_hidden)) if self.noisy[0] else None
                noise_out = np.empty((k, self.n_members, self.n_outputs)) if self.noisy[1] else None
                for t in range(k):
                    xi_h, xi_y = self.noise.next()
                    if noise_in is not None:
                        noise_in[t] = xi_h[:, 0]
                    if noise_out is not None:
                        noise_out[t] = xi_y[:, 0]
            self.block(x, target, noise_in, noise_out, learning_rates)
            done += k

    def block(self, x, target, noise_in, noise_out, learning_rates):
        """Apply ``len(x)`` online steps.

        Parameters
        ----------
        x : ndarray of shape (k, n_inputs)
        target : ndarray of shape (k, n_outputs)
        noise_in : ndarray of shape (k, n_members, n_hidden) or None
        noise_out : ndarray of shape (k, n_members, n_outputs) or None
        learning_rates : ndarray of shape (n_members,)
        """
        k = len(x)
        n_members, lh, lx = self.w_in.shape
        w_in_flat = self.w_in.reshape(n_members * lh, lx)
        base = (x @ w_in_flat.T).reshape(k, n_members, lh)  # h of W1_base for every step of the block
        gram = x @ x.T
        pending = np.empty((k, n_members, lh))  # u_s / S_s
        learn_in = self.plastic[0] and (self.kind == "sgd" or self.noisy[0])
        learn_out = self.plastic[1] and (self.kind == "sgd" or self.noisy[1])
        scaled_in = self.targets[0] is not None
        if scaled_in:
            factors = np.ones((n_members, lh))  # S_t, cumulative row scaling within the block
            sq_x = np.einsum("ti,ti->t", x, x)
            if self._row_sq is None:
                self._row_sq = np.einsum("eij,eij->ei", self.w_in, self.w_in)
            row_sq = self._row_sq
        lr = learning_rates
        for t in range(k):
            if t == 0:
                h = base[0].copy()
            else:
                h = base[t] + (gram[:t, t] @ pending[:t].reshape(t, n_members * lh)).reshape(n_members, lh)
            if scaled_in:
                h *= factors
            y = np.matmul(self.w_out, h[:, :, None])[:, :, 0]
            dy = None if noise_in is None else np.matmul(self.w_out, noise_in[t][:, :, None])[:, :, 0]
            error = y - target[t]
            if self.kind == "np":
                if noise_out is not None:
                    dy = noise_out[t] if dy is None else dy + noise_out[t]
                # M = -(L~ - L) / sigma with L~ - L = sigma g.(e + sigma g / 2): no cancellation
                modulator = -np.einsum("ey,ey->e", dy, error + (0.5 * self.sigma) * dy)
                coef = lr * modulator
                u = coef[:, None] * noise_in[t] if noise_in is not None else None
                v = coef[:, None] * noise_out[t] if noise_out is not None else None
            else:
                u = -lr[:, None] * np.matmul(error[:, None, :], self.w_out)[:, 0] if learn_in else None
                v = -lr[:, None] * error if learn_out else None
            if u is None or not learn_in:
                pending[t] = 0.0
            elif scaled_in:
                pending[t] = u / factors
                # squared row norms after the update, then rescaled to the target
                new_sq = row_sq + u * (2.0 * h + u * sq_x[t])
                factors *= np.sqrt(np.divide(self.row_target, new_sq, out=np.ones_like(new_sq), where=new_sq > 0))
                row_sq = np.where(new_sq > 0, self.row_target, 0.0)
            else:
                pending[t] = u
            if v is not None and learn_out:
                _rank_one_update(self.w_out, v, h)
                if self.targets[1] is not None:
                    self._scale_out()
        if learn_in:
            self._flush(x, pending, factors if scaled_in else None)

    def _flush(self, x, pending, factors):
        from scipy.linalg.blas import dgemm

        n_members, lh, lx = self.w_in.shape
        w_flat = self.w_in.reshape(n_members * lh, lx)
        flat = pending.reshape(len(x), n_members * lh)
        if w_flat.flags.c_contiguous and np.all(np.isfinite(flat)):
            # W1 += U^T X in place, as one matrix product (Fortran view of the C-ordered weights)
            dgemm(1.0, x.T, flat.T, beta=1.0, c=w_flat.T, trans_b=True, overwrite_c=True)
        else:
            w_flat += flat.T @ x
        if factors is not None:
            self.w_in *= factors[:, :, None]
            self._scale_in()  # removes rounding drift; a no-op up to rounding


# --------------------------------------------------------------------------
# reduced engine: hidden-space coordinates, exact in distribution
# --------------------------------------------------------------------------


def _bartlett(rng, n_rows, n_cols):
    """R factor of the QR decomposition of an ``n_rows x n_cols`` standard Gaussian matrix (Bartlett)."""
    r = min(n_rows, n_cols)
    out = np.zeros((r, n_cols))
    upper = np.triu_indices(r, 1, n_cols)
    out[upper] = rng.standard_normal(len(upper[0]))
    out[np.arange(r), np.arange(r)] = np.sqrt(rng.chisquare(n_rows - np.arange(r)))
    return out


class _ReducedEngine:
    """Online NP/SGD in hidden-space coordinates ``[W1 | W2^T] = B Z``; see the module docstring.

    ``z_in[:, :rows]`` (shape ``(E, rows, Lx)``) and ``z_out[:, :rows]``
    (``(E, rows, Ly)``) are the coordinates of ``W1`` and ``W2^T`` in an
    orthonormal basis of a subspace of the hidden space that contains their
    columns. Within a block of ``k`` steps the updates of ``W1`` are kept as
    pending coordinates ``u_s`` (applied as one product at the block's end),
    so ``W1 x_t = W1_base x_t + sum_{s<t} (x_s . x_t) u_s`` as in the blocked
    engine; NP adds one basis vector per step (the noise's out-of-span
    component), and a QR factorisation at the start of each block brings the
    basis back to ``min(Lx + Ly, Lh)`` vectors.
    """

    def __init__(self, network, rule, kind, noisy, seeds, homeostasis, block_size, *, coordinates=None):
        pops = network.populations
        self.n_inputs, self.n_hidden, self.n_outputs = (p.n_neurons for p in pops)
        lx, lh, ly = self.n_inputs, self.n_hidden, self.n_outputs
        n = lx + ly
        self.kind = kind
        self.noisy = noisy
        self.sigma = rule.sigma if kind == "np" else None
        self.plastic = [p.plastic for p in network.projections]
        self.block_size = block_size
        for k, pop in enumerate(pops[1:]):
            if noisy[k] and pop.noise != "gaussian":
                raise ValueError(
                    f"method='reduced' needs Gaussian intrinsic noise (rotation invariance); population {k + 1} has "
                    f"noise={pop.noise!r}: use method='blocked'"
                )
        if homeostasis is not None and homeostasis.layer_mask(network)[0]:
            raise ValueError(
                "method='reduced' cannot scale the hidden neurons' incoming weights (it does not represent individual "
                "hidden neurons): use method='blocked', or SynapticScaling(layers=(1,))"
            )
        streams = [member_streams(int(s)) for s in seeds]
        self.n_members = len(streams)
        self.noise_rngs = [s[1] for s in streams]
        self.base_rows = min(n, lh)
        self.max_rows = self.base_rows + block_size
        self.z_in = np.zeros((self.n_members, self.max_rows, lx))
        self.z_out = np.zeros((self.n_members, self.max_rows, ly))
        if coordinates is None:
            std = np.empty(n)
            for k, proj in enumerate(network.projections):
                sl = slice(0, lx) if k == 0 else slice(lx, n)
                std[sl] = 0.0 if proj.init == "zeros" else proj.init_scale * np.sqrt(2.0 / (proj.n_pre + proj.n_post))
            for e, (init_rng, _) in enumerate(streams):
                r = _bartlett(init_rng, lh, n) * std
                self.z_in[e, : len(r)] = r[:, :lx]
                self.z_out[e, : len(r)] = r[:, lx:]
            self.rows = self.base_rows
        else:
            coordinates = np.asarray(coordinates, dtype=float)
            self.rows = coordinates.shape[1]
            if self.rows > self.max_rows:
                raise ValueError(f"coordinates have {self.rows} rows, more than {self.max_rows}")
            self.z_in[:, : self.rows] = coordinates[:, :, :lx]
            self.z_out[:, : self.rows] = coordinates[:, :, lx:]
        self.out_target = None
        if homeostasis is not None and homeostasis.layer_mask(network)[1]:
            norms = np.sqrt(np.einsum("emi,emi->ei", self.z_out, self.z_out) / lh)
            self.out_target = norms if homeostasis.target == "initial" else np.full_like(norms, homeostasis.target)

    @classmethod
    def from_weights(cls, network, rule, kind, noisy, seeds, homeostasis, block_size, w_in, w_out):
        """Engine whose coordinates are those of explicit weights (``Z = R`` of ``QR([W1 | W2^T])``)."""
        v = np.concatenate([w_in, np.swapaxes(w_out, 1, 2)], axis=2)
        return cls(network, rule, kind, noisy, seeds, homeostasis, block_size, coordinates=np.linalg.qr(v, mode="r"))

    def coordinates(self):
        """``Z`` of shape (n_members, rows, Lx + Ly)."""
        return np.concatenate([self.z_in[:, : self.rows], self.z_out[:, : self.rows]], axis=2)

    def copy_weights(self):
        return self.z_in.copy(), self.z_out.copy(), self.rows

    def restore(self, mask, saved):
        z_in, z_out, rows = saved
        if rows != self.rows:  # never happens: records come after a compression
            raise RuntimeError("cannot restore coordinates of a different basis size")
        self.z_in[mask] = z_in[mask]
        self.z_out[mask] = z_out[mask]

    def order_parameters(self, teacher, teacher_noise, dimensionality):
        return gram_order_parameters(self.coordinates(), self.n_inputs, teacher, teacher_noise=teacher_noise)

    def start_epoch(self, n_steps):
        pass

    def _compress(self):
        if self.rows <= self.base_rows:
            return
        lx = self.n_inputs
        with np.errstate(all="ignore"):
            z = self.coordinates()
            finite = np.all(np.isfinite(z), axis=(1, 2))
            r = np.full((self.n_members, self.base_rows, z.shape[2]), np.nan)
            if finite.any():
                r[finite] = np.linalg.qr(z[finite], mode="r")[:, : self.base_rows]
        self.z_in[:, : self.base_rows] = r[:, :, :lx]
        self.z_out[:, : self.base_rows] = r[:, :, lx:]
        self.z_in[:, self.base_rows :] = 0.0
        self.z_out[:, self.base_rows :] = 0.0
        self.rows = self.base_rows

    def draw_noise(self, k):
        """Noise of the next ``k`` steps from each member's stream.

        Returns
        -------
        inside : ndarray of shape (k, n_members, rows + k) or None
            Components of the hidden noise in the tracked basis (step ``t``
            uses the first ``rows + t``).
        outside : ndarray of shape (k, n_members)
            Length of its component outside the basis, ``sqrt(chi^2(Lh - rows - t))``.
        out_noise : ndarray of shape (k, n_members, n_outputs) or None
            Output-layer noise.
        """
        width = self.rows + k
        inside = np.empty((k, self.n_members, width)) if self.noisy[0] else None
        outside = np.zeros((k, self.n_members))
        dof = self.n_hidden - self.rows - np.arange(k)
        positive = dof > 0
        out_noise = np.empty((k, self.n_members, self.n_outputs)) if self.noisy[1] else None
        for e, rng in enumerate(self.noise_rngs):
            if inside is not None:
                inside[:, e] = rng.standard_normal((k, width))
                if positive.any():
                    outside[positive, e] = np.sqrt(rng.chisquare(dof[positive]))
            if out_noise is not None:
                out_noise[:, e] = rng.standard_normal((k, self.n_outputs))
        return inside, outside, out_noise

    def run(self, batches, n_steps, learning_rates):
        done = 0
        while done < n_steps:
            k = min(self.block_size, n_steps - done)
            x, target = _next_samples(batches, k, self.n_inputs, self.n_outputs)
            self._compress()
            noise = self.draw_noise(k) if self.kind == "np" else (None, None, None)
            self.block(x, target, *noise, learning_rates)
            done += k
        self._compress()

    def block(self, x, target, inside, outside, noise_out, learning_rates):
        """Apply ``len(x)`` steps with the given noise (see :meth:`draw_noise` for the layout)."""
        k = len(x)
        m0 = self.rows
        if m0 + k > self.max_rows:
            raise ValueError(f"a block of {k} steps needs a compressed basis; it has {m0} rows")
        lr = learning_rates
        learn_in = self.plastic[0] and (self.kind == "sgd" or self.noisy[0])
        learn_out = self.plastic[1] and (self.kind == "sgd" or self.noisy[1])
        grows = self.kind == "np" and learn_in
        width = m0 + k if grows else m0
        base = np.matmul(self.z_in[:, :m0], x.T)  # (E, m0, k): coordinates of W1_base x_t
        gram = x @ x.T
        pending = np.zeros((self.n_members, k, width))  # coordinates of the W1 updates u_s
        z_out = self.z_out
        for t in range(k):
            m = m0 + t if grows else m0
            m = min(m, self.n_hidden)
            hz = np.zeros((self.n_members, m))
            hz[:, :m0] = base[:, :, t]
            if t:
                hz += np.matmul(gram[:t, t], pending[:, :t, :m])
            zo = z_out[:, :m]
            y = np.einsum("emy,em->ey", zo, hz)
            error = y - target[t]
            v = None
            if self.kind == "np":
                if inside is not None:
                    zn = inside[t, :, :m]
                    dy = np.einsum("emy,em->ey", zo, zn)
                    if noise_out is not None:
                        dy += noise_out[t]
                else:
                    dy = noise_out[t]
                coef = lr * -np.einsum("ey,ey->e", dy, error + (0.5 * self.sigma) * dy)
                if inside is not None and learn_in:
                    pending[:, t, :m] = coef[:, None] * zn
                    if m < self.n_hidden:
                        # the noise's component outside the basis adds basis vector m
                        pending[:, t, m] = coef * outside[t]
                if noise_out is not None:
                    v = coef[:, None] * noise_out[t]
            else:
                if learn_in:
                    pending[:, t, :m] = -lr[:, None] * np.einsum("emy,ey->em", zo, error)
                if learn_out:
                    v = -lr[:, None] * error
            if v is not None and learn_out:
                zo += hz[:, :, None] * v[:, None, :]
                if self.out_target is not None:
                    norms = np.sqrt(np.einsum("emi,emi->ei", zo, zo) / self.n_hidden)
                    zo *= np.divide(self.out_target, norms, out=np.ones_like(norms), where=norms > 0)[:, None, :]
        if learn_in:
            rows = min(width, self.n_hidden)
            self.z_in[:, :rows] += np.matmul(np.swapaxes(pending[:, :, :rows], 1, 2), x)
            self.rows = rows


# --------------------------------------------------------------------------
# training loop
# --------------------------------------------------------------------------


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
        NP (any ``sigma``; ``layers`` selects the perturbed layers) or SGD.
    task : StudentTeacher
        The teacher; online mode (``steps_per_epoch`` steps per epoch) or
        minibatch mode (one pass over the ``n_train`` samples per epoch).
    n_epochs : int, optional
        Number of epochs; the order parameters are recorded before training
        and after every epoch (``History.epochs`` counts epochs).
    record_at : array_like of int, optional
        Instead of ``n_epochs``: record after these (increasing) numbers of
        steps, e.g. :func:`log_spaced_steps` for log-time plots; training
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

    Returns
    -------
    History
        ``records``: ``error`` (``epsilon``), ``test_error`` (expected squared
        error ``Lx Ly epsilon + Ly sigma_t^2``, exact), ``alpha``, ``beta``,
        ``phi``, ``dimensionality`` of shape ``(n_members, n_records)``, and
        ``weight_norms`` (Frobenius norms of ``W1``, ``W2``) of shape
        ``(n_members, n_records, 2)``. ``config["steps_per_epoch"]`` converts
        ``History.epochs`` to steps (:func:`record_steps`). ``final_state_`` holds the
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
    kind, noisy = _rule_kind(rule, network)
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
    data_rng = np.random.default_rng(data_seed)
    scale = lrs.copy()
    diverged_epoch = np.full(len(lrs), -1, dtype=np.int64)

    def measure():
        with np.errstate(all="ignore"), single_threaded_blas():
            rec = engine.order_parameters(task.teacher, task.teacher_noise, dimensionality)
            rec["weight_norms"] = np.stack([np.sqrt(rec["alpha"] * task.n_inputs), np.sqrt(rec["beta"] * task.n_outputs)], axis=1)
        return {k: np.asarray(v, dtype=float) for k, v in rec.items()}

    first = measure()
    series = {k: [v] for k, v in first.items()}
    initial_error = first["error"].copy()
    last_good = engine.copy_weights()

    from tqdm.auto import tqdm

    bar = tqdm(total=int(record_at[-1]) if len(record_at) else 0, disable=not progress,
               desc=f"{rule.name} online x{len(lrs)}", unit="step", leave=False)
    # segments end at records and at data epochs (noise and samples are drawn per data epoch, as in train())
    ends = sorted(set(int(r) for r in record_at) | set(range(steps_per_epoch, int(record_at[-1]) if len(record_at) else 0, steps_per_epoch)))
    recorded = dict(zip((int(r) for r in record_at), epochs[1:], strict=True))
    position = 0
    batches = None
    for end in ends:
        if position % steps_per_epoch == 0:
            engine.start_epoch(steps_per_epoch)
            batches = iter(task.batches(1, data_rng))
        with np.errstate(all="ignore"), single_threaded_blas():
            engine.run(batches, end - position, scale)
        bar.update(end - position)
        position = end
        if end not in recorded:
            continue
        rec = measure()
        active = diverged_epoch < 0
        with np.errstate(invalid="ignore"):
            bad = ~np.isfinite(rec["error"]) | ~np.all(np.isfinite(rec["weight_norms"]), axis=1)
            if divergence_factor is not None:
                bad |= rec["error"] > divergence_factor * initial_error
        newly = active & bad
        if newly.any():
            diverged_epoch[newly] = recorded[end]
            scale[newly] = 0.0
            engine.restore(newly, last_good)
        for key, value in rec.items():
            value = value.copy()
            value[~active] = np.nan
            series[key].append(value)
        ok = diverged_epoch < 0
        saved = engine.copy_weights()
        last_good = tuple(
            np.where(ok.reshape((-1,) + (1,) * (a.ndim - 1)), a, b) if isinstance(a, np.ndarray) else a
            for a, b in zip(saved, last_good, strict=True)
        )
        if progress:
            with np.errstate(all="ignore"):
                bar.set_postfix(error=f"{np.nanmin(rec['error']):.3g}", diverged=int((~ok).sum()))
    bar.close()

    records = {k: np.stack(v, axis=1) for k, v in series.items()}
    history = History(epochs, records, lrs, member_seeds, diverged_epoch, config)
    if method == "blocked":
        history.final_state_ = engine.state().copy()
        history.final_coordinates_ = None
    else:
        history.final_state_ = None
        history.final_coordinates_ = engine.coordinates().copy()
    return history
