"""NP on CIFAR-10 in a convolutional network (Fig. S5): weight regularisation and synaptic scaling; BP, FA, SA, ANP and DANP beside it.

Conventions (the sizes and numbers are chosen here, not taken from the paper;
each run stores them with its results):

* task: :class:`~bioplastic.tasks.Cifar10Task`, standardised per channel
  with the training set's mean and std; quick mode reads the first 1,000
  training and 500 test images of the tarball in ``BIOPLASTIC_DATA_DIR``
  (offline: the JPEG-lossy subset, which the results' task description
  says), full mode all of it with random crops and flips;
* networks: :func:`~bioplastic.models.cnn` with ReLU feature maps, average
  pooling and a softmax readout, cross-entropy loss, the learning rate
  divided by the batch size (``batch_reduction="mean"``), float32;
  quick: conv 3->8 5x5, pool 2, conv 8->16 5x5, pool 2, readout 10
  (3072-1568-400-10); full: conv 3->32 5x5 (padding 2), pool 2, conv
  32->64 5x5 (padding 2), pool 2, readout 10 (3072-8192-4096-10);
* Fig. S5: SGD (backprop) and NP (``sigma = 1e-4``) with plain
  :class:`~bioplastic.optimisers.SGD`, NP with weight decay
  (``SGD(weight_decay=lambda)``: ``W <- W - eta (g + lambda W)``, the
  weights only, not the biases) and NP
  with synaptic scaling of every layer (each output channel's kernel and
  each readout neuron's weights held at their initial RMS);
* the companion figure: backprop, feedback alignment, sign symmetry (SA,
  ``B = sign(W)`` kernel by kernel, uniform magnitude), activity-based NP
  (ANP, ``sigma = 1e-3``) and decorrelated ANP (DANP, Dalm et al. 2024) with
  Adam (learning rate 1e-3), the setting in which Dalm et al. compare the NP
  family. A lateral decorrelation of a convolution's input (its patches) is
  refused, so DANP decorrelates the input of the dense readout only
  (``LateralDecorrelation(eta=1e-3, layers=(2,))``, the flattened feature
  maps of the last convolution).
"""

from __future__ import annotations

import numpy as np

from ...decorrelation import LateralDecorrelation
from ...homeostasis import SynapticScaling
from ...models import cnn
from ...network import Network
from ...optimisers import SGD, Adam
from ...plasticity import ActivityNodePerturbation, Backprop, FeedbackAlignment, NodePerturbation, SignSymmetry
from ...plotting import EPOCH_LABEL
from .. import register_figure
from .._data import cifar10_subset
from .._drawing import new_figure
from . import _style as style
from .nonlinear_setup import curve_arrays, nonlinear_results, plot_curves, task_config, train_run

__all__ = [
    "CONDITIONS",
    "DANP_DECORRELATION",
    "RULES",
    "cifar10_net",
    "cifar10_task",
    "compute_figS5",
    "compute_figS5_rules",
    "draw_figS5",
    "draw_figS5_rules",
    "figS5",
    "figS5_rules",
    "settings",
]

#: perturbation amplitude of NP in Fig. S5 (the study's, as on SARCOS and MNIST)
SIGMA = 1e-4
#: perturbation amplitude of ANP in the companion figure (Dalm et al.'s)
ANP_SIGMA = 1e-3
#: the conditions of Fig. S5: legend and colour
CONDITIONS = {"sgd": ("SGD", "C0"), "np": ("NP", "C1"), "np_wd": ("NP + weight decay", "C3"),
              "np_scaling": ("NP + synaptic scaling", "C2")}
#: the rules of the companion figure: legend and colour
RULES = {"bp": ("BP", "k"), "fa": ("FA", "C4"), "sa": ("SA", "C2"), "anp": ("ANP", "C0"), "danp": ("DANP", "C1")}
#: DANP's decorrelation: the readout's input only (projection 2; a convolution's input is refused)
DANP_DECORRELATION = {"eta": 1e-3, "layers": (2,)}
#: chance level of 10 balanced classes
CHANCE = 0.1

_TEST_ACCURACY = "test accuracy (fraction correct)"
#: how a figure's subtitle names the tarball its images came from (the task's ``provenance``)
_SOURCES = {"canonical": "canonical tarball", "lossy_subset": "offline JPEG-lossy subset", "local": "local non-canonical tarball"}


