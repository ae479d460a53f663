"""Plots of learning curves from a small History, and atomic figure saving."""

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.collections import PolyCollection

import bioplastic as bp
from bioplastic.plotting import plot_learning_curves, plot_record_curves, save_figure

EPOCHS = np.array([0, 1, 2])
#: members 0, 1 learn at rate 0.1, members 2, 3 at 0.2 (member 3 diverged after epoch 1)
TEST_ERROR = np.array([
    [1.0, 0.5, 0.25],
    [3.0, 1.5, 0.75],
    [2.0, 1.0, 0.4],
    [4.0, 2.0, np.nan],
])
ACCURACY = np.array([[0.1, 0.5, 0.9], [0.3, 0.5, 0.7], [0.2, 0.4, 0.6], [0.1, 0.2, np.nan]])


@pytest.fixture
def history():
    records = {"test_error": TEST_ERROR, "test_accuracy": ACCURACY, "weight_norms": np.ones((4, 3, 2))}
    return bp.History(EPOCHS, records, [0.1, 0.1, 0.2, 0.2], [0, 1, 0, 1], [-1, -1, -1, 1], {"rule": {"name": "node_perturbation"}},
                      versions={})


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _band_limits(collection):
    """Lower and upper edges of a fill_between band, per x value."""
    vertices = collection.get_paths()[0].vertices
    lo, hi = {}, {}
    for x, y in vertices:
        lo[x], hi[x] = min(lo.get(x, np.inf), y), max(hi.get(x, -np.inf), y)
    return np.array([lo[x] for x in sorted(lo)]), np.array([hi[x] for x in sorted(hi)])


def test_learning_curves_plot_the_mean_per_learning_rate_with_a_range_band(history):
    ax = plot_learning_curves(history)
    lines = ax.get_lines()
    assert [line.get_label() for line in lines] == ["node_perturbation lr=0.1", "node_perturbation lr=0.2"]
    np.testing.assert_array_equal(lines[0].get_xdata(), EPOCHS)
    np.testing.assert_allclose(lines[0].get_ydata(), [2.0, 1.0, 0.5], rtol=1e-15)
    np.testing.assert_allclose(lines[1].get_ydata(), [3.0, 1.5, 0.4], rtol=1e-15)  # the diverged member is left out
    bands = [c for c in ax.collections if isinstance(c, PolyCollection)]
    assert len(bands) == 2
    lo, hi = _band_limits(bands[0])
    np.testing.assert_allclose(lo, [1.0, 0.5, 0.25], rtol=1e-15)
    np.testing.assert_allclose(hi, [3.0, 1.5, 0.75], rtol=1e-15)
    assert bands[0].get_facecolor()[0][:3] == pytest.approx(plt.matplotlib.colors.to_rgb(lines[0].get_color()))
    assert ax.get_yscale() == "log"
    assert ax.get_xlabel() == "epoch" and ax.get_ylabel() == "test error"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["node_perturbation lr=0.1", "node_perturbation lr=0.2"]


def test_std_band_no_band_label_colours_and_linear_accuracy(history):
    ax = plot_learning_curves(history, band="std", label="NP", colors=["red", "blue"])
    lo, hi = _band_limits([c for c in ax.collections if isinstance(c, PolyCollection)][0])
    rows = TEST_ERROR[:2]
    np.testing.assert_allclose(lo, rows.mean(0) - rows.std(0), rtol=1e-14)
    np.testing.assert_allclose(hi, rows.mean(0) + rows.std(0), rtol=1e-14)
    assert [line.get_label() for line in ax.get_lines()] == ["NP lr=0.1", "NP lr=0.2"]
    assert [line.get_color() for line in ax.get_lines()] == ["red", "blue"]

    _, ax = plt.subplots()
    assert plot_learning_curves(history, "test_accuracy", ax=ax, band=None) is ax
    assert not ax.collections
    assert ax.get_yscale() == "linear" and ax.get_ylabel() == "test accuracy"
    np.testing.assert_allclose(ax.get_lines()[0].get_ydata(), [0.2, 0.5, 0.8], rtol=1e-15)
    assert plot_learning_curves(history, logy=False).get_yscale() == "linear"


def test_history_plot_draws_the_same_curves(history):
    ax = history.plot()
    reference = plot_learning_curves(history)
    for a, b in zip(ax.get_lines(), reference.get_lines(), strict=True):
        np.testing.assert_array_equal(a.get_ydata(), b.get_ydata())
        assert a.get_label() == b.get_label()


def test_record_curves_from_plain_arrays_one_member_per_rate_has_no_band():
    ax = plot_record_curves([0, 5], [[1.0, 0.1], [2.0, 0.2]], [0.01, 0.02], name="train_error", label="BP")
    assert [line.get_label() for line in ax.get_lines()] == ["BP lr=0.01", "BP lr=0.02"]
    np.testing.assert_array_equal(ax.get_lines()[1].get_ydata(), [2.0, 0.2])
    assert not ax.collections
    assert ax.get_ylabel() == "train error"
    # no label: the legend entry is the learning rate alone
    assert plot_record_curves([0, 5], [[1.0, 0.1]], [0.01]).get_lines()[0].get_label() == "lr=0.01"


def test_all_members_of_a_rate_diverged_draw_nothing_finite_without_warnings():
    ax = plot_record_curves([0, 1], [[1.0, np.nan], [2.0, np.nan]], [0.1, 0.1])
    ydata = ax.get_lines()[0].get_ydata()
    assert ydata[0] == 1.5 and np.isnan(ydata[1])


def test_errors_name_the_bad_shape(history):
    with pytest.raises(ValueError) as info:
        plot_learning_curves(history, "weight_norms")
    assert str(info.value) == "record 'weight_norms' has shape (4, 3, 2); plot_learning_curves needs (n_members, n_records)"
    with pytest.raises(ValueError) as info:
        plot_record_curves([0, 1], [[1.0, 2.0]], [0.1, 0.2])
    assert str(info.value) == "values should have shape (n_members, n_records) with n_members = 2 learning rates, got (1, 2)"
    with pytest.raises(KeyError):
        plot_learning_curves(history, "train_error")


def test_save_figure_writes_a_png_and_leaves_no_temporary_file(tmp_path):
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    path = save_figure(fig, tmp_path / "sub" / "curves.png")
    assert path == tmp_path / "sub" / "curves.png"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in path.parent.iterdir()] == ["curves.png"]
    svg = save_figure(fig, tmp_path / "curves.svg")
    assert b"<svg" in svg.read_bytes()[:1000]
    # no suffix: PNG
    assert save_figure(fig, tmp_path / "plain").read_bytes()[:4] == b"\x89PNG"


def test_save_figure_is_atomic_when_rendering_fails(tmp_path):
    """A figure that fails half-way through rendering leaves the previous file whole."""
    path = tmp_path / "curves.png"
    path.write_bytes(b"previous figure")
    fig, _ = plt.subplots()

    def failing_savefig(target, **kwargs):
        target.write(b"\x89PNG partial")
        raise RuntimeError("renderer failed")

    fig.savefig = failing_savefig
    with pytest.raises(RuntimeError, match="renderer failed"):
        save_figure(fig, path)
    assert path.read_bytes() == b"previous figure"
    assert [p.name for p in tmp_path.iterdir()] == ["curves.png"]
