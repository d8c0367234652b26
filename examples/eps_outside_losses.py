"""A loss file in the domain of the eps-outside claims (``docs/special_cases.md``, claim 8).

Three batches ``E_b = a_b . theta + lambda_b P_b(theta)`` of
:func:`bea_check.testing.variants.dominant_linear_family` (``p = 3``, seed 0): every gradient
component stays at least 0.75 away from zero on ``[-1.5, 1.5]^3``.

    bea-check order --plugin bea_check.testing.variants:methods --method adam-outside \\
        --loss-file examples/eps_outside_losses.py --eps 1e-8 --horizon 0.3
"""

from bea_check.testing.variants import dominant_linear_family

LOSSES = [loss.autograd_value for loss in dominant_linear_family(3, 3, 0)]
THETA0 = [0.1, -0.2, 0.15]
