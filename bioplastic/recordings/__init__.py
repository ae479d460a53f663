"""Responses of real neurons, and estimators applied identically to neurons and model units.

* :mod:`~bioplastic.recordings.recording` -- :class:`Recording` (responses
  ``(repeats, stimuli, neurons)`` with a mask), :class:`RDMRecording` (data
  published as dissimilarity matrices), :func:`recording_from_activity`
  (model activity as a recording);
* :mod:`~bioplastic.recordings.kriegeskorte92` -- the 92-image object set
  with monkey- and human-IT RDMs (Kriegeskorte et al., Neuron 2008);
* :mod:`~bioplastic.recordings.dimensionality` -- participation ratio (naive
  and bias-corrected), cross-validated PCA spectrum and its power-law
  exponent, spectra from RDMs;
* :mod:`~bioplastic.recordings.geometry` -- RDMs, RDM comparison, linear CKA,
  Procrustes shape distance;
* :mod:`~bioplastic.recordings.nwb` -- spike counts per trial from NWB files
  (optional ``pynwb``).
"""

from .dimensionality import (
    corrected_participation_ratio,
    cross_validated_spectrum,
    participation_ratio,
    power_law_exponent,
    rdm_participation_ratio,
    rdm_spectrum,
)
from .geometry import compare_rdms, linear_cka, procrustes_distance, rdm
from .kriegeskorte92 import Kriegeskorte92, load_kriegeskorte92
from .nwb import recording_from_nwb
from .recording import RDMRecording, Recording, recording_from_activity

__all__ = [
    "Kriegeskorte92",
    "RDMRecording",
    "Recording",
    "compare_rdms",
    "corrected_participation_ratio",
    "cross_validated_spectrum",
    "linear_cka",
    "load_kriegeskorte92",
    "participation_ratio",
    "power_law_exponent",
    "procrustes_distance",
    "rdm",
    "rdm_participation_ratio",
    "rdm_spectrum",
    "recording_from_activity",
    "recording_from_nwb",
]
