"""EachRun: many one-turn exchanges on a pool of worker threads — concurrency that adapts to
rate limits, retries, budgets, interrupts — with a Row per item, in the items' order.

Each item is its own one-turn exchange (the system prompt and options apply; no history is sent
or kept). Items are read and their images encoded inside the workers, just in time, so a folder
of large photos never sits in memory at once. Row i always belongs to item i.
"""

from __future__ import annotations

import heapq
import queue
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

from grok_magic.ask import Ask
from grok_magic.errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    CreditsExhaustedError,
    GrokError,
    InterruptedByUser,
    RateLimitError,
    ServerError,
    StreamInterruptedError,
)
from grok_magic.imagine import Imagine, split_turn
from grok_magic.ledger.budget import BudgetExceeded
from grok_magic.ledger.recorder import Recorder
from grok_magic.runs.items import Items
from grok_magic.settings import DEADLINE
from grok_magic.xai.client import GrokClient
from grok_magic.xai.response import Response
from grok_magic.xai.transport import MAX_RETRY_DELAY, retry_delay

DEFAULT_CONCURRENCY = 8
WAIT_FLOOR = 0.02  # seconds; doubles with each "later" an item gets (no hot loop on Retry-After: 0)
RAISE_AFTER = 4  # successes since the limit last changed before one more request may run
POLL = 0.05  # seconds the dispatcher waits for a result before looking again (interrupts)
PROGRESS_EVERY = 0.5  # seconds between progress reports while nothing finishes
CANCELLED = "cancelled"


@dataclass
class Progress:
    """Where a run is: counts, pace, tokens and cost so far."""

    total: int
    concurrency: int
    done: int = 0  # finished, with an answer or an error
    failed: int = 0
    replayed: int = 0
    retries: int = 0  # requests sent again, whatever the reason
    rate_limited: int = 0  # 429s (not out of credits)
    waits: int = 0  # retries after a 429 with Retry-After, which use no retry of an item
    in_flight: int = 0
    tokens: int = 0
    cost: float = 0.0
    started: float = field(default_factory=time.monotonic)
    finished: float | None = None

    @property
    def elapsed(self) -> float:
        return (self.finished or time.monotonic()) - self.started

    @property
    def rate(self) -> float:
        """Items finished per second."""
        return self.done / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def eta(self) -> float | None:
        """Seconds until every item is done, at the pace so far."""
        return (self.total - self.done) / self.rate if self.rate else None


@dataclass
class Row:
    """What one item got."""

    answer: str | None = None
    parsed: object = None
    model: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    reasoning_tokens: int | None = None
    cost: float | None = None
    seconds: float | None = None
    error: str | None = None
    replayed: bool = False
    ok: bool = False
    image: object = None  # --imagine: the PIL image made (a list with --count over 1)


def one_line(err: BaseException) -> str:
    if isinstance(err, GrokError):
        return f"{err.title}: {err.message}"
    return f"{type(err).__name__}: {err}"


