"""Front: our own reports — dry run, settings, history, session usage, models — as safe displays."""

from __future__ import annotations

import html
import json
import shlex
from collections.abc import Callable, Iterable, Mapping, Sequence

from grok_magic.errors import KeyInRequestError
from grok_magic.notebook.display import Report, cell, plain_twin
from grok_magic.safety.markdown import ellipsised, fence_for, plain_text, render_html, wrap
from grok_magic.safety.redaction import key_in, mask_url_credentials, redact, redact_value
from grok_magic.xai.pricing import format_cost

DATA_URL_PREVIEW = 40
WHO = {"system": "System", "user": "You", "assistant": "Grok"}


def shorten_data_urls(value):
    """A copy of a request body with data URLs cut to a preview (for dry runs and history)."""
    if isinstance(value, dict):
        return {k: _opaque(v) if k == "encrypted_content" else shorten_data_urls(v)
                for k, v in value.items()}
    if isinstance(value, list):
        return [shorten_data_urls(v) for v in value]
    if isinstance(value, str) and value.startswith("data:") and len(value) > DATA_URL_PREVIEW:
        return f"{value[:DATA_URL_PREVIEW]}…({len(value):,} characters)"
    return value


def _opaque(value: object) -> object:
    """Encrypted reasoning, shown by its size only (it is opaque, and long)."""
    return f"…({len(value):,} characters, encrypted)" if isinstance(value, str) else value


def curl_command(url: str, body: Mapping, headers: Mapping[str, str] | None = None) -> str:
    """The equivalent curl command; the key is left to the shell's $XAI_API_KEY."""
    payload = json.dumps(body, indent=2, ensure_ascii=False)
    extra = "".join(f"  -H {shlex.quote(f'{k}: {v}')} \\\n" for k, v in (headers or {}).items())
    return (
        f"curl {shlex.quote(url)} \\\n"
        '  -H "Content-Type: application/json" \\\n'
        '  -H "Authorization: Bearer $XAI_API_KEY" \\\n'
        f"{extra}"
        f"  -d {shlex.quote(payload)}"
    )


class DryRun:
    """What a cell would send: the JSON body and the curl command, with nothing sent (and any key
    that found its way into the text masked)."""

    def __init__(self, url: str, body: dict, note: str = "", refused=None,
                 headers: Mapping[str, str] | None = None) -> None:
        # A proxy's password in XAI_BASE_URL is masked in the URL and the curl command alike.
        self.url = mask_url_credentials(url)
        self.note = note  # our own text, shown under the title (e.g. a --each plan)
        self.headers = redact_value(dict(headers or {}))  # sent besides the key (x-grok-conv-id)
        # The send's own last check, run on this very body: a key in it means it is refused.
        found = key_in(body)
        if refused is None and found is not None:
            refused = KeyInRequestError(*found)
        self.refused = refused
        self.body = redact_value(body)
        self.shown = shorten_data_urls(self.body)

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict:
        payload = json.dumps(self.shown, indent=2, ensure_ascii=False)
        curl = curl_command(self.url, self.shown, self.headers)
        note = f"{self.note}\n\n" if self.note else ""
        refusal = (f"This request would be refused, not sent: {self.refused.paragraph()} The "
                   "key is shown as *** below.") if self.refused else ""
        plain = (f"{refusal}\n\n" if refusal else "") + f"{note}POST {self.url}\n{payload}\n\n{curl}"
        json_fence, curl_fence = fence_for(payload), fence_for(curl)
        markdown = (f"**{cell(refusal)}**\n\n" if refusal else "") + (
            f"**Dry run** — nothing was sent. {cell(self.note)}\n\n" if self.note else
            "**Dry run** — nothing was sent. "
        ) + (
            f"`POST` {cell(self.url)} with this body:\n\n"
            f"{json_fence}json\n{payload}\n{json_fence}\n\nThe same request with curl:\n\n"
            f"{curl_fence}bash\n{curl}\n{curl_fence}"
        )
        return {"text/html": render_html(markdown), "text/plain": plain_twin(plain)}


def table(header: Sequence[str], rows: Iterable[Sequence[object]],
          right: Iterable[str] | None = None) -> str:
    """A Markdown table of our own, every value escaped; with `right` (the columns of numbers,
    aligned right) every other column is aligned left."""
    if right is None:
        rule = "|" + "---|" * len(header)
    else:
        numbers = set(right)
        rule = "|" + "".join("---:|" if h in numbers else ":---|" for h in header)
    lines = ["| " + " | ".join(header) + " |", rule]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def settings_report(rows: Sequence[tuple[str, object]]) -> Report:
    plain = "\n".join(f"{k:>15}: {v}" for k, v in rows)
    return Report(table(("setting", "value"), rows), plain)


