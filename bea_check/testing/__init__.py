"""Claims as property-based tests: strategies, variants, the built-in methods, the check catalogue,
``verify``, the mutation report and the pytest plugin.

The testing layer of ``docs/architecture.md``; the package imports nothing by itself.
"""
