"""Responses of real neurons, and estimators applied identically to neurons and model units.

* :mod:`~bioplastic.recordings.recording` -- :class:`Recording` (responses
  ``(repeats, stimuli, neurons)`` with a mask), :class:`RDMRecording` (data
  published as dissimilarity matrices), :func:`recording_from_activity`
  (model activity as a recording);
* :mod:`~bioplastic.recordings.kriegeskorte92` -- the 92-image object set
  with monkey- and human-IT RDMs (Kriegeskorte et al., Neuron 2008);
* :mod:`~bioplastic.recordings.dimensionality` -- participation ratio (naive
  and bias-corrected, by formula or from disjoint indices; the signal's
  from repeats with trial noise), sweeps over
  stimulus and neuron counts, cross-validated PCA spectrum and its power-law
  exponent, spectra from RDMs;
* :mod:`~bioplastic.recordings.geometry` -- RDMs (crossnobis from repeats
  too), RDM comparison, noise ceilings, linear CKA, Procrustes shape
  distance;
* :mod:`~bioplastic.recordings.matching` -- model responses matched to a
  recording: its stimuli, its neuron count (repeated draws), its split-half
  reliability (calibrated noise);
* :mod:`~bioplastic.recordings.inference` -- bootstrap over stimuli and over
  ensemble members, shuffled-stimulus baselines, for any similarity score;
* :mod:`~bioplastic.recordings.stimuli` -- stimulus images as a network's
  inputs (area-averaging resize, per-channel standardisation with the
  training set's statistics);
* :mod:`~bioplastic.recordings.nwb` -- spike counts per trial from NWB files
  (optional ``pynwb``).
"""

from .dimensionality import (
    corrected_participation_ratio,
    cross_validated_spectrum,
    dimensionality_sweep,
    disjoint_participation_ratio,
    noise_corrected_participation_ratio,
    participation_ratio,
    power_law_exponent,
    rdm_participation_ratio,
    rdm_spectrum,
)
from .geometry import NoiseCeiling, compare_rdms, crossnobis_rdm, linear_cka, noise_ceiling, procrustes_distance, rdm
from .inference import BootstrapResult, PermutationResult, bootstrap_score, shuffled_baseline
from .kriegeskorte92 import Kriegeskorte92, load_kriegeskorte92
from .matching import (
    MatchedScore,
    add_reliability_noise,
    match_stimuli,
    matched_score,
    split_half_reliability,
    subsample_neurons,
    subsample_stimuli,
)
from .nwb import recording_from_nwb
from .recording import RDMRecording, Recording, model_recording, recording_from_activity
from .stimuli import area_weights, images_to_inputs, resize_images

__all__ = [
    "BootstrapResult",
    "Kriegeskorte92",
    "MatchedScore",
    "NoiseCeiling",
    "PermutationResult",
    "RDMRecording",
    "Recording",
    "add_reliability_noise",
    "area_weights",
    "bootstrap_score",
    "compare_rdms",
    "corrected_participation_ratio",
    "cross_validated_spectrum",
    "crossnobis_rdm",
    "dimensionality_sweep",
    "disjoint_participation_ratio",
    "images_to_inputs",
    "linear_cka",
    "load_kriegeskorte92",
    "match_stimuli",
    "matched_score",
    "model_recording",
    "noise_corrected_participation_ratio",
    "noise_ceiling",
    "participation_ratio",
    "power_law_exponent",
    "procrustes_distance",
    "rdm",
    "rdm_participation_ratio",
    "rdm_spectrum",
    "recording_from_activity",
    "recording_from_nwb",
    "resize_images",
    "shuffled_baseline",
    "split_half_reliability",
    "subsample_neurons",
    "subsample_stimuli",
]
