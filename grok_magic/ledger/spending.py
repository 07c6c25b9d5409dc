"""Budgets that hold at any concurrency, in any number of kernels.

Before a request is sent it reserves its worst case: its estimated prompt plus its completion
limit (`max_tokens` and the like, else the longest answer this model has given lately, else
ASSUMED_ANSWER_TOKENS). The per-kernel `budget` reserves in memory; the `daily_budget` in the
ledger, in the transaction that reads what every kernel has spent and reserved, so two kernels
see each other's requests in flight. A request is let through while what has been spent and
reserved is below the limit and its own prompt fits; otherwise it waits for requests in flight
to end (their answers may cost less than reserved), or, with nothing in flight, is refused. So a
limit is overshot by at most the cost of the last answer let through. The answer's row settles
its reservation in the transaction that records it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from grok_magic.ledger.budget import (
    ASSUMED_ANSWER_TOKENS,
    BudgetExceeded,
    Limit,
    estimate_prompt_tokens,
    quote,
    refusal,
)
from grok_magic.xai.pricing import Price

LIMIT_FIELDS = ("max_completion_tokens", "max_tokens", "max_output_tokens")
WAIT_STEP = 0.05  # seconds between looks at the reservations while waiting for room
LEARNED_ANSWERS = 50  # recent answers of a model whose longest predicts the next one


class Wait(Exception):
    """Requests in flight hold what is left: try again when one ends."""


@dataclass
class Hold:
    """What one request in flight holds: its body (whose estimated prompt tokens price a budget
    check, or an answer that ends without usage: estimated once, when first needed), the USD
    reserved, and the ledger's key for it."""

    body: Mapping
    amount: float = 0.0
    local: bool = False  # counted in this kernel's memory
    key: str | None = None  # the ledger's reservation
    _tokens: int | None = None

    @property
    def prompt_tokens(self) -> int:
        if self._tokens is None:
            self._tokens = estimate_prompt_tokens(self.body)
        return self._tokens

    @property
    def settles(self) -> tuple:
        return (self.key,) if self.key else ()


def completion_limit(body: Mapping) -> int | None:
    for name in LIMIT_FIELDS:
        value = body.get(name)
        if isinstance(value, int) and value > 0:
            return value
    return None


def decide(limit: Limit, prompt_cost: float | None, held: float, question: str) -> None:
    """Let the request through, or raise `Wait` (requests in flight hold the rest) or
    `BudgetExceeded` (spending alone leaves no room). `limit.spent` excludes reservations."""
    problem = refusal(limit, prompt_cost, question)
    if problem is not None:
        raise problem
    if limit.spent + held >= limit.amount or (
            prompt_cost is not None and limit.spent + held + prompt_cost > limit.amount):
        raise Wait


