"""Identifying learning rules from observables of neural networks (Nayebi et al. 2020).

=================================================  ==================================================
module                                             does
=================================================  ==================================================
:mod:`~bioplastic.identify.generation`             data sets: observables tables of many trained runs
:mod:`~bioplastic.identify.classification`         classifiers of the rule class and their protocols
=================================================  ==================================================

The classifiers need scikit-learn (``pip install 'bioplastic[identify]'``),
imported when a classifier is made.
"""

from . import classification, generation
from .classification import *  # noqa: F403
from .generation import *  # noqa: F403

__all__ = [*classification.__all__, *generation.__all__]
