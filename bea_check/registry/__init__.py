"""Methods, the unit a check names: the registry (``methods``) and the methods that use the public
extension surface only (``outside``, ``extra_methods``).

The methods layer of ``docs/architecture.md``; the package imports nothing by itself.
"""
