"""From runs to verdicts: order studies and their rules (``study``), the checks (``checks``), per-
step defects, automatic fields checked pointwise, the large-n limits, Remark 3.4, Section 7's
constant, Ghosh et al., Smith et al., and the convergence plot.

The analysis layer of ``docs/architecture.md``; the package imports nothing by itself.
"""
