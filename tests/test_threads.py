"""CPU budget and thread policy: usable CPUs, cgroup quotas, BLAS x workers (+ prefetch) within the budget."""

import os
import re
import subprocess
import sys
import threading

import numpy as np
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

import bioplastic as bp
from bioplastic import _threads
from bioplastic._threads import MIN_FLOPS_PER_BLAS_THREAD, MIN_WORKER_FLOPS, cgroup_cpu_limit, plan_threads, usable_cpus
from bioplastic.engines.numpy import NumpyEngine
from bioplastic.losses import SquaredError


def _blas_threads():
    return max(i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas")


# ----------------------------------------------------------------------------- counting CPUs
def _cgroup(tmp_path, membership, files):
    """A fake cgroup tree under ``tmp_path/fs`` and a ``/proc/self/cgroup`` listing ``membership``."""
    for name, text in files.items():
        path = tmp_path / "fs" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    proc = tmp_path / "cgroup"
    proc.write_text(membership)
    return {"root": str(tmp_path / "fs"), "proc_cgroup": str(proc)}


@pytest.mark.parametrize("cpu_max,expected", [
    ("150000 100000\n", 1),  # 1.5 CPUs round down
    ("250000 100000\n", 2),
    ("400000 100000\n", 4),
    ("50000 100000\n", 1),  # half a CPU: still one
    ("max 100000\n", None),  # no limit
])
def test_cgroup_v2_quota(tmp_path, cpu_max, expected):
    paths = _cgroup(tmp_path, "0::/user.slice/job\n", {"user.slice/job/cpu.max": cpu_max})
    assert cgroup_cpu_limit(**paths) == expected


def test_cgroup_v2_takes_the_tightest_group_above(tmp_path):
    paths = _cgroup(tmp_path, "0::/user.slice/job\n", {
        "user.slice/job/cpu.max": "max 100000\n",
        "user.slice/cpu.max": "300000 100000\n",
        "cpu.max": "800000 100000\n",
    })
    assert cgroup_cpu_limit(**paths) == 3


@pytest.mark.parametrize("quota,expected", [("150000", 1), ("300000", 3), ("-1", None)])
def test_cgroup_v1_quota(tmp_path, quota, expected):
    paths = _cgroup(tmp_path, "5:memory:/docker/abc\n4:cpu,cpuacct:/docker/abc\n0::/\n", {
        "cpu,cpuacct/docker/abc/cpu.cfs_quota_us": quota + "\n",
        "cpu,cpuacct/docker/abc/cpu.cfs_period_us": "100000\n",
    })
    assert cgroup_cpu_limit(**paths) == expected


def test_cgroup_v1_in_a_container_reads_the_mount_root(tmp_path):
    # inside a container the listed path does not exist below the mount: the mount root holds the group's files
    paths = _cgroup(tmp_path, "4:cpu,cpuacct:/docker/abc\n", {"cpu/cpu.cfs_quota_us": "200000\n", "cpu/cpu.cfs_period_us": "100000\n"})
    assert cgroup_cpu_limit(**paths) == 2


def test_no_cgroup_files_no_limit(tmp_path):
    assert cgroup_cpu_limit(**_cgroup(tmp_path, "0::/\n", {})) is None
    assert cgroup_cpu_limit(root=str(tmp_path / "absent"), proc_cgroup=str(tmp_path / "absent")) is None


def test_usable_cpus_is_the_smallest_of_affinity_process_count_and_quota(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3, 4, 5}, raising=False)
    monkeypatch.delattr(os, "process_cpu_count", raising=False)
    monkeypatch.setattr(_threads, "cgroup_cpu_limit", lambda: None)
    assert usable_cpus() == 6
    monkeypatch.setattr(_threads, "cgroup_cpu_limit", lambda: 3)
    assert usable_cpus() == 3
    monkeypatch.setattr(os, "process_cpu_count", lambda: 2, raising=False)
    assert usable_cpus() == 2
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {7}, raising=False)
    assert usable_cpus() == 1


def test_usable_cpus_without_affinity_uses_cpu_count(monkeypatch):
    monkeypatch.delattr(os, "sched_getaffinity", raising=False)
    monkeypatch.delattr(os, "process_cpu_count", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 12)
    monkeypatch.setattr(_threads, "cgroup_cpu_limit", lambda: None)
    assert usable_cpus() == 12
    monkeypatch.setattr(os, "cpu_count", lambda: None)
    assert usable_cpus() == 1


