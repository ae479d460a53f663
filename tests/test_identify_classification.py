"""Classifiers and protocols of rule identification, on synthetic data sets in the schema of observables tables.

Each synthetic data set has runs of a few rule classes whose observables
differ by known mean shifts (at chosen observables, time points and
architectures) on top of unit Gaussian noise; where the classes do not
differ, the test accuracy should lie at chance within three binomial
standard deviations of one split's test-set accuracy.
"""

from __future__ import annotations

import math
import sys

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("sklearn", reason="rule identification needs scikit-learn: pip install 'bioplastic[identify]'")

from bioplastic.identify import classification as ic  # noqa: E402
from bioplastic.training.observables import layer_positions  # noqa: E402

CLASSES = ("sgd", "feedback_alignment", "node_perturbation", "reinforce")
OBSERVABLES = {"weightraw_mean": "weight", "weightabs_norm": "weight", "actraw_mean": "act", "actabs_norm": "act",
               "gradavgraw_id": "gradavg", "gradavgsq_id": "gradavg"}
FAST_SVM = {"C": [0.1]}


def make_data(*, classes=CLASSES, n_per_class=16, architectures=(("mlp-2x8", 2),), n_time=6, effects=(), noise=1.0, seed=0,
              condition="full", keep_fraction=1.0, counts=None):
    """A data set: every observable of every layer of every run at every time point, ``value = shift + noise * N(0, 1)``.

    ``effects`` are dicts ``{"observable", "size", "times" (None: all), "architecture" (None: all), "order" (class -> level)}``:
    a run of class index ``k`` gets ``size * order[k]`` added (``order`` defaults to ``k``).
    """
    rng = np.random.default_rng(seed)
    counts = counts or {c: n_per_class for c in classes}
    blocks = []
    for architecture, depth in architectures:
        positions = layer_positions(depth)
        for k, rule_class in enumerate(classes):
            for member in range(counts[rule_class]):
                run = f"{architecture}:{rule_class}:{member}"
                obs, layer, time = (a.ravel() for a in np.meshgrid(np.array(list(OBSERVABLES)), np.arange(depth), np.arange(n_time),
                                                                   indexing="ij"))
                value = noise * rng.standard_normal(obs.size)
                for effect in effects:
                    if effect.get("architecture") not in (None, architecture):
                        continue
                    mask = obs == effect["observable"]
                    if effect.get("times") is not None:
                        mask &= np.isin(time, effect["times"])
                    level = effect.get("order", list(range(len(classes))))[k]
                    value = value + mask * effect["size"] * level
                blocks.append(pd.DataFrame({
                    "member": member, "seed": member, "learning_rate": 0.01, "diverged_epoch": -1, "rule": rule_class,
                    "sizes": "-".join(["8"] * (depth + 1)), "depth": depth, "width": 8, "batch_size": 10, "epoch": time,
                    "time_point": time, "layer": layer, "layer_position": np.array(positions)[layer], "n_pre": 8, "n_post": 8,
                    "observable": obs, "measure": [OBSERVABLES[o] for o in obs], "function": "raw", "statistic": "mean",
                    "value": value, "run": run, "rule_class": rule_class, "architecture": architecture,
                    "keep_fraction": keep_fraction, "measurement_noise": noise, "condition": condition}))
    return pd.concat(blocks, ignore_index=True)


def chance_band(result):
    """Three binomial standard deviations of one split's test-set accuracy at chance."""
    p = result.chance
    return 3 * math.sqrt(p * (1 - p) / result.n_test.min())


WEIGHTS_DIFFER = ({"observable": "weightraw_mean", "size": 3.0},)


@pytest.fixture(scope="module")
def weights_differ():
    return make_data(effects=WEIGHTS_DIFFER, n_per_class=20, n_time=4)


# ---------------------------------------------------------------------------------------------------------------- features


