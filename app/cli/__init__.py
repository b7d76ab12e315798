"""The ``patchdesk`` command line (see :mod:`app.cli.entry`); one module per command group."""

from app.cli.entry import build_parser, main

__all__ = ["build_parser", "main"]
