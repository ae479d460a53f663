"""Built-in student-teacher regression tasks, generated in code (no data needed)."""

from __future__ import annotations

import numbers

import numpy as np

from .._random import make_rng
from .._validation import check_choice, check_nonnegative, check_positive, check_positive_int
from .base import DatasetTask, Task

__all__ = ["NonlinearStudentTeacher", "StudentTeacher"]


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


class StudentTeacher(Task):
    r"""Regression on a linear teacher, ``y* = A x + sigma_t zeta`` (Hiratani et al. 2022, Sec. 3).

    Inputs ``x ~ N(0, I_Lx)``, teacher noise ``zeta ~ N(0, I_Ly)`` and a
    teacher matrix ``A`` of shape ``(n_outputs, n_inputs)`` with Xavier-Glorot
    entries ``A_ij ~ N(0, 2 / (Lx + Ly))`` (times ``teacher_scale``), drawn once
    from ``seed``.

    Two ways to present data:

    * ``mode="online"``: every step sees fresh samples (the paper's online
      learning with ``batch_size=1``). An "epoch" is ``steps_per_epoch``
      steps; it only sets how often a training run records.
    * ``mode="minibatch"``: a fixed training set of ``n_train`` samples,
      shuffled into minibatches every epoch (like
      :class:`~bioplastic.tasks.DatasetTask`).

    Parameters
    ----------
    n_inputs, n_outputs : int, default 100, 10
        ``Lx`` and ``Ly``.
    teacher_noise : float, default 0.0
        ``sigma_t``, standard deviation of the label noise (the paper's
        instability study uses ``sigma_t^2 = 0.1``).
    mode : {"online", "minibatch"}, default "online"
    steps_per_epoch : int, default 1000
        Online mode: steps (minibatches of fresh samples) per epoch.
    n_train : int, default 10000
        Minibatch mode: size of the fixed training set.
    n_eval : int, default 1000
        Size of the held-out evaluation sets (``evaluation_sets()``; online
        mode draws an independent ``"train"`` set of the same size).
    teacher_scale : float, default 1.0
        Factor on the teacher's Xavier-Glorot standard deviation.
    seed : int, default 0
        Seed of the teacher matrix, the fixed training set and the
        evaluation sets. The online samples come from the ``rng`` passed to
        :meth:`batches` (``train``'s ``data_seed``).

    Attributes
    ----------
    teacher : ndarray of shape (n_outputs, n_inputs)
        ``A``.

    Notes
    -----
    For a linear student with input-output map ``W`` (``W = W2 W1``) the
    expected squared error over the input and noise distribution is exact:
    ``E ||W x - y*||^2 = ||W - A||_F^2 + Ly sigma_t^2``
    (:meth:`expected_error`); the normalised error of the paper is
    ``epsilon = ||W - A||_F^2 / (Lx Ly)`` (:meth:`normalized_error`).

    Online samples are drawn in chunks of fixed length (one block of inputs,
    then one block of teacher noise per chunk), so the stream depends only
    on the batch size, the sizes and ``steps_per_epoch``.

    Examples
    --------
    >>> from bioplastic.tasks import StudentTeacher
    >>> task = StudentTeacher(n_inputs=20, n_outputs=5, teacher_noise=0.1)
    >>> import numpy as np
    >>> x, y = next(task.batches(1, np.random.default_rng(0)))
    >>> x.shape, y.shape
    ((1, 20), (1, 5))
    """

    is_classification = False
    name = "student_teacher"
    #: samples per chunk of online data (x then zeta are drawn per chunk)
    CHUNK_SAMPLES = 4096

    def __init__(
        self,
        *,
        n_inputs=100,
        n_outputs=10,
        teacher_noise=0.0,
        mode="online",
        steps_per_epoch=1000,
        n_train=10000,
        n_eval=1000,
        teacher_scale=1.0,
        seed=0,
    ):
        self.n_inputs = check_positive_int(n_inputs, "n_inputs")
        self.n_outputs = check_positive_int(n_outputs, "n_outputs")
        self.teacher_noise = check_nonnegative(teacher_noise, "teacher_noise")
        self.mode = check_choice(mode, "mode", ("online", "minibatch"))
        self.steps_per_epoch = check_positive_int(steps_per_epoch, "steps_per_epoch")
        self.n_train = check_positive_int(n_train, "n_train")
        self.n_eval = check_positive_int(n_eval, "n_eval")
        self.teacher_scale = check_positive(teacher_scale, "teacher_scale")
        if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
            raise ValueError(f"seed should be a non-negative integer, got {seed!r}")
        self.seed = int(seed)
        teacher_seq, eval_seq, train_seq = np.random.SeedSequence(self.seed).spawn(3)
        std = self.teacher_scale * np.sqrt(2.0 / (self.n_inputs + self.n_outputs))
        self.teacher = std * np.random.default_rng(teacher_seq).standard_normal((self.n_outputs, self.n_inputs))
        eval_rng = np.random.default_rng(eval_seq)
        self._test = self.sample(self.n_eval, eval_rng)
        if self.mode == "online":
            self._train = self.sample(self.n_eval, eval_rng)
        else:
            self._train = self.sample(self.n_train, np.random.default_rng(train_seq))

    # -- sampling --------------------------------------------------------------
    def sample(self, n_samples, rng):
        """Draw ``n_samples`` fresh samples: ``x`` of shape (n, n_inputs), ``y*`` of shape (n, n_outputs).

        ``x`` is drawn first, then (if ``teacher_noise > 0``) the noise ``zeta``.
        """
        n_samples = check_positive_int(n_samples, "n_samples", minimum=0)
        rng = make_rng(rng)
        x = rng.standard_normal((n_samples, self.n_inputs))
        y = x @ self.teacher.T
        if self.teacher_noise > 0:
            y += self.teacher_noise * rng.standard_normal((n_samples, self.n_outputs))
        return x, y

    def n_batches(self, batch_size):
        batch_size = check_positive_int(batch_size, "batch_size")
        if self.mode == "online":
            return self.steps_per_epoch
        if batch_size > self.n_train:
            raise ValueError(f"batch_size {batch_size} exceeds the {self.n_train} training samples of task {self.name!r}")
        return self.n_train // batch_size

    def batches(self, batch_size, rng):
        """Yield one epoch of ``(x, y*)`` minibatches of shape (batch_size, n_inputs) and (batch_size, n_outputs).

        Online mode: ``steps_per_epoch`` minibatches of fresh samples drawn
        from ``rng``. Minibatch mode: the fixed training set shuffled with
        ``rng`` (the remainder is dropped).
        """
        n = self.n_batches(batch_size)
        if self.mode == "minibatch":
            x_train, y_train = self._train
            order = rng.permutation(self.n_train)
            for i in range(n):
                idx = order[i * batch_size : (i + 1) * batch_size]
                yield x_train[idx], y_train[idx]
            return
        per_chunk = max(1, self.CHUNK_SAMPLES // batch_size)
        done = 0
        while done < n:
            steps = min(per_chunk, n - done)
            x, y = self.sample(steps * batch_size, rng)
            x = x.reshape(steps, batch_size, self.n_inputs)
            y = y.reshape(steps, batch_size, self.n_outputs)
            for i in range(steps):
                yield x[i], y[i]
            done += steps

    def evaluation_sets(self):
        """``{"train": (x, y*), "test": (x, y*)}``: the training set (minibatch mode) or a second held-out sample (online)."""
        return {"train": self._train, "test": self._test}

    # -- exact errors of linear students --------------------------------------
    def _check_map(self, weights):
        weights = np.asarray(weights, dtype=float)
        if weights.shape[-2:] != (self.n_outputs, self.n_inputs):
            raise ValueError(
                f"the student's input-output map should have shape (..., {self.n_outputs}, {self.n_inputs}), got {weights.shape}"
            )
        return weights

    def normalized_error(self, weights):
        """``epsilon = ||W - A||_F^2 / (Lx Ly)`` of a linear map ``W`` of shape (..., n_outputs, n_inputs)."""
        diff = self._check_map(weights) - self.teacher
        return np.einsum("...ij,...ij->...", diff, diff) / (self.n_inputs * self.n_outputs)

    def expected_error(self, weights):
        """Expected squared error ``E ||W x - y*||^2 = ||W - A||_F^2 + Ly sigma_t^2`` (summed over outputs)."""
        diff = self._check_map(weights) - self.teacher
        return np.einsum("...ij,...ij->...", diff, diff) + self.n_outputs * self.teacher_noise**2

    def describe(self):
        return {
            **super().describe(),
            "teacher_noise": self.teacher_noise,
            "mode": self.mode,
            "steps_per_epoch": self.steps_per_epoch,
            "n_train": self.n_train,
            "n_eval": self.n_eval,
            "teacher_scale": self.teacher_scale,
            "seed": self.seed,
        }

    def __repr__(self):
        return (
            f"StudentTeacher(n_inputs={self.n_inputs}, n_outputs={self.n_outputs}, teacher_noise={self.teacher_noise}, "
            f"mode={self.mode!r})"
        )