class HistoryReport:
    """The conversation so far: our labels, and every turn through the safe renderer on its own
    (so a label never changes how a turn's Markdown parses)."""

    def __init__(self, messages: Sequence[Mapping]) -> None:
        self.turns = [(WHO.get(m["role"], m["role"]), _turn_text(m)) for m in messages]

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict:
        if not self.turns:
            return {"text/html": render_html("*No conversation yet.*"),
                    "text/plain": "No conversation yet."}
        pieces = [
            f"<div class='grok-history-turn'><p class='grok-who'><strong>{who}:</strong></p>"
            f"{render_html(text)}</div>"
            for who, text in self.turns
        ]
        plain = "\n\n".join(f"{who}: {plain_twin(text)}" for who, text in self.turns)
        return {"text/html": wrap("<hr>".join(pieces)), "text/plain": plain}

    def __repr__(self) -> str:
        return self._repr_mimebundle_()["text/plain"]


def _turn_text(message: Mapping) -> str:
    content = message.get("content")
    if isinstance(content, list):
        return " ".join(p["text"] if p["type"] == "text" else "[image]" for p in content)
    return content or ""


ESTIMATE_NOTE = ("≈: an estimate, for answers stopped or cut off before xAI sent their usage "
                 "(the prompt as estimated before sending, the text received at about four "
                 "characters a token); it counts toward budgets.")


def usage_report(totals, limits: Sequence = ()) -> Report:
    """Session totals (a `Totals`), and the budgets set (`budget.Limit`s)."""
    u = totals.usage
    estimated = getattr(totals, "estimated", 0)
    rows = [
        ("answers", str(totals.answers) + (f" ({estimated} priced by estimate)" if estimated
                                           else "")),
        ("prompt tokens", f"{u.prompt_tokens:,} (cached {u.cached_tokens:,}, image {u.image_tokens:,})"),
        ("completion tokens", f"{u.completion_tokens:,}"),
        ("reasoning tokens", f"{u.reasoning_tokens:,}"),
        ("total tokens", f"{u.total_tokens:,}"),
        ("cost", format_cost(totals.cost, estimate=bool(estimated) or getattr(
            totals, "approximate", False))),
    ]
    saved = getattr(totals, "saved", 0.0)
    if saved > 0:
        rows.append(("saved by caching", f"{format_cost(saved, estimate=True)} ({u.cached_tokens:,} "
                                         "cached tokens; estimated from price lists)"))
    rows += [(f"{limit.setting.replace('_', ' ')} ({limit.scope})", limit.shown())
             for limit in limits]
    note = f"\n\n{cell(ESTIMATE_NOTE)}" if estimated else ""
    plain = "\n".join(f"{k}: {v}" for k, v in rows) + (f"\n{ESTIMATE_NOTE}" if estimated else "")
    models = sorted(getattr(totals, "models", {}).items(), key=lambda item: -item[1][2])
    split = [(name, f"{n:,}", f"{tokens:,}", format_cost(cost)) for name, (n, tokens, cost)
             in models]
    if split:
        note += "\n\n" + table(("model", "answers", "tokens", "cost"), split)
        plain += "".join(f"\n{m}: {n} answers, {t} tokens, {c}" for m, n, t, c in split)
    return Report(table(("session", ""), rows) + note, plain,
                  columns=[("left nowrap", "left"), ("left nowrap", *["right nowrap"] * 3)])


def unreadable_report(path: object, reason: str) -> Report:
    """What `%grok log` and `%grok usage` say of a ledger they could not read (never "no
    exchanges" or "$0", which would be false)."""
    message = (f"The ledger at {path} could not be read ({reason}), so its exchanges and costs "
               "cannot be shown. Nothing in it was changed.")
    return Report(f"*{cell(message)}*", message)


