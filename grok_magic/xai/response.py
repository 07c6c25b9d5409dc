"""Usage and Response: what an answer holds, accumulated from a stream or a whole completion."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, fields

from grok_magic.safety import untrusted_json
from grok_magic.safety.plain_text import inert_text
from grok_magic.safety.redaction import redact, redact_value
from grok_magic.xai.messages import REASONING_ITEMS
from grok_magic.xai.pricing import (
    BUILTIN_SOURCE,
    CHARS_PER_TOKEN,
    EXACT_SOURCE,
    USD_TICKS,
    Price,
    fallback_price,
)


@dataclass
class Usage:
    """Token counts of one answer (or a running total), with every detail xAI reports."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    text_tokens: int = 0
    cached_tokens: int = 0
    image_tokens: int = 0
    reasoning_tokens: int = 0
    num_sources_used: int = 0
    cost_in_usd_ticks: int | None = None  # xAI's cost, tool fees included
    server_side_tools_used: int = 0  # tools xAI ran for the answer (Responses API)
    tool_calls_by_kind: dict = field(default_factory=dict)  # {"web_search": 1, …}

    @classmethod
    def from_dict(cls, data: Mapping | None) -> Usage:
        data = data or {}
        prompt = data.get("prompt_tokens_details") or {}
        completion = data.get("completion_tokens_details") or {}
        return cls(
            prompt_tokens=int(data.get("prompt_tokens") or 0),
            completion_tokens=int(data.get("completion_tokens") or 0),
            total_tokens=int(data.get("total_tokens") or 0),
            text_tokens=int(prompt.get("text_tokens") or 0),
            cached_tokens=int(prompt.get("cached_tokens") or 0),
            image_tokens=int(prompt.get("image_tokens") or 0),
            reasoning_tokens=int(completion.get("reasoning_tokens") or 0),
            num_sources_used=int(data.get("num_sources_used") or 0),
            cost_in_usd_ticks=data.get("cost_in_usd_ticks"),
        )

    @classmethod
    def from_responses(cls, data: Mapping | None, calls: list | None = None) -> Usage:
        """A Responses API `usage`. Its output_tokens include reasoning; completion_tokens here
        exclude it, as in chat completions (so prompt + completion + reasoning = total). Server-side
        tool calls by kind come from xAI's details, else from counting `calls`."""
        data = data or {}
        prompt = data.get("input_tokens_details") or {}
        output = data.get("output_tokens_details") or {}
        reasoning = int(output.get("reasoning_tokens") or 0)
        input_tokens, output_tokens = int(data.get("input_tokens") or 0), int(data.get("output_tokens") or 0)
        details = data.get("server_side_tool_usage_details")
        if isinstance(details, Mapping):
            by_kind = {k.removesuffix("_calls"): int(v) for k, v in details.items() if v}
        else:
            by_kind = {}
            for call in calls or ():
                if call.get("type") != "function":
                    by_kind[call["kind"]] = by_kind.get(call["kind"], 0) + 1
        return cls(
            prompt_tokens=input_tokens,
            completion_tokens=max(output_tokens - reasoning, 0),
            total_tokens=int(data.get("total_tokens") or input_tokens + output_tokens),
            text_tokens=int(prompt.get("text_tokens") or 0),
            cached_tokens=int(prompt.get("cached_tokens") or 0),
            image_tokens=int(prompt.get("image_tokens") or 0),
            reasoning_tokens=reasoning,
            num_sources_used=int(data.get("num_sources_used") or 0),
            cost_in_usd_ticks=data.get("cost_in_usd_ticks"),
            server_side_tools_used=int(data.get("num_server_side_tools_used") or 0),
            tool_calls_by_kind=by_kind,
        )

    def cost(self, price: Price | None = None) -> float | None:
        """Cost in USD: xAI's own figure when present, else computed from `price` (every token
        at the long-context rate when the prompt had LONG_CONTEXT_TOKENS or more)."""
        if self.cost_in_usd_ticks is not None:
            return self.cost_in_usd_ticks / USD_TICKS
        if price is None:
            return None
        price = price.tier(self.prompt_tokens)
        # Cached and image tokens are part of prompt_tokens; reasoning is billed as output.
        uncached = max(self.prompt_tokens - self.cached_tokens, 0)
        image = min(self.image_tokens, uncached)
        image_price = price.input if price.image_input is None else price.image_input
        output = self.completion_tokens + self.reasoning_tokens
        return (
            (uncached - image) * price.input
            + image * image_price
            + self.cached_tokens * price.cached_input
            + output * price.output
        ) / 1_000_000

    def cache_saving(self, price: Price | None) -> float | None:
        """USD that prompt caching saved: the cached tokens at the input price less the cached
        price, at the tier that applied (an estimate from `price`); None without a price.

        >>> usage = Usage(prompt_tokens=4210, cached_tokens=3968)
        >>> round(usage.cache_saving(Price(1.25, 0.20, 2.50)), 7)  # 3,968 x (1.25 - 0.20) / 1M
        0.0041664
        """
        if price is None:
            return None
        price = price.tier(self.prompt_tokens)
        return self.cached_tokens * max(price.input - price.cached_input, 0.0) / 1_000_000

    def __add__(self, other: Usage) -> Usage:
        values = {}
        for f in fields(self):
            a, b = getattr(self, f.name), getattr(other, f.name)
            if isinstance(a, dict) or isinstance(b, dict):
                merged = dict(a or {})
                for kind, count in (b or {}).items():
                    merged[kind] = merged.get(kind, 0) + count
                values[f.name] = merged
            else:
                values[f.name] = None if a is None and b is None else (a or 0) + (b or 0)
        return Usage(**values)


