"""The ``patchdesk`` command line (see :mod:`app.cli.main`); one module per command group."""

from app.cli.main import build_parser, main

__all__ = ["build_parser", "main"]