# ----------------------------------------------------------------------------- the policy
@pytest.mark.parametrize("budget", [1, 2, 3, 4, 8, 16])
@pytest.mark.parametrize("n_threads", ["auto", 1, 2, 3, 8])
@pytest.mark.parametrize("n_blocks", [1, 2, 6])
@pytest.mark.parametrize("uses_noise", [False, True])
def test_plan_stays_within_the_budget(budget, n_threads, n_blocks, uses_noise):
    for block_flops in (0.0, 10 * MIN_WORKER_FLOPS):
        plan = plan_threads(n_threads, n_blocks=n_blocks, block_flops=block_flops, uses_noise=uses_noise, budget=budget)
        assert plan.budget == budget
        assert 1 <= plan.workers <= n_blocks
        if n_threads != "auto":
            assert plan.workers == min(n_threads, n_blocks)  # an explicit number is honoured
        if n_threads == "auto" or plan.workers <= budget:
            for flops in (1e3, 1e8, 1e12):
                assert plan.blas_threads(flops) * plan.workers + plan.prefetch <= budget
        assert plan.prefetch == (uses_noise and budget > plan.workers)


def test_two_cpus_with_noise_run_one_worker_one_blas_thread_and_the_prefetch_thread():
    plan = plan_threads("auto", n_blocks=8, block_flops=1e12, uses_noise=True, budget=2)
    assert (plan.workers, plan.prefetch, plan.blas_threads(1e12)) == (1, True, 1)
    plan = plan_threads("auto", n_blocks=1, block_flops=1e12, uses_noise=False, budget=2)
    assert (plan.workers, plan.prefetch, plan.blas_threads(1e12)) == (1, False, 1)  # one CPU stays free


def test_one_cpu_draws_noise_in_line():
    plan = plan_threads("auto", n_blocks=4, uses_noise=True, budget=1)
    assert (plan.workers, plan.prefetch, plan.blas_threads(1e12)) == (1, False, 1)


def test_blas_threads_only_for_large_products():
    plan = plan_threads("auto", n_blocks=1, uses_noise=True, budget=8)
    assert plan.blas_cpus == 7
    assert plan.blas_threads(MIN_FLOPS_PER_BLAS_THREAD * 2 - 1) == 1
    assert plan.blas_threads(MIN_FLOPS_PER_BLAS_THREAD * 3) == 3
    assert plan.blas_threads(1e15) == 7


def test_auto_workers_need_enough_work_per_block():
    small = plan_threads("auto", n_blocks=6, block_flops=MIN_WORKER_FLOPS / 2, uses_noise=True, budget=8)
    large = plan_threads("auto", n_blocks=6, block_flops=MIN_WORKER_FLOPS, uses_noise=True, budget=8)
    single = plan_threads("auto", n_blocks=6, block_flops=MIN_WORKER_FLOPS, itemsize=4, uses_noise=True, budget=8)
    assert (small.workers, small.blas_cpus) == (1, 7)
    assert (large.workers, large.blas_cpus, large.prefetch) == (6, 1, True)
    assert single.workers == 1  # float32 products run twice as fast: twice the flops needed
    assert plan_threads("auto", n_blocks=3, block_flops=1e12, budget=3).workers == 2  # one CPU stays free


@pytest.mark.parametrize("bad,error,message", [
    ("many", ValueError, "n_threads should be 'auto' or an integer >= 1, got 'many'"),
    (0, ValueError, "n_threads should be 'auto' or an integer >= 1, got 0"),
    (-1, ValueError, "n_threads should be 'auto' or an integer >= 1, got -1"),
    (1.5, TypeError, "n_threads should be 'auto' or an integer >= 1, got 1.5 of type float"),
    (True, TypeError, "n_threads should be 'auto' or an integer >= 1, got True of type bool"),
])
def test_bad_n_threads_rejected_with_the_value(bad, error, message):
    network, rule = bp.models.mlp((4, 5, 2), hidden="tanh"), bp.NodePerturbation(sigma=1e-3)
    with pytest.raises(error, match=re.escape(message)):
        NumpyEngine(network, rule, SquaredError(), seeds=[0], batch_size=4, n_threads=bad)
    task = bp.tasks.NonlinearStudentTeacher(n_inputs=4, n_outputs=2, n_train=20, n_test=10, seed=0)
    with pytest.raises(error, match=re.escape(message)):
        bp.train(network, rule, task, n_epochs=1, learning_rate=0.01, batch_size=4, progress=False, n_threads=bad)


