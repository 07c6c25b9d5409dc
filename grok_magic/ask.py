"""Ask: one question, built once by the magic, the panel or a script and passed down as it is,
and the request body it becomes on either API (chat completions or the Responses API)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field

from grok_magic.inputs.prompt import sent_image_urls
from grok_magic.xai.messages import ENDPOINTS, build_request, system_message
from grok_magic.xai.responses import responses_body

CONVERSATION_HEADER = "x-grok-conv-id"  # chat completions' prompt-cache routing key


def new_cache_key() -> str:
    """A fresh prompt-cache key: one per conversation (and per --each run), never reused."""
    return f"grok-magic-{uuid.uuid4().hex}"




@dataclass(frozen=True)
class Ask:
    """One question, built once by the magic, the panel or a script and passed down as it is.

    `options` holds only request fields (temperature, max_completion_tokens, reasoning_effort,
    response_format, …); `None` values are not sent. `source` (cell, panel, script, batch) and
    `cell` (the execution count) say where it came from, for the ledger.
    """

    user_turn: dict
    model: str
    system: str | None = None
    options: Mapping = field(default_factory=dict)
    stream: bool = True
    timeout: float | None = None
    source: str = "script"
    cell: int | None = None
    replay: str | None = None  # this question's replay mode ("auto" to resume --each runs)
    api: str = "responses"  # "responses" (/responses) or "chat" (/chat/completions, legacy)
    server_tools: tuple = ()  # tools xAI runs (web_search, x_search, code_interpreter)
    store: bool = False  # Responses API: keep the answer at xAI, continue from it next time
    # Prompt caching: requests with one key reach a server whose cache holds their shared
    # prefix (sent as `prompt_cache_key`, or the `x-grok-conv-id` header on chat completions).
    # None: the conversation's own key, when `cache` is on.
    cache: bool = True
    cache_key: str | None = None
    # False: a failed attempt leaves no error row (--each retries; it records the final failure
    # itself with Recorder.record_failure).
    record_errors: bool = True

    @property
    def wire(self) -> str:
        """The API this question goes to: server-side tools exist only in the Responses API."""
        return "responses" if self.server_tools or self.api == "responses" else "chat"

    @property
    def endpoint(self) -> str:
        return ENDPOINTS[self.wire]

    @property
    def headers(self) -> dict[str, str]:
        """HTTP headers this question adds: the conversation key, on chat completions."""
        if self.wire == "chat" and self.cache and self.cache_key:
            return {CONVERSATION_HEADER: self.cache_key}
        return {}

    @property
    def sent_urls(self) -> set[str]:
        """Remote images this question sends (the only ones its answer may display)."""
        return sent_image_urls(self.user_turn)

    def turn_messages(self) -> list[dict]:
        """The messages of this question asked alone: its system prompt, then its turn."""
        return [*([system_message(self.system)] if self.system else []), dict(self.user_turn)]

    def body(self, messages: list[Mapping] | None = None, *,
             previous_response_id: str | None = None, carry_reasoning: bool = False) -> dict:
        """The request body for this question, for the API it goes to. `messages` is everything
        sent (system prompt, history, this turn; default: `turn_messages()`, the question
        alone); `previous_response_id` continues an answer kept at xAI (Responses API), and
        `carry_reasoning` asks for the reasoning to send back with the next turn."""
        messages = self.turn_messages() if messages is None else messages
        if self.wire == "chat":
            return build_request(self.model, messages, stream=self.stream, **dict(self.options))
        options = dict(self.options)
        tools = [*(options.pop("tools", None) or ()), *self.server_tools]
        return responses_body(self.model, messages, stream=self.stream, tools=tools or None,
                              store=self.store, previous_response_id=previous_response_id,
                              cache_key=self.cache_key if self.cache else None,
                              carry_reasoning=carry_reasoning, **options)
