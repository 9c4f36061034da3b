"""Strings from user files made safe to print: no terminal escape codes, no hidden text direction.

A tag name in a user's tags.txt, a file name in an inputs folder or a run path can hold ESC
sequences that recolour, retitle or clear a terminal, carriage returns that overwrite a line, and
Unicode bidi controls that make text read differently than it is. `printable` shows each such
character as a visible escape (ESC -> "\\x1b", U+202E -> "\\u202e") and leaves everything else,
including non-Latin letters and emoji, as it is.
"""

from __future__ import annotations

import re

# C0 and C1 controls and DEL; bidi embeddings, overrides, isolates and marks; line/paragraph separators.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]")


def _escape(match: re.Match) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text) -> str:
    """`text` (any object, through str) with control and bidi characters shown as visible escapes."""
    return _UNSAFE.sub(_escape, str(text))


def printable_lines(text) -> str:
    """Like `printable`, but keeps newlines (for multi-line tables); each line is made safe."""
    return "\n".join(printable(line) for line in str(text).split("\n"))
