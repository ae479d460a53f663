"""Analyses of networks and training runs, one module per concept.

=============================================  ==================================================
module                                         measures
=============================================  ==================================================
:mod:`~bioplastic.analysis.alignment`          cosine similarity of rules' updates
                                               (:func:`cosine_similarity`,
                                               :func:`sample_directions`,
                                               :func:`update_cosine_similarity`,
                                               :func:`mean_update_cosine_similarity`)
:mod:`~bioplastic.analysis.training_times`     training and instability times of Histories
                                               (:func:`measured_minimum_training_time`,
                                               :func:`measured_instability_times`)
:mod:`~bioplastic.analysis.weights`            weight norms along training
                                               (:func:`weight_norm_trajectories`)
:mod:`~bioplastic.analysis.dimensionality`     participation ratio of activity
                                               (:func:`participation_ratio`,
                                               :func:`hidden_participation_ratio`)
=============================================  ==================================================

Measurements are named apart from the theory's predictions
(``analysis.measured_*`` against ``theory.predicted_*``); the former names
:func:`minimum_training_time` and :func:`instability_times` warn with a
:class:`DeprecationWarning`. :func:`train_until` and
:func:`search_minimum_training_time` train networks and live in
:mod:`bioplastic.training.search`; they are importable from here too.
"""

from ..training.search import search_minimum_training_time, train_until
from .alignment import cosine_similarity, mean_update_cosine_similarity, sample_directions, update_cosine_similarity
from .dimensionality import hidden_participation_ratio, participation_ratio
from .training_times import instability_times, measured_instability_times, measured_minimum_training_time, minimum_training_time
from .weights import weight_norm_trajectories

__all__ = [
    "cosine_similarity",
    "hidden_participation_ratio",
    "instability_times",
    "mean_update_cosine_similarity",
    "measured_instability_times",
    "measured_minimum_training_time",
    "minimum_training_time",
    "participation_ratio",
    "sample_directions",
    "search_minimum_training_time",
    "train_until",
    "update_cosine_similarity",
    "weight_norm_trajectories",
]