@dataclass
class Totals:
    """Running totals over answers: how many, their usage and their cost (thread-safe)."""

    answers: int = 0
    usage: Usage = field(default_factory=Usage)
    cost: float = 0.0
    estimated: int = 0  # answers whose cost is an estimate (they ended without xAI's usage)
    listed: int = 0  # answers with xAI's tokens priced from a price list (no cost from xAI)
    saved: float = 0.0  # USD prompt caching saved (estimated from price lists)
    models: dict = field(default_factory=dict)  # model -> [answers, tokens, cost]
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, response: Response) -> None:
        with self._lock:
            self.answers += 1
            usage = response.billed_usage
            if usage is not None and response.replay_of is None:
                self.usage = self.usage + usage
            cost = response.cost
            if cost is not None:
                self.cost += cost
                self.estimated += not response.cost_exact
                self.listed += response.cost_exact and response.cost_source not in (
                    EXACT_SOURCE, None)
            self.saved += response.cache_saving or 0.0
            model = self.models.setdefault(response.model or response.requested_model or "?",
                                           [0, 0, 0.0])
            model[0] += 1
            if usage is not None and response.replay_of is None:
                model[1] += usage.total_tokens
            model[2] += cost or 0.0

    @property
    def approximate(self) -> bool:
        """Whether the total cost holds estimates (of tokens, or prices from a list)."""
        return bool(self.estimated or self.listed)