# ----------------------------------------------------------------------------- the engine
def _spy_on_steps(monkeypatch, rule_type):
    """Record, inside every block's step, the BLAS thread count and the thread it runs on."""
    seen = []
    original = rule_type.directions

    def spy(self, *args, **kwargs):
        seen.append((_blas_threads(), threading.current_thread().name))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(rule_type, "directions", spy)
    return seen


def _engine(monkeypatch, budget, n_threads, *, sizes=(6, 9, 3), seeds=(0, 1, 2, 3, 4, 5), member_block=2, dtype=np.float64):
    monkeypatch.setattr(_threads, "usable_cpus", lambda: budget)
    network = bp.models.mlp(sizes, hidden="relu")
    return NumpyEngine(network, bp.NodePerturbation(sigma=1e-3), SquaredError(), seeds=list(seeds), batch_size=12,
                       member_block=member_block, n_threads=n_threads, dtype=dtype)


@pytest.mark.parametrize("budget,n_threads", [(b, n) for b in (1, 2, 3, 4) for n in ("auto", 1, 2) if n == "auto" or n <= b])
def test_inside_the_step_blas_times_workers_plus_prefetch_within_budget(monkeypatch, budget, n_threads):
    engine = _engine(monkeypatch, budget, n_threads)
    seen = _spy_on_steps(monkeypatch, bp.NodePerturbation)
    x, target = np.ones((12, 6)), np.zeros((12, 3))
    before = _blas_threads()
    engine.start_epoch(3)
    for _ in range(3):
        engine.step(x, target, np.full(6, 1e-2))  # outside running(): the step sets the limits itself
    assert _blas_threads() == before  # restored
    assert len(seen) == 3 * len(engine._blocks)
    prefetch = engine.threads_.prefetch
    assert engine.noise_.prefetch == prefetch
    for blas, _ in seen:
        assert blas * engine.n_threads + prefetch <= budget
    expected = 1 if n_threads == "auto" else min(n_threads, len(engine._blocks))
    assert engine.n_threads == expected
    names = {name for _, name in seen}
    if expected > 1:
        assert all(name.startswith("bioplastic-members") for name in names)
    else:
        assert names == {threading.current_thread().name}


def test_predictions_within_budget_and_limits_restored(monkeypatch):
    engine = _engine(monkeypatch, 2, "auto", sizes=(300, 400, 10), seeds=(0,))
    seen = []
    import bioplastic.engines.numpy as engine_module

    original = engine_module.predict

    def spy(*args, **kwargs):
        seen.append(_blas_threads())
        return original(*args, **kwargs)

    monkeypatch.setattr(engine_module, "predict", spy)
    before = _blas_threads()
    engine.predict(np.ones((3000, 300)), batch_size=3000)  # 2 * 3000 * 300 * 400 = 7e8 flops: still one thread on 2 CPUs
    assert seen == [1]
    assert _blas_threads() == before


def test_an_outer_blas_limit_is_never_raised(monkeypatch):
    engine = _engine(monkeypatch, 64, "auto", sizes=(6, 9, 3), seeds=(0,))
    seen = _spy_on_steps(monkeypatch, bp.NodePerturbation)
    engine._step_flops = 1e15  # as if the products were huge: the plan allows 63 BLAS threads
    engine.start_epoch(1)
    with threadpool_limits(limits=1, user_api="blas"):
        engine.step(np.ones((12, 6)), np.zeros((12, 3)), np.full(1, 1e-2))
        assert _blas_threads() == 1
    assert seen[0][0] == 1


