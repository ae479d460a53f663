"""Sweeps: the grid and its tasks, the results store, serial and Dask execution, faults and resumption."""

import copy
import hashlib
import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time

import numpy as np
import pandas as pd
import pytest

import bioplastic
import bioplastic._threads
import bioplastic.training
from bioplastic.config import build_experiment
from bioplastic.sweeps import Sweep, canonical_json, config_hash, map_calls, merge_results, result_path, run_sweep, stored_result

TASK = {"name": "student_teacher", "n_inputs": 6, "n_hidden": 5, "n_outputs": 3, "n_train": 60, "n_test": 20}
BASE = {"network": {"hidden": "tanh"}, "task": TASK, "rule": {"name": "node_perturbation"}, "training": {"n_epochs": 2, "batch_size": 10}}
GRID = {"rule.sigma": [1e-3, 1e-2], "network.sizes": [[6, 5, 3], [6, 4, 3]], "training.learning_rate": [0.01, 0.03],
        "training.seeds": [0, 1]}
#: tasks of about 0.2 s: long enough that a worker killed after the first result is busy with another
SLOW_BASE = {**BASE, "task": {**TASK, "n_train": 2000}, "training": {"n_epochs": 4, "batch_size": 10}}


def tiny_sweep(**grid):
    return Sweep(base=BASE, grid={**GRID, **grid}, max_members=2)


def assert_same_table(a, b):
    pd.testing.assert_frame_equal(a, b, check_exact=True)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The tiny sweep run serially: ``(sweep, report)``."""
    sweep = tiny_sweep()
    return sweep, run_sweep(sweep, tmp_path_factory.mktemp("reference"), progress=False)


@pytest.fixture(scope="module")
def slow_reference(tmp_path_factory):
    sweep = Sweep(base=SLOW_BASE, grid=GRID, max_members=2)
    return sweep, run_sweep(sweep, tmp_path_factory.mktemp("slow_reference"), progress=False)


@pytest.fixture(scope="module")
def cluster():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        yield cluster


@pytest.fixture
def count_train(monkeypatch):
    """Count this process's calls of ``bioplastic.training.train`` (the one a serial sweep calls)."""
    calls = []
    real = bioplastic.training.train

    def counting(*args, **kwargs):
        calls.append(kwargs.get("learning_rate"))
        return real(*args, **kwargs)

    monkeypatch.setattr(bioplastic.training, "train", counting)
    return calls


def members(task):
    point = (task.config["rule"]["sigma"], tuple(task.config["network"]["sizes"]))
    return [(*point, lr, seed) for lr in task.learning_rates for seed in task.seeds]


# ----------------------------------------------------------------------------- the grid and its tasks
def test_members_that_differ_in_learning_rate_or_seed_share_a_task_cut_at_max_members():
    for max_members, n_tasks in ((2, 8), (4, 4), (3, 8), (100, 4)):
        sweep = Sweep(base=BASE, grid=GRID, max_members=max_members)
        assert len(sweep) == n_tasks
        assert sweep.n_points == 16
        everything = [m for task in sweep for m in members(task)]
        product = [(s, tuple(z), lr, seed) for s, z, lr, seed in itertools.product(*GRID.values())]
        assert sorted(everything) == sorted(product)  # every point once
        for task in sweep:
            assert task.n_members <= max_members
            assert task.grid_values == {"rule.sigma": task.config["rule"]["sigma"], "network.sizes": task.config["network"]["sizes"]}
            others = copy.deepcopy(task.config)
            del others["training"]["learning_rate"], others["training"]["seeds"]
            assert others == {**BASE, "rule": {"name": "node_perturbation", "sigma": task.config["rule"]["sigma"]},
                              "network": {"hidden": "tanh", "sizes": task.config["network"]["sizes"]}}
    assert [task.learning_rates for task in Sweep(base=BASE, grid=GRID, max_members=2)][:2] == [[0.01], [0.03]]
    assert [task.seeds for task in Sweep(base=BASE, grid=GRID, max_members=2)][:2] == [[0, 1], [0, 1]]
    # more seeds than max_members: one learning rate per task, the seeds in blocks of even size
    sweep = Sweep(base=BASE, grid={"network.sizes": [[6, 5, 3]], "training.learning_rate": [0.01, 0.03], "training.seeds": [4, 0, 3, 1, 2]},
                  max_members=2)
    assert [(task.learning_rates, task.seeds) for task in sweep] == [([0.01], [0, 1]), ([0.01], [2, 3]), ([0.01], [4]),
                                                                     ([0.03], [0, 1]), ([0.03], [2, 3]), ([0.03], [4])]
    assert all(task.n_members <= 2 for task in sweep)
    # learning rates and seeds of the base configuration are members too (seed 0 by default)
    base = {**BASE, "training": {**BASE["training"], "learning_rate": [0.03, 0.01]}}
    sweep = Sweep(base=base, grid={"network.sizes": [[6, 5, 3], [6, 4, 3]]})
    assert [(task.learning_rates, task.seeds) for task in sweep] == [([0.01, 0.03], [0])] * 2


