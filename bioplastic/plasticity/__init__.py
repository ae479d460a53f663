"""Plasticity rules, one module per family.

=====================  ========  ===========================================
rule                   signal    module
=====================  ========  ===========================================
``NodePerturbation``   scalar    :mod:`~bioplastic.plasticity.node_perturbation`
``Backprop``           vector    :mod:`~bioplastic.plasticity.backprop`
``Reinforce``          vector    :mod:`~bioplastic.plasticity.reinforce` (scalar at the readout)
=====================  ========  ===========================================

``signal`` says what reaches a synapse besides its own pre- and postsynaptic
activity: one broadcast scalar (a neuromodulator) or a per-neuron error
vector.
"""

from .backprop import Backprop
from .base import SIGNALS, PlasticityRule, Updates
from .node_perturbation import NodePerturbation
from .reinforce import Reinforce

__all__ = ["SIGNALS", "Backprop", "NodePerturbation", "PlasticityRule", "Reinforce", "Updates", "get_rule", "RULES"]

RULES = {"node_perturbation": NodePerturbation, "np": NodePerturbation, "backprop": Backprop, "sgd": Backprop}
RULES["reinforce"] = Reinforce


def get_rule(name, **params):
    """Build a rule from its name (``"node_perturbation"``/``"np"``, ``"backprop"``/``"sgd"``) and parameters."""
    from .._validation import check_choice

    if isinstance(name, PlasticityRule):
        return name
    if not isinstance(name, str):
        raise TypeError(f"rule should be a name or a PlasticityRule, got {name!r}")
    key = check_choice(name, "rule", tuple(RULES))
    return RULES[key](**params)
