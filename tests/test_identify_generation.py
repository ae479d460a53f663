"""Rule-identification data sets: the [observables] configuration section, labelled recorders, the design, generation and its resumption."""

import copy
import itertools

import numpy as np
import pandas as pd
import pytest

import bioplastic as bp
import bioplastic.training
from bioplastic.config import build_experiment, condition_label, dump_config, load_config, run_config, validate_config
from bioplastic.identify.generation import (
    QUICK_LEARNING_RATES,
    RULE_CLASSES,
    IdentificationDesign,
    architecture_label,
    generate_dataset,
    load_dataset,
    quick_design,
)
from bioplastic.sweeps import Sweep, result_path
from bioplastic.training.observables import DEFAULT_OBSERVABLES, OBSERVABLES, observable_labels, record_name

TASK = {"name": "student_teacher", "n_inputs": 5, "n_hidden": 4, "n_outputs": 2, "n_train": 40, "n_test": 12, "seed": 1}
CONFIG = {"network": {"sizes": [5, 6, 2], "hidden": "tanh"}, "task": TASK, "rule": {"name": "backprop"},
          "training": {"n_epochs": 2, "learning_rate": [0.05, 0.1], "seeds": [3, 4], "batch_size": 10}}
TWO_CONDITIONS = [{"keep_fraction": 1.0, "measurement_noise": 0.0}, {"keep_fraction": 0.5, "measurement_noise": 0.1}]

#: the columns of a data set: observables_table's, then the design's metadata
COLUMNS = ["member", "seed", "learning_rate", "diverged_epoch", "rule", "sizes", "depth", "width", "batch_size", "epoch", "time_point",
           "layer", "layer_position", "n_pre", "n_post", "observable", "measure", "function", "statistic", "value", "run", "rule_class",
           "architecture", "keep_fraction", "measurement_noise", "condition"]


def with_observables(**section):
    return {**copy.deepcopy(CONFIG), "observables": section}


def tiny_design(**overrides):
    """Two rule classes, one architecture, two seeds, one member per task: 4 tasks of a few milliseconds."""
    settings = dict(rule_classes=["sgd", "node_perturbation"], architectures=[(4,)], batch_sizes=[10],
                    learning_rates={"sgd": [0.05], "node_perturbation": [0.02]}, seeds=[0, 1], task=TASK, n_time_points=3,
                    observables={"n_probe": 6}, conditions=TWO_CONDITIONS, max_members=1)
    settings.update(overrides)
    return IdentificationDesign(**settings)


def assert_same_table(a, b):
    pd.testing.assert_frame_equal(a, b, check_exact=True)


# ----------------------------------------------------------------------------- the [observables] section
@pytest.mark.parametrize("section, message", [
    ({"n_probes": 10}, r"configuration: unknown key\(s\) \['n_probes'\] in \[observables\]; expected some of \['conditions', "
                       r"'keep_fraction', 'label', 'measurement_noise', 'n_probe', 'seed', 'statistics'\]"),
    ({"n_probe": 0}, r"configuration: \[observables\] n_probe should be an integer >= 1 \(the number of test stimuli in the probe set\), got 0"),
    ({"n_probe": 2.5}, r"\[observables\] n_probe should be an integer >= 1 .*, got 2\.5"),
    ({"statistics": "some"}, r"\[observables\] statistics: statistics should be 'default', 'all' or a sequence of observable names, "
                             r"got 'some'"),
    ({"statistics": ["weight_mean"]}, r"\[observables\] statistics: unknown observable name\(s\) \['weight_mean'\]"),
    ({"seed": -1}, r"\[observables\] seed should be an integer in \[0, 2\*\*63 - 1\] \(seeds are stored as int64\), got -1"),
    ({"keep_fraction": 0}, r"configuration: \[observables\] keep_fraction should be a number in \(0, 1\], got 0"),
    ({"measurement_noise": -0.1}, r"\[observables\] measurement_noise must be >= 0, got -0\.1"),
    ({"label": "a b"}, r"\[observables\] label should be None or a non-empty string of letters, digits and .*, got 'a b'"),
    ({"conditions": []}, r"\[observables\] conditions should be a non-empty list of tables such as \{keep_fraction = 0\.1, "
                         r"measurement_noise = 0\.1\}, got \[\]"),
    ({"conditions": [{"keep_fraction": 0.5}], "measurement_noise": 0.1},
     r"\[observables\] gives both 'conditions' and \['measurement_noise'\]"),
    ({"conditions": [{"keep_fraction": 0.5}, 0.1]}, r"\[observables\] conditions\[1\] should be a table of \['keep_fraction', 'label', "
                                                    r"'measurement_noise'\], got 0\.1"),
    ({"conditions": [{"noise": 0.1}]}, r"unknown key\(s\) \['noise'\] in \[observables\] conditions\[0\]; expected some of "
                                       r"\['keep_fraction', 'label', 'measurement_noise'\]"),
    ({"conditions": [{}, {"keep_fraction": 0.5, "measurement_noise": -1.0}]},
     r"\[observables\] conditions\[1\] measurement_noise must be >= 0, got -1\.0"),
    ({"conditions": [{"keep_fraction": 1.5}]}, r"\[observables\] conditions\[0\] keep_fraction should be a number in \(0, 1\], got 1\.5"),
    ({"conditions": [{}, {"keep_fraction": 1.0, "measurement_noise": 0.0}]},
     r"\[observables\] conditions repeat the label 'full'; give each condition once, or a label of its own"),
])
def test_a_bad_observables_section_is_refused_naming_the_key_and_value(section, message):
    with pytest.raises(ValueError, match=message):
        validate_config(with_observables(**section))