def test_explicit_threads_are_honoured_beyond_the_budget(monkeypatch):
    engine = _engine(monkeypatch, 1, 3)
    seen = _spy_on_steps(monkeypatch, bp.NodePerturbation)
    engine.start_epoch(2)
    for _ in range(2):
        engine.step(np.ones((12, 6)), np.zeros((12, 3)), np.full(6, 1e-2))
    assert (engine.n_threads, engine.threads_.prefetch) == (3, False)
    assert all(blas == 1 and name.startswith("bioplastic-members") for blas, name in seen)


def test_results_do_not_depend_on_threads_or_budget(monkeypatch):
    rng = np.random.default_rng(0)
    x, target = rng.standard_normal((12, 6)), rng.standard_normal((12, 3))
    scale = np.linspace(0.01, 0.05, 6)
    results = []
    for budget, n_threads in [(1, 1), (1, "auto"), (2, "auto"), (4, 2), (4, 3), (8, "auto"), (2, 6)]:
        engine = _engine(monkeypatch, budget, n_threads, seeds=(0, 1, 2, 0, 5, 5))
        engine.start_epoch(4)
        with engine.running():
            for _ in range(4):
                engine.step(x, target, scale)
        results.append((engine.state_.copy(), engine.predict(x)))
    for state, out in results[1:]:
        for a, b in zip(results[0][0].weights, state.weights, strict=True):
            np.testing.assert_array_equal(a, b)  # exact in float64
        np.testing.assert_array_equal(results[0][1], out)
    assert not np.array_equal(results[0][0].weights[0][0], results[0][0].weights[0][1])


def test_train_passes_n_threads_and_results_are_exact(monkeypatch):
    monkeypatch.setattr(_threads, "usable_cpus", lambda: 4)
    created = []
    original = NumpyEngine.__init__

    def record(self, *args, **kwargs):
        original(self, *args, **kwargs)
        created.append(self)

    monkeypatch.setattr(NumpyEngine, "__init__", record)
    task = bp.tasks.NonlinearStudentTeacher(n_inputs=400, n_outputs=4, n_train=60, n_test=20, seed=0)
    network = bp.models.mlp((400, 500, 4), hidden="tanh")  # two blocks of 10 members, each 1.2e8 flops a step
    histories = [bp.train(network, bp.NodePerturbation(sigma=1e-3), task, n_epochs=2, learning_rate=[1e-3, 2e-3], seeds=list(range(10)),
                          batch_size=10, progress=False, n_threads=n) for n in ("auto", 1, 2)]
    assert [e.n_threads for e in created] == [2, 1, 2]  # auto: 2 blocks, enough work, 3 CPUs for the team
    for h in histories[1:]:
        for key in h.records:
            np.testing.assert_array_equal(h.records[key], histories[0].records[key])


def test_online_prefetch_only_with_a_second_cpu(monkeypatch):
    import bioplastic.online as online
    from bioplastic.online import blocked

    prefetch = []

    class Recording(blocked.NoiseBuffer):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            prefetch.append(self.prefetch)

    monkeypatch.setattr(blocked, "NoiseBuffer", Recording)
    task = bp.tasks.StudentTeacher(n_inputs=5, n_outputs=2, steps_per_epoch=50)
    runs = []
    for budget in (1, 2):
        monkeypatch.setattr(blocked, "usable_cpus", lambda budget=budget: budget)
        runs.append(online.train_online(bp.models.deep_linear(5, 20, 2), bp.NodePerturbation(sigma=1e-3), task, n_epochs=2,
                                        learning_rate=1e-2, seeds=[0], progress=False))
    assert prefetch == [False, True]
    np.testing.assert_array_equal(runs[0].records["error"], runs[1].records["error"])


def test_import_sets_no_thread_limits():
    code = ("from threadpoolctl import threadpool_info; import numpy; "
            "n = lambda: [i['num_threads'] for i in threadpool_info() if i['user_api'] == 'blas']; "
            "a = n(); import bioplastic, bioplastic.engines.numpy; print(a == n(), a)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.startswith("True"), out


def test_blas_description_names_the_library_and_its_threads():
    text, hint = _threads.blas_description()
    info = [i for i in threadpool_info() if i["user_api"] == "blas"][0]
    assert text.startswith(f"BLAS: {info['internal_api']}")
    assert f"{info['num_threads']} thread(s)" in text
    assert hint is None or "OPENBLAS_CORETYPE" in hint
