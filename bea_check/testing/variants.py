"""RMSProp and Adam with eps outside the root, gathered: the optimizers, fields and domain of
:mod:`bea_check.registry.outside`, the instance strategy of
:mod:`bea_check.testing.variants_instances`, and the registered methods (``docs/eps_outside.md``).

Importing this module imports Hypothesis (the strategy); the registry does not need it.
"""

from __future__ import annotations

from ..registry.methods import Method, get_method
from ..registry.outside import (
    BIAS_CORRECTED,
    BOX,
    DECAY_GAP,
    DECAY_MIN,
    DELTA,
    LINEAR_RANGE,
    MARGIN,
    THETA0_BOX,
    AdamOutside,
    AdamOutsideField,
    RMSPropOutside,
    RMSPropOutsideField,
    adam_outside_form,
    dominant_linear_family,
    gradient_margin,
    hyperparameter_domain,
    max_horizon_for,
    rmsprop_outside_form,
    speed_bound,
)
from .variants_instances import instances

__all__ = [
    "BIAS_CORRECTED",
    "BOX",
    "DECAY_GAP",
    "DECAY_MIN",
    "DELTA",
    "LINEAR_RANGE",
    "MARGIN",
    "THETA0_BOX",
    "AdamOutside",
    "AdamOutsideField",
    "RMSPropOutside",
    "RMSPropOutsideField",
    "adam_outside_form",
    "dominant_linear_family",
    "gradient_margin",
    "hyperparameter_domain",
    "instances",
    "max_horizon_for",
    "methods",
    "rmsprop_outside_form",
    "speed_bound",
]

NAMES = ("rmsprop-outside", "adam-outside")
"""The eps-outside methods of the registry (built in :mod:`bea_check.testing.builtin`)."""


def methods() -> list[Method]:
    """The registered ``rmsprop-outside`` and ``adam-outside`` (the same objects as the registry's,
    so that registering them again, ``--plugin bea_check.testing.variants:methods``, is a no-op)."""
    return [get_method(name) for name in NAMES]
