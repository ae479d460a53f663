"""Built-in student-teacher regression tasks, generated in code (no data needed)."""

from __future__ import annotations

import numpy as np

from .._random import make_rng
from .._validation import check_choice, check_nonnegative, check_positive, check_positive_int
from .base import DatasetTask

__all__ = ["NonlinearStudentTeacher"]


class NonlinearStudentTeacher(DatasetTask):
    """Regression on the outputs of a random one-hidden-layer teacher network.

    Inputs ``x ~ N(0, I)``; targets ``y* = A2 f(A1 x) + noise_std * zeta`` with
    ``A1 ~ N(0, gain^2 / n_inputs)``, ``A2 ~ N(0, 1 / n_hidden)`` and
    ``f`` = tanh by default. A small, fully specified nonlinear problem for
    demonstrations and tests.

    Parameters
    ----------
    n_inputs : int, default 20
    n_hidden : int, default 20
        Teacher hidden width.
    n_outputs : int, default 5
    n_train, n_test : int, default 2000, 500
    activation : {"tanh", "relu"}, default "tanh"
    gain : float, default 1.5
        Input-weight gain of the teacher (larger is more nonlinear).
    noise_std : float, default 0.0
        Standard deviation of label noise added to the targets.
    seed : int or Generator, default 0
    """

    def __init__(self, *, n_inputs=20, n_hidden=20, n_outputs=5, n_train=2000, n_test=500, activation="tanh", gain=1.5, noise_std=0.0, seed=0):
        self.params = {
            "n_inputs": check_positive_int(n_inputs, "n_inputs"),
            "n_hidden": check_positive_int(n_hidden, "n_hidden"),
            "n_outputs": check_positive_int(n_outputs, "n_outputs"),
            "n_train": check_positive_int(n_train, "n_train"),
            "n_test": check_positive_int(n_test, "n_test"),
            "activation": check_choice(activation, "teacher activation", ("tanh", "relu")),
            "gain": check_positive(gain, "gain"),
            "noise_std": check_nonnegative(noise_std, "noise_std"),
            "seed": seed if isinstance(seed, int) else None,
        }
        rng = make_rng(seed)
        p = self.params
        self.teacher_input_weights = rng.standard_normal((p["n_hidden"], p["n_inputs"])) * (p["gain"] / np.sqrt(p["n_inputs"]))
        self.teacher_output_weights = rng.standard_normal((p["n_outputs"], p["n_hidden"])) / np.sqrt(p["n_hidden"])
        x = rng.standard_normal((p["n_train"] + p["n_test"], p["n_inputs"]))
        y = self.teacher(x) + p["noise_std"] * rng.standard_normal((len(x), p["n_outputs"]))
        n = p["n_train"]
        super().__init__(x[:n], y[:n], x[n:], y[n:], name="nonlinear_student_teacher")

    def teacher(self, x):
        """Noise-free teacher output, ``ndarray of shape (n_samples, n_outputs)``."""
        h = x @ self.teacher_input_weights.T
        h = np.tanh(h) if self.params["activation"] == "tanh" else np.maximum(h, 0)
        return h @ self.teacher_output_weights.T

    def describe(self):
        return {**super().describe(), **self.params}
