# SPDX-License-Identifier: LGPL-2.1-or-later
"""Making text from a kernel or a file safe for a terminal.

A task's comm is set by any user (prctl(PR_SET_NAME)), and a snapshot file can
hold anything: control characters (C0, DEL, C1 such as the 8-bit CSI U+009B)
become ``\\x1b``-style escapes, and lone surrogates are replaced.  JSON output
keeps the exact text (the JSON encoder escapes it).
"""

import re

#: C0, DEL, C1, lone surrogates, and the bidirectional controls (U+200E/F, U+202A-E, U+2066-9), which reorder
#: what a terminal shows after them ("Trojan Source").
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def _sub(m: re.Match) -> str:
    c = ord(m.group())
    if 0xD800 <= c <= 0xDFFF:
        return "\ufffd"
    return f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}"


def escape(text: str) -> str:
    """``text`` with every control character shown as an escape, and lone surrogates replaced."""
    if text.isprintable():
        return text
    return _CONTROL.sub(_sub, text)
