"""Recorder: each exchange through the ledger — answered from it when replay allows, checked
against the budgets before anything is sent, and written to it when the answer ends.

>>> recorder = Recorder(Ledger("lesson.sqlite"), replay="only")       # doctest: +SKIP
>>> Conversation(recorder=recorder).send(client, ask)                  # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict
from typing import TYPE_CHECKING

from grok_magic.budget import Limit, check, estimate_prompt_cost
from grok_magic.canonical import canonical_json, canonical_request, question_of, request_hash
from grok_magic.errors import ConfigError, GrokError, InputError
from grok_magic.ledger import Entry, Ledger, ledger_location, open_ledger, period_start, utc_now
from grok_magic.pricing import fallback_price
from grok_magic.replay import ReplayStream

if TYPE_CHECKING:
    from grok_magic.client import EndHooks, GrokClient
    from grok_magic.conversation import Ask
    from grok_magic.response import Response

REPLAY_ENV = "GROK_REPLAY"
REPLAY_MODES = ("off", "auto", "only")
NOTEBOOK_ENV = "JPY_SESSION_NAME"  # set by Jupyter for a notebook's kernel

_SESSION: str | None = None


def kernel_session() -> str:
    """One id for this process (kernel), shared by every recorder in it."""
    global _SESSION
    if _SESSION is None:
        import uuid

        _SESSION = uuid.uuid4().hex
    return _SESSION


def replay_from_env() -> str:
    """GROK_REPLAY (off, auto or only; off when unset)."""
    value = os.environ.get(REPLAY_ENV, "").strip().lower() or "off"
    if value not in REPLAY_MODES:
        raise ConfigError(f"GROK_REPLAY is {value!r}", hint="Use off, auto or only.")
    return value


class ReplayMissError(InputError):
    """Not in the ledger."""


class Recorder:
    """The ledger side of sending: `replay` is "off" (always ask xAI), "auto" (answer an
    identical, already answered request from the ledger) or "only" (never contact xAI);
    `budget` (USD, this kernel) and `daily_budget` (USD, today, every kernel) limit spending."""

    def __init__(
        self, ledger: Ledger | None = None, *, replay: str = "off", budget: float | None = None,
        daily_budget: float | None = None, notebook: str | None = None,
    ) -> None:
        if replay not in REPLAY_MODES:
            raise ConfigError(f"replay is {replay!r}", hint="Use off, auto or only.")
        self.ledger = ledger
        self.replay = replay
        self.budget = budget
        self.daily_budget = daily_budget
        self.notebook = notebook if notebook is not None else os.environ.get(NOTEBOOK_ENV) or None
        self.session = kernel_session()
        self.spent = 0.0  # USD spent through this recorder (this kernel); replays are free
        self._lock = threading.Lock()

    @classmethod
    def from_env(cls, setting: str | None = None,
                 notify: Callable[[str], None] | None = None) -> Recorder:
        """The ledger at GROK_LEDGER or the default path, replay from GROK_REPLAY."""
        replay = replay_from_env()
        return cls(open_ledger(ledger_location(setting), replay=replay, notify=notify),
                   replay=replay)

    def __repr__(self) -> str:
        return f"Recorder({self.ledger!r}, replay={self.replay!r})"

    # -- sending -------------------------------------------------------------------------------
    def stream(self, client: GrokClient, body: Mapping, ask: Ask) -> EndHooks:
        """A streaming answer to `body`: replayed, or sent to xAI and recorded when it ends."""
        canonical = canonical_request(body)
        entry = self._replayable(request_hash(canonical), body)
        if entry is not None:
            return ReplayStream(entry)
        self._before_sending(client, body)
        started = time.monotonic()
        try:
            stream = client.stream(body, timeout=ask.timeout)
        except GrokError as err:
            self._write(canonical, ask, None, err, time.monotonic() - started)
            raise
        stream.on_end(lambda response: self.ended(canonical, ask, response))
        return stream

    def complete(self, client: GrokClient, body: Mapping, ask: Ask) -> Response:
        """The whole answer to `body`: replayed, or sent to xAI and recorded."""
        canonical = canonical_request(body)
        entry = self._replayable(request_hash(canonical), body)
        if entry is not None:
            return ReplayStream(entry).until_done()
        self._before_sending(client, body)
        started = time.monotonic()
        try:
            response = client.complete(body, timeout=ask.timeout)
        except GrokError as err:
            self._write(canonical, ask, None, err, time.monotonic() - started)
            raise
        self.ended(canonical, ask, response)
        return response

    def _replayable(self, key: str, body: Mapping):
        if self.replay == "off":
            return None
        entry = self.ledger.find_answer(key) if self.ledger is not None else None
        if entry is None and self.replay == "only":
            where = (f"the ledger {self.ledger.path} has no answer to it" if self.ledger
                     else "the ledger is off (GROK_LEDGER=off)")
            question = " ".join(question_of(body).split()[:12]) or "(no text)"
            raise ReplayMissError(
                f'replay is "only", so xAI is not contacted, and {where}. The question was '
                f'"{question}"; nothing was sent',
                hint='Replay answers exactly the questions recorded, in the same order, with the '
                     'same model and options. To ask it live, use %config GrokMagics.replay = '
                     '"auto" (or GROK_REPLAY=auto) with an API key.')
        return entry

    def _before_sending(self, client: GrokClient, body: Mapping) -> None:
        client.settings.require_secret()
        limits = self.limits()
        if limits:
            model = body.get("model")
            price = client.price_for(model) or fallback_price(model)
            check(limits, estimate_prompt_cost(body, price), question_of(body))

    # -- budgets -------------------------------------------------------------------------------
    def limits(self) -> list[Limit]:
        """The limits that are set, with what has been spent against each."""
        found = []
        if self.budget is not None:
            found.append(Limit(self.budget, self.spent, "budget", "this kernel"))
        if self.daily_budget is not None:
            if self.ledger is not None:
                spent = max(self.ledger.spent(since=period_start("today")), self.spent)
                scope = "today (every kernel)"
            else:
                spent, scope = self.spent, "today (this kernel only: the ledger is off)"
            found.append(Limit(self.daily_budget, spent, "daily_budget", scope))
        return found

    # -- recording -----------------------------------------------------------------------------
    def ended(self, canonical: dict, ask: Ask, response: Response) -> None:
        """An answer from xAI ended (complete, stopped or cut off): count and record it."""
        cost = response.cost
        if cost:
            with self._lock:
                self.spent += cost
        self._write(canonical, ask, response, None, None)

    def _write(self, canonical: dict, ask: Ask, response: Response | None,
               error: GrokError | None, seconds: float | None) -> None:
        if self.ledger is None or self.ledger.readonly:
            return
        entry = Entry(
            time=utc_now(), session=self.session, notebook=self.notebook, cell=ask.cell,
            source=ask.source, api="chat", endpoint="/chat/completions",
            model_asked=canonical.get("model"), request_hash=request_hash(canonical),
            request=canonical_json(canonical), question=question_of(canonical),
            status="error" if response is None else response.status,
            error=f"{error.title}: {error.message}" if error is not None else None,
            total_s=seconds,
        )
        if response is not None:
            _fill_answer(entry, response)
        self.ledger.record(entry)


def _fill_answer(entry: Entry, response: Response) -> None:
    usage = response.usage
    entry.model_served = response.model
    entry.answer, entry.reasoning = response.text, response.reasoning
    entry.finish_reason, entry.response_id = response.finish_reason, response.id
    entry.request_id = response.request_id
    entry.cost = response.cost
    entry.error = response.error
    if usage is not None:
        entry.usage = json.dumps(asdict(usage))
        entry.prompt_tokens, entry.completion_tokens = usage.prompt_tokens, usage.completion_tokens
        entry.reasoning_tokens, entry.cached_tokens = usage.reasoning_tokens, usage.cached_tokens
        entry.image_tokens, entry.total_tokens = usage.image_tokens, usage.total_tokens
    if response.first_token_at is not None:
        entry.first_token_s = response.first_token_at - response.started
    entry.total_s = response.elapsed
    entry.citations = json.dumps(response.citations) if response.citations else None
    entry.tool_calls = json.dumps(response.tool_calls) if response.tool_calls else None