def test_seed_blocks_are_even_and_cover_the_seeds_once():
    sweep = Sweep(base=BASE, grid={"network.sizes": [[6, 5, 3]], "training.learning_rate": [0.01], "training.seeds": [4, 0, 3, 1, 2]},
                  max_members=2)
    assert [task.seeds for task in sweep] == [[0, 1], [2, 3], [4]]
    sweep = Sweep(base=BASE, grid={"network.sizes": [[6, 5, 3]], "training.learning_rate": [0.01, 0.02, 0.03], "training.seeds": [0, 1]},
                  max_members=5)
    assert [(task.learning_rates, task.seeds) for task in sweep] == [([0.01, 0.02], [0, 1]), ([0.03], [0, 1])]


def test_a_task_hash_is_the_sha256_of_its_canonical_configuration_whatever_the_order():
    sweep = tiny_sweep()
    for task in sweep:
        text = json.dumps(task.config, sort_keys=True, separators=(",", ":"))
        assert canonical_json(task.config) == text
        assert task.hash == config_hash(task.config) == hashlib.sha256(text.encode()).hexdigest()
        assert task.name == f"task-{task.hash[:16]}"
    assert len({task.hash for task in sweep}) == len(sweep)
    # dict order of base and grid, and the order of the grid's values, do not change the tasks
    reordered_base = {name: dict(reversed(list(table.items()))) for name, table in reversed(list(BASE.items()))}
    reordered_grid = {key: list(reversed(values)) for key, values in reversed(list(GRID.items()))}
    other = Sweep(base=reordered_base, grid=reordered_grid, max_members=2)
    assert sorted(task.hash for task in other) == sorted(task.hash for task in sweep)
    assert tiny_sweep(**{"rule.sigma": [1e-3, 2e-2]}).tasks[-1].hash not in {task.hash for task in sweep}