def test_an_observables_section_with_conditions_round_trips_through_a_configuration_file(tmp_path):
    config = with_observables(n_probe=4, statistics=["actraw_norm", "gradavgsq_id"], seed=3,
                              conditions=[{"keep_fraction": 1.0}, {"keep_fraction": 0.5, "measurement_noise": 0.1, "label": "half"}])
    path = tmp_path / "run.toml"
    path.write_text(dump_config(config))
    assert load_config(path) == config
    history, _ = run_config(path, out_dir=tmp_path / "results", progress=False)
    assert observable_labels(history) == ["full", "half"]
    assert sorted(k for k in history.records if k.startswith("observable_")) == [
        "observable_actraw_norm@full", "observable_actraw_norm@half", "observable_gradavgsq_id@full", "observable_gradavgsq_id@half"]


def test_a_sweep_refuses_a_bad_observables_section_before_any_work():
    base = with_observables(keep_fraction=0.0)
    del base["training"]["learning_rate"], base["training"]["batch_size"]
    with pytest.raises(ValueError, match=r"sweep point training\.batch_size=10: \[observables\] keep_fraction should be a number in \(0, 1\]"):
        Sweep(base=base, grid={"training.batch_size": [10], "training.learning_rate": [0.1]})


def test_a_probe_set_larger_than_the_test_set_is_refused_when_built():
    with pytest.raises(ValueError, match=r"\[observables\] n_probe = 13 exceeds the 12 stimuli of the test set of task "
                                         r"'nonlinear_student_teacher'; give n_probe <= 12"):
        build_experiment(with_observables(n_probe=13))


def test_condition_labels_are_full_or_keep_and_noise_in_shortest_form():
    assert condition_label(1.0, 0.0) == condition_label() == "full"
    assert condition_label(0.1, 0.1) == "keep0.1-noise0.1"
    assert condition_label(1, 0.05) == "keep1-noise0.05"
    assert condition_label(0.25, 0) == "keep0.25-noise0"


def _direct_run(recorders):
    network, rule, task, homeostasis, kwargs = build_experiment(copy.deepcopy(CONFIG))
    return bp.train(network, rule, task, progress=False, callbacks=recorders, **kwargs)


def test_a_configured_run_records_what_observables_used_directly_in_train_record():
    task = bp.config.get_task(**TASK)
    probe = task.evaluation_sets()["test"][0][:10]
    config = with_observables(n_probe=10, statistics="all", keep_fraction=0.5, measurement_noise=0.1, seed=2)
    network, rule, learning_task, homeostasis, kwargs = build_experiment(config)
    (recorder,) = kwargs["callbacks"]
    assert recorder.label is None and recorder.probe_x.shape == (10, 5)
    configured = bp.train(network, rule, learning_task, progress=False, **kwargs)
    direct = _direct_run([bp.Observables(probe, statistics="all", keep_fraction=0.5, measurement_noise=0.1, seed=2)])
    names = [record_name(name) for name in OBSERVABLES]
    assert sorted(k for k in configured.records if k.startswith("observable_")) == sorted(names)
    for name in names:
        np.testing.assert_array_equal(configured.records[name], direct.records[name], err_msg=name)
    assert configured.config["callbacks"] == direct.config["callbacks"]
    assert "label" not in configured.config["callbacks"][0]  # an unlabelled recorder is described as before


