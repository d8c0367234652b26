"""mkdocs hook: the CLI reference (docs/cli.md) is the real parser's ``--help`` of every subcommand.

``<!-- bea-check --help -->`` in a page is replaced by ``bea-check --help`` and the help of each
subcommand, so the reference cannot drift from the code.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

MARKER = "<!-- bea-check --help -->"


def _help_texts() -> list[tuple[str, str]]:
    from bea_check.commands.main import build_parser

    os.environ["COLUMNS"] = "100"  # a stable width for argparse's wrapping
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return [("bea-check", parser.format_help())] + [
        (f"bea-check {name}", p.format_help()) for name, p in sub.choices.items()
    ]


def on_page_markdown(markdown: str, page: Any, **kwargs: Any) -> str:
    if MARKER not in markdown:
        return markdown
    parts = [f"## `{name}`\n\n```text\n{text.rstrip()}\n```\n" for name, text in _help_texts()]
    return markdown.replace(MARKER, "\n".join(parts))
