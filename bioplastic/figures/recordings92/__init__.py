"""Hidden layers of CIFAR-10 CNNs trained by several rules against monkey- and human-IT data on the 92-image set.

CNNs trained on CIFAR-10 by SGD (backprop), node perturbation with synaptic
scaling, feedback alignment, sign symmetry and DANP, an ensemble over seeds
each, and their hidden layers measured as one measures neurons: their
dimensionality (participation ratio, naive and corrected for trial noise
and finite samples; the power-law exponent of the PCA spectrum, naive and
cross-validated) over training, and their representational geometry on the
92 images of Kriegeskorte et al. (2008) against monkey IT (Kiani et al.
2007) and human IT, with noise ceilings, bootstrap intervals and shuffled
baselines (Nili et al. 2014). The question: does NP leave a
lower-dimensional hidden representation than SGD at a similar error, and
does training move the networks closer to IT or away from it?

==================================  ==========================================================
module                              figures
==================================  ==========================================================
:mod:`.dimensionality`              ``recordings92_dimensionality``: participation ratio and
                                    PCA exponent of every hidden layer over training, naive
                                    against corrected; NP against SGD at similar accuracy
:mod:`.similarity`                  ``recordings92_it``: every hidden layer's RDM of the 92
                                    images against monkey and human IT before and after
                                    training, noise ceiling, reference models, intervals over
                                    images and seeds, shuffled baselines
==================================  ==========================================================

:mod:`.shared` holds the settings, the networks and rules, the stimuli (the
92 images as CIFAR-10 inputs), the geometry recorder and the training runs,
which the two figures share (through ``out_dir``). Each figure ``<name>``
comes as ``compute_<name>``, ``draw_<name>`` and the registered ``<name>``;
see :mod:`bioplastic.figures`. The CIFAR-10 images of an offline run are the
JPEG-lossy subset, which each figure's results and title say.
"""

from . import dimensionality, similarity
from .shared import STUDY

__all__ = ["CITATION", "STUDY", "dimensionality", "similarity"]

#: the data and the methods
CITATION = ("Kriegeskorte et al., Neuron 60, 1126 (2008); Kiani et al., J. Neurophysiol. 97, 4296 (2007); Nili et al., "
            "PLoS Comput. Biol. 10, e1003553 (2014); Chun, Canatar, Chung & Lee, arXiv 2509.26560 (2025); Stringer et al., "
            "Nature 571, 361 (2019)")