class EachRun:
    """Runs `make_ask(i)` for every position i on a pool of worker threads.

    At most `limit` requests run at once: it halves on a 429 (at most once per wait the server
    asked for) and grows by one after RAISE_AFTER successes, up to `concurrency`. Other
    failures leave the count be: counting only successes in a row, a steady share of 429s
    would pin the limit at 1.

    A 429 with Retry-After is xAI saying "later": the item waits that long and is sent again,
    as often as it takes, until `deadline` seconds after the run's start (after it, such a 429
    counts like any other failure). A 429 without Retry-After, a 5xx or a broken connection
    is retried up to `max_retries` times, after backoff (or the server's Retry-After). Out of
    credits stops the run at once, a budget stops it before the request that would cross it. A
    kernel interrupt drops what is in flight.

    Attempts write nothing to the ledger when they fail (`record_errors=False`): an item that
    fails for good gets one error row, written when it is given up on; one answered after
    retries has only its answer's row.
    """

    def __init__(
        self, size: int, make_ask: Callable[[int], Ask], client: GrokClient, recorder: Recorder,
        *, concurrency: int = DEFAULT_CONCURRENCY, max_retries: int = 2,
        deadline: float = DEADLINE,
        on_progress: Callable[[Progress], None] | None = None,
        parse: Callable[[Response], object] | None = None,
        clock: Callable[[], float] = time.monotonic,
        send: Callable[[int, Imagine], Response] | None = None,
    ) -> None:
        self.size, self.make_ask, self.client, self.recorder = size, make_ask, client, recorder
        self.concurrency = max(1, int(concurrency))
        self.limit = self.concurrency
        self.max_retries = max_retries
        self.deadline = float(deadline)
        self.on_progress = on_progress
        self.parse = parse
        self.clock = clock
        self.send = send  # answers item i's request at once (Grok Imagine), no stream: send(i, ask)
        self.rows = [Row() for _ in range(size)]
        self.progress = Progress(total=size, concurrency=self.concurrency)
        self.stopped: str | None = None  # why the run stopped early, if it did
        self.interrupted = False
        self._attempts = [0] * size  # retries used: failures, not "later"s
        self._waits = [0] * size  # "later"s (429 with Retry-After) an item got
        self._deadline_at = float("inf")
        self._tasks: queue.Queue = queue.Queue()
        self._results: queue.Queue = queue.Queue()
        self._cancelled = threading.Event()
        self._streams: dict[int, object] = {}
        self._lock = threading.Lock()
        self._successes = 0  # since the limit last changed
        self._calm_until = 0.0  # no second halving before this time

    # -- the dispatcher (the caller's thread) --------------------------------------------------
    def run(self) -> list[Row]:
        self._deadline_at = self.clock() + self.deadline
        workers = [threading.Thread(target=self._work, name=f"grok-each-{i}", daemon=True)
                   for i in range(min(self.concurrency, self.size))]
        for worker in workers:
            worker.start()
        pending = list(range(self.size))[::-1]  # popped from the end: item 0 first
        waiting: list[tuple[float, int]] = []  # (not before, position): retries
        in_flight, last_report = 0, 0.0
        try:
            while pending or waiting or in_flight:
                now = self.clock()
                while waiting and waiting[0][0] <= now:
                    pending.append(heapq.heappop(waiting)[1])
                while pending and in_flight < self.limit and not self.stopped:
                    self._tasks.put(pending.pop())
                    in_flight += 1
                if self.stopped and not in_flight:
                    break
                self.progress.in_flight = in_flight
                try:
                    position, outcome, ask = self._results.get(timeout=POLL)
                except queue.Empty:
                    if self.on_progress and now - last_report >= PROGRESS_EVERY:
                        last_report = now
                        self.on_progress(self.progress)
                    continue
                in_flight -= 1
                retry_at = self._settle(position, outcome, ask)
                if retry_at is not None:
                    heapq.heappush(waiting, (retry_at, position))
                if self.on_progress:
                    last_report = self.clock()
                    self.progress.in_flight = in_flight
                    self.on_progress(self.progress)
        except KeyboardInterrupt:
            self.interrupted = True
            self.stopped = "you interrupted the run"
            self._cancel()
        finally:
            for _ in workers:
                self._tasks.put(None)
        if self.stopped and not self.interrupted:
            self._cancel()
        for position in [*pending, *(p for _, p in waiting)]:
            self._skip(position)
        for position, row in enumerate(self.rows):
            if not row.ok and row.error is None:
                self._skip(position)
        self.progress.in_flight = 0
        self.progress.finished = self.clock()
        if self.on_progress:
            self.on_progress(self.progress)
        return self.rows

    def _skip(self, position: int) -> None:
        row = self.rows[position]
        if not row.ok and row.error is None:
            row.error = CANCELLED if self.interrupted else f"not sent: {self.stopped}"

    def _cancel(self) -> None:
        """Drop what is in flight: streams are closed, workers' later results are ignored."""
        self._cancelled.set()
        with self._lock:
            streams = list(self._streams.values())
        for stream in streams:
            stream.close()

    def _settle(self, position: int, outcome: object, ask: Ask | None = None) -> float | None:
        """Record an outcome (of sending `ask`); return when to try the item again, if it should
        be."""
        row, progress = self.rows[position], self.progress
        if isinstance(outcome, Response):
            self._fill(row, outcome)
            progress.done += 1
            progress.replayed += row.replayed
            progress.tokens += (outcome.usage.total_tokens if outcome.usage and not row.replayed
                                else 0)
            progress.cost += outcome.cost or 0.0
            if row.error is not None:
                progress.failed += 1
            self._successes += 1
            if self._successes >= RAISE_AFTER and self.limit < self.concurrency:
                self.limit += 1
                self._successes = 0
            return None
        if isinstance(outcome, RateLimitError) and not isinstance(outcome, CreditsExhaustedError):
            progress.rate_limited += 1
            now = self.clock()
            if now >= self._calm_until:
                self.limit = max(1, self.limit // 2)
                self._calm_until = now + (outcome.retry_after or 1.0)
                self._successes = 0
        later = self._later(position, outcome)
        if later is not None:
            self._waits[position] += 1
            progress.retries += 1
            progress.waits += 1
            return later
        if self._retryable(outcome) and self._attempts[position] < self.max_retries:
            self._attempts[position] += 1
            progress.retries += 1
            headers = {"retry-after": str(outcome.retry_after)} if getattr(
                outcome, "retry_after", None) is not None else None
            return self.clock() + retry_delay(self._attempts[position] - 1, headers)
        if ask is not None and failed_at_xai(outcome):
            self.recorder.record_failure(request_body(ask), ask, outcome)
        row.error = one_line(outcome) if isinstance(outcome, BaseException) else str(outcome)
        if isinstance(outcome, BudgetExceeded):
            row.error = f"not sent: {row.error}"  # refused before it was sent
        if isinstance(outcome, GrokError) and getattr(outcome, "response", None) is not None:
            self._fill(row, outcome.response, keep_error=True)
        refused = isinstance(outcome, BudgetExceeded)  # not sent: neither done nor failed
        progress.done += not refused
        progress.failed += not refused
        if isinstance(outcome, CreditsExhaustedError):
            self.stopped = "the run stopped: xAI says the credits or spending limit are used up"
            self._cancel()
        elif isinstance(outcome, BudgetExceeded):
            self.stopped = "the run stopped at the budget"
        return None

    def _later(self, position: int, outcome: object) -> float | None:
        """When to send an item again that xAI asked to send later (a 429 with Retry-After),
        if that is before the deadline. Each "later" of an item waits at least twice as long as
        its last (from WAIT_FLOOR), so a run told "Retry-After: 0" does not spin for an hour."""
        if (not isinstance(outcome, RateLimitError) or isinstance(outcome, CreditsExhaustedError)
                or outcome.retry_after is None):
            return None
        floor = min(WAIT_FLOOR * 2 ** self._waits[position], MAX_RETRY_DELAY)
        wait = max(retry_delay(0, {"retry-after": str(outcome.retry_after)}), floor)
        at = self.clock() + wait
        return at if at <= self._deadline_at else None

    @staticmethod
    def _retryable(outcome: object) -> bool:
        if isinstance(outcome, CreditsExhaustedError | APITimeoutError):
            return False  # a read timeout may have been answered (and billed) already
        return isinstance(outcome, RateLimitError | ServerError | APIConnectionError
                          | StreamInterruptedError)

    def _fill(self, row: Row, response: Response, keep_error: bool = False) -> None:
        fill_row(row, response, None if keep_error else self.parse, ok=not keep_error)

    # -- the workers ----------------------------------------------------------------------------
    def _work(self) -> None:
        while True:
            position = self._tasks.get()
            if position is None:
                return
            if self._cancelled.is_set():
                self._results.put((position, CANCELLED, None))
                continue
            sent: list[Ask] = []  # the question, once built (a failure is recorded with it)
            try:
                outcome: object = self._one(position, sent)
            except BaseException as exc:  # noqa: BLE001 - every failure belongs to its row
                outcome = exc
            if not self._cancelled.is_set():
                self._results.put((position, outcome, sent[0] if sent else None))

    def _one(self, position: int, sent: list[Ask]) -> Response:
        # A failed attempt is not written to the ledger: the run writes one row for an item it
        # gives up on, none for one answered on a later attempt.
        ask = replace(self.make_ask(position), record_errors=False)
        sent.append(ask)
        if self.send is not None:
            return self.send(position, ask)
        stream = self.recorder.stream(self.client, ask.body(), ask)
        with self._lock:
            self._streams[position] = stream
        if self._cancelled.is_set():  # cancelled while it was being opened
            stream.close()
        try:
            response = stream.until_done()
        finally:
            with self._lock:
                self._streams.pop(position, None)
        if response.stopped and self._cancelled.is_set():
            raise InterruptedByUser(response=response)
        return response


def failed_at_xai(outcome: object) -> bool:
    """Whether `outcome` is a request that xAI (or the way to it) refused or dropped before an
    answer began — what the ledger keeps an error row for. A stream cut off later has already
    been recorded with its partial answer; one refused before sending was never a request."""
    return (isinstance(outcome, APIStatusError | APIConnectionError)
            and getattr(outcome, "response", None) is None)


def request_body(ask: Ask) -> dict:
    """The body a run sent for `ask`: a one-turn exchange, no history."""
    return ask.body()


def fill_row(row: Row, response: Response, parse: Callable[[Response], object] | None = None,
             *, ok: bool = True) -> Row:
    """`row` holding `response` (answer, model, tokens, cost, time); `parse` reads a structured
    answer, and its failure becomes the row's error. `ok=False` keeps a failed answer's text."""
    usage = response.usage
    row.answer = response.text
    row.model = response.model or response.requested_model
    if usage is not None:
        row.prompt_tokens, row.completion_tokens = usage.prompt_tokens, usage.completion_tokens
        row.reasoning_tokens = usage.reasoning_tokens
    row.cost = response.cost
    images = getattr(response, "images", None)  # what Grok Imagine made (PIL images)
    if images:
        row.image = images[0] if len(images) == 1 else images
    row.seconds = round(response.elapsed, 3)
    row.replayed = response.replayed
    if not ok:
        return row
    row.ok = True
    if parse is not None:
        try:
            row.parsed = parse(response)
        except GrokError as err:
            row.error, row.ok = one_line(err), False
    return row


def each_client(client: GrokClient, concurrency: int) -> GrokClient:
    """A client for a run: the same settings, no retries of its own (the run paces them),
    enough keep-alive connections for every worker."""
    settings = replace(client.settings, max_retries=0)
    return GrokClient(settings, pool_size=max(10, concurrency))


def template_ask(
    template: str, items: Items, namespace: Mapping, *, model: str, system: str | None = None,
    options: Mapping | None = None, images=(), detail: str | None = None,
    max_side: int | None = None, max_value_chars: int | None = None, timeout: float | None = None,
    source: str = "each", resume: bool = True, api: str = "responses",
    cache_key: str | None = None,
) -> Callable[[int], Ask]:
    """`make_ask` for a run: item i's question from the template (in the worker that sends it);
    a dry run passes `keys_found` to note values holding the key instead of refusing them."""

    def make_ask(position: int, keys_found: list | None = None) -> Ask:
        turn = item_turn(template, items, namespace, position, images=images, detail=detail,
                         max_side=max_side, max_value_chars=max_value_chars,
                         keys_found=keys_found)
        return Ask(turn, model, system=system, options=dict(options or {}), stream=True,
                   timeout=timeout, source=source, replay="auto" if resume else None, api=api,
                   cache=cache_key is not None, cache_key=cache_key)

    return make_ask


def template_imagine(
    template: str, items: Items, namespace: Mapping, *, imagine: Mapping, images=(),
    max_side: int | None = None, max_value_chars: int | None = None, timeout: float | None = None,
    source: str = "each", resume: bool = True,
) -> Callable[[int], Imagine]:
    """`make_ask` for an `--each --imagine` run: item i's Imagine request (its prompt from the
    template, the images in it the references); `imagine` holds model, count, aspect,
    resolution and response_format."""

    def make_imagine(position: int, keys_found: list | None = None) -> Imagine:
        turn = item_turn(template, items, namespace, position, images=images, detail=None,
                         max_side=max_side, max_value_chars=max_value_chars,
                         keys_found=keys_found)
        prompt, references = split_turn(turn)
        return Imagine(prompt, references=references, timeout=timeout, source=source,
                       replay="auto" if resume else None, **imagine)

    return make_imagine


def item_turn(template: str, items: Items, namespace: Mapping, position: int, *, images,
              detail: str | None, max_side: int | None, max_value_chars: int | None,
              keys_found: list | None) -> dict:
    """Item `position`'s user turn: the template filled from the item, then the namespace."""
    from collections import ChainMap

    from grok_magic.inputs.prompt import DEFAULT_MAX_VALUE_CHARS, build_user_turn

    values = ChainMap(items.get(position), namespace)
    return build_user_turn(template, values, images=images, detail=detail, max_side=max_side,
                           max_value_chars=max_value_chars or DEFAULT_MAX_VALUE_CHARS,
                           keys_found=keys_found)
