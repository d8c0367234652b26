"""Plumbing below the mathematics: atomic output files (``outfiles``), the process pool that
runs Hypothesis tasks for ``verify`` and ``mutations`` (``runner``), and the exit codes and
argument types of the command line (``cli_common``).

The foundation layer of ``docs/architecture.md``; the package imports nothing by itself.
"""