def test_several_conditions_are_recorded_in_one_run_each_as_its_recorder_alone():
    config = with_observables(n_probe=8, seed=5, conditions=[{}, {"keep_fraction": 0.5, "measurement_noise": 0.1},
                                                             {"keep_fraction": 0.2, "label": "sparse"}])
    network, rule, task, homeostasis, kwargs = build_experiment(config)
    assert [(r.keep_fraction, r.measurement_noise, r.label) for r in kwargs["callbacks"]] == [
        (1.0, 0.0, "full"), (0.5, 0.1, "keep0.5-noise0.1"), (0.2, 0.0, "sparse")]
    history = bp.train(network, rule, task, progress=False, **kwargs)
    assert observable_labels(history) == ["full", "keep0.5-noise0.1", "sparse"]
    assert len([k for k in history.records if k.startswith("observable_")]) == 3 * len(DEFAULT_OBSERVABLES)
    probe = task.evaluation_sets()["test"][0][:8]
    for recorder in kwargs["callbacks"]:
        alone = _direct_run([bp.Observables(probe, keep_fraction=recorder.keep_fraction, measurement_noise=recorder.measurement_noise,
                                            seed=5)])
        for name in DEFAULT_OBSERVABLES:
            np.testing.assert_array_equal(history.records[record_name(name, recorder.label)], alone.records[record_name(name)])
        assert_same_table(bp.observables_table(history, label=recorder.label), bp.observables_table(alone))
    with pytest.raises(ValueError, match=r"the history holds no observables of the recorder labelled None; it holds those of the "
                                         r"label\(s\) \['full', 'keep0\.5-noise0\.1', 'sparse'\] \(observables_table\(history, label=\.\.\.\)\)"):
        bp.observables_table(history)


# ----------------------------------------------------------------------------- labelled recorders
def test_labels_name_the_records_and_the_description():
    probe = np.zeros((2, 5))
    assert record_name("gradavgsq_id", "keep0.1-noise0.1") == "observable_gradavgsq_id@keep0.1-noise0.1"
    assert record_name("gradavgsq_id") == "observable_gradavgsq_id"
    labelled = bp.Observables(probe, keep_fraction=0.5, label="half")
    assert labelled.describe()["label"] == "half"
    assert repr(labelled).endswith("seed=0, label='half')")
    assert "label" not in bp.Observables(probe).describe() and "label" not in repr(bp.Observables(probe))
    for bad in ("", "-x", "a@b", "a b", 3):
        with pytest.raises(ValueError, match=r"label should be None or a non-empty string of letters, digits and '\.', '_', '\+', '-'"):
            bp.Observables(probe, label=bad)
    with pytest.raises(ValueError, match=r"unknown observable 'weight_mean'"):
        record_name("weight_mean", "x")


def test_two_recorders_with_one_label_collide_by_name():
    probe = bp.config.get_task(**TASK).x_test[:4]
    with pytest.raises(ValueError, match=r"records 'observable_weightabs_mean@same', which the run already records"):
        _direct_run([bp.Observables(probe, label="same"), bp.Observables(probe, keep_fraction=0.5, label="same")])
    history = _direct_run([bp.Observables(probe), bp.Observables(probe, keep_fraction=0.5, label="half")])
    assert observable_labels(history) == [None, "half"]
    assert observable_labels(_direct_run(None)) == []


