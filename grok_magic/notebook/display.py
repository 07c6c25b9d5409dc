"""Front: answers and our own reports as notebook displays — safe HTML with a plain-text twin."""

from __future__ import annotations

import html
import re
import sys
from collections.abc import Sequence

from grok_magic.safety.markdown import escape_markdown, render_html, wrap
from grok_magic.safety.plain_text import inert_text
from grok_magic.safety.redaction import redact
from grok_magic.xai.pricing import EXACT_SOURCE, format_cost
from grok_magic.xai.response import Response, Usage

# Our own CSS for answers (no model text in it), sent with the first output of each answer and
# in the chat panel's: JupyterLab right-aligns table cells and sizes headings for documents.
# Text columns are left-aligned (a Markdown `---:` column keeps markdown-it's inline
# `text-align:right`, which wins); headings are scaled down inside an answer; the thinking line
# has a spinning ring (no emoji font needed); a failure is a calm paragraph, and JupyterLab's error
# box under it (a short line naming the exception, kept for "Run all" and nbval) is hidden;
# so is the one under a cell's Stop, a neutral note.
ANSWER_CSS = """<style>
.grok-answer .grok-md th, .grok-answer .grok-md td { text-align: left; }
.grok-answer .grok-md h1 { font-size: 1.3em; }
.grok-answer .grok-md h2 { font-size: 1.18em; }
.grok-answer .grok-md h3 { font-size: 1.08em; }
.grok-answer .grok-md h4, .grok-answer .grok-md h5, .grok-answer .grok-md h6 { font-size: 1em; }
.grok-answer .grok-md :is(h1, h2, h3, h4, h5, h6) { margin: 0.8em 0 0.4em; }
.grok-spinner { display: inline-block; width: 0.7em; height: 0.7em; margin-right: 0.45em;
  border: 2px solid currentColor; border-right-color: transparent; border-radius: 50%;
  vertical-align: -0.05em; opacity: 0.6; animation: grok-spin 0.9s linear infinite; }
@keyframes grok-spin { to { transform: rotate(360deg); } }
.grok-answer .grok-failed { margin: 0.3em 0; padding: 0.1em 0 0.1em 0.7em; line-height: 1.45;
  border-left: 3px solid var(--jp-warn-color2, #e0b050); overflow-wrap: break-word; }
.grok-answer .grok-stopped { opacity: 0.8; }
.grok-answer .grok-md pre { background: var(--jp-cell-editor-background, #f5f5f5);
  border: 1px solid var(--jp-border-color2, #ddd); border-radius: 0 0 4px 4px;
  padding: 6px 8px; margin: 0 0 12px; overflow-x: auto; }
.jp-OutputArea-child:has(.grok-cell-end) ~ .jp-OutputArea-child:has(
  [data-mime-type="application/vnd.jupyter.stderr"]) { display: none; }
</style>"""
SPINNER = "<span class='grok-spinner'></span>"  # ANSWER_CSS draws it; without CSS it is nothing
FAILED = "error"  # the `kind` of an answer area that ended in a failure (its note: the paragraph)
STOPPED = "stopped"


def answer_block(fragment: str, *, styled: bool = False) -> str:
    """Safe HTML of an answer area in our answer container (with ANSWER_CSS when `styled`)."""
    return f"<div class='grok-answer mathjax_ignore'>{ANSWER_CSS if styled else ''}{fragment}</div>"


def note_html(note: str, kind: str = "") -> str:
    """How an answer ended, as HTML: a failure as one calm paragraph, a stop or any other note
    as a small italic line."""
    if kind == FAILED:  # grok-cell-end: ANSWER_CSS hides JupyterLab's error box under it
        return f"<p class='grok-failed grok-cell-end'>{html.escape(note)}</p>"
    extra = " grok-stopped grok-cell-end" if kind == STOPPED else f" grok-{kind}" if kind else ""
    return f"<p class='grok-note{extra}'><em>{html.escape(note)}</em></p>"


def with_note(answer_html: str, note: str, kind: str = "") -> str:
    """An answer's HTML and the note on how it ended, as one output."""
    if not note:
        return answer_html
    return wrap(f"{answer_html}{note_html(note, kind)}")


def thinking_html(line: str) -> str:
    """The waiting line: a CSS spinner (nothing when CSS is off) and the text."""
    return wrap(f"<p class='grok-thinking'>{SPINNER}<em>{html.escape(line)}</em></p>")


