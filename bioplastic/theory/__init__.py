r"""Mean-field theory of node perturbation in linear student-teacher networks.

Theory of Hiratani, Mehta, Lillicrap & Latham, *On the Stability and
Scalability of Node Perturbation Learning* (NeurIPS 2022), for online learning
(one sample per step) in a linear student-teacher setting.

Model
-----
* Inputs ``x ~ N(0, I_Lx)``; teacher ``y* = A x + sigma_t zeta`` with
  ``zeta ~ N(0, I_Ly)`` (``sigma_t`` is the teacher noise, ``teacher_noise``).
* Two-layer student ``y = W2 W1 x`` with ``W1`` of shape ``(Lh, Lx)`` and
  ``W2`` of shape ``(Ly, Lh)``; single-layer student ``y = W x``.
* Xavier-Glorot initialisation: ``W1 ~ N(0, 2/(Lx+Lh))``,
  ``W2 ~ N(0, 2/(Lh+Ly))`` and, for the teacher, ``A ~ N(0, 2/(Lx+Ly))``
  entry-wise.
* Loss ``L = ||y - y*||^2 / 2`` (squared error summed over outputs).
* Node perturbation (NP), hidden and output layer perturbed together:
  ``h~ = W1 x + sigma xi_h``, ``y~ = W2 h~ + sigma xi_y`` and
  ``dW_l = -(eta/sigma) (L~ - L) xi_l x_{l-1}^T`` with the presynaptic rate
  ``x_{l-1}`` from the clean pass. The theory takes ``sigma -> 0`` (except
  where ``perturbation_std`` is an argument).
* Stochastic gradient descent (SGD): ``dW = -eta grad_W L``.

Order parameters (the paper's normalisation)
--------------------------------------------
``alpha = ||W1||_F^2 / Lx`` (input-weight norm), ``beta = ||W2||_F^2 / Ly``
(output-weight norm), the error
``epsilon = ||W2 W1 - A||_F^2 / (Lx Ly)``, the overlap
``phi = <W2 W1, A - W2 W1>_F / (Lx Ly)`` and the (constant) teacher norm
``psi_A = ||A||_F^2 / (Lx Ly)``. Because ``E_x ||(M - A) x||^2 = ||M - A||_F^2``
the mean loss is ``E[L] = (Lx Ly epsilon + Ly sigma_t^2) / 2``. The two-variable
reduction uses ``a = alpha / Lh^(1/3)`` and ``eta_h = eta Lh^(1/3)``.

Equations
---------
All recursions below follow from the exact first and second moments of the
per-step updates for Gaussian ``x``, ``xi`` and ``zeta``, keeping leading
orders in ``1/Lx``, ``1/Ly``, ``1/Lh`` and approximating ``W2 W2^T`` by
``beta I`` and ``W1^T W1`` by ``alpha I`` (isotropy; valid for
``Lh >> Lx, Ly`` under Xavier-Glorot initialisation). They reproduce the
mean-field equations of the paper (its Eqs. 9, 12-14 and Appendix Eq. 83 are
referred to where the corresponding quantity is computed). The
single-layer linear-regression results are exact for every size.
Time is measured in learning steps (one sample per step); the ``"ode"``
method integrates the per-step mean increments as a continuous-time flow,
which differs from iterating them (``"map"``) by relative corrections of the
order of the per-step change.

Modules
-------
``order_parameters``
    :class:`OrderParameters` and their Xavier-Glorot expectations.
``linear_regression``
    Single-layer student, exact (paper Eq. 9).
``two_variable``
    Two-variable NP dynamics in ``(a, epsilon)`` (paper Eq. 12).
``mean_field``
    Four-variable mean-field dynamics of NP and SGD.
``training_time``
    Critical and optimal learning rates (Appendix Eq. 83), NP training
    times and their minimum over learning rates (paper Eq. 13).
``instability``
    The nullcline (paper Eq. 14) and the landmarks of the instability with
    teacher noise (Fig. 3B).

Every function is a prediction; names that could be mistaken for a
measurement (:mod:`bioplastic.analysis` measures training times and
instability times in training runs) carry ``predicted_``.
"""

from .._deprecation import deprecated_alias
from ._solvers import DIVERGENCE_FACTOR
from .instability import InstabilityTimes, instability_nullcline, predicted_instability_times, quasi_static_return_step
from .linear_regression import (
    LearningRates,
    linear_regression_decay_factor,
    linear_regression_error,
    linear_regression_learning_rates,
    linear_regression_training_time,
)
from .mean_field import MeanFieldTrajectory, mean_field_dynamics
from .order_parameters import OrderParameters, order_parameters, xavier_order_parameters
from .training_time import (
    TrainingTime,
    np_critical_learning_rate,
    np_training_time,
    predicted_minimum_training_time,
    sgd_optimal_learning_rate,
)
from .two_variable import TwoVariableTrajectory, two_variable_dynamics

#: Deprecated: :func:`predicted_instability_times`.
instability_times = deprecated_alias(predicted_instability_times, "instability_times", "bioplastic.theory")
#: Deprecated: :func:`predicted_minimum_training_time`.
minimum_training_time = deprecated_alias(predicted_minimum_training_time, "minimum_training_time", "bioplastic.theory")

__all__ = [
    "DIVERGENCE_FACTOR",
    "OrderParameters",
    "LearningRates",
    "TwoVariableTrajectory",
    "MeanFieldTrajectory",
    "TrainingTime",
    "InstabilityTimes",
    "xavier_order_parameters",
    "order_parameters",
    "linear_regression_learning_rates",
    "linear_regression_decay_factor",
    "linear_regression_error",
    "linear_regression_training_time",
    "sgd_optimal_learning_rate",
    "np_critical_learning_rate",
    "two_variable_dynamics",
    "mean_field_dynamics",
    "np_training_time",
    "predicted_minimum_training_time",
    "instability_nullcline",
    "predicted_instability_times",
    "quasi_static_return_step",
    # deprecated aliases
    "minimum_training_time",
    "instability_times",
]