def test_feature_matrix_matches_a_naive_loop_with_layers_of_different_depths_lined_up_by_position():
    data = make_data(classes=CLASSES[:2], n_per_class=3, architectures=(("mlp-3", 3), ("mlp-4", 4)), n_time=3, seed=1)
    features = ic.feature_matrix(data)
    X, y, groups, names, runs = features
    assert features.layers == ("early", "middle", "deep")
    assert features.observables == tuple(OBSERVABLES)  # weights, activities, activity changes; each in OBSERVABLES' order
    assert X.shape == (12, 6 * 3 * 3) and list(runs) == sorted(data["run"].unique())
    expected_names = [f"{o}/{p}/t{t}" for o in OBSERVABLES for p in ("early", "middle", "deep") for t in range(3)]
    assert list(names) == expected_names
    records = data.to_dict("records")
    for i, run in enumerate(runs):
        rows = [r for r in records if r["run"] == run]
        assert y[i] == rows[0]["rule_class"] and groups[i] == rows[0]["architecture"]
        for j, name in enumerate(names):
            observable, position, t = name.split("/")
            sel = [r["value"] for r in rows
                   if r["observable"] == observable and r["layer_position"] == position and r["time_point"] == int(t[1:])]
            assert len(sel) == {3: {"early": 1, "middle": 1, "deep": 1}, 4: {"early": 1, "middle": 2, "deep": 1}}[rows[0]["depth"]][position]
            assert X[i, j] == pytest.approx(sum(sel) / len(sel), rel=1e-12)
    assert list(features.table.columns) == ["feature", "observable", "family", "layer_position", "time_point"]
    assert features.table.set_index("feature").loc["gradavgsq_id/middle/t2", "family"] == "activity_changes"


def test_feature_matrix_keeps_only_the_positions_every_run_holds_unless_asked():
    data = make_data(classes=CLASSES[:2], n_per_class=3, architectures=(("mlp-2", 2), ("mlp-3", 3)), n_time=2)
    assert ic.feature_matrix(data).layers == ("early", "deep")  # the two-layer runs have no middle layer
    features = ic.feature_matrix(data, layers=["middle", "early"], missing="impute")
    assert features.layers == ("early", "middle")
    middle = np.array(["/middle/" in n for n in features.names])
    two_layer = features.groups == "mlp-2"
    assert np.isnan(features.X[np.ix_(two_layer, middle)]).all() and np.isfinite(features.X[~two_layer]).all()
    dropped = ic.feature_matrix(data, layers=["middle"])
    assert sorted(dropped.dropped) == sorted(r for r in data["run"].unique() if r.startswith("mlp-2:"))
    assert set(dropped.groups) == {"mlp-3"}


def test_feature_matrix_drops_diverged_runs_and_reports_them_or_keeps_them_for_imputation():
    data = make_data(classes=CLASSES[:2], n_per_class=3, n_time=4)
    diverged = "mlp-2x8:sgd:1"
    data.loc[(data["run"] == diverged) & (data["time_point"] >= 2), "value"] = np.nan
    data.loc[(data["run"] == "mlp-2x8:sgd:2") & (data["time_point"] == 3) & (data["observable"] == "actabs_norm"), "value"] = np.inf
    features = ic.feature_matrix(data)
    assert features.dropped == (diverged, "mlp-2x8:sgd:2") and len(features.runs) == 4
    assert diverged not in features.runs and np.isfinite(features.X).all()
    early = ic.feature_matrix(data, time_points=2)  # before the divergence: every run kept
    assert early.dropped == () and len(early.runs) == 6
    imputed = ic.feature_matrix(data, missing="impute")
    assert imputed.dropped == () and np.isnan(imputed.X[list(imputed.runs).index(diverged)]).sum() == 6 * 2 * 2
    # the classifier imputes the training runs' mean, so a run with NaN is still classified
    result = ic.evaluate(pd.concat([data, make_data(classes=CLASSES[2:3], n_per_class=3, n_time=4)]), missing="impute", n_splits=2,
                         test_size=0.5, grid=FAST_SVM)
    assert result.n_runs == 9 and result.dropped == ()


