"""Make strings that came from the network safe to store, log and display."""

from __future__ import annotations

import re
import unicodedata

__all__ = ["MAX_TEXT", "sanitise"]

#: Longest network-derived string we keep; titles and banners longer than this are noise.
MAX_TEXT = 200

_WHITESPACE_RE = re.compile(r"\s+")


def sanitise(value: str | bytes | None, limit: int = MAX_TEXT) -> str | None:
    """Strip control and format characters, collapse whitespace and cap the length.

    Format characters (Unicode category Cf) include the bidirectional overrides that can
    make a hostile banner display as something else, so they go too.

    Args:
        value: Text or raw bytes (decoded as UTF-8, invalid bytes replaced).
        limit: Maximum length of the result; longer text is cut and ends with "…".

    Returns:
        The cleaned text, or None if nothing printable is left.
    """
    if value is None:
        return None
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
    # Bound the work on hostile input before the per-character pass.
    text = text[: limit * 4]
    text = "".join(
        " " if unicodedata.category(char)[0] in "CZ" and char != " " else char for char in text
    )
    text = _WHITESPACE_RE.sub(" ", text).strip()
    if not text:
        return None
    if len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    return text
