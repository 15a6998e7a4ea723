"""Methods by name. Each lives in its own module; adding one means adding a file and a line here."""

from __future__ import annotations

import importlib

# config name -> "module:Class"
REGISTRY = {
    "uniform": "uniform:Uniform",
    "biased": "biased:Biased",
    "uniform_replacement": "uniform_replacement:UniformReplacement",
    "p_sgd": "p_sgd:PSGD",
    "c_sgd": "c_sgd:CSGD",
    "unif_sgd": "unif_sgd:UnifSGD",
    "selective_backprop": "selective_backprop:SelectiveBackprop",
    "upper_bound_is": "upper_bound_is:UpperBoundIS",
    "loss_rank": "loss_rank:LossRank",
    "infobatch": "infobatch:InfoBatch",
    "el2n_prune": "el2n_prune:EL2NPrune",
    "el2n_inrun": "el2n_inrun:EL2NInRun",
    "rho_loss": "rho_loss:RhoLoss",
    "class_balanced": "class_balanced:ClassBalanced",
    "sqrt_sampling": "sqrt_sampling:SqrtSampling",
    "progressive_balanced": "progressive_balanced:ProgressiveBalanced",
    "cb_loss": "cb_loss:ClassBalancedLoss",
    "logit_adjust": "logit_adjust:LogitAdjust",
    "class_matched": "class_matched:ClassMatched",
}


def names() -> list[str]:
    return list(REGISTRY)


def method_class(name: str):
    if name not in REGISTRY:
        raise ValueError(f"unknown method {name!r}; valid: {', '.join(REGISTRY)}")
    module, cls = REGISTRY[name].split(":")
    return getattr(importlib.import_module(f"{__name__}.{module}"), cls)