# ----------------------------------------------------------------------------- the design
def test_rule_classes_build_their_rule_optimiser_and_decorrelation():
    design = quick_design()
    assert list(design.sweeps) == list(RULE_CLASSES) == ["sgd", "adam", "feedback_alignment", "information_alignment", "node_perturbation",
                                                         "danp", "reinforce", "weight_perturbation"]
    expected = {"sgd": (bp.plasticity.Backprop, bp.Momentum), "adam": (bp.plasticity.Backprop, bp.Adam),
                "feedback_alignment": (bp.plasticity.FeedbackAlignment, bp.Momentum),
                "information_alignment": (bp.plasticity.InformationAlignment, bp.Momentum),
                "node_perturbation": (bp.plasticity.NodePerturbation, bp.SGD),
                "danp": (bp.plasticity.ActivityNodePerturbation, bp.Adam), "reinforce": (bp.plasticity.Reinforce, bp.SGD),
                "weight_perturbation": (bp.plasticity.WeightPerturbation, bp.SGD)}
    from bioplastic.optimisers import get_optimiser

    for name, sweep in design.sweeps.items():
        task = sweep.tasks[0]
        network, rule, _, _, kwargs = build_experiment(copy.deepcopy(task.config))
        rule_type, optimiser_type = expected[name]
        assert type(rule) is rule_type, name
        optimiser = get_optimiser(kwargs.get("optimiser"))
        assert type(optimiser) is optimiser_type, name
        if optimiser_type is bp.Momentum:
            assert optimiser.momentum == 0.9
        assert (network.decorrelation is not None) == (name == "danp"), name
        assert task.learning_rates == list(QUICK_LEARNING_RATES[name])
        assert [(r.keep_fraction, r.measurement_noise, r.label) for r in kwargs["callbacks"]] == [(1.0, 0.0, "full"),
                                                                                               (0.5, 0.1, "keep0.5-noise0.1")]
        assert kwargs["callbacks"][0].probe_x.shape == (100, 10)


def test_the_quick_design_has_its_runs_in_ensembles_of_architecture_rule_and_batch_size():
    design = quick_design()
    assert design.n_runs == 8 * 2 * 2 * 2 * 2 == 128
    assert len(design.tasks) == 8 * 2 * 2  # one ensemble (2 learning rates x 2 seeds) per class, architecture and batch size
    points = {(name, design.architecture_of(t.config["network"]["sizes"]), t.config["training"]["batch_size"])
              for name, sweep in design.sweeps.items() for t in sweep}
    assert points == set(itertools.product(RULE_CLASSES, ["mlp-1x16", "mlp-2x32"], [10, 20]))
    assert all(t.n_members == 4 and t.config["training"]["n_epochs"] == 20 for t in design.tasks)
    one_at_a_time = quick_design(max_members=1)
    assert len(one_at_a_time.tasks) == 128 and one_at_a_time.n_runs == 128
    assert len(quick_design(rule_classes=["sgd", "danp"]).tasks) == 8


def test_architecture_labels():
    assert architecture_label((64, 64)) == "mlp-2x64"
    assert architecture_label([16, 32]) == "mlp-16-32"
    assert architecture_label(()) == "mlp-0"
    design = tiny_design(architectures={"narrow": (3,), "deep": (4, 4)})
    assert design.architecture_of([5, 4, 4, 2]) == "deep"
    with pytest.raises(ValueError, match=r"sizes \[5, 7, 2\] are no architecture of the design"):
        design.architecture_of([5, 7, 2])


