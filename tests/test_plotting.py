"""Plots of learning curves from small Histories (diverged members included), and atomic figure saving."""

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.collections import PolyCollection

import bioplastic as bp
from bioplastic.plotting import divergence_indices, divergence_markers, plot_learning_curves, plot_member_curves, plot_record_curves, record_label, save_figure

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
    curves = ax.get_lines()
    assert [line.get_label() for line in curves] == ["node_perturbation lr=0.1", "node_perturbation lr=0.2"]
    np.testing.assert_array_equal(curves[0].get_xdata(), EPOCHS)
    np.testing.assert_allclose(curves[0].get_ydata(), [2.0, 1.0, 0.5], rtol=1e-15)
    # member 3 diverged at epoch 1: its value there (the one that flagged it) and after are left out
    np.testing.assert_allclose(curves[1].get_ydata(), [3.0, 1.0, 0.4], rtol=1e-15)
    bands = [c for c in ax.collections if isinstance(c, PolyCollection)]
    assert len(bands) == 2
    lo, hi = _band_limits(bands[0])
    np.testing.assert_allclose(lo, [1.0, 0.5, 0.25], rtol=1e-15)
    np.testing.assert_allclose(hi, [3.0, 1.5, 0.75], rtol=1e-15)
    lo, hi = _band_limits(bands[1])
    np.testing.assert_allclose(lo, [2.0, 1.0, 0.4], rtol=1e-15)
    np.testing.assert_allclose(hi, [4.0, 1.0, 0.4], rtol=1e-15)
    assert bands[0].get_facecolor()[0][:3] == pytest.approx(plt.matplotlib.colors.to_rgb(curves[0].get_color()))
    # the divergence: an x at epoch 1 on the upper edge, in the colour of its learning rate
    (marker,) = [c for c in ax.collections if c.get_label() == "diverged"]
    assert marker.get_offsets().tolist() == [[1.0, 1.0]] and marker.get_offset_transform() == ax.get_xaxis_transform()
    assert divergence_markers(ax) == [(1.0, plt.matplotlib.colors.to_rgba(curves[1].get_color()))]
    assert not ax.texts  # the other member of that rate goes on: no dashed end
    assert ax.get_yscale() == "log"
    assert ax.get_xlabel() == "training time (epochs)" and ax.get_ylabel() == "test error (squared error, sum over outputs)"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["node_perturbation lr=0.1", "node_perturbation lr=0.2",
                                                                    "diverged"]


def test_std_band_no_band_label_colours_and_linear_accuracy(history):
    ax = plot_learning_curves(history, band="std", label="NP", colors=["red", "blue"])
    lo, hi = _band_limits([c for c in ax.collections if isinstance(c, PolyCollection)][0])
    rows = TEST_ERROR[:2]
    np.testing.assert_allclose(lo, rows.mean(0) - rows.std(0), rtol=1e-14)
    np.testing.assert_allclose(hi, rows.mean(0) + rows.std(0), rtol=1e-14)
    assert [line.get_label() for line in ax.get_lines()] == ["NP lr=0.1", "NP lr=0.2"]
    assert [line.get_color() for line in ax.get_lines()] == ["red", "blue"]
    assert divergence_markers(ax) == [(1.0, plt.matplotlib.colors.to_rgba("blue"))]

    _, ax = plt.subplots()
    assert plot_learning_curves(history, "test_accuracy", ax=ax, band=None) is ax
    assert not [c for c in ax.collections if isinstance(c, PolyCollection)]
    assert ax.get_yscale() == "linear" and ax.get_ylabel() == "test accuracy (fraction correct)"
    np.testing.assert_allclose(ax.get_lines()[0].get_ydata(), [0.2, 0.5, 0.8], rtol=1e-15)
    assert plot_learning_curves(history, logy=False).get_yscale() == "linear"


