"""The modified equations: the history engine and one body per field family (``fields``), the
automatic fields of the recipe (``recipe``), the full-batch closed forms (``closed_forms``) and
the large-n limit fields (``limit_fields``).

The fields layer of ``docs/architecture.md``; the package imports nothing by itself.
"""