def model_notes(model, current: str) -> list[str]:
    """What `%grok models` says of one listed model (`ModelInfo`): the default, the one cells
    use, a retired name (and what xAI serves it as), the retired names it serves."""
    from grok_magic.model_names import DEFAULT_MODEL, REDIRECT_TARGET, RETIRED_ON, is_retired

    names = (model.id, *model.aliases)
    notes = []
    if DEFAULT_MODEL in names:
        notes.append("default")
    if current in names:
        notes.append(f"in use ({current})" if current != model.id else "in use")
    if is_retired(model.id):
        notes.append(f"retired {RETIRED_ON}, served as {REDIRECT_TARGET}")
    retired = [a for a in model.aliases if is_retired(a)]
    if retired and not is_retired(model.id):
        notes.append(f"serves the retired {', '.join(retired)}")
    return notes


def models_report(models: Sequence, current: str) -> Report:
    """The models the key can use: aliases, images, prices (USD per 1M; from 200k tokens of
    prompt every token at the long-context rate) and notes (`model_notes`)."""
    rows, plain = [], []
    for m in models:
        p = m.price
        prices = [f"{v:g}" if v is not None else "—" for v in (
            (p.input, p.cached_input, p.output) if p else (None, None, None))]
        long = " / ".join(f"{v:g}" for v in (p.long_input, p.long_cached_input, p.long_output)
                          ) if p else "—"
        images = {True: "yes", False: "no", None: "?"}[m.image_input]
        aliases = ", ".join(m.aliases) or "—"
        notes = model_notes(m, current)
        marker = " ←" if current in (m.id, *m.aliases) else ""
        rows.append((m.id + marker, aliases, images, *prices, long, "; ".join(notes) or "—"))
        plain.append(f"{m.id}{marker}" + (f" ({', '.join(m.aliases)})" if m.aliases else "")
                     + f": images {images}, $ " + " / ".join(prices) + f" (≥ 200k: {long})"
                     + (f" — {'; '.join(notes)}" if notes else ""))
    header = ("model", "aliases", "images", "input $/1M", "cached $/1M", "output $/1M",
              "≥ 200k tokens $/1M", "notes")
    return Report(table(header, rows), "\n".join(plain))



def first_words(text: str | None, words: int) -> str:
    parts = (text or "").split()
    return " ".join(parts[:words]) + ("…" if len(parts) > words else "")


def local_time(moment: str) -> str:
    """A ledger time (UTC, ISO 8601) as local time, to the minute."""
    from datetime import datetime

    return datetime.fromisoformat(moment.replace("Z", "+00:00")).astimezone().strftime(
        "%Y-%m-%d %H:%M")


QUESTION_CHARS, ANSWER_CHARS = 80, 160  # of a preview in `%grok log`
# How `%grok log`'s columns are laid out (see display.styled_columns).
LOG_COLUMNS = ("right nowrap", "left nowrap", "left nowrap", "right nowrap", "right nowrap",
               "left", "left", "left")
FULL_HINT = "%grok log NUMBER --full shows one exchange whole."


def preview(markdown: str | None, chars: int) -> str:
    """What a reader would see of some Markdown, as plain text, cut to `chars` with "…"."""
    return ellipsised(plain_text(markdown or ""), chars)


def _facts(e) -> tuple[str, str, str, str]:
    """An exchange's model, tokens, cost and status, as `%grok log` shows them."""
    model = e.model_served or e.model_asked or "?"
    status = e.status if not e.error else f"{e.status}: {first_words(e.error, 8)}"
    guess = not e.cost_exact and e.cost is not None
    return model, ("≈ " if guess else "") + f"{e.total_tokens:,}", format_cost(
        e.cost, estimate=guess), status


def log_report(entries: Sequence, total: int, path: object) -> Report:
    """The last exchanges in the ledger: number, time, model, tokens, cost, status, and what the
    question and answer say (plain text, ellipsised)."""
    if not entries:
        message = f"The ledger {path} holds no exchanges yet."
        return Report(f"*{cell(message)}*", message)
    rows, plain = [], []
    for e in entries:
        model, tokens, cost, status = _facts(e)
        question, answer = preview(e.question, QUESTION_CHARS), preview(e.answer, ANSWER_CHARS)
        rows.append((e.id, local_time(e.time), model, tokens, cost, status, question, answer))
        plain.append(f"#{e.id}  {local_time(e.time)}  {model}  {tokens} tokens  {cost}  {status}"
                     f"\n  Q: {question}\n  A: {answer}")
    title = f"Last {len(entries)} of {total:,} exchanges in {path}"
    estimated = any(not e.cost_exact and e.cost is not None for e in entries)
    markdown = f"**{cell(title)}**\n\n" + table(
        ("#", "time", "model", "tokens", "cost", "status", "question", "answer"), rows) + (
        f"\n\n{cell(ESTIMATE_NOTE)}" if estimated else "") + f"\n\n{cell(FULL_HINT)}"
    return Report(markdown, "\n".join([title, *plain] + ([ESTIMATE_NOTE] if estimated else [])
                                      + [FULL_HINT]), columns=LOG_COLUMNS)


