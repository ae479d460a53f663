"""Feed-forward networks of rate-coded populations.

A :class:`Network` is a plain *description* (populations and projections);
engines (:mod:`bioplastic.engines`) run it. The changing quantities of a run,
the synaptic weights of every ensemble member, live in a :class:`NetworkState`.
"""

from __future__ import annotations

import numpy as np

from ._random import make_rng
from ._validation import check_positive
from .decorrelation import LateralDecorrelation
from .neurons import Population
from .ops import Activity, forward, is_conv
from .synapses import ConvProjection, Projection

__all__ = ["Activity", "Network", "NetworkState"]


class NetworkState:
    """Synaptic weights of an ensemble of networks.

    Parameters
    ----------
    weights : list of ndarray of shape (n_members, n_post, n_pre)
        One array per projection.
    biases : list of (ndarray of shape (n_members, n_post) or None)
    lateral : list of (ndarray of shape (n_members, n_pre, n_pre) or None), optional
        Lateral decorrelation matrix ``R_k`` in front of each projection
        (:class:`~bioplastic.decorrelation.LateralDecorrelation`); ``None``
        (the default, or an entry) where the input is not decorrelated.
    """

    def __init__(self, weights, biases, lateral=None):
        if len(weights) != len(biases):
            raise ValueError(f"got {len(weights)} weight arrays but {len(biases)} bias entries")
        self.weights = list(weights)
        self.biases = list(biases)
        self.lateral = [None] * len(self.weights) if lateral is None else list(lateral)
        if len(self.lateral) != len(self.weights):
            raise ValueError(f"got {len(weights)} weight arrays but {len(self.lateral)} lateral entries")
        for k, (w, r) in enumerate(zip(self.weights, self.lateral, strict=True)):
            if r is not None and r.shape != (w.shape[0], w.shape[2], w.shape[2]):
                raise ValueError(f"lateral[{k}] should have shape (n_members, n_pre, n_pre) = {(w.shape[0], w.shape[2], w.shape[2])}, "
                                 f"got {r.shape}")
        n_members = {w.shape[0] for w in self.weights}
        if len(n_members) != 1:
            raise ValueError(f"all weight arrays need the same ensemble size, got {sorted(n_members)}")

    @property
    def n_members(self):
        """Number of ensemble members ``E``."""
        return self.weights[0].shape[0]

    @property
    def dtype(self):
        return self.weights[0].dtype

    @property
    def decorrelated(self):
        """Whether any projection's input passes through a lateral decorrelation matrix."""
        return any(r is not None for r in self.lateral)

    def copy(self):
        return NetworkState([w.copy() for w in self.weights], [None if b is None else b.copy() for b in self.biases],
                            _each(self.lateral, np.copy))

    def member(self, index):
        """Return member ``index`` as a one-member state (a copy)."""
        return self.view(slice(index, index + 1)).copy()

    def view(self, members):
        """Return the members ``members`` (a slice) as a state of views: writes land in this state."""
        return NetworkState([w[members] for w in self.weights], [None if b is None else b[members] for b in self.biases],
                            _each(self.lateral, lambda r: r[members]))

    def take(self, indices):
        """Return the members ``indices`` (a sequence of int; repeats allowed) as a new state (copies)."""
        indices = np.asarray(indices, dtype=np.intp)
        return NetworkState([w[indices] for w in self.weights], [None if b is None else b[indices] for b in self.biases],
                            _each(self.lateral, lambda r: r[indices]))

    @classmethod
    def stack(cls, states):
        """Concatenate several states along the ensemble axis."""
        weights = [np.concatenate([s.weights[k] for s in states]) for k in range(len(states[0].weights))]
        biases = []
        for k in range(len(states[0].biases)):
            parts = [s.biases[k] for s in states]
            biases.append(None if parts[0] is None else np.concatenate(parts))
        lateral = []
        for k in range(len(weights)):
            parts = [s.lateral[k] for s in states]
            lateral.append(None if parts[0] is None else np.concatenate(parts))
        return cls(weights, biases, lateral)

    def weight_norms(self):
        """Frobenius norm of every layer, ``ndarray of shape (n_members, n_layers)``."""
        return np.stack([np.sqrt(np.einsum("ei,ei->e", v, v)) for v in (w.reshape(w.shape[0], -1) for w in self.weights)], axis=1)

    def arrays(self):
        """Return the state as a flat ``{name: array}`` mapping (for saving)."""
        out = {}
        for k, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            out[f"W{k}"] = w
            if b is not None:
                out[f"b{k}"] = b
            if self.lateral[k] is not None:
                out[f"R{k}"] = self.lateral[k]
        return out

    @classmethod
    def from_arrays(cls, arrays, n_layers):
        """Rebuild a state from :meth:`arrays` (``W<k>``, ``b<k>`` and, where decorrelated, ``R<k>``)."""
        weights = [np.asarray(arrays[f"W{k}"]) for k in range(n_layers)]
        biases = [np.asarray(arrays[f"b{k}"]) if f"b{k}" in arrays else None for k in range(n_layers)]
        lateral = [np.asarray(arrays[f"R{k}"]) if f"R{k}" in arrays else None for k in range(n_layers)]
        return cls(weights, biases, lateral)


