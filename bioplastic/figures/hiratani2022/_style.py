r"""Titles and axis labels of the figures of Hiratani et al. 2022 (drawing only; matplotlib is not imported here).

Every figure's title names the study and the panel
(``"Hiratani et al. 2022, Fig. 4B: ..."``); every axis names its quantity and
its unit (for the order parameters of the deep linear networks, their
definition, which fixes their scale).
"""

from __future__ import annotations

from .._drawing import study_title

#: how the figures name the study
STUDY = "Hiratani et al. 2022"

# -- deep linear networks (order parameters in the paper's normalisation) ------------------------
ERROR = r"error $\epsilon = \|W_2W_1 - A\|_F^2 / (L_xL_y)$"
ALPHA = r"input-weight norm $\alpha = \|W_1\|_F^2 / L_x$"
A_NORM = r"rescaled input-weight norm $a = \alpha / L_h^{1/3}$"
BETA = r"output-weight norm $\beta = \|W_2\|_F^2 / L_y$"
PHI = r"overlap $\phi = \langle W_2W_1, A - W_2W_1\rangle_F / (L_xL_y)$"
ETA_RATIO = r"learning rate $\eta / \eta^*$ (multiple of the critical rate)"
HIDDEN = r"hidden width $L_h$ (neurons)"
OUTPUTS = r"output size $L_y$ (neurons)"
# -- nonlinear networks ------------------------------------------------------------------------
LEARNING_RATE = r"learning rate $\eta$ (dimensionless)"
WIDTH = "hidden width (neurons)"
WEIGHT_NORM = "weight norm (Frobenius, all layers)"
PARTICIPATION = "participation ratio (effective dimensions)"


def title(fig, panel, text, details=None):
    """Give ``fig`` the title ``"Hiratani et al. 2022, <panel>: <text>"``, with ``details`` on a second line."""
    return study_title(fig, STUDY, panel, text, details)
