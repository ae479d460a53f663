"""Figures of Hiratani, Mehta, Lillicrap & Latham, *On the Stability and Scalability of Node Perturbation Learning* (NeurIPS 2022).

One module per figure group, named after what it shows:

==================================  ==========================================================
module                              figures
==================================  ==========================================================
:mod:`.learning_dynamics`           1A-C, S1: error and weight norms of NP in deep linear
                                    networks against the mean-field theory
:mod:`.scalability`                 2A-B: minimum training time and optimal learning rate
                                    against hidden and output sizes
:mod:`.instability`                 3A-D: instability with teacher noise; synaptic scaling
:mod:`.sarcos`                      4A-F: the motor task (SARCOS): alignment, learning curves,
                                    instability, training time, synaptic scaling
:mod:`.mnist`                       5A-C: the vision task (MNIST)
:mod:`.dimensionality`              S2B, S3D, S4E: dimensionality of hidden representations
:mod:`.cifar10`                     S5: NP in a convolutional network on CIFAR-10 with weight
                                    decay and synaptic scaling; ``figS5_rules``: BP, FA and
                                    ANP on the same network (a companion, not in the paper)
==================================  ==========================================================

:mod:`.linear_setup` and :mod:`.nonlinear_setup` hold the settings and
helpers the figure modules share (the linear student, SARCOS and MNIST tasks
and rules); :mod:`.cifar10` keeps its own (the task, the networks). Each figure ``<name>`` comes as ``compute_<name>`` (results, no
matplotlib), ``draw_<name>`` (figure from results) and the registered
``<name>`` (both, with the files); see :mod:`bioplastic.figures`.
"""

from . import cifar10, dimensionality, instability, learning_dynamics, mnist, sarcos, scalability

__all__ = ["CITATION", "STUDY", "cifar10", "dimensionality", "instability", "learning_dynamics", "mnist", "sarcos", "scalability"]
from ._style import STUDY  # how the figures and ``bioplastic figure --list`` name the study

#: the paper
CITATION = "Hiratani, Mehta, Lillicrap & Latham, On the Stability and Scalability of Node Perturbation Learning, NeurIPS 2022"