def failure_bundle(error) -> dict:
    """A failure (a GrokError) shown before any answer area: one calm paragraph; the user's
    own stop (an InterruptedByUser) a neutral note."""
    from grok_magic.errors import InterruptedByUser

    paragraph = error.paragraph()
    kind = STOPPED if isinstance(error, InterruptedByUser) else FAILED
    return {"text/html": answer_block(wrap(note_html(paragraph, kind)), styled=True),
            "text/plain": f"[{paragraph}]"}


def join_plain(text: str, note: str) -> str:
    return inert_text("\n\n".join(p for p in (text, f"[{note}]" if note else "") if p))


def plain_twin(text: str) -> str:
    """Untrusted text for a text/plain output or a terminal: key masked, no control characters."""
    return inert_text(redact(text))


class Report:
    """Our own Markdown (settings, tables, history) shown through the safe renderer, with a
    plain-text twin. Untrusted values go in through `escape_markdown` (see `cell`). `columns`:
    how each column of its tables is laid out (`styled_columns`)."""

    def __init__(self, markdown: str, plain: str, columns: Sequence[str] = ()) -> None:
        self.markdown, self.plain, self.columns = markdown, plain_twin(plain), tuple(columns)

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict:
        shown = render_html(self.markdown)
        if self.columns:
            shown = styled_columns(shown, self.columns)
        return {"text/html": shown, "text/plain": self.plain}

    def __repr__(self) -> str:
        return self.plain


COLUMN_STYLES = {"nowrap": "white-space: nowrap", "left": "text-align: left",
                 "right": "text-align: right"}
TABLE = re.compile(r"<table>.*?</table>", re.S)
TABLE_ROW = re.compile(r"<tr>.*?</tr>", re.S)
TABLE_CELL = re.compile(r'<(t[hd])(?: style="[^"<>]*")?>')


def styled_columns(fragment: str, columns: Sequence) -> str:
    """The rendered tables of our own Markdown with each column laid out as `columns` says
    ("left nowrap", "right", ""; or one such sequence per table, in order): our classes
    (`grok-nowrap`, `grok-left`, `grok-right`) and the same as inline style, since an output
    carries no stylesheet. Every value went in as text (`cell`), so each `<th`/`<td` here is a
    tag of the renderer's own."""
    layouts = iter([columns] * fragment.count("<table>") if isinstance(columns[0], str)
                   else columns)

    def one_table(found: re.Match) -> str:
        layout = next(layouts, ())
        return TABLE_ROW.sub(lambda row: TABLE_CELL.sub(_cell_styler(layout), row.group()),
                             found.group())

    return TABLE.sub(one_table, fragment)


def _cell_styler(layout: Sequence[str]):
    """A `re.sub` replacement giving the cells of one row their column's classes and style."""
    kinds_of = iter(layout)

    def one(tag: re.Match) -> str:
        kinds = [k for k in next(kinds_of, "").split() if k in COLUMN_STYLES]
        if not kinds:
            return tag.group()
        classes = " ".join(f"grok-{k}" for k in kinds)
        style = "; ".join(COLUMN_STYLES[k] for k in kinds)
        return f'<{tag.group(1)} class="{classes}" style="{style}">'

    return one


def cell(value: object) -> str:
    """An untrusted value as literal text inside our Markdown (a table cell, a label)."""
    return escape_markdown(redact(str(value)))


WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def with_widget(bundle: dict, widget) -> dict:
    """`bundle` (static HTML and text, for saved notebooks and nbconvert) plus the live view of
    `widget` when there is one: front ends that run widgets show it, others the static twin."""
    if widget is not None:
        view = (widget._repr_mimebundle_() or {}).get(WIDGET_VIEW)
        if view:
            bundle[WIDGET_VIEW] = view
    return bundle


def is_terminal(shell) -> bool:
    """Terminal IPython gets plain text and no widgets."""
    return type(shell).__name__ == "TerminalInteractiveShell"


def folded_bundle(css_class: str, summary: str, text: str) -> dict:
    """Model text shown folded under an answer, as text (escaped), with our summary line."""
    return {
        "text/html": wrap(f"<details class='{css_class}'><summary>{html.escape(summary)}"
                          f"</summary><pre style='white-space: pre-wrap'>{html.escape(text)}"
                          "</pre></details>"),
        "text/plain": f"[{summary}]",
    }


def diff_bundle(message: str, diff: str) -> dict:
    """Our one-line message above a diff that holds model text: the diff as text (escaped,
    key masked, no control characters), never rendered as Markdown or HTML."""
    diff = plain_twin(diff)
    return {
        "text/html": wrap(f"<p class='grok-note'><em>{html.escape(message)}</em></p>"
                          f"<pre class='grok-diff'>{html.escape(diff)}</pre>"),
        "text/plain": plain_twin(f"{message}\n{diff}"),
    }


