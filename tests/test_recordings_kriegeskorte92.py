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


# ---------------------------------------------------------------------------------------------- the images as a network's inputs


def test_area_weights_are_the_overlaps_of_the_pixel_intervals():
    from bioplastic.recordings import area_weights

    # 5 -> 2 pixels: output pixels cover [0, 2.5) and [2.5, 5), pixel 2 split in halves
    np.testing.assert_allclose(area_weights(5, 2), np.array([[1, 1, 0.5, 0, 0], [0, 0, 0.5, 1, 1]]) / 2.5, rtol=1e-15)
    np.testing.assert_allclose(area_weights(4, 2), [[0.5, 0.5, 0, 0], [0, 0, 0.5, 0.5]], rtol=1e-15)
    weights = area_weights(175, 32)
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(weights.sum(axis=0), 32 / 175, rtol=1e-12)


def test_images_to_inputs_resizes_scales_standardises_and_flattens_channel_major():
    from bioplastic.recordings import images_to_inputs, resize_images

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(2, 4, 6, 3), dtype=np.uint8)
    # 4 x 6 -> 2 x 3: the means of 2 x 2 blocks, one pixel at a time
    resized = resize_images(images, (2, 3))
    for n, r, c, channel in np.ndindex(resized.shape):
        assert resized[n, r, c, channel] == pytest.approx(images[n, 2 * r:2 * r + 2, 2 * c:2 * c + 2, channel].mean(), rel=1e-12)
    mean, std = np.array([0.5, 0.4, 0.3]), np.array([0.2, 0.25, 0.3])
    inputs = images_to_inputs(images, channel_mean=mean, channel_std=std, size=(2, 3))
    assert inputs.shape == (2, 3 * 2 * 3)
    for n, channel, r, c in np.ndindex(2, 3, 2, 3):  # channel, then row, then column (the layout of Cifar10Task)
        expected = (resized[n, r, c, channel] / 255 - mean[channel]) / std[channel]
        assert inputs[n, channel * 6 + r * 3 + c] == pytest.approx(expected, rel=1e-12)
    # float intensities in [0, 1] are taken as they are; a constant image stays constant
    np.testing.assert_allclose(images_to_inputs(images / 255.0, channel_mean=mean, channel_std=std, size=(2, 3)), inputs, rtol=1e-12)
    flat = images_to_inputs(np.full((1, 175, 175, 3), 128, dtype=np.uint8), channel_mean=mean, channel_std=std)
    np.testing.assert_allclose(flat.reshape(3, -1), ((128 / 255 - mean) / std)[:, None] * np.ones((1, 32 * 32)), rtol=1e-12)
    with pytest.raises(ValueError, match=r"float images should hold intensities in \[0, 1\], got values in \[0, 2\d\d\]; pass uint8 images"):
        images_to_inputs(images.astype(float), channel_mean=mean, channel_std=std)
    with pytest.raises(ValueError, match=r"channel_mean and channel_std should have shape \(3,\) \(one per channel of the images\), "
                                         r"got \(2,\) and \(3,\)"):
        images_to_inputs(images, channel_mean=mean[:2], channel_std=std)
    with pytest.raises(ValueError, match=r"channel_std should be positive, got \[0.2, 0.0, 0.3\]"):
        images_to_inputs(images, channel_mean=mean, channel_std=[0.2, 0.0, 0.3])
    with pytest.raises(ValueError, match=r"images should have shape \(n_images, height, width, channels\), got shape \(4, 6, 3\)"):
        images_to_inputs(images[0], channel_mean=mean, channel_std=std)


def test_the_92_images_as_cifar10_inputs(dataset):
    from bioplastic.recordings import images_to_inputs

    mean, std = np.array([0.49, 0.48, 0.45]), np.array([0.25, 0.24, 0.26])
    inputs = images_to_inputs(dataset.images, channel_mean=mean, channel_std=std)
    assert inputs.shape == (92, 3072) and np.isfinite(inputs).all()
    # the objects lie on a grey background (128, 128, 128); where an image's 6 x 6 corner is all background, the corner
    # input pixel (an average over the first 175 / 32 = 5.5 rows and columns) is that grey exactly (90 of the 92 images)
    grey = (dataset.images[:, :6, :6] == 128).all(axis=(1, 2, 3))
    assert grey.sum() == 90
    corner = inputs.reshape(92, 3, 32, 32)[grey, :, 0, 0]
    np.testing.assert_allclose(corner, np.broadcast_to((128 / 255 - mean) / std, corner.shape), rtol=1e-12)


def test_resized_images_are_the_same_bits_whatever_the_blas_threads():
    # a checkpoint identifies the network's inputs by their digest: a BLAS contraction gave other last bits on one thread
    from threadpoolctl import threadpool_limits

    from bioplastic.recordings.stimuli import resize_images

    images = np.random.default_rng(0).integers(0, 256, (12, 75, 75, 3)).astype(np.uint8)
    threaded = resize_images(images, 32)
    with threadpool_limits(1):
        single = resize_images(images, 32)
    assert np.array_equal(threaded, single)
    np.testing.assert_allclose(threaded.mean(axis=(1, 2)), images.mean(axis=(1, 2)), rtol=1e-12)  # 75 -> 32: mass kept per channel
