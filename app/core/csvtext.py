"""CSV as text, with the spreadsheet-formula guard every CSV the product writes goes through.

A cell a spreadsheet would run as a formula (it starts with ``=``, ``+``, ``-``, ``@``, a
TAB or a CR: OWASP "CSV injection") is written behind a ``'``, which spreadsheets show as
text. Host names, package names, details and notes come from hosts and people; none of them
may become a live formula in an exported file. Reading a CSV back strips the guard again.

Pure string building: the files are written by :mod:`app.files`.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

#: The first characters that make a spreadsheet evaluate a cell.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> str:
    """One cell's text (None is empty), kept as text when it would start a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def unguard_cell(text: str) -> str:
    """A cell read back from a CSV this product wrote: the formula guard removed."""
    if text.startswith("'") and text[1:].startswith(FORMULA_START):
        return text[1:]
    return text


def flat_cell(value: Any) -> Any:
    """A record value as one cell: lists as space-separated words, mappings as JSON."""
    if isinstance(value, list | tuple):
        return " ".join(str(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True, ensure_ascii=False)
    return value


def csv_text(header: Sequence[str], rows: Iterable[Iterable[Any]], *,
             lineterminator: str = "\r\n") -> str:
    """A header row and data rows as CSV text, every cell through :func:`safe_cell`."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator=lineterminator)
    writer.writerow([safe_cell(h) for h in header])
    for row in rows:
        writer.writerow([safe_cell(v) for v in row])
    return out.getvalue()


def records_csv(columns: Sequence[str], records: Iterable[Mapping[str, Any]]) -> str:
    """Records (missing keys empty, extra keys ignored) as CSV text with a header row;
    lists and mappings are flattened with :func:`flat_cell`."""
    return csv_text(columns, ([flat_cell(r.get(c)) for c in columns] for r in records))
