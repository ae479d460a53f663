"""The nonlinear network figures (SARCOS: Figs 4, S3; MNIST: Figs 5, S4) under one name.

They live in :mod:`bioplastic.figures.hiratani2022` (one module per figure
group); this module gathers them and the nonlinear setting's rules.
"""

from .hiratani2022.dimensionality import figS3, figS4
from .hiratani2022.mnist import fig5a, fig5b, fig5c
from .hiratani2022.nonlinear_setup import mnist_rules, sarcos_rules
from .hiratani2022.sarcos import fig4a, fig4b, fig4c, fig4d, fig4e, fig4f

__all__ = [
    "fig4a",
    "fig4b",
    "fig4c",
    "fig4d",
    "fig4e",
    "fig4f",
    "fig5a",
    "fig5b",
    "fig5c",
    "figS3",
    "figS4",
    "mnist_rules",
    "sarcos_rules",
]