@pytest.mark.parametrize(("selector", "expected"), [
    (None, (0, 1, 2, 3, 4, 5, 6, 7)), (3, (0, 1, 2)), (0.5, (0, 1, 2, 3)), (0.3, (0, 1, 2)), (1.0, tuple(range(8))),
    (slice(None, None, 3), (0, 3, 6)), (slice(-2, None), (6, 7)), ([5, 1], (1, 5)), (np.array([2, 7]), (2, 7)),
])
def test_time_points_select_a_count_a_fraction_a_slice_or_a_sequence(selector, expected):
    data = make_data(classes=CLASSES[:2], n_per_class=2, n_time=8)
    features = ic.feature_matrix(data, time_points=selector)
    assert features.time_points == expected
    assert features.names[:len(expected)] == tuple(f"weightraw_mean/early/t{t}" for t in expected)
    full = ic.feature_matrix(data)
    columns = [full.names.index(n) for n in features.names]
    np.testing.assert_array_equal(features.X, full.X[:, columns])


def test_families_and_observables_select_features():
    data = make_data(classes=CLASSES[:2], n_per_class=2, n_time=2)
    assert ic.feature_matrix(data, families="activity_changes").observables == ("gradavgraw_id", "gradavgsq_id")
    assert ic.feature_matrix(data, families=["activities", "weights"]).observables == ("weightraw_mean", "weightabs_norm",
                                                                                       "actraw_mean", "actabs_norm")
    assert ic.feature_matrix(data, observables=["actabs_norm", "weightraw_mean"]).observables == ("weightraw_mean", "actabs_norm")


def test_several_conditions_need_one_chosen():
    data = pd.concat([make_data(classes=CLASSES[:2], n_per_class=2, n_time=2, condition=c) for c in ("full", "keep0.1")])
    with pytest.raises(ValueError, match=r"several measurement conditions \['full', 'keep0.1'\].*condition="):
        ic.feature_matrix(data)
    assert ic.feature_matrix(data, condition="keep0.1").condition == "keep0.1"
    with pytest.raises(ValueError, match=r"unknown condition 'keep0.5'; the data holds \['full', 'keep0.1'\]"):
        ic.feature_matrix(data, condition="keep0.5")
    with pytest.raises(ValueError, match=r"run 'mlp-2x8:sgd:0' has several values of observable 'weightraw_mean'"):
        ic.feature_matrix(data.drop(columns="condition"))


def test_bad_feature_arguments_are_named():
    data = make_data(classes=CLASSES[:2], n_per_class=2, n_time=3)
    with pytest.raises(ValueError, match=r"unknown family\(s\) \['weight'\] in families; expected some of \['weights', 'activities', "):
        ic.feature_matrix(data, families=["weight"])
    with pytest.raises(ValueError, match=r"families should name at least one family, got an empty sequence"):
        ic.feature_matrix(data, families=[])
    with pytest.raises(ValueError, match=r"the data holds no observables of the families \['activities'\]"):
        ic.feature_matrix(data[data["measure"] != "act"], families="activities")
    with pytest.raises(ValueError, match=r"unknown observable\(s\) \['actsq_mean'\] in observables"):
        ic.feature_matrix(data, observables=["actsq_mean"])
    with pytest.raises(ValueError, match=r"observables should name at least one observable, got an empty sequence"):
        ic.feature_matrix(data, observables=[])
    with pytest.raises(ValueError, match=r"unknown layer position\(s\) \['middle'\] in layers; expected some of \['early', 'deep'\]"):
        ic.feature_matrix(data, layers="middle")
    with pytest.raises(ValueError, match=r"time_points=4 should count between 1 and the 3 time points every run holds"):
        ic.feature_matrix(data, time_points=4)
    with pytest.raises(ValueError, match=r"time_points=1.5 as a fraction of the time points should lie in \(0, 1\]"):
        ic.feature_matrix(data, time_points=1.5)
    with pytest.raises(ValueError, match=r"unknown time point\(s\) \[7\] in time_points; the runs hold \[0, 1, 2\]"):
        ic.feature_matrix(data, time_points=[1, 7])
    with pytest.raises(ValueError, match=r"selects none of the 3 time points"):
        ic.feature_matrix(data, time_points=slice(5, None))
    with pytest.raises(TypeError, match=r"time_points should be an int count.*got True"):
        ic.feature_matrix(data, time_points=True)
    with pytest.raises(ValueError, match=r"data lacks the column\(s\) \['rule_class'\]"):
        ic.feature_matrix(data.drop(columns="rule_class"))
    with pytest.raises(TypeError, match=r"data should be a pandas DataFrame .* got dict"):
        ic.feature_matrix({})
    with pytest.raises(ValueError, match=r"unknown missing 'mean'; expected one of 'drop', 'impute'"):
        ic.feature_matrix(data, missing="mean")
    bad = data.copy()
    bad.loc[(bad["run"] == "mlp-2x8:sgd:0") & (bad["time_point"] == 2), "rule_class"] = "adam"
    with pytest.raises(ValueError, match=r"run 'mlp-2x8:sgd:0' has several values of 'rule_class': \['adam', 'sgd'\]"):
        ic.feature_matrix(bad)


