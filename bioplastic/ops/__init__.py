"""Array kernels with the ensemble axis.

Pure functions over arrays whose leading axis is the ensemble member: forward
passes and evaluation (:mod:`.passes`), perturbation propagation
(:mod:`.perturbation`), errors carried back through a pathway
(:mod:`.backprop`), sums of outer products as GEMMs (:mod:`.outer`), noise
drawing (:mod:`.noise`) and reusable scratch arrays (:mod:`.workspace`). They
know no rule, engine, task, training loop or plot; the descriptions
(plasticity rules, neuromodulation, homeostasis) and the engines call them.
"""

from .backprop import backprop_deltas, direct_feedback_deltas
from .noise import NOISE_TYPES, draw_noise
from .outer import deltas_to_updates, outer_sum, outer_sum_transposed
from .passes import Activity, affine, decorrelate, forward, predict
from .perturbation import perturbation_change, synaptic_perturbation_change
from .statistics import covariance_participation_ratio
from .workspace import Workspace, scratch, shared_member

__all__ = [
    "NOISE_TYPES",
    "Activity",
    "Workspace",
    "affine",
    "backprop_deltas",
    "covariance_participation_ratio",
    "decorrelate",
    "deltas_to_updates",
    "direct_feedback_deltas",
    "draw_noise",
    "forward",
    "outer_sum",
    "outer_sum_transposed",
    "perturbation_change",
    "predict",
    "scratch",
    "shared_member",
    "synaptic_perturbation_change",
]
