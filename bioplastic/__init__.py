"""bioplastic: biologically plausible learning in networks of rate-coded neurons.

Node perturbation: intrinsic noise perturbs neural activity, a broadcast
neuromodulator reports how much the loss changed, and three-factor synaptic
plasticity (postsynaptic noise x presynaptic rate x neuromodulator)
consolidates helpful perturbations. Synaptic scaling normalises each neuron's
incoming weights.
"""

from . import analysis, models, tasks
from .homeostasis import SynapticScaling
from .losses import CrossEntropy, SquaredError, accuracy, squared_error
from .network import Network, NetworkState
from .neuromodulation import Neuromodulator
from .neurons import Population
from .online import train_online
from .plasticity import Backprop, NodePerturbation, PlasticityRule, Reinforce
from .synapses import Projection
from .training import History, train

try:
    from importlib.metadata import PackageNotFoundError, version

    __version__ = version("bioplastic")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0+unknown"

__all__ = [
    "Backprop",
    "CrossEntropy",
    "History",
    "Network",
    "NetworkState",
    "Neuromodulator",
    "NodePerturbation",
    "PlasticityRule",
    "Reinforce",
    "Population",
    "Projection",
    "SquaredError",
    "SynapticScaling",
    "__version__",
    "accuracy",
    "analysis",
    "models",
    "squared_error",
    "tasks",
    "train",
    "train_online",
]
