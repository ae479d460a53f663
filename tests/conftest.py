import os

import matplotlib
import pytest

matplotlib.use("Agg")


def data_dir_or_skip():
    """The real-data directory, or skip the test with the reason."""
    path = os.environ.get("BIOPLASTIC_DATA_DIR")
    if not path:
        pytest.skip("BIOPLASTIC_DATA_DIR not set: real-data tests need a local data directory")
    return path
