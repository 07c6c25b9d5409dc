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
from pathlib import Path
from typing import TYPE_CHECKING

from grok_magic.errors import ConfigError, GrokError, InputError
from grok_magic.messages import ENDPOINTS
from grok_magic.settings import REPLAY_MODES, ledger_location, replay_from_env
from grok_magic.transport import refuse_key_in

if TYPE_CHECKING:
    from grok_magic.budget import Limit
    from grok_magic.canonical import Canonical
    from grok_magic.client import EndHooks, GrokClient
    from grok_magic.conversation import Ask
    from grok_magic.ledger import Ledger
    from grok_magic.response import Response

# The ledger, budget and replay modules load on the first exchange, not with %load_ext.
NOTEBOOK_ENV = "JPY_SESSION_NAME"  # set by Jupyter for a notebook's kernel
_UNOPENED = object()

_SESSION: str | None = None


def kernel_session() -> str:
    """One id for this process (kernel), shared by every recorder in it."""
    global _SESSION
    if _SESSION is None:
        import uuid

        _SESSION = uuid.uuid4().hex
    return _SESSION


def _new_tally():
    from grok_magic.response import Totals

    return Totals()


class ReplayMissError(InputError):
    """Not in the ledger."""


class Recorder:
    """The ledger side of sending: `replay` is "off" (always ask xAI), "auto" (answer an
    identical, already answered request from the ledger) or "only" (never contact xAI);
    `budget` (USD, this kernel) and `daily_budget` (USD, today, every kernel) limit spending.

    Give it a `Ledger`, or a `location` to open one there on first use (read-only while replay
    is "only"); neither records nothing."""

    def __init__(
        self, ledger: Ledger | None = None, *, location: Path | None = None,
        replay: str = "off", budget: float | None = None, daily_budget: float | None = None,
        notebook: str | None = None, notify: Callable[[str], None] | None = None,
    ) -> None:
        if replay not in REPLAY_MODES:
            raise ConfigError(f"replay is {replay!r}", hint="Use off, auto or only.")
        self.replay = replay
        self.budget = budget
        self.daily_budget = daily_budget
        self.notebook = notebook if notebook is not None else os.environ.get(NOTEBOOK_ENV) or None
        self.session = kernel_session()
        self.reserved = 0.0  # estimated prompt cost of requests in flight (counted as spent)
        self.tally = _new_tally()  # every answer this session: cells, panel, --each, batches
        # With the ledger off, the answers to questions that may be replayed (ask.replay set,
        # as --each sets it) are kept here instead, so a run resumes within the session.
        self.memory: dict = {}
        self._location, self._notify = location, notify
        self._ledger = ledger if ledger is not None or location is None else _UNOPENED
        self._lock = threading.Lock()

    @classmethod
    def from_env(cls, setting: str | None = None,
                 notify: Callable[[str], None] | None = None) -> Recorder:
        """The ledger at GROK_LEDGER or the default path, replay from GROK_REPLAY."""
        return cls(location=ledger_location(setting), replay=replay_from_env(), notify=notify)

    @property
    def ledger(self) -> Ledger | None:
        if self._ledger is _UNOPENED:
            from grok_magic.ledger import open_ledger

            self._ledger = open_ledger(self._location, replay=self.replay, notify=self._notify)
        return self._ledger

    @ledger.setter
    def ledger(self, ledger: Ledger | None) -> None:
        self._ledger = ledger

    def use(self, location: Path | None, replay: str,
            notify: Callable[[str], None] | None = None) -> None:
        """Switch to the ledger at `location` (opened on first use) and this replay mode."""
        if replay not in REPLAY_MODES:
            raise ConfigError(f"replay is {replay!r}", hint="Use off, auto or only.")
        if self._ledger not in (_UNOPENED, None):
            self._ledger.close()
        self.replay, self._location, self._notify = replay, location, notify
        self._ledger = _UNOPENED if location is not None else None

    def __repr__(self) -> str:
        return f"Recorder({self.ledger!r}, replay={self.replay!r})"

    # -- sending -------------------------------------------------------------------------------
    def stream(self, client: GrokClient, body: Mapping, ask: Ask) -> EndHooks:
        """A streaming answer to `body`: replayed, or sent to xAI and recorded when it ends."""
        send = client.respond_stream if ask.wire == "responses" else client.stream
        return self._exchange(client, body, ask, send, streaming=True)

    def complete(self, client: GrokClient, body: Mapping, ask: Ask) -> Response:
        """The whole answer to `body`: replayed, or sent to xAI and recorded."""
        send = client.respond if ask.wire == "responses" else client.complete
        return self._exchange(client, body, ask, send, streaming=False)

    def _exchange(self, client: GrokClient, body: Mapping, ask: Ask, send: Callable, *,
                  streaming: bool):
        from grok_magic.canonical import Canonical
        from grok_magic.replay import ReplayStream

        refuse_key_in(body)  # refused before anything is recorded: it was never a request
        canonical = Canonical.of(body)
        entry = self._replayable(canonical.hash, body, ask)
        if entry is not None:
            replayed = ReplayStream(entry)
            replayed.on_end(self.tally.add)  # counted (it costs nothing), not written again
            return replayed if streaming else replayed.until_done()
        reserved = self._before_sending(client, body)
        started = time.monotonic()
        try:
            answer = send(body, timeout=ask.timeout)
        except BaseException as err:
            self._release(reserved)
            if isinstance(err, GrokError):
                self._write(canonical, ask.source, ask.cell, None, err,
                            time.monotonic() - started, api=ask.wire)
            raise
        if streaming:  # recorded when it ends (complete, stopped or cut off)
            answer.on_end(lambda response: self.ended(canonical, ask, response, reserved))
        else:
            self.ended(canonical, ask, answer, reserved)
        return answer

    def _replayable(self, key: str, body: Mapping, ask: Ask):
        mode = "only" if self.replay == "only" else ask.replay or self.replay
        if mode == "off":
            return None
        entry = (self.ledger.find_answer(key) if self.ledger is not None
                 else self.memory.get(key))
        if entry is None and mode == "only":
            from grok_magic.canonical import question_of

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

    def _before_sending(self, client: GrokClient, body: Mapping) -> float:
        """Check the key and the budgets; reserve the estimated prompt cost while the request
        runs, so requests in flight at once cannot overshoot a budget together."""
        client.settings.require_secret()
        if self.budget is None and self.daily_budget is None:
            return 0.0
        from grok_magic.budget import check, estimate_prompt_cost
        from grok_magic.canonical import question_of
        from grok_magic.pricing import fallback_price

        model = body.get("model")
        estimate = estimate_prompt_cost(body, client.price_for(model) or fallback_price(model))
        with self._lock:
            check(self.limits(), estimate, question_of(body))
            self.reserved += estimate or 0.0
        return estimate or 0.0

    def _release(self, reserved: float) -> None:
        if reserved:
            with self._lock:
                self.reserved = max(self.reserved - reserved, 0.0)

    # -- budgets -------------------------------------------------------------------------------
    @property
    def spent(self) -> float:
        """USD this recorder's answers cost (this kernel); replays cost nothing."""
        return self.tally.cost

    def limits(self) -> list[Limit]:
        """The limits that are set, with what has been spent against each."""
        if self.budget is None and self.daily_budget is None:
            return []
        from grok_magic.budget import Limit
        from grok_magic.ledger import period_start

        found = []
        if self.budget is not None:
            found.append(Limit(self.budget, self.spent + self.reserved, "budget", "this kernel"))
        if self.daily_budget is not None:
            if self.ledger is not None:
                spent = max(self.ledger.spent(since=period_start("today")), self.spent)
                scope = "today (every kernel)"
            else:
                spent, scope = self.spent, "today (this kernel only: the ledger is off)"
            spent += self.reserved
            found.append(Limit(self.daily_budget, spent, "daily_budget", scope))
        return found

    # -- recording -----------------------------------------------------------------------------
    def ended(self, canonical: Canonical, ask: Ask, response: Response, reserved: float = 0.0) -> None:
        """An answer from xAI ended (complete, stopped or cut off): count and record it."""
        self.tally.add(response)  # counted before its reservation is let go: never under
        with self._lock:
            self.reserved = max(self.reserved - reserved, 0.0)
        self._write(canonical, ask.source, ask.cell, response, None, None, api=ask.wire)
        if self.ledger is None and ask.replay and response.complete:
            entry = self._entry(canonical, ask.source, ask.cell, response, None, None,
                                api=ask.wire)
            entry.id = 0  # replayed from this session's memory, not from a ledger row
            self.memory[entry.request_hash] = entry

    def _write(self, canonical: Canonical, source: str, cell: int | None, response: Response | None,
               error: GrokError | str | None, seconds: float | None, *,
               api: str = "chat") -> None:
        if self.ledger is None or self.ledger.readonly:
            return
        self.ledger.record(self._entry(canonical, source, cell, response, error, seconds,
                                       api=api))

    def _entry(self, canonical: Canonical, source: str, cell: int | None, response: Response | None,
               error: GrokError | str | None, seconds: float | None, *, api: str = "chat"):
        from grok_magic.canonical import question_of
        from grok_magic.ledger import Entry, utc_now

        entry = Entry(
            time=utc_now(), session=self.session, notebook=self.notebook, cell=cell,
            source=source, api=api, endpoint=ENDPOINTS[api],
            model_asked=canonical.body.get("model"), request_hash=canonical.hash,
            request=canonical.text, question=question_of(canonical.body),
            status="error" if response is None or isinstance(error, str) else response.status,
            error=error if isinstance(error, str) or error is None else
            f"{error.title}: {error.message}",
            total_s=seconds,
        )
        if response is not None:
            _fill_answer(entry, response)
            entry.error = entry.error or (error if isinstance(error, str) else None)
        return entry

    def record_results(self, results: list[tuple[Canonical, Response | None, str | None]],
                       cell: int | None = None) -> None:
        """Batch API results — (canonical request, answer or None, error) — in one write."""
        for _, response, _ in results:
            if response is not None:
                self.tally.add(response)
        if self.ledger is None or self.ledger.readonly or not results:
            return
        self.ledger.record_many([self._entry(c, "batch", cell, r, e, None)
                                 for c, r, e in results])


def _fill_answer(entry, response: Response) -> None:
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
