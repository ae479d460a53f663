"""bioplastic: biologically plausible learning in networks of rate-coded neurons.

Node perturbation: intrinsic noise perturbs neural activity, a broadcast
neuromodulator reports how much the loss changed, and three-factor synaptic
plasticity (postsynaptic noise x presynaptic rate x neuromodulator)
consolidates helpful perturbations. Synaptic scaling normalises each neuron's
incoming weights.
"""

from . import analysis, models, plasticity, tasks
from .decorrelation import LateralDecorrelation
from .homeostasis import SynapticScaling
from .losses import CrossEntropy, SquaredError, accuracy, squared_error
from .network import Network, NetworkState
from .neuromodulation import Neuromodulator
from .neurons import LeakyReLU, Population
from .online import train_online
from .optimisers import SGD, Adam, Momentum
from .plasticity import PlasticityRule, registered_rules
from .synapses import Projection
from .training import FeedbackAngle, History, NoisyUpdates, Observables, UpdateAngle, observables_table, train

try:
    from importlib.metadata import PackageNotFoundError, version

    __version__ = version("bioplastic")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0+unknown"

__all__ = [
    "Adam",
    "CrossEntropy",
    "FeedbackAngle",
    "History",
    "LateralDecorrelation",
    "LeakyReLU",
    "Network",
    "NetworkState",
    "Neuromodulator",
    "NoisyUpdates",
    "Observables",
    "Momentum",
    "PlasticityRule",
    "Population",
    "Projection",
    "SGD",
    "SquaredError",
    "SynapticScaling",
    "UpdateAngle",
    "__version__",
    "accuracy",
    "analysis",
    "models",
    "observables_table",
    "plasticity",
    "registered_rules",
    "squared_error",
    "tasks",
    "train",
    "train_online",
]

# every rule class of bioplastic.plasticity (one module per rule) is a top-level name too
for _name, _rule in registered_rules().items():
    globals()[_rule.__name__] = _rule
    if _rule.__name__ not in __all__:
        __all__.append(_rule.__name__)
del _name, _rule