# ---------------------------------------------------------------------------------------------------------------- evaluate


def test_classes_that_differ_in_the_weights_are_identified_and_the_importance_points_there(weights_differ):
    result = ic.evaluate(weights_differ, grid={"C": [0.1, 1.0]}, inner_folds=3)  # ten 75/25 splits by default
    assert result.classes == CLASSES and result.n_splits == 10 and result.n_runs == 80
    assert np.mean(result.accuracy) > 0.9 and np.mean(result.balanced_accuracy) > 0.9
    assert result.chance == 0.25 and result.majority_rate == 0.25
    assert set(result.n_test) == {20} and set(result.n_train) == {60}
    # every class has 5 of its 20 runs in each test set
    np.testing.assert_array_equal(result.confusion.sum(axis=1), [50, 50, 50, 50])
    np.testing.assert_array_equal(result.test_counts, [50, 50, 50, 50])
    assert np.trace(result.confusion) / result.confusion.sum() == pytest.approx(np.mean(result.accuracy))
    assert result.importance_kind == "coefficient" and result.importances.shape == (len(result.features),)
    assert result.importance(by="observable").index[0] == "weightraw_mean"
    assert result.importance(by="family").index[0] == "weights"
    assert result.importance(by="family").sum() == pytest.approx(1.0)
    assert len(result.best_params) == 10 and all(p["C"] in (0.1, 1.0) for p in result.best_params)
    search = ic.make_classifier("svm", seed=3)
    assert search.cv.n_splits == 5 and search.param_grid == {"clf__C": list(ic.DEFAULT_GRIDS["svm"]["C"])}


def test_shuffled_labels_and_an_uninformative_family_give_chance(weights_differ):
    shuffled = ic.evaluate(weights_differ, shuffle_labels=True, grid=FAST_SVM)
    assert shuffled.shuffled
    assert abs(np.mean(shuffled.accuracy) - 0.25) < chance_band(shuffled)
    activities = ic.evaluate(weights_differ, families="activities", grid=FAST_SVM)
    assert abs(np.mean(activities.accuracy) - 0.25) < chance_band(activities)
    assert chance_band(activities) < 0.3  # the band is narrow enough to tell chance from the identified classes


def test_the_same_seed_gives_the_same_splits_and_another_seed_others(weights_differ):
    a = ic.evaluate(weights_differ, grid=FAST_SVM, n_splits=3, seed=4)
    b = ic.evaluate(weights_differ, grid=FAST_SVM, n_splits=3, seed=4)
    c = ic.evaluate(weights_differ, grid=FAST_SVM, n_splits=3, seed=5, shuffle_labels=True)
    d = ic.evaluate(weights_differ, grid=FAST_SVM, n_splits=3, seed=6, shuffle_labels=True)
    np.testing.assert_array_equal(a.accuracy, b.accuracy)
    np.testing.assert_array_equal(a.confusion, b.confusion)
    assert not np.array_equal(c.confusion, d.confusion)


def test_unbalanced_classes_have_a_majority_rate_above_chance_and_stratified_test_sets():
    data = make_data(classes=CLASSES[:3], counts={"sgd": 24, "feedback_alignment": 8, "node_perturbation": 8}, n_time=2,
                     effects=WEIGHTS_DIFFER)
    result = ic.evaluate(data, grid=FAST_SVM, n_splits=4, inner_folds=2)
    assert result.chance == pytest.approx(1 / 3)
    np.testing.assert_array_equal(result.confusion.sum(axis=1), [4 * 6, 4 * 2, 4 * 2])
    assert result.majority_rate == pytest.approx(24 / 40)


