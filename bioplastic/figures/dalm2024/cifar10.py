"""CIFAR-10: the test accuracy of every variant.

See :mod:`~bioplastic.figures.dalm2024.shared` for the conventions.
"""

from __future__ import annotations

from .. import register_figure
from .shared import cifar_task, compare_variants, plot_comparison

__all__ = ["compute_dalm_cifar10", "dalm_cifar10", "draw_dalm_cifar10"]


def _settings(quick):
    if quick:
        return {"sizes": (768, 64, 64, 10), "n_epochs": 4, "batch_size": 100, "seeds": [0]}
    return {"sizes": (3072, 1024, 1024, 1024, 10), "n_epochs": 50, "batch_size": 1000, "seeds": [0, 1, 2]}


def compute_dalm_cifar10(*, quick=False, progress=True, out_dir=None):
    """CIFAR-10 test accuracy of BP, DBP, NP, DNP, INP, DINP, ANP and DANP.

    The settings of :func:`~bioplastic.figures.dalm2024.mnist.compute_dalm_mnist`
    on the flattened images, centred on the training mean. The summary holds
    each variant's final test accuracy (mean over seeds),
    ``<variant>_test_accuracy``.

    quick: 768-64-64-10 on the first 2,000 training / 500 test images of the
    CIFAR-10 tarball in ``BIOPLASTIC_DATA_DIR`` (the offline subset),
    2x2 average-pooled to 16x16x3 = 768 inputs (a decorrelation step then
    costs about as much as one on MNIST's 784 inputs; on 3,072 inputs it
    costs 64 times more),
    batch 100, 4 epochs (80 steps), learning rate 1e-3 for every variant,
    seed 0.
    full: 3072-1024-1024-1024-10 on all the tarball holds (50,000 / 10,000
    images canonically; the offline subset has 10,000 / 2,000), batch 1,000,
    50 epochs, learning rate 1e-4 (DBP 1e-3), seeds 0, 1, 2.
    """
    return compare_variants("dalm_cifar10", "cifar10", cifar_task(quick), _settings(quick), quick=quick, progress=progress,
                            out_dir=out_dir)


def draw_dalm_cifar10(results):
    """Test-accuracy curves (mean over seeds, min-max band) and final test accuracy of every variant (CIFAR-10)."""
    return plot_comparison(results, "CIFAR-10")


dalm_cifar10 = register_figure("dalm_cifar10", compute_dalm_cifar10, draw_dalm_cifar10, paths_in_summary=True)