def test_hashes_are_the_same_in_another_process_and_a_serial_sweep_imports_no_dask(tmp_path):
    script = textwrap.dedent(f"""
        import json, sys
        from bioplastic.sweeps import Sweep, run_sweep
        sweep = Sweep(base={BASE!r}, grid={GRID!r}, max_members=2)
        run_sweep(Sweep(base={BASE!r}, grid={{"network.sizes": [[6, 5, 3]], "training.learning_rate": [0.01]}}), sys.argv[1],
                  progress=False)
        print(json.dumps({{"hashes": [t.hash for t in sweep], "dask": "dask" in sys.modules or "distributed" in sys.modules}}))
    """)
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run([sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True, check=True, env=env).stdout
    result = json.loads(out.strip().splitlines()[-1])
    assert result["hashes"] == [task.hash for task in tiny_sweep()]
    assert result["dask"] is False


def test_a_sweep_file_reads_the_grid_inline_as_a_table_or_with_dotted_keys(tmp_path):
    head = textwrap.dedent("""
        [network]
        hidden = "tanh"
        [task]
        name = "student_teacher"
        n_inputs = 6
        n_hidden = 5
        n_outputs = 3
        n_train = 60
        n_test = 20
        [rule]
        name = "node_perturbation"
        [training]
        n_epochs = 2
        batch_size = 10
        [output]
        dir = "somewhere"
    """)
    forms = {
        "inline": '[sweep]\nmax_members = 2\ngrid = {"rule.sigma" = [1e-3, 1e-2], "network.sizes" = [[6, 5, 3], [6, 4, 3]], '
                  '"training.learning_rate" = [0.01, 0.03], "training.seeds" = [0, 1]}\n',
        "table": '[sweep]\nmax_members = 2\n[sweep.grid]\n"rule.sigma" = [1e-3, 1e-2]\n"network.sizes" = [[6, 5, 3], [6, 4, 3]]\n'
                 '"training.learning_rate" = [0.01, 0.03]\n"training.seeds" = [0, 1]\n',
        "dotted": '[sweep]\nmax_members = 2\n[sweep.grid]\nrule.sigma = [1e-3, 1e-2]\nnetwork.sizes = [[6, 5, 3], [6, 4, 3]]\n'
                  'training.learning_rate = [0.01, 0.03]\ntraining.seeds = [0, 1]\n',
    }
    expected = sorted(task.hash for task in tiny_sweep())
    for name, text in forms.items():
        path = tmp_path / f"{name}.toml"
        path.write_text(head + text)
        sweep = Sweep.from_file(path)
        assert sorted(task.hash for task in sweep) == expected, name  # [output] is not part of the tasks
        assert sweep.output_dir == "somewhere"
    path = tmp_path / "bad.toml"
    path.write_text(head + '[sweep]\ngird = {"rule.sigma" = [1e-3]}\n')
    with pytest.raises(ValueError, match=r"bad\.toml: unknown key\(s\) \['gird'\] in \[sweep\]; expected some of \['grid', 'max_members'\]"):
        Sweep.from_file(path)
    path.write_text(head)
    with pytest.raises(ValueError, match=r"has no \[sweep\] section"):
        Sweep.from_file(path)


@pytest.mark.parametrize("grid, base, message", [
    ({"rule.sigmaa": [1e-3]}, None, r"sweep point rule\.sigmaa=0\.001: unknown key\(s\) \['sigmaa'\] in \[rule\] for rule 'node_perturbation'"),
    ({"rules.sigma": [1e-3]}, None, r"sweep point rules\.sigma=0\.001: unknown section\(s\) \['rules'\]"),
    ({}, None, r"the sweep's grid is empty"),
    ({"rule.sigma": []}, None, r"grid\['rule\.sigma'\] is empty; give at least one value"),
    ({"rule.sigma": 1e-3}, None, r"grid\['rule\.sigma'\] should be a list of the values 'rule\.sigma' takes, got 0\.001"),
    ({"sigma": [1e-3]}, None, r"grid key 'sigma' should name a configuration key as 'section\.key'"),
    ({"training.n_epochs": [1, 3]}, None,
     r"'training\.n_epochs' is set both in the base configuration \(\[training\] n_epochs = 2\) and in the grid \(\[1, 3\]\)"),
    ({"training.optimiser": [{"name": "adam"}], "training.optimiser.momentum": [0.9]}, None,
     r"grid keys 'training\.optimiser' and 'training\.optimiser\.momentum' overlap"),
    ({"training.optimiser.momentum": [0.9]}, {"training.optimiser": "adam"},
     r"grid key 'training\.optimiser\.momentum' sets a key inside \[training\] optimiser, which the base configuration sets to 'adam'"),
    ({"rule.sigma": [1e-3, 0.001]}, None, r"grid\['rule\.sigma'\] lists the value 0\.001 twice"),
    ({"training.learning_rate": [1, 1.0]}, None, r"grid\['training\.learning_rate'\] lists the value 1\.0 twice \(as 1 and 1\.0\)"),
    ({"training.learning_rate": [0.01, -1.0]}, None, r"grid\['training\.learning_rate'\] must be > 0, got -1\.0"),
    ({"rule.name": ["node_perturbation", "no_such_rule"]}, {"rule.name": None}, r"sweep point rule\.name='no_such_rule': .*no_such_rule"),
    ({"output.dir": ["a", "b"]}, None, r"grid key 'output\.dir': \[output\] does not change a run"),
    ({"rule.sigma": [1e-3]}, {"training.n_threads": 2}, r"\[training\] n_threads = 2: a sweep runs every task on one thread"),
    ({"rule.sigma": [1e-3]}, {"training.learning_rate": [0.01, 0.01]}, r"\[training\] learning_rate lists 0\.01 more than once"),
])
def test_bad_specifications_are_refused_before_any_work(grid, base, message):
    config = copy.deepcopy(BASE)
    config["network"]["sizes"] = [6, 5, 3]
    if "training.learning_rate" not in grid:
        config["training"]["learning_rate"] = 0.01
    for key, value in (base or {}).items():  # "section.key": value to set, or None to remove
        section, name = key.split(".")
        if value is None:
            del config[section][name]
        else:
            config[section][name] = value
    with pytest.raises(ValueError, match=message):
        Sweep(base=config, grid=grid)


def test_bad_arguments_of_run_sweep_are_refused_before_any_work(tmp_path, monkeypatch):
    sweep = tiny_sweep()
    with pytest.raises(ValueError, match=r"max_members should be at least 1, was 0"):
        Sweep(base=BASE, grid=GRID, max_members=0)
    with pytest.raises(ValueError, match=r"give workers \(a local cluster, got 2\) or scheduler \(an existing one, got 'tcp://x:1'\), not both"):
        run_sweep(sweep, tmp_path / "out", workers=2, scheduler="tcp://x:1")
    with pytest.raises(ValueError, match=r"workers=1000 exceeds the \d+ CPU\(s\) this process may use"):
        run_sweep(sweep, tmp_path / "out", workers=1000)
    (tmp_path / "file").write_text("")
    with pytest.raises(ValueError, match=r"out_dir .*file is an existing file"):
        run_sweep(sweep, tmp_path / "file")
    with pytest.raises(ValueError, match=r"retries should be at least 0, was -1"):
        run_sweep(sweep, tmp_path / "out", retries=-1)
    monkeypatch.setitem(sys.modules, "distributed", None)  # dask not installed
    with pytest.raises(ImportError, match=r"needs dask\.distributed: pip install bioplastic\[sweeps\]"):
        run_sweep(sweep, tmp_path / "out", workers=1, progress=False)
    assert not list(tmp_path.glob("out/task-*"))


def test_an_unreachable_scheduler_is_reported_before_any_work(tmp_path, monkeypatch):
    pytest.importorskip("distributed")
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    address = f"tcp://127.0.0.1:{port}"
    start = time.perf_counter()
    with pytest.raises(ConnectionError, match=rf"cannot reach the Dask scheduler at '{address}' within 1 s"):
        run_sweep(tiny_sweep(), tmp_path / "out", scheduler=address, connect_timeout=1, progress=False)
    assert time.perf_counter() - start < 10
    monkeypatch.setenv("DASK_SCHEDULER_ADDRESS", address)
    with pytest.raises(ConnectionError, match=rf"cannot reach the Dask scheduler at '{address}'"):
        run_sweep(tiny_sweep(), tmp_path / "out", connect_timeout=1, progress=False)
    assert not list(tmp_path.glob("out/task-*"))


# ----------------------------------------------------------------------------- the results store, serially
def test_a_serial_sweep_stores_one_pair_per_task_and_merges_them_into_one_sorted_table(reference, tmp_path):
    sweep, report = reference
    assert report.ok and report.done == sweep.tasks and not report.skipped
    assert sorted(p.name for p in report.out_dir.iterdir()) == sorted(f"{t.name}{suffix}" for t in sweep for suffix in (".json", ".npz"))
    table = report.table
    assert list(table.columns[:7]) == ["network.sizes", "rule.sigma", "task", "member", "learning_rate", "seed", "epoch"]
    assert len(table) == 16 * 3  # 16 members, 3 records (epochs 0-2)
    assert set(table["network.sizes"]) == {"[6, 5, 3]", "[6, 4, 3]"}
    keys = ["network.sizes", "rule.sigma", "learning_rate", "seed", "epoch"]
    assert_same_table(table, table.sort_values(keys, kind="stable").reset_index(drop=True))
    assert_same_table(merge_results(report.out_dir), table)
    # the rows of one task are those of a direct bioplastic.train call with its configuration
    task = next(t for t in sweep if t.grid_values == {"rule.sigma": 1e-2, "network.sizes": [6, 4, 3]} and t.learning_rates == [0.03])
    network, rule, learning_task, homeostasis, kwargs = build_experiment(copy.deepcopy(task.config))
    direct = bioplastic.train(network, rule, learning_task, homeostasis=homeostasis, progress=False, n_threads=1, **kwargs).to_table()
    rows = table[table.task == task.hash[:16]].reset_index(drop=True)
    assert_same_table(rows[direct.columns], direct)


def test_every_task_runs_on_one_thread_with_its_blas_pinned_to_one(tmp_path, monkeypatch):
    from bioplastic._threads import current_blas_threads

    seen = []
    real = bioplastic.training.train

    def train(*args, **kwargs):
        seen.append((current_blas_threads(), kwargs["n_threads"], kwargs["progress"]))
        return real(*args, **kwargs)

    monkeypatch.setattr(bioplastic.training, "train", train)
    run_sweep(Sweep(base=BASE, grid={"network.sizes": [[6, 5, 3]], "training.learning_rate": [0.01]}), tmp_path, progress=False)
    assert seen == [(1, 1, False)]


def test_a_rerun_skips_finished_tasks(reference, tmp_path, count_train):
    sweep, first = reference
    again = run_sweep(sweep, first.out_dir, progress=False)
    assert count_train == []
    assert again.skipped == sweep.tasks and not again.done
    assert_same_table(again.table, first.table)


def test_a_corrupt_or_foreign_result_is_recomputed(reference, tmp_path, count_train):
    sweep, first = reference
    out = tmp_path / "out"
    run_sweep(sweep, out, progress=False)
    truncated, foreign = sweep.tasks[1], sweep.tasks[5]
    npz = result_path(out, truncated).with_suffix(".npz")
    npz.write_bytes(npz.read_bytes()[: npz.stat().st_size // 2])
    status, problem = stored_result(out, truncated)
    assert status == "corrupt" and "not a readable .npz file (truncated or corrupted?)" in problem
    js = result_path(out, foreign).with_suffix(".json")
    meta = json.loads(js.read_text())
    meta["config"]["sweep"]["hash"] = "0" * 64
    js.write_text(json.dumps(meta))
    assert stored_result(out, foreign)[0] == "other"
    count_train.clear()
    again = run_sweep(sweep, out, progress=False)
    assert len(count_train) == 2
    assert again.done == [truncated, foreign] and again.replaced == [truncated, foreign] and len(again.skipped) == len(sweep) - 2
    assert_same_table(again.table, first.table)
    with pytest.raises(ValueError, match=r"not a readable \.npz file.*; run the sweep again to recompute this task"):
        npz.write_bytes(b"PK\x03\x04 truncated")
        merge_results(out)


def test_a_failing_task_is_retried_then_reported_with_its_configuration_and_the_others_complete(reference, tmp_path, monkeypatch):
    sweep, first = reference
    real = bioplastic.training.train
    attempts = []

    def train(network, rule, task, **kwargs):
        attempts.append((rule.sigma, kwargs["learning_rate"]))
        if rule.sigma == 1e-2 and kwargs["learning_rate"] == [0.03]:
            raise FloatingPointError(f"sigma {rule.sigma} fails")
        if rule.sigma == 1e-3 and kwargs["learning_rate"] == [0.03] and attempts.count((rule.sigma, [0.03])) == 1:
            raise RuntimeError("fails once")  # the first attempt of the first such task only
        return real(network, rule, task, **kwargs)

    monkeypatch.setattr(bioplastic.training, "train", train)
    report = run_sweep(sweep, tmp_path, retries=1, progress=False)
    bad = [t for t in sweep if t.grid_values["rule.sigma"] == 1e-2 and t.learning_rates == [0.03]]
    assert [f.task for f in report.failed] == bad and len(bad) == 2
    for failure in report.failed:
        assert failure.attempts == 2
        assert failure.error == "FloatingPointError: sigma 0.01 fails"
        assert "FloatingPointError" in failure.traceback
        text = str(failure)
        assert f"{failure.task.name} (rule.sigma=0.01, network.sizes={failure.task.grid_values['network.sizes']}; learning rates [0.03], " \
               "seeds [0, 1]) failed after 2 attempt(s): FloatingPointError: sigma 0.01 fails" in text
        assert f"configuration: {canonical_json(failure.task.config)}" in text
        assert stored_result(tmp_path, failure.task)[0] == "missing"
    assert report.done == [t for t in sweep if t not in bad]
    assert len(attempts) == len(sweep) + len(bad) + 1  # one retry per failed attempt
    assert "2 failed" in report.summary() and not report.ok
    assert_same_table(report.table, first.table[~first.table.task.isin([t.hash[:16] for t in bad])].reset_index(drop=True))
    monkeypatch.setattr(bioplastic.training, "train", real)
    again = run_sweep(sweep, tmp_path, progress=False)
    assert again.done == bad and again.ok
    assert_same_table(again.table, first.table)


def test_an_interrupted_sweep_resumes_with_the_finished_tasks_skipped(reference, tmp_path, count_train):
    """The client killed (SIGKILL) after some tasks were stored; the rerun runs only the others."""
    sweep, first = reference
    script = textwrap.dedent(f"""
        import sys, time
        import bioplastic.training as training
        from bioplastic.sweeps import Sweep, run_sweep
        real = training.train
        def slow(*args, **kwargs):
            time.sleep(0.3)
            return real(*args, **kwargs)
        training.train = slow
        run_sweep(Sweep(base={BASE!r}, grid={GRID!r}, max_members=2), sys.argv[1], progress=False)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script, str(tmp_path)])
    try:
        deadline = time.monotonic() + 60
        while len(list(tmp_path.glob("task-*.json"))) < 2 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    finished = [task for task in sweep if stored_result(tmp_path, task)[0] == "complete"]
    assert 2 <= len(finished) < len(sweep)
    report = run_sweep(sweep, tmp_path, progress=False)
    assert len(count_train) == len(sweep) - len(finished)
    assert report.skipped == finished and report.done == [t for t in sweep if t not in finished]
    assert_same_table(report.table, first.table)


# ----------------------------------------------------------------------------- on Dask workers
def test_a_local_cluster_of_two_worker_processes_gives_the_serial_table_bit_for_bit(slow_reference, tmp_path, monkeypatch):
    pytest.importorskip("distributed")
    sweep, serial = slow_reference

    def not_here(*args, **kwargs):
        raise AssertionError("a task ran in the calling process, not on a worker")

    monkeypatch.setattr(bioplastic.training, "train", not_here)
    report = run_sweep(sweep, tmp_path, workers=2, progress=False)
    assert report.ok and sorted(report.done, key=sweep.tasks.index) == sweep.tasks
    assert_same_table(report.table, serial.table)


def test_a_worker_killed_mid_sweep_leaves_the_results_unchanged(slow_reference, cluster, tmp_path):
    distributed = pytest.importorskip("distributed")
    sweep, serial = slow_reference
    killed = []
    with distributed.Client(cluster, set_as_default=False) as client:
        client.wait_for_workers(2, timeout=60)
        pids = client.run(os.getpid)

        def kill_a_busy_worker(task, history):
            if not killed:
                address, keys = max(client.processing().items(), key=lambda item: len(item[1]))
                killed.append((pids[address], list(keys)))
                os.kill(pids[address], signal.SIGKILL)

        report = run_sweep(sweep, tmp_path, scheduler=cluster.scheduler_address, callback=kill_a_busy_worker, progress=False)
        (pid, lost), = killed
        assert lost, "the killed worker had no task"  # it was running (or about to run) these tasks
        assert report.ok and len(report.done) == len(sweep)
        assert_same_table(report.table, serial.table)
        client.wait_for_workers(2, timeout=60)
        assert pid not in client.run(os.getpid).values()  # the worker process was replaced


def test_a_task_failing_on_the_workers_is_reported_and_the_environment_names_the_scheduler(cluster, tmp_path, monkeypatch):
    pytest.importorskip("distributed")
    sweep = Sweep(base=BASE, grid={"network.sizes": [[6, 5, 3], [6, 5, 4]], "training.learning_rate": [0.01]})

    def not_here(*args, **kwargs):
        raise AssertionError("a task ran in the calling process, not on a worker")

    monkeypatch.setattr(bioplastic.training, "train", not_here)
    monkeypatch.setenv("DASK_SCHEDULER_ADDRESS", cluster.scheduler_address)
    report = run_sweep(sweep, tmp_path, retries=1, progress=False)
    assert report.done == sweep.tasks[:1]
    (failure,) = report.failed
    assert failure.task == sweep.tasks[1] and failure.attempts == 2
    assert failure.error == "ValueError: network has 4 outputs but task 'nonlinear_student_teacher' has 3"
    assert '"sizes":[6,5,4]' in str(failure)
    assert set(report.table.task) == {sweep.tasks[0].hash[:16]}


# ----------------------------------------------------------------------------- independent calls (the figures' searches)
def _square_or_fail(item):
    if item == "bad":
        raise ValueError(f"cannot square {item!r}")
    return item * item, bioplastic._threads.current_blas_threads()


def test_map_calls_returns_the_results_in_order_pins_blas_and_reports_failures_after_the_others(cluster):
    assert map_calls(_square_or_fail, [3, 1, 2], progress=False) == [(9, 1), (1, 1), (4, 1)]
    assert map_calls(_square_or_fail, [3, 1, 2], scheduler=cluster.scheduler_address, progress=False) == [(9, 1), (1, 1), (4, 1)]
    with pytest.raises(RuntimeError, match=r"1 of 3 call\(s\) of '_square_or_fail' failed:\n  item 1 \('bad'\) after 2 attempt\(s\): "
                                           r"ValueError: cannot square 'bad'"):
        map_calls(_square_or_fail, [3, "bad", 2], retries=1, scheduler=cluster.scheduler_address, progress=False)
    with pytest.raises(TypeError, match="function should be callable as function"):
        map_calls(3, [1])


def test_the_figures_time_scan_on_workers_equals_the_serial_scan(cluster, tmp_path):
    from bioplastic.figures.hiratani2022.nonlinear_setup import time_scan

    task = bioplastic.tasks.NonlinearStudentTeacher(n_inputs=6, n_hidden=4, n_outputs=2, n_train=200, n_test=30, seed=0)
    conditions = {"np": (bioplastic.NodePerturbation(sigma=1e-4), [0.01, 0.03], None), "sgd": (bioplastic.Backprop(), [0.03, 0.1], None)}
    kw = dict(target=0.2, record="test_error", seeds=[0, 1], max_epochs=60)
    serial = time_scan(True, tmp_path / "serial", False, "scan", task, _small_net, conditions, (4, 8), **kw)
    spread = time_scan(True, tmp_path / "spread", False, "scan", task, _small_net, conditions, (4, 8), scheduler=cluster.scheduler_address, **kw)
    for a, b in zip(serial, spread, strict=True):
        np.testing.assert_array_equal(a, b)
    times, _, settled = serial
    assert np.isfinite(times).all() and settled.all() and (times[0] > times[1]).all(), times  # NP slower than SGD at both widths


def _small_net(width):
    return bioplastic.models.mlp((6, width, 2), hidden="tanh")


def test_figures_refuse_workers_unless_their_runs_distribute(tmp_path):
    from bioplastic.figures import distributed_figures, run_figure

    assert {"fig4e", "fig5b", "fig5c"} <= set(distributed_figures())
    assert "fig1a" not in distributed_figures()
    with pytest.raises(ValueError, match=r"figure 'fig1a' does not distribute its runs \(got workers=2, scheduler=None\); "
                                         r"the figures that do: .*fig4e, fig5b, fig5c"):
        run_figure("fig1a", quick=True, out_dir=tmp_path, workers=2)