@dataclass
class Response:
    """One answer: text, reasoning, usage and how it ended. `partial` is True if it was cut off."""

    text: str = ""
    reasoning: str = ""
    model: str | None = None
    requested_model: str | None = None
    id: str | None = None
    request_id: str | None = None  # xAI's x-request-id for this answer
    finish_reason: str | None = None
    usage: Usage | None = None
    citations: list = field(default_factory=list)
    tool_calls: list = field(default_factory=list)
    system_fingerprint: str | None = None
    partial: bool = False
    stopped: bool = False
    price: Price | None = None
    price_source: str | None = None  # where `price` came from: "xAI's price list of 2026-12-02"
    started: float = field(default_factory=time.monotonic)
    first_token_at: float | None = None
    finished_at: float | None = None
    parsed: object = None
    error: str | None = None  # one paragraph, when the answer ended with an error
    replay_of: int | None = None  # ledger row this answer was replayed from (it cost nothing)
    original_cost: float | None = None  # what the replayed answer cost when first asked
    # Prompt tokens estimated before sending (set by the recorder): an answer that ends without
    # xAI's usage (stopped, cut off, timed out) is priced from it and the text received.
    prompt_estimate: int | None = None
    # Responses API: the answer's reasoning as xAI returned it encrypted (`include:
    # ["reasoning.encrypted_content"]`), carried into the next turn when nothing is stored.
    reasoning_items: list = field(default_factory=list, repr=False)
    _text_parts: list = field(default_factory=list, repr=False)
    _reasoning_parts: list = field(default_factory=list, repr=False)

    # -- accumulating ------------------------------------------------------------------------
    def add_chunk(self, chunk: Mapping) -> tuple[str, str]:
        """Fold one `chat.completion.chunk` in; return its (content, reasoning) deltas."""
        if self.id is None:
            self.id = chunk.get("id")
        if chunk.get("model"):
            self.model = chunk["model"]
        if chunk.get("system_fingerprint"):
            self.system_fingerprint = chunk["system_fingerprint"]
        if chunk.get("usage"):
            # Some streams repeat usage on every chunk: the last non-null one wins.
            self.usage = Usage.from_dict(chunk["usage"])
        if chunk.get("citations"):
            self.citations = list(chunk["citations"])
        content = reasoning = ""
        for choice in chunk.get("choices") or ():
            delta = choice.get("delta") or {}
            content = delta.get("content") or ""
            reasoning = delta.get("reasoning_content") or ""
            if content:
                if self.first_token_at is None:
                    self.first_token_at = time.monotonic()
                self._text_parts.append(content)
            if reasoning:
                self._reasoning_parts.append(reasoning)
            if delta.get("tool_calls"):
                merge_tool_calls(self.tool_calls, delta["tool_calls"])
            if choice.get("finish_reason") is not None:
                self.finish_reason = choice["finish_reason"]
        return content, reasoning

    def add_text(self, piece: str) -> None:
        """Append a piece of answer text (a decoder or a replay folds its events in so); the
        first piece marks when the first token arrived."""
        if self.first_token_at is None:
            self.first_token_at = time.monotonic()
        self._text_parts.append(piece)

    def add_reasoning(self, piece: str) -> None:
        """Append a piece of reasoning text."""
        self._reasoning_parts.append(piece)

    @property
    def has_text(self) -> bool:
        """Whether any answer text has arrived yet."""
        return bool(self._text_parts)

    @property
    def has_reasoning(self) -> bool:
        """Whether any reasoning text has arrived yet."""
        return bool(self._reasoning_parts)

    def finish(self, *, partial: bool = False, stopped: bool = False) -> Response:
        """Join the accumulated pieces; mark how the answer ended."""
        # Server text is shown, stored and returned: a key echoed anywhere in it is masked.
        self.text = redact("".join(self._text_parts))
        self.reasoning = redact("".join(self._reasoning_parts))
        self.model = redact(self.model) if self.model else self.model
        self.citations = redact_value(self.citations)
        self.tool_calls = redact_value(self.tool_calls)
        self.partial = partial or stopped
        self.stopped = stopped
        self.finished_at = time.monotonic()
        return self

    @property
    def text_so_far(self) -> str:
        return "".join(self._text_parts)

    def compact(self, tail: int) -> None:
        """Join the last `tail` pieces of text and of reasoning into one string each: a stream
        brings one small string per token (some 50 bytes each), a long answer kept so takes
        about a byte per character."""
        for parts in (self._text_parts, self._reasoning_parts):
            if len(parts) > 1:
                parts[-tail:] = ["".join(parts[-tail:])]

    @classmethod
    def from_completion(cls, data: Mapping, **kwargs) -> Response:
        """A whole (non-streaming) `chat.completion` body."""
        choice = (data.get("choices") or [{}])[0]
        message = choice.get("message") or {}
        response = cls(
            id=data.get("id"),
            model=data.get("model"),
            system_fingerprint=data.get("system_fingerprint"),
            finish_reason=choice.get("finish_reason"),
            usage=Usage.from_dict(data["usage"]) if data.get("usage") else None,
            citations=list(data.get("citations") or []),
            tool_calls=list(message.get("tool_calls") or []),
            **kwargs,
        )
        response._text_parts = [message.get("content") or ""]
        response._reasoning_parts = [message.get("reasoning_content") or ""]
        response.first_token_at = time.monotonic()
        return response.finish()

    # -- reading -----------------------------------------------------------------------------
    @property
    def cost(self) -> float | None:
        """Cost in USD (xAI's figure when given, else from the model's price), or None; a
        replayed answer costs nothing (its first cost is `original_cost`). An answer that ended
        without xAI's usage is priced from `billed_usage`, an estimate (`cost_exact` False)."""
        if self.replay_of is not None:
            return 0.0
        usage = self.billed_usage
        if usage is None:
            return None
        return usage.cost(self.priced[0])

    @property
    def priced(self) -> tuple[Price | None, str | None]:
        """The price that prices this answer and where it came from: `price` (set from xAI's
        price list when the answer came: `price_source`), else the built-in table's."""
        if self.price is not None:
            return self.price, self.price_source or "a price given"
        price = fallback_price(self.model or self.requested_model)
        return price, None if price is None else BUILTIN_SOURCE

    @property
    def cost_source(self) -> str | None:
        """Where the cost comes from: EXACT_SOURCE (xAI's `cost_in_usd_ticks`), else the price
        list that priced it ("xAI's price list of 2026-12-02", BUILTIN_SOURCE); None when there
        is no cost, or for a replay (it costs nothing)."""
        usage = self.billed_usage
        if self.replay_of is not None or usage is None:
            return None
        if usage.cost_in_usd_ticks is not None:
            return EXACT_SOURCE
        price, source = self.priced
        return None if price is None else source

    @property
    def cache_saving(self) -> float | None:
        """USD prompt caching saved on this answer, estimated from a price list even when the
        cost is exact; None when it had no cached tokens (or no price is known), or is a replay."""
        if self.replay_of is not None or self.usage is None or not self.usage.cached_tokens:
            return None
        return self.usage.cache_saving(self.priced[0])

    @property
    def cost_exact(self) -> bool:
        """Whether the cost and tokens are xAI's own figures (or a replay's zero), not an estimate."""
        return self.replay_of is not None or self.usage is not None

    @property
    def billed_usage(self) -> Usage | None:
        """xAI's usage, or when it sent none, an estimate: the prompt as estimated before sending
        and about four characters per token of the text and reasoning received (xAI bills the
        tokens it generated, even for an answer that was stopped). None when nothing is known."""
        if self.usage is not None:
            return self.usage
        if self.prompt_estimate is None:
            return None
        text = sum(map(len, self._text_parts)) if not self.text else len(self.text)
        thought = sum(map(len, self._reasoning_parts)) if not self.reasoning else len(self.reasoning)
        completion, reasoning = -(-text // CHARS_PER_TOKEN), -(-thought // CHARS_PER_TOKEN)
        return Usage(prompt_tokens=self.prompt_estimate, completion_tokens=completion,
                     reasoning_tokens=reasoning,
                     total_tokens=self.prompt_estimate + completion + reasoning)

    @property
    def sources_used(self) -> int:
        """Sources the answer drew on: xAI's count, or its citations (xAI often reports 0)."""
        reported = self.usage.num_sources_used if self.usage is not None else 0
        return max(reported, len(self.citations))

    @property
    def elapsed(self) -> float:
        """Seconds from sending to the end (or to now while running)."""
        return (self.finished_at or time.monotonic()) - self.started

    @property
    def complete(self) -> bool:
        return not self.partial

    @property
    def replayed(self) -> bool:
        return self.replay_of is not None

    @property
    def status(self) -> str:
        """How it ended, as the ledger says it: ok, stopped or incomplete."""
        return "stopped" if self.stopped else "incomplete" if self.partial else "ok"

    def assistant_message(self) -> dict:
        """This answer as a message for the conversation history (server-side tool calls, which
        xAI ran itself, are not part of it: only function calls, for the caller to answer)."""
        message: dict = {"role": "assistant", "content": self.text}
        calls = [c for c in self.tool_calls if c.get("type") == "function"]
        if calls:
            message["tool_calls"] = calls
        if self.reasoning_items:
            message[REASONING_ITEMS] = self.reasoning_items
        return message

    def json(self) -> object:
        """The answer text parsed as JSON (for --json / --schema answers)."""
        text = self.text.strip()
        if text.startswith("```"):
            text = text.strip("`").removeprefix("json").strip()
        return untrusted_json.loads(text)

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        state = "stopped" if self.stopped else "partial" if self.partial else "complete"
        state += ", replayed" if self.replayed else ""
        preview = self.text[:60] + ("…" if len(self.text) > 60 else "")
        model = inert_text(str(self.model or self.requested_model))
        return f"<grok Response {model} {state}: {preview!r}>"


def merge_tool_calls(tool_calls: list, calls: list) -> None:
    """Fold streamed tool-call fragments (by index) into `tool_calls`."""
    for call in calls:
        index = call.get("index", len(tool_calls))
        while len(tool_calls) <= index:
            tool_calls.append({"id": None, "type": "function",
                                    "function": {"name": "", "arguments": ""}})
        slot = tool_calls[index]
        slot["id"] = call.get("id") or slot["id"]
        function = call.get("function") or {}
        slot["function"]["name"] += function.get("name") or ""
        slot["function"]["arguments"] += function.get("arguments") or ""
