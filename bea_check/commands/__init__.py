"""The ``bea-check`` command line: one module per subcommand family and ``main`` (the parser
and dispatch, entry point ``bea_check.commands.main:run``).  The exit codes and argument types
they share live lower, in ``bea_check.infra.cli_common``, since the paper layer uses them too.

The cli layer of ``docs/architecture.md``; the package imports nothing by itself.
"""
