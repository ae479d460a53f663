"""Benchmark: the quick rule-identification data set, generated in ensembles vs one run at a time.

The quick design (:func:`bioplastic.identify.generation.quick_design`: 8
rule classes x 2 architectures x 2 batch sizes x 2 learning rates x 2 seeds
= 128 runs of 20 epochs on a student-teacher task, observables recorded at
21 time points under 2 measurement conditions) is generated serially in this
process, into fresh folders, twice: with its ensembles (the default
``max_members``: every ensemble of 4 members is one task, one vectorised
computation) and one run at a time (``max_members=1``: 128 tasks of one
member). Both do the same work (the same runs, recorded the same way:
members reproduce solo runs to rounding, the largest difference of the two
data sets is printed) and both include what generation costs besides
training (storing every task, loading the tables). Interleaved, best of
``--repeats`` rounds. Printed: both times and runs per second, and last
``ratio one-at-a-time/ensemble = X``.

    python benchmarks/identify_generate.py [--quick] [--repeats N]

``--quick``: 2 rule classes, 3 time points (a smoke test, one round).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path


def make_design(*, quick, max_members):
    from bioplastic.identify.generation import quick_design
    from bioplastic.sweeps import DEFAULT_MAX_MEMBERS

    settings = {"max_members": DEFAULT_MAX_MEMBERS if max_members is None else max_members}
    if quick:
        settings.update(rule_classes=["sgd", "node_perturbation"], n_time_points=3, batch_sizes=[20])
    return quick_design(**settings)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 rule classes, 3 time points, one round (a smoke test)")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved rounds; the best time of each is kept (default: 3)")
    args = parser.parse_args(argv)

    import numpy as np

    from bioplastic._threads import blas_description, usable_cpus
    from bioplastic.identify.generation import generate_dataset

    designs = {"ensemble": make_design(quick=args.quick, max_members=None), "one at a time": make_design(quick=args.quick, max_members=1)}
    repeats = 1 if args.quick else args.repeats
    best = {mode: float("inf") for mode in designs}
    tables = {}
    with tempfile.TemporaryDirectory() as tmp:
        generate_dataset(make_design(quick=True, max_members=None), Path(tmp) / "warm-up", progress=False)  # imports, caches
        for round_ in range(repeats):
            for mode, design in designs.items():
                out = Path(tmp) / f"{mode.replace(' ', '-')}{round_}"
                start = time.perf_counter()
                tables[mode] = generate_dataset(design, out, progress=False)
                best[mode] = min(best[mode], time.perf_counter() - start)
    ensemble, solo = tables["ensemble"], tables["one at a time"]
    key = ["rule_class", "architecture", "batch_size", "learning_rate", "seed", "condition", "time_point", "layer", "observable"]
    ensemble, solo = (t.sort_values(key).reset_index(drop=True) for t in (ensemble, solo))
    same_rows = ensemble[key].equals(solo[key])
    a, b = ensemble["value"].to_numpy(), solo["value"].to_numpy()
    finite = np.isfinite(a) & np.isfinite(b)
    scale = np.maximum(np.abs(a[finite]), 1e-12)
    difference = float(np.max(np.abs(a[finite] - b[finite]) / scale)) if finite.any() else 0.0

    design = designs["ensemble"]
    n_runs = design.n_runs
    n_lrs = max(len(rates) for rates in design.learning_rates.values())
    blas, _ = blas_description()
    print(f"design: {n_runs} runs ({len(design.sweeps)} rule classes x {len(design.architectures)} architectures x "
          f"{len(design.batch_sizes)} batch size(s) x {n_lrs} learning rates x {len(design.seeds)} seeds), {design.n_epochs} epochs, "
          f"{design.n_time_points} time points, {len(design.conditions)} conditions; {len(ensemble)} rows; {usable_cpus()} usable CPU(s); {blas}")
    print(f"in ensembles ({len(design.tasks)} tasks):        {best['ensemble']:8.3f} s  ({n_runs / best['ensemble']:6.1f} runs/s)")
    print(f"one at a time ({len(designs['one at a time'].tasks)} tasks):     {best['one at a time']:8.3f} s  "
          f"({n_runs / best['one at a time']:6.1f} runs/s)")
    print(f"same rows: {'yes' if same_rows else 'NO'}; largest relative difference of the values, ensemble vs one at a time: "
          f"{difference:.1e} (members reproduce solo runs to rounding)")
    ratio = best["one at a time"] / best["ensemble"]
    print(f"ratio one-at-a-time/ensemble = {ratio:.2f}")
    return ratio


if __name__ == "__main__":
    main()