def test_the_forest_identifies_the_classes_and_its_impurity_importance_points_at_the_informative_observable(weights_differ):
    result = ic.evaluate(weights_differ, classifier="forest", n_splits=3, grid={"n_estimators": 30, "max_depth": [None]})
    assert np.mean(result.accuracy) > 0.8
    assert result.importance_kind == "impurity" and result.importance(by="observable").index[0] == "weightraw_mean"
    assert result.best_params == ({"n_estimators": 30, "max_depth": None},) * 3


def test_a_pca_before_the_svm_keeps_importances_on_the_features(weights_differ):
    result = ic.evaluate(weights_differ, pca=0.9, n_splits=2, grid=FAST_SVM)
    assert np.mean(result.accuracy) > 0.8
    assert result.importances.shape == (len(result.features),)
    assert result.importance(by="observable").index[0] == "weightraw_mean"


def test_the_windowed_mlp_averages_the_probabilities_of_its_windows_and_identifies_the_classes():
    data = make_data(classes=CLASSES[:3], n_per_class=12, n_time=5, effects=({"observable": "actraw_mean", "size": 3.0},))
    features = ic.feature_matrix(data)
    model = ic.make_classifier("conv1d", n_time_points=5, window=3, grid={"hidden": 8, "alpha": 1e-3}, seed=1)
    model.fit(features.X, features.y)
    mlp = model.named_steps["clf"]
    channels = features.X.reshape(len(features.y), -1, 5)  # observable x position channels, time the fastest
    mean, std = channels.mean(axis=(0, 2)), channels.std(axis=(0, 2))
    np.testing.assert_allclose(mlp.mean_, mean)
    for i in range(3):
        windows = [((channels[i, :, s:s + 3] - mean[:, None]) / std[:, None]).ravel() for s in range(3)]
        expected = np.mean(mlp.mlp_.predict_proba(np.array(windows)), axis=0)
        np.testing.assert_allclose(model.predict_proba(features.X[i:i + 1])[0], expected, rtol=1e-10)
    result = ic.evaluate(data, classifier="conv1d", n_splits=2, window=3, grid={"hidden": 8, "alpha": 1e-3}, importance="permutation",
                         families="activities")
    assert np.mean(result.accuracy) > 0.8
    assert result.importance_kind == "permutation" and result.importance(by="observable").index[0] == "actraw_mean"
    assert ic.evaluate(data, classifier="conv1d", n_splits=1, grid={"hidden": 8, "max_iter": 50}).importances is None


def test_the_result_has_a_tidy_table_a_summary_and_a_repr(weights_differ):
    result = ic.evaluate(weights_differ, grid=FAST_SVM, n_splits=3)
    table = result.to_frame()
    assert len(table) == 6 and set(table["metric"]) == {"accuracy", "balanced_accuracy"}
    np.testing.assert_array_equal(table.loc[table["metric"] == "accuracy", "value"], result.accuracy)
    assert list(table.columns[:6]) == ["classifier", "split", "metric", "value", "n_train", "n_test"]
    summary = result.summary()
    assert summary["accuracy_mean"] == pytest.approx(np.mean(result.accuracy))
    assert summary["accuracy_std"] == pytest.approx(np.std(result.accuracy, ddof=1))
    assert summary["condition"] == "full"
    assert repr(result).startswith("IdentificationResult(classifier='svm', classes=4, runs=80, features=48, splits=3, accuracy=")
    frame = result.confusion_frame()
    assert list(frame.index) == list(CLASSES) and frame.to_numpy().sum() == 60


