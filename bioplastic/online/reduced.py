r"""The reduced engine (``method="reduced"``): hidden-space coordinates, exact in distribution.

NP's Gaussian hidden noise is isotropic, and the loss depends on the hidden
layer only through inner products, so the joint law of all Gram-matrix
quantities (``W1^T W1``, ``W2 W2^T``, ``W2 W1``: every order parameter) is
that of a Markov chain on the ``Lx + Ly`` vectors ``{columns of W1, rows of
W2}`` expressed in an orthonormal basis of their span. Each step draws the
noise's components inside the tracked span (``m`` Gaussians) and the length
of its component outside it (``chi^2`` with ``Lh - m`` degrees of freedom),
which adds one basis vector; a QR factorisation every ``k`` steps brings the
basis back to ``Lx + Ly`` vectors. The cost per step is independent of
``Lh``. Sample paths differ from the network simulation (the noise is drawn
in another way), their statistics do not. It cannot represent operations on
individual hidden neurons: synaptic scaling of the hidden layer and
Rademacher noise need ``method="blocked"``.
"""

from __future__ import annotations

import numpy as np

from .._random import member_streams
from .order_parameters import gram_order_parameters
from .schedule import _next_samples

__all__ = []


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

    #: noise is drawn from the members' streams as it is used (their states are exact between blocks)
    noise_per_epoch = False

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

    def snapshot(self):
        """A copy of the coordinates, ``{"z_in": ..., "z_out": ..., "rows": ...}``."""
        return {"z_in": self.z_in.copy(), "z_out": self.z_out.copy(), "rows": np.array(self.rows)}

    def restore(self, mask, snapshot):
        """Put the ``mask`` members' coordinates back from ``snapshot``."""
        if int(snapshot["rows"]) != self.rows:  # never happens: records come after a compression
            raise RuntimeError("cannot restore coordinates of a different basis size")
        self.z_in[mask] = snapshot["z_in"][mask]
        self.z_out[mask] = snapshot["z_out"][mask]

    def keep(self, snapshot, mask):
        """Copy the ``mask`` members' current coordinates into ``snapshot``."""
        snapshot["z_in"][mask] = self.z_in[mask]
        snapshot["z_out"][mask] = self.z_out[mask]
        snapshot["rows"][...] = self.rows

    def arrays(self):
        """The engine's state between blocks, ``{name: ndarray}``."""
        return {"z_in": self.z_in, "z_out": self.z_out, "rows": np.array(self.rows)}

    def set_arrays(self, arrays):
        """Restore the state saved by :meth:`arrays`."""
        self.z_in[...] = arrays["z_in"]
        self.z_out[...] = arrays["z_out"]
        self.rows = int(arrays["rows"])

    def noise_states(self):
        """States of the members' noise streams (JSON-serialisable)."""
        return [rng.bit_generator.state for rng in self.noise_rngs]

    def set_noise_states(self, states):
        if len(states) != self.n_members:
            raise ValueError(f"expected {self.n_members} noise states (one per member), got {len(states)}")
        for rng, state in zip(self.noise_rngs, states, strict=True):
            rng.bit_generator.state = state

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
