"""xAI's Responses API (`POST /v1/responses`): request bodies, server-side tools, and streams
that give the same Response a chat completion does (events decoded in responses_events)."""

from __future__ import annotations

import re
from collections.abc import Mapping

from grok_magic.client import ResponseStream
from grok_magic.errors import InputError
from grok_magic.response import Response
from grok_magic.responses_events import (  # noqa: F401 - the decoder's names, re-exported
    NOTHING,
    ResponseIncompleteError,
    ResponsesAccumulator,
    ResponsesDelta,
    activity_of,
    decode_json,
    iter_events,
    response_from_json,
    tool_call_of,
    usage_from_responses,
)

# Options that map one to one; the chat names of the others are translated in responses_body.
PASSED_OPTIONS = ("temperature", "top_p", "seed", "user", "max_output_tokens", "tool_choice",
                  "include", "service_tier", "parallel_tool_calls")
TRANSLATED_OPTIONS = ("max_completion_tokens", "reasoning_effort", "response_format")
CHAT_ONLY_OPTIONS = ("n", "stop", "presence_penalty", "frequency_penalty")
SEARCH_KINDS = {"web": "web_search", "x": "x_search"}
DOMAIN = re.compile(r"(?:[\w-]+\.)+[\w-]{2,}", re.UNICODE)
X_HANDLE = re.compile(r"[A-Za-z0-9_]{1,15}")  # X's own rule for user names

# -- request bodies ---------------------------------------------------------------------------
def responses_body(
    model: str, messages: list[Mapping], *, stream: bool, tools: list[Mapping] | None = None,
    store: bool = False, previous_response_id: str | None = None, **options,
) -> dict:
    """A `/v1/responses` body from our chat-style messages and chat-named options.

    `store` is sent even when false (xAI keeps responses unless told not to). With
    `previous_response_id`, `messages` should hold only the new turn.

    >>> responses_body("grok-4", [{"role": "user", "content": "hi"}], stream=False,
    ...                max_completion_tokens=50)  # doctest: +NORMALIZE_WHITESPACE
    {'model': 'grok-4', 'input': [{'role': 'user', 'content': [{'type': 'input_text',
     'text': 'hi'}]}], 'max_output_tokens': 50, 'store': False}
    """
    chat_only = sorted(k for k in CHAT_ONLY_OPTIONS if options.get(k) is not None)
    if chat_only:
        raise InputError(f"{', '.join(chat_only)} cannot be used with xAI's Responses API",
                         hint="Leave it out, or use the chat API for this cell.")
    unknown = set(options) - set(PASSED_OPTIONS) - set(TRANSLATED_OPTIONS) - set(CHAT_ONLY_OPTIONS)
    if unknown:
        raise TypeError(f"unknown request option(s): {', '.join(sorted(unknown))}")
    body: dict = {"model": model, "input": input_items(messages)}
    if previous_response_id:
        body["previous_response_id"] = previous_response_id
    if tools:
        body["tools"] = [_responses_tool(t) for t in tools]
    for key in PASSED_OPTIONS:
        if options.get(key) is not None:
            body[key] = options[key]
    if options.get("max_completion_tokens") is not None:
        body["max_output_tokens"] = options["max_completion_tokens"]
    if options.get("reasoning_effort") is not None:
        body["reasoning"] = {"effort": options["reasoning_effort"]}
    text_format = _text_format(options.get("response_format"))
    if text_format is not None:
        body["text"] = {"format": text_format}
    if isinstance(body.get("tool_choice"), Mapping):
        choice = body["tool_choice"]
        name = (choice.get("function") or {}).get("name") or choice.get("name")
        body["tool_choice"] = {"type": "function", "name": name}
    body["store"] = bool(store)
    if stream:
        body["stream"] = True
    return body


def input_items(messages: list[Mapping]) -> list[dict]:
    """Chat messages as Responses `input` items (system, user parts, assistant, tool results)."""
    items: list[dict] = []
    for i, message in enumerate(messages):
        role, content = message.get("role"), message.get("content")
        if role in ("system", "developer"):
            items.append({"role": role, "content": _plain_text(content)})
        elif role == "user":
            items.append({"role": "user", "content": _input_parts(content, i)})
        elif role == "assistant":
            calls = [c for c in message.get("tool_calls") or () if c.get("type") == "function"]
            text = _plain_text(content)
            if text or not calls:
                items.append({"role": "assistant", "content": text})
            items.extend({"type": "function_call", "call_id": c.get("id") or "",
                          "name": c["function"]["name"], "arguments": c["function"]["arguments"]}
                         for c in calls)
        elif role == "tool":
            items.append({"type": "function_call_output", "call_id": message.get("tool_call_id"),
                          "output": _plain_text(content)})
        else:
            raise InputError(f"message {i} has the role {role!r}, which the Responses API "
                             f"does not take")
    return items