def reasoning_bundle(reasoning: str) -> dict:
    """Reasoning text, collapsed."""
    reasoning = redact(reasoning)
    return folded_bundle("grok-reasoning", f"Reasoning ({len(reasoning):,} characters) — also "
                                           "in _grok.reasoning", reasoning)


# -- sinks of an AnswerStream --------------------------------------------------------------------
class NotebookSink:
    """An answer in the output area: one display per frozen block, the tail updated in place.
    The first display carries ANSWER_CSS (a style element applies to the whole page)."""

    def __init__(self) -> None:
        from IPython.display import display

        self._display = display
        self._handle = None
        self._first = True  # the display being drawn is the answer's first

    def _show(self, bundle: dict, *, new: bool = False) -> None:
        bundle["text/html"] = answer_block(bundle["text/html"], styled=self._first)
        if self._handle is None or new:
            self._handle = self._display(bundle, raw=True, display_id=True)
        else:
            self._handle.update(bundle, raw=True)

    def thinking(self, line: str) -> None:
        self._show({"text/html": thinking_html(line), "text/plain": inert_text(line)})

    def tail(self, html_text: str, text: str) -> None:
        self._show({"text/html": html_text})

    def freeze(self, html_text: str, text: str) -> None:
        self._show({"text/html": html_text, "text/plain": inert_text(text)})
        self._handle = None  # the rest starts a new output
        self._first = False

    def end(self, html_text: str, text: str, note: str, kind: str) -> None:
        self._show({"text/html": with_note(html_text, note, kind),
                    "text/plain": join_plain(text, note)})

    def reasoning(self, text: str) -> None:
        self._display(reasoning_bundle(text), raw=True)

    def sources(self, html_text: str, text: str) -> None:
        self._display({"text/html": html_text, "text/plain": inert_text(text)}, raw=True)

    def code_ran(self, html_text: str, text: str) -> None:
        self._display({"text/html": html_text, "text/plain": text}, raw=True)

    def code_block(self, code: str, language: str) -> None:
        # The bar takes the place of the tail shown so far; the block then comes under it.
        from grok_magic.notebook.code_bar import CodeBar

        bundle = CodeBar(code, language)._repr_mimebundle_()
        bundle = bundle[0] if isinstance(bundle, tuple) else bundle  # anywidget: (data, meta)
        if self._first and self._handle is not None:
            # The first display carries the answer's CSS: it stays (empty), the bar comes next.
            self._show({"text/html": "", "text/plain": ""})
            self._handle = None
        self._first = False
        if self._handle is None:
            self._display(bundle, raw=True)
        else:
            self._handle.update(bundle, raw=True)
        self._handle = None


class TerminalSink:
    """Terminal IPython: print the answer as plain text as it arrives."""

    def __init__(self, stream=None) -> None:
        self.stream = stream or sys.stdout
        self._printed = 0

    def _write(self, text: str) -> None:
        # A terminal acts on escape sequences (OSC 52 writes the clipboard): none get through.
        self.stream.write(inert_text(text))
        self.stream.flush()

    def thinking(self, line: str) -> None:
        pass

    def tail(self, html_text: str, text: str) -> None:
        # `text` is the whole live tail, or "" while only the end of a long one is shown.
        if len(text) > self._printed:
            self._write(text[self._printed :])
            self._printed = len(text)

    def freeze(self, html_text: str, text: str) -> None:
        # What was printed past the frozen block already belongs to the next tail.
        self.tail(html_text, text)
        self._printed -= len(text)

    def end(self, html_text: str, text: str, note: str, kind: str) -> None:
        self.tail(html_text, text)
        self._printed = 0
        self._write(f"\n[{note}]\n" if note else "\n")

    def reasoning(self, text: str) -> None:
        pass

    def sources(self, html_text: str, text: str) -> None:
        self._write(f"{text}\n")

    def code_ran(self, html_text: str, text: str) -> None:
        self._write(f"{text}\n")

    def code_block(self, code: str, language: str) -> None:
        pass


