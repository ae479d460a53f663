"""Training: the one loop (:mod:`.loop`), minibatch training (:func:`train`), records (:class:`History`),
callbacks (extra records, :mod:`.callbacks`; observables recorders, :mod:`.observables`), noisy updates (:mod:`.noisy_updates`), checkpoints,
divergence handling, the ensemble grid, and training until a target (:mod:`.search`)."""

from .callbacks import Callback, FeedbackAngle, UpdateAngle
from .checkpoints import CheckpointMismatchError, load_checkpoint, save_checkpoint
from .divergence import diverging_members
from .ensemble import ensemble_grid
from .history import History
from .loop import RunRecords, run_ensemble
from .noisy_updates import NoisyUpdates
from .observables import Observables, observables_table
from .search import search_minimum_training_time, train_until
from .supervised import train

#: former private name, kept for callers that caught it
_CheckpointMismatchError = CheckpointMismatchError

__all__ = ["Callback", "CheckpointMismatchError", "FeedbackAngle", "History", "NoisyUpdates", "Observables", "RunRecords", "UpdateAngle",
           "diverging_members", "ensemble_grid", "load_checkpoint", "observables_table", "run_ensemble",
           "save_checkpoint", "search_minimum_training_time", "train", "train_until"]
