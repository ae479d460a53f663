"""Node perturbation on feature maps against theory: the cosine with the gradient falls with the layer's units as Eq. 6 predicts."""

import numpy as np

import bioplastic as bp
from bioplastic.losses import SquaredError
from bioplastic.ops import backprop_deltas, conv_projection_input, forward
from bioplastic.plasticity import output_delta


def _cosines_and_prediction(out_channels, n_members=400, seed=0):
    """Single-sample NP (first layer only) vs backprop cosines of the kernel updates, and their Eq. 6 prediction, per member.

    With perturbations ``xi`` on the n units of the first layer, NP's kernel
    update is ``(xi . g) J^T xi`` to first order in sigma, backprop's is
    ``J^T g`` (``g = dL/dh`` of the units, ``J = dh/dW`` the linear map from
    the kernel to the summed inputs). For large n, ``xi^T J J^T xi ~ tr(J J^T)``
    and ``E[sign(xi . g) xi] = sqrt(2/pi) g / |g|``, so
    ``E cos = sqrt(2/pi) |J^T g| / (|g| |J|_F) = sqrt(2 / (pi n_eff))``, which
    is Eq. 6 (``sqrt(2 / (pi n))``) for an all-to-all layer, where
    ``|J^T g| / (|g| |J|_F) = 1 / sqrt(n)``.
    """
    net = bp.models.cnn((2, 7, 6), [dict(out_channels=out_channels, kernel_size=3, padding=1, pool=2)], 3, dense=(5,), hidden="tanh")
    state = net.init_state(list(range(n_members)))
    rng = np.random.default_rng(seed)
    x, target = rng.standard_normal((1, 84)), rng.standard_normal((1, 3))
    loss = SquaredError()
    cos = bp.analysis.update_cosine_similarity(net, state, x, target, loss, bp.NodePerturbation(sigma=1e-6, layers=[0]), bp.Backprop(),
                                               seed=rng)[:, 0]
    proj = net.projections[0]
    n_weights = int(np.prod(proj.shape))
    basis = np.eye(n_weights).reshape((n_weights,) + tuple(proj.shape))
    jacobian = conv_projection_input(proj, x, basis)[:, 0, :].T  # (n_units, n_weights): h is linear in the kernel
    activity = forward(net, state, x)
    g = backprop_deltas(net, state, activity, output_delta(net, activity, target, loss))[0][:, 0, :]  # (members, n_units)
    ratio = np.linalg.norm(g @ jacobian, axis=1) / (np.linalg.norm(g, axis=1) * np.linalg.norm(jacobian))
    return cos, np.sqrt(2 / np.pi) * ratio, jacobian.shape[0]


def test_np_cosine_on_a_feature_map_layer_falls_with_its_units_as_eq6_predicts():
    means, predictions, units = [], [], []
    for channels in (2, 8, 32):
        cos, predicted, n_units = _cosines_and_prediction(channels)
        # the mean over 400 members within 4 standard errors of the prediction, plus 5% for the large-n approximation
        # (measured: 0.203 vs 0.185 at 18 units, standard error 0.012; 0.088 vs 0.093 at 72; 0.049 vs 0.047 at 288)
        assert abs(cos.mean() - predicted.mean()) < 4 * cos.std() / np.sqrt(len(cos)) + 0.05 * predicted.mean(), (channels, cos.mean(),
                                                                                                                 predicted.mean())
        means.append(cos.mean())
        predictions.append(predicted.mean())
        units.append(n_units)
    # the units grow 16x (18 -> 288), so the cosine falls about 4x, as 1 / sqrt(n)
    assert units == [18, 72, 288]
    assert 3.0 < means[0] / means[2] < 5.3, means
    np.testing.assert_allclose(np.array(means) * np.sqrt(units), np.mean(np.array(means) * np.sqrt(units)), rtol=0.2)
