import gzip
import os
import random

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")


def data_dir_or_skip():
    """The real-data directory, or skip the test with the reason."""
    path = os.environ.get("BIOPLASTIC_DATA_DIR")
    if not path:
        pytest.skip("BIOPLASTIC_DATA_DIR not set: real-data tests need a local data directory")
    return path


def naive_idx_bytes(values, shape, type_byte=0x08):
    """The bytes of an idx file, written out one field at a time (elements: one unsigned byte each)."""
    out = bytearray([0, 0, type_byte, len(shape)])
    for size in shape:
        out += size.to_bytes(4, "big")
    for value in values:
        out.append(value)
    return bytes(out)


def state_away_from_init(net, *, n_members=2, seed=0):
    """The initial state of members ``0 .. n_members - 1`` of ``net``, moved off its zeros and identities by one seed.

    Each decorrelation matrix (where the network has one) gains ``0.2`` times standard normal draws, then each bias vector
    ``0.1`` times standard normal draws, all from ``numpy.random.default_rng(seed)`` in that order.
    """
    state = net.init_state(list(range(n_members)))
    rng = np.random.default_rng(seed)
    for k, r in enumerate(state.lateral):
        if r is not None:  # a decorrelation matrix away from the identity
            state.lateral[k] = r + 0.2 * rng.standard_normal(r.shape)
    for b in state.biases:
        b += 0.1 * rng.standard_normal(b.shape)
    return state


IDX_NAMES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


def write_idx_image_set(directory, *, gz=True, n_train=7, n_test=4, image_shape=(3, 5), n_classes=4, seed=0, names=None):
    """Write a small random idx image set (uint8 images, labels 0..n_classes-1) under MNIST's file names.

    Returns ``(images, labels, paths)``: per split (``"train"``, ``"test"``) the images as nested lists
    ``[image][row][column]`` and the labels as a list, and the path written for each file key.
    """
    rnd = random.Random(seed)
    height, width = image_shape
    images, labels, paths = {}, {}, {}
    directory.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", n_train), ("test", n_test)):
        images[split] = [[[rnd.randrange(256) for _ in range(width)] for _ in range(height)] for _ in range(n)]
        images[split][0][0][0], images[split][-1][-1][-1] = 0, 255
        labels[split] = [i % n_classes for i in range(n)]
        rnd.shuffle(labels[split])
        flat = [v for image in images[split] for row in image for v in row]
        for key, payload in ((f"{split}_images", naive_idx_bytes(flat, (n, height, width))),
                             (f"{split}_labels", naive_idx_bytes(labels[split], (n,)))):
            name = (names or IDX_NAMES)[key] + (".gz" if gz else "")
            paths[key] = directory / name
            paths[key].write_bytes(gzip.compress(payload) if gz else payload)
    return images, labels, paths


REQUIRE_DATA = os.environ.get("BIOPLASTIC_REQUIRE_DATA") == "1"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """With BIOPLASTIC_REQUIRE_DATA=1 (as in CI), a real-data test that skips is a failure."""
    outcome = yield
    report = outcome.get_result()
    if REQUIRE_DATA and report.skipped:
        reason = str(report.longrepr[2]) if isinstance(report.longrepr, tuple) else str(report.longrepr)
        if "BIOPLASTIC_DATA_DIR" in reason or "data" in reason.lower() and "not" in reason.lower():
            report.outcome = "failed"
            report.longrepr = f"real-data test skipped but BIOPLASTIC_REQUIRE_DATA=1: {reason}"


_WITHOUT_MATPLOTLIB = """
import importlib, json, sys

class NoMatplotlib:
    def find_spec(self, name, path=None, target=None):
        if name == "matplotlib" or name.startswith("matplotlib."):
            raise ImportError(f"compute imported {name}")

sys.meta_path.insert(0, NoMatplotlib())
module, function, out_dir = sys.argv[1:4]
compute = getattr(importlib.import_module(module), function)
results = compute(quick=True, progress=False, **({"out_dir": out_dir} if out_dir else {}))
assert not any(m.split(".")[0] == "matplotlib" for m in sys.modules)
print(json.dumps({"summary": results.summary, "arrays": sorted(results.arrays), "quick": results.metadata.get("quick")}))
"""


def compute_without_matplotlib(module, function, *, out_dir=None, timeout=300):
    """Run ``module.function(quick=True)`` (a figure's compute step) in a fresh interpreter that cannot import matplotlib.

    Returns its summary, the names of its arrays and its quick flag (a dict); fails the test if it imported matplotlib.
    """
    import json
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", _WITHOUT_MATPLOTLIB, module, function, str(out_dir or "")], capture_output=True,
                          text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)