# -- usage ---------------------------------------------------------------------------------------
def usage_rows(response: Response, totals: Usage | None, total_cost: float | None,
               limits: Sequence = (), *, totals_estimated: bool = False,
               totals_listed: bool = False, totals_saved: float = 0.0) -> list:
    """(label, value) rows of the usage summary (values redacted: the model name comes from afar);
    `limits` are the budgets set (`budget.Limit`). The cost says where it came from (`cost_text`);
    an answer that ended without xAI's usage (stopped, cut off, timed out) shows "≈" tokens;
    cached tokens show what they saved (`cache_text`). `totals_estimated`: the session totals
    include estimated tokens; `totals_listed`: its cost includes answers priced from a price list
    (so it is "≈" too); `totals_saved`: USD caching saved in the session."""
    u = response.billed_usage or Usage()
    guess = "" if response.cost_exact else "≈ "
    rows = [
        ("model", response.model or response.requested_model or "?"),
        ("prompt", f"{guess}{u.prompt_tokens:,}" + ("" if guess else f" (cached {u.cached_tokens:,}"
                                                                    f", image {u.image_tokens:,})")),
        ("completion", f"{guess}{u.completion_tokens:,}"),
        ("reasoning", f"{guess}{u.reasoning_tokens:,}"),
        ("total", f"{guess}{u.total_tokens:,}"),
        *tool_rows(response),
        ("cost", cost_text(response)),
        *([("cache", cache_text(response))] if response.usage is not None
          and response.usage.cached_tokens and not response.replayed else []),
        ("time", f"{response.elapsed:.1f} s"),
    ]
    if response.billed_usage is None:
        rows = [r for r in rows if r[0] not in ("prompt", "completion", "reasoning", "total")]
        rows.insert(1, ("tokens", "not reported (answer incomplete)"))
    if response.replayed:
        rows = [("replayed", f"from the ledger: this time $0, first asked "
                             f"{format_cost(response.original_cost)}") if k == "cost" else (k, v)
                for k, v in rows]
    if totals is not None:
        tools = totals.server_side_tools_used
        rows.append(("session", f"{'≈ ' if totals_estimated else ''}{totals.total_tokens:,} tokens, "
                                + (f"{tools:,} tool calls, " if tools else "")
                                + format_cost(total_cost, estimate=totals_estimated or totals_listed)
                                + (f", caching saved {format_cost(totals_saved, estimate=True)}"
                                   if totals_saved > 0 else "")))
    rows += [(limit.setting.replace("_", " "), limit.shown()) for limit in limits]
    return [(k, plain_twin(str(v))) for k, v in rows]


def cost_text(response: Response) -> str:
    """An answer's cost for people, and where it came from: "$0.001234 (exact, from xAI)";
    "≈ $0.001234 (estimated from xAI's price list of 2026-12-02)" or "(estimated from built-in
    prices of 2026-12)" when xAI sent tokens but no cost; "≈ $0.0012 (estimated tokens, priced
    from …)" when the answer ended before xAI sent its usage; "n/a" if unknown. The panel and the
    widget both show this."""
    cost, source = response.cost, response.cost_source
    if cost is None or source is None:
        return format_cost(cost)
    u = response.usage
    tools = u is not None and (u.server_side_tools_used or u.tool_calls_by_kind)
    if not response.cost_exact:
        return f"{format_cost(cost, estimate=True)} (estimated tokens, priced from {source})"
    if source == EXACT_SOURCE:
        return format_cost(cost) + f" ({source}{', tool fees included' if tools else ''})"
    return (f"{format_cost(cost, estimate=True)} (estimated from {source}"
            + ("; tool fees not included" if tools else "") + ")")


def cache_text(response: Response) -> str:
    """Cached prompt tokens and what they saved (an estimate from a price list, even when the
    cost is exact): "cached 3,968 of 4,210 · saved ≈ $0.0042"."""
    u = response.usage or Usage()
    saved = response.cache_saving
    return (f"cached {u.cached_tokens:,} of {u.prompt_tokens:,}"
            + ("" if saved is None else f" · saved {format_cost(saved, estimate=True)}"))


def tool_rows(response: Response) -> list:
    """Sources used and server-side tool calls by kind, when the answer had any. The calls are
    counted from the answer's own tool call items, so the kinds add up to the total; xAI's
    billing details, when they count otherwise, are a row of their own."""
    u = response.usage or Usage()
    rows = []
    if response.sources_used:
        rows.append(("sources", f"{response.sources_used:,}"))
    counted: dict[str, int] = {}
    for call in response.tool_calls or ():
        if isinstance(call, dict) and call.get("type") != "function" and call.get("kind"):
            counted[call["kind"]] = counted.get(call["kind"], 0) + 1
    by_kind = counted or u.tool_calls_by_kind
    if u.server_side_tools_used or by_kind:
        total = sum(by_kind.values()) if counted else max(u.server_side_tools_used, sum(by_kind.values()))
        rows.append(("tool calls", f"{total:,}" + (f" ({kind_list(by_kind)})" if by_kind else "")))
        if counted and u.tool_calls_by_kind and u.tool_calls_by_kind != counted:
            rows.append(("billed by xAI as", kind_list(u.tool_calls_by_kind)))
    return rows


