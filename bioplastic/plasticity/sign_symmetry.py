"""Sign symmetry: feedback matrices that share the forward weights' signs, not their magnitudes."""

from __future__ import annotations

import numpy as np

from .._validation import check_choice
from ..ops import is_conv, scratch
from ..synapses import xavier_std
from ._feedback import FeedbackRule, check_feedback_projections, feedback_std
from .base import NoiseNeeds, PlasticityRule

__all__ = ["SIGN_SYMMETRY_MAGNITUDES", "SignSymmetry"]

#: Magnitudes of sign-symmetric feedback (the names of BioTorch's layers).
SIGN_SYMMETRY_MAGNITUDES = ("usf", "brsf", "frsf")


class SignSymmetry(FeedbackRule):
    """Sign symmetry: the error travels back through ``B_k = M_k o sign(W_k)^T``.

    The feedback matrix of projection ``k`` has the signs of the transposed
    forward weights, read at every step, and magnitudes ``M_k`` that carry
    no information about ``|W_k|`` (Liao, Leibo & Poggio, "How important is
    weight symmetry in backpropagation?", AAAI 2016; Xiao, Chen, Liao &
    Poggio, "Biologically-plausible learning algorithms can scale to large
    datasets", ICLR 2019):

    * ``"usf"`` (uniform sign-concordant feedback): ``M_k = s_k``, one value;
    * ``"brsf"`` (batch-wise random magnitudes): ``M_k = s_k |psi_k|``,
      ``psi_k`` standard normal, redrawn every step;
    * ``"frsf"`` (fixed random magnitudes): ``M_k = s_k |z_k|``, ``z_k``
      standard normal, drawn once per member (rule state ``"M<k>"``).

    ``s_k`` is the Xavier-Glorot standard deviation of projection ``k``
    (times its ``init_scale``) when ``scaled`` (BioTorch's
    ``scaling_factor`` option), else 1 (Liao et al.'s ``sign(W)``); the
    random magnitudes are half-normal, so ``E[M^2] = s_k^2`` (BioTorch draws
    them Xavier-uniform). The
    forward weights change as in backprop, ``dW_k = -eta delta_k x_{k-1}^T``,
    with ``delta_{k-1} = f'(h_{k-1}) * (B_k delta_k)``.

    On a convolutional projection ``k`` the feedback is a kernel,
    ``B_k = M_k o sign(W_k)`` elementwise on the kernel (shape
    ``(out_channels, in_channels, kh, kw)``, no transpose), and the delta
    travels down by the transposed convolution with ``B_k`` (as a matrix,
    ``B_k`` is that transposed convolution's). The magnitudes are per kernel weight,
    the analogue of per synapse: ``"usf"`` one value ``s_k``, ``"frsf"``
    a fixed half-normal kernel ``s_k |z_k|`` (rule state ``"M<k>"`` of the
    kernel's shape), ``"brsf"`` ``s_k |psi_k|`` redrawn every step; and
    ``s_k`` is the projection's Xavier-Glorot std over the kernel's fans,
    ``init_scale sqrt(2 / (in_channels kh kw + out_channels kh kw))``, the
    std its kernels are drawn with.

    Parameters
    ----------
    magnitude : {"usf", "brsf", "frsf"}, default "usf"
    scaled : bool, default True
        Magnitudes in units of the projection's Xavier-Glorot std.
    batch_reduction : {"mean", "sum"}, default "mean"

    Notes
    -----
    Signals used: a per-neuron error carried back through a pathway of its
    own (``signal = "feedback"``) that knows the forward weights' signs: not
    local. ``"brsf"`` draws its magnitudes from the synaptic noise channel
    (:attr:`~bioplastic.plasticity.NoiseNeeds.synapse`, one
    ``(n_post, n_pre + 1)`` Gaussian draw per projection and step, the bias
    column unused), so the engine draws them reproducibly per member and
    checkpoints their stream. A convolutional projection's draw is one row
    per output channel, ``(out_channels, in_channels kh kw + 1)``: without
    its bias column, read as a kernel, it gives the kernel's magnitudes.
    """

    #: its pathway also runs through convolutional projections (sign-symmetric kernels, the transposed convolution)
    conv_feedback = True
    name = "sign_symmetry"
    aliases = ("ss",)

    def __init__(self, *, magnitude="usf", scaled=True, batch_reduction="mean"):
        PlasticityRule.__init__(self, batch_reduction=batch_reduction)
        self.magnitude = check_choice(magnitude, "magnitude", SIGN_SYMMETRY_MAGNITUDES)
        if not isinstance(scaled, (bool, np.bool_)):
            raise TypeError(f"scaled should be True or False, got {scaled!r}")
        self.scaled = bool(scaled)
        self.uses_noise = self.magnitude == "brsf"

    def _unit(self, projection):
        if not self.scaled:
            return 1.0
        if is_conv(projection):  # the Xavier-Glorot std over the kernel's fans
            return feedback_std(projection)
        return projection.init_scale * xavier_std(projection.n_pre, projection.n_post)

    def noise_needs(self, network):
        """Synaptic noise in projections ``1 .. L - 1`` for ``"brsf"`` magnitudes; none otherwise."""
        synapse = tuple(self.magnitude == "brsf" and k > 0 for k in range(network.n_layers))
        return NoiseNeeds((False,) * network.n_layers, synapse)

    def init_rule_state(self, network, rng, dtype):
        """Fixed magnitudes ``"M<k>"`` of shape ``(n_pre, n_post)`` (a kernel's shape at a convolution) for ``"frsf"``; no state otherwise."""
        check_feedback_projections(self, network)
        if self.magnitude != "frsf":
            return {}
        state = {}
        for k in range(1, network.n_layers):
            proj = network.projections[k]
            shape = proj.shape if is_conv(proj) else (proj.n_pre, proj.n_post)
            state[f"M{k}"] = (self._unit(proj) * np.abs(rng.standard_normal(shape))).astype(dtype, copy=False)
        return state

    def feedback_matrices(self, network, state, rule_state, synaptic_noise=None, workspace=None):
        """``B_k = M_k o sign(W_k)^T`` for projections ``k >= 1`` (``None`` at projection 0).

        A convolutional projection's ``B_k = M_k o sign(W_k)`` has the
        kernels' shape ``(n_members, out_channels, in_channels, kh, kw)``.
        """
        if self.magnitude == "frsf":
            self._check_state(rule_state, [f"M{k}" for k in range(1, network.n_layers)])
        if self.magnitude == "brsf" and (synaptic_noise is None or any(synaptic_noise[k] is None for k in range(1, network.n_layers))):
            raise ValueError("SignSymmetry(magnitude='brsf').directions needs synaptic noise in projections 1 .. L - 1 (see noise_needs)")
        feedback = [None]
        for k in range(1, network.n_layers):
            w = state.weights[k]
            if is_conv(network.projections[k]):
                feedback.append(self._kernel_feedback(network.projections[k], k, w, rule_state, synaptic_noise, workspace))
                continue
            # built in the forward orientation (n_post, n_pre) and handed over transposed
            back_t = np.sign(w, out=scratch(workspace, ("sign_feedback", k), w.shape, w.dtype))
            if self.magnitude == "usf":
                back_t *= w.dtype.type(self._unit(network.projections[k]))
            elif self.magnitude == "frsf":
                back_t *= rule_state[f"M{k}"].transpose(0, 2, 1)
            else:
                psi = synaptic_noise[k][:, :, : w.shape[2]]
                magnitudes = np.abs(psi, out=scratch(workspace, ("sign_magnitude", k), psi.shape, w.dtype))
                if self.scaled:
                    magnitudes *= w.dtype.type(self._unit(network.projections[k]))
                back_t *= magnitudes
            feedback.append(back_t.transpose(0, 2, 1))
        return feedback

    def _kernel_feedback(self, projection, k, w, rule_state, synaptic_noise, workspace):
        """``M_k o sign(W_k)`` of a convolutional projection, shape ``w.shape``."""
        back = np.sign(w, out=scratch(workspace, ("sign_feedback", k), w.shape, w.dtype))
        if self.magnitude == "usf":
            back *= w.dtype.type(self._unit(projection))
        elif self.magnitude == "frsf":
            back *= rule_state[f"M{k}"]
        else:
            out_channels, in_channels, kh, kw = projection.shape
            psi = synaptic_noise[k]
            if psi.ndim != 3 or psi.shape[1] < out_channels or psi.shape[2] < in_channels * kh * kw:
                raise ValueError(f"SignSymmetry(magnitude='brsf') reads the magnitudes of projection {k}'s kernels "
                                 f"{projection.shape} from its synaptic noise, which should have shape (n_members, >= {out_channels}, "
                                 f">= {in_channels * kh * kw}), got {psi.shape}")
            rows = psi[:, :out_channels, : in_channels * kh * kw]
            magnitudes = np.abs(rows, out=scratch(workspace, ("sign_magnitude", k), rows.shape, w.dtype)).reshape(w.shape)
            if self.scaled:
                magnitudes *= w.dtype.type(self._unit(projection))
            back *= magnitudes
        return back
