r"""The blocked engine (``method="blocked"``): the network itself, with pending low-rank updates of ``W1``.

Simulates ``y = W2 W1 x`` neuron by neuron and reproduces
:func:`bioplastic.train` with ``batch_size=1`` (same seeds, same noise, same
samples) up to rounding. Within a block of ``k`` steps ``W1`` is kept as
``W1_base`` plus ``k`` pending rank-1 updates ``sum_s u_s x_s^T``. Because
the inputs of the block are known in advance, ``W1_base X`` (``X`` the
``Lx x k`` block of inputs) is one matrix product, the pending part of
``h_t = W1 x_t`` is ``sum_{s<t} (x_s . x_t) u_s`` (one matrix-vector product
with the Gram matrix of the inputs), and the pending updates are applied with
one matrix product per block. ``W2`` (``Ly x Lh``) is updated directly.
Synaptic scaling of the hidden neurons (rows of ``W1``) is exact too: with
cumulative row factors ``S_t``, ``W1_t = S_t * (W1_base + sum_s (u_s / S_s) x_s^T)``,
and each row's squared norm after an update is ``n_i^2 + 2 u_i h_i + u_i^2 |x|^2``
(``h = W1 x`` is known), so no flush is needed before scaling.
"""

from __future__ import annotations

import numpy as np

from .._random import member_streams
from .._threads import usable_cpus
from ..engines.numpy import NoiseBuffer
from ..homeostasis import incoming_rms
from ..network import NetworkState
from .order_parameters import linear_order_parameters
from .schedule import _next_samples

__all__ = []


def _rank_one_update(weights, post, pre):
    """``weights[e] += post[e] pre[e]^T`` in place for every member (BLAS ``dger``, no temporary)."""
    from scipy.linalg.blas import dger

    if not (weights.flags.c_contiguous and np.all(np.isfinite(post))):
        weights += post[:, :, None] * pre[:, None, :]
        return
    for e in range(len(weights)):
        # the C-ordered (n_post, n_pre) matrix is the Fortran-ordered (n_pre, n_post) one
        dger(1.0, pre[e], post[e], a=weights[e].T, overwrite_a=True)


class _BlockedEngine:
    """Sample-path exact online NP/SGD for ``y = W2 W1 x``; see the module docstring."""

    #: noise is drawn in chunks per data epoch (a run resumed within an epoch replays its draws)
    noise_per_epoch = True

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

    def snapshot(self):
        """A copy of the weights, ``{"w_in": ..., "w_out": ...}``."""
        return {"w_in": self.w_in.copy(), "w_out": self.w_out.copy()}

    def restore(self, mask, snapshot):
        """Put the ``mask`` members' weights back from ``snapshot``."""
        self.w_in[mask] = snapshot["w_in"][mask]
        self.w_out[mask] = snapshot["w_out"][mask]
        self._row_sq = None

    def keep(self, snapshot, mask):
        """Copy the ``mask`` members' current weights into ``snapshot``."""
        snapshot["w_in"][mask] = self.w_in[mask]
        snapshot["w_out"][mask] = self.w_out[mask]

    def arrays(self):
        """The engine's state between steps (weights and the known row norms of ``W1``), ``{name: ndarray}``."""
        out = {"w_in": self.w_in, "w_out": self.w_out}
        if self._row_sq is not None:
            out["row_sq"] = self._row_sq
        return out

    def set_arrays(self, arrays):
        """Restore the state saved by :meth:`arrays`."""
        self.w_in[...] = arrays["w_in"]
        self.w_out[...] = arrays["w_out"]
        self._row_sq = np.array(arrays["row_sq"]) if "row_sq" in arrays else None

    def noise_states(self):
        """States of the members' noise streams (JSON-serialisable; ``None`` without noise)."""
        return None if self.noise is None else self.noise.states()

    def set_noise_states(self, states):
        if self.noise is not None:
            self.noise.set_states(states)

    def skip_noise(self, n_steps):
        """Draw and discard the noise of the next ``n_steps`` steps of the epoch."""
        if self.noise is not None:
            for _ in range(n_steps):
                self.noise.next()

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
