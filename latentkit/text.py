"""Text read from files, made safe to show a person (a terminal line, a table cell, an error)."""

from __future__ import annotations

import unicodedata


def shown(text: object) -> str:
    r"""`text` safe to show a person: control and format characters (ESC, CR, LF, bidi overrides, ...)
    become visible escapes (`\x1b`, `\n`, `\u202e`), so text read from a file cannot add, hide or
    reorder lines of a report in a terminal or a table."""
    return "".join(_visible(ch) if unicodedata.category(ch) in _HIDDEN else ch for ch in str(text))


_HIDDEN = ("Cc", "Cf", "Zl", "Zp", "Cs")  # controls, format (bidi, zero-width), line/paragraph separators
_NAMED = {"\n": r"\n", "\r": r"\r", "\t": r"\t"}


def _visible(ch: str) -> str:
    code = ord(ch)
    if ch in _NAMED:
        return _NAMED[ch]
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"