def _plain_text(content: object) -> str:
    if content is None or isinstance(content, str):
        return content or ""
    return "".join(p.get("text") or "" for p in content if isinstance(p, Mapping))


def _input_parts(content: object, index: int) -> list[dict]:
    if isinstance(content, str):
        return [{"type": "input_text", "text": content}]
    parts = []
    for part in content or ():
        kind = part.get("type")
        if kind == "text":
            parts.append({"type": "input_text", "text": part.get("text") or ""})
        elif kind == "image_url":
            image = part.get("image_url") or {}
            url = image.get("url") if isinstance(image, Mapping) else image
            item = {"type": "input_image", "image_url": url}
            if isinstance(image, Mapping) and image.get("detail"):
                item["detail"] = image["detail"]
            parts.append(item)
        elif kind in ("input_text", "input_image", "input_file"):
            parts.append(dict(part))
        else:
            raise InputError(f"message {index} holds a {kind!r} part, which the Responses API "
                             f"does not take")
    return parts


def _text_format(response_format: Mapping | None) -> dict | None:
    if not response_format or response_format.get("type") == "text":
        return None
    kind = response_format.get("type")
    if kind == "json_object":
        return {"type": "json_object"}
    if kind == "json_schema":
        spec = response_format.get("json_schema") or {}
        out = {"type": "json_schema", "name": spec.get("name") or "answer",
               "schema": spec.get("schema") or {}, "strict": spec.get("strict", True)}
        if spec.get("description"):
            out["description"] = spec["description"]
        return out
    raise InputError(f"response_format {kind!r} has no Responses API equivalent")


def _responses_tool(tool: Mapping) -> dict:
    """A chat-style function tool flattened (`{"type":"function","name",...}`); others as is."""
    if tool.get("type") == "function" and isinstance(tool.get("function"), Mapping):
        return {"type": "function", **tool["function"]}
    return dict(tool)


# -- server-side tools ------------------------------------------------------------------------
def search_tools(spec: str) -> list[dict]:
    """Search tools from a `--search` spec: `web`, `x`, `web,x`, `web:arxiv.org,nature.com`
    (allowed domains), `x:@handle,@other` (allowed X handles).

    >>> search_tools("web:arxiv.org,x:@xai")  # doctest: +NORMALIZE_WHITESPACE
    [{'type': 'web_search', 'allowed_domains': ['arxiv.org']},
     {'type': 'x_search', 'allowed_x_handles': ['xai']}]
    """
    tools: dict[str, dict] = {}
    current: str | None = None
    for token in (t.strip() for t in spec.split(",")):
        if not token:
            continue
        kind, colon, value = token.partition(":")
        if colon or kind.lower() in SEARCH_KINDS:
            kind = kind.strip().lower()
            if kind not in SEARCH_KINDS:
                raise InputError(f"--search {spec!r}: unknown search {kind!r}",
                                 hint="Use web, x or both (web,x); filters as "
                                      "web:arxiv.org,nature.com or x:@handle.")
            if kind in tools:
                raise InputError(f"--search {spec!r} names {kind} twice")
            current, tools[kind] = kind, {"type": SEARCH_KINDS[kind]}
            value = value.strip()
            if not value:
                if colon:
                    raise InputError(f"--search {spec!r}: nothing after '{kind}:'")
                continue
        elif current is None:
            raise InputError(f"--search {spec!r}: {token!r} is not web or x",
                             hint="Start with web or x, e.g. web:arxiv.org or x:@xai.")
        else:
            value = token
        _add_filter(tools[current], current, value, spec)
    if not tools:
        raise InputError("--search needs web, x or both (web,x)")
    return list(tools.values())


def _add_filter(tool: dict, kind: str, value: str, spec: str) -> None:
    if kind == "web":
        domain = value.lower().removeprefix("https://").removeprefix("http://").rstrip("/")
        if not DOMAIN.fullmatch(domain):
            raise InputError(f"--search {spec!r}: {value!r} is not a domain like arxiv.org")
        tool.setdefault("allowed_domains", []).append(domain)
    else:
        handle = value.removeprefix("@")
        if not X_HANDLE.fullmatch(handle):
            raise InputError(f"--search {spec!r}: {value!r} is not an X handle like @xai")
        tool.setdefault("allowed_x_handles", []).append(handle)


def code_tool() -> dict:
    """Code execution on xAI's servers (`--run-code`)."""
    return {"type": "code_interpreter"}


# -- over HTTP (GrokClient.respond and respond_stream send them) ---------------------------------
class ResponsesStream(ResponseStream):
    """A streaming Responses answer: iterate for ResponsesDeltas (text, reasoning, activity);
    `.response`, `close()`, `on_end` and `until_done` as in ResponseStream."""

    def __init__(self, http_response, response: Response, request_id: str | None) -> None:
        super().__init__(http_response, response, request_id)
        self.accumulator = ResponsesAccumulator(response, request_id)

    def _folder(self):
        return self.accumulator.fold
