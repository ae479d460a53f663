"""Command line: ``bioplastic demo``, ``bioplastic run CONFIG.toml``, ``bioplastic sweep CONFIG.toml``, ``bioplastic figure NAME``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

__all__ = ["demo", "main"]


def demo(*, out_dir="bioplastic_demo", n_epochs=100, progress=True, quick=False):
    """Train NP and SGD ensembles on the built-in nonlinear student-teacher task.

    Writes ``demo.png`` (learning curves with seed bands) and the two
    :class:`~bioplastic.History` result files into ``out_dir``; returns a
    summary dict.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    from . import Backprop, NodePerturbation, train
    from .models import mlp
    from .plotting import save_figure
    from .tasks import NonlinearStudentTeacher

    if quick:
        n_epochs = min(n_epochs, 20)
    out_dir = Path(out_dir)
    task = NonlinearStudentTeacher(n_inputs=20, n_hidden=20, n_outputs=5, n_train=2000, n_test=500, seed=0)
    network = mlp((20, 50, 5), hidden="tanh")
    seeds = [0, 1, 2]
    runs = {
        "NP": (NodePerturbation(sigma=1e-3), [0.01, 0.03]),
        "SGD": (Backprop(), [0.03, 0.1]),
    }
    histories = {}
    for label, (rule, rates) in runs.items():
        histories[label] = train(network, rule, task, n_epochs=n_epochs, learning_rate=rates, seeds=seeds,
                                 batch_size=20, progress=progress)
        histories[label].save(out_dir / f"demo_{label.lower()}")

    initial = float(np.mean(histories["NP"].records["test_error"][:, 0]))
    target = 0.05 * initial
    summary = {"initial_test_error": initial, "target_test_error": target}
    fig, ax = plt.subplots(figsize=(6, 4))
    for label, history in histories.items():
        # best learning rate: lowest mean final test error over seeds
        lrs = np.unique(history.learning_rates)
        finals = [np.nanmean(history.final()[history.learning_rates == lr]) for lr in lrs]
        best = lrs[int(np.nanargmin(finals))]
        members = np.flatnonzero(history.learning_rates == best)
        best_history = _subset(history, members)
        best_history.plot("test_error", ax=ax, label=label)
        epochs = best_history.epochs_to_target(target)
        summary[label] = {
            "best_learning_rate": float(best),
            "final_test_error": float(np.nanmean(best_history.final())),
            "epochs_to_target": float(np.mean(epochs)),
        }
    ax.axhline(target, color="grey", linestyle=":", linewidth=1, label="target")
    ax.set_title("node perturbation vs backprop (nonlinear student-teacher)")
    ax.legend(fontsize="small")
    png = save_figure(fig, out_dir / "demo.png")
    plt.close(fig)
    np_epochs, sgd_epochs = summary["NP"]["epochs_to_target"], summary["SGD"]["epochs_to_target"]
    summary["np_over_sgd_epochs"] = np_epochs / sgd_epochs if np.isfinite(np_epochs) and sgd_epochs > 0 else float("inf")
    summary["plot"] = str(png)
    return summary


def _subset(history, members):
    from .training import History

    return History(history.epochs, {k: v[members] for k, v in history.records.items()}, history.learning_rates[members],
                   history.seeds[members], history.diverged_epoch[members], history.config, history.versions)


def _print_demo(summary):
    print(f"nonlinear student-teacher task: initial test error {summary['initial_test_error']:.3f}, "
          f"target {summary['target_test_error']:.3f} (5% of initial)")
    print(f"{'rule':<6}{'best lr':>10}{'final test error':>20}{'epochs to target':>20}")
    for label in ("NP", "SGD"):
        s = summary[label]
        print(f"{label:<6}{s['best_learning_rate']:>10.3g}{s['final_test_error']:>20.4f}{s['epochs_to_target']:>20.0f}")
    print(f"NP needs {summary['np_over_sgd_epochs']:.1f}x as many epochs as SGD to reach the target")
    print(f"plot written to {summary['plot']}")


