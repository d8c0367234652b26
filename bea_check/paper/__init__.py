"""The paper's Section 5 (settling points, its figures) and the report that runs every claim.

The paper layer of ``docs/architecture.md``; the package imports nothing by itself.
"""