def test_std_band_stays_positive_on_a_log_axis():
    values = np.array([[0.1, 0.1], [0.1, 0.1], [10.0, 10.0]])  # mean 3.4 - std 4.67 < 0
    ax = plot_record_curves([0, 1], values, [0.1, 0.1, 0.1], band="std")
    lo, hi = _band_limits(ax.collections[0])
    np.testing.assert_allclose(lo, [0.1, 0.1], rtol=1e-15)  # the smallest member, not mean - std
    np.testing.assert_allclose(hi, values.mean(0) + values.std(0), rtol=1e-14)
    # on a linear axis the band is mean +- std as it is
    ax = plot_record_curves([0, 1], values, [0.1, 0.1, 0.1], band="std", logy=False)
    lo, _ = _band_limits(ax.collections[0])
    np.testing.assert_allclose(lo, values.mean(0) - values.std(0), rtol=1e-14)


def _exploding_history():
    """Five members, lr 0.01 and 0.1 with two seeds each and lr 1 with one seed, which diverges to 1e100 at epoch 6."""
    epochs = np.arange(11)
    decay = np.exp(-0.2 * epochs)
    errors = np.array([2.0 * decay, 2.5 * decay, 1.5 * decay ** 2, 1.8 * decay ** 2, 2.0 + 0.5 * epochs], dtype=float)
    errors[4, 6], errors[4, 7:] = 1e100, np.nan
    return bp.History(epochs, {"test_error": errors}, [0.01, 0.01, 0.1, 0.1, 1.0], [0, 1, 0, 1, 0], [-1, -1, -1, -1, 6],
                      {"rule": {"name": "node_perturbation"}}, versions={})


@pytest.mark.parametrize("how", ["history", "plain arrays"])
def test_a_member_diverging_to_1e100_does_not_stretch_the_axis_and_its_curve_ends_at_its_divergence(how):
    history = _exploding_history()
    errors = history.records["test_error"]
    if how == "history":
        ax = history.plot()
    else:  # the divergence read from the values alone
        ax = plot_record_curves(history.epochs, errors, history.learning_rates, label="NP")
    ax.figure.canvas.draw()
    bottom, top = ax.get_ylim()
    before = errors[np.isfinite(errors) & (errors < 1e99)]
    # within a few decades of the values before the divergence (matplotlib's margins), not 100
    assert before.min() / 10 < bottom < before.min() and before.max() < top < 10 * before.max()
    assert len(ax.get_lines()) == 3  # one curve per learning rate
    curve = ax.get_lines()[2]  # lr = 1
    finite = np.isfinite(curve.get_ydata())
    assert curve.get_xdata()[finite].max() == 5  # the last record before the divergence
    np.testing.assert_allclose(curve.get_ydata()[finite], errors[4, :6], rtol=1e-15)
    assert divergence_markers(ax) == [(6.0, plt.matplotlib.colors.to_rgba(curve.get_color()))]  # epoch 6
    (marker,) = [c for c in ax.collections if c.get_label() == "diverged"]
    assert marker.get_offsets().tolist() == [[6.0, 1.0]]  # on the upper edge
    (end,) = ax.texts  # every member of that rate diverged: its curve goes on, dashed, to the divergence
    assert end.xy == (6.0, 1.0) and end.xycoords == ("data", "axes fraction")
    assert end.xyann == (5.0, errors[4, 5]) and end.anncoords == "data"
    assert end.arrow_patch.get_linestyle() == "--"


def test_a_real_diverging_run_keeps_the_axis_on_the_learning_members():
    task = bp.tasks.NonlinearStudentTeacher(n_inputs=10, n_outputs=3, n_train=200, n_test=100)
    net = bp.models.mlp((10, 20, 3), hidden="tanh")
    history = bp.train(net, bp.Backprop(), task, n_epochs=6, learning_rate=[0.01, 30.0], seeds=[0, 1], batch_size=20,
                       progress=False)
    assert list(history.diverged_epoch) == [-1, -1, 1, 1]
    assert np.nanmax(history.records["test_error"]) > 1e20  # what the divergence records hold
    ax = history.plot()
    _, top = ax.get_ylim()
    assert top < 10 * np.max(history.records["test_error"][:, 0])
    assert [x for x, _ in divergence_markers(ax)] == [1.0]


