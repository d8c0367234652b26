"""Options shared by the subcommands that name methods: the method list comes from the registry.

The list is a :class:`~bea_check.infra.cli_common.Deferred` (``%(registered)s`` in a help text):
the registry, which imports the numerical libraries, is read only when a help text is printed,
so building the parser stays light (``bea-check --help`` imports no numerical library).
"""

from __future__ import annotations

from typing import Any

from ..infra.cli_common import Deferred

__all__ = ["registered_methods", "with_registered"]


def registered_methods() -> str:
    """The names of the registered methods (built-ins and entry-point plug-ins), comma-separated."""
    from ..registry.methods import METHODS

    return ", ".join(METHODS)


def with_registered(action: Any) -> Any:
    """Let ``action``'s help text name the registered methods as ``%(registered)s``."""
    action.registered = Deferred(registered_methods)
    return action