def settings(quick):
    """The sizes, learning rates and schedule of a quick or full run (stored in the results)."""
    if quick:
        return {
            "conv_layers": [dict(out_channels=8, kernel_size=5, pool=2), dict(out_channels=16, kernel_size=5, pool=2)],
            "n_train": 1000, "n_test": 500, "augment": False, "eval_train_size": 500, "batch_size": 20, "seeds": [0],
            "n_epochs": {"sgd": 5, "np": 5, "np_wd": 5, "np_scaling": 5, "bp": 5, "fa": 5, "sa": 5, "anp": 5, "danp": 5},
            # NP's rate is one at which its weight norm expands within the run; lambda acts within it (eta lambda x 250 steps)
            "learning_rates": {"sgd": 0.03, "np": 3e-3, "np_wd": 3e-3, "np_scaling": 3e-3, "bp": 1e-3, "fa": 1e-3, "sa": 1e-3, "anp": 1e-3,
                               "danp": 1e-3},
            "weight_decay": 1.0,
        }
    return {
        "conv_layers": [dict(out_channels=32, kernel_size=5, padding=2, pool=2),
                        dict(out_channels=64, kernel_size=5, padding=2, pool=2)],
        "n_train": None, "n_test": None, "augment": True, "eval_train_size": 10000, "batch_size": 100, "seeds": [0, 1, 2],
        "n_epochs": {"sgd": 300, "np": 3000, "np_wd": 3000, "np_scaling": 3000, "bp": 300, "fa": 300, "sa": 300, "anp": 3000, "danp": 3000},
        "learning_rates": {"sgd": 0.01, "np": 1e-3, "np_wd": 1e-3, "np_scaling": 1e-3, "bp": 1e-4, "fa": 1e-4, "sa": 1e-4, "anp": 1e-4,
                           "danp": 1e-4},
        "weight_decay": 1e-2,
    }


def cifar10_task(quick):
    """CIFAR-10 of a quick (first 1,000 training / 500 test images) or full (all, random crops and flips) run."""
    cfg = settings(quick)
    return cifar10_subset(cfg["n_train"], cfg["n_test"], augment=cfg["augment"], eval_train_size=cfg["eval_train_size"])


def cifar10_net(quick, *, decorrelation=None):
    """The convolutional network of a quick or full run (ReLU feature maps, average pooling, softmax readout), optionally decorrelated."""
    net = cnn((3, 32, 32), settings(quick)["conv_layers"], 10, readout="softmax")
    return net if decorrelation is None else Network(net.populations, projections=net.projections, decorrelation=decorrelation)


def _norms(history):
    """Total Frobenius norm of the weights, ``sqrt(sum_k ||W_k||^2)``, per member and record."""
    norms = np.asarray(history.records["weight_norms"], dtype=float)
    return np.sqrt(np.sum(norms**2, axis=2))


def _mean_final(values):
    """Mean over the members of the last record, NaN if none is finite."""
    last = np.asarray(values, dtype=float)[:, -1]
    return float(np.mean(last[np.isfinite(last)])) if np.isfinite(last).any() else float("nan")


def _run(out_dir, key, rule, task, cfg, label, *, progress, optimiser=None, homeostasis=None, decorrelation=None):
    """Train ``rule`` under ``cfg``'s settings for condition ``label`` (History kept as ``out_dir/<key>``, checkpointed)."""
    return train_run(out_dir, key, cifar10_net(cfg["quick"], decorrelation=decorrelation), rule, task, n_epochs=cfg["n_epochs"][label],
                     learning_rate=cfg["learning_rates"][label], seeds=cfg["seeds"], progress=progress,
                     batch_size=cfg["batch_size"], loss="cross_entropy", dtype="float32", optimiser=optimiser,
                     homeostasis=homeostasis)


def _curves(label, history):
    arrays = curve_arrays(label, history, "test_accuracy")
    arrays[f"{label}_norm"] = _norms(history)
    return arrays


def _summary(label, arrays, history):
    norm = arrays[f"{label}_norm"]
    accuracy = arrays[f"{label}_test_accuracy"]
    with np.errstate(invalid="ignore"):
        best = float(np.nanmax(np.nanmean(np.where(np.isfinite(accuracy), accuracy, np.nan), axis=0)))
    return {f"{label}_final_test_accuracy": _mean_final(accuracy), f"{label}_max_test_accuracy": best,
            f"{label}_initial_weight_norm": float(np.mean(norm[:, 0])), f"{label}_final_weight_norm": _mean_final(norm),
            f"{label}_weight_norm_growth": _mean_final(norm) / float(np.mean(norm[:, 0])),
            f"{label}_diverged_fraction": float(np.mean(history.diverged))}


