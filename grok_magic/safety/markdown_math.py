"""TeX math in Markdown, found in time linear in the text: `$…$`, `$$…$$` and `\\(…\\)` inline,
`$$…$$` and `\\[…\\]` blocks.

The delimiters and the tokens are those of mdit-py-plugins' dollarmath (`double_inline`, spaces
and digits allowed, labels, blank lines) and texmath (`brackets`), which this replaces: their
rules search the rest of the text for a closing delimiter at every opening one, so text with
many unclosed openings took quadratic time (40 KB of `\\(a ` took 17 s). Here every delimiter
of a text is found once, in one pass, and each opening looks its closing up by bisection.
The rules only find math; whether it is typeset is decided by the renderer (`tex_is_safe`).
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right

# A `$$` block's closing line read backwards: `$$ (label)` at its end (as dollarmath reads it).
DOLLAR_LABEL_REVERSED = re.compile(r"^\s*\)([^)$\r\n]+?)\(\s*\${2}")
# What may follow the `\]` of a bracket block: an equation number, `\[ x \] (1)` (texmath's).
BRACKET_LABEL = re.compile(r"\s*?\(([^)$\r\n]+?)\)")
SPACES = re.compile(r"\s+")
MARKS = "grok_math_marks"  # the attribute of a parser state that holds its text's marks


def math_plugin(md) -> None:
    """Add the math rules to a MarkdownIt parser (before `escape` and `fence`, as the plugins
    this replaces did)."""
    md.inline.ruler.before("escape", "math_inline_dollar", math_inline_dollar)
    md.inline.ruler.before("escape", "math_inline_paren", math_inline_paren)
    md.block.ruler.before("fence", "math_block_dollar", math_block_dollar)
    md.block.ruler.before("fence", "math_block_brackets", math_block_brackets)


def offsets(text: str, needle: str) -> list[int]:
    """Every offset where `needle` starts in `text`, in order (overlaps included).

    >>> offsets("a$$$b", "$$")
    [1, 2]
    """
    found, at = [], text.find(needle)
    while at >= 0:
        found.append(at)
        at = text.find(needle, at + 1)
    return found


class Marks:
    """The math delimiters of one text, each kind found in one pass when first asked for."""

    def __init__(self, src: str) -> None:
        self.src = src
        self._found: dict[str, list[int]] = {}
        self._labels: dict[int, re.Match | None] = {}

    def get(self, kind: str, find) -> list[int]:
        """The offsets (or lines) of `kind`, found by `find()` the first time."""
        if kind not in self._found:
            self._found[kind] = find()
        return self._found[kind]

    def dollars(self) -> list[int]:
        """Offsets of the `$` not escaped by an odd run of backslashes."""
        return self.get("$", self._unescaped_dollars)

    def dollar_pairs(self) -> list[int]:
        """Offsets of the unescaped `$` that another `$` follows (a `$$` closing)."""
        src = self.src
        return self.get("$ pairs", lambda: [i for i in self.dollars() if src.startswith("$", i + 1)])

    def of(self, needle: str) -> list[int]:
        """Offsets of `needle` (`\\)`, `\\[`, `\\]`)."""
        return self.get(needle, lambda: offsets(self.src, needle))

    def _unescaped_dollars(self) -> list[int]:
        src, kept = self.src, []
        for at in offsets(src, "$"):
            start = at
            while start and src[start - 1] == "\\":  # each run of backslashes precedes one `$`
                start -= 1
            if (at - start) % 2 == 0:
                kept.append(at)
        return kept

    def bracket_label(self, after: int) -> re.Match | None:
        """The `(label)` right after the `\\]` that ends at `after`, looked at once."""
        if after not in self._labels:
            self._labels[after] = BRACKET_LABEL.match(self.src, after)
        return self._labels[after]


def marks_of(state) -> Marks:
    """The marks of a parser state's text (made once per state; a block state keeps one text
    for the whole document, nested blocks included)."""
    marks = getattr(state, MARKS, None)
    if marks is None or marks.src is not state.src:
        marks = Marks(state.src)
        setattr(state, MARKS, marks)
    return marks


def first_from(found: list[int], start: int) -> int | None:
    """The first offset in sorted `found` that is at least `start`."""
    at = bisect_left(found, start)
    return found[at] if at < len(found) else None


# -- inline ------------------------------------------------------------------------------------
def math_inline_dollar(state, silent: bool) -> bool:
    """`$x$` and, inside a paragraph, `$$x$$` (display)."""
    src, pos = state.src, state.pos
    if src[pos] != "$" or pos + 1 >= len(src):
        return False
    marks = marks_of(state)
    dollars = marks.dollars()
    at = bisect_left(dollars, pos)
    if at == len(dollars) or dollars[at] != pos:
        return False  # escaped
    double = src[pos + 1] == "$"
    if double:
        close = first_from(marks.dollar_pairs(), pos + 2)
        if close is None:
            return False
        content, end = src[pos + 2 : close], close + 2
    else:
        following = bisect_right(dollars, pos)
        if following == len(dollars):
            return False
        close = dollars[following]
        content, end = src[pos + 1 : close], close + 1
    if not content or end > state.posMax:
        return False
    if not silent:
        token = state.push("math_inline_double" if double else "math_inline", "math", 0)
        token.content = content
        token.markup = "$$" if double else "$"
    state.pos = end
    return True


def math_inline_paren(state, silent: bool) -> bool:
    """`\\(x\\)`: the first `\\)` after at least one character closes it."""
    src, pos = state.src, state.pos
    if not src.startswith("\\(", pos):
        return False
    close = first_from(marks_of(state).of("\\)"), pos + 3)
    if close is None or close + 2 > state.posMax:
        return False
    if not silent:
        token = state.push("math_inline", "math", 0)
        token.content = src[pos + 2 : close]
        token.markup = "\\("
    state.pos = close + 2
    return True


# -- blocks ------------------------------------------------------------------------------------
def line_start(state, line: int) -> int:
    return state.bMarks[line] + state.tShift[line]


def dollar_close(text: str) -> tuple[int, str | None] | None:
    """How a line of a `$$` block closes it: (characters cut from its end, label), or None."""
    stripped = text.strip()
    if stripped.endswith("$$"):
        return 2 + len(text) - len(stripped), None
    label = DOLLAR_LABEL_REVERSED.match(text[::-1])
    if label:
        return label.end(), label.group(1)[::-1]
    return None


def dollar_closing_lines(state) -> list[int]:
    """The lines (of the whole document) that could close a `$$` block: those holding `$$`,
    checked once each from the line's own start (container markers hold no `$`)."""
    src, ends = state.src, state.eMarks

    def find() -> list[int]:
        lines: list[int] = []
        for at in offsets(src, "$$"):
            line = bisect_left(ends, at)
            if line < len(ends) and (not lines or lines[-1] != line):
                start = ends[line - 1] + 1 if line else 0
                if dollar_close(src[start : ends[line]]):
                    lines.append(line)
        return lines

    return marks_of(state).get("closing lines", find)


