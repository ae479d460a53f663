"""Engines that run network descriptions.

* :mod:`bioplastic.engines.numpy` (default): discrete time, minibatches,
  ensembles; runs everything in the papers.
* :mod:`bioplastic.engines.brian2`: continuous-time rate populations in
  Brian2 (imported lazily).
"""

__all__ = ["brian2", "numpy"]