def test_divergence_indices_from_the_epochs_or_from_the_values():
    values = np.array([
        [1.0, 0.5, 0.2, 0.1],           # learning
        [1.0, 2.0, 5e3, np.nan],        # flagged at record 2 (5000 x its start), NaN after
        [1.0, 2.0, np.nan, np.nan],     # non-finite at record 2
        [1.0, np.inf, 0.5, 0.2],        # one bad value, then finite again: not a divergence
        [1.0, 0.5, 0.2, np.inf],        # non-finite at the last record
    ])
    np.testing.assert_array_equal(divergence_indices(values), [-1, 2, 2, -1, 3])
    epochs = [0, 10, 20, 30]
    np.testing.assert_array_equal(divergence_indices(values, epochs=epochs, diverged_epoch=[-1, 20, 15, -1, 30]),
                                  [-1, 2, 2, -1, 3])  # an epoch between records: the first record at or after it
    with pytest.raises(ValueError) as info:
        divergence_indices(values, epochs=epochs, diverged_epoch=[-1, 20])
    assert str(info.value) == "diverged_epoch should have shape (5,), one epoch per member, got (2,)"
    with pytest.raises(ValueError, match="diverged_epoch needs the epochs of the records"):
        divergence_indices(values, diverged_epoch=[-1] * 5)


def test_member_curves_end_at_their_divergence():
    _, ax = plt.subplots()
    x = np.array([1.0, 10.0, 100.0, 1000.0])
    rows = np.array([[1.0, 2.0, 4.0, 8.0], [1.0, 3.0, 1e50, np.nan]])
    lines = plot_member_curves(ax, x, rows, color="C3", label="runs", lw=0.5)
    assert [line.get_label() for line in lines] == ["runs", "_nolegend_"]
    np.testing.assert_array_equal(lines[0].get_ydata(), rows[0])
    np.testing.assert_array_equal(lines[1].get_ydata(), [1.0, 3.0, np.nan, np.nan])
    assert lines[1].get_linewidth() == 0.5
    assert len(ax.get_lines()) == 2
    assert divergence_markers(ax) == [(100.0, plt.matplotlib.colors.to_rgba("C3"))]
    assert ax.get_legend_handles_labels()[1] == ["runs"]  # the x has no legend entry here
    (end,) = ax.texts
    assert end.xy == (100.0, 1.0) and end.xyann == (10.0, 3.0)
    assert end.arrow_patch.get_linewidth() == 0.5 and end.arrow_patch.get_linestyle() == "--"  # as thin as its line
    assert ax.get_ylim()[1] < 10  # 1e50 is not on the axis
    plot_member_curves(ax, x, rows, mark=False)
    assert len(ax.get_lines()) == 4 and len(ax.texts) == 1 and len(divergence_markers(ax)) == 1


def test_record_labels_name_the_quantity_and_its_unit():
    assert record_label("test_error") == "test error (squared error, sum over outputs)"
    assert record_label("train_accuracy") == "training accuracy (fraction correct)"
    assert record_label("weight_angle") == "weight angle"


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
    assert ax.get_ylabel() == "training error (squared error, sum over outputs)"
    # no label: the legend entry is the learning rate alone
    assert plot_record_curves([0, 5], [[1.0, 0.1]], [0.01]).get_lines()[0].get_label() == "lr=0.01"


def test_all_members_of_a_rate_diverged_draw_nothing_finite_without_warnings():
    ax = plot_record_curves([0, 1], [[1.0, np.nan], [2.0, np.nan]], [0.1, 0.1])
    ydata = ax.get_lines()[0].get_ydata()
    assert ydata[0] == 1.5 and np.isnan(ydata[1])
    assert [x for x, _ in divergence_markers(ax)] == [1.0]  # both diverged at record 1: one x
    (end,) = ax.texts  # the mean's last point joined to the divergence
    assert end.xy == (1.0, 1.0) and end.xyann == (0.0, 1.5)


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
