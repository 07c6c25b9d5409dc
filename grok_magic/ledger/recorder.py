"""Recorder: each exchange through the ledger — answered from it when replay allows, checked
against the budgets before anything is sent, and written to it when the answer ends.

>>> recorder = Recorder(Ledger("lesson.sqlite"), replay="only")       # doctest: +SKIP
>>> Conversation(recorder=recorder).send(client, ask)                  # doctest: +SKIP
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from grok_magic.errors import ConfigError, GrokError, InputError
from grok_magic.settings import REPLAY_MODES, ledger_location, replay_from_env
from grok_magic.xai.transport import refuse_key_in

if TYPE_CHECKING:
    from grok_magic.ask import Ask
    from grok_magic.ledger.budget import Limit
    from grok_magic.ledger.canonical import Canonical
    from grok_magic.ledger.store import Ledger
    from grok_magic.xai.client import GrokClient
    from grok_magic.xai.response import Response
    from grok_magic.xai.streams import EndHooks

# The ledger, budget and replay modules load on the first exchange, not with %load_ext.
NOTEBOOK_ENV = "JPY_SESSION_NAME"  # set by Jupyter for a notebook's kernel
_UNOPENED = object()
RESERVE_SECONDS = 3600.0  # how long a request with no timeout of its own may hold a reservation

_SESSION: str | None = None


def kernel_session() -> str:
    """One id for this process (kernel), shared by every recorder in it."""
    global _SESSION
    if _SESSION is None:
        import uuid

        _SESSION = uuid.uuid4().hex
    return _SESSION


def _new_tally():
    from grok_magic.xai.response import Totals

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
        self._purse = None  # what requests in flight hold against the budgets (spending.py)
        self.tally = _new_tally()  # every answer this session: cells, panel, --each, batches
        # With the ledger off, the answers to questions that may be replayed (ask.replay set,
        # as --each sets it) are kept here instead, so a run resumes within the session.
        self.memory: dict = {}
        self._location, self._notify = location, notify
        self._ledger = ledger if ledger is not None or location is None else _UNOPENED

    @property
    def purse(self):
        """The money held by this kernel's requests in flight (made on first use: the budget
        modules are not imported by %load_ext)."""
        if self._purse is None:
            from grok_magic.ledger.spending import Purse

            self._purse = Purse()
        return self._purse

    @classmethod
    def from_env(cls, setting: str | None = None,
                 notify: Callable[[str], None] | None = None) -> Recorder:
        """The ledger at GROK_LEDGER or the default path, replay from GROK_REPLAY."""
        return cls(location=ledger_location(setting), replay=replay_from_env(), notify=notify)

    @property
    def ledger(self) -> Ledger | None:
        if self._ledger is _UNOPENED:
            from grok_magic.ledger.store import open_ledger

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
        from grok_magic.ledger.canonical import Canonical
        from grok_magic.ledger.replay import ReplayStream

        refuse_key_in(body)  # refused before anything is recorded: it was never a request
        canonical = Canonical.of(body)
        entry = self.replayable(canonical.hash, body, ask)
        if entry is not None:
            replayed = ReplayStream(entry)
            replayed.on_end(self.tally.add)  # counted (it costs nothing), not written again
            return replayed if streaming else replayed.until_done()
        client.settings.require_secret()
        client.prices.beside(self._location or getattr(self._ledger, "path", None))
        hold = self._hold(client, body, ask)
        key = f"live:{uuid.uuid4().hex}"  # the answer's natural key: recorded once, whatever
        started = time.monotonic()
        try:
            answer = send(body, timeout=ask.timeout, headers=ask.headers)
        except BaseException as err:
            self.purse.release(hold)
            if self.ledger is not None:
                self.ledger.release(hold.settles)
            if isinstance(err, GrokError) and ask.record_errors:
                self._write(canonical, ask, None, err, time.monotonic() - started)
            raise
        if streaming:  # recorded when it ends (complete, stopped or cut off)
            answer.on_end(lambda response: self.ended(canonical, ask, response, hold, key, client))
        else:
            self.ended(canonical, ask, answer, hold, key, client)
        return answer

    def replayable(self, key: str, body: Mapping, ask: Ask):
        """The ledger's answer to the request whose canonical hash is `key`, when replay (the
        recorder's, or `ask.replay`) allows; None to send it. Raises when replay is "only"
        and there is none."""
        mode = "only" if self.replay == "only" else ask.replay or self.replay
        if mode == "off":
            return None
        entry = (self.ledger.find_answer(key) if self.ledger is not None
                 else self.memory.get(key))
        if entry is None and mode == "only":
            from grok_magic.ledger.canonical import question_of

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

    def _hold(self, client: GrokClient, body: Mapping, ask: Ask):
        """Check the budgets and hold this request's worst case while it runs (see spending.py)."""
        from grok_magic.ledger.spending import hold_request
        from grok_magic.xai.pricing import fallback_price

        kernel, daily = self.limits_now()
        model = body.get("model")
        # Prices (which may mean a request for /language-models) only when a limit needs them.
        price = client.price_for(model) or fallback_price(model) if kernel or daily else None
        return hold_request(self.purse, body, price, kernel, daily,
                            self.ledger if daily is not None else None, self.session,
                            ask.timeout or RESERVE_SECONDS)

    # -- budgets -------------------------------------------------------------------------------
    @property
    def spent(self) -> float:
        """USD this recorder's answers cost (this kernel); replays cost nothing."""
        return self.tally.cost

    @property
    def reserved(self) -> float:
        """USD held by this kernel's requests in flight."""
        return self.purse.reserved

    def limits_now(self) -> tuple[Limit | None, Limit | None]:
        from grok_magic.ledger.spending import limits_set

        if self.budget is None and self.daily_budget is None:
            return None, None
        return limits_set(self.budget, self.daily_budget, lambda: self.spent, self.ledger)

    def limits(self) -> list[Limit]:
        """The limits that are set, with what has been spent and reserved against each."""
        from grok_magic.ledger.spending import with_reservations

        return with_reservations(*self.limits_now(), self.purse, self.ledger)

    # -- recording -----------------------------------------------------------------------------
    def ended(self, canonical: Canonical, ask: Ask, response: Response, hold=None,
              key: str | None = None, client: GrokClient | None = None) -> None:
        """An answer from xAI ended (complete, stopped or cut off): price, count and record it
        (once: by its natural `key`), settling what it held."""
        if hold is not None and response.usage is None:
            response.prompt_estimate = hold.prompt_tokens  # priced as an estimate
            if client is not None:
                client.fill_price(response)  # from xAI's price list, and says so
        self.tally.add(response)  # counted before its hold is let go: never under
        if response.usage is not None and response.complete:
            self.purse.learn(canonical.body.get("model"), response.usage.completion_tokens
                             + response.usage.reasoning_tokens)
        if hold is not None:
            self.purse.release(hold)
        settles = hold.settles if hold is not None else ()
        if not self._write(canonical, ask, response, None, None, key=key, settles=settles) \
                and settles and self.ledger is not None:
            self.ledger.release(settles)
        if self.ledger is None and ask.replay and response.complete:
            entry = self._entry(canonical, ask.source, ask.cell, response, None, None,
                                api=ask.wire)
            entry.id = 0  # replayed from this session's memory, not from a ledger row
            self.memory[entry.request_hash] = entry

    def record_failure(self, body: Mapping, ask: Ask, error: GrokError | str) -> None:
        """The one error row of a request that failed for good (asked with record_errors off,
        as --each does, so the attempts that were retried leave no row)."""
        from grok_magic.ledger.canonical import Canonical

        self._write(Canonical.of(body), ask, None, error, None)

    def _write(self, canonical: Canonical, ask: Ask, response: Response | None,
               error: GrokError | str | None, seconds: float | None, *,
               key: str | None = None, settles: tuple = ()) -> bool:
        """Record one exchange; whether it went to the ledger (to be written)."""
        if self.ledger is None or not self.ledger.can_write():
            return False
        entry = self._entry(canonical, ask.source, ask.cell, response, error, seconds,
                            api=ask.wire)
        return self.keep(entry, key, settles)

    def keep(self, entry, key: str | None = None, settles: tuple = ()) -> bool:
        """Write one row (an `Entry`, under its natural `key`), settling reservations; whether
        the ledger takes it."""
        if self.ledger is None or not self.ledger.can_write():
            return False
        entry.answer_key = key or f"live:{uuid.uuid4().hex}"
        self.ledger.record(entry, settles)
        return True

    def _entry(self, canonical: Canonical, source: str, cell: int | None, response: Response | None,
               error: GrokError | str | None, seconds: float | None, *, api: str = "chat"):
        from grok_magic.ledger.rows import entry_for

        return entry_for(canonical, session=self.session, notebook=self.notebook, source=source,
                         cell=cell, response=response, error=error, seconds=seconds, api=api)

    def record_results(self, results: list[tuple[str, Canonical, Response | None, str | None]],
                       cell: int | None = None) -> None:
        """Batch API results — (answer key, canonical request, answer or None, error) — in one
        write. A result already in the ledger (by its key: the job was attached before, in this
        kernel or another) is neither counted nor written again."""
        ledger = self.ledger if self.ledger is not None and self.ledger.can_write() else None
        known = ledger.known_keys([k for k, *_ in results]) if ledger and results else set()
        fresh = [r for r in results if r[0] not in known]
        for _, _, response, _ in fresh:
            if response is not None:
                self.tally.add(response)
        if ledger is None or ledger.readonly or not fresh:
            return
        entries = []
        for key, canonical, response, error in fresh:
            api = "responses" if "input" in canonical.body else "chat"
            entry = self._entry(canonical, "batch", cell, response, error, None, api=api)
            entry.answer_key = key
            entries.append(entry)
        ledger.record_many(entries)

