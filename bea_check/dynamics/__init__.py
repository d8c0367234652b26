"""The discrete and the continuous side: the optimizer maps (``optimizers``) and the piecewise ODE
solver with its error estimate (``solve``).

The dynamics layer of ``docs/architecture.md``; the package imports nothing by itself.
"""