def test_bad_classifier_arguments_are_named(weights_differ):
    with pytest.raises(ValueError, match=r"unknown classifier 'knn'; expected one of 'svm', 'forest', 'conv1d'"):
        ic.evaluate(weights_differ, classifier="knn")
    with pytest.raises(ValueError, match=r"unknown hyperparameter 'gamma' for the classifier 'svm'; expected some of \['C'\]"):
        ic.evaluate(weights_differ, grid={"gamma": [1.0]})
    with pytest.raises(ValueError, match=r"grid\['C'\] should hold at least one value, got an empty sequence"):
        ic.make_classifier("svm", grid={"C": []})
    with pytest.raises(ValueError, match=r"pca=3 applies to the classifier 'svm' only, got classifier='forest'"):
        ic.evaluate(weights_differ, classifier="forest", pca=3)
    with pytest.raises(ValueError, match=r"window=3 applies to the classifier 'conv1d' only, got classifier='svm'"):
        ic.make_classifier("svm", window=3)
    with pytest.raises(ValueError, match=r"unknown importance 'gini'"):
        ic.evaluate(weights_differ, importance="gini")
    with pytest.raises(ValueError, match=r"the training runs hold 3 run\(s\) of class '\w+', fewer than inner_folds=5"):
        ic.evaluate(weights_differ[weights_differ["member"] < 4], test_size=0.25)
    with pytest.raises(ValueError, match=r"a single rule class \['sgd'\]; identification needs at least two"):
        ic.evaluate(weights_differ[weights_differ["rule_class"] == "sgd"])
    with pytest.raises(ValueError, match=r"test_size should|test_size must lie in \(0, 1\), got 1.5"):
        ic.evaluate(weights_differ, test_size=1.5)
    with pytest.raises(ValueError, match=r"inner_folds should be at least 2, was 1"):
        ic.evaluate(weights_differ, inner_folds=1)
    with pytest.raises(ValueError, match=r"the data holds no importances|no importances were computed for the classifier 'conv1d'"):
        ic.IdentificationResult(classifier="conv1d", classes=("a", "b"), accuracy=np.ones(1), balanced_accuracy=np.ones(1),
                                confusion=np.eye(2, dtype=int), n_train=np.ones(1), n_test=np.ones(1), features=None, importances=None,
                                importance_kind=None, best_params=({},), n_runs=2).importance()


def test_without_scikit_learn_the_error_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn", None)
    with pytest.raises(ImportError, match=r"pip install 'bioplastic\[identify\]'"):
        ic.make_classifier("svm")


# ---------------------------------------------------------------------------------------------------------------- protocols


def test_partial_trajectories_use_only_the_time_points_asked():
    late = ({"observable": "weightabs_norm", "size": 3.0, "times": [4, 5, 6, 7]},)
    data = make_data(n_per_class=20, n_time=8, effects=late, seed=2)
    results = ic.by_time_points(data, time_points={"first half": 0.5, "last two": [6, 7], "every 4th": slice(None, None, 4)},
                                grid=FAST_SVM, n_splits=5)
    assert list(results) == ["first half", "last two", "every 4th"]
    first = results["first half"]
    assert set(first.features["time_point"]) == {0, 1, 2, 3}
    assert abs(np.mean(first.accuracy) - 0.25) < chance_band(first)
    assert np.mean(results["last two"].accuracy) > 0.85
    assert set(results["every 4th"].features["time_point"]) == {0, 4}
    accuracy = results.accuracy()
    assert accuracy.index.name == "time_points" and accuracy["last two"] == pytest.approx(np.mean(results["last two"].accuracy))
    summary = results.summary()
    assert list(summary["time_points"]) == ["first half", "last two", "every 4th"] and len(results.to_frame()) == 3 * 5 * 2
    assert repr(results).startswith("ProtocolResults(protocol='time_points', accuracy={'first half': ")


def test_observable_families_alone():
    data = make_data(n_per_class=20, n_time=3, effects=({"observable": "gradavgsq_id", "size": 3.0},), seed=3)
    results = ic.by_family(data, families=["weights", "activities", "activity_changes", ("weights", "activity_changes")],
                           grid=FAST_SVM, n_splits=5)
    assert list(results) == ["weights", "activities", "activity_changes", "weights+activity_changes"]
    for family in ("weights", "activities"):
        assert abs(np.mean(results[family].accuracy) - 0.25) < chance_band(results[family])
        assert set(results[family].features["family"]) == {family}
    assert np.mean(results["activity_changes"].accuracy) > 0.9
    assert np.mean(results["weights+activity_changes"].accuracy) > 0.8
    with pytest.raises(ValueError, match=r"unknown family\(s\) \['gradients'\] in families"):
        ic.by_family(data, families=["gradients"])
    with pytest.raises(TypeError, match=r"by_family\(\) got unexpected keyword argument\(s\) \['family'\]"):
        ic.by_family(data, family="weights")


