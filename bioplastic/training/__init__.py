"""Training: the one loop (:mod:`.loop`), minibatch training (:func:`train`), records (:class:`History`),
checkpoints, divergence handling, the ensemble grid, and training until a target (:mod:`.search`)."""

from .checkpoints import CheckpointMismatchError, load_checkpoint, save_checkpoint
from .divergence import diverging_members
from .ensemble import ensemble_grid
from .history import History
from .loop import RunRecords, run_ensemble
from .search import search_minimum_training_time, train_until
from .supervised import train

#: former private name, kept for callers that caught it
_CheckpointMismatchError = CheckpointMismatchError

__all__ = ["CheckpointMismatchError", "History", "RunRecords", "diverging_members", "ensemble_grid", "load_checkpoint", "run_ensemble",
           "save_checkpoint", "search_minimum_training_time", "train", "train_until"]
