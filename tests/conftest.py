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