def test_held_out_architecture_fits_only_on_the_training_architectures():
    # in "mlp-c" each class has the weight shift of the next class: only a classifier fitted there could identify its runs
    effects = ({"observable": "weightraw_mean", "size": 3.0, "architecture": "mlp-a"},
               {"observable": "weightraw_mean", "size": 3.0, "architecture": "mlp-b"},
               {"observable": "weightraw_mean", "size": 3.0, "architecture": "mlp-c", "order": [1, 2, 3, 0]})
    data = make_data(n_per_class=20, n_time=3, architectures=(("mlp-a", 2), ("mlp-b", 3), ("mlp-c", 2)), effects=effects, seed=4)
    result = ic.held_out_architecture(data, test="mlp-c", grid=FAST_SVM)
    assert result.details == {"train": "mlp-a+mlp-b", "test": "mlp-c", "condition": "full"}
    assert result.n_splits == 1 and result.n_train[0] == 160 and result.n_test[0] == 80
    assert set(result.features["layer_position"]) == {"early", "deep"}  # the positions all three architectures hold
    assert result.accuracy[0] < 0.1  # the shifted classes are predicted as their neighbours
    shifted = np.roll(np.eye(4, dtype=int), 1, axis=1).astype(bool)  # class k predicted as class k + 1
    assert result.confusion[shifted].sum() > 0.9 * 80
    same = ic.held_out_architecture(data, train="mlp-a", test="mlp-b", grid=FAST_SVM)
    assert same.accuracy[0] > 0.9 and same.n_train[0] == 80
    assert np.mean(ic.evaluate(data[data["architecture"] == "mlp-c"], grid=FAST_SVM, n_splits=3).accuracy) > 0.9
    with pytest.raises(ValueError, match=r"unknown architecture\(s\) \['mlp-z'\] in test; the data holds \['mlp-a', 'mlp-b', 'mlp-c'\]"):
        ic.held_out_architecture(data, test="mlp-z")
    with pytest.raises(ValueError, match=r"architecture\(s\) \['mlp-a'\] are in both train and test"):
        ic.held_out_architecture(data, train=["mlp-a"], test=["mlp-a", "mlp-c"])
    with pytest.raises(ValueError, match=r"the test runs hold rule class\(es\) \['reinforce'\] that no training run holds"):
        ic.held_out_architecture(data[(data["architecture"] != "mlp-a") | (data["rule_class"] != "reinforce")], train="mlp-a", test="mlp-b")
    with pytest.raises(TypeError, match=r"held_out_architecture\(\) got unexpected keyword argument\(s\) \['n_splits'\]"):
        ic.held_out_architecture(data, test="mlp-c", n_splits=3)


def test_conditions_within_and_across():
    signal = ({"observable": "actabs_norm", "size": 3.0},)
    parts = [make_data(n_per_class=16, n_time=4, effects=signal, noise=noise, seed=5 + i, condition=label, keep_fraction=keep)
             for i, (label, keep, noise) in enumerate((("full", 1.0, 0.5), ("keep0.1-noise50", 0.1, 50.0)))]
    data = pd.concat(parts, ignore_index=True)
    within = ic.by_condition(data, grid=FAST_SVM, n_splits=5)
    assert list(within) == ["full", "keep0.1-noise50"]
    assert np.mean(within["full"].accuracy) > 0.9
    noisy = within["keep0.1-noise50"]
    assert abs(np.mean(noisy.accuracy) - 0.25) < chance_band(noisy)
    assert noisy.details == {"condition": "keep0.1-noise50", "keep_fraction": 0.1, "measurement_noise": 50.0}
    summary = within.summary()
    assert list(summary["condition"]) == ["full", "keep0.1-noise50"] and list(summary["keep_fraction"]) == [1.0, 0.1]
    across = ic.by_condition(data, train_condition="full", grid=FAST_SVM, n_splits=5)
    # fitted on the same training runs of the same splits, the within-condition result is reproduced
    np.testing.assert_array_equal(across["full"].accuracy, within["full"].accuracy)
    np.testing.assert_array_equal(across["full"].confusion, within["full"].confusion)
    assert across["keep0.1-noise50"].details["train_condition"] == "full"
    assert abs(np.mean(across["keep0.1-noise50"].accuracy) - 0.25) < chance_band(across["keep0.1-noise50"])
    with pytest.raises(ValueError, match=r"unknown train_condition 'keep0.5'; the data holds \['full', 'keep0.1-noise50'\]"):
        ic.by_condition(data, train_condition="keep0.5")
    with pytest.raises(TypeError, match=r"by_condition\(\) got unexpected keyword argument\(s\) \['condition'\]"):
        ic.by_condition(data, condition="full")
    with pytest.raises(ValueError, match=r"by_condition needs a 'condition' column"):
        ic.by_condition(data.drop(columns="condition"))


