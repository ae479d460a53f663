"""The deep linear network figures (Figs 1-3, S1, S2b) under one name.

They live in :mod:`bioplastic.figures.hiratani2022` (one module per figure
group); this module gathers them and the linear setting's helpers.
"""

from .hiratani2022.dimensionality import figS2b
from .hiratani2022.instability import fig3a, fig3b, fig3c, fig3d
from .hiratani2022.learning_dynamics import fig1a, fig1b, fig1c, figS1
from .hiratani2022.linear_setup import ENGINE, SIGMA, TEACHER_NOISE, crossing_steps, initial_order_parameters, student, trajectory_deviation
from .hiratani2022.scalability import fig2a, fig2b, scaling_study

__all__ = [
    "ENGINE",
    "SIGMA",
    "TEACHER_NOISE",
    "crossing_steps",
    "fig1a",
    "fig1b",
    "fig1c",
    "fig2a",
    "fig2b",
    "fig3a",
    "fig3b",
    "fig3c",
    "fig3d",
    "figS1",
    "figS2b",
    "initial_order_parameters",
    "scaling_study",
    "student",
    "trajectory_deviation",
]
