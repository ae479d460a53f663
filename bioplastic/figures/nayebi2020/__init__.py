"""Figures of Nayebi, Srivastava, Ganguli & Yamins, *Identifying Learning Rules From Neural Network Observables* (NeurIPS 2020).

Many networks trained by several learning rules, their weights, rates and
layer-wise activity changes summarised at a series of time points
(:class:`~bioplastic.training.Observables`), and classifiers that tell from
those statistics alone which rule trained a network
(:mod:`bioplastic.identify`). The paper's four rules (SGD, Adam, feedback
alignment, information alignment) and, as an extension, the rules driven by
a scalar reward signal (NP, DANP, REINFORCE, weight perturbation).

=====================================  ==========================================================
module                                 figures
=====================================  ==========================================================
:mod:`.rules`                          ``identify_rules``: accuracy of the linear SVM, random
                                       forest and Conv1D MLP from each observable family, the
                                       confusion matrix of the best
:mod:`.transfer`                       ``identify_transfer``: held-out architectures, unit
                                       subsampling and measurement noise per family, partial
                                       trajectories
:mod:`.neuromodulated`                 ``identify_neuromodulated``: all eight rules, neuromodulated
                                       against gradient-based, among the neuromodulated rules
=====================================  ==========================================================

:mod:`.shared` holds the designs, the classification settings and the
drawing helpers. The three figures of a mode share one data set, generated
into ``<out_dir>/nayebi2020_<mode>/`` by the first and read back by the
others (``--workers N`` trains its runs on a local Dask cluster). Each figure
``<name>`` comes as ``compute_<name>``, ``draw_<name>`` and the registered
``<name>``; see :mod:`bioplastic.figures`.
"""

from . import neuromodulated, rules, transfer
from .shared import STUDY

__all__ = ["CITATION", "STUDY", "neuromodulated", "rules", "transfer"]

#: the paper and the authors' code
CITATION = ("Nayebi, Srivastava, Ganguli & Yamins, Identifying Learning Rules From Neural Network Observables, NeurIPS 2020 "
            "(code: github.com/neuroailab/lr-identify)")