def _each(arrays, func):
    """``func`` applied to every array of a list with ``None`` entries."""
    return [None if a is None else func(a) for a in arrays]


class Network:
    """A feed-forward chain of populations linked by projections.

    Parameters
    ----------
    populations : sequence of Population or int
        Input population first. An int ``n`` means ``Population(n)`` (linear,
        Gaussian noise).
    projections : sequence of Projection, optional
        One per consecutive pair of populations. By default Xavier-Glorot
        normal projections scaled by ``init_scale``, with biases if ``bias``.
    init_scale : float, default 1.0
        Initial weight scale of the default projections.
    bias : bool, default True
        Whether the default projections have biases.
    decorrelation : LateralDecorrelation, optional
        Lateral decorrelating circuits in front of the projections it names:
        projection ``k`` then sees ``x*_k = R_k x_k`` (see
        :mod:`bioplastic.decorrelation`). Default: none.

    Examples
    --------
    >>> from bioplastic import Network, Population
    >>> net = Network([Population(784), Population(300, activation="relu"),
    ...                Population(10, activation="softmax")])
    >>> net.sizes
    (784, 300, 10)
    """

    def __init__(self, populations, *, projections=None, init_scale=1.0, bias=True, decorrelation=None):
        populations = list(populations)
        if len(populations) < 2:
            raise ValueError(f"a Network needs at least 2 populations (input and output), got {len(populations)}")
        self.populations = [p if isinstance(p, Population) else Population(p) for p in populations]
        self.init_scale = check_positive(init_scale, "init_scale")
        self.bias = bias
        if projections is None:
            projections = [
                Projection(pre.n_neurons, post.n_neurons, init_scale=init_scale, bias=bias)
                for pre, post in zip(self.populations[:-1], self.populations[1:], strict=True)
            ]
        projections = list(projections)
        if len(projections) != len(self.populations) - 1:
            raise ValueError(
                f"expected {len(self.populations) - 1} projections for {len(self.populations)} populations, got {len(projections)}"
            )
        for k, proj in enumerate(projections):
            if not isinstance(proj, Projection):
                raise TypeError(f"projections[{k}] should be a Projection, got {proj!r}")
            pre, post = self.populations[k], self.populations[k + 1]
            if (proj.n_pre, proj.n_post) != (pre.n_neurons, post.n_neurons):
                raise ValueError(
                    f"projections[{k}] connects {proj.n_pre} -> {proj.n_post} neurons but populations "
                    f"{k} and {k + 1} have {pre.n_neurons} and {post.n_neurons}"
                )
        self.projections = projections
        if decorrelation is not None and not isinstance(decorrelation, LateralDecorrelation):
            raise TypeError(f"decorrelation should be a LateralDecorrelation or None, got {decorrelation!r}")
        self.decorrelation = decorrelation
        if decorrelation is not None:
            for k, on in enumerate(decorrelation.layer_mask(self)):  # layer indices in range
                if on and is_conv(self.projections[k]):
                    raise ValueError(f"lateral decorrelation of a convolutional projection's input (projection {k}, "
                                     f"{self.projections[k]!r}) is not supported; decorrelate the all-to-all projections only, "
                                     f"e.g. LateralDecorrelation(layers={[j for j, p in enumerate(self.projections) if p.kind != 'conv']})")

    def decorrelated_layers(self):
        """Which projections' inputs pass through a lateral decorrelation matrix; a list of bool."""
        if self.decorrelation is None:
            return [False] * self.n_layers
        return self.decorrelation.layer_mask(self)

    @property
    def n_layers(self):
        """Number of projections (weight layers)."""
        return len(self.projections)

    @property
    def sizes(self):
        return tuple(p.n_neurons for p in self.populations)

    @property
    def n_inputs(self):
        return self.populations[0].n_neurons

    @property
    def n_outputs(self):
        return self.populations[-1].n_neurons

    @property
    def activations(self):
        """Activation of each layer's postsynaptic population."""
        return [p.activation_ for p in self.populations[1:]]

    def init_state(self, seeds=None, *, dtype=np.float64, rngs=None):
        """Draw initial weights for an ensemble.

        Parameters
        ----------
        seeds : sequence of int, optional
            One seed per member; member ``i`` uses the init stream of
            ``SeedSequence(seeds[i])`` (see :func:`bioplastic._random.member_streams`).
        dtype : dtype, default float64
        rngs : sequence of numpy.random.Generator, optional
            Explicit generators instead of ``seeds``.

        Returns
        -------
        NetworkState
        """
        from ._random import member_streams

        if rngs is None:
            seeds = [0] if seeds is None else list(np.atleast_1d(seeds))
            rngs = [member_streams(int(s))[0] for s in seeds]
        else:
            rngs = [make_rng(r) for r in rngs]
        # member-major draws: member e's weights depend on its own stream only
        weights = [np.empty((len(rngs), *proj.shape), dtype=dtype) for proj in self.projections]
        biases = [np.zeros((len(rngs), proj.n_biases), dtype=dtype) if proj.bias else None for proj in self.projections]
        for e, rng in enumerate(rngs):
            for k, proj in enumerate(self.projections):
                weights[k][e] = proj.initial_weights(rng, dtype)
        lateral = None
        if self.decorrelation is not None:
            lateral = self.decorrelation.initial_matrices(self, len(rngs), dtype)
        return NetworkState(weights, biases, lateral)

    def forward(self, state, x):
        """Clean (noise-free) pass of every member on inputs ``x``; returns :class:`Activity`."""
        return forward(self, state, x)

    def describe(self):
        """Return a JSON-serialisable description of the network."""
        out = {
            "populations": [p.describe() for p in self.populations],
            "projections": [p.describe() for p in self.projections],
        }
        if self.decorrelation is not None:
            out["decorrelation"] = self.decorrelation.get_params()
        return out

    @classmethod
    def from_description(cls, description):
        """Rebuild a network from :meth:`describe`'s output."""
        pops = [Population(p["n_neurons"], activation=p["activation"], noise=p["noise"], name=p.get("name")) for p in description["populations"]]
        projs = [ConvProjection(**{k: v for k, v in p.items() if k != "kind"}) if p.get("kind") == "conv" else Projection(**p)
                 for p in description["projections"]]
        decorrelation = None
        if description.get("decorrelation") is not None:
            params = dict(description["decorrelation"])
            if isinstance(params.get("layers"), list):
                params["layers"] = tuple(params["layers"])
            decorrelation = LateralDecorrelation(**params)
        return cls(pops, projections=projs, decorrelation=decorrelation)

    def __repr__(self):
        layers = " -> ".join(f"{p.n_neurons}({p.activation_.name if p.activation_.describe() == p.activation_.name else repr(p.activation_)})"
                             for p in self.populations)
        extra = "" if self.decorrelation is None else f", decorrelation={self.decorrelation!r}"
        return f"Network({layers}{extra})"