def kind_list(by_kind: dict[str, int]) -> str:
    """"web search 4, x search 2": tool kinds and counts, most first."""
    ordered = sorted(by_kind.items(), key=lambda item: (-item[1], item[0]))
    return ", ".join(f"{k.replace('_', ' ')} {n:,}" for k, n in ordered)


class UsageDisplay:
    """Token usage after an answer: an ipywidgets widget, plus HTML and plain text in the same
    bundle so the numbers survive in saved notebooks, nbconvert and GitHub."""

    def __init__(
        self, response: Response, totals: Usage | None = None, total_cost: float | None = None,
        widget: bool = True, limits: Sequence = (), *, totals_estimated: bool = False,
        totals_listed: bool = False, totals_saved: float = 0.0,
    ) -> None:
        self.rows = usage_rows(response, totals, total_cost, limits,
                               totals_estimated=totals_estimated, totals_listed=totals_listed,
                               totals_saved=totals_saved)
        self.widget = self.make_widget() if widget else None

    @property
    def items_html(self) -> str:
        """The rows as HTML (the widget's value; the chat panel shows it in its own widget)."""
        cells = "".join(
            f"<span class='grok-usage-item' data-key='{html.escape(k)}'>"
            f"<b>{html.escape(k)}</b> {html.escape(v)}</span>"
            for k, v in self.rows
        )
        return (f"<div class='grok-usage-items' style='font-size: 0.85em; opacity: 0.8; "
                f"display: flex; flex-wrap: wrap; gap: 0 1.2em'>{cells}</div>")

    @classmethod
    def of(cls, response: Response, tally, widget: bool = True, limits: Sequence = ()
           ) -> UsageDisplay:
        """The usage of `response` with the session's running totals (a `response.Totals`)."""
        return cls(response, tally.usage, tally.cost, widget, limits,
                   totals_estimated=bool(tally.estimated), totals_listed=bool(tally.listed),
                   totals_saved=tally.saved)

    def make_widget(self):
        import ipywidgets as widgets

        box = widgets.HTML(value=self.items_html)
        box.add_class("grok-usage")
        return box

    @property
    def plain(self) -> str:
        return "tokens · " + " · ".join(f"{k}: {v}" for k, v in self.rows)

    @property
    def html(self) -> str:
        return wrap(f"<div class='grok-usage grok-usage-static'>{self.items_html}</div>")

    @property
    def static_bundle(self) -> dict:
        """What saved notebooks, nbconvert and GitHub show: the same rows as HTML and text."""
        return {"text/plain": self.plain, "text/html": self.html}

    def retire(self, handle) -> None:
        """Show the static twin in place of the widget (display `handle`), then close the widget:
        the output looks the same and the kernel keeps no comm or model for it."""
        if self.widget is None:
            return
        handle.update(self.static_bundle, raw=True)
        close_widgets(self.widget)
        self.widget = None

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict:
        return with_widget(self.static_bundle, self.widget)

    def __repr__(self) -> str:
        return self.plain


LIVE_USAGE_WIDGETS = 1  # the newest cell's usage stays a widget; older ones become static HTML


class LiveUsage:
    """The cells' usage displays that are still widgets: the newest `keep`. Showing one more
    retires the oldest (its output becomes the same rows as static HTML, its widget is closed),
    so a session of many %%grok cells holds no widget, comm or model per cell."""

    def __init__(self, keep: int = LIVE_USAGE_WIDGETS) -> None:
        from collections import deque

        self.keep = keep
        self._live: deque = deque()

    def show(self, usage: UsageDisplay) -> None:
        from IPython.display import display

        handle = display(usage, display_id=True)
        if usage.widget is not None:
            self._live.append((usage, handle))
        while len(self._live) > self.keep:
            old, old_handle = self._live.popleft()
            old.retire(old_handle)

    def __len__(self) -> int:
        return len(self._live)


def close_widgets(root, keep: Sequence = ()) -> None:
    """Close `root`, every widget inside it and their own layouts and styles — except the shared
    models in `keep` — so their comms end and `Widget.widgets` forgets them."""
    from ipywidgets import Widget

    for child in getattr(root, "children", ()):
        close_widgets(child, keep)
    for part in (getattr(root, "layout", None), getattr(root, "style", None)):
        if isinstance(part, Widget) and all(part is not k for k in keep):
            part.close()
    root.close()
