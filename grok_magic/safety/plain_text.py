"""Untrusted text made inert for terminals and text/plain outputs: C0/C1 control characters and
escape sequences (CSI, OSC, DCS, …) dropped, newlines and tabs kept.

A terminal acts on what it is sent: OSC 52 writes the clipboard, OSC 8 makes a link whose visible
text lies, CSI clears the screen or conceals text. Model answers and server messages are never
allowed to send such sequences.

>>> inert_text("ok\\x1b]52;c;ZWNobyBwd25lZA==\\x07 done\\x1b[2J\\n\\tend")
'ok done\\n\\tend'
"""

from __future__ import annotations

import re

# An escape sequence, whole: ESC or an 8-bit introducer, then what the sequence holds.
#  - CSI (ESC [ or \x9b): parameter and intermediate bytes, then one final byte;
#  - OSC, DCS, SOS, PM, APC (ESC ] P X ^ _ or \x9d \x90 \x98 \x9e \x9f): a string up to BEL or ST
#    (ESC \ or \x9c), or to the end of the text when it is never terminated;
#  - any other ESC + one character (e.g. ESC c, a full reset).
# Each alternative is a run of one character class followed by a fixed end, so the pattern is
# linear in the text.
ESCAPE_SEQUENCE = re.compile(
    r"(?:\x1b\[|\x9b)[\x20-\x3f]*[\x40-\x7e]?"
    r"|(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"
    r"|\x1b[\x20-\x7e]?"
)
# Control characters left after the sequences are gone: C0 but tab and newline, DEL and C1.
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def inert_text(text: str) -> str:
    """`text` with every escape sequence and control character removed (but `\\n` and `\\t`);
    a carriage return before a newline becomes part of it, any other becomes a newline."""
    if not isinstance(text, str) or not CONTROL.search(text):
        return text
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = ESCAPE_SEQUENCE.sub("", text)
    return CONTROL.sub("", text)