def _parser():
    parser = argparse.ArgumentParser(
        prog="bioplastic",
        description="Learning in rate-coded neural networks with node perturbation, three-factor plasticity and synaptic scaling.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("demo", help="train NP and SGD ensembles on a built-in task; print a summary and write a plot")
    p.add_argument("--out", default="bioplastic_demo", help="output folder (default: %(default)s)")
    p.add_argument("--epochs", type=int, default=100, help="training epochs (default: %(default)s)")
    p.add_argument("--quick", action="store_true", help="a shorter run")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")

    p = sub.add_parser("run", help="run the experiment described by a TOML configuration file")
    p.add_argument("config", help="path to CONFIG.toml")
    p.add_argument("--out", default=None, help="output folder (default: the configuration's [output] dir, else results)")
    p.add_argument("--force", action="store_true",
                   help="recompute a finished run from scratch (discards its checkpoint, replaces its results)")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")

    p = sub.add_parser("sweep", help="run the sweep described by the [sweep] section of a TOML configuration file",
                       description="Run every task of a sweep (a grid over configuration keys, see bioplastic.sweeps); tasks already "
                                   "stored in --out are skipped. Exit status 1 when some task failed on every attempt.")
    p.add_argument("config", help="path to CONFIG.toml (with a [sweep] section)")
    p.add_argument("--workers", type=int, default=None,
                   help="run on a local Dask cluster of N single-threaded worker processes (default: serially, or on DASK_SCHEDULER_ADDRESS)")
    p.add_argument("--scheduler", default=None, help="address of a running Dask scheduler, e.g. tcp://127.0.0.1:8786")
    p.add_argument("--out", default=None, help="output folder (default: the configuration's [output] dir, else sweep_results)")
    p.add_argument("--retries", type=int, default=2, help="attempts after the first for a failing task (default: %(default)s)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")

    p = sub.add_parser("figure", help="reproduce a figure of the node-perturbation studies")
    p.add_argument("name", nargs="?", help="figure name, e.g. fig1a (see --list)")
    p.add_argument("--list", action="store_true", help="list the available figures")
    p.add_argument("--quick", action="store_true", help="small sizes (minutes); default: paper sizes")
    p.add_argument("--replot", action="store_true", help="draw the PNG again from the results saved in --out, computing nothing")
    p.add_argument("--out", default="figures_out", help="output folder (default: %(default)s)")
    p.add_argument("--workers", type=int, default=None,
                   help="run the figure's searches on a local Dask cluster of N single-threaded workers (fig4e, fig5b, fig5c)")
    p.add_argument("--scheduler", default=None, help="address of a running Dask scheduler whose workers run the searches instead")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    return parser


def _path_problem(args):
    """What is wrong with the command's input and output paths (one line), or ``None``.

    The configuration file of ``run`` and ``sweep`` must be an existing file;
    ``--out`` (where ``demo``, ``run``, ``sweep`` and ``figure NAME`` write)
    must be a folder or a path where one can be created, not an existing
    file or a path below one.
    """
    if args.command in ("run", "sweep"):
        config = Path(args.config)
        if config.is_dir():
            return f"configuration file {config} is a directory; expected a TOML file"
        if not config.exists():
            return f"configuration file {config} does not exist"
    writes = args.command in ("demo", "run", "sweep") or (args.command == "figure" and args.name and not args.list)
    if writes and args.out is not None:
        out = Path(args.out)
        if out.exists() and not out.is_dir():
            return f"--out {out} is an existing file; expected a folder (existing or to be created)"
        for parent in out.parents:
            if parent.exists():
                if not parent.is_dir():
                    return f"--out {out} lies below the file {parent}; expected a folder (existing or to be created)"
                break
    return None


def _sweep(args):
    """``bioplastic sweep``: run the sweep, print the last records of every member and the failures; 1 if a task failed."""
    from .sweeps import Sweep, run_sweep

    sweep = Sweep.from_file(args.config)
    if args.workers is not None and args.workers < 1:
        raise ValueError(f"--workers should be at least 1, was {args.workers}")
    if args.retries < 0:
        raise ValueError(f"--retries should be at least 0, was {args.retries}")
    out = args.out if args.out is not None else (sweep.output_dir or "sweep_results")
    print(f"{args.config}: {len(sweep)} task(s), {sweep.n_members} ensemble member(s)")
    try:
        report = run_sweep(sweep, out, workers=args.workers, scheduler=args.scheduler, retries=args.retries,
                           progress=not args.no_progress)
    except (ConnectionError, ImportError) as error:
        print(f"bioplastic sweep: error: {error}", file=sys.stderr)
        return 2
    table = report.table
    if len(table):
        last = table[table.epoch == table.groupby("task").epoch.transform("max")]
        cols = [*sweep.grid_keys, *(c for c in ("learning_rate", "seed", "train_error", "test_error", "test_accuracy", "diverged_epoch")
                                    if c in last)]
        print(last[cols].to_string(index=False))
    print(report.summary())
    return 0 if report.ok else 1


def main(argv=None):
    """Entry point of the ``bioplastic`` command."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    problem = _path_problem(args)
    if problem is not None:
        print(f"bioplastic {args.command}: error: {problem}", file=sys.stderr)
        return 2
    try:
        if args.command == "demo":
            if args.epochs < 1:
                parser.error(f"--epochs should be at least 1, was {args.epochs}")
            _print_demo(demo(out_dir=args.out, n_epochs=args.epochs, progress=not args.no_progress, quick=args.quick))
        elif args.command == "run":
            from .config import run_config

            history, paths = run_config(args.config, out_dir=args.out, progress=not args.no_progress, force=args.force)
            if history.reused_:
                print(f"{args.config}: already complete; the stored result is shown (--force recomputes it)")
            table = history.to_table()
            last = table[table.epoch == history.epochs[-1]]
            cols = [c for c in ("learning_rate", "seed", "train_error", "test_error", "test_accuracy", "diverged_epoch") if c in last]
            print(last[cols].to_string(index=False))
            print(("results in " if history.reused_ else "wrote ") + ", ".join(str(p) for p in paths))
        elif args.command == "sweep":
            return _sweep(args)
        elif args.command == "figure":
            from .figures import figures_by_study, run_figure

            if args.list or not args.name:
                for study, citation, names in figures_by_study():
                    print(f"{study}: {citation}" if citation else study)
                    print("\n".join(f"  {name}" for name in names))
                return 0
            if args.replot:
                from .figures import replot

                out = Path(args.out)
                results = out / f"{args.name}_results"
                if not (out / f"{args.name}_results.json").exists():
                    raise FileNotFoundError(f"no saved results of {args.name} in {out} (expected {results}.npz/.json); run the figure first")
                png = out / f"{args.name}.png"
                replot(args.name, results, png=png)
                print(f"redrew {png} from {results}.npz/.json")
                return 0
            summary = run_figure(args.name, quick=args.quick, out_dir=args.out, progress=not args.no_progress, workers=args.workers,
                                 scheduler=args.scheduler)
            for key, value in summary.items():
                print(f"{key}: {value}")
    except (ValueError, TypeError, FileNotFoundError, ImportError, ConnectionError) as error:
        print(f"bioplastic {args.command}: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