def math_block_dollar(state, start_line: int, end_line: int, silent: bool) -> bool:
    """A `$$` block: `$$ x $$` on one line, or `$$` … a line ending in `$$` (or `$$ (label)`)."""
    if state.sCount[start_line] - state.blkIndent >= 4:
        return False
    src, begin, end = state.src, line_start(state, start_line), state.eMarks[start_line]
    if begin + 2 > end or not src.startswith("$$", begin):
        return False
    first = src[begin:end]
    close, close_line = None, start_line
    if len(first.strip()) > 3:
        close = dollar_close(first)
        if close is None and "$$" in first[2:]:
            return False  # a `$$` inside the line that closes nothing: not a block
    if close is None:
        lines = dollar_closing_lines(state)
        at = bisect_right(lines, start_line)
        if at == len(lines) or lines[at] >= end_line:
            return False
        close_line = lines[at]
        close = dollar_close(src[line_start(state, close_line) : state.eMarks[close_line]])
        if close is None:
            return False
    if silent:
        return True
    cut, label = close
    last = state.eMarks[close_line] - cut
    if close_line == start_line:
        content = src[begin + 2 : last]
    else:
        parts = [src[begin + 2 : end]]
        parts += [src[state.bMarks[line] : state.eMarks[line]]
                  for line in range(start_line + 1, close_line)]
        parts.append(src[state.bMarks[close_line] : last])
        content = "\n".join(parts)
    state.line = close_line + 1
    token = state.push("math_block_label" if label else "math_block", "math", 0)
    token.block = True
    token.content = content
    token.markup = "$$"
    token.map = [start_line, state.line]
    if label:
        token.info = SPACES.sub("-", label)
    return True


def math_block_brackets(state, start_line: int, end_line: int, silent: bool) -> bool:
    """A `\\[ x \\]` block, with an optional equation number `\\[ x \\] (1)`; it ends on the
    line of its `\\]` (the rest of that line goes with it, as in texmath)."""
    src, begin = state.src, line_start(state, start_line)
    if not src.startswith("\\[", begin):
        return False
    marks = marks_of(state)
    closes = marks.of("\\]")
    close = first_from(closes, begin + 2)
    block_end = state.eMarks[end_line - 1]
    if close is None or close + 1 > block_end:
        return False
    found = None
    opens_inside = first_from(marks.of("\\["), begin + 2)
    if close >= begin + 3 and (opens_inside is None or opens_inside >= close):
        label = marks.bracket_label(close + 2)
        if label:
            found = ("math_block_eqno", src[begin + 2 : close], label.group(1), label.end())
            if ends_in_block(state, start_line, end_line, label.end() - 1) is None:
                found = None
    if found is None:
        close = first_from(closes, begin + 3)
        if close is None or ends_in_block(state, start_line, end_line, close + 1) is None:
            return False
        content = src[begin + 2 : close]
        found = ("math_block", content, content, close + 2)
    if silent:
        return True
    name, content, info, match_end = found
    state.line = ends_in_block(state, start_line, end_line, match_end - 1) + 1
    token = state.push(name, "math", 0)
    token.block = True
    token.content = content
    token.info = info
    token.markup = "\\["
    token.map = [start_line, state.line]
    return True


def ends_in_block(state, start_line: int, end_line: int, last: int) -> int | None:
    """The line of this block that holds offset `last`, or None when it is past the block or
    in a line's container markers."""
    line = bisect_left(state.eMarks, last, start_line, end_line)
    if line >= end_line or last < state.bMarks[line]:
        return None
    return line
