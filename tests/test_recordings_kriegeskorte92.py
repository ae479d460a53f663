"""The 92-image object set loader (Kriegeskorte et al. 2008)."""

import numpy as np
import pytest
from conftest import data_dir_or_skip

import bioplastic.tasks._data as data_module
from bioplastic.recordings import RDMRecording, compare_rdms, load_kriegeskorte92, rdm_spectrum
from bioplastic.recordings.kriegeskorte92 import FILES, URL

SUPPLEMENT = "Kriegeskorte_Neuron2008_supplementalData.mat"


def test_missing_file_names_the_file_and_the_directories_searched(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        load_kriegeskorte92(data_dir=tmp_path)
    message = str(info.value)
    assert f"Data file {SUPPLEMENT!r} not found" in message
    assert str(tmp_path / "kriegeskorte92") in message and URL + SUPPLEMENT in message


def test_corrupt_file_names_the_file(tmp_path):
    (tmp_path / "kriegeskorte92").mkdir()
    (tmp_path / "kriegeskorte92" / SUPPLEMENT).write_bytes(b"not a MATLAB file")
    with pytest.raises(ValueError, match=f"Checksum mismatch for {tmp_path / 'kriegeskorte92' / SUPPLEMENT}: .*expected sha256 "
                                         f"{FILES[SUPPLEMENT]}.*download it again from {URL + SUPPLEMENT}"):
        load_kriegeskorte92(data_dir=tmp_path)


def test_download_goes_to_the_cache_with_the_canonical_url_and_checksum(tmp_path, monkeypatch):
    monkeypatch.delenv("BIOPLASTIC_DATA_DIR", raising=False)
    monkeypatch.setattr(data_module, "cache_dir", lambda: tmp_path)
    with pytest.raises(FileNotFoundError, match="download=False"):
        load_kriegeskorte92(download=False)
    calls = []

    class Stop(Exception):
        pass

    def retrieve(url, *, known_hash, fname, path, progressbar):
        calls.append((url, known_hash, fname, path))
        raise Stop

    pooch = pytest.importorskip("pooch")
    monkeypatch.setattr(pooch, "retrieve", retrieve)
    with pytest.raises(Stop):
        load_kriegeskorte92()
    assert calls == [(URL + SUPPLEMENT, "sha256:" + FILES[SUPPLEMENT], SUPPLEMENT, tmp_path / "kriegeskorte92")]


@pytest.fixture(scope="module")
def dataset():
    return load_kriegeskorte92(data_dir=data_dir_or_skip())


def test_real_data_contents(dataset):
    assert dataset.images.shape == (92, 175, 175, 3) and dataset.images.dtype == np.uint8
    assert dataset.category_labels[:8] == ("animate", "inanim", "human", "nonhumani", "body", "face", "natObj", "artiObj")
    flags = dict(zip(dataset.category_labels, dataset.category_vectors.T))
    assert dataset.category_vectors.dtype == bool and dataset.category_vectors.shape == (92, 12)
    assert (flags["animate"].sum(), flags["inanim"].sum(), flags["face"].sum(), flags["body"].sum()) == (48, 44, 24, 24)
    assert not (flags["animate"] & flags["inanim"]).any() and (flags["animate"] | flags["inanim"]).all()
    assert len(dataset.image_categories) == 92 and dataset.image_categories[0] == "human bodypart"
    assert dataset.monkey_it.metadata["name"] == "mIT_674neurons" and dataset.monkey_it.metadata["n_neurons"] == 674
    assert dataset.human_it.metadata["name"] == "hITvisStim_316vx"
    assert [(r.metadata["subject"], r.metadata["session"]) for r in dataset.human_it_sessions] == [
        (s, k) for s in ("BE", "KO", "SN", "TI") for k in (1, 2)]
    assert list(dataset.models) == ["animacy", "FaceBodyManmadeNatobj", "monkeyIT", "EVA", "HMAX", "V1", "Silhouette", "RADON"]
    for recording in (dataset.monkey_it, dataset.human_it, *dataset.human_it_sessions, *dataset.models.values()):
        assert isinstance(recording, RDMRecording) and recording.n_stimuli == 92
    # the monkeyIT model RDM is the monkey-IT data RDM
    assert compare_rdms(dataset.models["monkeyIT"], dataset.monkey_it) == pytest.approx(1.0, abs=1e-12)


def test_real_neural_rdms_are_embeddable_correlation_distances(dataset):
    """1 - r is a squared Euclidean distance between z-scored patterns, so the double-centred RDM
    is positive semi-definite of rank n - 1 = 91 (classical MDS) for RDMs computed from responses."""
    for recording in (dataset.monkey_it, dataset.human_it, dataset.human_it_sessions[0]):
        spectrum = rdm_spectrum(recording, squared=True)
        assert spectrum[-1] > -1e-12 * spectrum[0]
        assert (spectrum[:91] > 1e-6 * spectrum[0]).all()


def test_real_data_rdm_comparison_equals_rsatoolbox(dataset):
    pytest.importorskip("rsatoolbox")
    from rsatoolbox.rdm import RDMs, compare

    first, second = RDMs(dataset.monkey_it.condensed[None]), RDMs(dataset.human_it.condensed[None])
    for ours, theirs in (("spearman", "spearman"), ("kendall_tau_a", "tau-a")):
        expected = compare(first, second, method=theirs)[0, 0]
        assert compare_rdms(dataset.monkey_it, dataset.human_it, method=ours) == pytest.approx(expected, rel=1e-10)


def test_environment_variable_is_used(monkeypatch):
    monkeypatch.setenv("BIOPLASTIC_DATA_DIR", data_dir_or_skip())
    assert load_kriegeskorte92().monkey_it.n_stimuli == 92
