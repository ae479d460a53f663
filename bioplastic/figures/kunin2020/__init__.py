"""Figures of Kunin, Nayebi, Sagastuy-Brena, Ganguli, Bloom & Yamins, *Two Routes to Scalable Credit Assignment without Weight Symmetry* (ICML 2020).

At reduced size: ReLU MLPs of width 256 on MNIST and the offline CIFAR-10
subset instead of ResNets on ImageNet.

==================================  ==========================================================
module                              figures
==================================  ==========================================================
:mod:`.comparison`                  ``kunin_mnist``, ``kunin_cifar10``: test accuracy and
                                    W-B^T angle of BP, FA, DFA, sign symmetry, KP, SA, AA,
                                    WM, IA at depths 2 and 6
:mod:`.robustness`                  ``kunin_transfer``: coefficients tuned at depth 2, used
                                    unchanged at depth 6; ``kunin_noise``: noisy updates
==================================  ==========================================================

:mod:`.shared` holds the settings, the rules with their coefficients, the
W-B^T angle and the tracked training run. Each figure ``<name>`` comes as
``compute_<name>``, ``draw_<name>`` and the registered ``<name>``; see
:mod:`bioplastic.figures`.
"""

from . import comparison, robustness
from .shared import STUDY

__all__ = ["CITATION", "STUDY", "comparison", "robustness"]

#: the paper
CITATION = ("Kunin, Nayebi, Sagastuy-Brena, Ganguli, Bloom & Yamins, Two Routes to Scalable Credit Assignment without Weight Symmetry, "
            "ICML 2020")
