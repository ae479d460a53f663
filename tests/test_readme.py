"""The README's code runs as written."""

import re
from pathlib import Path

import numpy as np

import bioplastic as bp

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()
BLOCKS = re.findall(r"```python\n(.*?)```", README, re.S)


def test_the_own_rule_example_registers_and_learns():
    block = next(b for b in BLOCKS if "class SignedBackprop" in b)
    namespace = {}
    try:
        exec(block, namespace)
        assert bp.registered_rules()["signed_backprop"] is namespace["SignedBackprop"]
        task = bp.tasks.NonlinearStudentTeacher(n_train=200, n_test=50, seed=0)
        history = bp.train(bp.models.mlp((20, 16, 5), hidden="tanh"), bp.plasticity.get_rule("signed_backprop", step=0.5), task,
                           n_epochs=3, learning_rate=1e-3, batch_size=10, progress=False)
        errors = history.records["test_error"][0]
        assert np.all(np.diff(errors) < 0), errors
    finally:
        bp.plasticity.RULES.pop("signed_backprop", None)
