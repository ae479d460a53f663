"""Recordings of neural responses to a set of stimuli, and their dissimilarity matrices.

Two objects carry real (or model) data into the estimators of
:mod:`bioplastic.recordings`:

* :class:`Recording` -- responses of shape ``(repeats, stimuli, neurons)``
  with a mask of observed entries (missing entries are NaN), stimulus
  identifiers and a metadata dictionary.  Built from arrays
  (:meth:`Recording.from_arrays`), from Stringer-style ``.mat`` files
  (:meth:`Recording.from_stringer_mat`) or from model activity
  (:func:`recording_from_activity` for arrays, :func:`model_recording` for a
  layer of a network's ensemble members on a stimulus set), so that the same
  estimator runs on neurons and on model units.
* :class:`RDMRecording` -- a representational dissimilarity matrix (RDM) for
  data published only as dissimilarities (Kriegeskorte, Mur & Bandettini,
  Front. Syst. Neurosci. 2008), given in condensed or square form.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from scipy.spatial.distance import squareform

from .._validation import check_finite_array

__all__ = ["RDMRecording", "Recording", "model_recording", "recording_from_activity"]


def _response_matrix(responses, name="responses"):
    """Mean responses ``(n_stimuli, n_neurons)`` of a :class:`Recording` (over repeats) or of an array, checked: finite, 2-D, >= 2 stimuli.

    The one way the estimators of :mod:`.dimensionality` and :mod:`.geometry` read responses.
    """
    if isinstance(responses, Recording):
        responses = responses.mean_responses()
    responses = check_finite_array(responses, name, ndim=2, dtype=float)
    if responses.shape[0] < 2:
        raise ValueError(f"{name} should have at least 2 stimuli (rows), got shape {responses.shape}")
    return responses


def _stimulus_ids(stimulus_ids, n_stimuli):
    if stimulus_ids is None:
        return np.arange(n_stimuli)
    ids = np.asarray(stimulus_ids)
    if ids.shape != (n_stimuli,):
        raise ValueError(f"stimulus_ids should have shape ({n_stimuli},) (one per stimulus), got {ids.shape}")
    if len(np.unique(ids)) != n_stimuli:
        raise ValueError("stimulus_ids should be unique, got repeated identifiers")
    return ids


def _metadata(metadata):
    if metadata is None:
        return {}
    if not isinstance(metadata, dict):
        raise TypeError(f"metadata should be a dict or None, got {type(metadata).__name__}")
    return dict(metadata)


class Recording:
    """Responses of neurons to repeated presentations of stimuli.

    Parameters
    ----------
    responses : array_like of shape (n_repeats, n_stimuli, n_neurons)
        Response of each neuron on each repeat of each stimulus.  NaN marks a
        missing entry (e.g. a stimulus shown fewer times than others).
    mask : array_like of bool, same shape as ``responses``, optional
        True where an entry was observed.  Entries outside the mask are set to
        NaN.  Default: the entries of ``responses`` that are not NaN.
    stimulus_ids : array_like of shape (n_stimuli,), optional
        Unique identifier of each stimulus (default ``0 .. n_stimuli - 1``).
    metadata : dict, optional
        Free-form description (source file, species, area, ...); copied.

    Attributes
    ----------
    responses : ndarray of shape (n_repeats, n_stimuli, n_neurons)
        float64, NaN outside ``mask``.
    mask : ndarray of bool, same shape
    stimulus_ids : ndarray of shape (n_stimuli,)
    metadata : dict

    Raises
    ------
    ValueError
        If ``responses`` is not 3-dimensional, ``mask`` has another shape,
        a masked-in entry is infinite, or ``stimulus_ids`` does not have one
        unique entry per stimulus.
    """

    def __init__(self, responses, *, mask=None, stimulus_ids=None, metadata=None):
        responses = np.array(responses, dtype=float)
        if responses.ndim != 3:
            raise ValueError(f"responses should have shape (n_repeats, n_stimuli, n_neurons), got shape {responses.shape}")
        if mask is None:
            mask = ~np.isnan(responses)
        else:
            mask = np.asarray(mask)
            if mask.shape != responses.shape:
                raise ValueError(f"mask should have the shape of responses {responses.shape}, got {mask.shape}")
            if mask.dtype != bool:
                raise TypeError(f"mask should be a boolean array, got dtype {mask.dtype}")
            mask = mask & ~np.isnan(responses)
        if np.isinf(responses[mask]).any():
            raise ValueError("responses contain infinite values; expected finite values or NaN for missing entries")
        responses[~mask] = np.nan
        self.responses = responses
        self.mask = mask
        self.stimulus_ids = _stimulus_ids(stimulus_ids, responses.shape[1])
        self.metadata = _metadata(metadata)

    @property
    def n_repeats(self):
        """Number of repeats (first axis)."""
        return self.responses.shape[0]

    @property
    def n_stimuli(self):
        """Number of stimuli (second axis)."""
        return self.responses.shape[1]

    @property
    def n_neurons(self):
        """Number of neurons (third axis)."""
        return self.responses.shape[2]

    @property
    def complete(self):
        """True if every entry was observed."""
        return bool(self.mask.all())

    def __repr__(self):
        missing = self.mask.size - int(self.mask.sum())
        return (f"Recording(n_repeats={self.n_repeats}, n_stimuli={self.n_stimuli}, "
                f"n_neurons={self.n_neurons}, missing={missing})")

    def mean_responses(self):
        """Mean response over the observed repeats of each stimulus.

        Returns
        -------
        ndarray of shape (n_stimuli, n_neurons)

        Raises
        ------
        ValueError
            If some neuron has no observed repeat of some stimulus.
        """
        counts = self.mask.sum(axis=0)
        if (counts == 0).any():
            stimulus, neuron = np.argwhere(counts == 0)[0]
            raise ValueError(f"neuron {neuron} has no observed response to stimulus {self.stimulus_ids.tolist()[stimulus]!r}; "
                             "expected at least one repeat per stimulus and neuron")
        return np.where(self.mask, self.responses, 0.0).sum(axis=0) / counts

    def repeat_pair(self, *, repeats=(0, 1)):
        """Two repeats as complete arrays, e.g. for cross-validated PCA.

        Parameters
        ----------
        repeats : tuple of two int, optional
            Repeat indices (default the first two).

        Returns
        -------
        tuple of two ndarray of shape (n_stimuli, n_neurons)

        Raises
        ------
        ValueError
            If there are fewer than two repeats, the indices are bad, or an
            entry of either repeat is missing.
        """
        if self.n_repeats < 2:
            raise ValueError(f"a repeat pair needs at least 2 repeats, the recording has {self.n_repeats}")
        if len(repeats) != 2 or repeats[0] == repeats[1] or not all(0 <= int(r) < self.n_repeats for r in repeats):
            raise ValueError(f"repeats should be two different indices in [0, {self.n_repeats}), got {repeats!r}")
        pair = []
        for r in repeats:
            if not self.mask[r].all():
                raise ValueError(f"repeat {r} has {int((~self.mask[r]).sum())} missing entries; expected a complete repeat")
            pair.append(self.responses[r].copy())
        return tuple(pair)

    def rdm(self, *, metric="correlation"):
        """The RDM of the mean responses (see :func:`bioplastic.recordings.geometry.rdm`).

        Parameters
        ----------
        metric : {"correlation", "euclidean", "sqeuclidean"}, optional

        Returns
        -------
        RDMRecording
        """
        from .geometry import rdm

        return RDMRecording(rdm(self.mean_responses(), metric=metric), stimulus_ids=self.stimulus_ids,
                            metric=metric, metadata={**self.metadata, "n_neurons": self.n_neurons})

    @classmethod
    def from_arrays(cls, responses, *, mask=None, stimulus_ids=None, metadata=None):
        """Build a recording from an array of responses.

        Parameters
        ----------
        responses : array_like of shape (n_stimuli, n_neurons) or (n_repeats, n_stimuli, n_neurons)
            A 2-d array is one repeat.
        mask, stimulus_ids, metadata
            As for :class:`Recording`.

        Returns
        -------
        Recording
        """
        responses = np.asarray(responses, dtype=float)
        if responses.ndim == 2:
            responses = responses[None]
            if mask is not None:
                mask = np.asarray(mask)[None]
        elif responses.ndim != 3:
            raise ValueError("responses should have shape (n_stimuli, n_neurons) or (n_repeats, n_stimuli, n_neurons), "
                             f"got shape {responses.shape}")
        return cls(responses, mask=mask, stimulus_ids=stimulus_ids, metadata=metadata)

    @classmethod
    def from_presentations(cls, responses, stimulus_index, *, exclude=(), metadata=None):
        """Group single presentations by stimulus into ``(repeats, stimuli, neurons)``.

        Parameters
        ----------
        responses : array_like of shape (n_presentations, n_neurons)
        stimulus_index : array_like of shape (n_presentations,)
            Identifier of the stimulus shown on each presentation.
        exclude : sequence, optional
            Identifiers to drop (e.g. blank screens).
        metadata : dict, optional

        Returns
        -------
        Recording
            Stimuli sorted by identifier; the ``k``-th presentation of a
            stimulus (in presentation order) is its repeat ``k``; stimuli shown
            fewer times than the most repeated one have NaN (masked-out)
            repeats.
        """
        responses = np.asarray(responses, dtype=float)
        index = np.asarray(stimulus_index).ravel()
        if responses.ndim != 2 or index.shape != (responses.shape[0],):
            raise ValueError("responses should have shape (n_presentations, n_neurons) and stimulus_index "
                             f"(n_presentations,), got {responses.shape} and {np.shape(stimulus_index)}")
        keep = ~np.isin(index, np.asarray(exclude))
        responses, index = responses[keep], index[keep]
        if len(index) == 0:
            raise ValueError("no presentations left after excluding " + repr(list(exclude)))
        ids, inverse = np.unique(index, return_inverse=True)
        order = np.argsort(inverse, kind="stable")
        counts = np.bincount(inverse, minlength=len(ids))
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        rank = np.empty(len(index), dtype=int)
        rank[order] = np.arange(len(index)) - np.repeat(starts, counts)
        out = np.full((counts.max(), len(ids), responses.shape[1]), np.nan)
        out[rank, inverse] = responses
        return cls(out, stimulus_ids=ids, metadata=metadata)

    @classmethod
    def from_stringer_mat(cls, path, *, exclude_blank=True, metadata=None):
        """Read a recording saved in the layout of Stringer et al. (Nature 2019).

        The natural-image recordings of Stringer, Pachitariu, Steinmetz,
        Carandini & Harris, "High-dimensional geometry of population
        responses in visual cortex", Nature 571, 361-365 (2019), are MATLAB
        files with a struct ``stim`` whose fields are

        * ``resp`` -- (n_presentations, n_neurons) responses;
        * ``istim`` -- (n_presentations,) 1-based index of the image shown
          (the largest index is the blank screen);
        * ``spont`` (optional) -- (n_timepoints, n_neurons) spontaneous
          activity, kept in ``metadata["spontaneous"]``.

        Top-level variables ``resp``, ``istim`` (and ``spont``) are accepted
        in place of the struct.

        Parameters
        ----------
        path : str or os.PathLike
            The ``.mat`` file (MATLAB v5-v7.2, read with
            :func:`scipy.io.loadmat`).
        exclude_blank : bool, optional
            Drop the presentations of the largest stimulus index, the blank
            screen of Stringer's files (as in their analysis code).
        metadata : dict, optional
            Added to ``{"source": <absolute path>}``.

        Returns
        -------
        Recording
            Stimulus identifiers are the 1-based image indices of the file.

        Raises
        ------
        FileNotFoundError
            If ``path`` does not exist.
        KeyError
            If neither ``stim.resp`` / ``stim.istim`` nor ``resp`` / ``istim``
            are in the file; the message lists the variables found.
        """
        from scipy.io import loadmat

        path = Path(os.fspath(path)).expanduser().resolve()
        if not path.is_file():
            raise FileNotFoundError(f"Stringer-style .mat file {path} does not exist")
        contents = loadmat(path, squeeze_me=True, struct_as_record=False)
        if "stim" in contents:
            fields = {name: getattr(contents["stim"], name) for name in contents["stim"]._fieldnames}
        else:
            fields = contents
        missing = [name for name in ("resp", "istim") if name not in fields]
        if missing:
            found = sorted(name for name in contents if not name.startswith("__"))
            raise KeyError(f"{path} lacks {missing}: expected a struct 'stim' with fields 'resp' and 'istim' "
                           f"(or top-level variables of those names); found variables {found}")
        istim = np.asarray(fields["istim"]).astype(int).ravel()
        exclude = (istim.max(),) if exclude_blank else ()
        info = {"source": str(path)}
        if "spont" in fields:
            info["spontaneous"] = np.asarray(fields["spont"], dtype=float)
        info.update(_metadata(metadata))
        return cls.from_presentations(np.atleast_2d(fields["resp"]), istim, exclude=exclude, metadata=info)


def recording_from_activity(activity, *, stimulus_ids=None, metadata=None):
    """Turn model activity into :class:`Recording` objects.

    Parameters
    ----------
    activity : array_like of shape (n_stimuli, n_units) or (n_members, n_stimuli, n_units)
        Rates of a population of model units (e.g. a hidden layer) for each
        stimulus, with or without the ensemble axis.
    stimulus_ids : array_like of shape (n_stimuli,), optional
    metadata : dict, optional
        Copied into each recording (with ``"member"`` for an ensemble).

    Returns
    -------
    Recording or tuple of Recording
        One recording with a single repeat, or one per ensemble member.
    """
    activity = np.asarray(activity, dtype=float)
    if activity.ndim == 2:
        return Recording(activity[None], stimulus_ids=stimulus_ids, metadata=metadata)
    if activity.ndim != 3:
        raise ValueError("activity should have shape (n_stimuli, n_units) or (n_members, n_stimuli, n_units), "
                         f"got shape {activity.shape}")
    base = _metadata(metadata)
    return tuple(Recording(member[None], stimulus_ids=stimulus_ids, metadata={**base, "member": i})
                 for i, member in enumerate(activity))



def _member_indices(member, n_members):
    """Member indices ``member`` (None: all) checked against ``n_members``, and whether one was asked for (not a sequence)."""
    if member is None:
        return list(range(n_members)), False
    single = np.ndim(member) == 0
    values = [member] if single else list(member)
    if not values:
        raise ValueError("member should name at least one ensemble member, got an empty sequence")
    out = []
    for value in values:
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
            raise TypeError(f"member should be an int, a sequence of int or None, got {value!r}")
        if not -n_members <= int(value) < n_members:
            raise ValueError(f"member {int(value)} out of range for an ensemble of {n_members} members")
        out.append(int(value) % n_members)
    return out, single


def model_recording(network, state, x, *, layer, member=None, stimulus_ids=None, metadata=None, chunk_size=256):
    """Activity of one layer of a network's ensemble members on a stimulus set, as :class:`Recording` objects.

    A clean (noise-free) pass of the chosen members (:meth:`Network.forward
    <bioplastic.network.Network.forward>`, lateral decorrelation included)
    on the stimuli ``x``, in chunks of ``chunk_size`` stimuli, keeping the
    rates of population ``layer``: the model's counterpart of a recording,
    for the estimators of :mod:`bioplastic.recordings` (and, with several
    members, for :func:`~bioplastic.recordings.bootstrap_score` over
    ``"members"``).

    Parameters
    ----------
    network : Network
    state : NetworkState
        The ensemble's weights (e.g. ``history.final_state_`` of a training
        run, or ``network.init_state(seeds)``).
    x : array_like of shape (n_stimuli, n_inputs)
        The stimuli as the network's inputs (e.g. images preprocessed with
        :func:`~bioplastic.recordings.images_to_inputs`).
    layer : int
        Population index: 0 is the input, ``k`` the population after
        projection ``k - 1`` (``1 .. network.n_layers``, the last being the
        output); negative indices count from the output (``-1``).
    member : int, sequence of int or None, optional
        The ensemble member(s); default all.
    stimulus_ids : array_like of shape (n_stimuli,), optional
    metadata : dict, optional
        Added to ``{"layer", "population", "member", "n_units"}``.
    chunk_size : int, optional
        Stimuli per forward pass (bounds the memory of wide layers).

    Returns
    -------
    Recording or tuple of Recording
        One repeat ``(1, n_stimuli, n_units)`` in float64; a single recording
        for an int ``member``, else one per member in the order given.

    Raises
    ------
    ValueError
        If ``x`` does not have ``network.n_inputs`` columns, or ``layer`` or
        ``member`` is out of range.
    """
    from .._validation import check_positive_int
    from ..network import Network, NetworkState

    if not isinstance(network, Network):
        raise TypeError(f"network should be a Network, got {type(network).__name__}")
    if not isinstance(state, NetworkState):
        raise TypeError(f"state should be a NetworkState (e.g. network.init_state(seeds) or history.final_state_), "
                        f"got {type(state).__name__}")
    n_populations = len(network.populations)
    if isinstance(layer, (bool, np.bool_)) or not isinstance(layer, (int, np.integer)):
        raise TypeError(f"layer should be an int (a population index), got {layer!r}")
    if not -n_populations <= int(layer) < n_populations:
        raise ValueError(f"layer {int(layer)} out of range: the network has {n_populations} populations "
                         f"(0 = input .. {n_populations - 1} = output)")
    layer = int(layer) % n_populations
    members, single = _member_indices(member, state.n_members)
    x = check_finite_array(x, "x", ndim=2)
    if x.shape[1] != network.n_inputs:
        raise ValueError(f"x should have shape (n_stimuli, {network.n_inputs}) (the network's inputs), got {x.shape}")
    chunk_size = check_positive_int(chunk_size, "chunk_size")
    x = np.asarray(x, dtype=state.dtype)
    chosen = state.take(members)
    rates = np.empty((len(members), x.shape[0], network.populations[layer].n_neurons))
    for start in range(0, x.shape[0], chunk_size):
        block = x[start:start + chunk_size]
        if layer == 0:
            rates[:, start:start + len(block)] = block
        else:
            rates[:, start:start + len(block)] = network.forward(chosen, block).rates[layer]
    base = {"layer": layer, "population": network.populations[layer].name, "n_units": rates.shape[2], **_metadata(metadata)}
    out = tuple(Recording(r[None], stimulus_ids=stimulus_ids, metadata={**base, "member": m}) for m, r in zip(members, rates, strict=True))
    return out[0] if single else out

class RDMRecording:
    """A representational dissimilarity matrix (RDM) of a set of stimuli.

    For data published only as dissimilarities between the responses to
    pairs of stimuli, such as the monkey- and human-IT RDMs of Kriegeskorte
    et al. (Neuron 2008).

    Parameters
    ----------
    rdm : array_like of shape (n_stimuli, n_stimuli) or (n_stimuli * (n_stimuli - 1) / 2,)
        Square symmetric matrix with zero diagonal, or its condensed upper
        triangle (row-major, as :func:`scipy.spatial.distance.squareform`;
        a MATLAB row ``(1, n * (n - 1) / 2)`` is accepted).
    stimulus_ids : array_like of shape (n_stimuli,), optional
    metric : str, optional
        What the dissimilarities are (``"correlation"`` for ``1 - r``,
        ``"euclidean"``, ``"sqeuclidean"``, or any other description).
    metadata : dict, optional

    Attributes
    ----------
    matrix : ndarray of shape (n_stimuli, n_stimuli)
    stimulus_ids : ndarray of shape (n_stimuli,)
    metric : str or None
    metadata : dict

    Raises
    ------
    ValueError
        If the array is neither square nor of a triangular-number length, is
        not symmetric (relative tolerance 1e-6), has a nonzero diagonal, or
        has non-finite entries.
    """

    def __init__(self, rdm, *, stimulus_ids=None, metric=None, metadata=None):
        rdm = np.asarray(rdm, dtype=float)
        if rdm.ndim == 2 and 1 in rdm.shape and rdm.shape != (1, 1):
            rdm = rdm.ravel()
        if rdm.ndim == 1:
            n = int(round((1 + np.sqrt(1 + 8 * rdm.size)) / 2))
            if n * (n - 1) // 2 != rdm.size:
                raise ValueError(f"a condensed RDM should have n * (n - 1) / 2 entries, got {rdm.size}")
            if not np.isfinite(rdm).all():
                raise ValueError("rdm contains non-finite values; expected finite dissimilarities")
            matrix = squareform(rdm, checks=False)
        elif rdm.ndim == 2 and rdm.shape[0] == rdm.shape[1]:
            if not np.isfinite(rdm).all():
                raise ValueError("rdm contains non-finite values; expected finite dissimilarities")
            scale = max(float(np.abs(rdm).max()), np.finfo(float).tiny)
            asymmetry = float(np.abs(rdm - rdm.T).max())
            if asymmetry > 1e-6 * scale:
                raise ValueError(f"a square RDM should be symmetric, got max |D - D^T| = {asymmetry:g}")
            if np.abs(np.diag(rdm)).max() > 1e-6 * scale:
                raise ValueError(f"a square RDM should have a zero diagonal, got max |diag| = {np.abs(np.diag(rdm)).max():g}")
            matrix = (rdm + rdm.T) / 2
            np.fill_diagonal(matrix, 0.0)
        else:
            raise ValueError(f"rdm should be square (n, n) or condensed (n * (n - 1) / 2,), got shape {rdm.shape}")
        self.matrix = matrix
        self.stimulus_ids = _stimulus_ids(stimulus_ids, matrix.shape[0])
        self.metric = metric
        self.metadata = _metadata(metadata)

    @property
    def n_stimuli(self):
        """Number of stimuli."""
        return self.matrix.shape[0]

    @property
    def condensed(self):
        """The upper triangle, row-major, shape ``(n_stimuli * (n_stimuli - 1) / 2,)``."""
        return squareform(self.matrix, checks=False)

    def __repr__(self):
        name = self.metadata.get("name")
        label = f", name={name!r}" if name is not None else ""
        return f"RDMRecording(n_stimuli={self.n_stimuli}, metric={self.metric!r}{label})"
