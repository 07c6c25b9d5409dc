"""Pure builders of chat messages and request bodies (one place for the wire format)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

DETAILS = ("auto", "low", "high")
# The two wire formats and where they are sent (below the base URL).
ENDPOINTS = {"chat": "/chat/completions", "responses": "/responses",
             # Grok Imagine (xai.imagine), as the ledger names them
             "images": "/images/generations", "image_edits": "/images/edits",
             "videos": "/videos/generations"}
# Options forwarded to the API only when the user set them (None means "not set").
OPTIONAL_FIELDS = (
    "temperature",
    "top_p",
    "seed",
    "n",
    "user",
    "max_completion_tokens",
    "reasoning_effort",
    "stop",
    "presence_penalty",
    "frequency_penalty",
    "response_format",
    "tools",
    "tool_choice",
)


def text_part(text: str) -> dict:
    return {"type": "text", "text": text}


def user_message(parts: Iterable[str | Mapping]) -> dict:
    """A user turn from text and content parts, kept in the given order.

    Adjacent strings merge; text-only turns become a plain string (what most clients send).

    >>> user_message(["Hi ", "there"])
    {'role': 'user', 'content': 'Hi there'}
    """
    content: list[dict] = []
    for part in parts:
        if isinstance(part, str):
            if not part:
                continue
            if content and content[-1]["type"] == "text":
                content[-1] = text_part(content[-1]["text"] + part)
            else:
                content.append(text_part(part))
        else:
            content.append(dict(part))
    # Drop whitespace-only text parts next to images; they only cost tokens.
    content = [p for p in content if p["type"] != "text" or p["text"].strip() or len(content) == 1]
    if all(p["type"] == "text" for p in content):
        return {"role": "user", "content": "".join(p["text"] for p in content).strip()}
    for p in content:
        if p["type"] == "text":
            p["text"] = p["text"].strip()
    return {"role": "user", "content": content}


def system_message(text: str) -> dict:
    return {"role": "system", "content": text}


def json_schema_format(schema: Mapping, name: str = "answer") -> dict:
    """`response_format` for structured output following a JSON schema."""
    return {"type": "json_schema", "json_schema": {"name": name, "schema": dict(schema)}}


# Kept on an assistant message of the history for the Responses API only: its reasoning, as xAI
# returned it encrypted, sent back on the next turn when xAI stores nothing (store=False).
REASONING_ITEMS = "reasoning_items"


def chat_message(message: Mapping) -> Mapping:
    """A history message as chat completions take it (without Responses-only reasoning items)."""
    if REASONING_ITEMS not in message:
        return message
    return {k: v for k, v in message.items() if k != REASONING_ITEMS}


def build_request(
    model: str, messages: list[Mapping], *, stream: bool = False, **options
) -> dict:
    """The request body: model, messages, stream settings and only the options that were set.

    >>> build_request("grok-4.3", [{"role": "user", "content": "hi"}], temperature=None)
    {'model': 'grok-4.3', 'messages': [{'role': 'user', 'content': 'hi'}]}
    """
    unknown = set(options) - set(OPTIONAL_FIELDS)
    if unknown:
        raise TypeError(f"unknown request option(s): {', '.join(sorted(unknown))}")
    body: dict = {"model": model, "messages": [chat_message(m) for m in messages]}
    body.update({k: v for k, v in options.items() if v is not None})
    if stream:
        body["stream"] = True
        # Without include_usage a stream carries no token counts.
        body["stream_options"] = {"include_usage": True}
    return body