def compute_figS5(*, quick=False, progress=True, out_dir=None):
    """Fig. S5: a CIFAR-10 CNN trained by SGD and by NP, NP with weight decay and NP with synaptic scaling.

    The paper's finding: without regularisation NP's weights expand and its
    accuracy decays; weight regularisation keeps NP stable, but after
    thousands of epochs its test accuracy stays below 50% (SGD's is far
    above). Each condition is one training run (cross-entropy, batch
    ``batch_size``, learning rate divided by the batch size, float32); the
    summary gives each one's final and best test accuracy, its initial and
    final weight norm (Frobenius, all layers) and their ratio.

    quick: the first 1,000 training / 500 test images of the tarball in
    ``BIOPLASTIC_DATA_DIR`` (offline: the JPEG-lossy subset), the CNN
    3072-1568-400-10 (conv 8 and 16 channels, 5x5, pool 2), batch 20, 5
    epochs, SGD learning rate 0.03, NP 3e-3 (``sigma = 1e-4``), weight
    decay ``lambda = 1`` (``eta lambda = 3e-3`` per step), seed 0.
    full: all of the tarball with random crops and flips, the CNN
    3072-8192-4096-10 (conv 32 and 64 channels, 5x5, padding 2, pool 2),
    batch 100, SGD 300 epochs at 0.01, NP 3,000 epochs at 1e-3, weight
    decay ``lambda = 1e-2``, seeds 0, 1, 2 (days on a CPU; checkpointed).
    """
    cfg = {**settings(quick), "quick": bool(quick)}
    task = cifar10_task(quick)
    np_rule = NodePerturbation(sigma=SIGMA, batch_reduction="mean")
    runs = {
        "sgd": dict(rule=Backprop(batch_reduction="mean")),
        "np": dict(rule=np_rule),
        "np_wd": dict(rule=np_rule, optimiser=SGD(weight_decay=cfg["weight_decay"])),
        "np_scaling": dict(rule=np_rule, homeostasis=SynapticScaling(layers="all")),
    }
    arrays, summary = {}, {"weight_decay": cfg["weight_decay"], "learning_rates": {k: cfg["learning_rates"][k] for k in runs}}
    optimisers = {label: run.get("optimiser", SGD()).describe() for label, run in runs.items()}
    for label, run in runs.items():
        history = _run(out_dir, f"figS5_{label}{'_quick' if quick else ''}", run.pop("rule"), task, cfg, label, progress=progress,
                       **run)
        arrays.update(_curves(label, history))
        summary.update(_summary(label, arrays, history))
    config = {"task": task_config(task), **{k: v for k, v in cfg.items() if k != "quick"}, "sigma": SIGMA,
              "loss": "cross_entropy", "batch_reduction": "mean", "dtype": "float32", "optimisers": optimisers,
              "scaling": SynapticScaling(layers="all").describe()}
    return nonlinear_results("figS5", quick, config, arrays, summary)


def _mode(results):
    return "quick run" if results.metadata.get("quick") else "paper-scale run"


def _network_text(config):
    layers = ", ".join(f"conv {c['out_channels']} {c['kernel_size']}x{c['kernel_size']}" + (f" pool {c['pool']}" if c.get("pool") else "")
                       for c in config["conv_layers"])
    task = config["task"]
    source = _SOURCES.get(task.get("provenance"), "source not stated")
    return f"CIFAR-10 ({task['n_train']:,} / {task['n_test']:,} images, {source}), {layers}, readout 10"


def _reference_lines(ax):
    ax.axhline(CHANCE, color="0.6", linewidth=0.7, linestyle=":", label="chance")
    ax.axhline(0.5, color="0.4", linewidth=0.7, linestyle="--", label="50%")


def draw_figS5(results):
    """Fig. S5: test accuracy (left) and weight norm (right) of each condition (mean over seeds, band: min-max)."""
    arrays, config = results.arrays, results.metadata["config"]
    fig, (acc, norm) = new_figure(2, width=5.2, height=4.0)
    for label, (name, color) in CONDITIONS.items():
        plot_curves(acc, arrays, label, "test_accuracy", label=name, logy=False, colors=[color])
        plot_curves(norm, arrays, label, "norm", label=name, logy=False, colors=[color])
    _reference_lines(acc)
    acc.set_ylim(0, 1)
    acc.set_ylabel(_TEST_ACCURACY)
    acc.set_title("test accuracy (dotted: chance, dashed: 50%)", fontsize=9)
    acc.legend(fontsize="x-small")
    norm.set_xlabel(EPOCH_LABEL)
    norm.set_ylabel(style.WEIGHT_NORM)
    norm.set_title("weight norm", fontsize=9)
    style.title(fig, "Fig. S5", "weight regularisation stabilises NP on CIFAR-10, accuracy stays low",
                f"{_network_text(config)}; NP sigma={config['sigma']:g}, weight decay lambda={config['weight_decay']:g}, "
                f"batch {config['batch_size']}, {len(config['seeds'])} seed(s); {_mode(results)}")
    return fig


