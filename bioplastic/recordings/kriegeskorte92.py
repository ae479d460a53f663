"""The 92-image object set with monkey- and human-IT dissimilarity matrices.

Kriegeskorte, Mur, Ruff, Kiani, Bodurka, Esteky, Tanaka & Bandettini,
"Matching categorical object representations in inferior temporal cortex of
man and monkey", Neuron 60, 1126-1141 (2008): 92 colour images of real-world
objects (faces, bodies, animals, natural and artificial objects), the RDM
(``1 - Pearson r``) of the responses of 674 monkey-IT neurons (Kiani, Esteky,
Mirpour & Tanaka, J. Neurophysiol. 97, 4296-4309, 2007) and RDMs of human-IT
fMRI responses.  Only dissimilarities are published on the neural side, so
the recordings are :class:`~bioplastic.recordings.RDMRecording` objects.

The three MATLAB files are those of ``demos/92imageData/`` in the rsatoolbox
repository (https://github.com/rsagroup/rsatoolbox, MIT licence):

* ``Kriegeskorte_Neuron2008_supplementalData.mat`` -- ``RDMs_mIT_hIT_fig1``
  (the monkey-IT RDM and the human-IT RDM of 316 voxels of Fig. 1, condensed),
  ``stimuli_92objs`` (the images, 175 x 175 x 3 uint8), ``categoryVectors``
  (92 x 12 flags) and ``categoryLabels``;
* ``92_brainRDMs.mat`` -- ``RDMs``: human-IT RDMs of 4 subjects x 2 sessions;
* ``92_modelRDMs.mat`` -- ``Models``: 8 reference model RDMs.

:func:`load_kriegeskorte92` reads them from a local data directory
(``data_dir=`` or ``BIOPLASTIC_DATA_DIR``, subfolder ``kriegeskorte92/``) or
downloads them into the pooch cache, and checks each file's sha256 checksum.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from ..tasks._data import fetch_file, verify_checksum
from .recording import RDMRecording

__all__ = ["FILES", "URL", "Kriegeskorte92", "load_kriegeskorte92"]


#: Directory of the canonical files (raw-file URLs of the rsatoolbox repository).
URL = "https://raw.githubusercontent.com/rsagroup/rsatoolbox/main/demos/92imageData/"

#: sha256 checksum of each file.
FILES = {
    "Kriegeskorte_Neuron2008_supplementalData.mat": "06f21214399a5d43dc264eed19a7f4b8daf11c8622a59eec3e106064ce5e3504",
    "92_brainRDMs.mat": "1743f90a15e895798a94318649e80e1123a7e5943a1703fa1dd7c31ea5780b7c",
    "92_modelRDMs.mat": "e1d2b58bb2f9508bc13da4c81b94d1ab07823b25ed30b9563bd9d6d730c2a00a",
}

_CITATION = "Kriegeskorte et al., Neuron 60, 1126 (2008)"


@dataclass(frozen=True)
class Kriegeskorte92:
    """The 92-image set: images, categories and neural and model RDMs.

    Attributes
    ----------
    monkey_it : RDMRecording
        RDM (``1 - r``) of 674 monkey-IT neurons (Kiani et al. 2007).
    human_it : RDMRecording
        RDM (``1 - r``) of 316 human-IT voxels (Fig. 1 of Kriegeskorte et al. 2008).
    human_it_sessions : tuple of RDMRecording
        Human-IT RDMs of 4 subjects x 2 sessions (``metadata["subject"]``,
        ``metadata["session"]``), e.g. for a between-session noise ceiling.
    models : dict of str to RDMRecording
        The 8 reference model RDMs by name (animacy, categories, monkeyIT,
        EVA, HMAX, V1, silhouette, radon).
    images : ndarray of shape (92, 175, 175, 3), uint8
    category_vectors : ndarray of shape (92, 12), bool
        Membership of each image in each category of ``category_labels``.
    category_labels : tuple of str
        The 12 category names (``"animate"``, ``"inanim"``, ``"human"``, ...).
    image_categories : tuple of str
        The category of each image as written in the file (e.g.
        ``"human bodypart"``).
    """

    monkey_it: RDMRecording
    human_it: RDMRecording
    human_it_sessions: tuple
    models: dict = field(repr=False)
    images: np.ndarray = field(repr=False)
    category_vectors: np.ndarray = field(repr=False)
    category_labels: tuple
    image_categories: tuple = field(repr=False)


def _text(value):
    return str(np.asarray(value).ravel()[0]) if np.size(value) else ""


def _load(name, data_dir, download):
    from scipy.io import loadmat

    path = fetch_file(name, dataset="kriegeskorte92", url=URL + name, data_dir=data_dir, download=download,
                      known_hash="sha256:" + FILES[name])
    verify_checksum(path, "sha256:" + FILES[name],
                    advice=f"The file is corrupted, incomplete or not the canonical file; delete it and copy or "
                           f"download it again from {URL + name}.")
    try:
        return loadmat(path)
    except Exception as exc:  # scipy raises several types for unreadable files
        raise ValueError(f"{path}: cannot be read as a MATLAB file ({exc}); expected the file {URL + name}") from exc


def load_kriegeskorte92(*, data_dir=None, download=True):
    """Load the 92-image object set of Kriegeskorte et al. (Neuron 2008).

    Parameters
    ----------
    data_dir : str, os.PathLike or None, optional
        Local data directory; the files are looked for in
        ``<data_dir>/kriegeskorte92/`` and then ``<data_dir>``, and nothing is
        downloaded.  Default: the environment variable ``BIOPLASTIC_DATA_DIR``,
        or else the pooch cache ``pooch.os_cache("bioplastic")/kriegeskorte92/``.
    download : bool, optional
        Whether files missing from the cache may be downloaded from
        :data:`URL` (ignored with a local data directory).

    Returns
    -------
    Kriegeskorte92

    Raises
    ------
    FileNotFoundError
        If a file is missing; the message names the file, the directories
        searched and the download URL.
    ValueError
        If a file's sha256 checksum differs from :data:`FILES` (the message
        names the file) or it cannot be read.
    """
    supplement = _load("Kriegeskorte_Neuron2008_supplementalData.mat", data_dir, download)
    brain = _load("92_brainRDMs.mat", data_dir, download)
    model = _load("92_modelRDMs.mat", data_dir, download)

    fig1 = supplement["RDMs_mIT_hIT_fig1"].ravel()
    neural = {}
    for entry in fig1:
        name = _text(entry["name"])
        neural[name] = RDMRecording(entry["RDM"], metric="correlation",
                                    metadata={"name": name, "source": _CITATION})
    monkey = next(rdm for name, rdm in neural.items() if name.startswith("mIT"))
    human = next(rdm for name, rdm in neural.items() if name.startswith("hIT"))
    monkey.metadata.update(species="macaque", area="IT", n_neurons=674,
                           reference="Kiani et al., J. Neurophysiol. 97, 4296 (2007)")
    human.metadata.update(species="human", area="IT", n_voxels=316)

    sessions = []
    for entry in brain["RDMs"].ravel():
        name = _text(entry["name"])
        match = re.search(r"\|\s*(\w+)\s*\|\s*Session:\s*(\d+)", name)
        meta = {"name": name, "species": "human", "area": "IT", "source": _CITATION}
        if match:
            meta.update(subject=match.group(1), session=int(match.group(2)))
        sessions.append(RDMRecording(entry["RDM"], metric="correlation", metadata=meta))
    sessions.sort(key=lambda r: (r.metadata.get("subject", ""), r.metadata.get("session", 0)))

    models = {}
    for entry in model["Models"].ravel():
        name = _text(entry["name"])
        models[name] = RDMRecording(entry["RDM"], metadata={"name": name, "source": _CITATION})

    stimuli = supplement["stimuli_92objs"].ravel()
    images = np.stack([np.asarray(s["image"], dtype=np.uint8) for s in stimuli])
    return Kriegeskorte92(
        monkey_it=monkey,
        human_it=human,
        human_it_sessions=tuple(sessions),
        models=models,
        images=images,
        category_vectors=np.asarray(supplement["categoryVectors"]).astype(bool),
        category_labels=tuple(_text(label) for label in supplement["categoryLabels"].ravel()),
        image_categories=tuple(_text(s["category"]) for s in stimuli),
    )