class Purse:
    """The money side of one recorder: its holds in memory, and the admission of each request
    against the limits that `limits_now()` gives (spent without reservations), reserving in the
    ledger through `reserve_in_ledger(amount, seconds, decide)` (None: the ledger cannot)."""

    def __init__(self) -> None:
        self.reserved = 0.0  # USD held in memory by this kernel's requests in flight
        self._cond = threading.Condition()
        self._longest: dict[str, int] = {}

    def learn(self, model: str | None, tokens: int) -> None:
        """An answer of `tokens` completion (and reasoning) tokens came from `model`."""
        if model:
            with self._cond:
                self._longest[model] = max(self._longest.get(model, 0), tokens)

    def longest(self, model: str | None, ledger_longest: Callable[[str], int | None]) -> int:
        if not model:
            return ASSUMED_ANSWER_TOKENS
        with self._cond:
            known = self._longest.get(model)
        if known is None:
            known = ledger_longest(model) or 0
            with self._cond:
                self._longest[model] = max(self._longest.get(model, 0), known)
        return known or ASSUMED_ANSWER_TOKENS

    def hold(self, body: Mapping, price: Price | None, question: str, *, kernel: Limit | None,
             daily: Limit | None, daily_in_ledger: Callable | None, answer_tokens: int,
             seconds: float, fixed: float | None = None) -> Hold:
        """Admit the request `body` (waiting up to `seconds` for room), reserving its worst case:
        by its tokens, or `fixed` USD (a generation priced per image: known before sending)."""
        hold = Hold(body)
        if kernel is None and daily is None:
            return hold
        if fixed is not None:
            prompt_cost = worst = fixed  # it fits whole, or is not sent
        else:
            if price is not None:  # a prompt of 200k tokens or more: every token at the long rate
                price = price.tier(hold.prompt_tokens)
            prompt_cost = None if price is None else hold.prompt_tokens * price.input / 1_000_000
            completion = completion_limit(body) or answer_tokens
            worst = (prompt_cost or 0.0) + (0.0 if price is None
                                            else completion * price.output / 1e6)
        give_up = time.monotonic() + seconds
        while True:
            try:
                with self._cond:
                    self._admit(hold, worst, prompt_cost, question, kernel, daily, daily_in_ledger)
                return hold
            except Wait:
                if time.monotonic() > give_up:
                    raise BudgetExceeded(
                        f"requests still in flight hold what is left of the budget, so "
                        f"{quote(question)} was not sent", hint="Try again when they have ended, or "
                        "raise the limit.") from None
                with self._cond:
                    self._cond.wait(WAIT_STEP)
            kernel, daily = (limit and limit.refreshed() for limit in (kernel, daily))

    def _admit(self, hold: Hold, worst: float, prompt_cost: float | None, question: str,
               kernel: Limit | None, daily: Limit | None, daily_in_ledger: Callable | None) -> None:
        if kernel is not None:
            decide(kernel, prompt_cost, self.reserved, question)
        if daily is not None:
            key = None
            if daily_in_ledger is not None:
                key = daily_in_ledger(worst, lambda spent, held: decide(
                    daily.at(spent), prompt_cost, held, question))
            if key is None:  # the ledger is off or cannot take it: this kernel's own holds
                decide(daily, prompt_cost, self.reserved, question)
            hold.key = key
        hold.amount, hold.local = worst, True
        self.reserved += worst

    def release(self, hold: Hold) -> None:
        """The request ended (answered and counted, or failed): its memory hold goes."""
        if hold.local:
            with self._cond:
                self.reserved = max(self.reserved - hold.amount, 0.0)
                hold.local = False
                self._cond.notify_all()


def limits_set(budget: float | None, daily_budget: float | None, spent_here: Callable[[], float],
               ledger) -> tuple[Limit | None, Limit | None]:
    """The per-kernel and daily limits that are set, with what has been spent (reservations
    not counted: they are weighed when a request is let through). `spent_here`: this kernel's
    spending; `ledger`: the one every kernel records in (None: off)."""
    kernel = daily = None
    if budget is not None:
        kernel = Limit(budget, spent_here(), "budget", "this kernel", measure=spent_here)
    if daily_budget is not None:
        from grok_magic.ledger.store import period_start

        if ledger is not None and ledger.can_write():
            def measure() -> float:
                return ledger.spent(since=period_start("today"))

            scope = "today (every kernel)"
        else:
            measure, scope = spent_here, "today (this kernel only: the ledger is off or read-only)"
        daily = Limit(daily_budget, measure(), "daily_budget", scope, measure=measure)
    return kernel, daily


def with_reservations(kernel: Limit | None, daily: Limit | None, purse: Purse,
                      ledger) -> list[Limit]:
    """The limits as shown: what has been spent and what requests in flight hold."""
    found = []
    if kernel is not None:
        found.append(kernel.at(kernel.spent + purse.reserved))
    if daily is not None:
        shared = ledger is not None and ledger.can_write()
        found.append(daily.at(daily.spent + (ledger.reserved() if shared else purse.reserved)))
    return found


def hold_request(purse: Purse, body: Mapping, price: Price | None, kernel: Limit | None,
                 daily: Limit | None, ledger, session: str, seconds: float,
                 fixed: float | None = None) -> Hold:
    """Admit `body` against the limits, its worst case (`fixed` USD, when known before
    sending) held in memory and, for the daily limit, in `ledger` (None: off)."""
    in_ledger = None
    if daily is not None and ledger is not None and ledger.can_write():
        from grok_magic.ledger.store import period_start

        def in_ledger(amount: float, decide: Callable) -> str | None:
            return ledger.reserve(session, amount, seconds, period_start("today"), decide)

    model = body.get("model")
    answer_tokens = purse.longest(model, ledger.longest_answer if ledger is not None
                                  else lambda _: None) if (kernel or daily) and fixed is None else 0
    from grok_magic.ledger.canonical import question_of

    return purse.hold(body, price, question_of(body), kernel=kernel, daily=daily,
                      daily_in_ledger=in_ledger, answer_tokens=answer_tokens, seconds=seconds,
                      fixed=fixed)