def test_observables_tables_of_trained_networks_are_a_data_set():
    import bioplastic as bp

    task = bp.tasks.NonlinearStudentTeacher(n_inputs=5, n_outputs=2, n_train=40, n_test=20, seed=0)
    probe = task.evaluation_sets()["test"][0]
    network = bp.models.mlp((5, 8, 8, 2), hidden="tanh")
    tables, records = [], {}
    for rule_class, rule, rate in (("sgd", bp.Backprop(), 0.3), ("node_perturbation", bp.NodePerturbation(sigma=1e-3), 0.01)):
        history = bp.train(network, rule, task, n_epochs=3, learning_rate=rate, seeds=list(range(8)), batch_size=10, progress=False,
                           callbacks=[bp.Observables(probe, statistics=["weightabs_norm", "actraw_mean", "gradavgraw_id"])])
        table = bp.observables_table(history, metadata={"rule_class": rule_class, "architecture": "mlp-2x8", "keep_fraction": 1.0,
                                                        "measurement_noise": 0.0, "condition": "full"})
        tables.append(table.assign(run=f"{rule_class}:" + table["member"].astype(str)))
        records[rule_class] = history.records
    data = pd.concat(tables, ignore_index=True)
    features = ic.feature_matrix(data)
    assert features.X.shape == (16, 3 * 3 * 4) and features.layers == ("early", "middle", "deep")
    assert features.observables == ("weightabs_norm", "actraw_mean", "gradavgraw_id")
    # three layers: one per position, so each feature is the record of that layer
    for i, run in enumerate(features.runs):
        rule_class, member = run.split(":")
        for j, (observable, position, t) in enumerate(features.table[["observable", "layer_position", "time_point"]].itertuples(index=False)):
            layer = ("early", "middle", "deep").index(position)
            assert features.X[i, j] == records[rule_class][f"observable_{observable}"][int(member), t, layer]
    result = ic.evaluate(data, grid=FAST_SVM, n_splits=3, test_size=0.5)
    assert result.classes == ("sgd", "node_perturbation")
    np.testing.assert_array_equal(result.test_counts, [3 * 4, 3 * 4])


def test_the_package_reexports_the_classification_names():
    import bioplastic.identify as identify

    for name in ic.__all__:
        assert getattr(identify, name) is getattr(ic, name)
        assert name in identify.__all__


def test_classifiers_are_fitted_and_scored_with_single_threaded_blas(weights_differ, monkeypatch):
    threadpoolctl = pytest.importorskip("threadpoolctl")
    from bioplastic._threads import current_blas_threads

    seen = []
    real = ic.make_classifier

    def recording(*args, **kwargs):
        estimator = real(*args, **kwargs)
        fit, predict = estimator.fit, estimator.predict

        def recorded_fit(X, y):
            seen.append(("fit", current_blas_threads()))
            return fit(X, y)

        def recorded_predict(X):
            seen.append(("predict", current_blas_threads()))
            return predict(X)

        estimator.fit, estimator.predict = recorded_fit, recorded_predict
        return estimator

    monkeypatch.setattr(ic, "make_classifier", recording)
    with threadpoolctl.threadpool_limits(limits=2, user_api="blas"):
        if current_blas_threads() != 2:
            pytest.skip("this BLAS cannot run two threads")
        ic.evaluate(weights_differ, grid=FAST_SVM, n_splits=2)
        ic.held_out_architecture(make_data(architectures=(("a", 2), ("b", 3)), n_per_class=4, n_time=2), test="b", grid=FAST_SVM)
        assert current_blas_threads() == 2  # restored after
    assert seen == [("fit", 1), ("predict", 1)] * 3
