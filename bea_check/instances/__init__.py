"""What a check runs on: loss functions in both precisions (``losses``) and problems, i.e. mini-
batch losses, their schedule and ``theta0``, loss files included (``problems``).

The problems layer of ``docs/architecture.md``; the package imports nothing by itself.
"""