@pytest.mark.parametrize("overrides, error, message", [
    ({"rule_classes": ["sgd", "hebb"]}, ValueError, r"unknown rule class\(es\) \['hebb'\]; expected some of \['sgd', 'adam'"),
    ({"rule_classes": ["sgd", "sgd"]}, ValueError, r"rule_classes lists \['sgd'\] more than once"),
    ({"rule_classes": []}, ValueError, r"rule_classes is empty"),
    ({"rule_classes": "sgd"}, TypeError, r"rule_classes should be a sequence of names"),
    ({"rule_classes": {"mine": {"rule": {"name": "backprop"}, "training": {"batch_size": 5}}}, "learning_rates": [0.1]}, ValueError,
     r"rule class 'mine' sets \[training\] \['batch_size'\], which the design sets"),
    ({"rule_classes": {"mine": {"training": {}}}}, ValueError, r"rule class 'mine': a fragment holds the sections"),
    ({"rule_classes": {"mine": {"rule": {"name": "backprop"}}}, "learning_rates": None}, ValueError,
     r"rule class\(es\) \['mine'\] have no default learning rates"),
    ({"rule_classes": {"mine": {"rule": {"name": "backprop", "sigmaa": 1}}}, "learning_rates": [0.1]}, ValueError,
     r"rule class 'mine': sweep point .*unknown key\(s\) \['sigmaa'\] in \[rule\] for rule 'backprop'"),
    ({"learning_rates": {"sgd": [0.1]}}, ValueError, r"missing \['node_perturbation'\], not in the design \[\]"),
    ({"learning_rates": {"sgd": [0.1], "node_perturbation": [-1.0]}}, ValueError, r"learning_rates\['node_perturbation'\] must be > 0"),
    ({"architectures": [(4,), [4]]}, ValueError, r"architecture label 'mlp-1x4' is given twice"),
    ({"architectures": []}, ValueError, r"architectures is empty"),
    ({"architectures": [(4, 0)]}, ValueError, r"architecture \(4, 0\) width should be at least 1, was 0"),
    ({"batch_sizes": 10}, ValueError, r"batch_sizes should be a non-empty sequence of integers, got 10"),
    ({"batch_sizes": [10, 0]}, ValueError, r"batch_sizes\[1\] should be at least 1, was 0"),
    ({"n_time_points": 3, "n_epochs": 5}, ValueError, r"n_epochs = 5 should be a multiple of n_time_points - 1 = 2"),
    ({"n_time_points": 1}, ValueError, r"n_time_points should be at least 2, was 1"),
    ({"network": {"sizes": [5, 2]}}, ValueError, r"network sets \['sizes'\], which the design sets itself"),
    ({"observables": {"keep_fraction": 0.5}}, ValueError, r"observables has unknown key\(s\) \['keep_fraction'\]"),
    ({"conditions": [{"keep_fraction": 0.5, "noise": 1}]}, ValueError, r"conditions\[0\] has unknown key\(s\) \['noise'\]"),
    ({"conditions": [{"keep_fraction": 0.0}]}, ValueError, r"rule class 'sgd': sweep point .*\[observables\] conditions\[0\] keep_fraction "
                                                            r"should be a number in \(0, 1\], got 0\.0"),
    ({"observables": {"n_probe": 13}}, None, None),  # too large a probe set is found when a task is built, not here
    ({"task": {"n_inputs": 5}}, ValueError, r"task should be a \[task\] section with a 'name'"),
])
def test_a_bad_design_is_refused_before_any_work(overrides, error, message):
    if error is None:
        tiny_design(**overrides)
        return
    with pytest.raises(error, match=message):
        tiny_design(**overrides)


