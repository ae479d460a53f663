r"""Fast online learning (one sample per step) in one-hidden-layer linear networks.

The linear student-teacher studies of Hiratani, Mehta, Lillicrap & Latham
(NeurIPS 2022) train ``y = W2 W1 x`` (sizes ``Lx``, ``Lh``, ``Ly``) with one
fresh Gaussian sample per step, for ``10^5``-``10^6`` steps, at
``Lh = 10^4``. A straightforward step touches every entry of ``W1``
(``Lh x Lx``) several times (two forward passes, an outer-product update
array); :func:`train_online` offers two faster engines, and runs them in the
one training loop (:func:`bioplastic.training.run_ensemble`: records,
divergence, freezing, checkpoints).

``method="blocked"`` (sample-path exact, :mod:`.blocked`)
    Simulates the network itself, neuron by neuron, and reproduces
    :func:`bioplastic.train` with ``batch_size=1`` (same seeds, same noise,
    same samples) up to rounding. Within a block of ``k`` steps ``W1`` is kept
    as ``W1_base`` plus ``k`` pending rank-1 updates, applied with one matrix
    product per block; synaptic scaling of the hidden neurons is exact too.

``method="reduced"`` (exact in distribution, :mod:`.reduced`)
    Simulates the joint law of every order parameter as a Markov chain on
    the hidden-space coordinates of ``{columns of W1, rows of W2}``, at a cost
    per step independent of ``Lh``. Sample paths differ from the network
    simulation, their statistics do not. Synaptic scaling of the hidden layer
    and Rademacher noise need ``method="blocked"``.

Order parameters (:mod:`.order_parameters`, recorded at every record step,
paper normalisation): ``alpha = ||W1||_F^2 / Lx``, ``beta = ||W2||_F^2 / Ly``,
``epsilon = ||W2 W1 - A||_F^2 / (Lx Ly)``,
``phi = <W2 W1, A - W2 W1>_F / (Lx Ly)`` and the planar dimensionality
``(tr C)^2 / tr(C^2)`` of ``C = W1^T W1``. Record steps
(:func:`log_spaced_steps`, :func:`record_steps`) are in :mod:`.schedule`.
"""

from .order_parameters import ORDER_PARAMETERS, gram_order_parameters, linear_order_parameters, planar_dimensionality
from .schedule import log_spaced_steps, record_steps
from .training import METHODS, train_online

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
