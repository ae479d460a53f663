"""Array kernels with the ensemble axis.

Pure functions over arrays whose leading axis is the ensemble member: forward
passes and evaluation (:mod:`.passes`), perturbation propagation
(:mod:`.perturbation`), errors carried back through a pathway
(:mod:`.backprop`), sums of outer products as GEMMs (:mod:`.outer`),
convolution and pooling by im2col + GEMM (:mod:`.convolution`) and the
convolutional projections built on them (:mod:`.layers`), noise
drawing (:mod:`.noise`) and reusable scratch arrays (:mod:`.workspace`). They
know no rule, engine, task, training loop or plot; the descriptions
(plasticity rules, neuromodulation, homeostasis) and the engines call them.
"""

from .backprop import backprop_deltas, direct_feedback_deltas
from .convolution import (
    BLOCK_BYTES,
    avg_pool2d,
    avg_pool2d_backward,
    conv2d,
    conv2d_input_gradient,
    conv2d_weight_update,
    conv_output_shape,
    im2col,
    max_pool2d,
    max_pool2d_backward,
    sample_blocks,
)
from .layers import (
    MaxPoolSwitches,
    conv_projection_change,
    conv_projection_input,
    conv_projection_transpose,
    conv_projection_update,
    is_conv,
    is_max_pooled,
)
from .noise import NOISE_TYPES, draw_noise, synaptic_noise_shape
from .outer import deltas_to_updates, outer_sum, outer_sum_transposed
from .passes import Activity, affine, decorrelate, forward, predict
from .perturbation import perturbation_change, synaptic_perturbation_change
from .statistics import covariance_participation_ratio
from .workspace import Workspace, scratch, shared_member

__all__ = [
    "BLOCK_BYTES",
    "NOISE_TYPES",
    "Activity",
    "MaxPoolSwitches",
    "Workspace",
    "affine",
    "avg_pool2d",
    "avg_pool2d_backward",
    "backprop_deltas",
    "conv2d",
    "conv2d_input_gradient",
    "conv2d_weight_update",
    "conv_output_shape",
    "conv_projection_change",
    "conv_projection_input",
    "conv_projection_transpose",
    "conv_projection_update",
    "covariance_participation_ratio",
    "decorrelate",
    "deltas_to_updates",
    "direct_feedback_deltas",
    "draw_noise",
    "forward",
    "im2col",
    "is_conv",
    "is_max_pooled",
    "max_pool2d",
    "max_pool2d_backward",
    "outer_sum",
    "outer_sum_transposed",
    "perturbation_change",
    "predict",
    "sample_blocks",
    "scratch",
    "shared_member",
    "synaptic_noise_shape",
    "synaptic_perturbation_change",
]
