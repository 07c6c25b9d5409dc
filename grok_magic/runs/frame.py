"""`ResultFrame`: the pandas DataFrame that `--each` / `ask_each` and Batch API jobs return, whose
displays show model text as text.

pandas escapes `<`, `>` and `&` in its HTML, but JupyterLab typesets every `text/html` output with
MathJax, so an answer such as `$\\href{https://evil.example/}{LOGIN}$` would become a working
link and `\\style{...}` would restyle the page. A `ResultFrame` renders pandas' own HTML and then
makes it inert for MathJax whatever its configuration:

- every `$` and `\\` in the text of the table (not in its tags) is put in an element of its own
  (`<span>$</span>`). MathJax looks for math only inside one run of text: it never joins text
  across an element's boundary (only `<br>`, `<wbr>` and comments), so no delimiter can open
  there (`$`, `$$`, `\\(`, `\\[`, `\\begin`, `\\ref`, and `\\$` as an escape);
- the table is wrapped in `<div class="tex2jax_ignore mathjax_ignore">` as well (the class
  MathJax 2 and MathJax 3 skip by default).

The text a reader sees and copies is unchanged. No pandas option is set for this (not even for a
moment), so the user's other DataFrames display exactly as before. Its text/plain (a terminal,
`print`) and its HTML drop control characters and escape sequences (`plain_text.inert_text`).

`.head()`, slices and `frame[["answer"]]` stay `ResultFrame`s; a column (`frame["answer"]`) is a
`ResultSeries`, which pandas shows as text/plain only, inert the same way. `frame.style` is a
Styler that escapes HTML and is inert the same way. Not covered: HTML the user makes and shows themselves
(`HTML(frame.to_html())`, `pd.DataFrame(frame)`).

This module imports pandas: `grok_magic.runs.each.result_table` imports it only when it builds a
table (so `%load_ext grok_magic` does not).
"""

from __future__ import annotations

import html
import io
import re

import pandas as pd

from grok_magic.safety.plain_text import inert_text

# The HTML pandas writes, cut into tags and text. Cell text has `<`, `>` and `&` escaped by pandas,
# so every `<` in its output opens a real tag (or the style block pandas writes itself, whose
# text is CSS and is kept whole). `[^<>]*` stops at the next `<`: linear in the size.
_MARKUP = re.compile(r"(<style\b[^<>]*>[^<]*</style\s*>|<!--[^<>]*-->|<[^<>]*>)", re.IGNORECASE)
# Where MathJax's TeX input can start: every delimiter and escape begins with one of these.
_ACTIVE = re.compile(r"[$\\]")
WRAPPER_CLASSES = "grok-result-frame tex2jax_ignore mathjax_ignore"


def inert_html(markup: str) -> str:
    """`markup` (pandas' HTML of a frame) with every `$` and `\\` in its text in a `<span>` of its
    own, wrapped in a `mathjax_ignore` div: MathJax can typeset none of it. Control characters
    and escape sequences are dropped, as in the text/plain view."""
    parts = _MARKUP.split(inert_text(markup))
    for i in range(0, len(parts), 2):  # even places hold text, odd ones markup
        if "$" in parts[i] or "\\" in parts[i]:
            parts[i] = _ACTIVE.sub(_isolated, parts[i])
    return f'<div class="{WRAPPER_CLASSES}">{"".join(parts)}</div>'


def _info_repr(frame) -> bool:
    """Whether pandas shows `frame` as its `info()` (display.large_repr = "info", too big)."""
    check = getattr(frame, "_info_repr", None)
    return bool(check()) if callable(check) else False


def _isolated(match: re.Match) -> str:
    return f"<span>{match.group()}</span>"


class ResultFrame(pd.DataFrame):
    """A results table (a pandas DataFrame) whose displays show model text as text: no MathJax,
    links or styles from the answers in its HTML, no escape sequences in its text."""

    _metadata: list[str] = []

    @property
    def _constructor(self):
        return ResultFrame

    @property
    def _constructor_sliced(self):
        return ResultSeries

    def _repr_html_(self) -> str | None:
        if _info_repr(self):
            # pandas escapes only the first `<` and `>` of its `info()` view (column names and
            # index values go in as HTML): the whole text is escaped here.
            buf = io.StringIO()
            self.info(buf=buf)
            return inert_html(f"<pre>{html.escape(inert_text(buf.getvalue()), quote=False)}</pre>")
        table = super()._repr_html_()
        return None if table is None else inert_html(table)

    def _repr_latex_(self) -> None:
        return None

    def __repr__(self) -> str:
        return inert_text(super().__repr__())

    @property
    def style(self):
        """pandas' Styler, but escaping HTML in the cells (pandas' default does not: an answer
        `<img src=x onerror=...>` would be live) and inert for MathJax like the table itself.
        A later `.format(...)` without `escape="html"` turns escaping off for its cells, as in
        pandas."""
        return _inert_styler_class()(self, escape="html")


class ResultSeries(pd.Series):
    """A column or row of a ResultFrame (`frame["answer"]`): pandas shows a Series as text only,
    and that text drops escape sequences, as the frame's does."""

    _metadata: list[str] = []

    @property
    def _constructor(self):
        return ResultSeries

    @property
    def _constructor_expanddim(self):
        return ResultFrame

    def __repr__(self) -> str:
        return inert_text(super().__repr__())


_INERT_STYLER: type | None = None


def _inert_styler_class() -> type:
    """The Styler subclass `ResultFrame.style` returns (made on first use: pandas' Styler needs
    jinja2, an optional dependency of pandas)."""
    global _INERT_STYLER
    if _INERT_STYLER is None:
        from pandas.io.formats.style import Styler

        class InertStyler(Styler):
            """A Styler whose HTML MathJax leaves alone (see `inert_html`)."""

            def _repr_html_(self) -> str | None:
                markup = super()._repr_html_()
                return None if markup is None else inert_html(markup)

            def _repr_latex_(self) -> None:
                return None

        InertStyler.__module__ = __name__
        _INERT_STYLER = InertStyler
    return _INERT_STYLER