figS5 = register_figure("figS5", compute_figS5, draw_figS5, paths_in_summary=True)


def compute_figS5_rules(*, quick=False, progress=True, out_dir=None):
    """Fig. S5 companion (not in the paper): BP, FA, SA, ANP and DANP train the CNN of Fig. S5 on CIFAR-10.

    Backprop (BP), feedback alignment (FA, a fixed random feedback kernel
    per convolution), sign symmetry (SA, the feedback kernel ``sign(W)``),
    activity-based node perturbation (ANP, ``sigma = 1e-3``, Gaussian noise)
    and decorrelated ANP (DANP: ANP with a lateral decorrelation of the
    readout's input; a convolution's input is not decorrelated) with Adam,
    cross-entropy. The summary gives each rule's final and best test
    accuracy.

    quick: the task and network of Fig. S5's quick mode, batch 20, Adam at
    1e-3, 5 epochs, seed 0.
    full: Fig. S5's full task and network, batch 100, Adam at 1e-4, BP, FA
    and SA 300 epochs, ANP and DANP 3,000, seeds 0, 1, 2.
    """
    cfg = {**settings(quick), "quick": bool(quick)}
    task = cifar10_task(quick)
    anp = ActivityNodePerturbation(sigma=ANP_SIGMA, noise="gaussian")
    rules = {"bp": Backprop(), "fa": FeedbackAlignment(), "sa": SignSymmetry(), "anp": anp, "danp": anp}
    arrays, summary = {}, {"learning_rates": {k: cfg["learning_rates"][k] for k in rules}}
    for label, rule in rules.items():
        decorrelation = LateralDecorrelation(**DANP_DECORRELATION) if label == "danp" else None
        history = _run(out_dir, f"figS5_rules_{label}{'_quick' if quick else ''}", rule, task, cfg, label, progress=progress,
                       optimiser=Adam(), decorrelation=decorrelation)
        arrays.update(_curves(label, history))
        summary.update(_summary(label, arrays, history))
    config = {"task": task_config(task), **{k: v for k, v in cfg.items() if k not in ("quick", "weight_decay")},
              "sigma": ANP_SIGMA, "loss": "cross_entropy", "dtype": "float32", "optimiser": "adam",
              "danp_decorrelation": dict(DANP_DECORRELATION)}
    return nonlinear_results("figS5_rules", quick, config, arrays, summary)


def draw_figS5_rules(results):
    """Test accuracy of BP, FA, SA, ANP and DANP against epochs (mean over seeds, band: min-max) and after the last epoch."""
    arrays, config, summary = results.arrays, results.metadata["config"], results.summary
    fig, (acc, bars) = new_figure(2, width=4.8, height=3.8)
    for label, (name, color) in RULES.items():
        plot_curves(acc, arrays, label, "test_accuracy", label=name, logy=False, colors=[color])
    _reference_lines(acc)
    acc.set_ylim(0, 1)
    acc.set_ylabel(_TEST_ACCURACY)
    acc.set_title("learning curves", fontsize=9)
    acc.legend(fontsize="x-small")
    finals = [summary[f"{label}_final_test_accuracy"] for label in RULES]
    x = np.arange(len(RULES))
    bars.bar(x, np.nan_to_num(finals), color=[color for _, color in RULES.values()], edgecolor="k", linewidth=0.4, alpha=0.8)
    for i, value in enumerate(finals):
        if np.isfinite(value):
            bars.text(i, value + 0.01, f"{value:.2f}", ha="center", va="bottom", fontsize="x-small")
    bars.axhline(CHANCE, color="0.6", linewidth=0.7, linestyle=":")
    bars.set_xticks(x, [name for name, _ in RULES.values()])
    bars.set_ylim(0, 1)
    bars.set_xlabel("learning rule (Adam)")
    bars.set_ylabel("final test accuracy (fraction correct)")
    bars.set_title("after the last epoch, mean over seeds", fontsize=9)
    style.title(fig, "Fig. S5 companion", "BP, FA, SA, ANP and DANP train the CNN on CIFAR-10 (not in the paper)",
                f"{_network_text(config)}; Adam, ANP sigma={config['sigma']:g}, batch {config['batch_size']}, "
                f"{len(config['seeds'])} seed(s); {_mode(results)}")
    return fig


figS5_rules = register_figure("figS5_rules", compute_figS5_rules, draw_figS5_rules, paths_in_summary=True)
