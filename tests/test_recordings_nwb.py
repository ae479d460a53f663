"""Recordings from NWB files (spike counts in a window of each trial)."""

import datetime

import numpy as np
import pytest

from bioplastic.recordings import recording_from_nwb

pynwb = pytest.importorskip("pynwb")


def _write_nwb(path, spike_times, trials, *, extra_table=False):
    nwb = pynwb.NWBFile(session_description="synthetic session", identifier="abc123",
                        session_start_time=datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC))
    for times in spike_times:
        nwb.add_unit(spike_times=times)
    nwb.add_trial_column(name="stimulus", description="image shown")
    for start, stimulus in trials:
        nwb.add_trial(start_time=start, stop_time=start + 0.5, stimulus=stimulus)
    if extra_table:
        table = pynwb.epoch.TimeIntervals(name="passive", description="passive viewing")
        table.add_column(name="stimulus", description="image shown")
        table.add_row(start_time=5.0, stop_time=5.5, stimulus="c")
        nwb.add_time_intervals(table)
    with pynwb.NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)


def test_recording_from_nwb_counts_spikes_per_window_against_a_naive_loop(tmp_path):
    rng = np.random.default_rng(0)
    spike_times = [np.sort(rng.uniform(0, 6, size=n)) for n in (40, 75, 10)]
    spike_times[0][0] = 1.05  # exactly on a window start: counts
    spike_times[1][0] = 1.25  # exactly on a window end: does not count
    trials = [(1.0, "b"), (2.0, "a"), (3.0, "b"), (4.0, "a"), (4.7, "b"), (5.5, "blank")]
    _write_nwb(tmp_path / "s.nwb", spike_times, trials)
    rec = recording_from_nwb(tmp_path / "s.nwb", window=(0.05, 0.25), exclude=["blank"], metadata={"area": "V1"})
    assert list(rec.stimulus_ids) == ["a", "b"] and rec.responses.shape == (3, 2, 3)

    def rate(start, unit):
        times = spike_times[unit]
        return np.sum((times >= start + 0.05) & (times < start + 0.25)) / 0.2

    for stimulus_index, stimulus in enumerate(["a", "b"]):
        starts = [s for s, name in trials if name == stimulus]
        for repeat, start in enumerate(starts):
            np.testing.assert_allclose(rec.responses[repeat, stimulus_index], [rate(start, u) for u in range(3)], rtol=1e-12)
    assert not rec.mask[2, 0].any() and rec.mask[2, 1].all()  # "a" has 2 trials, "b" 3
    assert rec.metadata["identifier"] == "abc123" and rec.metadata["area"] == "V1"
    assert rec.metadata["window"] == (0.05, 0.25) and list(rec.metadata["unit_ids"]) == [0, 1, 2]


def test_recording_from_nwb_other_intervals_table_and_errors(tmp_path):
    _write_nwb(tmp_path / "s.nwb", [np.array([5.1, 5.2, 7.0])], [(1.0, "a")], extra_table=True)
    rec = recording_from_nwb(tmp_path / "s.nwb", intervals="passive", window=(0.0, 0.5))
    assert list(rec.stimulus_ids) == ["c"]
    np.testing.assert_allclose(rec.responses, [[[4.0]]])
    with pytest.raises(KeyError, match=r"no intervals table 'active'; it has \['passive', 'trials'\]"):
        recording_from_nwb(tmp_path / "s.nwb", intervals="active")
    with pytest.raises(KeyError, match="has no column 'image'; its columns are"):
        recording_from_nwb(tmp_path / "s.nwb", stimulus_column="image")
    with pytest.raises(ValueError, match=r"start < end, got \(0.2, 0.1\)"):
        recording_from_nwb(tmp_path / "s.nwb", window=(0.2, 0.1))
    with pytest.raises(FileNotFoundError, match="none.nwb does not exist"):
        recording_from_nwb(tmp_path / "none.nwb")
