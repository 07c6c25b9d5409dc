"""Conversation: the turns so far, a system prompt, bounded history, and sending a new turn."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field

from grok_magic.client import GrokClient, ResponseStream
from grok_magic.messages import build_request, system_message
from grok_magic.response import Response, Usage

DEFAULT_MAX_HISTORY = 20  # user+assistant pairs kept; older ones drop out of the request
KEEP_RESPONSES = 50  # recent Response objects kept for inspection; totals count every one


@dataclass
class Conversation:
    """A multi-turn chat. Only complete answers join the history, so a failed turn leaves it as
    it was; images already in history are sent again as the same encoded parts. Memory is
    bounded: only the last `max_history` exchanges and `KEEP_RESPONSES` responses are kept.

    >>> convo = Conversation(system="Answer briefly.")
    >>> convo.send(client, convo_user_turn)          # doctest: +SKIP
    """

    system: str | None = None
    max_history: int = DEFAULT_MAX_HISTORY
    messages: list[dict] = field(default_factory=list)
    responses: list[Response] = field(default_factory=list)
    answers: int = 0
    totals: Usage = field(default_factory=Usage)
    total_cost: float = 0.0
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False)

    def request_messages(self, user_turn: Mapping, system: str | None = None) -> list[dict]:
        """System prompt (`system` overrides the conversation's for this request), the last
        `max_history` exchanges, then the new user turn."""
        with self._lock:
            history = self.messages
            if self.max_history >= 0:
                # Cut at a user turn so an assistant answer never leads the history.
                keep = history[-2 * self.max_history :] if self.max_history else []
                while keep and keep[0]["role"] != "user":
                    keep = keep[1:]
                history = keep
            system = system if system is not None else self.system
            prefix = [system_message(system)] if system else []
            return [*prefix, *history, dict(user_turn)]

    def build(
        self, user_turn: Mapping, model: str, *, stream: bool, system: str | None = None,
        **options,
    ) -> dict:
        """The request body for sending `user_turn` next."""
        messages = self.request_messages(user_turn, system)
        return build_request(model, messages, stream=stream, **options)

    def record(self, user_turn: Mapping, response: Response) -> None:
        """Count a finished answer's usage; keep the exchange in history if it is complete."""
        with self._lock:
            if response.usage is not None:
                self.totals = self.totals + response.usage
            if response.cost is not None:
                self.total_cost += response.cost
            self.answers += 1
            self.responses.append(response)
            del self.responses[:-KEEP_RESPONSES]
            if response.complete:
                self.messages.append(dict(user_turn))
                self.messages.append(response.assistant_message())
                # Memory stays bounded: turns that can no longer be sent are dropped (images in
                # them are data URLs of up to megabytes).
                if self.max_history >= 0:
                    del self.messages[: max(len(self.messages) - 2 * self.max_history, 0)]

    def reset(self) -> None:
        """Forget the turns (the system prompt and session totals stay)."""
        with self._lock:
            self.messages.clear()

    def send(
        self, client: GrokClient, user_turn: Mapping, model: str, *,
        timeout: float | None = None, **options,
    ) -> Response:
        """Send a turn without streaming and record the answer."""
        body = self.build(user_turn, model, stream=False, **options)
        response = client.complete(body, timeout=timeout)
        self.record(user_turn, response)
        return response

    def stream(
        self, client: GrokClient, user_turn: Mapping, model: str, *,
        timeout: float | None = None, **options,
    ) -> ResponseStream:
        """Open a streaming turn. Call `record(user_turn, stream.response)` when it ends."""
        return client.stream(self.build(user_turn, model, stream=True, **options), timeout=timeout)

    @property
    def turns(self) -> int:
        return sum(1 for m in self.messages if m["role"] == "user")
