"""Plasticity rules, one module per rule.

=============================  ========  =====  ===============================================
rule                           signal    local  module
=============================  ========  =====  ===============================================
``NodePerturbation``           scalar    yes    :mod:`~bioplastic.plasticity.node_perturbation`
``IterativeNodePerturbation``  scalar    yes    :mod:`~bioplastic.plasticity.iterative_node_perturbation`
``ActivityNodePerturbation``   scalar    yes    :mod:`~bioplastic.plasticity.activity_node_perturbation`
``Backprop``                   vector    no     :mod:`~bioplastic.plasticity.backprop`
``Reinforce``                  vector    no     :mod:`~bioplastic.plasticity.reinforce` (scalar at the readout)
``FeedbackAlignment``          feedback  no     :mod:`~bioplastic.plasticity.feedback_alignment`
``DirectFeedbackAlignment``    feedback  no     :mod:`~bioplastic.plasticity.feedback_alignment`
``SignSymmetry``               feedback  no     :mod:`~bioplastic.plasticity.sign_symmetry`
``KolenPollack``               feedback  no     :mod:`~bioplastic.plasticity.kolen_pollack`
``SymmetricAlignment``         feedback  no     :mod:`~bioplastic.plasticity.alignment`
``ActivationAlignment``        feedback  no     :mod:`~bioplastic.plasticity.alignment`
``WeightMirror``               feedback  no     :mod:`~bioplastic.plasticity.alignment`
``InformationAlignment``       feedback  no     :mod:`~bioplastic.plasticity.alignment`
=============================  ========  =====  ===============================================

``signal`` says what reaches a synapse besides its own pre- and postsynaptic
activity: one broadcast scalar (a neuromodulator), a per-neuron error vector
carried back through the forward weights, or one carried back through a
feedback pathway. The decorrelated variants of Dalm et al. (DBP, DNP, DINP,
DANP) are these rules in a network with a
:class:`~bioplastic.decorrelation.LateralDecorrelation`.
:func:`registered_rules` lists every registered rule. The contract every rule follows is in
:mod:`~bioplastic.plasticity.base`. Every module of this package is imported
here, so its rules register themselves; a rule defined elsewhere registers
when its module is imported.
"""

import importlib
import pkgutil

from .base import RULES, SIGNALS, Directions, NoiseNeeds, PlasticityRule, Updates, get_rule, registered_rules

__all__ = ["RULES", "SIGNALS", "Directions", "NoiseNeeds", "PlasticityRule", "Updates", "get_rule", "registered_rules"]

# import every rule module (one module per rule) and export its public names
for _module in pkgutil.iter_modules(__path__):
    if _module.name != "base" and not _module.name.startswith("_"):
        _mod = importlib.import_module(f"{__name__}.{_module.name}")
        for _name in getattr(_mod, "__all__", ()):
            globals()[_name] = getattr(_mod, _name)
            if _name not in __all__:
                __all__.append(_name)
del _module, _mod, _name
