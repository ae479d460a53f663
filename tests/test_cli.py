"""The command line: demo, run CONFIG.toml, figure, --help."""

import json
import subprocess
import sys

import numpy as np

import bioplastic as bp
from bioplastic.cli import main
from bioplastic.figures import available_figures

CONFIG = """
[network]
sizes = [20, 16, 5]
hidden = "tanh"

[task]
name = "student_teacher"
n_train = 200
n_test = 50

[rule]
name = "node_perturbation"
sigma = 1e-3

[homeostasis]
layers = [0]

[training]
n_epochs = 3
learning_rate = [0.01, 0.03]
seeds = [0, 1]
batch_size = 10
"""


def test_help_lists_commands():
    out = subprocess.run([sys.executable, "-m", "bioplastic.cli", "--help"], capture_output=True, text=True, check=True).stdout
    for command in ("demo", "run", "sweep", "figure"):
        assert command in out


def test_demo_quick(tmp_path, capsys):
    assert main(["demo", "--quick", "--no-progress", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "NP" in out and "SGD" in out and "epochs to target" in out
    assert (tmp_path / "demo.png").stat().st_size > 10_000
    np_hist = bp.History.load(tmp_path / "demo_np")
    sgd_hist = bp.History.load(tmp_path / "demo_sgd")
    # both rules learn; SGD ends lower than NP
    assert np.nanmin(np_hist.final()) < 0.2 * np_hist.records["test_error"][0, 0]
    assert np.nanmin(sgd_hist.final()) < np.nanmin(np_hist.final())


def test_run_config(tmp_path, capsys):
    cfg = tmp_path / "exp.toml"
    cfg.write_text(CONFIG)
    assert main(["run", str(cfg), "--out", str(tmp_path / "res"), "--no-progress"]) == 0
    hist = bp.History.load(tmp_path / "res" / "exp")
    assert hist.n_members == 4 and hist.epochs[-1] == 3
    assert hist.config["homeostasis"]["layers"] == [0]
    assert (tmp_path / "res" / "exp.png").exists()
    assert "test_error" in capsys.readouterr().out


def _storage_id(path):
    return json.loads(path.read_text())["storage"]["id"]


def test_rerun_of_a_finished_run_reports_the_stored_result(tmp_path, capsys, monkeypatch):
    cfg, res = tmp_path / "exp.toml", tmp_path / "res"
    cfg.write_text(CONFIG)
    assert main(["run", str(cfg), "--out", str(res), "--no-progress"]) == 0
    first = capsys.readouterr().out
    assert sorted(p.name for p in res.iterdir()) == ["exp.checkpoint.json", "exp.checkpoint.npz", "exp.json", "exp.npz", "exp.png"]
    stored = _storage_id(res / "exp.json")
    (res / "exp.png").unlink()

    def no_training(*args, **kwargs):
        raise AssertionError("a finished run was trained again")

    with monkeypatch.context() as m:
        m.setattr(bp.training, "train", no_training)
        assert main(["run", str(cfg), "--out", str(res), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"{cfg}: already complete; the stored result is shown (--force recomputes it)\n")
    table = first.splitlines()[:-1]
    assert out.splitlines()[1:-1] == table  # the same final records
    assert out.splitlines()[-1] == f"results in {res / 'exp.npz'}, {res / 'exp.json'}, {res / 'exp.png'}"
    assert _storage_id(res / "exp.json") == stored and (res / "exp.png").exists()

    def no_resume(*args, **kwargs):
        raise AssertionError("--force resumed from the checkpoint")

    with monkeypatch.context() as m:
        m.setattr(bp.training.loop, "load_checkpoint", no_resume)
        assert main(["run", str(cfg), "--out", str(res), "--no-progress", "--force"]) == 0
    out = capsys.readouterr().out
    assert "already complete" not in out and out.splitlines()[:-1] == table
    assert out.splitlines()[-1].startswith("wrote ") and _storage_id(res / "exp.json") != stored


def test_run_killed_before_its_result_was_saved_resumes_from_its_checkpoint(tmp_path):
    from bioplastic.config import run_config
    from bioplastic.io import remove_pair

    cfg = tmp_path / "exp.toml"
    cfg.write_text(CONFIG)
    history, _ = run_config(cfg, out_dir=tmp_path / "a", progress=False)
    assert not history.reused_
    remove_pair(tmp_path / "a" / "exp")  # killed after the last checkpoint, before the result
    resumed, _ = run_config(cfg, out_dir=tmp_path / "a", progress=False)
    assert not resumed.reused_
    np.testing.assert_array_equal(resumed.records["test_error"], history.records["test_error"])
    # more epochs: the run continues from its checkpoint and equals a run of 5 epochs
    cfg.write_text(CONFIG.replace("n_epochs = 3", "n_epochs = 5"))
    longer, _ = run_config(cfg, out_dir=tmp_path / "a", progress=False)
    fresh, _ = run_config(cfg, out_dir=tmp_path / "b", progress=False)
    assert not longer.reused_ and longer.epochs[-1] == 5
    np.testing.assert_array_equal(longer.records["test_error"], fresh.records["test_error"])
    assert run_config(cfg, out_dir=tmp_path / "a", progress=False)[0].reused_


def test_run_refuses_results_it_cannot_load_and_other_configurations_without_force(tmp_path, capsys):
    cfg, res = tmp_path / "exp.toml", tmp_path / "res"
    cfg.write_text(CONFIG)
    assert main(["run", str(cfg), "--out", str(res), "--no-progress"]) == 0
    capsys.readouterr()
    # another rule: the checkpoint does not fit
    cfg.write_text(CONFIG.replace("sigma = 1e-3", "sigma = 2e-3"))
    assert main(["run", str(cfg), "--out", str(res), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "was written for a different configuration (differs in: rule); remove" in err
    assert err.rstrip().endswith("or rerun with force=True (bioplastic run --force)")
    # a result pair that is not a History (as older versions left it after a kill)
    meta = json.loads((res / "exp.json").read_text())
    (res / "exp.json").write_text(json.dumps({**meta, "kind": "bioplastic.Checkpoint"}))
    assert main(["run", str(cfg), "--out", str(res), "--no-progress"]) == 2
    assert capsys.readouterr().err == (f"bioplastic run: error: {res / 'exp.json'} does not hold a bioplastic History "
                                       "(kind='bioplastic.Checkpoint'); force=True (bioplastic run --force) recomputes "
                                       "the run and replaces it\n")
    assert main(["run", str(cfg), "--out", str(res), "--no-progress", "--force"]) == 0
    assert bp.History.load(res / "exp").config["rule"]["sigma"] == 2e-3


def test_run_bad_config_reports_error(tmp_path, capsys):
    cfg = tmp_path / "bad.toml"
    cfg.write_text(CONFIG.replace("sigma = 1e-3", "sigma = -1.0"))
    assert main(["run", str(cfg), "--out", str(tmp_path)]) == 2
    assert "sigma must be > 0, got -1.0" in capsys.readouterr().err


def test_figure_list_and_unknown(capsys):
    assert main(["figure", "--list"]) == 0
    listed = capsys.readouterr().out.splitlines()
    # grouped under each study with its citation, every figure once
    heading = {line.split(":")[0]: i for i, line in enumerate(listed) if not line.startswith(" ")}
    assert list(heading) == ["Hiratani et al. 2022", "Kunin et al. 2020", "Dalm et al. 2024", "92-image IT comparison", "Nayebi et al. 2020"]
    assert "arXiv 2310.00965" in listed[heading["Dalm et al. 2024"]]
    assert "NeurIPS 2020" in listed[heading["Nayebi et al. 2020"]] and listed.index("  identify_rules") > heading["Nayebi et al. 2020"]
    names = [line.strip() for line in listed if line.startswith("  ")]
    assert sorted(names) == available_figures()
    assert listed.index("  dalm_mnist") > heading["Dalm et al. 2024"] and listed.index("  fig4c") < heading["Kunin et al. 2020"]
    assert main(["figure", "no_such_figure"]) == 2
    assert "unknown figure 'no_such_figure'" in capsys.readouterr().err


def test_figure_replot_redraws_from_saved_results(tmp_path, capsys):
    out = tmp_path / "figs"
    assert main(["figure", "fig1b", "--quick", "--out", str(out), "--no-progress"]) == 0
    png = out / "fig1b.png"
    first = png.read_bytes()
    png.unlink()
    capsys.readouterr()
    assert main(["figure", "fig1b", "--replot", "--out", str(out)]) == 0
    assert png.read_bytes() == first
    assert "redrew" in capsys.readouterr().out
    assert main(["figure", "fig1a", "--replot", "--out", str(tmp_path / "empty")]) == 2
    assert "no saved results of fig1a" in capsys.readouterr().err


SWEEP = """
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
dir = "swept"

[sweep]
max_members = 2
grid = {"rule.sigma" = [1e-3, 1e-2], "network.sizes" = [[6, 5, 3], [6, 5, 4]], "training.learning_rate" = [0.01], "training.seeds" = [0, 1]}
"""


def test_sweep_runs_the_tasks_reports_failures_and_skips_finished_tasks_on_a_rerun(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sweep.toml").write_text(SWEEP)
    assert main(["sweep", "sweep.toml", "--no-progress", "--retries", "0"]) == 1  # the [6, 5, 4] networks do not fit the task
    out = capsys.readouterr().out
    assert "sweep.toml: 4 task(s), 8 ensemble member(s)" in out
    assert "4 task(s): 2 run, 0 already complete (skipped), 2 failed; results in swept" in out
    assert out.count("failed after 1 attempt(s): ValueError: network has 4 outputs but task 'nonlinear_student_teacher' has 3") == 2
    assert len(list((tmp_path / "swept").glob("task-*.json"))) == 2
    lines = out.splitlines()
    header = next(i for i, line in enumerate(lines) if line.split()[:4] == ["rule.sigma", "network.sizes", "learning_rate", "seed"])
    rows = [line.split() for line in lines[header + 1: header + 5]]  # the last records of the 4 members that ran, sorted
    assert [(row[0], " ".join(row[1:4]), row[4], row[5]) for row in rows] == [
        ("0.001", "[6, 5, 3]", "0.01", "0"), ("0.001", "[6, 5, 3]", "0.01", "1"), ("0.010", "[6, 5, 3]", "0.01", "0"), ("0.010", "[6, 5, 3]", "0.01", "1")]
    (tmp_path / "sweep.toml").write_text(SWEEP.replace("[6, 5, 4]", "[6, 4, 3]"))
    assert main(["sweep", "sweep.toml", "--no-progress", "--out", "swept"]) == 0
    assert "4 task(s): 2 run, 2 already complete (skipped), 0 failed" in capsys.readouterr().out
    assert main(["sweep", "missing.toml"]) == 2
    assert "configuration file missing.toml does not exist" in capsys.readouterr().err
    (tmp_path / "bad.toml").write_text(SWEEP.replace('"rule.sigma"', '"rule.sigmaa"'))
    assert main(["sweep", "bad.toml"]) == 2
    assert "unknown key(s) ['sigmaa'] in [rule]" in capsys.readouterr().err


def test_figure_workers_and_scheduler_reach_the_figure_and_others_refuse_them(tmp_path, capsys, monkeypatch):
    import bioplastic.figures

    assert main(["figure", "fig1a", "--quick", "--workers", "2", "--out", str(tmp_path), "--no-progress"]) == 2
    assert "figure 'fig1a' does not distribute its runs (got workers=2, scheduler=None)" in capsys.readouterr().err
    seen = {}
    monkeypatch.setattr(bioplastic.figures, "run_figure", lambda name, **kw: seen.update(kw, name=name) or {"done": 1})
    assert main(["figure", "fig4e", "--scheduler", "tcp://127.0.0.1:8786", "--out", str(tmp_path), "--no-progress"]) == 0
    assert seen == {"name": "fig4e", "quick": False, "out_dir": str(tmp_path), "progress": False, "workers": None,
                    "scheduler": "tcp://127.0.0.1:8786"}
