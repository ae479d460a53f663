"""Weight norm trajectories (bioplastic.analysis.weights) against closed forms."""

import numpy as np
import pytest

from bioplastic.analysis import weight_norm_trajectories
from bioplastic.training import History


def test_weight_norm_trajectories():
    norms = np.array([[[3.0, 4.0], [6.0, 8.0]]])
    hist = History(np.arange(2), {"test_error": np.array([[5.0, 1.0]]), "weight_norms": norms}, [0.1], [0], np.array([-1]),
                   {"rule": {"name": "test"}})
    traj = weight_norm_trajectories(hist)
    np.testing.assert_allclose(traj["norm"], [[5.0, 10.0]])
    np.testing.assert_allclose(weight_norm_trajectories(hist, layers=[1])["norm"], [[4.0, 8.0]])
    np.testing.assert_allclose(weight_norm_trajectories(hist, layers=[-1])["norm"], [[4.0, 8.0]])
    np.testing.assert_array_equal(traj["error"], [[5.0, 1.0]])
    np.testing.assert_array_equal(traj["epochs"], [0, 1])
    np.testing.assert_array_equal(traj["layer_norms"], norms)
    with pytest.raises(ValueError, match="layer 2 out of range for 2 layers"):
        weight_norm_trajectories(hist, layers=[2])
    with pytest.raises(ValueError, match=r"history has no record 'test_accuracy'"):
        weight_norm_trajectories(hist, name="test_accuracy")
