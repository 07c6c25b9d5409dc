"""Conversation: the turns so far, a system prompt, bounded history; an `Ask` sent as the next turn."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from grok_magic.ask import Ask, new_cache_key
from grok_magic.ledger.recorder import Recorder
from grok_magic.settings import DEFAULT_MAX_HISTORY
from grok_magic.xai.client import GrokClient
from grok_magic.xai.messages import system_message
from grok_magic.xai.response import Response, Totals, Usage
from grok_magic.xai.streams import EndHooks

KEEP_RESPONSES = 50  # recent Response objects kept for inspection; totals count every one


@dataclass
class Conversation:
    """A multi-turn chat. Only complete answers join the history, so a failed turn leaves it as
    it was; images already in history are sent again as the same encoded parts. Memory is
    bounded: only the last `max_history` exchanges and `KEEP_RESPONSES` responses are kept.
    Every exchange goes through `recorder` (the ledger at GROK_LEDGER or the default path,
    replay and budgets; `Recorder(None)` records nothing).

    >>> convo = Conversation(system="Answer briefly.")
    >>> convo.send(client, Ask(user_message(["Hi"]), "grok-4.3"))   # doctest: +SKIP
    """

    system: str | None = None
    max_history: int = DEFAULT_MAX_HISTORY
    messages: list[dict] = field(default_factory=list)
    responses: list[Response] = field(default_factory=list)
    tally: Totals = field(default_factory=Totals)
    recorder: Recorder = field(default_factory=Recorder.from_env)
    # The last answer kept at xAI (store=True) that holds this whole history: the next stored
    # Responses question continues from it instead of resending the turns.
    stored_id: str | None = None
    # Prompt caching: every request of this conversation carries this key (a new one after
    # reset), so it reaches the server that cached the turns it resends.
    cache_key: str = field(default_factory=new_cache_key)
    _dropped: int = field(default=0, repr=False)  # exchanges dropped from `messages` (bounded)
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False)

    @property
    def totals(self) -> Usage:
        return self.tally.usage

    @property
    def total_cost(self) -> float:
        return self.tally.cost

    @property
    def answers(self) -> int:
        return self.tally.answers

    def request_messages(self, user_turn: Mapping, system: str | None = None) -> list[dict]:
        """System prompt (`system` overrides the conversation's for this request), at most the
        last `max_history` exchanges, then the new user turn.

        The turns sent start at the same exchange for several turns in a row: past
        `max_history`, the oldest half of it drops out at once, not one exchange per turn, so
        the prefix a prompt cache holds stays the start of the next request.
        """
        with self._lock:
            history = self.messages
            if self.max_history >= 0:
                keep = history[2 * self._first_sent() - 2 * self._dropped:] if self.max_history else []
                # Cut at a user turn so an assistant answer never leads the history.
                while keep and keep[0]["role"] != "user":
                    keep = keep[1:]
                history = keep
            system = system if system is not None else self.system
            prefix = [system_message(system)] if system else []
            return [*prefix, *history, dict(user_turn)]

    def _first_sent(self) -> int:
        """The first exchange sent (counting from the conversation's start): the window of at
        most `max_history` exchanges moves in steps of half of it."""
        total = self._dropped + len(self.messages) // 2
        over = total - self.max_history
        if over <= 0:
            return self._dropped
        step = max(1, self.max_history // 2)
        return max(-(-over // step) * step, self._dropped)

    def keyed(self, ask: Ask) -> Ask:
        """`ask` with this conversation's prompt-cache key (unless it has its own, or caching
        is off for it)."""
        if not ask.cache or ask.cache_key is not None:
            return ask
        with self._lock:
            return replace(ask, cache_key=self.cache_key)

    def build(self, ask: Ask) -> dict:
        """The request body for sending `ask` next, for the API it goes to (with the
        conversation's prompt-cache key, as `keyed` gives it)."""
        ask = self.keyed(ask)
        with self._lock:
            previous = self.stored_id if ask.wire == "responses" and ask.store else None
        # A question continuing an answer kept at xAI sends its own turn only: xAI holds the rest.
        messages = [dict(ask.user_turn)] if previous else self.request_messages(ask.user_turn,
                                                                                 ask.system)
        return ask.body(messages, previous_response_id=previous,
                        carry_reasoning=self.max_history != 0)

    def follow(self, ask: Ask, response: Response) -> None:
        """Note where the next stored question continues: a complete answer kept at xAI holds
        the whole history; any other complete answer leaves xAI's copy behind."""
        if response.complete:
            with self._lock:
                stored = ask.wire == "responses" and ask.store and bool(response.id)
                self.stored_id = response.id if stored else None

    def record(self, user_turn: Mapping, response: Response) -> None:
        """Count a finished answer's usage; keep the exchange in history if it is complete."""
        with self._lock:
            self.tally.add(response)
            self.responses.append(response)
            del self.responses[:-KEEP_RESPONSES]
            if response.complete:
                self.messages.append(dict(user_turn))
                self.messages.append(response.assistant_message())
                # Memory stays bounded: turns that can no longer be sent are dropped (images in
                # them are data URLs of up to megabytes).
                if self.max_history >= 0:
                    extra = max(len(self.messages) - 2 * self.max_history, 0)
                    del self.messages[:extra]
                    self._dropped += extra // 2

    def forget_last(self, user_turn: Mapping, response: Response | None) -> None:
        """Take the last exchange out of the history if it is this one (a retry replaces it)."""
        with self._lock:
            if (response is not None and response.complete and len(self.messages) >= 2
                    and self.messages[-2:] == [dict(user_turn), response.assistant_message()]):
                del self.messages[-2:]
                self.stored_id = None  # the answer kept at xAI still holds the forgotten turn

    def reset(self) -> None:
        """Forget the turns (the system prompt and session totals stay)."""
        with self._lock:
            self.messages.clear()
            self.stored_id = None
            self._dropped = 0
            self.cache_key = new_cache_key()  # a new conversation: a new prompt cache

    def send(self, client: GrokClient, ask: Ask) -> Response:
        """Send `ask` without streaming (or replay it) and record the answer."""
        ask = self.keyed(ask)
        response = self.recorder.complete(client, self.build(ask), ask)
        self.follow(ask, response)
        self.record(ask.user_turn, response)
        return response

    def stream(self, client: GrokClient, ask: Ask) -> EndHooks:
        """Open a streaming turn (live or replayed); it records itself here when it ends
        (complete, stopped or cut off), through the stream's end hook."""
        ask = self.keyed(ask)
        stream = self.recorder.stream(client, self.build(ask), ask)
        stream.on_end(lambda response: self.follow(ask, response))
        stream.on_end(lambda response: self.record(ask.user_turn, response))
        return stream

    @property
    def turns(self) -> int:
        return sum(1 for m in self.messages if m["role"] == "user")