# ----------------------------------------------------------------------------- generation
@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The tiny design generated once: ``(design, table, reports)``."""
    design = tiny_design()
    table, reports = generate_dataset(design, tmp_path_factory.mktemp("reference"), progress=False, return_reports=True)
    return design, table, reports


def test_the_data_set_has_the_schema_columns_and_one_row_per_run_condition_time_point_layer_and_observable(reference):
    design, table, reports = reference
    assert list(table.columns) == COLUMNS
    assert len(table) == design.n_runs * 2 * 3 * 2 * 24  # runs, conditions, time points, layers, observables
    assert table.run.nunique() == design.n_runs == 4
    assert not table.duplicated(["run", "condition", "time_point", "layer", "observable"]).any()
    assert set(table.rule_class) == {"sgd", "node_perturbation"} and set(table.architecture) == {"mlp-1x4"}
    assert set(table.condition) == {"full", "keep0.5-noise0.1"}
    per_condition = table.groupby("condition")[["keep_fraction", "measurement_noise"]].first()
    assert per_condition.loc["full"].tolist() == [1.0, 0.0] and per_condition.loc["keep0.5-noise0.1"].tolist() == [0.5, 0.1]
    assert table.groupby("run").rule_class.nunique().eq(1).all()
    assert set(table.measure) == {"weight", "act", "gradavg"}
    # every row is the stored run's record under its condition's label
    for name, report in reports.items():
        assert [t.name for t in report.done] == [t.name for t in design.sweeps[name].tasks] and not report.skipped
        for task in report.done:
            history = bp.History.load(result_path(report.out_dir, task))
            assert history.config["rule"]["name"] == {"sgd": "backprop", "node_perturbation": "node_perturbation"}[name]
            for label in ("full", "keep0.5-noise0.1"):
                rows = table[(table.run == f"{task.hash[:12]}:0") & (table.condition == label) & (table.observable == "actabs_median")]
                expected = history.records[record_name("actabs_median", label)][0]  # (time points, layers)
                np.testing.assert_array_equal(rows.sort_values(["time_point", "layer"]).value.to_numpy(), expected.reshape(-1))
                assert (rows.rule_class == name).all() and (rows.seed == task.seeds[0]).all()


def test_time_points_spread_over_a_longer_run_keep_every_mth_record(tmp_path):
    design = tiny_design(rule_classes=["sgd"], learning_rates=[0.05], seeds=[0], n_epochs=4, conditions=[{}])
    assert design.record_every == 2
    table = generate_dataset(design, tmp_path, progress=False)
    assert sorted(set(zip(table.epoch, table.time_point, strict=True))) == [(0, 0), (2, 1), (4, 2)]
    (task,) = design.tasks
    history = bp.History.load(result_path(tmp_path, task))
    assert list(history.epochs) == [0, 1, 2, 3, 4]
    rows = table[table.observable == "weightraw_norm"].sort_values(["time_point", "layer"])
    np.testing.assert_array_equal(rows.value.to_numpy(), history.records[record_name("weightraw_norm", "full")][0, ::2].reshape(-1))


def test_an_interrupted_generation_resumes_running_only_the_missing_tasks(reference, tmp_path, monkeypatch):
    design, expected, _ = reference
    real = bioplastic.training.train

    def failing(network, rule, task, **kwargs):
        if rule.name == "node_perturbation":
            raise RuntimeError("interrupted")
        return real(network, rule, task, **kwargs)

    monkeypatch.setattr(bioplastic.training, "train", failing)
    with pytest.raises(RuntimeError, match=r"2 of 4 task\(s\) failed; the others are stored in .* and a rerun computes only the missing "
                                           r"ones:\n.*RuntimeError: interrupted"):
        generate_dataset(design, tmp_path, progress=False, retries=0)
    with pytest.raises(ValueError, match=r"task-\w+ of rule class 'node_perturbation' .* has no complete result in .* \(missing\); "
                                         r"run generate_dataset\(design, out_dir\) to compute it"):
        load_dataset(design, tmp_path)
    monkeypatch.setattr(bioplastic.training, "train", real)
    table, reports = generate_dataset(design, tmp_path, progress=False, return_reports=True)
    assert (len(reports["sgd"].done), len(reports["sgd"].skipped)) == (0, 2)
    assert (len(reports["node_perturbation"].done), len(reports["node_perturbation"].skipped)) == (2, 0)
    assert_same_table(table, expected)
    # a lost result file: only its task runs again
    lost = design.sweeps["sgd"].tasks[1]
    result_path(tmp_path, lost).with_suffix(".npz").unlink()
    table, reports = generate_dataset(design, tmp_path, progress=False, return_reports=True)
    assert reports["sgd"].done == [lost] and reports["sgd"].replaced == [lost] and len(reports["node_perturbation"].skipped) == 2
    assert_same_table(table, expected)


def test_a_dask_worker_gives_the_serial_data_set(reference, tmp_path, monkeypatch):
    pytest.importorskip("distributed")
    design, expected, _ = reference

    def not_here(*args, **kwargs):
        raise AssertionError("a task ran in the calling process, not on a worker")

    monkeypatch.setattr(bioplastic.training, "train", not_here)
    assert_same_table(generate_dataset(design, tmp_path, workers=1, progress=False), expected)


def test_bad_generation_arguments_are_refused_before_any_work(tmp_path):
    design = tiny_design()
    with pytest.raises(TypeError, match=r"design should be an IdentificationDesign \(e\.g\. quick_design\(\)\), got 3"):
        generate_dataset(3, tmp_path)
    with pytest.raises(ValueError, match=r"give workers \(a local cluster, got 2\) or scheduler \(an existing one, got 'tcp://x:1'\), not both"):
        generate_dataset(design, tmp_path, workers=2, scheduler="tcp://x:1")
    with pytest.raises(ValueError, match=r"workers=1000 exceeds the \d+ CPU\(s\) this process may use"):
        generate_dataset(design, tmp_path, workers=1000)
    assert not list(tmp_path.iterdir())
