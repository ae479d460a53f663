"""Figures of Dalm, van Gerven & Ahmad, *Effective Learning with Node Perturbation in Deep Neural Networks* (arXiv 2310.00965).

Node perturbation (NP), iterative NP (INP) and activity-based NP (ANP),
each alone and in networks whose layer inputs a lateral circuit decorrelates
(DNP, DINP, DANP), against backprop (BP, DBP), in leaky-ReLU MLPs trained
with Adam.

==================================  ==========================================================
module                              figures
==================================  ==========================================================
:mod:`.mnist`                       ``dalm_mnist``: test accuracy of every variant on MNIST;
                                    ``dalm_decorrelation``: input correlation of each
                                    projection over training, ANP against DANP;
                                    ``dalm_no_clean_pass``: DANP with and without a clean pass
:mod:`.cifar10`                     ``dalm_cifar10``: test accuracy of every variant on CIFAR-10
:mod:`.estimator`                   ``dalm_estimator``: cosine of each variant's update with
                                    backprop's as the noise samples ``K`` grow
==================================  ==========================================================

:mod:`.shared` holds the settings, the variants, the tasks, the input
correlation record and the checkpointed training run. Each figure
``<name>`` comes as ``compute_<name>``, ``draw_<name>`` and the registered
``<name>``; see :mod:`bioplastic.figures`.
"""

from . import cifar10, estimator, mnist
from .shared import STUDY

__all__ = ["CITATION", "STUDY", "cifar10", "estimator", "mnist"]

#: the paper
CITATION = "Dalm, van Gerven & Ahmad, Effective Learning with Node Perturbation in Deep Neural Networks, arXiv 2310.00965 (2024)"