class ExchangeReport:
    """One exchange from the ledger, whole: our line of facts, the question and the answer each
    through the safe renderer on its own (as `HistoryReport` shows turns), any error as text."""

    def __init__(self, entry) -> None:
        self.entry = entry

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict:
        e = self.entry
        model, tokens, cost, status = _facts(e)
        where = f", {e.notebook}" if e.notebook else ""
        where += f" In [{e.cell}]" if e.cell is not None else ""
        facts = (f"Exchange #{e.id} · {local_time(e.time)}{where} · {model} · {tokens} tokens · "
                 f"{cost} · {status}")
        turns = [("You", e.question or ""), ("Grok", e.answer or "")]
        pieces = [f"<div class='grok-history-turn'><p class='grok-who'><strong>{who}:</strong>"
                  f"</p>{render_html(text)}</div>" for who, text in turns]
        error = (f"<p class='grok-note'><em>{html.escape(redact(e.error))}</em></p>"
                 if e.error else "")
        shown = wrap(f"<p class='grok-exchange'><strong>{html.escape(redact(facts))}</strong></p>"
                     + "<hr>".join(pieces) + error)
        plain = "\n\n".join([facts, *(f"{who}: {text}" for who, text in turns),
                              *([e.error] if e.error else [])])
        return {"text/html": shown, "text/plain": plain_twin(plain)}

    def __repr__(self) -> str:
        return self._repr_mimebundle_()["text/plain"]


SAVED_NOTE = ("Saved by caching: the cached tokens at the input price less the cached price, "
              "estimated from xAI's price list kept beside the ledger, else built-in prices.")


def ledger_usage_report(totals: Sequence, period: str, path: object,
                        price_of: Callable | None = None) -> Report:
    """Answers, failures, stops, tokens, cached tokens, what caching saved and cost per model
    over a period, from the ledger (`ModelTotal`s): a failed request is not an answer, and a
    stopped one is billed. `price_of(model)` gives the price a saving is estimated from."""
    from grok_magic.xai.pricing import fallback_price

    price_of = price_of or fallback_price
    scope = {"today": "today", "week": "the last 7 days", "all": "all time"}[period]
    title = f"Usage {scope}, every kernel (ledger {path})"
    header = ("model", "answers", "failed", "stopped or cut off", "prompt tokens",
              "completion tokens", "reasoning tokens", "cached tokens", "saved by caching", "cost")
    savings = {t.model: t.cache_saving(price_of(t.model)) if t.cached_tokens else 0.0
               for t in totals}

    def saved_text(group: Sequence) -> str:
        known = [savings[t.model] for t in group if savings[t.model] is not None]
        if not any(t.cached_tokens for t in group):
            return "—"
        return format_cost(sum(known), estimate=True) if known else "?"

    def row(name: str, group: Sequence) -> tuple:
        estimated = sum(t.estimated for t in group)
        return (name, *(f"{sum(getattr(t, f) for t in group):,}" for f in (
            "answers", "failures", "stops", "prompt_tokens", "completion_tokens",
            "reasoning_tokens", "cached_tokens")), saved_text(group),
            format_cost(sum(t.cost for t in group), estimate=bool(estimated)))

    rows = [row(t.model, [t]) for t in totals] + [row("total", totals)]
    estimated = sum(t.estimated for t in totals)
    plain = [title] + [f"{r[0]}: {r[1]} answers, {r[2]} failed, {r[3]} stopped or cut off, "
                       f"{r[4]} prompt, {r[5]} completion, {r[6]} reasoning tokens, {r[7]} "
                       f"cached (saved {r[8]}), {r[9]}"
                       for r in rows]
    if any(t.cached_tokens for t in totals):
        plain.append(SAVED_NOTE)
    note = f"\n\n{cell(ESTIMATE_NOTE)}" if estimated else ""
    note += f"\n\n{cell(SAVED_NOTE)}" if any(t.cached_tokens for t in totals) else ""
    markdown = f"**{cell(title)}**\n\n" + table(header, rows) + note
    return Report(markdown, "\n".join(plain + ([ESTIMATE_NOTE] if estimated else [])),
                  columns=("left nowrap", *["right nowrap"] * (len(header) - 1)))
